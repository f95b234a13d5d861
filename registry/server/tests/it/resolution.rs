//! DID Resolution and DID URL dereferencing as DID Resolution clients expect them (W3C DID
//! Resolution 1.0 drafts and v0.3; DID Core 1.0 §3.2, §7), through the HTTP route and through
//! the library; the identifier taken from the raw path; and the media types POST bodies need.
//! Storing cases run on every backend.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_registry::error::Error;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{
    self, OperationBody, Purpose, ServiceSpec, SignedOperation, VerificationMethodSpec,
};
use credence_registry::resolver::web::WebResolverConfig;
use credence_registry::resolver::{Content, CredenceSource, DidUrl, Resolver};
use credence_registry::wire::VersionSelector;
use credence_registry_server::registry::Registry;
use credence_registry_server::store::{DidStore, WriteLimits};
use credence_registry_server::{AppOptions, app};
use serde_json::{Value, json};

use crate::support::{
    Owner, Reply, assert_problem, backends, get, post_op, send, test_app, test_signer,
};

const RESOLVE: &str = "/registry/1.0/identifiers/";
const PROBLEMS: &str = "https://credence.example/problems/";

async fn get_accepting(app: &axum::Router, uri: &str, accept: &str) -> Reply {
    let request = Request::get(uri)
        .header("accept", accept)
        .body(Body::empty())
        .expect("request");
    send(app, request).await
}

