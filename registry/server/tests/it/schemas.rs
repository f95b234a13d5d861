//! The schema registry over HTTP, on every backend: publication by a trust anchor, content
//! addressing, versions, type metadata; and each bad submission refused with nothing written.

use credence_registry::keys::KeyType;
use credence_registry::ops;
use credence_registry_server::store::WriteLimits;
use credence_registry_server::{AppOptions, app};
use serde_json::{Value, json};

use crate::support::{Owner, assert_problem, backends, get, post, post_op, test_signer};

fn submission(vct: &str, extra_property: &str) -> Value {
    json!({
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"companyName": {"type": "string"}, extra_property: {"type": "string"}},
            "required": ["companyName"]
        },
        "typeMetadata": {
            "vct": vct,
            "display": [{"lang": "en", "name": "Business licence"}, {"lang": "zh-CN", "name": "营业执照"}],
            "claims": [{"path": ["companyName"], "sd": "allowed"}]
        }
    })
}

fn sign(owner: &Owner, did: &str, payload: &Value) -> String {
    credence_registry::signed::sign(payload, &owner.signing, &format!("{did}#key-1"))
}

#[tokio::test]
async fn anchors_publish_content_addressed_versioned_schemas() {
    for backend in backends().await {
        let anchor = Owner::new(KeyType::Ed25519);
        let other_anchor = Owner::new(KeyType::Ed25519);
        let outsider = Owner::new(KeyType::P256);
        let dids: Vec<String> = [&anchor, &other_anchor, &outsider]
            .iter()
            .map(|o| ops::did_for_genesis(&o.genesis()).to_string())
            .collect();
        let app = app(
            backend.store.clone(),
            AppOptions {
                registry_prefix: "/registry",
                limits: WriteLimits::default(),
                web: Default::default(),
                log_signer: test_signer(),
                witnesses: Vec::new(),
                trust_anchors: vec![dids[0].parse().unwrap(), dids[1].parse().unwrap()],
                clock: Default::default(),
                checkpoint_interval: std::time::Duration::from_secs(1),
            },
        );
        for owner in [&anchor, &other_anchor, &outsider] {
            assert_eq!(
                post_op(&app, "/registry/dids", &owner.genesis())
                    .await
                    .status,
                201
            );
        }
        let vct = format!(
            "https://credence.example/vct/business-licence/{}",
            &dids[0][13..21]
        );
        let published = post(
            &app,
            "/registry/schemas",
            sign(&anchor, &dids[0], &submission(&vct, "status")),
        )
        .await;
        assert_eq!(
            published.status, 201,
            "{}: {}",
            backend.name, published.body
        );
        let id = published.body["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 52);
        assert_eq!(published.body["publisher"], dids[0].as_str());
        // The exact log size is checked only where the test owns the database (SQLite):
        // PostgreSQL runs share one log with the tests running beside this one.
        let log_size = backend.exclusive_log_size().await;

        let shown = get(&app, &format!("/registry/schemas/{id}")).await;
        assert_eq!(shown.body["typeMetadata"]["display"][1]["name"], "营业执照");
        assert_eq!(
            shown.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let bare = get(&app, &format!("/registry/schemas/{id}/schema")).await;
        assert_eq!(bare.content_type, "application/schema+json");
        assert_eq!(bare.body["required"], json!(["companyName"]));

        // The same content again: same id, nothing new in the log.
        let again = post(
            &app,
            "/registry/schemas",
            sign(&anchor, &dids[0], &submission(&vct, "status")),
        )
        .await;
        assert_eq!(
            (again.status.as_u16(), again.body["id"].as_str()),
            (200, Some(id.as_str()))
        );
        assert_eq!(backend.exclusive_log_size().await, log_size);

        // A new version of the type: new id; type metadata now points at it.
        let v2 = post(
            &app,
            "/registry/schemas",
            sign(&anchor, &dids[0], &submission(&vct, "address")),
        )
        .await;
        assert_eq!(v2.status, 201, "{}", v2.body);
        let v2_id = v2.body["id"].as_str().unwrap();
        assert_ne!(v2_id, id);
        let metadata = get(
            &app,
            &format!("/registry/type-metadata?vct={}", urlencode(&vct)),
        )
        .await;
        assert_eq!(
            metadata.body["schema_uri"],
            format!("schemas/{v2_id}/schema").as_str()
        );
        assert_eq!(metadata.body["vct"], vct.as_str());

        // Each publication is a log entry that names it.
        let entries = backend
            .store
            .entries(v2.body["logIndex"].as_u64().unwrap(), 1)
            .await
            .unwrap();
        match credence_registry::log::Entry::parse(&entries[0]).unwrap() {
            credence_registry::log::Entry::Schema { id, .. } => assert_eq!(id, v2_id),
            other => panic!("unexpected entry {other:?}"),
        }

        // Another anchor may publish a new version of this vct (and then owns it).
        let taken_over = post(
            &app,
            "/registry/schemas",
            sign(&other_anchor, &dids[1], &submission(&vct, "x")),
        )
        .await;
        assert_eq!(taken_over.status, 201, "{}", taken_over.body);
        assert_eq!(taken_over.body["publisher"], dids[1].as_str());
        let log_size = log_size.map(|size| size + 1);
        // A DID that is not a trust anchor may not publish at all.
        let outsider_vct = format!("{vct}-outsider");
        let refused = post(
            &app,
            "/registry/schemas",
            sign(&outsider, &dids[2], &submission(&outsider_vct, "x")),
        )
        .await;
        assert_problem(&refused, 403, "not-authorized");
        // Nothing of the refused submissions was stored.
        let outsider_type = format!("/registry/type-metadata?vct={}", urlencode(&outsider_vct));
        assert_problem(&get(&app, &outsider_type).await, 404, "schema-not-found");
        assert_eq!(
            backend.exclusive_log_size().await,
            log_size.map(|size| size + 1),
            "refusals write nothing"
        );
    }
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn bad_schema_submissions_are_refused_and_nothing_is_written() {
    for backend in backends().await {
        bad_schema_submissions_on(&backend).await;
    }
}

async fn bad_schema_submissions_on(backend: &crate::support::Backend) {
    let anchor = Owner::new(KeyType::Ed25519);
    let did = ops::did_for_genesis(&anchor.genesis()).to_string();
    let app = crate::support::app_with_anchors(backend.store.clone(), &[&did]);
    post_op(&app, "/registry/dids", &anchor.genesis()).await;
    let size = backend.exclusive_log_size().await;
    let vct = &format!("https://credence.example/vct/test/{}", &did[13..]);
    let check = |payload: Value, status: u16, kind: &'static str| {
        let (app, jws) = (app.clone(), sign(&anchor, &did, &payload));
        async move { assert_problem(&post(&app, "/registry/schemas", jws).await, status, kind) }
    };
    let mut broken = submission(vct, "x");
    broken["schema"]["type"] = json!(5);
    check(broken, 400, "invalid-schema").await;
    let mut remote_ref = submission(vct, "x");
    remote_ref["schema"]["$ref"] = json!("https://elsewhere.example/schema.json");
    check(remote_ref, 400, "invalid-schema").await;
    let mut no_vct = submission(vct, "x");
    no_vct["typeMetadata"]
        .as_object_mut()
        .unwrap()
        .remove("vct");
    check(no_vct, 400, "invalid-schema").await;
    let mut bad_sd = submission(vct, "x");
    bad_sd["typeMetadata"]["claims"][0]["sd"] = json!("sometimes");
    check(bad_sd, 400, "invalid-schema").await;
    let mut unknown = submission(vct, "x");
    unknown["note"] = json!("hi");
    check(unknown, 400, "invalid-schema").await;
    // Content over 32 KiB in a JWS under 48 KiB; and a JWS over 48 KiB, refused before its
    // signature is checked.
    let mut oversized = submission(vct, "x");
    oversized["schema"]["description"] = json!("x".repeat(33 * 1024));
    check(oversized, 400, "invalid-schema").await;
    let mut too_large = submission(vct, "x");
    too_large["schema"]["description"] = json!("x".repeat(40 * 1024));
    check(too_large, 413, "too-large").await;
    assert_problem(
        &post(&app, "/registry/schemas", "x".repeat(70 * 1024)).await,
        413,
        "body-too-large",
    );
    assert_problem(
        &post(&app, "/registry/schemas", "not a jws").await,
        400,
        "invalid-signature",
    );

    // Signed by the rotation key while claiming the assertion key: the signature fails.
    let forged = credence_registry::signed::sign(
        &submission(vct, "x"),
        &anchor.rotation,
        &format!("{did}#key-1"),
    );
    assert_problem(
        &post(&app, "/registry/schemas", forged).await,
        400,
        "invalid-signature",
    );
    // A kid naming a method the DID does not have.
    let unknown_kid = credence_registry::signed::sign(
        &submission(vct, "x"),
        &anchor.signing,
        &format!("{did}#key-9"),
    );
    assert_problem(
        &post(&app, "/registry/schemas", unknown_kid).await,
        403,
        "not-authorized",
    );
    // A payload tampered after signing.
    let jws = sign(&anchor, &did, &submission(vct, "x"));
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        submission(vct, "y").to_string(),
    );
    assert_problem(
        &post(&app, "/registry/schemas", parts.join(".")).await,
        400,
        "invalid-signature",
    );

    assert_problem(
        &get(&app, "/registry/schemas/nope").await,
        404,
        "schema-not-found",
    );
    assert_problem(
        &get(&app, "/registry/type-metadata?vct=urn:none").await,
        404,
        "schema-not-found",
    );
    assert_problem(
        &get(&app, "/registry/type-metadata").await,
        400,
        "invalid-query",
    );
    assert_eq!(
        backend.exclusive_log_size().await,
        size,
        "nothing was written"
    );
    assert_problem(
        &get(
            &app,
            &format!("/registry/type-metadata?vct={}", urlencode(vct)),
        )
        .await,
        404,
        "schema-not-found",
    );
}

/// An issuer accredited for a type may publish that type's schema, and no other.
#[tokio::test]
async fn accredited_issuers_publish_schemas_for_their_types() {
    for backend in backends().await {
        let (anchor, agency) = (Owner::new(KeyType::Ed25519), Owner::new(KeyType::Ed25519));
        let anchor_did = ops::did_for_genesis(&anchor.genesis()).to_string();
        let agency_did = ops::did_for_genesis(&agency.genesis()).to_string();
        let app = crate::support::app_with_anchors(backend.store.clone(), &[&anchor_did]);
        for owner in [&anchor, &agency] {
            assert_eq!(
                post_op(&app, "/registry/dids", &owner.genesis())
                    .await
                    .status,
                201
            );
        }
        let licence = format!("https://credence.example/vct/licence/{}", &agency_did[13..]);
        let degree = format!("https://credence.example/vct/degree/{}", &agency_did[13..]);
        let now = chrono::Utc::now();
        let accreditation = sign(
            &anchor,
            &anchor_did,
            &json!({"type": "Accreditation", "subject": agency_did, "credentialTypes": [licence],
                "validFrom": now.to_rfc3339(), "validUntil": (now + chrono::Duration::days(30)).to_rfc3339()}),
        );
        let accredited = post(&app, "/registry/accreditations", accreditation).await;
        assert_eq!(accredited.status, 201, "{}", accredited.body);

        let published = post(
            &app,
            "/registry/schemas",
            sign(&agency, &agency_did, &submission(&licence, "status")),
        )
        .await;
        assert_eq!(
            published.status, 201,
            "{}: {}",
            backend.name, published.body
        );
        assert_eq!(published.body["publisher"], agency_did.as_str());

        let size = backend.exclusive_log_size().await;
        let refused = post(
            &app,
            "/registry/schemas",
            sign(&agency, &agency_did, &submission(&degree, "status")),
        )
        .await;
        assert_problem(&refused, 403, "not-authorized");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("not accredited"),
            "{}",
            refused.body
        );
        assert_eq!(
            backend.exclusive_log_size().await,
            size,
            "nothing was written"
        );
        assert_problem(
            &get(
                &app,
                &format!("/registry/type-metadata?vct={}", urlencode(&degree)),
            )
            .await,
            404,
            "schema-not-found",
        );
    }
}

