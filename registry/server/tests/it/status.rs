//! Status list hosting: spec vectors decode; lists are accepted only from their issuer, big
//! enough, newer than the last, and not bombs; they are served with media type, ETag and
//! caching.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{
    self, OperationBody, Purpose, SignedOperation, VerificationMethodSpec,
};
use credence_registry::status::{self, StatusFormat};
use serde_json::{Value, json};

use crate::support::{Owner, app_with_anchors, assert_problem, backends, get, post, post_op, send};

fn testdata(name: &str) -> Value {
    let path = format!(
        "{}/testdata/status-lists/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Source: draft-ietf-oauth-status-list, the 1-bit example (`eNrbuRgAAhcBXQ`) and its statuses.
#[test]
fn token_status_list_vector_decodes() {
    let header = json!({"typ": "statuslist+jwt"});
    let payload = json!({"iss": "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", "sub": "https://example.com/statuslists/1",
        "iat": 1686920170, "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}});
    let claims = status::parse_claims(&header, &payload).unwrap();
    assert_eq!(claims.list.len(), 16);
    let expected: Vec<u8> = testdata("expected-statuses.json")["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as u8)
        .collect();
    let decoded: Vec<u8> = (0..16).map(|i| claims.list.status(i).unwrap()).collect();
    assert_eq!(decoded, expected);
}

/// The two formats number bits differently (Token Status List §4.1: index 0 is the least
/// significant bit of byte 0; Bitstring Status List §4.2: the most significant), and a list
/// built with `one_bit_token_list` reads back through the registry's decoder.
#[test]
fn bit_order_follows_each_format() {
    let mut bytes = vec![0u8; 16 * 1024];
    bytes[0] = 0b0000_0110;
    let token = status::parse_claims(
        &json!({"typ": "statuslist+jwt"}),
        &json!({"iss": "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", "sub": "https://example.com/l",
            "iat": 1, "status_list": {"bits": 1, "lst": zlib(&bytes)}}),
    )
    .unwrap();
    let set: Vec<u64> = (0..8)
        .filter(|&i| token.list.status(i) == Some(1))
        .collect();
    assert_eq!(set, vec![1, 2]);
    let bitstring = status::parse_claims(
        &json!({"typ": "vc+jwt"}),
        &json!({"type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "https://example.com/b", "type": "BitstringStatusList", "encodedList": gzip(&bytes)}}),
    )
    .unwrap();
    let set: Vec<u64> = (0..8)
        .filter(|&i| bitstring.list.status(i) == Some(1))
        .collect();
    assert_eq!(set, vec![5, 6]);
    assert_eq!(bitstring.list.status(status::MIN_ENTRIES), None);

    let built = status::one_bit_token_list(status::MIN_ENTRIES as usize, [3, 131_071]).unwrap();
    let read = status::parse_claims(
        &json!({"typ": "statuslist+jwt"}),
        &json!({"iss": "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", "sub": "https://example.com/l",
            "iat": 1, "status_list": {"bits": 1, "lst": status::compress_token_list(&built)}}),
    )
    .unwrap();
    assert_eq!(read.list.len(), status::MIN_ENTRIES);
    let set: Vec<u64> = (0..status::MIN_ENTRIES)
        .filter(|&i| read.list.status(i) == Some(1))
        .collect();
    assert_eq!(set, vec![3, 131_071]);
    assert_eq!(
        status::one_bit_token_list(16, [16]).unwrap_err(),
        16,
        "outside the list"
    );
}

/// Source: W3C Bitstring Status List, example 2: 131,072 entries, all 0.
#[test]
fn bitstring_vector_decodes() {
    let credential = testdata("example-2-example-bitstringstatuslistcredential.json");
    let mut payload = credential.clone();
    payload["issuer"] = json!("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp");
    payload["validFrom"] = json!("2026-01-01T00:00:00Z");
    let claims = status::parse_claims(&json!({"typ": "vc+jwt"}), &payload).unwrap();
    assert_eq!(claims.list.len(), status::MIN_ENTRIES);
    assert!(
        (0..claims.list.len())
            .step_by(997)
            .all(|i| claims.list.status(i) == Some(0))
    );
}

fn zlib(bytes: &[u8]) -> String {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    URL_SAFE_NO_PAD.encode(encoder.finish().unwrap())
}

fn gzip(bytes: &[u8]) -> String {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    format!("u{}", URL_SAFE_NO_PAD.encode(encoder.finish().unwrap()))
}

struct Issuer {
    owner: Owner,
    did: String,
}

impl Issuer {
    fn new() -> Self {
        let owner = Owner::new(KeyType::Ed25519);
        let did = ops::did_for_genesis(&owner.genesis()).to_string();
        Self { owner, did }
    }
    fn token_list(&self, issuer: &str, uri: &str, iat: i64, lst: &str) -> String {
        self.token_list_by(&self.owner.signing, "key-1", issuer, uri, iat, lst)
    }
    /// A Token Status List signed by `key` as verification method `#fragment`.
    fn token_list_by(
        &self,
        key: &SecretKey,
        fragment: &str,
        issuer: &str,
        uri: &str,
        iat: i64,
        lst: &str,
    ) -> String {
        let payload = json!({"iss": issuer, "sub": uri, "iat": iat, "ttl": 600, "status_list": {"bits": 1, "lst": lst}});
        credence_registry::signed::sign_typed(
            &payload,
            key,
            &format!("{}#{fragment}", self.did),
            Some("statuslist+jwt"),
        )
    }
}

#[tokio::test]
async fn issuers_publish_lists_that_are_served_with_caching_headers() {
    for backend in backends().await {
        let issuer = Issuer::new();
        let app = app_with_anchors(backend.store.clone(), &[&issuer.did]);
        post_op(&app, "/registry/dids", &issuer.owner.genesis()).await;
        let uri = format!("https://registry.example/status-lists/{}/1", issuer.did);
        let mut bits = vec![0u8; 16 * 1024];
        bits[0] = 0b0000_0100; // index 2 revoked
        let now = Utc::now().timestamp();
        let first = issuer.token_list(&issuer.did, &uri, now, &zlib(&bits));
        let reply = post(&app, "/registry/status-lists", first.clone()).await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.body);
        let key = reply.body["key"].as_str().unwrap().to_owned();
        assert_eq!(key, status::list_key(&uri));

        let served = get(&app, &format!("/registry/status-lists/{key}")).await;
        assert_eq!(served.status, 200);
        assert_eq!(
            served.content_type,
            StatusFormat::TokenStatusListJwt.media_type()
        );
        assert_eq!(served.body.as_str(), Some(first.as_str()));
        assert_eq!(served.headers["cache-control"], "public, max-age=600");
        let etag = served.headers["etag"].to_str().unwrap().to_owned();
        let conditional = axum::http::Request::get(format!("/registry/status-lists/{key}"))
            .header("if-none-match", &etag)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(&app, conditional).await.status, 304);

        // A newer version replaces it; the old one stays retrievable, immutable.
        bits[0] = 0b0000_0110;
        let second = issuer.token_list(&issuer.did, &uri, now + 2, &zlib(&bits));
        assert_eq!(
            post(&app, "/registry/status-lists", second.clone())
                .await
                .status,
            201
        );
        assert_eq!(
            get(&app, &format!("/registry/status-lists/{key}"))
                .await
                .body
                .as_str(),
            Some(second.as_str())
        );
        let old = get(
            &app,
            &format!("/registry/status-lists/{key}?version={}", now * 1000),
        )
        .await;
        assert_eq!(old.body.as_str(), Some(first.as_str()));
        assert_eq!(
            old.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        // An older or equal version is refused.
        assert_problem(
            &post(
                &app,
                "/registry/status-lists",
                issuer.token_list(&issuer.did, &uri, now + 1, &zlib(&bits)),
            )
            .await,
            409,
            "stale-status-list",
        );
        assert_problem(
            &post(&app, "/registry/status-lists", second).await,
            409,
            "stale-status-list",
        );

        // A Bitstring Status List credential (vc+jwt).
        let credential = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": issuer.did,
            "validFrom": Utc::now().to_rfc3339(),
            "credentialSubject": {"id": format!("{uri}-suspension"), "type": "BitstringStatusList", "statusPurpose": "suspension", "encodedList": gzip(&bits)}
        });
        let vc = credence_registry::signed::sign_typed(
            &credential,
            &issuer.owner.signing,
            &format!("{}#key-1", issuer.did),
            Some("vc+jwt"),
        );
        let reply = post(&app, "/registry/status-lists", vc).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let served = get(
            &app,
            &format!(
                "/registry/status-lists/{}",
                reply.body["key"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(served.content_type, "application/vc+jwt");
    }
}

#[tokio::test]
async fn bad_status_lists_are_refused_and_nothing_is_written() {
    for backend in backends().await {
        bad_status_lists_on(&backend).await;
    }
}

async fn bad_status_lists_on(backend: &crate::support::Backend) {
    let (issuer, other) = (Issuer::new(), Issuer::new());
    let app = app_with_anchors(backend.store.clone(), &[&issuer.did, &other.did]);
    post_op(&app, "/registry/dids", &issuer.owner.genesis()).await;
    post_op(&app, "/registry/dids", &other.owner.genesis()).await;
    let uri = &format!("https://registry.example/status-lists/{}/list", issuer.did);
    let now = Utc::now().timestamp();
    let good_bits = vec![0u8; 16 * 1024];
    let good = issuer.token_list(&issuer.did, uri, now, &zlib(&good_bits));
    assert_eq!(
        post(&app, "/registry/status-lists", good.clone())
            .await
            .status,
        201
    );
    let size = backend.exclusive_log_size().await;

    // Signed by another DID while naming the issuer; and another issuer reusing the list's URI.
    assert_problem(
        &post(
            &app,
            "/registry/status-lists",
            other.token_list(&issuer.did, uri, now, &zlib(&good_bits)),
        )
        .await,
        403,
        "not-authorized",
    );
    assert_problem(
        &post(
            &app,
            "/registry/status-lists",
            other.token_list(&other.did, uri, now, &zlib(&good_bits)),
        )
        .await,
        403,
        "not-authorized",
    );
    // Too small for herd privacy.
    assert_problem(
        &post(
            &app,
            "/registry/status-lists",
            issuer.token_list(&issuer.did, uri, now, &zlib(&[0u8; 1024])),
        )
        .await,
        400,
        "invalid-status-list",
    );
    // A decompression bomb: 17 MiB of zeros in a few KiB (the signed list stays under the
    // 48 KiB a list may have).
    let bomb = zlib(&vec![0u8; 17 * 1024 * 1024]);
    assert!(bomb.len() < 30_000);
    let reply = post(
        &app,
        "/registry/status-lists",
        issuer.token_list(&issuer.did, uri, now, &bomb),
    )
    .await;
    assert_problem(&reply, 400, "invalid-status-list");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("inflates past"),
        "{}",
        reply.body
    );
    // Malformed encodings.
    assert_problem(
        &post(
            &app,
            "/registry/status-lists",
            issuer.token_list(&issuer.did, uri, now, "!!!"),
        )
        .await,
        400,
        "invalid-status-list",
    );
    assert_problem(
        &post(
            &app,
            "/registry/status-lists",
            issuer.token_list(&issuer.did, uri, now, &URL_SAFE_NO_PAD.encode(b"not zlib")),
        )
        .await,
        400,
        "invalid-status-list",
    );
    // Not a status list at all.
    let untyped = credence_registry::signed::sign(
        &json!({"iss": issuer.did}),
        &issuer.owner.signing,
        &format!("{}#key-1", issuer.did),
    );
    assert_problem(
        &post(&app, "/registry/status-lists", untyped).await,
        400,
        "invalid-status-list",
    );
    assert_problem(
        &get(&app, "/registry/status-lists/nope").await,
        404,
        "status-list-not-found",
    );

    assert_eq!(
        backend.exclusive_log_size().await,
        size,
        "nothing was written"
    );
    let key = status::list_key(uri);
    let latest = get(&app, &format!("/registry/status-lists/{key}")).await;
    assert_eq!(
        latest.body.as_str(),
        Some(good.as_str()),
        "{}",
        backend.name
    );
}

/// A list must be signed by a key the issuer's DID document authorizes now and already
/// authorized when the list says it was issued: a rotated-out (revoked) key, a key added after
/// `iat`, an `iat` before the DID existed and an `iat` in the future are each refused, and
/// nothing is written; the current key with a current `iat` is accepted.
#[tokio::test]
async fn status_lists_are_checked_against_the_issuers_key_history() {
    for backend in backends().await {
        let issuer = Issuer::new();
        let (clock, time) = credence_registry::clock::Clock::manual(Utc::now());
        let app = crate::support::app_with_anchors_and_clock(
            backend.store.clone(),
            &[&issuer.did],
            clock,
        );
        let created = post_op(&app, "/registry/dids", &issuer.owner.genesis()).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let genesis_time = chrono::DateTime::parse_from_rfc3339(
            created.body["didDocumentMetadata"]["created"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
        .timestamp();
        // Versions are selected at whole seconds: rotate in a later second than the genesis
        // (the registry's clock is moved, not waited for).
        time.advance(chrono::Duration::seconds(2));
        let new_key = SecretKey::generate(KeyType::Ed25519);
        let rotation = SignedOperation::sign(
            OperationBody::Update {
                prev: ops::OpHash::parse(
                    created.body["didDocumentMetadata"]["versionId"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap(),
                rotation_keys: vec![issuer.owner.rotation.public().to_did_key()],
                verification_methods: vec![VerificationMethodSpec {
                    id: "key-2".into(),
                    kind: "Multikey".into(),
                    public_key_multibase: Some(new_key.public().to_multikey()),
                    public_key_jwk: None,
                    purposes: vec![Purpose::AssertionMethod],
                }],
                services: vec![],
            },
            &issuer.owner.rotation,
        );
        let rotated = post_op(
            &app,
            &format!("/registry/dids/{}/ops", issuer.did),
            &rotation,
        )
        .await;
        assert_eq!(rotated.status, 201, "{}", rotated.body);
        let size = backend.exclusive_log_size().await;
        let uri = &format!(
            "https://registry.example/status-lists/{}/history",
            issuer.did
        );
        let key = status::list_key(uri);
        let lst = zlib(&vec![0u8; 16 * 1024]);
        let now = time.now().timestamp();

        // The key rotated out (revoked), even with a current iat.
        let reply = post(
            &app,
            "/registry/status-lists",
            issuer.token_list(&issuer.did, uri, now, &lst),
        )
        .await;
        assert_problem(&reply, 403, "not-authorized");
        // The new key, vouching for a time before it was added.
        let reply = post(
            &app,
            "/registry/status-lists",
            issuer.token_list_by(&new_key, "key-2", &issuer.did, uri, genesis_time, &lst),
        )
        .await;
        assert_problem(&reply, 403, "not-authorized");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("not yet authorized"),
            "{}",
            reply.body
        );
        // Before the DID existed; and in the future.
        for iat in [genesis_time - 3600, now + 3600] {
            assert_problem(
                &post(
                    &app,
                    "/registry/status-lists",
                    issuer.token_list_by(&new_key, "key-2", &issuer.did, uri, iat, &lst),
                )
                .await,
                403,
                "not-authorized",
            );
        }
        assert_eq!(
            backend.exclusive_log_size().await,
            size,
            "nothing was written"
        );
        assert_problem(
            &get(&app, &format!("/registry/status-lists/{key}")).await,
            404,
            "status-list-not-found",
        );

        // The current key, now.
        let reply = post(
            &app,
            "/registry/status-lists",
            issuer.token_list_by(&new_key, "key-2", &issuer.did, uri, now, &lst),
        )
        .await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.body);
    }
}

/// Issue 10 (the library does what the CLI did): an issuer builds a Token Status List with
/// `one_bit_token_list` and `token_status_list_payload`, publishes it; a verifier fetches it at
/// its URI with `client::fetch_status_list`, verifies it against the issuer's DID and reads the
/// statuses. A missing list and a body past the cap are errors, not lists.
#[tokio::test]
async fn a_list_built_and_fetched_through_the_library_verifies() {
    use credence_registry::client::{RegistryClient, fetch_status_list, plain_http_client};
    use credence_registry::resolver::{CredenceSource, Resolver};
    for backend in backends().await {
        let issuer = Issuer::new();
        let app = app_with_anchors(backend.store.clone(), &[&issuer.did]);
        let base = crate::support::serve_on_loopback(app).await;
        let registry_url = format!("{base}/registry");
        let client = RegistryClient::new(&registry_url).unwrap();
        client.create(&issuer.owner.genesis()).await.unwrap();
        let did: credence_registry::did::Did = issuer.did.parse().unwrap();
        let uri = format!("{registry_url}/status-lists/{did}/library");
        let list = status::one_bit_token_list(status::MIN_ENTRIES as usize, [7, 131_071]).unwrap();
        let payload = status::token_status_list_payload(&did, &uri, Utc::now(), 600, &list);
        let jws = credence_registry::signed::sign_typed(
            &payload,
            &issuer.owner.signing,
            &format!("{did}#key-1"),
            Some("statuslist+jwt"),
        );
        let published = client.publish_status_list(&jws).await.unwrap();

        let http = plain_http_client().unwrap();
        let fetched = fetch_status_list(&http, &uri).await.unwrap();
        assert_eq!(fetched.jws, jws, "{}", backend.name);
        assert_eq!(fetched.log_index, Some(published.log_index));
        let resolver = Resolver::new(CredenceSource::Remote(client.clone()), Default::default());
        let (signer, claims) = status::verify_list(&resolver, &fetched.jws).await.unwrap();
        assert_eq!(signer.did, did);
        assert_eq!(claims.uri, uri);
        assert_eq!(claims.list.bits(), 1);
        assert_eq!(claims.list.len(), status::MIN_ENTRIES);
        let statuses: Vec<_> = [0, 7, 8, 131_071]
            .into_iter()
            .map(|index| claims.list.status(index))
            .collect();
        assert_eq!(statuses, [Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(claims.list.status(131_072), None);

        let missing = fetch_status_list(&http, &format!("{registry_url}/status-lists/{did}/none"))
            .await
            .unwrap_err();
        assert_eq!(missing.problem().status, 404, "{missing:?}");
        // Anything bigger than the largest list a registry accepts is refused unread.
        let oversized = axum::Router::new().route(
            "/list",
            axum::routing::get(|| async { "e".repeat(status::MAX_LIST_JWS_BYTES + 1) }),
        );
        let other = crate::support::serve_on_loopback(oversized).await;
        let big = fetch_status_list(&http, &format!("{other}/list"))
            .await
            .unwrap_err();
        assert!(big.to_string().contains("status list"), "{big}");
    }
}
