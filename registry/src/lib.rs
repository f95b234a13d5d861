//! credence-registry: the base crate of Credence.
//!
//! IO-free modules shared by every crate: [`did`] (the `Did` newtype), [`json`] (strict JSON
//! intake), [`keys`] (key encodings, strict JWS), [`ops`] (the did:credence method), [`error`]
//! (RFC 9457 problems). The [`resolver`] and [`client`] are how other crates reach DIDs and
//! registries. [`registry`], [`store`] and [`http`] serve the registry itself. See
//! ARCHITECTURE.md for the map and the invariants.

pub mod audit;
pub mod cache;
pub mod client;
pub mod config;
pub mod did;
pub mod error;
pub mod http;
pub mod json;
pub mod keys;
pub mod log;
pub mod ops;
pub mod owner;
pub mod registry;
pub mod resolver;
pub mod schemas;
pub mod signed;
pub mod status;
pub mod store;
pub mod transparency;
pub mod trust;
pub mod witness;

use std::sync::Arc;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::http::RegistryState;
use crate::http::service::ServiceState;
use crate::registry::Registry;
use crate::resolver::{CredenceSource, Resolver};
use crate::store::{DidStore, WriteLimits};

/// Options for building the application, so tests and the binary build it the same way.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Where the registry routes are mounted: "/registry" in the all-in-one server, "" alone.
    pub registry_prefix: &'static str,
    pub limits: WriteLimits,
    pub web: resolver::web::WebResolverConfig,
    /// The key that signs the log's checkpoints.
    pub log_signer: Arc<log::CheckpointSigner>,
    /// Witnesses asked to cosign each checkpoint.
    pub witnesses: Vec<transparency::WitnessEndpoint>,
    /// Roots of trust: DIDs that may publish schemas and accredit organisations.
    pub trust_anchors: Vec<did::Did>,
}

/// The whole application over `store`: registry routes plus health, readiness, metrics and
/// OpenAPI, with request tracing and metrics.
pub fn app(store: Arc<dyn DidStore>, options: AppOptions) -> Router {
    // Install the metrics recorder before the first request can be counted.
    http::service::metrics_handle();
    let registry = Arc::new(Registry::new(store.clone(), options.limits));
    let resolver = Arc::new(Resolver::new(
        CredenceSource::Local(registry.clone()),
        options.web,
    ));
    let transparency = Arc::new(transparency::Transparency::with_witnesses(
        store.clone(),
        options.log_signer,
        options.witnesses,
    ));
    let trust = Arc::new(trust::TrustRegistry::new(
        store.clone(),
        resolver.clone(),
        options.trust_anchors,
    ));
    let schemas = Arc::new(schemas::SchemaRegistry::new(
        store.clone(),
        resolver.clone(),
        trust.clone(),
    ));
    let status = Arc::new(status::StatusLists::new(store.clone(), resolver.clone()));
    let registry_routes = http::router(RegistryState {
        registry,
        schemas,
        trust,
        status,
        resolver,
        transparency,
    });
    let mut openapi = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Credence")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .build();
    let routes = if options.registry_prefix.is_empty() {
        openapi.merge(http::openapi());
        registry_routes
    } else {
        openapi = openapi.nest(options.registry_prefix, http::openapi());
        Router::new().nest(options.registry_prefix, registry_routes)
    };
    routes
        .merge(http::service::router(ServiceState {
            store,
            openapi: Arc::new(openapi),
        }))
        .fallback(route_not_found)
        .layer(axum::middleware::from_fn(http::service::record_metrics))
        .layer(TraceLayer::new_for_http())
}

/// Any path no route matches (nested routers inherit it): a 404 problem body.
async fn route_not_found(uri: axum::http::Uri) -> error::Error {
    error::Error::RouteNotFound(format!("nothing is served at {}", uri.path()))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::service::metrics_handle();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