/// Who may publish a new version of a `vct` (README "Schemas"): its current owner (the
/// publisher of its latest version) while that owner is a trust anchor or accredited for the
/// type, and any trust anchor, which then owns it. Another accredited issuer may not take it
/// over, and an owner whose accreditation was revoked may not publish.
#[tokio::test]
async fn new_versions_of_a_vct_come_from_its_authorized_owner_or_an_anchor() {
    for backend in backends().await {
        let owners = [
            Owner::new(KeyType::Ed25519),
            Owner::new(KeyType::Ed25519),
            Owner::new(KeyType::Ed25519),
        ];
        let [anchor_did, agency_did, office_did] =
            [0, 1, 2].map(|i| ops::did_for_genesis(&owners[i].genesis()).to_string());
        let [anchor, agency, office] = &owners;
        let app = crate::support::app_with_anchors(backend.store.clone(), &[&anchor_did]);
        for owner in &owners {
            let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
            assert_eq!(created.status, 201, "{}", created.body);
        }
        let vct = format!("https://credence.example/vct/owned/{}", &agency_did[13..]);
        let now = chrono::Utc::now();
        let mut accreditation_ids = Vec::new();
        for subject in [&agency_did, &office_did] {
            let accreditation = sign(
                anchor,
                &anchor_did,
                &json!({"type": "Accreditation", "subject": subject, "credentialTypes": [vct],
                    "validFrom": now.to_rfc3339(), "validUntil": (now + chrono::Duration::days(30)).to_rfc3339()}),
            );
            let accredited = post(&app, "/registry/accreditations", accreditation).await;
            assert_eq!(accredited.status, 201, "{}", accredited.body);
            accreditation_ids.push(accredited.body["id"].as_str().unwrap().to_owned());
        }
        let publish = |owner: &Owner, did: &str, property: &str| {
            let jws = sign(owner, did, &submission(&vct, property));
            let app = app.clone();
            async move { post(&app, "/registry/schemas", jws).await }
        };
        let latest_publisher = || {
            let app = app.clone();
            let uri = format!("/registry/type-metadata?vct={}", urlencode(&vct));
            async move {
                let metadata = get(&app, &uri).await;
                let id = metadata.body["schema_uri"]
                    .as_str()
                    .unwrap()
                    .split('/')
                    .nth(1)
                    .unwrap()
                    .to_owned();
                get(&app, &format!("/registry/schemas/{id}")).await.body["publisher"].clone()
            }
        };

        let first = publish(agency, &agency_did, "v1").await;
        assert_eq!(first.status, 201, "{}: {}", backend.name, first.body);
        // Another accredited issuer may not take the type over.
        let size = backend.exclusive_log_size().await;
        assert_problem(
            &publish(office, &office_did, "office").await,
            409,
            "vct-taken",
        );
        assert_eq!(
            backend.exclusive_log_size().await,
            size,
            "nothing was written"
        );
        // The owner publishes new versions while accredited.
        assert_eq!(publish(agency, &agency_did, "v2").await.status, 201);

        // Its accreditation revoked, the owner may no longer publish; nor may the office.
        let id = &accreditation_ids[0];
        let revocation = sign(
            anchor,
            &anchor_did,
            &json!({"type": "AccreditationRevocation", "accreditation": id}),
        );
        let revoked = post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            revocation,
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        let size = backend.exclusive_log_size().await;
        assert_problem(
            &publish(agency, &agency_did, "v3").await,
            403,
            "not-authorized",
        );
        assert_problem(
            &publish(office, &office_did, "office").await,
            409,
            "vct-taken",
        );
        assert_eq!(
            backend.exclusive_log_size().await,
            size,
            "nothing was written"
        );
        assert_eq!(latest_publisher().await, agency_did.as_str());

        // A trust anchor may publish a new version, and owns the type from then on.
        let taken_over = publish(anchor, &anchor_did, "v3").await;
        assert_eq!(
            taken_over.status, 201,
            "{}: {}",
            backend.name, taken_over.body
        );
        assert_eq!(latest_publisher().await, anchor_did.as_str());
        assert_problem(
            &publish(office, &office_did, "office").await,
            409,
            "vct-taken",
        );
    }
}

/// Every example in examples/schemas publishes (they are used by the README walkthrough).
#[tokio::test]
async fn the_shipped_example_schemas_publish() {
    let backend = crate::support::sqlite().await;
    let anchor = Owner::new(KeyType::Ed25519);
    let did = ops::did_for_genesis(&anchor.genesis()).to_string();
    let app = crate::support::app_with_anchors(backend.store.clone(), &[&did]);
    post_op(&app, "/registry/dids", &anchor.genesis()).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas");
    let mut published = 0;
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let payload: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let reply = post(&app, "/registry/schemas", sign(&anchor, &did, &payload)).await;
            assert_eq!(reply.status, 201, "{}: {}", path.display(), reply.body);
            published += 1;
        }
    }
    assert_eq!(published, 6);
}
