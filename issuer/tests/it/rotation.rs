//! Tenant key rotation (`POST /tenants/{tenant}/rotate`), on every backend, against a real
//! registry on loopback: credentials issued before a rotation keep verifying against the DID
//! as of their `iat`, those issued after carry the new `kid`, the current document lists only
//! the new key, the lists are republished under it; a refused request changes nothing; a
//! rotation a crash left pending is finished or discarded by what the registry says.

use std::time::{Duration, Instant};

use chrono::Utc;
use credence_issuer::ids::TenantId;
use credence_issuer::secrets::MasterKey;
use credence_issuer::service::TenantKeys;
use credence_issuer::store::{IssuerStore, PendingRotation};
use credence_registry::client::{fetch_status_list, plain_http_client};
use credence_registry::did::Did;
use credence_registry::keys::KeyType;
use credence_registry::owner::OwnerKeys;
use credence_registry::wire::VersionSelector;
use serde_json::{Value, json};

use crate::decode_jwt;
use crate::support::{
    Issuer, MASTER_KEY, Registry, Tenant, assert_problem, backends, call, create_tenant,
    holder_jwk, valid_claims,
};

/// A tenant with a type offering both JWT formats, accredited for it.
async fn tenant_with_type(issuer: &Issuer, registry: &Registry, id: &str) -> Tenant {
    let tenant = create_tenant(issuer, id).await;
    let (schema_id, vct) = registry.publish_schema().await;
    registry.accredit(&tenant.did, &vct).await;
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/types", tenant.id),
        Some(&tenant.token),
        Some(
            &json!({"id": "licence", "schemaId": schema_id, "formats": ["dc+sd-jwt", "vc+jwt"],
            "disclosable": ["/companyName"], "validitySeconds": 86_400,
            "statusPurposes": ["revocation"]}),
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    tenant
}

/// Issues one credential in both formats: (issuer JWT of the SD-JWT, the vc+jwt, status URI).
async fn issue(issuer: &Issuer, tenant: &Tenant) -> (String, String, String) {
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/credentials", tenant.id),
        Some(&tenant.token),
        Some(
            &json!({"type": "licence", "formats": ["dc+sd-jwt", "vc+jwt"],
            "claims": valid_claims(), "holderJwk": holder_jwk()}),
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let sd_jwt = reply.body["credentials"]["dc+sd-jwt"].as_str().expect("sd");
    let vc = reply.body["credentials"]["vc+jwt"].as_str().expect("vc");
    let uri = reply.body["status"]["uri"].as_str().expect("uri");
    (
        sd_jwt.split('~').next().expect("jwt").to_owned(),
        vc.to_owned(),
        uri.to_owned(),
    )
}

async fn rotate(issuer: &Issuer, tenant: &Tenant) -> Value {
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/rotate", tenant.id),
        Some(&tenant.token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

/// Polls (at most 15 s) until the list at `uri` is served signed by `kid`; returns its JWS.
async fn await_list_signed_by(uri: &str, kid: &str) -> String {
    let http = plain_http_client().expect("http");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Not served yet, or still another version.
        if let Ok(fetched) = fetch_status_list(&http, uri).await {
            if decode_jwt(&fetched.jws).0["kid"] == kid {
                return fetched.jws;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{uri} not served signed by {kid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (polling, at most 3 s) until the system clock is past the second of `at`: the
/// registry dates versions in whole seconds, so a rotation in the second a credential was
/// issued would be the version "as of" its `iat`.
async fn next_second(at: i64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Utc::now().timestamp() <= at {
        assert!(Instant::now() < deadline, "the clock did not move");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn document(registry: &Registry, did: &Did, version: &VersionSelector) -> (Value, String) {
    let resolution = registry
        .client
        .resolve(did, version)
        .await
        .expect("resolves");
    let version_id = resolution.metadata.version_id.clone().expect("versionId");
    (resolution.document, version_id)
}

fn verifies(jws: &str, document: &Value) -> bool {
    credence_registry::signed::verify_against(jws, document, "assertionMethod").is_ok()
}

fn id_of(tenant: &Tenant) -> TenantId {
    TenantId::parse(&tenant.id).expect("tenant id")
}

fn master() -> MasterKey {
    MasterKey::from_text(MASTER_KEY, "tests").expect("master key")
}

#[tokio::test]
async fn credentials_issued_before_a_rotation_keep_verifying_and_new_ones_carry_the_new_kid() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let tenant = tenant_with_type(&issuer, &registry, "land-bureau").await;
        let (old_sd, old_vc, uri) = issue(&issuer, &tenant).await;
        let (old_header, old_payload) = decode_jwt(&old_sd);
        let old_kid = format!("{}#key-1", tenant.did);
        assert_eq!(old_header["kid"], old_kid.as_str());
        assert_eq!(decode_jwt(&old_vc).0["kid"], old_kid.as_str());
        let old_iat = old_payload["iat"].as_i64().expect("iat");
        // Published before the rotation: only the rotation can make it be signed again.
        await_list_signed_by(&uri, &old_kid).await;
        next_second(old_iat).await;

        let rotated = rotate(&issuer, &tenant).await;
        let new_kid = format!("{}#key-2", tenant.did);
        let (current, current_version) =
            document(&registry, &tenant.did, &VersionSelector::Latest).await;
        assert_eq!(
            rotated,
            json!({"did": tenant.did.as_str(), "kid": new_kid, "versionId": current_version}),
            "{}",
            backend.name
        );
        assert_eq!(backend.counts().await.rotations, 0);

        let (new_sd, new_vc, _) = issue(&issuer, &tenant).await;
        let (new_header, new_payload) = decode_jwt(&new_sd);
        assert_eq!(new_header["kid"], new_kid.as_str());
        assert_eq!(decode_jwt(&new_vc).0["kid"], new_kid.as_str());

        // As of the old credential's iat, the DID lists the old key, and both old envelopes
        // verify with it; the current document lists the new key alone.
        let at = |seconds: i64| {
            VersionSelector::Time(chrono::DateTime::from_timestamp(seconds, 0).expect("time"))
        };
        let (then, _) = document(&registry, &tenant.did, &at(old_iat)).await;
        assert!(verifies(&old_sd, &then) && verifies(&old_vc, &then));
        assert!(!verifies(&new_sd, &then));
        let methods = current["verificationMethod"].as_array().expect("methods");
        assert_eq!(methods.len(), 1, "{current}");
        assert_eq!(methods[0]["id"], new_kid.as_str());
        assert_eq!(current["assertionMethod"], json!([new_kid]));
        assert!(!verifies(&old_sd, &current) && !verifies(&old_vc, &current));
        let new_iat = new_payload["iat"].as_i64().expect("iat");
        let (now, _) = document(&registry, &tenant.did, &at(new_iat)).await;
        assert!(verifies(&new_sd, &now) && verifies(&new_vc, &now));

        // The list is published again, signed with the new key, and the registry took it.
        let served = await_list_signed_by(&uri, &new_kid).await;
        assert!(verifies(&served, &current));

        // A second rotation counts on.
        next_second(Utc::now().timestamp()).await;
        let again = rotate(&issuer, &tenant).await;
        assert_eq!(again["kid"], format!("{}#key-3", tenant.did));
    }
}

#[tokio::test]
async fn a_refused_rotation_changes_nothing() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let owner = create_tenant(&issuer, "tax-office").await;
        let other = create_tenant(&issuer, "other-agency").await;
        let before = backend.counts().await;
        let sealed = backend
            .store
            .tenant(&id_of(&owner))
            .await
            .expect("read")
            .expect("tenant")
            .sealed_keys;
        let (_, version) = document(&registry, &owner.did, &VersionSelector::Latest).await;
        let path = format!("/tenants/{}/rotate", owner.id);

        let reply = call(issuer.router(), "POST", &path, Some(&other.token), None).await;
        assert_problem(&reply, 404, "tenant-not-found");
        let reply = call(issuer.router(), "POST", &path, None, None).await;
        assert_problem(&reply, 401, "unauthenticated");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        let reply = call(issuer.router(), "POST", &path, Some("not-a-token"), None).await;
        assert_problem(&reply, 401, "unauthenticated");
        let reply = call(
            issuer.router(),
            "POST",
            "/tenants/nobody/rotate",
            Some(&owner.token),
            None,
        )
        .await;
        assert_problem(&reply, 404, "tenant-not-found");

        assert_eq!(backend.counts().await, before, "{}", backend.name);
        let stored = backend
            .store
            .tenant(&id_of(&owner))
            .await
            .expect("read")
            .expect("tenant");
        assert_eq!(stored.sealed_keys, sealed);
        assert_eq!(
            document(&registry, &owner.did, &VersionSelector::Latest)
                .await
                .1,
            version
        );
    }
}

/// Stores a pending rotation to `next` begun `age` ago, as a rotation that crashed would
/// have left it; returns its sealed keys.
async fn leave_pending(
    store: &dyn IssuerStore,
    tenant: &Tenant,
    next: &OwnerKeys,
    age: chrono::Duration,
) -> Vec<u8> {
    let id = id_of(tenant);
    let sealed = TenantKeys {
        rotation: next.rotation.clone(),
        signing: next.signing.clone(),
        signing_fragment: "key-2".into(),
    }
    .seal(&master(), &id);
    store
        .begin_rotation(&PendingRotation {
            tenant: id,
            sealed_keys: sealed.clone(),
            started: Utc::now() - age,
        })
        .await
        .expect("pending stored");
    sealed
}

#[tokio::test]
async fn a_rotation_a_crash_left_pending_is_finished_or_discarded_by_the_registry_state() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let store = backend.store.as_ref();

        // Accepted by the registry, then the process died: the next rotation installs the
        // pending keys and submits nothing new.
        let tenant = create_tenant(&issuer, "crashed-after-submit").await;
        let id = id_of(&tenant);
        let stored = store.tenant(&id).await.expect("read").expect("tenant");
        let current = TenantKeys::open(&master(), &stored).expect("keys");
        let current = OwnerKeys {
            rotation: current.rotation,
            signing: current.signing,
        };
        let next = OwnerKeys::generate(KeyType::Ed25519);
        let sealed = leave_pending(store, &tenant, &next, chrono::Duration::zero()).await;
        let state = registry
            .client
            .owner_state(&tenant.did)
            .await
            .expect("state");
        let update = current.update_naming(state.head, &next, "key-2", state.services);
        registry
            .client
            .submit(&tenant.did, &update)
            .await
            .expect("accepted");
        let rotated = rotate(&issuer, &tenant).await;
        assert_eq!(
            rotated,
            json!({"did": tenant.did.as_str(), "kid": format!("{}#key-2", tenant.did),
                   "versionId": update.hash().as_str()})
        );
        let (_, latest) = document(&registry, &tenant.did, &VersionSelector::Latest).await;
        assert_eq!(latest, update.hash().as_str(), "nothing new was submitted");
        let stored = store.tenant(&id).await.expect("read").expect("tenant");
        assert_eq!(stored.sealed_keys, sealed);
        assert_eq!(backend.counts().await.rotations, 0);

        // Never submitted, and old enough not to be in flight: discarded, and a fresh
        // rotation made with other keys.
        let tenant = create_tenant(&issuer, "crashed-before-submit").await;
        let id = id_of(&tenant);
        let abandoned = OwnerKeys::generate(KeyType::Ed25519);
        leave_pending(store, &tenant, &abandoned, chrono::Duration::hours(1)).await;
        let rotated = rotate(&issuer, &tenant).await;
        assert_eq!(rotated["kid"], format!("{}#key-2", tenant.did));
        let state = registry
            .client
            .owner_state(&tenant.did)
            .await
            .expect("state");
        assert_eq!(state.head.as_str(), rotated["versionId"]);
        assert!(
            !state
                .rotation_keys
                .contains(&abandoned.rotation.public().to_did_key())
        );
        let installed = TenantKeys::open(
            &master(),
            &store.tenant(&id).await.expect("read").expect("t"),
        )
        .expect("keys");
        assert_eq!(
            state.rotation_keys,
            vec![installed.rotation.public().to_did_key()]
        );
        assert_eq!(backend.counts().await.rotations, 0);

        // Never submitted but begun moments ago: it may be in flight elsewhere, so it is
        // left alone and the request refused, nothing changed.
        let tenant = create_tenant(&issuer, "rotating-elsewhere").await;
        let (_, version) = document(&registry, &tenant.did, &VersionSelector::Latest).await;
        let young = OwnerKeys::generate(KeyType::Ed25519);
        leave_pending(store, &tenant, &young, chrono::Duration::zero()).await;
        let before = backend.counts().await;
        let reply = call(
            issuer.router(),
            "POST",
            &format!("/tenants/{}/rotate", tenant.id),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_problem(&reply, 409, "rotation-in-progress");
        assert_eq!(backend.counts().await, before);
        assert_eq!(
            document(&registry, &tenant.did, &VersionSelector::Latest)
                .await
                .1,
            version
        );

        // At start-up, a pending rotation the registry accepted is finished without a request.
        let tenant = create_tenant(&issuer, "finished-at-start").await;
        let id = id_of(&tenant);
        let stored = store.tenant(&id).await.expect("read").expect("tenant");
        let current = TenantKeys::open(&master(), &stored).expect("keys");
        let current = OwnerKeys {
            rotation: current.rotation,
            signing: current.signing,
        };
        let next = OwnerKeys::generate(KeyType::Ed25519);
        let sealed = leave_pending(store, &tenant, &next, chrono::Duration::zero()).await;
        let state = registry
            .client
            .owner_state(&tenant.did)
            .await
            .expect("state");
        registry
            .client
            .submit(
                &tenant.did,
                &current.update_naming(state.head, &next, "key-2", state.services),
            )
            .await
            .expect("accepted");
        let _restarted = Issuer::start(backend.store.clone(), &registry);
        let deadline = Instant::now() + Duration::from_secs(10);
        while store
            .tenant(&id)
            .await
            .expect("read")
            .expect("t")
            .sealed_keys
            != sealed
        {
            assert!(Instant::now() < deadline, "not finished at start-up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(store.pending_rotation(&id).await.expect("read").is_none());
    }
}
