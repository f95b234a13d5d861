//! The registry's HTTP API through `oneshot`, on every backend: the happy path, and each bad
//! request refused with a problem body and nothing written.

use axum::http::StatusCode;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{self, SignedOperation};
use credence_registry_server::store::WriteLimits;
use serde_json::{Value, json};

use crate::support::{Owner, assert_problem, backends, get, post, post_op, send, test_app};

const RESOLVE: &str = "/registry/1.0/identifiers/";

fn version_id(body: &Value) -> String {
    body["didDocumentMetadata"]["versionId"]
        .as_str()
        .expect("versionId")
        .to_owned()
}

#[tokio::test]
async fn create_update_rotate_deactivate_and_resolve_versions() {
    for backend in backends().await {
        let app = test_app(backend.store.clone(), WriteLimits::default());
        let owner = Owner::new(KeyType::Ed25519);
        let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{}: {}",
            backend.name,
            created.body
        );
        let did = created.body["didDocument"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let v1 = version_id(&created.body);
        assert_eq!(
            created.headers["location"],
            format!("1.0/identifiers/{did}").as_str()
        );

        // Rotate: the old rotation key signs an update naming a new one.
        let next = Owner::new(KeyType::P256);
        let rotated = post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &owner.update(&v1.parse_hash(), &next.rotation),
        )
        .await;
        assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
        let v2 = version_id(&rotated.body);
        // The new rotation key now controls the DID; the old one no longer does.
        let stale_owner = owner.deactivate(&v2.parse_hash());
        assert_problem(
            &post_op(&app, &format!("/registry/dids/{did}/ops"), &stale_owner).await,
            403,
            "not-a-rotation-key",
        );

        let latest = get(&app, &format!("{RESOLVE}{did}")).await;
        assert_eq!(latest.status, StatusCode::OK);
        assert!(
            latest.content_type.contains("did-resolution"),
            "{}",
            latest.content_type
        );
        assert_eq!(version_id(&latest.body), v2);
        assert!(latest.body["didDocumentMetadata"]["updated"].is_string());

        let old = get(&app, &format!("{RESOLVE}{did}?versionId={v1}")).await;
        assert_eq!(old.status, StatusCode::OK, "{}", old.body);
        assert_eq!(
            old.body["didDocumentMetadata"]["nextVersionId"],
            v2.as_str()
        );
        assert_eq!(old.body["didDocument"], created.body["didDocument"]);
        let created_at = old.body["didDocumentMetadata"]["created"]
            .as_str()
            .unwrap()
            .to_owned();
        let by_time = get(&app, &format!("{RESOLVE}{did}?versionTime={created_at}")).await;
        assert_eq!(by_time.status, StatusCode::OK, "{}", by_time.body);
        assert!([v1.as_str(), v2.as_str()].contains(&version_id(&by_time.body).as_str()));
        let before = get(
            &app,
            &format!("{RESOLVE}{did}?versionTime=2000-01-01T00:00:00Z"),
        )
        .await;
        assert_problem(&before, 404, "version-not-found");
        assert_problem(
            &get(&app, &format!("{RESOLVE}{did}?versionId=nope")).await,
            404,
            "version-not-found",
        );
        // Bad options are invalid options, not an invalid DID (DID Resolution §"Errors").
        assert_problem(
            &get(&app, &format!("{RESOLVE}{did}?versionTime=yesterday")).await,
            400,
            "invalid-options",
        );
        assert_problem(
            &get(&app, &format!("{RESOLVE}{did}?frobnicate=1")).await,
            400,
            "invalid-options",
        );

        // Accept: application/did+json gives the bare document.
        let request = axum::http::Request::get(format!("{RESOLVE}{did}"))
            .header("accept", "application/did+json")
            .body(axum::body::Body::empty())
            .unwrap();
        let bare = send(&app, request).await;
        assert_eq!(bare.content_type, "application/did+json");
        assert_eq!(bare.body["id"], did.as_str());

        let log = get(&app, &format!("/registry/dids/{did}/ops")).await;
        assert_eq!(log.body["operations"].as_array().map(Vec::len), Some(2));
        // Anyone can re-verify the chain from the log alone.
        let history: Vec<SignedOperation> = log.body["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| serde_json::from_value(entry["operation"].clone()).unwrap())
            .collect();
        assert_eq!(
            ops::replay(&history).unwrap().last().unwrap().did.as_str(),
            did
        );

        let deactivated = post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &next.deactivate(&v2.parse_hash()),
        )
        .await;
        assert_eq!(
            deactivated.status,
            StatusCode::CREATED,
            "{}",
            deactivated.body
        );
        let gone = get(&app, &format!("{RESOLVE}{did}")).await;
        assert_eq!(gone.status, StatusCode::GONE);
        assert_eq!(gone.body["didDocumentMetadata"]["deactivated"], true);
        let after = post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &next.update(&version_id(&gone.body).parse_hash(), &next.rotation),
        )
        .await;
        assert_problem(&after, 409, "did-deactivated");
        assert_eq!(
            backend
                .store
                .ops(&did.parse().unwrap())
                .await
                .unwrap()
                .len(),
            3,
            "nothing written after deactivation"
        );
    }
}

