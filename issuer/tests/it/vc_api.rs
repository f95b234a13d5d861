//! The W3C VC API routes (`/{tenant}/credentials/issue`, `/{tenant}/credentials/status`) and
//! the `ldp_vc` envelope in one issuance with the others, on every backend, against a real
//! registry on loopback: issued credentials checked with ssi (Data Integrity) or decoded
//! (`vc+jwt`), revocation visible in the registry's list, every bad input refused with its
//! problem and nothing written.

use std::sync::Arc;

use chrono::Utc;
use credence_issuer::secrets::MasterKey;
use credence_issuer::service::{IssuerService, ServiceOptions};
use credence_issuer::state::AppState;
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use credence_registry::resolver::{CredenceSource, DidUrl, Resolver};
use credence_registry::wire::VersionSelector;
use data_encoding::HEXLOWER;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::data_integrity::ssi_verifies;
use crate::service::await_status;
use crate::support::{
    Issuer, MASTER_KEY, Registry, Tenant, assert_problem, backends, call, create_tenant,
    holder_jwk, request, send, valid_claims,
};
use crate::{decode_jwt, decoding_key};

const V2: &str = "https://www.w3.org/ns/credentials/v2";
const W3C_TYPE: &str = "BusinessLicenceCredential";

/// The public key the tenant's `kid` names, dereferenced at the registry.
async fn tenant_key(registry: &Registry, kid: &str) -> PublicKey {
    let resolver = Resolver::new(
        CredenceSource::Remote(registry.client.clone()),
        Default::default(),
    );
    resolver
        .dereference(
            &DidUrl::parse(kid).expect("DID URL"),
            &VersionSelector::Latest,
        )
        .await
        .expect("dereferenced")
        .public_key()
        .expect("a key")
}

