//! The relying parties' API token when none is configured (feature `server`): `open` generates
//! one at first start into the verifier's data directory (mode 0600) and keeps it across
//! restarts; `POST /requests` accepts it, and refuses a missing or wrong one with a 401 problem
//! and nothing written. A configured token generates nothing; a token file others can read is
//! refused at start. (The token is a file, not a row: the store's backend plays no part.)

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Duration;
use credence_registry::clock::Clock;
use credence_verifier::server::{
    GENERATED_API_TOKEN_FILE, OpenError, VerifierApp, VerifierConfig, VerifierState, open_with,
};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{VCT, now, offline_context};

fn config(dir: &std::path::Path, api_token: Option<&str>) -> VerifierConfig {
    VerifierConfig {
        registry_url: Some("http://127.0.0.1:9/registry".into()),
        leeway_seconds: 60,
        presentation_max_age_seconds: 300,
        data_dir: Some(dir.to_owned()),
        database_url: None,
        api_token: api_token.map(str::to_owned),
        api_token_file: None,
        public_url: Some("https://verifier.example/verifier".into()),
        request_ttl_seconds: 300,
        allow_private_targets: false,
        name: None,
    }
}

async fn open(config: &VerifierConfig) -> Result<VerifierApp, OpenError> {
    open_with(
        config,
        VerifierState {
            context: std::sync::Arc::new(offline_context()),
            clock: Clock::manual(now()).0,
            leeway: Duration::seconds(60),
            presentation_max_age: Duration::minutes(5),
        },
    )
    .await
}

/// `POST /requests` with a valid DCQL query and `token` as the bearer: status, media type, body.
async fn create(app: &VerifierApp, token: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let query = json!({"dcql_query": {"credentials": [{
        "id": "licence", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
        "claims": [{"path": ["given_name"]}],
    }]}});
    let mut request = Request::post("/requests").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(Body::from(query.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        media,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_kept_and_only_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(GENERATED_API_TOKEN_FILE);
    let app = open(&config(dir.path(), None)).await.unwrap();
    let token = std::fs::read_to_string(&path).expect("the generated token file");
    assert_eq!(token.len(), 43, "256 bits as unpadded base64url");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The generated token with its last character changed: same length, wrong.
    let last = token.chars().last().unwrap();
    let wrong = format!("{}{}", &token[..42], if last == 'A' { 'B' } else { 'A' });
    for (name, presented) in [("no token", None), ("wrong token", Some(wrong.as_str()))] {
        let (status, media, problem) = create(&app, presented).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {problem}");
        assert_eq!(media.as_deref(), Some("application/problem+json"), "{name}");
        assert!(
            problem["type"].as_str().unwrap().ends_with("unauthorized"),
            "{name}: {problem}"
        );
        assert!(!problem.to_string().contains(&token), "{name}");
        assert_eq!(
            app.store.count().await.unwrap(),
            0,
            "{name}: nothing written"
        );
    }
    let (status, _, created) = create(&app, Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(app.store.count().await.unwrap(), 1);
    drop(app);

    // A restart reads the same file: the same token is accepted, no new one is made.
    let app = open(&config(dir.path(), None)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
    let (status, _, created) = create(&app, Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _, _) = create(&app, Some(&wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_configured_token_generates_nothing_and_the_generated_one_is_not_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // A token generated by an earlier start without configuration, then a configured one.
    drop(open(&config(dir.path(), None)).await.unwrap());
    let generated = std::fs::read_to_string(dir.path().join(GENERATED_API_TOKEN_FILE)).unwrap();
    let configured = "rp-token-configured-0123456789";
    let app = open(&config(dir.path(), Some(configured))).await.unwrap();
    assert_eq!(create(&app, Some(configured)).await.0, StatusCode::CREATED);
    assert_eq!(
        create(&app, Some(&generated)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let fresh = tempfile::tempdir().unwrap();
    drop(open(&config(fresh.path(), Some(configured))).await.unwrap());
    assert!(!fresh.path().join(GENERATED_API_TOKEN_FILE).exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_token_file_others_can_read_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    drop(open(&config(dir.path(), None)).await.unwrap());
    let path = dir.path().join(GENERATED_API_TOKEN_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    match open(&config(dir.path(), None)).await {
        Err(OpenError::Config(message)) => {
            assert!(message.contains("readable by others"), "{message}");
            assert!(message.contains(GENERATED_API_TOKEN_FILE), "{message}");
        }
        other => panic!(
            "expected a configuration error, got {:?}",
            other.map(|_| ())
        ),
    }
}