trait ParseHash {
    fn parse_hash(&self) -> ops::OpHash;
}
impl ParseHash for String {
    fn parse_hash(&self) -> ops::OpHash {
        ops::OpHash::parse(self).expect("op hash")
    }
}

#[tokio::test]
async fn replays_and_forks_are_refused_with_409_and_nothing_written() {
    for backend in backends().await {
        let app = test_app(backend.store.clone(), WriteLimits::default());
        let owner = Owner::new(KeyType::Ed25519);
        let genesis = owner.genesis();
        let created = post_op(&app, "/registry/dids", &genesis).await;
        let did = created.body["didDocument"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let v1 = version_id(&created.body).parse_hash();
        assert_problem(
            &post_op(&app, "/registry/dids", &genesis).await,
            409,
            "replayed",
        );

        let first = owner.update(&v1, &SecretKey::generate(KeyType::Ed25519));
        let second = owner.deactivate(&v1);
        let ops_uri = format!("/registry/dids/{did}/ops");
        assert_eq!(
            post_op(&app, &ops_uri, &first).await.status,
            StatusCode::CREATED
        );
        assert_problem(
            &post_op(&app, &ops_uri, &first).await,
            409,
            "forked-history",
        );
        assert_problem(
            &post_op(&app, &ops_uri, &second).await,
            409,
            "forked-history",
        );
        assert_eq!(
            backend
                .store
                .ops(&did.parse().unwrap())
                .await
                .unwrap()
                .len(),
            2,
            "{}",
            backend.name
        );
    }
}

#[tokio::test]
async fn concurrent_operations_on_one_prev_admit_exactly_one() {
    for backend in backends().await {
        let app = test_app(
            backend.store.clone(),
            WriteLimits {
                per_hour: 100,
                per_day: 100,
            },
        );
        let owner = Owner::new(KeyType::Ed25519);
        let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
        let did = created.body["didDocument"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let v1 = version_id(&created.body).parse_hash();
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (app, op, uri) = (
                    app.clone(),
                    owner.update(&v1, &SecretKey::generate(KeyType::Ed25519)),
                    format!("/registry/dids/{did}/ops"),
                );
                tokio::spawn(async move { post_op(&app, &uri, &op).await.status })
            })
            .collect();
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count(),
            1,
            "{}: {statuses:?}",
            backend.name
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
            "{statuses:?}"
        );
        assert_eq!(
            backend
                .store
                .ops(&did.parse().unwrap())
                .await
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_any_work() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = serde_json::to_string(&owner.genesis()).unwrap();
    let did = ops::did_for_genesis(&owner.genesis());

    assert_problem(
        &post(&app, "/registry/dids", "{not json").await,
        400,
        "malformed-json",
    );
    assert_problem(
        &post(&app, "/registry/dids", "").await,
        400,
        "malformed-json",
    );
    assert_problem(
        &post(&app, "/registry/dids", format!("{genesis} trailing")).await,
        400,
        "malformed-json",
    );
    // The same key twice: parsers disagree on which wins, so we accept neither.
    let duplicated = genesis.replacen('{', r#"{"type":"update","#, 1);
    let reply = post(&app, "/registry/dids", duplicated).await;
    assert_problem(&reply, 400, "malformed-json");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("duplicate key \"type\""),
        "{}",
        reply.body
    );
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let reply = post(&app, "/registry/dids", deep).await;
    assert_problem(&reply, 400, "malformed-json");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("nested deeper"),
        "{}",
        reply.body
    );
    assert_problem(
        &post(&app, "/registry/dids", vec![b' '; 65 * 1024]).await,
        413,
        "body-too-large",
    );
    let unknown_type = genesis.replacen(r#""type":"create""#, r#""type":"recover""#, 1);
    assert_problem(
        &post(&app, "/registry/dids", unknown_type).await,
        400,
        "malformed-operation",
    );
    let unknown_field = genesis.replacen('{', r#"{"note":"hi","#, 1);
    assert_problem(
        &post(&app, "/registry/dids", unknown_field).await,
        400,
        "malformed-operation",
    );
    let bad_signature = genesis.replacen(r#""sig":""#, r#""sig":"x"#, 1);
    assert_problem(
        &post(&app, "/registry/dids", bad_signature).await,
        400,
        "invalid-signature",
    );
    // An update sent to the genesis endpoint.
    let update = owner.deactivate(&owner.genesis().hash());
    assert_problem(
        &post_op(&app, "/registry/dids", &update).await,
        400,
        "wrong-operation-type",
    );
    // An operation for a DID that does not exist.
    assert_problem(
        &post_op(&app, &format!("/registry/dids/{did}/ops"), &update).await,
        404,
        "not-found",
    );

    assert!(
        backend.store.current(&did).await.unwrap().is_none(),
        "nothing was written"
    );
    assert!(backend.store.ops(&did).await.unwrap().is_empty());
}

#[tokio::test]
async fn malformed_and_unsupported_dids_get_resolution_errors() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let check = |uri: String, status: u16, kind: &'static str, name: &'static str| {
        let app = app.clone();
        async move {
            let reply = get(&app, &uri).await;
            assert_problem(&reply, status, kind);
            assert_eq!(
                reply.body["didResolutionMetadata"]["error"], name,
                "{uri}: {}",
                reply.body
            );
        }
    };
    check(
        format!("{RESOLVE}not-a-did"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:UPPER:x"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:credence:"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:credence:a%2"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:example:123"),
        501,
        "method-not-supported",
        "methodNotSupported",
    )
    .await;
    check(
        format!("{RESOLVE}did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        404,
        "not-found",
        "notFound",
    )
    .await;
    let short_ed25519 = multibase::encode(
        multibase::Base::Base58Btc,
        [[0xed, 0x01].as_slice(), &[7u8; 31]].concat(),
    );
    check(
        format!("{RESOLVE}did:key:{short_ed25519}"),
        400,
        "invalid-public-key",
        "invalidPublicKeyLength",
    )
    .await;
    // 33 bytes with a compressed-point tag that is not 02/03: not a P-256 point.
    let not_a_point = multibase::encode(
        multibase::Base::Base58Btc,
        [[0x80, 0x24, 0x05].as_slice(), &[1u8; 32]].concat(),
    );
    check(
        format!("{RESOLVE}did:key:{not_a_point}"),
        400,
        "invalid-public-key",
        "invalidPublicKey",
    )
    .await;
    check(
        format!("{RESOLVE}did:key:abc"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    // X25519 (0xec) is a key type we do not resolve.
    let x25519 = multibase::encode(
        multibase::Base::Base58Btc,
        [[0xec, 0x01].as_slice(), &[7u8; 32]].concat(),
    );
    check(
        format!("{RESOLVE}did:key:{x25519}"),
        400,
        "invalid-public-key",
        "invalidPublicKeyType",
    )
    .await;
    check(
        format!("{RESOLVE}did:jwk:!!"),
        400,
        "invalid-did",
        "invalidDid",
    )
    .await;
    // did:web must not be a way into the server's own network.
    check(
        format!("{RESOLVE}did:web:127.0.0.1%3A8080"),
        400,
        "forbidden-target",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:web:localhost"),
        400,
        "forbidden-target",
        "invalidDid",
    )
    .await;
    check(
        format!("{RESOLVE}did:web:10.0.0.1"),
        400,
        "forbidden-target",
        "invalidDid",
    )
    .await;
    check(
        "/registry/dids/did:key:z6Mk/ops".to_owned(),
        501,
        "method-not-supported",
        "methodNotSupported",
    )
    .await;
}

#[tokio::test]
async fn did_key_and_did_jwk_resolve_through_the_api() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let key = SecretKey::generate(KeyType::P256);
    let reply = get(&app, &format!("{RESOLVE}{}", key.public().to_did_key())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["didDocument"]["verificationMethod"][0]["publicKeyMultibase"],
        key.public().to_multikey()
    );
    let jwk = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key.public().to_jwk().to_string(),
    );
    let reply = get(&app, &format!("{RESOLVE}did:jwk:{jwk}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["didDocument"]["verificationMethod"][0]["publicKeyJwk"],
        key.public().to_jwk()
    );
    // A did:jwk carrying a private key is refused rather than echoed back.
    let private = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key.to_private_jwk().as_bytes(),
    );
    assert_problem(
        &get(&app, &format!("{RESOLVE}did:jwk:{private}")).await,
        400,
        "invalid-public-key",
    );
    // Static methods have no versions.
    let reply = get(
        &app,
        &format!("{RESOLVE}{}?versionId=x", key.public().to_did_key()),
    )
    .await;
    assert_problem(&reply, 404, "version-not-found");
}

#[tokio::test]
async fn per_did_write_limit_answers_429_with_retry_after() {
    for backend in backends().await {
        let app = test_app(
            backend.store.clone(),
            WriteLimits {
                per_hour: 3,
                per_day: 30,
            },
        );
        let owner = Owner::new(KeyType::Ed25519);
        let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
        let did = created.body["didDocument"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut head = version_id(&created.body);
        for _ in 0..2 {
            let reply = post_op(
                &app,
                &format!("/registry/dids/{did}/ops"),
                &owner.update(&head.parse_hash(), &owner.rotation),
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            head = version_id(&reply.body);
        }
        let limited = post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &owner.update(&head.parse_hash(), &owner.rotation),
        )
        .await;
        assert_problem(&limited, 429, "rate-limited");
        assert_eq!(limited.headers["retry-after"], "3600");
        assert_eq!(
            backend
                .store
                .ops(&did.parse().unwrap())
                .await
                .unwrap()
                .len(),
            3
        );
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    assert_eq!(get(&app, "/health").await.body, json!({"status": "ok"}));
    assert_eq!(get(&app, "/ready").await.body, json!({"status": "ready"}));
    get(&app, &format!("{RESOLVE}did:example:1")).await;
    let metrics = get(&app, "/metrics").await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/registry/1.0/identifiers/{did}",status="501"}"#),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    let openapi = get(&app, "/openapi.json").await.body;
    for path in [
        "/registry/dids",
        "/registry/dids/{did}/ops",
        "/registry/1.0/identifiers/{did}",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from {openapi}"
        );
    }
}

/// Every path a route module registers with `.route("...")` (its source, as compiled).
fn routed_paths() -> Vec<(&'static str, String)> {
    // (mount prefix in the all-in-one app, module source)
    let modules: [(&str, &str); 7] = [
        ("/registry", include_str!("../../src/http/dids.rs")),
        ("/registry", include_str!("../../src/http/identifiers.rs")),
        ("/registry", include_str!("../../src/http/log.rs")),
        ("/registry", include_str!("../../src/http/schemas.rs")),
        ("/registry", include_str!("../../src/http/status.rs")),
        ("/registry", include_str!("../../src/http/trust.rs")),
        ("", include_str!("../../src/http/service.rs")),
    ];
    let mut paths = Vec::new();
    for (prefix, source) in modules {
        for piece in source.split(".route(").skip(1) {
            let literal = piece
                .trim_start()
                .strip_prefix('"')
                .expect("a literal path");
            let path = &literal[..literal.find('"').expect("closing quote")];
            // axum's catch-all `{*name}` is OpenAPI's `{name}`.
            paths.push((prefix, path.replace("{*", "{")));
        }
    }
    paths
}

/// Issue 10: the OpenAPI document lists every route the app serves (schema, trust, status and
/// service routes were missing once). A new route without an annotation fails here.
#[tokio::test]
async fn the_openapi_document_lists_every_routed_path() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let openapi = get(&app, "/openapi.json").await.body;
    let routed = routed_paths();
    assert!(routed.len() >= 20, "found only {routed:?}");
    let missing: Vec<String> = routed
        .iter()
        .map(|(prefix, path)| format!("{prefix}{path}"))
        .filter(|path| !openapi["paths"][path].is_object())
        .collect();
    assert!(
        missing.is_empty(),
        "routed but not in /openapi.json: {missing:?}"
    );
    // A parameter documented as in the path is one of the path's `{name}`s (query parameters
    // were once all documented as required path parameters).
    let mut misplaced = Vec::new();
    for (path, operations) in openapi["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    misplaced.push(format!("{method} {path}: {name}"));
                }
            }
        }
    }
    assert!(
        misplaced.is_empty(),
        "path parameters not in their path: {misplaced:?}"
    );
}

#[tokio::test]
async fn malformed_did_credence_ids_and_prev_values_are_400() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    for id in [
        "short",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
    ] {
        // DID-METHOD.md §7.4: a method-specific id that breaks §2 is not a did:credence DID,
        // so it is `invalidDid` (DID Resolution's first step), not `notFound`.
        let reply = get(&app, &format!("{RESOLVE}did:credence:{id}")).await;
        assert_problem(&reply, 400, "invalid-did");
        assert_eq!(reply.body["didResolutionMetadata"]["error"], "invalidDid");
        assert_eq!(reply.body["didDocument"], Value::Null);
    }
    let owner = Owner::new(KeyType::Ed25519);
    let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
    let did = created.body["didDocument"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut op =
        serde_json::to_value(owner.deactivate(&version_id(&created.body).parse_hash())).unwrap();
    op["prev"] = json!("not-a-hash");
    let reply = post(&app, &format!("/registry/dids/{did}/ops"), op.to_string()).await;
    assert_problem(&reply, 400, "malformed-operation");
}
