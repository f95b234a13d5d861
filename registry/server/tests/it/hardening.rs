//! Regression tests for the registry hardening issue, each named after the defect it pins:
//! writes whose log entry would not fit the log, unknown critical JWS headers, status list URLs
//! taken by someone else, anonymous status lists, uncapped cache lifetimes, unsafe service
//! data, and unbounded metric labels. Each runs on every backend where it stores.

use chrono::{Duration, Utc};
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{self, OperationBody, ServiceSpec, SignedOperation};
use credence_registry::status;
use serde_json::{Value, json};

use crate::support::{
    Backend, Owner, app_with_anchors, assert_problem, backends, get, post, post_op,
};

/// A DID registered through the app, signing with its `#key-1`.
struct Party {
    owner: Owner,
    did: String,
}

impl Party {
    async fn registered(app: &axum::Router) -> Self {
        let owner = Owner::new(KeyType::Ed25519);
        let did = ops::did_for_genesis(&owner.genesis()).to_string();
        let reply = post_op(app, "/registry/dids", &owner.genesis()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        Self { owner, did }
    }

    /// A party whose DID is known before an app exists (to make it a trust anchor).
    fn unregistered() -> Self {
        let owner = Owner::new(KeyType::Ed25519);
        let did = ops::did_for_genesis(&owner.genesis()).to_string();
        Self { owner, did }
    }

    async fn register(&self, app: &axum::Router) {
        let reply = post_op(app, "/registry/dids", &self.owner.genesis()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    fn kid(&self) -> String {
        format!("{}#key-1", self.did)
    }

    fn list_uri(&self, name: &str) -> String {
        format!(
            "https://registry.example/registry/status-lists/{}/{name}",
            self.did
        )
    }

    /// A 131,072-entry Token Status List naming `uri`, with `extra` claims merged in.
    fn token_list(&self, uri: &str, extra: Value) -> String {
        let list = status::one_bit_token_list(status::MIN_ENTRIES as usize, [7]).unwrap();
        let mut payload = json!({"iss": self.did, "sub": uri, "iat": Utc::now().timestamp(), "ttl": 600,
            "status_list": {"bits": 1, "lst": status::compress_token_list(&list)}});
        if let (Some(payload), Value::Object(extra)) = (payload.as_object_mut(), extra) {
            payload.extend(extra);
        }
        credence_registry::signed::sign_typed(
            &payload,
            &self.owner.signing,
            &self.kid(),
            Some("statuslist+jwt"),
        )
    }

    fn accredit(&self, subject: &str, extra: Value) -> String {
        let now = Utc::now();
        let mut payload = json!({"type": "Accreditation", "subject": subject,
            "credentialTypes": ["https://credence.example/vct/business-licence"], "mayAccredit": false,
            "validFrom": now.to_rfc3339(), "validUntil": (now + Duration::days(30)).to_rfc3339()});
        if let (Some(payload), Value::Object(extra)) = (payload.as_object_mut(), extra) {
            payload.extend(extra);
        }
        credence_registry::signed::sign(&payload, &self.owner.signing, &self.kid())
    }
}

/// A compact JWS with the given protected header, signed by `key`.
fn jws_with_header(header: &Value, payload: &Value, key: &SecretKey) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(payload.to_string())
    );
    let signature = key.sign_raw(input.as_bytes());
    format!("{input}.{}", b64.encode(signature))
}

/// The SQLite log's size (the test owns that database), to check nothing was written.
async fn log_size(backend: &Backend) -> Option<u64> {
    backend.exclusive_log_size().await
}

/// Issue 8 item 1: a status list with a ~48 KB extra claim (JWS ~65 KB, under the 64 KiB body
/// limit) was accepted, and its log entry, over 65,535 bytes, was silently truncated in every
/// entry bundle from then on. Oversized submissions of every signed kind are refused now,
/// before anything is written.
#[tokio::test]
async fn writes_whose_log_entry_would_not_fit_are_refused() {
    for backend in backends().await {
        let anchor = Party::unregistered();
        let app = app_with_anchors(backend.store.clone(), &[&anchor.did]);
        anchor.register(&app).await;
        let before = log_size(&backend).await;

        let uri = anchor.list_uri("big");
        let padding = "x".repeat(48_000);
        let jws = anchor.token_list(&uri, json!({"padding": padding}));
        assert!(jws.len() > 60_000 && jws.len() < 64 * 1024, "{}", jws.len());
        let reply = post(&app, "/registry/status-lists", jws).await;
        assert_problem(&reply, 413, "too-large");
        assert_problem(
            &get(
                &app,
                &format!("/registry/status-lists/{}", status::list_key(&uri)),
            )
            .await,
            404,
            "status-list-not-found",
        );

        let subject = Party::registered(&app).await;
        let before_accreditation = log_size(&backend).await;
        let reply = post(
            &app,
            "/registry/accreditations",
            anchor.accredit(&subject.did, json!({"padding": padding})),
        )
        .await;
        assert_problem(&reply, 413, "too-large");
        let listed = get(&app, &format!("/registry/issuers/{}", subject.did)).await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.body["accreditations"], json!([]), "{}", listed.body);

        let schema = credence_registry::signed::sign(
            &json!({"schema": {"type": "object", "description": "y".repeat(40_000)},
                    "typeMetadata": {"vct": "https://credence.example/vct/big"}}),
            &anchor.owner.signing,
            &anchor.kid(),
        );
        assert_problem(
            &post(&app, "/registry/schemas", schema).await,
            413,
            "too-large",
        );

        assert_eq!(
            log_size(&backend).await,
            before_accreditation,
            "{}",
            backend.name
        );
        if let (Some(before), Some(after)) = (before, before_accreditation) {
            assert_eq!(after, before + 1, "only the subject's DID was logged");
        }
    }
}

