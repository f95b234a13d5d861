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
//!   with its republisher ([`Application::open`] from an [`config::IssuerConfig`]); the root
//!   binary serves it, under `/issuer`.
//!
//! - [`offers`]: OpenID4VCI's pre-authorized code flow as the service runs it (offers, token,
//!   nonce, credential; the sweeper of expired state), over the pure [`oid4vci`]; its routes are
//!   in `http::oid4vci` and [`well_known_router`].
//!
//! - [`rotation`]: tenant key rotation as a DID update (issue 11), crash-safe, with
//!   [`rotation::RotationRecovery`] settling rotations a crash left pending.
//!
//! This crate depends only on `credence-registry` and never on the verifier or the registry
//! server (a dev-dependency of the tests).

pub mod claims;
pub mod client;
pub mod config;
pub mod data_integrity;
pub mod error;
mod group_commit;
pub mod http;
pub mod ids;
pub mod issue;
pub mod jws;
pub mod offers;
pub mod oid4vci;
pub mod qr;
pub mod rotation;
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

/// The OpenID4VCI well-known documents of every tenant of an issuer mounted at `prefix`
/// (`/issuer` all-in-one): `/.well-known/openid-credential-issuer{prefix}/{tenant}` and
/// `/.well-known/oauth-authorization-server{prefix}/{tenant}`. They live at the server's root
/// (RFC 8414 §3.1 inserts the well-known segment before the issuer's path), so the server that
/// mounts [`app`] under `prefix` merges this at its root. `prefix` must be the one in
/// `ServiceOptions::prefix`, which the issuer identifiers in the documents use.
pub fn well_known_router(state: AppState, prefix: &'static str) -> Router {
    http::oid4vci::well_known_router(state, prefix)
}

/// The issuer as it runs: its router, the state its handlers share, the status-list
/// republisher, the sweeper of expired OpenID4VCI offers, tokens and nonces, and the task that
/// settles key rotations a crash left pending.
#[derive(Debug)]
pub struct Application {
    pub router: Router,
    pub state: AppState,
    republisher: Republisher,
    sweeper: offers::Sweeper,
    recovery: rotation::RotationRecovery,
}

impl Application {
    /// Builds the router over `state` and starts the republisher, the sweeper and the
    /// rotation recovery (inside a Tokio runtime).
    pub fn start(state: AppState) -> Self {
        let republisher = Republisher::start(state.service.clone());
        let sweeper = offers::Sweeper::start(state.service.clone());
        let recovery = rotation::RotationRecovery::start(state.service.clone());
        Self {
            router: app(state.clone()),
            state,
            republisher,
            sweeper,
            recovery,
        }
    }

    /// Opens an issuer as `config` says — data directory, master key and admin token (each
    /// read, or generated into the data directory), store (migrated), service — and starts
    /// it. The caller serves [`Application::router`] under `prefix` (`/issuer`) and
    /// [`well_known_router`] at its root, then calls [`Application::shutdown`] after the
    /// server drained.
    pub async fn open(
        config: &config::IssuerConfig,
        prefix: &'static str,
    ) -> Result<Self, ServeError> {
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|source| ServeError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let master_key =
            secrets::load_master_key(&config.master_key_source()).map_err(ServeError::Secrets)?;
        let admin_token =
            secrets::load_admin_token(&config.admin_token_source()).map_err(ServeError::Secrets)?;
        let store = store::open(&config.database_url())
            .await
            .map_err(ServeError::Store)?;
        let mut options = ServiceOptions::new(config.registry_url());
        options.status_ttl = status::Ttl {
            seconds: config.status_ttl_seconds,
        };
        options.public_url = config.public_url().trim_end_matches('/').to_owned();
        options.prefix = prefix.to_owned();
        let service = IssuerService::new(store, master_key, options, Default::default())
            .map_err(ServeError::Start)?;
        Ok(Self::start(AppState::new(Arc::new(service), &admin_token)))
    }

    /// Stops the sweeper, and the republisher after a last round. Call it after the server
    /// drained.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        self.recovery.shutdown().await;
        self.sweeper.shutdown().await?;
        self.republisher.shutdown().await
    }

    /// The router alone, the background tasks running as long as the runtime.
    pub fn into_router(self) -> Router {
        self.recovery.detach();
        self.sweeper.detach();
        self.republisher.detach();
        self.router
    }
}

/// Why an issuer could not start.
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
}
