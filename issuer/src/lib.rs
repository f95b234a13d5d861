//! credence-issuer: how an agency (a tenant of the issuer service) turns claims into verifiable
//! credentials and manages their status: the pure issuing library, and the service around it.
//!
//! The library (pure, synchronous; no HTTP, no database, no clock):
//! - [`sd_jwt`]: IETF SD-JWT VC (`dc+sd-jwt`) issuance: selectively disclosable claims (top
//!   level, nested, array elements, recursive), decoy digests, sorted `_sd` arrays, `cnf.jwk`
//!   holder binding, `status.status_list` Token Status List reference.
//! - [`vc_jwt`]: W3C VCDM 2.0 credentials secured as VC-JOSE-COSE `vc+jwt`, with
//!   `BitstringStatusListEntry` status.
//! - [`data_integrity`]: the same credentials secured with a Data Integrity proof,
//!   `eddsa-rdfc-2022` (the `ldp_vc` format), JSON-LD contexts bundled, never fetched.
//! - [`status`]: the issuer's status lists: random index allocation without reuse, valid /
//!   invalid / suspended, and the signed lists the registry hosts (`statuslist+jwt` and
//!   `BitstringStatusListCredential` as `vc+jwt`).
//! - [`jws`]: the issuer's signing key ([`jws::IssuerKey`], [`jws::Kid`]) and compact JWS
//!   assembly; signatures come from `credence_registry::keys`.
//! - [`claims`]: the open claim set ([`claims::Claims`]) and JSON Pointer claim paths.
//!
//! The service (multi-tenant; see ARCHITECTURE.md):
//! - [`config`] (the only reader of the environment), [`secrets`] (master key, tokens),
//!   [`ids`], [`error`] (every condition with its status and problem type);
//! - [`store`]: the only SQL (SQLite, PostgreSQL);
//! - the domain, no axum and no SQL: [`service`] (what operations share), [`tenants`],
//!   [`types`], [`issue`], [`status_service`] (status changes and the republisher),
//!   [`vc_api`] (the W3C VC API's issue and status operations in terms of those);
//! - [`http`]: the admin API, thin handlers; [`app`] composes it, [`Application`] runs it
//!   with its republisher, [`run`] serves it from an [`config::IssuerConfig`].
//!
//! Not built yet (issue 11): OpenID4VCI, offers, key
//! rotation, did:key tenants, and the CLI. This crate depends only on `credence-registry`
//! and never on the verifier or the registry server (a dev-dependency of the tests).

pub mod claims;
pub mod config;
pub mod data_integrity;
pub mod error;
pub mod http;
pub mod ids;
pub mod issue;
pub mod jws;
pub mod oid4vci;
pub mod sd_jwt;
pub mod secrets;
pub mod service;
pub mod state;
pub mod status;
pub mod status_service;
pub mod store;
pub mod tenants;
pub mod types;
pub mod vc_api;
pub mod vc_jwt;

use std::sync::Arc;

use axum::Router;

use crate::error::Error;
use crate::service::{IssuerService, ServiceOptions};
use crate::state::AppState;
use crate::status_service::Republisher;

/// Longest a client may take to send a request body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The issuer's router: the admin API and its OpenAPI document (`/openapi.json`), with a
/// problem body for paths nothing serves. Mounted under `/issuer` by the all-in-one server.
pub fn app(state: AppState) -> Router {
    let openapi = Arc::new(http::openapi());
    http::router(state)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .fallback(route_not_found)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_READ_TIMEOUT,
        ))
}

async fn route_not_found(uri: axum::http::Uri) -> http::ApiError {
    http::ApiError(Error::RouteNotFound(format!(
        "nothing is served at {}",
        uri.path()
    )))
}

/// The issuer as it runs: its router and the status-list republisher.
#[derive(Debug)]
pub struct Application {
    pub router: Router,
    republisher: Republisher,
}

impl Application {
    /// Builds the router over `state` and starts the republisher (inside a Tokio runtime).
    pub fn start(state: AppState) -> Self {
        let republisher = Republisher::start(state.service.clone());
        Self {
            router: app(state),
            republisher,
        }
    }

    /// Stops the republisher after a last round. Call it after the server drained.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        self.republisher.shutdown().await
    }

    /// The router alone, the republisher running as long as the runtime.
    pub fn into_router(self) -> Router {
        self.republisher.detach();
        self.router
    }
}

/// Why an issuer process could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("creating data directory {}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading secrets")]
    Secrets(#[source] secrets::SecretError),
    #[error("opening the database")]
    Store(#[source] store::StoreError),
    #[error("{0}")]
    Start(Error),
    #[error("serving")]
    Serve(#[source] std::io::Error),
    #[error("status list republisher")]
    Republisher(#[source] tokio::task::JoinError),
}

/// Runs an issuer as `config` says on `listener` until `shutdown` resolves, serving its routes
/// under `prefix` ("" alone, "/issuer" all-in-one): data directory, secrets, store, service,
/// serve, drain, then the republisher's last round.
pub async fn run(
    config: config::IssuerConfig,
    listener: tokio::net::TcpListener,
    prefix: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let master_key =
        secrets::load_master_key(&config.master_key_source()).map_err(ServeError::Secrets)?;
    let admin_token =
        secrets::load_admin_token(&config.admin_token_source()).map_err(ServeError::Secrets)?;
    let store = store::open(&config.database_url())
        .await
        .map_err(ServeError::Store)?;
    let mut options = ServiceOptions::new(&config.registry_url);
    options.status_ttl = status::Ttl {
        seconds: config.status_ttl_seconds,
    };
    let service = IssuerService::new(store, master_key, options, Default::default())
        .map_err(ServeError::Start)?;
    let application = Application::start(AppState::new(Arc::new(service), &admin_token));
    let router = if prefix.is_empty() {
        application.router.clone()
    } else {
        Router::new().nest(prefix, application.router.clone())
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)?;
    application
        .shutdown()
        .await
        .map_err(ServeError::Republisher)
}