/// The encoder of entry bundles cannot truncate: an entry over 65,535 bytes is an error.
#[test]
fn entry_bundles_refuse_entries_longer_than_their_length_prefix() {
    use credence_registry::log;
    let fits = vec![b'a'; log::MAX_ENTRY_BYTES];
    let bundle = log::encode_bundle(std::slice::from_ref(&fits)).unwrap();
    assert_eq!(log::decode_bundle(&bundle).unwrap(), vec![fits]);
    let too_long = vec![b'a'; log::MAX_ENTRY_BYTES + 1];
    assert!(matches!(
        log::encode_bundle(&[too_long]),
        Err(log::LogError::EntryTooLarge { size }) if size == log::MAX_ENTRY_BYTES + 1
    ));
    let entry = log::Entry::Accreditation {
        id: "x".into(),
        jws: "y".repeat(log::MAX_ENTRY_BYTES),
    };
    assert!(matches!(
        entry.to_log_bytes(),
        Err(log::LogError::EntryTooLarge { .. })
    ));
    assert_eq!(log::MAX_BUNDLE_BYTES, 256 * (2 + 65_535));
}

/// Issue 8 item 4: `crit` naming an unknown extension was accepted (RFC 7515 §4.1.11 requires
/// refusing it), on status lists and every other signed submission.
#[tokio::test]
async fn jws_with_unknown_critical_headers_are_refused() {
    for backend in backends().await {
        let anchor = Party::unregistered();
        let app = app_with_anchors(backend.store.clone(), &[&anchor.did]);
        anchor.register(&app).await;
        let before = log_size(&backend).await;
        let uri = anchor.list_uri("crit");
        let list = status::one_bit_token_list(status::MIN_ENTRIES as usize, []).unwrap();
        let payload = json!({"iss": anchor.did, "sub": uri, "iat": Utc::now().timestamp(),
            "status_list": {"bits": 1, "lst": status::compress_token_list(&list)}});
        let header = json!({"alg": "EdDSA", "kid": anchor.kid(), "typ": "statuslist+jwt",
            "crit": ["urn:x-unknown"], "urn:x-unknown": true});
        let reply = post(
            &app,
            "/registry/status-lists",
            jws_with_header(&header, &payload, &anchor.owner.signing),
        )
        .await;
        assert_problem(&reply, 400, "invalid-signature");
        assert!(
            reply.body["detail"].as_str().unwrap().contains("crit"),
            "{}",
            reply.body
        );

        let subject = Party::registered(&app).await;
        let now = Utc::now();
        let accreditation = json!({"type": "Accreditation", "subject": subject.did,
            "credentialTypes": ["https://credence.example/vct/business-licence"], "mayAccredit": false,
            "validFrom": now.to_rfc3339(), "validUntil": (now + Duration::days(3)).to_rfc3339()});
        let header = json!({"alg": "EdDSA", "kid": anchor.kid(), "crit": ["b64"], "b64": true});
        let after_subject = log_size(&backend).await;
        assert_problem(
            &post(
                &app,
                "/registry/accreditations",
                jws_with_header(&header, &accreditation, &anchor.owner.signing),
            )
            .await,
            400,
            "invalid-signature",
        );
        assert_eq!(log_size(&backend).await, after_subject);
        assert_problem(
            &get(
                &app,
                &format!("/registry/status-lists/{}", status::list_key(&uri)),
            )
            .await,
            404,
            "status-list-not-found",
        );
        if let (Some(before), Some(after)) = (before, after_subject) {
            assert_eq!(after, before + 1);
        }
    }
}

