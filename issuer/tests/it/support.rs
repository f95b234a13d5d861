//! Fixtures for the service tests: issuer stores on every backend, a real registry served on
//! loopback with a trust anchor, the issuer application over a store, and request helpers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use credence_issuer::secrets::{BearerToken, MasterKey};
use credence_issuer::service::{IssuerService, ServiceOptions};
use credence_issuer::state::AppState;
use credence_issuer::store::{self, IssuerStore, RowCounts};
use credence_registry::client::RegistryClient;
use credence_registry::did::Did;
use credence_registry::keys::KeyType;
use credence_registry::owner::OwnerKeys;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Environment variable naming a PostgreSQL database for the Postgres half of the suites.
pub(crate) const PG_ENV: &str = "CREDENCE_TEST_DATABASE_URL";

/// An issuer store under test, with what keeps it alive. Each PostgreSQL backend is a fresh
/// schema of the named database, so row counts are this test's own on both backends.
pub(crate) struct Backend {
    pub(crate) name: &'static str,
    pub(crate) store: Arc<dyn IssuerStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub(crate) async fn counts(&self) -> RowCounts {
        self.store.row_counts().await.expect("row counts")
    }
}

/// SQLite always; PostgreSQL too when `CREDENCE_TEST_DATABASE_URL` is set.
pub(crate) async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("issuer.db").display());
    let mut all = vec![Backend {
        name: "sqlite",
        store: store::open(&url).await.expect("open sqlite"),
        _dir: Some(dir),
    }];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let schema = format!("t_{}", uuid_like());
            let admin = sqlx::PgPool::connect(&url).await.expect("connect postgres");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
            all.push(Backend {
                name: "postgres",
                store: store::open(&scoped).await.expect("open postgres schema"),
                _dir: None,
            });
        }
        _ => eprintln!("note: {PG_ENV} is not set; PostgreSQL half of this test skipped"),
    }
    all
}

fn uuid_like() -> String {
    use rand::Rng as _;
    let bytes: [u8; 8] = rand::thread_rng().r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A registry served on loopback (its own SQLite store), whose one trust anchor is `anchor`.
pub(crate) struct Registry {
    pub(crate) url: String,
    pub(crate) client: RegistryClient,
    pub(crate) anchor: OwnerKeys,
    pub(crate) anchor_did: Did,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("registry.db").display());
        let store = credence_registry_server::store::open(&url)
            .await
            .expect("registry store");
        let anchor = OwnerKeys::generate(KeyType::Ed25519);
        let genesis = anchor.genesis(Vec::new());
        let anchor_did = credence_registry::ops::did_for_genesis(&genesis);
        let log_key = include_str!("../../../registry/server/testdata/log-signing.key");
        let app = credence_registry_server::app(
            store,
            credence_registry_server::AppOptions {
                registry_prefix: "/registry",
                limits: Default::default(),
                web: Default::default(),
                log_signer: Arc::new(
                    credence_registry::log::CheckpointSigner::from_private_key(log_key)
                        .expect("test log key"),
                ),
                witnesses: Vec::new(),
                trust_anchors: vec![anchor_did.clone()],
                clock: Default::default(),
                checkpoint_interval: std::time::Duration::from_secs(1),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{address}/registry");
        let client = RegistryClient::new(&url).expect("client");
        client
            .create(&genesis)
            .await
            .expect("anchor DID registered");
        Self {
            url,
            client,
            anchor,
            anchor_did,
            _dir: dir,
        }
    }

    fn sign(&self, payload: &Value) -> String {
        credence_registry::signed::sign(
            payload,
            &self.anchor.signing,
            &format!("{}#key-1", self.anchor_did),
        )
    }

    /// Publishes the business-licence schema under a fresh vct; returns (schema id, vct).
    pub(crate) async fn publish_schema(&self) -> (String, String) {
        let vct = format!(
            "https://credence.example/vct/business-licence/{}",
            uuid_like()
        );
        let submission = json!({
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "companyName": {"type": "string", "minLength": 1},
                    "registrationNumber": {"type": "string", "pattern": "^[0-9]{6,12}$"},
                    "address": {"type": "object", "properties": {"city": {"type": "string"}}}
                },
                "required": ["companyName", "registrationNumber"]
            },
            "typeMetadata": {
                "vct": vct,
                "display": [{"lang": "en", "name": "Business licence"}],
                "claims": [{"path": ["companyName"], "sd": "allowed"}]
            }
        });
        let published = self
            .client
            .publish_schema(&self.sign(&submission))
            .await
            .expect("schema published");
        (published.id.to_string(), vct)
    }

    /// The anchor accredits `subject` to issue `vct` for a year from now.
    pub(crate) async fn accredit(&self, subject: &Did, vct: &str) {
        let now = chrono::Utc::now();
        let claims = credence_registry::wire::AccreditationClaims::new(
            subject.clone(),
            vec![vct.parse().expect("a credential type")],
            false,
            now,
            now + chrono::Duration::days(365),
        );
        self.client
            .accredit(&self.sign(&serde_json::to_value(claims).expect("claims")))
            .await
            .expect("accredited");
    }
}