async fn post_as(
    app: &axum::Router,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Reply {
    let mut request = Request::post(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    send(app, request.body(body.into()).expect("request")).await
}

/// The app with did:web allowed to reach loopback over http (tests only).
fn loopback_web_app(store: Arc<dyn DidStore>) -> axum::Router {
    app(
        store,
        AppOptions {
            registry_prefix: "/registry",
            limits: WriteLimits::default(),
            web: WebResolverConfig {
                allow_http: true,
                allow_private_targets: true,
                ..Default::default()
            },
            log_signer: test_signer(),
            witnesses: Vec::new(),
            trust_anchors: Vec::new(),
            clock: Default::default(),
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    )
}

// --- Item 6: the identifier is resolved as sent ------------------------------------------

/// Serves `document` (set once the port, hence the DID, is known) and records request paths.
async fn did_web_host() -> (u16, Arc<Mutex<Value>>, Arc<Mutex<Vec<String>>>) {
    let document = Arc::new(Mutex::new(Value::Null));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (served, seen) = (document.clone(), paths.clone());
    let host = axum::Router::new().fallback(move |uri: Uri| {
        seen.lock().expect("lock").push(uri.path().to_owned());
        let body = served.lock().expect("lock").clone();
        async move { axum::Json(body).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, host).await });
    (port, document, paths)
}

#[tokio::test]
async fn a_did_web_port_in_the_path_is_resolved_as_sent() {
    let backend = crate::support::sqlite().await;
    let app = loopback_web_app(backend.store.clone());
    let (port, document, paths) = did_web_host().await;
    let did = format!("did:web:127.0.0.1%3A{port}");
    *document.lock().expect("lock") =
        json!({"@context": "https://www.w3.org/ns/did/v1", "id": did});

    let reply = get(&app, &format!("{RESOLVE}{did}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["didDocument"]["id"], did.as_str());
    // The same DID entirely percent-encoded, as the GET binding writes it with options.
    let encoded = format!("did%3Aweb%3A127.0.0.1%253A{port}");
    let reply = get(&app, &format!("{RESOLVE}{encoded}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["didDocument"]["id"], did.as_str());
    assert_eq!(
        *paths.lock().expect("lock"),
        ["/.well-known/did.json", "/.well-known/did.json"],
        "the port stayed a port, not a path segment"
    );
}

// --- Item 7: request media types ---------------------------------------------------------

struct Party {
    owner: Owner,
    did: String,
}

impl Party {
    fn new() -> Self {
        let owner = Owner::new(KeyType::Ed25519);
        let did = ops::did_for_genesis(&owner.genesis()).to_string();
        Self { owner, did }
    }
    fn sign(&self, payload: &Value, typ: Option<&str>) -> String {
        credence_registry::signed::sign_typed(
            payload,
            &self.owner.signing,
            &format!("{}#key-1", self.did),
            typ,
        )
    }
}

#[track_caller]
fn hash(version_id: &Value) -> ops::OpHash {
    ops::OpHash::parse(version_id.as_str().expect("versionId")).expect("op hash")
}

#[track_caller]
fn assert_unsupported_media_type(reply: &Reply, expected: &str) {
    assert_problem(reply, 415, "unsupported-media-type");
    assert_eq!(reply.headers["accept-post"], expected, "{}", reply.body);
}

#[tokio::test]
async fn post_bodies_need_their_media_type_and_nothing_is_written_otherwise() {
    for backend in backends().await {
        let anchor = Party::new();
        let agency = Party::new();
        let app = crate::support::app_with_anchors(backend.store.clone(), &[&anchor.did]);
        let log_size = backend.exclusive_log_size().await;

        // DID operations are JSON.
        let genesis = serde_json::to_vec(&anchor.owner.genesis()).expect("json");
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jose"),
            Some("application/jsonx"),
        ] {
            let reply = post_as(&app, "/registry/dids", content_type, genesis.clone()).await;
            assert_unsupported_media_type(&reply, "application/json");
        }
        let anchor_did: credence_registry::did::Did = anchor.did.parse().expect("did");
        assert!(
            backend
                .store
                .ops(&anchor_did)
                .await
                .expect("ops")
                .is_empty()
        );
        assert_eq!(backend.exclusive_log_size().await, log_size);
        let created = post_as(
            &app,
            "/registry/dids",
            Some("application/json; charset=utf-8"),
            genesis,
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let agency_genesis = serde_json::to_vec(&agency.owner.genesis()).expect("json");
        let created = post_as(
            &app,
            "/registry/dids",
            Some("application/did+json"),
            agency_genesis,
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "+json is JSON");
        let head = hash(&created.body["didDocumentMetadata"]["versionId"]);
        let update =
            serde_json::to_vec(&agency.owner.update(&head, &agency.owner.rotation)).expect("json");
        let ops_uri = format!("/registry/dids/{}/ops", agency.did);
        let reply = post_as(&app, &ops_uri, Some("text/plain"), update.clone()).await;
        assert_unsupported_media_type(&reply, "application/json");
        let agency_did: credence_registry::did::Did = agency.did.parse().expect("did");
        assert_eq!(backend.store.ops(&agency_did).await.expect("ops").len(), 1);

        // Signed submissions are compact JWS.
        let log_size = backend.exclusive_log_size().await;
        let vct = format!("https://credence.example/vct/{}", &anchor.did[13..]);
        let schema = anchor.sign(
            &json!({
                "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
                "typeMetadata": {"vct": vct}
            }),
            None,
        );
        for content_type in [None, Some("application/json"), Some("text/plain")] {
            let reply = post_as(&app, "/registry/schemas", content_type, schema.clone()).await;
            assert_unsupported_media_type(&reply, "application/jose");
        }
        let type_metadata = format!(
            "/registry/type-metadata?vct={}",
            url::form_urlencoded::byte_serialize(vct.as_bytes()).collect::<String>()
        );
        assert_problem(&get(&app, &type_metadata).await, 404, "schema-not-found");

        let now = chrono::Utc::now();
        let accreditation = anchor.sign(
            &json!({
                "type": "Accreditation",
                "subject": agency.did,
                "credentialTypes": [vct],
                "mayAccredit": false,
                "validFrom": (now - chrono::Duration::days(1)).to_rfc3339(),
                "validUntil": (now + chrono::Duration::days(30)).to_rfc3339(),
            }),
            None,
        );
        for content_type in [None, Some("application/json"), Some("application/jwt")] {
            let reply = post_as(
                &app,
                "/registry/accreditations",
                content_type,
                accreditation.clone(),
            )
            .await;
            assert_unsupported_media_type(&reply, "application/jose");
        }
        let issuer = get(&app, &format!("/registry/issuers/{}", agency.did)).await;
        assert_eq!(issuer.body["accreditations"], json!([]), "{}", issuer.body);

        // Published by the anchor: the agency's accreditation is revoked by then.
        let list = anchor.sign(
            &json!({
                "iss": anchor.did,
                "sub": format!("https://registry.example/status-lists/{}/1", anchor.did),
                "iat": now.timestamp(),
                "ttl": 600,
                "status_list": {"bits": 1, "lst": zlib(&[0u8; 16 * 1024])}
            }),
            Some("statuslist+jwt"),
        );
        for content_type in [None, Some("application/json"), Some("text/plain")] {
            let reply = post_as(&app, "/registry/status-lists", content_type, list.clone()).await;
            assert_unsupported_media_type(
                &reply,
                "application/jose, application/statuslist+jwt, application/vc+jwt",
            );
        }
        assert_eq!(backend.exclusive_log_size().await, log_size);

        // The same bodies with their media types are accepted, so it was the type refused.
        let reply = post_as(&app, "/registry/schemas", Some("application/jose"), schema).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let reply = post_as(
            &app,
            "/registry/accreditations",
            Some("application/jose"),
            accreditation,
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let revocation = anchor.sign(
            &json!({"type": "AccreditationRevocation", "accreditation": id}),
            None,
        );
        let revoke_uri = format!("/registry/accreditations/{id}/revoke");
        let reply = post_as(&app, &revoke_uri, Some("text/plain"), revocation.clone()).await;
        assert_unsupported_media_type(&reply, "application/jose");
        let shown = get(&app, &format!("/registry/accreditations/{id}")).await;
        assert!(shown.body["revoked"].is_null(), "{}", shown.body);
        let reply = post_as(&app, &revoke_uri, Some("application/jose"), revocation).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let reply = post_as(
            &app,
            "/registry/status-lists",
            Some("application/statuslist+jwt"),
            list,
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
}

#[tokio::test]
async fn the_openapi_document_states_each_request_media_type() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let openapi = get(&app, "/openapi.json").await.body;
    for (path, media_types) in [
        ("/registry/dids", &["application/json"][..]),
        ("/registry/dids/{did}/ops", &["application/json"]),
        ("/registry/schemas", &["application/jose"]),
        ("/registry/accreditations", &["application/jose"]),
        (
            "/registry/accreditations/{id}/revoke",
            &["application/jose"],
        ),
        (
            "/registry/status-lists",
            &[
                "application/jose",
                "application/statuslist+jwt",
                "application/vc+jwt",
            ],
        ),
    ] {
        let post = &openapi["paths"][path]["post"];
        let content = post["requestBody"]["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: {post}"));
        let mut listed: Vec<&str> = content.keys().map(String::as_str).collect();
        listed.sort_unstable();
        assert_eq!(listed, media_types, "{path}");
        assert!(post["responses"]["415"].is_object(), "{path}: {post}");
    }
}

fn zlib(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    URL_SAFE_NO_PAD.encode(encoder.finish().expect("compress"))
}

// --- Item 8: resolution results, negotiation, options, dereferencing --------------------

/// An owner whose DID has two keys (`key-1` assertion, `key-2` authentication) and a service.
struct TwoKeys {
    rotation: SecretKey,
    key_1: SecretKey,
    key_2: SecretKey,
}

impl TwoKeys {
    fn new() -> Self {
        Self {
            rotation: SecretKey::generate(KeyType::Ed25519),
            key_1: SecretKey::generate(KeyType::Ed25519),
            key_2: SecretKey::generate(KeyType::P256),
        }
    }
    fn methods(&self, with_key_2: bool) -> Vec<VerificationMethodSpec> {
        let method = |id: &str, key: &SecretKey, purpose: Purpose| VerificationMethodSpec {
            id: id.into(),
            kind: "Multikey".into(),
            public_key_multibase: Some(key.public().to_multikey()),
            public_key_jwk: None,
            purposes: vec![purpose],
        };
        let mut methods = vec![method("key-1", &self.key_1, Purpose::AssertionMethod)];
        if with_key_2 {
            methods.push(method("key-2", &self.key_2, Purpose::Authentication));
        }
        methods
    }
    fn services() -> Vec<ServiceSpec> {
        vec![ServiceSpec {
            id: "site".into(),
            kind: "LinkedDomains".into(),
            service_endpoint: "https://agency.example".into(),
        }]
    }
    fn genesis(&self) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Create {
                rotation_keys: vec![self.rotation.public().to_did_key()],
                verification_methods: self.methods(true),
                services: Self::services(),
            },
            &self.rotation,
        )
    }
    /// An update that drops `key-2`.
    fn drop_key_2(&self, prev: &ops::OpHash) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Update {
                prev: prev.clone(),
                rotation_keys: vec![self.rotation.public().to_did_key()],
                verification_methods: self.methods(false),
                services: Self::services(),
            },
            &self.rotation,
        )
    }
}

/// Checks an error answer: status, problem type, and the result members beside the problem.
#[track_caller]
fn assert_error_result(reply: &Reply, status: u16, kind: &str, name: &str) {
    assert_problem(reply, status, kind);
    assert_eq!(reply.body["didDocument"], Value::Null, "{}", reply.body);
    assert_eq!(
        reply.body["didDocumentMetadata"],
        json!({}),
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["didResolutionMetadata"]["error"], name,
        "{}",
        reply.body
    );
}

#[track_caller]
fn assert_dereferencing_error(reply: &Reply, status: u16, kind: &str, name: &str) {
    assert_problem(reply, status, kind);
    assert_eq!(reply.body["contentStream"], Value::Null, "{}", reply.body);
    assert_eq!(reply.body["contentMetadata"], json!({}), "{}", reply.body);
    assert_eq!(
        reply.body["dereferencingMetadata"]["error"], name,
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn error_answers_carry_a_full_resolution_result() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let missing = format!("{RESOLVE}did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let check = |uri: String, status: u16, kind: &'static str, name: &'static str| {
        let app = app.clone();
        async move { assert_error_result(&get(&app, &uri).await, status, kind, name) }
    };
    check(missing.clone(), 404, "not-found", "notFound").await;
    check(
        format!("{RESOLVE}not-a-did"),
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

    // A client that asks for the DID Resolution 1.0 result gets it, errors included: the
    // error is an RFC 9457 object typed with the spec's URL; the problem rides along.
    let reply = get_accepting(&app, &missing, "application/did-resolution").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.content_type, "application/did-resolution");
    assert_eq!(reply.body["type"], format!("{PROBLEMS}not-found"));
    assert_eq!(reply.body["didDocument"], Value::Null);
    assert_eq!(reply.body["didDocumentMetadata"], json!({}));
    assert_eq!(
        reply.body["didResolutionMetadata"]["error"]["type"], "https://www.w3.org/ns/did#NOT_FOUND",
        "{}",
        reply.body
    );
    // The v0.x result type keeps v0.x error names.
    let legacy = r#"application/ld+json;profile="https://w3id.org/did-resolution""#;
    let reply = get_accepting(&app, &missing, legacy).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.content_type, legacy);
    assert_eq!(reply.body["didResolutionMetadata"]["error"], "notFound");
    assert_eq!(reply.body["didDocument"], Value::Null);

    // Everyone else (here a client of plain JSON) gets a problem with the error name.
    let reply = get_accepting(&app, &missing, "application/json").await;
    assert_error_result(&reply, 404, "not-found", "notFound");

    // Through the library: the same conditions, as typed errors.
    let resolver = Resolver::new(
        CredenceSource::Local(Arc::new(Registry::new(
            backend.store.clone(),
            WriteLimits::default(),
        ))),
        WebResolverConfig::default(),
    );
    let did = "did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .parse()
        .expect("did");
    let error = resolver
        .resolve(&did, &VersionSelector::Latest)
        .await
        .expect_err("missing");
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    assert_eq!(error.resolution_error(), Some("notFound"));
}

/// Regression (issue 8, item 11) through the route: a did:web naming an internal host is
/// refused without the addresses the name resolves to.
#[tokio::test]
async fn did_web_refusals_do_not_reveal_addresses_over_http() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let reply = get(&app, &format!("{RESOLVE}did:web:localhost")).await;
    assert_error_result(&reply, 400, "forbidden-target", "invalidDid");
    let detail = reply.body["detail"].as_str().expect("detail");
    assert!(
        !detail.contains("127.0.0.1") && !detail.contains("::1"),
        "{detail}"
    );
}

#[tokio::test]
async fn accept_is_negotiated_with_q_values() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let key = SecretKey::generate(KeyType::Ed25519).public().to_did_key();
    let uri = format!("{RESOLVE}{key}");
    let check = |accept: &'static str, status: u16, content_type: &'static str, whole: bool| {
        let (app, uri, key) = (app.clone(), uri.clone(), key.clone());
        async move {
            let reply = get_accepting(&app, &uri, accept).await;
            assert_eq!(reply.status.as_u16(), status, "{accept}: {}", reply.body);
            assert_eq!(reply.content_type, content_type, "{accept}");
            let id = if whole {
                &reply.body["didDocument"]["id"]
            } else {
                &reply.body["id"]
            };
            assert_eq!(*id, key.as_str(), "{accept}: {}", reply.body);
            assert_eq!(reply.headers["vary"], "accept");
        }
    };
    let legacy = r#"application/ld+json;profile="https://w3id.org/did-resolution""#;
    check("*/*", 200, "application/did-resolution", true).await;
    check(
        "application/did-resolution",
        200,
        "application/did-resolution",
        true,
    )
    .await;
    check("application/did+json", 200, "application/did+json", false).await;
    check(
        "application/did+ld+json",
        200,
        "application/did+ld+json",
        false,
    )
    .await;
    check(legacy, 200, legacy, true).await;
    check(
        "application/did+json;q=0, application/ld+json",
        200,
        legacy,
        true,
    )
    .await;
    check(
        "application/did+json;q=0.5, application/did-resolution;q=0.8",
        200,
        "application/did-resolution",
        true,
    )
    .await;
    check(
        "text/html, */*;q=0.1",
        200,
        "application/did-resolution",
        true,
    )
    .await;
    check("application/json", 200, "application/json", true).await;
    let default = get(&app, &uri).await;
    assert_eq!(default.content_type, "application/did-resolution");
    assert!(default.body["didResolutionMetadata"]["contentType"].is_string());

    for accept in [
        "application/did+cbor",
        "text/html",
        "application/did+json;q=0",
    ] {
        let reply = get_accepting(&app, &uri, accept).await;
        assert_error_result(
            &reply,
            406,
            "representation-not-supported",
            "representationNotSupported",
        );
    }
}

#[tokio::test]
async fn bad_or_unknown_options_are_invalid_options() {
    for backend in backends().await {
        let app = test_app(backend.store.clone(), WriteLimits::default());
        let owner = Owner::new(KeyType::Ed25519);
        let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
        let did = created.body["didDocument"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        for query in [
            "foo=1",
            "versionTime=2026-01-01",
            "versionTime=2026-01-01T00:00:00Z&versionId=x",
            "versionId=a&versionId=b",
            "proof=maybe",
        ] {
            let reply = get(&app, &format!("{RESOLVE}{did}?{query}")).await;
            assert_error_result(&reply, 400, "invalid-options", "invalidOptions");
        }
        // An option error is not an invalid DID, whatever the method.
        let key = SecretKey::generate(KeyType::P256).public().to_did_key();
        let reply = get(&app, &format!("{RESOLVE}{key}?foo=1")).await;
        assert_error_result(&reply, 400, "invalid-options", "invalidOptions");
    }
}

#[tokio::test]
async fn did_urls_are_dereferenced_over_http() {
    for backend in backends().await {
        let app = test_app(backend.store.clone(), WriteLimits::default());
        let owner = TwoKeys::new();
        let created = post_op(&app, "/registry/dids", &owner.genesis()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let did = created.body["didDocument"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let v1 = created.body["didDocumentMetadata"]["versionId"]
            .as_str()
            .expect("versionId")
            .to_owned();

        let reply = get(&app, &format!("{RESOLVE}{did}%23key-2")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            backend.name,
            reply.body
        );
        assert_eq!(reply.content_type, "application/did-url-dereferencing");
        assert_eq!(reply.body["contentStream"]["id"], format!("{did}#key-2"));
        assert_eq!(
            reply.body["contentStream"]["publicKeyMultibase"],
            owner.key_2.public().to_multikey()
        );
        assert_eq!(reply.body["contentMetadata"]["versionId"], v1.as_str());
        assert_eq!(
            reply.body["dereferencingMetadata"]["contentType"],
            "application/did+json"
        );
        let bare = get_accepting(
            &app,
            &format!("{RESOLVE}{did}%23key-1"),
            "application/did+json",
        )
        .await;
        assert_eq!(bare.content_type, "application/did+json");
        assert_eq!(bare.body["id"], format!("{did}#key-1"));
        // A DID asked for a dereferencing result is dereferenced: its content is the document
        // (DID Resolution's HTTP example, `did:example:123?versionId=2`).
        let whole = get_accepting(
            &app,
            &format!("{RESOLVE}{did}?versionId={v1}"),
            "application/did-url-dereferencing",
        )
        .await;
        assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
        assert_eq!(whole.content_type, "application/did-url-dereferencing");
        assert_eq!(whole.body["contentStream"], created.body["didDocument"]);
        assert_eq!(whole.body["contentMetadata"]["versionId"], v1.as_str());
        let service = get(&app, &format!("{RESOLVE}{did}%23site")).await;
        assert_eq!(service.body["contentStream"]["type"], "LinkedDomains");
        let encoded = format!("{RESOLVE}{}%23key-1", did.replace(':', "%3A"));
        let reply = get(&app, &encoded).await;
        assert_eq!(reply.status, StatusCode::OK, "{encoded}: {}", reply.body);
        assert_eq!(reply.body["contentStream"]["id"], format!("{did}#key-1"));

        // An update drops key-2: gone from the latest version, still in the first.
        let updated = post_op(
            &app,
            &format!("/registry/dids/{did}/ops"),
            &owner.drop_key_2(&hash(&json!(v1))),
        )
        .await;
        assert_eq!(updated.status, StatusCode::CREATED, "{}", updated.body);
        assert_dereferencing_error(
            &get(&app, &format!("{RESOLVE}{did}%23key-2")).await,
            404,
            "did-url-not-found",
            "notFound",
        );
        let pinned = get(&app, &format!("{RESOLVE}{did}%3FversionId%3D{v1}%23key-2")).await;
        assert_eq!(pinned.status, StatusCode::OK, "{}", pinned.body);
        assert_eq!(pinned.body["contentStream"]["id"], format!("{did}#key-2"));
        let by_option = get(&app, &format!("{RESOLVE}{did}%23key-2?versionId={v1}")).await;
        assert_eq!(by_option.status, StatusCode::OK, "{}", by_option.body);

        let check = |path: String, status: u16, kind: &'static str, name: &'static str| {
            let app = app.clone();
            async move {
                let reply = get(&app, &format!("{RESOLVE}{path}")).await;
                assert_dereferencing_error(&reply, status, kind, name);
            }
        };
        check(
            format!("{did}%23nope"),
            404,
            "did-url-not-found",
            "notFound",
        )
        .await;
        check(
            format!("{did}%2Fpath"),
            404,
            "did-url-not-found",
            "notFound",
        )
        .await;
        check(
            format!("{did}%3Fservice%3Dsite"),
            404,
            "did-url-not-found",
            "notFound",
        )
        .await;
        check(
            format!("{did}%23key-1%23twice"),
            400,
            "invalid-did-url",
            "invalidDidUrl",
        )
        .await;
        check(
            format!("{did}%3FversionId%3D{v1}%23key-1?versionId={v1}"),
            400,
            "invalid-options",
            "invalidOptions",
        )
        .await;
        check(
            format!("{did}%3FversionTime%3D2026-01-01%23key-1"),
            400,
            "invalid-options",
            "invalidOptions",
        )
        .await;
        check(
            "did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%23key-1".into(),
            404,
            "not-found",
            "notFound",
        )
        .await;
        check(
            "did:credence:%23key-1".into(),
            400,
            "invalid-did-url",
            "invalidDidUrl",
        )
        .await;
        check(
            format!("{did}%23a%zz"),
            400,
            "invalid-did-url",
            "invalidDidUrl",
        )
        .await;

        // The DID Resolution 1.0 result carries the error as an object.
        let reply = get_accepting(
            &app,
            &format!("{RESOLVE}{did}%23nope"),
            "application/did-url-dereferencing",
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.content_type, "application/did-url-dereferencing");
        assert_eq!(
            reply.body["dereferencingMetadata"]["error"]["type"],
            "https://www.w3.org/ns/did#NOT_FOUND"
        );
        // A resolution result is not a representation of a verification method.
        let reply = get_accepting(
            &app,
            &format!("{RESOLVE}{did}%23key-1"),
            "application/did-resolution",
        )
        .await;
        assert_problem(&reply, 406, "representation-not-supported");

        // Deactivated: 410 with the whole result, deactivated: true.
        let head = hash(&updated.body["didDocumentMetadata"]["versionId"]);
        let deactivate =
            SignedOperation::sign(OperationBody::Deactivate { prev: head }, &owner.rotation);
        post_op(&app, &format!("/registry/dids/{did}/ops"), &deactivate).await;
        let gone = get(&app, &format!("{RESOLVE}{did}%23key-1")).await;
        assert_eq!(gone.status, StatusCode::GONE, "{}", gone.body);
        assert_eq!(gone.body["contentMetadata"]["deactivated"], true);
        let gone = get(&app, &format!("{RESOLVE}{did}")).await;
        assert_eq!(gone.status, StatusCode::GONE);
        assert_eq!(gone.body["didDocumentMetadata"]["deactivated"], true);
        assert_eq!(gone.body["didDocument"]["id"], did.as_str());

        // Issue 10: through the library, a deactivated DID resolves (`Ok`, deactivated in its
        // metadata); its DID URLs have no content (`DeactivatedDid`); nothing it signs now
        // verifies.
        let (_, resolver) = local_resolver(backend.store.clone());
        let parsed: credence_registry::did::Did = did.parse().unwrap();
        let resolved = resolver
            .resolve(&parsed, &VersionSelector::Latest)
            .await
            .unwrap();
        assert!(resolved.metadata.deactivated);
        let url = DidUrl::parse(&format!("{did}#key-1")).unwrap();
        assert!(matches!(
            resolver.dereference(&url, &VersionSelector::Latest).await,
            Err(credence_registry::error::Error::DeactivatedDid(_))
        ));
        let jws = credence_registry::signed::sign(
            &json!({"claim": 1}),
            &owner.key_1,
            &format!("{did}#key-1"),
        );
        let refused = credence_registry::signed::verify(&resolver, &jws, "assertionMethod")
            .await
            .unwrap_err();
        assert_eq!(refused.problem().status, 403, "{refused:?}");
    }
}

#[tokio::test]
async fn did_key_urls_are_dereferenced_over_http() {
    let backend = crate::support::sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let key = SecretKey::generate(KeyType::Ed25519).public();
    let did = key.to_did_key();
    let fragment = &did["did:key:".len()..];
    let reply = get(&app, &format!("{RESOLVE}{did}%23{fragment}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["contentStream"]["id"],
        format!("{did}#{fragment}")
    );
    assert_eq!(
        reply.body["contentStream"]["publicKeyMultibase"],
        key.to_multikey()
    );
    assert_dereferencing_error(
        &get(&app, &format!("{RESOLVE}{did}%23other")).await,
        404,
        "did-url-not-found",
        "notFound",
    );
    // did:key has one version; a version selector in the DID URL does not apply.
    assert_dereferencing_error(
        &get(
            &app,
            &format!("{RESOLVE}{did}%3FversionId%3D1%23{fragment}"),
        )
        .await,
        404,
        "version-not-found",
        "notFound",
    );
}

// --- The library: Resolver::dereference -------------------------------------------------

fn vectors(name: &str) -> Value {
    let path = format!("{}/testdata/did-key/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("JSON")
}

fn local_resolver(store: Arc<dyn DidStore>) -> (Arc<Registry>, Resolver) {
    let registry = Arc::new(Registry::new(store, WriteLimits::default()));
    let resolver = Resolver::new(
        CredenceSource::Local(registry.clone()),
        WebResolverConfig::default(),
    );
    (registry, resolver)
}

/// Source: multikey-docs-generated-by-digitalbazaar-did-method-key.json (P-384 is a key type
/// we do not resolve); every verification method of every vector dereferences to itself and
/// to a usable key.
#[tokio::test]
async fn did_key_vectors_dereference_to_their_verification_methods() {
    let backend = crate::support::sqlite().await;
    let (_, resolver) = local_resolver(backend.store.clone());
    let mut compared = 0;
    for (did, expected) in vectors("multikey-docs-generated-by-digitalbazaar-did-method-key.json")
        .as_object()
        .expect("object")
    {
        if did.starts_with("did:key:z82") {
            continue;
        }
        for method in expected["didDocument"]["verificationMethod"]
            .as_array()
            .expect("methods")
        {
            let kid: DidUrl = method["id"].as_str().expect("id").parse().expect("DID URL");
            let found = resolver
                .dereference(&kid, &VersionSelector::Latest)
                .await
                .expect("dereferences");
            assert_eq!(found.content, Content::VerificationMethod(method.clone()));
            let key = found.public_key().expect("key");
            assert_eq!(key.to_multikey(), method["publicKeyMultibase"]);
            compared += 1;
        }
        let whole: DidUrl = did.parse().expect("DID URL");
        let found = resolver
            .dereference(&whole, &VersionSelector::Latest)
            .await
            .expect("dereferences");
        assert_eq!(
            found.content,
            Content::Document(expected["didDocument"].clone())
        );
        assert!(matches!(found.public_key(), Err(Error::DidUrlNotFound(_))));
    }
    assert_eq!(compared, 4);
    // Source: ed25519-x25519.json. The X25519 key agreement key the spec may derive is not
    // offered (DID-METHOD.md §7.6), so its DID URL names nothing here.
    for (did, entry) in vectors("ed25519-x25519.json").as_object().expect("object") {
        let agreement = entry["keyAgreementKeyPair"]["id"].as_str().expect("id");
        // The file writes the id relative (`#z6LS…`) or absolute.
        let absolute = if agreement.starts_with('#') {
            format!("{did}{agreement}")
        } else {
            agreement.to_owned()
        };
        let url: DidUrl = absolute.parse().expect("DID URL");
        let error = resolver
            .dereference(&url, &VersionSelector::Latest)
            .await
            .expect_err("not derived");
        assert!(
            matches!(error, Error::DidUrlNotFound(_)),
            "{url}: {error:?}"
        );
        assert_eq!(error.resolution_error(), Some("notFound"));
    }
}

#[tokio::test]
async fn a_did_credence_with_two_keys_dereferences_each_kid() {
    for backend in backends().await {
        let (registry, resolver) = local_resolver(backend.store.clone());
        let owner = TwoKeys::new();
        let genesis = serde_json::to_vec(&owner.genesis()).expect("json");
        let created = registry.submit(None, &genesis).await.expect("created");
        let did = created.document["id"].as_str().expect("id").to_owned();
        let v1 = created.metadata.version_id.clone().expect("versionId");

        for (fragment, key) in [("key-1", &owner.key_1), ("key-2", &owner.key_2)] {
            let kid: DidUrl = format!("{did}#{fragment}").parse().expect("kid");
            let found = resolver
                .dereference(&kid, &VersionSelector::Latest)
                .await
                .expect("dereferences");
            assert!(matches!(found.content, Content::VerificationMethod(_)));
            assert_eq!(found.public_key().expect("key"), key.public(), "{kid}");
            assert_eq!(found.metadata.version_id.as_deref(), Some(v1.as_str()));
        }
        let site: DidUrl = format!("{did}#site").parse().expect("DID URL");
        let found = resolver
            .dereference(&site, &VersionSelector::Latest)
            .await
            .expect("service");
        assert_eq!(
            found.content.value()["serviceEndpoint"],
            "https://agency.example"
        );
        assert!(matches!(found.content, Content::Service(_)));

        let update = serde_json::to_vec(&owner.drop_key_2(&hash(&json!(v1)))).expect("json");
        registry
            .submit(Some(&did.parse().expect("did")), &update)
            .await
            .expect("updated");
        let kid_2: DidUrl = format!("{did}#key-2").parse().expect("kid");
        let check_error = |url: DidUrl, version: VersionSelector, expected: &'static str| {
            let resolver = resolver.clone();
            async move {
                let error = resolver
                    .dereference(&url, &version)
                    .await
                    .expect_err("refused");
                assert_eq!(error.resolution_error(), Some(expected), "{url}: {error:?}");
            }
        };
        check_error(kid_2.clone(), VersionSelector::Latest, "notFound").await;
        let then = resolver
            .dereference(&kid_2, &VersionSelector::Id(v1.clone()))
            .await
            .expect("the first version has key-2");
        assert_eq!(then.public_key().expect("key"), owner.key_2.public());
        let pinned: DidUrl = format!("{did}?versionId={v1}#key-2")
            .parse()
            .expect("DID URL");
        let then = resolver
            .dereference(&pinned, &VersionSelector::Latest)
            .await
            .expect("the DID URL selects the first version");
        assert_eq!(then.public_key().expect("key"), owner.key_2.public());
        check_error(pinned, VersionSelector::Id(v1.clone()), "invalidOptions").await;
        // A `+` in a DID URL's query is a plus (RFC 3986), so a time offset survives: the
        // instant is before the DID existed, hence no such version, rather than a bad option.
        let offset: DidUrl = format!("{did}?versionTime=2000-01-01T00:00:00+01:00#key-1")
            .parse()
            .expect("DID URL");
        check_error(offset, VersionSelector::Latest, "notFound").await;
        let path: DidUrl = format!("{did}/path#key-1").parse().expect("DID URL");
        check_error(path, VersionSelector::Latest, "notFound").await;
        let service_query: DidUrl = format!("{did}?service=site").parse().expect("DID URL");
        check_error(service_query, VersionSelector::Latest, "notFound").await;

        for bad in [
            format!("{did}#a#b"),
            format!("{did}#a b"),
            format!("{did}/a%zz"),
            "did:credence:#key-1".to_owned(),
            "not-a-did#key-1".to_owned(),
        ] {
            let error = bad.parse::<DidUrl>().expect_err(&bad);
            assert_eq!(error.resolution_error(), Some("invalidDidUrl"), "{bad}");
        }
    }
}