/// Issue 8 items 1 and 3: an unregistered did:key published a list under the agency's URL
/// first, and the agency was then refused. Lists now live under their issuer's DID, only
/// anchors and accredited issuers publish them, and nobody can publish under another issuer's
/// URL.
#[tokio::test]
async fn status_list_urls_belong_to_their_issuer() {
    for backend in backends().await {
        let anchor = Party::unregistered();
        let app = app_with_anchors(backend.store.clone(), &[&anchor.did]);
        anchor.register(&app).await;
        let agency = Party::registered(&app).await;
        let other = Party::registered(&app).await;
        for party in [&agency, &other] {
            let reply = post(
                &app,
                "/registry/accreditations",
                anchor.accredit(&party.did, json!({})),
            )
            .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
        }
        let before = log_size(&backend).await;

        // An accredited issuer publishing under the agency's URL, naming itself or the agency.
        let agency_uri = agency.list_uri("1");
        let squat = other.token_list(&agency_uri, json!({}));
        assert_problem(
            &post(&app, "/registry/status-lists", squat).await,
            403,
            "not-authorized",
        );
        let mut forged = json!({});
        forged["iss"] = json!(agency.did);
        let impersonation = other.token_list(&agency_uri, forged);
        assert_problem(
            &post(&app, "/registry/status-lists", impersonation).await,
            403,
            "not-authorized",
        );
        // A did:key nobody accredited, at its own URL.
        let stranger = SecretKey::generate(KeyType::Ed25519);
        let stranger_did = stranger.public().to_did_key();
        let fragment = stranger_did.trim_start_matches("did:key:");
        let list = status::one_bit_token_list(status::MIN_ENTRIES as usize, []).unwrap();
        let anonymous = credence_registry::signed::sign_typed(
            &json!({"iss": stranger_did, "sub": format!("https://registry.example/status-lists/{stranger_did}/1"),
                "iat": Utc::now().timestamp(), "status_list": {"bits": 1, "lst": status::compress_token_list(&list)}}),
            &stranger,
            &format!("{stranger_did}#{fragment}"),
            Some("statuslist+jwt"),
        );
        let reply = post(&app, "/registry/status-lists", anonymous).await;
        assert_problem(&reply, 403, "not-authorized");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("accredited"),
            "{}",
            reply.body
        );
        // URIs that are not the registry's form for the issuer.
        for uri in [
            "garbage".to_owned(),
            String::new(),
            "ftp://x y".to_owned(),
            format!("ftp://registry.example/status-lists/{}/1", agency.did),
            format!("https://registry.example/status/{}/1", agency.did),
            format!(
                "https://registry.example/status-lists/{}/bad name",
                agency.did
            ),
            format!("https://registry.example/status-lists/{}/1?v=2", agency.did),
            format!(
                "https://user:pw@registry.example/status-lists/{}/1",
                agency.did
            ),
            format!(
                "https://registry.example/status-lists/{}/{}",
                agency.did,
                "n".repeat(65)
            ),
        ] {
            let reply = post(
                &app,
                "/registry/status-lists",
                agency.token_list(&uri, json!({})),
            )
            .await;
            assert_problem(&reply, 400, "invalid-status-list");
        }
        assert_eq!(log_size(&backend).await, before, "nothing was written");
        assert_problem(
            &get(
                &app,
                &format!("/registry/status-lists/{}", status::list_key(&agency_uri)),
            )
            .await,
            404,
            "status-list-not-found",
        );

        // The agency publishes at its URL, and the list is served there and by key.
        let own = agency.token_list(&agency_uri, json!({}));
        let reply = post(&app, "/registry/status-lists", own.clone()).await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.body);
        assert_eq!(reply.body["key"], status::list_key(&agency_uri).as_str());
        let by_uri = get(&app, &format!("/registry/status-lists/{}/1", agency.did)).await;
        assert_eq!(by_uri.status, 200);
        assert_eq!(by_uri.body.as_str(), Some(own.as_str()));
    }
}