/// The master key every test service uses, as text, so tests can assert it never leaks.
pub(crate) const MASTER_KEY: &str = "bWFzdGVyLWtleS1vZi10aGUtdGVzdHMtMzItYnl0ZXM";

/// The issuer application over `store` talking to `registry`, its republisher running, and
/// the admin token.
pub(crate) struct Issuer {
    pub(crate) application: credence_issuer::Application,
    pub(crate) admin: BearerToken,
    /// The state the router was built over (for `well_known_router` and the service).
    pub(crate) state: AppState,
}

impl Issuer {
    pub(crate) fn start(store: Arc<dyn IssuerStore>, registry: &Registry) -> Self {
        Self::with_coalescing(store, registry, std::time::Duration::from_millis(50))
    }

    /// An issuer whose republisher waits `coalesce` after a change for more to join it.
    pub(crate) fn with_coalescing(
        store: Arc<dyn IssuerStore>,
        registry: &Registry,
        coalesce: std::time::Duration,
    ) -> Self {
        let mut options = ServiceOptions::new(&registry.url);
        options.coalesce = coalesce;
        Self::with_options(store, options, Default::default())
    }

    /// An issuer with `options` (its registry URL among them) reading the time from `clock`.
    pub(crate) fn with_options(
        store: Arc<dyn IssuerStore>,
        mut options: ServiceOptions,
        clock: credence_registry::clock::Clock,
    ) -> Self {
        options.republish_interval = std::time::Duration::from_millis(200);
        let master = MasterKey::from_text(MASTER_KEY, "tests").expect("master key");
        let service = IssuerService::new(store, master, options, clock).expect("service");
        let admin = BearerToken::generate();
        let state = AppState::new(Arc::new(service), &admin);
        let application = credence_issuer::Application::start(state.clone());
        Self {
            application,
            admin,
            state,
        }
    }

    pub(crate) fn router(&self) -> &axum::Router {
        &self.application.router
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) content_type: String,
    pub(crate) text: String,
    pub(crate) body: Value,
}

pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        content_type,
        text,
        body,
    }
}

/// A request with an optional bearer token and an optional JSON body (sent as is).
pub(crate) fn request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned())),
        None => builder.body(Body::empty()),
    }
    .expect("request")
}

pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let text = body.map(Value::to_string);
    send(app, request(method, uri, token, text.as_deref())).await
}

/// Asserts a problem response: status, problem `type`, media type, a non-empty detail.
#[track_caller]
pub(crate) fn assert_problem(reply: &Reply, status: u16, kind: &str) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.text);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "body: {}",
        reply.text
    );
    assert_eq!(
        reply.body["type"],
        format!("https://credence.example/problems/issuer/{kind}"),
        "body: {}",
        reply.text
    );
    assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(reply.body["status"], status);
}

/// A tenant created through the API, and its token.
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) did: Did,
    pub(crate) token: String,
}

pub(crate) async fn create_tenant(issuer: &Issuer, id: &str) -> Tenant {
    let reply = call(
        issuer.router(),
        "POST",
        "/tenants",
        Some(issuer.admin.expose()),
        Some(&json!({"id": id, "name": format!("Agency {id}")})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    Tenant {
        id: id.to_owned(),
        did: Did::parse(reply.body["did"].as_str().expect("did")).expect("DID"),
        token: reply.body["token"].as_str().expect("token").to_owned(),
    }
}

/// The holder's key as a public JWK.
pub(crate) fn holder_jwk() -> Value {
    credence_registry::keys::SecretKey::generate(KeyType::P256)
        .public()
        .to_jwk()
}

pub(crate) fn valid_claims() -> Value {
    json!({"companyName": "Acme Trading Ltd", "registrationNumber": "12345678",
           "address": {"city": "Springfield"}})
}