/// Registers the business-licence type (w3cType `BusinessLicenceCredential`) for `tenant`.
async fn register_type(
    issuer: &Issuer,
    registry: &Registry,
    tenant: &Tenant,
    id: &str,
    formats: Value,
) -> String {
    let (schema_id, vct) = registry.publish_schema().await;
    registry.accredit(&tenant.did, &vct).await;
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/types", tenant.id),
        Some(&tenant.token),
        Some(&json!({
            "id": id, "schemaId": schema_id, "formats": formats, "validitySeconds": 31_536_000,
            "statusPurposes": ["revocation", "suspension"], "w3cType": W3C_TYPE})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    vct
}

fn vc_api_credential(tenant: &Tenant, subject: Value) -> Value {
    json!({
        "@context": [V2],
        "type": ["VerifiableCredential", W3C_TYPE],
        "issuer": tenant.did.as_str(),
        "credentialSubject": subject,
    })
}

fn holder_did_key() -> String {
    SecretKey::generate(KeyType::Ed25519).public().to_did_key()
}

fn subject_with(holder: &str) -> Value {
    let mut subject = valid_claims();
    subject["id"] = json!(holder);
    subject
}

#[tokio::test]
async fn vc_api_issues_in_each_format_and_revokes_at_the_registry() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "land-bureau").await;
        register_type(
            &issuer,
            &registry,
            &tenant,
            "licence",
            json!(["ldp_vc", "vc+jwt"]),
        )
        .await;
        let issue_path = format!("/{}/credentials/issue", tenant.id);
        let holder = holder_did_key();

        // Data Integrity by default.
        let reply = call(
            app,
            "POST",
            &issue_path,
            Some(&tenant.token),
            Some(&json!({"credential": vc_api_credential(&tenant, subject_with(&holder))})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
        let credential = &reply.body["verifiableCredential"];
        assert_eq!(credential["issuer"], tenant.did.as_str());
        assert_eq!(
            credential["type"],
            json!(["VerifiableCredential", W3C_TYPE])
        );
        assert_eq!(credential["credentialSubject"]["id"], holder.as_str());
        assert_eq!(
            credential["credentialSubject"]["companyName"],
            "Acme Trading Ltd"
        );
        assert_eq!(credential["proof"]["cryptosuite"], "eddsa-rdfc-2022");
        let kid = format!("{}#key-1", tenant.did);
        assert_eq!(credential["proof"]["verificationMethod"], kid.as_str());
        let public = tenant_key(&registry, &kid).await;
        assert!(ssi_verifies(credential, &kid, &public, Utc::now()).await);
        let mut forged = credential.clone();
        forged["credentialSubject"]["registrationNumber"] = json!("87654321");
        assert!(!ssi_verifies(&forged, &kid, &public, Utc::now()).await);
        let ldp_id = credential["id"].as_str().expect("id").to_owned();

        // vc+jwt, enveloped (VCDM 2.0 §4.13).
        let reply = call(
            app,
            "POST",
            &issue_path,
            Some(&tenant.token),
            Some(
                &json!({"credential": vc_api_credential(&tenant, subject_with(&holder)),
                         "options": {"format": "vc+jwt"}}),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let enveloped = &reply.body["verifiableCredential"];
        assert_eq!(enveloped["@context"], json!([V2]));
        assert_eq!(enveloped["type"], "EnvelopedVerifiableCredential");
        let jwt = enveloped["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("data:application/vc+jwt,"))
            .expect("a vc+jwt data: URL");
        let (header, payload) = decode_jwt(jwt);
        assert_eq!(header["typ"], "vc+jwt");
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(payload["credentialSubject"]["id"], holder.as_str());
        assert_eq!(
            payload["credentialSubject"]["registrationNumber"],
            "12345678"
        );
        let counts = backend.counts().await;
        assert_eq!(counts.records, 2);

        // The VC API status route revokes through the service; the registry shows it.
        let reply = call(
            app,
            "GET",
            &format!("/tenants/{}/credentials/{ldp_id}", tenant.id),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.body["formats"], json!(["ldp_vc"]), "{}", reply.text);
        let uri = reply.body["status"]["uri"]
            .as_str()
            .expect("uri")
            .to_owned();
        let index = reply.body["status"]["index"].as_u64().expect("index");
        assert_eq!(
            credential["credentialStatus"][0]["statusListIndex"],
            index.to_string()
        );
        // A did:key subject is the holder key: its thumbprint is recorded.
        assert!(
            reply.body["holderThumbprint"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        await_status(&registry.client, &uri, index, 0).await;
        let status_path = format!("/{}/credentials/status", tenant.id);
        let status_body = |purpose: &str, status: bool| {
            json!({"credentialId": ldp_id, "status": status, "credentialStatus":
                [{"type": "BitstringStatusListEntry", "statusPurpose": purpose}]})
        };
        let reply = call(
            app,
            "POST",
            &status_path,
            Some(&tenant.token),
            Some(&status_body("suspension", true)),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["status"], "suspended");
        await_status(&registry.client, &uri, index, 2).await;
        let reply = call(
            app,
            "POST",
            &status_path,
            Some(&tenant.token),
            Some(&status_body("suspension", false)),
        )
        .await;
        assert_eq!(reply.body["status"], "valid", "{}", reply.text);
        let reply = call(
            app,
            "POST",
            &status_path,
            Some(&tenant.token),
            Some(&status_body("revocation", true)),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["status"], "revoked");
        await_status(&registry.client, &uri, index, 1).await;
        // Revocation is final.
        let reply = call(
            app,
            "POST",
            &status_path,
            Some(&tenant.token),
            Some(&status_body("revocation", false)),
        )
        .await;
        assert_problem(&reply, 409, "status-conflict");
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

#[tokio::test]
async fn one_issuance_in_three_envelopes_shares_one_record_and_one_status_entry() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "market-regulator").await;
        let vct = register_type(
            &issuer,
            &registry,
            &tenant,
            "licence",
            json!(["dc+sd-jwt", "vc+jwt", "ldp_vc"]),
        )
        .await;
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let reply = call(
            app,
            "POST",
            &credentials,
            Some(&tenant.token),
            Some(
                &json!({"type": "licence", "formats": ["dc+sd-jwt", "vc+jwt", "ldp_vc"],
                         "claims": valid_claims(), "holderJwk": holder_jwk()}),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let uri = reply.body["status"]["uri"]
            .as_str()
            .expect("uri")
            .to_owned();
        let index = reply.body["status"]["index"].as_u64().expect("index");
        let envelopes = reply.body["credentials"].clone();

        let (_, sd_jwt) = decode_jwt(
            envelopes["dc+sd-jwt"]
                .as_str()
                .and_then(|c| c.split('~').next())
                .expect("sd-jwt"),
        );
        assert_eq!(sd_jwt["vct"], vct.as_str());
        assert_eq!(
            sd_jwt["status"]["status_list"],
            json!({"idx": index, "uri": uri})
        );
        let (_, vc_jwt) = decode_jwt(envelopes["vc+jwt"].as_str().expect("vc+jwt"));
        let ldp: Value =
            serde_json::from_str(envelopes["ldp_vc"].as_str().expect("ldp_vc")).expect("JSON");
        for w3c in [&vc_jwt, &ldp] {
            assert_eq!(w3c["id"], id.as_str());
            assert_eq!(w3c["credentialStatus"], vc_jwt["credentialStatus"]);
            assert_eq!(w3c["credentialSubject"], vc_jwt["credentialSubject"]);
            let entries = w3c["credentialStatus"].as_array().expect("two entries");
            for (entry, purpose) in entries.iter().zip(["revocation", "suspension"]) {
                assert_eq!(entry["statusListIndex"], index.to_string());
                assert_eq!(entry["statusListCredential"], format!("{uri}.{purpose}"));
            }
        }
        let kid = format!("{}#key-1", tenant.did);
        let public = tenant_key(&registry, &kid).await;
        assert!(ssi_verifies(&ldp, &kid, &public, Utc::now()).await);

        // One record, one entry, and a hash of each envelope as issued.
        let counts = backend.counts().await;
        assert_eq!((counts.records, counts.entries), (1, 1));
        let reply = call(
            app,
            "GET",
            &format!("{credentials}/{id}"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(
            reply.body["formats"],
            json!(["dc+sd-jwt", "vc+jwt", "ldp_vc"])
        );
        for format in ["dc+sd-jwt", "vc+jwt", "ldp_vc"] {
            let envelope = envelopes[format].as_str().expect("envelope");
            assert_eq!(
                reply.body["envelopeHashes"][format],
                HEXLOWER.encode(&Sha256::digest(envelope.as_bytes())),
                "{format}"
            );
        }

        // Revoking the record revokes all three: they name the one index of the one list.
        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/revoke"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        await_status(&registry.client, &uri, index, 1).await;
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

#[tokio::test]
async fn a_p256_tenant_cannot_offer_ldp_vc() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let mut options = ServiceOptions::new(&registry.url);
        options.key_type = KeyType::P256;
        let master = MasterKey::from_text(MASTER_KEY, "tests").expect("master key");
        let service =
            IssuerService::new(backend.store.clone(), master, options, Default::default())
                .expect("service");
        let admin = credence_issuer::secrets::BearerToken::generate();
        let state = AppState::new(Arc::new(service), &admin);
        let issuer = Issuer {
            application: credence_issuer::Application::start(state.clone()),
            admin,
            state,
        };
        let tenant = create_tenant(&issuer, "p256-agency").await;
        let (schema_id, _) = registry.publish_schema().await;
        let before = backend.counts().await;
        let reply = call(
            issuer.router(),
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(
                &json!({"id": "licence", "schemaId": schema_id, "formats": ["vc+jwt", "ldp_vc"],
                         "validitySeconds": 60}),
            ),
        )
        .await;
        assert_problem(&reply, 422, "invalid-credential-type");
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("format not available for this key")),
            "{}",
            reply.text
        );
        assert_eq!(backend.counts().await, before);
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

/// One bad request: (name, path, token, body, status, problem type, text of the detail).
type Case<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    String,
    u16,
    &'a str,
    &'a str,
);

#[tokio::test]
async fn vc_api_bad_requests_get_their_problem_and_write_nothing() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let a = create_tenant(&issuer, "agency-a").await;
        let b = create_tenant(&issuer, "agency-b").await;
        register_type(&issuer, &registry, &a, "licence", json!(["ldp_vc"])).await;
        let issue_a = format!("/{}/credentials/issue", a.id);
        let status_a = format!("/{}/credentials/status", a.id);
        let good = json!({"credential": vc_api_credential(&a, subject_with(&holder_did_key()))});
        let reply = call(app, "POST", &issue_a, Some(&a.token), Some(&good)).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let issued_id = reply.body["verifiableCredential"]["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let with_credential = |edit: &dyn Fn(&mut Value)| {
            let mut body = good.clone();
            edit(&mut body["credential"]);
            body.to_string()
        };
        let status = |purpose: &str, id: &str| {
            json!({"credentialId": id, "status": true, "credentialStatus":
                {"type": "BitstringStatusListEntry", "statusPurpose": purpose}})
            .to_string()
        };
        let good_text = good.to_string();
        let nested = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let deep = with_credential(&|c| c["credentialSubject"]["companyName"] = json!("x"))
            .replacen("\"x\"", &nested, 1);
        let oversized =
            with_credential(&|c| c["credentialSubject"]["companyName"] = json!("x".repeat(70_000)));
        let unknown_id = "urn:uuid:00000000-0000-4000-8000-000000000000";
        let (at, bt) = (Some(a.token.as_str()), Some(b.token.as_str()));
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("unknown tenant", "/nobody/credentials/issue".into(), at, good_text.clone(), 404, "tenant-not-found", "nobody"),
            ("another tenant's token", issue_a.clone(), bt, good_text.clone(), 404, "tenant-not-found", "agency-a"),
            ("missing token", issue_a.clone(), None, good_text.clone(), 401, "unauthenticated", "Bearer"),
            ("a type the tenant lacks", issue_a.clone(), at, with_credential(&|c| c["type"] = json!(["VerifiableCredential", "DegreeCredential"])), 404, "credential-type-not-found", "DegreeCredential"),
            ("schema violation", issue_a.clone(), at, with_credential(&|c| c["credentialSubject"]["registrationNumber"] = json!("12")), 422, "schema-violation", "/registrationNumber"),
            ("missing claim", issue_a.clone(), at, with_credential(&|c| { c["credentialSubject"].as_object_mut().expect("subject").remove("companyName"); }), 422, "schema-violation", "/companyName"),
            ("format not offered", issue_a.clone(), at, json!({"credential": good["credential"], "options": {"format": "vc+jwt"}}).to_string(), 422, "format-not-offered", "vc+jwt"),
            ("format not on the VC API", issue_a.clone(), at, json!({"credential": good["credential"], "options": {"format": "dc+sd-jwt"}}).to_string(), 400, "invalid-request", "dc+sd-jwt"),
            ("another issuer", issue_a.clone(), at, with_credential(&|c| c["issuer"] = json!(b.did.as_str())), 400, "invalid-request", "issuer"),
            ("another context", issue_a.clone(), at, with_credential(&|c| c["@context"] = json!([V2, "https://www.w3.org/ns/credentials/examples/v2"])), 400, "invalid-request", "@context"),
            ("a VCDM 1.1 context", issue_a.clone(), at, with_credential(&|c| c["@context"] = json!(["https://www.w3.org/2018/credentials/v1"])), 400, "invalid-request", "@context"),
            ("an id of the caller's", issue_a.clone(), at, with_credential(&|c| c["id"] = json!("urn:uuid:11111111-1111-4111-8111-111111111111")), 400, "invalid-request", "credential.id"),
            ("a validity of the caller's", issue_a.clone(), at, with_credential(&|c| c["validUntil"] = json!("2099-01-01T00:00:00Z")), 400, "invalid-request", "validUntil"),
            ("a subject id that is no DID", issue_a.clone(), at, with_credential(&|c| c["credentialSubject"]["id"] = json!("https://example.com/me")), 400, "invalid-request", "credentialSubject.id"),
            ("a keyword claim", issue_a.clone(), at, with_credential(&|c| c["credentialSubject"]["address"] = json!({"@id": "x"})), 422, "unissuable", "@id"),
            ("unknown option", issue_a.clone(), at, json!({"credential": good["credential"], "options": {"credentialId": "x"}}).to_string(), 400, "invalid-request", "credentialId"),
            ("oversized body", issue_a.clone(), at, oversized, 413, "body-too-large", "65536"),
            ("deeply nested body", issue_a.clone(), at, deep, 400, "malformed-json", "nested"),
            ("unknown status purpose", status_a.clone(), at, status("refresh", &issued_id), 400, "invalid-request", "refresh"),
            ("unknown status entry type", status_a.clone(), at, status("revocation", &issued_id).replace("BitstringStatusListEntry", "StatusList2021Entry"), 400, "invalid-request", "StatusList2021Entry"),
            ("unknown credentialId", status_a.clone(), at, status("revocation", unknown_id), 404, "credential-not-found", unknown_id),
            ("malformed credentialId", status_a.clone(), at, status("revocation", "42"), 404, "credential-not-found", "42"),
            ("another tenant's credential", format!("/{}/credentials/status", b.id), bt, status("revocation", &issued_id), 404, "credential-not-found", "urn:uuid:"),
            ("another tenant's token on status", status_a.clone(), bt, status("revocation", &issued_id), 404, "tenant-not-found", "agency-a"),
            ("another entry's index", status_a.clone(), at, json!({"credentialId": issued_id, "status": true, "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "999999999"}}).to_string(), 400, "invalid-request", "another entry"),
            ("status missing", status_a.clone(), at, json!({"credentialId": issued_id, "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}}).to_string(), 400, "invalid-request", "status"),
        ];
        let before = backend.counts().await;
        for (name, path, token, body, status, kind, detail) in &cases {
            let reply = send(app, request("POST", path, *token, Some(body.as_str()))).await;
            assert_problem(&reply, *status, kind);
            let text = reply.body["detail"].as_str().unwrap_or_default();
            assert!(
                text.contains(detail),
                "{name} ({}): detail {text:?} lacks {detail:?}",
                backend.name
            );
            for secret in [MASTER_KEY, a.token.as_str(), b.token.as_str()] {
                assert!(
                    !reply.text.contains(secret),
                    "{name}: a secret in the response"
                );
            }
            assert_eq!(
                backend.counts().await,
                before,
                "{name} ({}) wrote something",
                backend.name
            );
        }
        // The credential is untouched by all of the above.
        let reply = call(
            app,
            "GET",
            &format!("/tenants/{}/credentials/{issued_id}", a.id),
            Some(&a.token),
            None,
        )
        .await;
        assert_eq!(reply.body["currentStatus"], "valid", "{}", reply.text);
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

/// Verifies a compact JWS with the key its `kid` names, resolving did:key only.
async fn jwt_verifies_with_did_key_only(jwt: &str) -> bool {
    let (header, _) = decode_jwt(jwt);
    let kid = header["kid"].as_str().expect("kid");
    let public = did_key_only(kid).await;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(jwt, &decoding_key(&public), &validation).is_ok()
}

/// The key a did:key DID URL names, with a resolver that resolves nothing but did:key (and
/// did:jwk, did:web): no registry.
async fn did_key_only(kid: &str) -> PublicKey {
    assert!(kid.starts_with("did:key:z"), "{kid}");
    Resolver::new(CredenceSource::Disabled, Default::default())
        .dereference(
            &DidUrl::parse(kid).expect("DID URL"),
            &VersionSelector::Latest,
        )
        .await
        .expect("did:key dereferenced")
        .public_key()
        .expect("a key")
}

#[tokio::test]
async fn a_tenant_can_sign_as_its_did_key_checkable_without_the_registry() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "university").await;
        register_type(
            &issuer,
            &registry,
            &tenant,
            "degree",
            json!(["dc+sd-jwt", "vc+jwt", "ldp_vc"]),
        )
        .await;
        let public = tenant_key(&registry, &format!("{}#key-1", tenant.did)).await;
        let did_key = public.to_did_key();
        let kid = format!("{did_key}#{}", public.to_multikey());
        // The registry-less resolver cannot resolve the tenant's own DID.
        assert!(
            Resolver::new(CredenceSource::Disabled, Default::default())
                .dereference(
                    &DidUrl::parse(&format!("{}#key-1", tenant.did)).expect("DID URL"),
                    &VersionSelector::Latest
                )
                .await
                .is_err()
        );

        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/credentials", tenant.id),
            Some(&tenant.token),
            Some(
                &json!({"type": "degree", "formats": ["dc+sd-jwt", "vc+jwt", "ldp_vc"],
                         "claims": valid_claims(), "holderJwk": holder_jwk(), "signAs": "did:key"}),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let envelopes = &reply.body["credentials"];

        let vc_jwt = envelopes["vc+jwt"].as_str().expect("vc+jwt");
        let (header, payload) = decode_jwt(vc_jwt);
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(payload["issuer"], did_key.as_str());
        assert!(jwt_verifies_with_did_key_only(vc_jwt).await);

        let sd_jwt = envelopes["dc+sd-jwt"]
            .as_str()
            .and_then(|c| c.split('~').next())
            .expect("sd-jwt");
        let (header, payload) = decode_jwt(sd_jwt);
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(payload["iss"], did_key.as_str());
        assert!(jwt_verifies_with_did_key_only(sd_jwt).await);

        let ldp: Value =
            serde_json::from_str(envelopes["ldp_vc"].as_str().expect("ldp_vc")).expect("JSON");
        assert_eq!(ldp["issuer"], did_key.as_str());
        assert_eq!(ldp["proof"]["verificationMethod"], kid.as_str());
        let resolved = did_key_only(&kid).await;
        assert_eq!(resolved, public);
        assert!(ssi_verifies(&ldp, &kid, &resolved, Utc::now()).await);

        // The VC API chooses it by naming the did:key as issuer.
        let mut credential = vc_api_credential(&tenant, subject_with(&holder_did_key()));
        credential["issuer"] = json!(did_key);
        let reply = call(
            app,
            "POST",
            &format!("/{}/credentials/issue", tenant.id),
            Some(&tenant.token),
            Some(&json!({"credential": credential})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let ldp = &reply.body["verifiableCredential"];
        assert_eq!(ldp["issuer"], did_key.as_str());
        assert_eq!(ldp["proof"]["verificationMethod"], kid.as_str());
        assert!(ssi_verifies(ldp, &kid, &did_key_only(&kid).await, Utc::now()).await);

        // By default the tenant DID signs, as before.
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/credentials", tenant.id),
            Some(&tenant.token),
            Some(
                &json!({"type": "degree", "formats": ["vc+jwt"], "claims": valid_claims(),
                         "holderJwk": holder_jwk()}),
            ),
        )
        .await;
        let (header, _) = decode_jwt(reply.body["credentials"]["vc+jwt"].as_str().expect("vc"));
        assert_eq!(header["kid"], format!("{}#key-1", tenant.did));
        let before = backend.counts().await;
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/credentials", tenant.id),
            Some(&tenant.token),
            Some(
                &json!({"type": "degree", "formats": ["vc+jwt"], "claims": valid_claims(),
                         "holderJwk": holder_jwk(), "signAs": "did:web"}),
            ),
        )
        .await;
        assert_problem(&reply, 400, "invalid-request");
        assert!(reply.text.contains("did:web"), "{}", reply.text);
        assert_eq!(backend.counts().await, before);
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_vc_api_routes() {
    let registry = Registry::start().await;
    let backend = backends().await.remove(0);
    let issuer = Issuer::start(backend.store.clone(), &registry);
    let reply = call(issuer.router(), "GET", "/openapi.json", None, None).await;
    for path in [
        "/{tenant}/credentials/issue",
        "/{tenant}/credentials/status",
    ] {
        assert!(reply.body["paths"].get(path).is_some(), "{path} missing");
    }
}
