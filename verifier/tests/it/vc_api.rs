//! The W3C VC API verify routes (feature `server`) through `router(..).oneshot(request)`:
//! valid SD-JWT VC and `vc+jwt` credentials (compact and enveloped) answer 200 verified; a
//! revoked one 422 with the status step among the errors; a malformed one 400; an oversized
//! body 413 and a bad body 400/415 as problems; a presentation for another challenge 422.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Duration;
use credence_registry::clock::Clock;
use credence_registry::keys::{KeyType, SecretKey};
use credence_verifier::server::{MAX_BODY_BYTES, VerifierState, router};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

use crate::support::{
    AUDIENCE, Issuer, Kb, NONCE, VCT, context, now, offline_context, present, standard, t0,
};
use crate::vc_jwt::World;

fn state(context: credence_verifier::Context) -> VerifierState {
    let (clock, _time) = Clock::manual(now());
    VerifierState {
        context: Arc::new(context),
        clock,
        leeway: Duration::seconds(60),
        presentation_max_age: Duration::minutes(5),
    }
}

async fn post(
    state: &VerifierState,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, Value) {
    let response = router(state.clone())
        .oneshot(
            Request::post(path)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        media,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn post_json(state: &VerifierState, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = post(
        state,
        path,
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    (status, body)
}

fn error_steps(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn credentials_verify_vc_jwt_and_sd_jwt_vc_against_a_registry() {
    let world = World::start().await;
    let state = state(context(&world.registry));
    let signing = world.issuer.signing.clone();
    let iat = t0() + Duration::minutes(1);

    // vc+jwt, compact and enveloped.
    let valid = world.issue(&signing, VCT, iat, Some(1));
    for credential in [
        json!(valid),
        json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": "EnvelopedVerifiableCredential",
            "id": format!("data:application/vc+jwt,{valid}"),
        }),
    ] {
        let (status, body) = post_json(
            &state,
            "/credentials/verify",
            json!({"verifiableCredential": credential, "options": {}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verified"], true);
        assert_eq!(body["errors"], json!([]));
        let checks = body["checks"].as_array().unwrap();
        for step in [
            "parse",
            "issuer",
            "signature",
            "validity",
            "status",
            "accreditation",
            "schema",
            "policy",
        ] {
            assert!(checks.contains(&json!(step)), "{step}: {body}");
        }
        assert_eq!(body["warnings"][0]["step"], "holder-binding", "{body}");
    }

    // Revoked: 422, the status step among the errors with the report's sentence.
    let revoked = world.issue(&signing, VCT, iat, Some(2));
    let (status, body) = post_json(
        &state,
        "/credentials/verify",
        json!({"verifiableCredential": revoked}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["verified"], false);
    assert_eq!(error_steps(&body), ["status"], "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // An SD-JWT VC (a did:key issuer, no status entry, no registry asked), without a
    // key-binding JWT: a credential on its own.
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let sd = standard(&issuer, &holder, now() - Duration::hours(1));
    let issued = present(&sd.sign(&issuer.key), &sd.disclosures, None);
    let offline = state_offline();
    let (status, body) = post_json(
        &offline,
        "/credentials/verify",
        json!({"verifiableCredential": issued}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], true);
}

fn state_offline() -> VerifierState {
    state(offline_context())
}

#[tokio::test]
async fn malformed_oversized_and_wrong_bodies() {
    let state = state_offline();

    // A credential that does not parse: 400 with the verification result.
    let (status, body) = post_json(
        &state,
        "/credentials/verify",
        json!({"verifiableCredential": "not.a.jwt"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["verified"], false);
    assert_eq!(error_steps(&body), ["parse"], "{body}");

    // Problems, never a verification result: oversized, not JSON, duplicate members, too
    // deep, unknown members, the wrong media type, an unknown envelope.
    let big = json!({"verifiableCredential": "a".repeat(MAX_BODY_BYTES)}).to_string();
    let (status, media, body) = post(
        &state,
        "/credentials/verify",
        "application/json",
        big.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(media.as_deref(), Some("application/problem+json"));
    assert!(
        body["type"].as_str().unwrap().ends_with("/too-large"),
        "{body}"
    );

    let deep = format!(
        "{{\"verifiableCredential\": {}0{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    for (name, content_type, raw, expected, kind) in [
        (
            "not JSON",
            "application/json",
            "{".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "duplicate member",
            "application/json",
            r#"{"verifiableCredential": "a", "verifiableCredential": "b"}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "too deep",
            "application/json",
            deep,
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "unknown member",
            "application/json",
            r#"{"verifiableCredential": "a", "extra": 1}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            "unknown option",
            "application/json",
            r#"{"verifiableCredential": "a", "options": {"checks": ["proof"]}}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            "not JSON media type",
            "text/plain",
            r#"{"verifiableCredential": "a"}"#.to_owned(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "an embedded-proof object",
            "application/json",
            r#"{"verifiableCredential": {"type": ["VerifiableCredential"]}}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "unsupported-format",
        ),
        (
            "a number",
            "application/json",
            r#"{"verifiableCredential": 7}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
    ] {
        let (status, media, body) = post(
            &state,
            "/credentials/verify",
            content_type,
            raw.into_bytes(),
        )
        .await;
        assert_eq!(status, expected, "{name}: {body}");
        assert_eq!(media.as_deref(), Some("application/problem+json"), "{name}");
        assert!(
            body["type"].as_str().unwrap().ends_with(kind),
            "{name}: {body}"
        );
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn presentations_verify_checks_the_challenge_and_domain() {
    let state = state_offline();
    let issuer = Issuer::did_key(KeyType::P256);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let sd = standard(&issuer, &holder, now() - Duration::hours(1));
    let presentation = present(
        &sd.sign(&issuer.key),
        &sd.disclosures,
        Some(Kb::new(&holder)),
    );
    let ask = |challenge: &str, domain: &str, vp: Value| json!({"verifiablePresentation": vp, "options": {"challenge": challenge, "domain": domain}});

    let (status, body) = post_json(
        &state,
        "/presentations/verify",
        ask(NONCE, AUDIENCE, json!(presentation)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], true);
    assert!(
        body["checks"]
            .as_array()
            .unwrap()
            .contains(&json!("holder-binding"))
    );

    let enveloped = json!({
        "type": "EnvelopedVerifiablePresentation",
        "id": format!("data:application/dc+sd-jwt,{presentation}"),
    });
    let (status, body) = post_json(
        &state,
        "/presentations/verify",
        ask(NONCE, AUDIENCE, enveloped),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (name, challenge, domain) in [
        ("wrong challenge", "another-nonce", AUDIENCE),
        ("another verifier", NONCE, "https://other.example"),
    ] {
        let (status, body) = post_json(
            &state,
            "/presentations/verify",
            ask(challenge, domain, json!(presentation)),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["verified"], false);
        assert_eq!(error_steps(&body), ["holder-binding"], "{name}: {body}");
    }

    // Options are required for a presentation; an empty challenge cannot be met.
    let (status, body) = post_json(
        &state,
        "/presentations/verify",
        json!({"verifiablePresentation": presentation}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("invalid-request"));
    let (status, body) = post_json(
        &state,
        "/presentations/verify",
        ask("", AUDIENCE, json!(presentation)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["type"].as_str().unwrap().ends_with("invalid-options"));
}