/// Issue 8 item 10: a list's `ttl` went uncapped into `Cache-Control: max-age`.
#[tokio::test]
async fn status_list_cache_lifetime_is_capped() {
    for backend in backends().await {
        let anchor = Party::unregistered();
        let app = app_with_anchors(backend.store.clone(), &[&anchor.did]);
        anchor.register(&app).await;
        let uri = anchor.list_uri("forever");
        let reply = post(
            &app,
            "/registry/status-lists",
            anchor.token_list(&uri, json!({"ttl": 1_000_000_000u64})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let served = get(
            &app,
            &format!("/registry/status-lists/{}", status::list_key(&uri)),
        )
        .await;
        assert_eq!(served.headers["cache-control"], "public, max-age=86400");
    }
}

/// Issue 8 item 5: service endpoints such as `javascript:`, `file:`, `data:` and cloud metadata
/// addresses, and types with NUL or bidi overrides, were stored and served as written. One line
/// per case: the endpoint (or type), and whether it is accepted.
#[tokio::test]
async fn unsafe_service_data_is_refused() {
    let cases: &[(&str, &str, bool)] = &[
        ("LinkedDomains", "https://agency.gov.example/", true),
        (
            "LinkedDomains",
            "https://agency.gov.example:8443/path?q=1",
            true,
        ),
        (
            "DIDCommMessaging",
            "did:credence:axaffprgowbyftupfoprbkptfgdbwhtr#didcomm",
            true,
        ),
        ("LinkedDomains", "https://8.8.8.8/", true),
        ("LinkedDomains", "javascript:alert(1)", false),
        ("LinkedDomains", "file:///etc/passwd", false),
        (
            "LinkedDomains",
            "data:text/html,<script>alert(1)</script>",
            false,
        ),
        (
            "LinkedDomains",
            "http://169.254.169.254/latest/meta-data/",
            false,
        ),
        (
            "LinkedDomains",
            "https://169.254.169.254/latest/meta-data/",
            false,
        ),
        ("LinkedDomains", "https://127.0.0.1/", false),
        ("LinkedDomains", "https://10.0.0.1/", false),
        ("LinkedDomains", "https://[::1]/", false),
        ("LinkedDomains", "https://localhost/", false),
        ("LinkedDomains", "https://intranet/", false),
        ("LinkedDomains", "http://agency.gov.example/", false),
        (
            "LinkedDomains",
            "https://agency.gov.example/\r\nX-Injected: 1",
            false,
        ),
        ("LinkedDomains", "https://agency.gov.example/a b", false),
        (
            "LinkedDomains",
            "https://user:pw@agency.gov.example/",
            false,
        ),
        ("LinkedDomains", "did:nope", false),
        ("Linked\u{0}Domains", "https://agency.gov.example/", false),
        (
            "Linked\u{202e}Domains",
            "https://agency.gov.example/",
            false,
        ),
        ("Linked Domains", "https://agency.gov.example/", false),
    ];
    for backend in backends().await {
        let app = crate::support::test_app(
            backend.store.clone(),
            credence_registry_server::store::WriteLimits::default(),
        );
        for (kind, endpoint, accepted) in cases {
            let owner = Owner::new(KeyType::Ed25519);
            let genesis = SignedOperation::sign(
                OperationBody::Create {
                    rotation_keys: vec![owner.rotation.public().to_did_key()],
                    verification_methods: vec![owner.vm()],
                    services: vec![ServiceSpec {
                        id: "svc".into(),
                        kind: (*kind).to_owned(),
                        service_endpoint: (*endpoint).to_owned(),
                    }],
                },
                &owner.rotation,
            );
            let did = ops::did_for_genesis(&genesis);
            let reply = post_op(&app, "/registry/dids", &genesis).await;
            if *accepted {
                assert_eq!(reply.status, 201, "{kind:?} {endpoint:?}: {}", reply.body);
            } else {
                assert_problem(&reply, 400, "malformed-operation");
                let resolved = get(&app, &format!("/registry/1.0/identifiers/{did}")).await;
                assert_eq!(resolved.status, 404, "{endpoint:?} was stored");
            }
        }
    }
}

/// Issue 8 item 10: the raw HTTP method was a metrics label, so `curl -X M1`, `-X M2`, ...
/// each created a permanent series.
#[tokio::test]
async fn metric_labels_are_bounded() {
    let backend = crate::support::sqlite().await;
    let app = crate::support::test_app(
        backend.store.clone(),
        credence_registry_server::store::WriteLimits::default(),
    );
    let method = format!("M{}", std::process::id());
    let request = axum::http::Request::builder()
        .method(method.as_str())
        .uri("/registry/log/key")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = crate::support::send(&app, request).await;
    assert_eq!(reply.status, 405);
    let metrics = get(&app, "/metrics").await;
    let text = metrics.body.as_str().unwrap();
    assert!(!text.contains(&method), "{method} became a label");
    assert!(text.contains("method=\"other\""), "{text}");
}

/// Issue 10 item 7: a bad query string was reported as an invalid DID, schema, list or
/// accreditation. It is an `invalid-query` problem wherever it happens; one line per case.
#[tokio::test]
async fn bad_query_strings_are_invalid_query_problems() {
    let backend = crate::support::sqlite().await;
    let app = crate::support::test_app(
        backend.store.clone(),
        credence_registry_server::store::WriteLimits::default(),
    );
    let did = Party::registered(&app).await.did;
    for path in [
        "/registry/status-lists/abc?version=yesterday".to_owned(),
        "/registry/status-lists/abc?frobnicate=1".to_owned(),
        "/registry/type-metadata?vct=x&frobnicate=1".to_owned(),
        "/registry/type-metadata".to_owned(),
        format!("/registry/issuers/{did}/authorization"),
        format!("/registry/issuers/{did}/authorization?type=x&frobnicate=1"),
        "/registry/log/proof/inclusion?index=x&size=1".to_owned(),
        "/registry/log/proof/consistency?from=1".to_owned(),
    ] {
        let reply = get(&app, &path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(
            reply.body["type"], "https://credence.example/problems/invalid-query",
            "{path}: {}",
            reply.body
        );
    }
}
