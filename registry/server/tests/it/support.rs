//! Shared fixtures: stores for every backend, the app over a store, request helpers, and
//! operation builders.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::ops::{
    OpHash, OperationBody, Purpose, SignedOperation, VerificationMethodSpec,
};
use credence_registry_server::store::{self, DidStore, WriteLimits};
use credence_registry_server::{AppOptions, app};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// Environment variable naming a PostgreSQL database for the Postgres half of the suites.
pub(crate) const PG_ENV: &str = "CREDENCE_TEST_DATABASE_URL";

/// A store under test, with what keeps it alive.
pub(crate) struct Backend {
    pub(crate) name: &'static str,
    pub(crate) store: Arc<dyn DidStore>,
    /// The database URL, for tests that tamper with rows directly.
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database made for this test, dropped with it.
    _fresh: Option<crate::concurrency::FreshDatabase>,
}

impl Backend {
    /// The log's size. Every backend's database belongs to its test alone (a temporary SQLite
    /// file, a PostgreSQL database made for it), so "nothing was written" checks compare this
    /// on both backends; it is never `None` (it was on a shared PostgreSQL database once, and
    /// those checks compared two `None`s).
    pub(crate) async fn exclusive_log_size(&self) -> Option<u64> {
        Some(self.store.log_size().await.expect("log size"))
    }
}

/// A fresh SQLite store in a temporary directory.
pub(crate) async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = store::open(&url).await.expect("open sqlite");
    Backend {
        name: "sqlite",
        store,
        url,
        _dir: Some(dir),
        _fresh: None,
    }
}

/// Every backend available here: SQLite always, PostgreSQL when `CREDENCE_TEST_DATABASE_URL`
/// is set (otherwise a notice says it was skipped). Each is a fresh database of the test's own:
/// a PostgreSQL database is created next to the one the variable names and dropped after.
pub(crate) async fn backends() -> Vec<Backend> {
    let mut all = vec![sqlite().await];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let fresh = crate::concurrency::FreshDatabase::postgres().await;
            let store = store::open(&fresh.url)
                .await
                .expect("open a fresh database next to CREDENCE_TEST_DATABASE_URL's");
            all.push(Backend {
                name: "postgres",
                store,
                url: fresh.url.clone(),
                _dir: None,
                _fresh: Some(fresh),
            });
        }
        _ => eprintln!("note: {PG_ENV} is not set; PostgreSQL half of this test skipped"),
    }
    all
}

/// The all-in-one app over `store`, with did:web allowed to reach loopback (tests only).
pub(crate) fn test_app(store: Arc<dyn DidStore>, limits: WriteLimits) -> axum::Router {
    app(
        store,
        AppOptions {
            registry_prefix: "/registry",
            limits,
            web: Default::default(),
            log_signer: test_signer(),
            witnesses: Vec::new(),
            trust_anchors: Vec::new(),
            clock: Default::default(),
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    )
}

/// A response as the tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Value,
}

pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

pub(crate) async fn get(app: &axum::Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

/// POSTs `body` with the media type the endpoint takes: JSON for DID operations, a compact
/// JWS (`application/jose`) for every signed submission.
pub(crate) async fn post(app: &axum::Router, uri: &str, body: impl Into<Body>) -> Reply {
    let path = uri.split('?').next().unwrap_or_default();
    let content_type = if path.ends_with("/dids") || path.ends_with("/ops") {
        "application/json"
    } else {
        "application/jose"
    };
    send(
        app,
        Request::post(uri)
            .header("content-type", content_type)
            .body(body.into())
            .expect("request"),
    )
    .await
}

pub(crate) async fn post_op(app: &axum::Router, uri: &str, op: &SignedOperation) -> Reply {
    post(app, uri, serde_json::to_vec(op).expect("json")).await
}

/// Asserts a problem response: status, `type` suffix, JSON problem media type and a detail.
#[track_caller]
pub(crate) fn assert_problem(reply: &Reply, status: u16, kind: &str) {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "unexpected status; body: {}",
        reply.body
    );
    assert_eq!(
        reply.content_type, "application/problem+json",
        "body: {}",
        reply.body
    );
    let expected = format!("https://credence.example/problems/{kind}");
    assert_eq!(
        reply.body["type"],
        Value::String(expected),
        "body: {}",
        reply.body
    );
    assert!(reply.body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(reply.body["status"], status);
}

/// An owner with a rotation key and one assertion key.
pub(crate) struct Owner {
    pub(crate) rotation: SecretKey,
    pub(crate) signing: SecretKey,
}

impl Owner {
    pub(crate) fn new(key_type: KeyType) -> Self {
        Self {
            rotation: SecretKey::generate(key_type),
            signing: SecretKey::generate(KeyType::Ed25519),
        }
    }

    pub(crate) fn vm(&self) -> VerificationMethodSpec {
        VerificationMethodSpec {
            id: "key-1".into(),
            kind: "Multikey".into(),
            public_key_multibase: Some(self.signing.public().to_multikey()),
            public_key_jwk: None,
            purposes: vec![Purpose::AssertionMethod, Purpose::Authentication],
        }
    }

    pub(crate) fn create_body(&self) -> OperationBody {
        OperationBody::Create {
            rotation_keys: vec![self.rotation.public().to_did_key()],
            verification_methods: vec![self.vm()],
            services: vec![],
        }
    }

    pub(crate) fn genesis(&self) -> SignedOperation {
        SignedOperation::sign(self.create_body(), &self.rotation)
    }

    /// An update (new rotation keys as given) signed by this owner's rotation key.
    pub(crate) fn update(&self, prev: &OpHash, next_rotation: &SecretKey) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Update {
                prev: prev.clone(),
                rotation_keys: vec![next_rotation.public().to_did_key()],
                verification_methods: vec![self.vm()],
                services: vec![],
            },
            &self.rotation,
        )
    }

    pub(crate) fn deactivate(&self, prev: &OpHash) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Deactivate { prev: prev.clone() },
            &self.rotation,
        )
    }
}

/// The test log's checkpoint key (registry/server/testdata/log-signing.key, a published test key).
/// Every test uses the same one because PostgreSQL runs share one database, hence one log.
pub(crate) fn test_signer() -> Arc<credence_registry::log::CheckpointSigner> {
    let key = include_str!("../../testdata/log-signing.key");
    Arc::new(credence_registry::log::CheckpointSigner::from_private_key(key).expect("test log key"))
}

/// Serves `app` on a loopback port; returns its base URL. The server stops with the runtime.
pub(crate) async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// The all-in-one app with `anchors` as trust anchors.
pub(crate) fn app_with_anchors(store: Arc<dyn DidStore>, anchors: &[&str]) -> axum::Router {
    app_with_anchors_and_clock(store, anchors, Default::default())
}

/// The same, reading the time from `clock` (tests that need time to pass set it).
pub(crate) fn app_with_anchors_and_clock(
    store: Arc<dyn DidStore>,
    anchors: &[&str],
    clock: credence_registry::clock::Clock,
) -> axum::Router {
    app(
        store,
        AppOptions {
            registry_prefix: "/registry",
            limits: WriteLimits::default(),
            web: Default::default(),
            log_signer: test_signer(),
            witnesses: Vec::new(),
            trust_anchors: anchors
                .iter()
                .map(|did| did.parse().expect("anchor DID"))
                .collect(),
            clock,
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    )
}
