//! credence-registry-server: what only a registry operator runs. The store and its
//! migrations ([`store`]), the HTTP routes ([`http`]), the services behind them ([`registry`],
//! [`trust`], [`schemas`], [`status`], [`transparency`]: checkpoint publishing, tiles, proofs),
//! their caches, and [`app`] / [`serve_with`], which compose them. Everything a client, issuer,
//! verifier or wallet needs is in the base crate `credence-registry`; only the root binary and
//! this crate's own tests and benches depend on this one. See ARCHITECTURE.md.

pub mod cache;
pub mod config;
pub mod http;
pub mod registry;
pub mod schemas;
pub mod status;
pub mod store;
pub mod transparency;
pub mod trust;

use std::sync::Arc;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::http::RegistryState;
use crate::http::service::ServiceState;
use crate::registry::Registry;
use crate::store::{DidStore, WriteLimits};
use credence_registry::resolver::{CredenceSource, Resolver};

/// Longest a client may take to send a request body.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Options for building the application, so tests and the binary build it the same way.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Where the registry routes are mounted: "/registry" in the all-in-one server, "" alone.
    pub registry_prefix: &'static str,
    pub limits: WriteLimits,
    pub web: credence_registry::resolver::web::WebResolverConfig,
    /// The key that signs the log's checkpoints.
    pub log_signer: Arc<credence_registry::log::CheckpointSigner>,
    /// Witnesses asked to cosign each checkpoint.
    pub witnesses: Vec<transparency::WitnessEndpoint>,
    /// Roots of trust: DIDs that may publish schemas and accredit organisations.
    pub trust_anchors: Vec<credence_registry::did::Did>,
    /// Where the services read the time (the system clock outside tests).
    pub clock: credence_registry::clock::Clock,
    /// How often the checkpoint publisher signs a checkpoint when the log grew (it also signs
    /// at once when a read waits for one).
    pub checkpoint_interval: std::time::Duration,
}

/// The registry as it runs: its router, the process's one [`transparency::Transparency`], and
/// the checkpoint publisher, the only task that signs checkpoints.
#[derive(Debug)]
pub struct Application {
    pub router: Router,
    pub transparency: Arc<transparency::Transparency>,
    publisher: tokio::task::JoinHandle<()>,
    stop_publisher: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Builds the application over `store`, claims the database's log for the log key
    /// (refusing a database whose log another key signs: `Transparency::check_key`), then
    /// starts the checkpoint publisher. How a server starts.
    pub async fn open(
        store: Arc<dyn DidStore>,
        options: AppOptions,
    ) -> Result<Self, credence_registry::error::Error> {
        let interval = options.checkpoint_interval;
        let (router, transparency) = build(store, options);
        transparency.check_key().await?;
        Ok(Self::with_publisher(router, transparency, interval))
    }

    /// Builds the application over `store` and starts its checkpoint publisher without
    /// checking the log key (tests, whose databases hold the test key's log). Call it inside a
    /// Tokio runtime.
    pub fn start(store: Arc<dyn DidStore>, options: AppOptions) -> Self {
        let interval = options.checkpoint_interval;
        let (router, transparency) = build(store, options);
        Self::with_publisher(router, transparency, interval)
    }

    fn with_publisher(
        router: Router,
        transparency: Arc<transparency::Transparency>,
        interval: std::time::Duration,
    ) -> Self {
        let (stop_publisher, stopped) = tokio::sync::watch::channel(false);
        let publisher = transparency::spawn_publisher(transparency.clone(), interval, stopped);
        Self {
            router,
            transparency,
            publisher,
            stop_publisher,
        }
    }

    /// Stops the publisher, which first signs a last checkpoint covering every acknowledged
    /// write. Call it after the server drained its requests.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop_publisher.send(true);
        self.publisher.await
    }

    /// The router alone, with the publisher left running for as long as the runtime (for
    /// tests and tools that never shut down cleanly).
    pub fn into_router(self) -> Router {
        // Dropping the sender without sending is not a stop: the publisher keeps running.
        drop(self.stop_publisher);
        self.router
    }
}

/// The router of [`Application::start`], its publisher running as long as the runtime: for
/// tests that drive the app through `oneshot`.
pub fn app(store: Arc<dyn DidStore>, options: AppOptions) -> Router {
    Application::start(store, options).into_router()
}

/// The whole application over `store`: registry routes plus health, readiness, metrics and
/// OpenAPI, with request tracing and metrics; and the log service its publisher drives.
fn build(
    store: Arc<dyn DidStore>,
    options: AppOptions,
) -> (Router, Arc<transparency::Transparency>) {
    // Install the metrics recorder before the first request can be counted.
    http::service::metrics_handle();
    let clock = options.clock;
    let registry = Arc::new(Registry::new(store.clone(), options.limits).with_clock(clock.clone()));
    let resolver = Arc::new(Resolver::new(
        CredenceSource::Local(registry.clone()),
        options.web,
    ));
    let transparency = Arc::new(transparency::Transparency::with_witnesses(
        store.clone(),
        options.log_signer,
        options.witnesses,
    ));
    let trust = Arc::new(
        trust::TrustRegistry::new(store.clone(), resolver.clone(), options.trust_anchors)
            .with_clock(clock.clone()),
    );
    let schemas = Arc::new(
        schemas::SchemaRegistry::new(store.clone(), resolver.clone(), trust.clone())
            .with_clock(clock.clone()),
    );
    let status = Arc::new(
        status::StatusLists::new(store.clone(), resolver.clone(), trust.clone()).with_clock(clock),
    );
    let registry_routes = http::router(RegistryState {
        registry,
        schemas,
        trust,
        status,
        resolver,
        transparency: transparency.clone(),
    });
    let mut openapi = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Credence")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .build();
    openapi.merge(http::service::openapi_doc());
    let routes = if options.registry_prefix.is_empty() {
        openapi.merge(http::openapi());
        registry_routes
    } else {
        openapi = openapi.nest(options.registry_prefix, http::openapi());
        Router::new().nest(options.registry_prefix, registry_routes)
    };
    let router = routes
        .merge(http::service::router(ServiceState {
            store,
            openapi: Arc::new(openapi),
        }))
        .fallback(route_not_found)
        .layer(axum::middleware::from_fn(http::service::record_metrics))
        .layer(TraceLayer::new_for_http())
        // A request whose body trickles in is cut off (the header timeout is `serve_with`'s).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_READ_TIMEOUT,
        ));
    (router, transparency)
}

/// Any path no route matches (nested routers inherit it): a 404 problem body.
async fn route_not_found(uri: axum::http::Uri) -> http::ApiError {
    http::ApiError(credence_registry::error::Error::RouteNotFound(format!(
        "nothing is served at {}",
        uri.path()
    )))
}

/// How `serve_with` treats connections and writes.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Longest a client may take to send a request's headers; a connection that dribbles them
    /// (slow loris) is closed after it.
    pub header_read_timeout: std::time::Duration,
    /// How long graceful shutdown waits for requests in flight before it closes what is
    /// still open, so the caller can publish its final checkpoint.
    pub shutdown_grace: std::time::Duration,
    /// Write quotas per client and in all.
    pub throttle: http::throttle::Throttle,
    /// Only writes whose path starts with this are throttled: the registry's prefix when it
    /// shares a server with services that authenticate their writers (the issuer), "" for all.
    pub throttled_prefix: &'static str,
    /// Serve HTTPS with this certificate and key ([`tls_config`]); plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Longest a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a certificate or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate chain {}: {source}", path.display())]
    Certificates {
        path: std::path::PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("reading the private key {}: {source}", path.display())]
    Key {
        path: std::path::PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate chain and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS server configuration from PEM files: the certificate chain (leaf first) and its
/// private key (PKCS#8, SEC1 or PKCS#1), TLS 1.2 and 1.3 with rustls' safe defaults, HTTP/1.1
/// announced by ALPN.
pub fn tls_config(
    certificate_chain: &std::path::Path,
    private_key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates = CertificateDer::pem_file_iter(certificate_chain)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificates {
            path: certificate_chain.to_owned(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|source| TlsError::Key {
        path: private_key.to_owned(),
        source,
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certificates, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            shutdown_grace: std::time::Duration::from_secs(10),
            throttle: http::throttle::Throttle::default(),
            throttled_prefix: "",
            tls: None,
        }
    }
}

/// How often the metrics recorder is drained and idle throttle buckets forgotten.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `app` on `listener` with the default [`ServeOptions`] until `shutdown` resolves, then
/// drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// Serves `app` on `listener` until `shutdown` resolves: HTTP/1.1 connections with a header
/// read timeout (hyper's, which `axum::serve` leaves off), writes throttled per client address,
/// the metrics recorder drained periodically (without a scraper, histogram samples would pile
/// up for ever). On shutdown, stops accepting, lets requests in flight finish for at most
/// `shutdown_grace`, then returns, closing whatever is left.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let metrics = http::service::metrics_handle();
    let throttler = Arc::new(http::throttle::Throttler::new(options.throttle));
    let upkeep = {
        let throttler = throttler.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                ticks.tick().await;
                metrics.run_upkeep();
                throttler.forget_idle_clients();
            }
        })
    };
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let throttled_prefix = options.throttled_prefix;
    let tls = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving those already connected.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (app, throttler) = (app.clone(), throttler.clone());
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                // Writes are throttled here, before the app: reads pay nothing for it.
                let throttled = http::throttle::is_write(request.method())
                    && request.uri().path().starts_with(throttled_prefix);
                let refused = throttled
                    .then(|| throttler.check(peer.ip()).err())
                    .flatten();
                let app = app.clone();
                async move {
                    match refused {
                        Some(error) => Ok(axum::response::IntoResponse::into_response(
                            http::ApiError(error),
                        )),
                        None => app.oneshot(request).await,
                    }
                }
            },
        );
        let Some(tls) = &tls else {
            let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
            });
            continue;
        };
        // The handshake runs in the connection's task, so a slow client never holds up
        // `accept`; one that does not finish it in time is dropped.
        let (tls, http1, watcher) = (tls.clone(), http1.clone(), graceful.watcher());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = watcher.watch(http1.serve_connection(TokioIo::new(stream), service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?options.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    upkeep.abort();
    Ok(())
}

/// Why a registry process could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound (in use, not permitted).
    #[error("binding {address}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(#[source] TlsError),
    /// The embedded database's directory could not be created.
    #[error("creating data directory {}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database did not open (unreachable, refused, failed migration).
    #[error("opening the database")]
    Store(#[source] store::StoreError),
    /// The log key could not be loaded or created, or does not own the database's log.
    #[error("{0}")]
    Start(credence_registry::error::Error),
    /// Accepting connections failed.
    #[error("serving")]
    Serve(#[source] std::io::Error),
    /// The checkpoint publisher panicked instead of signing its last checkpoint.
    #[error("checkpoint publisher")]
    Publisher(#[source] tokio::task::JoinError),
}

/// A registry ready to serve: its bound listener, its started [`Application`] and how to
/// serve it. The all-in-one server adds the other services' routes to the router before
/// serving.
#[derive(Debug)]
pub struct Prepared {
    pub listener: tokio::net::TcpListener,
    pub application: Application,
    pub serve_options: ServeOptions,
}

/// Prepares a registry as `config` says: binds first (a server that cannot listen leaves
/// nothing behind: no data directory, no new log key), opens the store, loads or creates the
/// log key, starts the [`Application`] (claiming the log for the key, then the publisher).
/// `registry_prefix` is where the registry routes are mounted ("/registry" all-in-one, ""
/// alone); only writes under it are throttled.
pub async fn prepare(
    config: &config::ServeConfig,
    registry_prefix: &'static str,
) -> Result<Prepared, ServeError> {
    let tls = config.tls().map_err(ServeError::Tls)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.listen,
            source,
        })?;
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    }
    let store = store::open_within(
        &config.database_url(),
        std::time::Duration::from_millis(config.database_connect_timeout_ms),
    )
    .await
    .map_err(ServeError::Store)?;
    let log_signer = Arc::new(
        transparency::load_or_create_signer(&config.log_key_file(), &config.log_origin)
            .map_err(ServeError::Start)?,
    );
    let options = AppOptions {
        registry_prefix,
        limits: WriteLimits {
            per_hour: config.ops_per_hour,
            per_day: config.ops_per_day,
        },
        web: credence_registry::resolver::web::WebResolverConfig {
            allow_http: config.did_web_allow_private,
            allow_private_targets: config.did_web_allow_private,
            ..Default::default()
        },
        log_signer,
        witnesses: config.witnesses.clone(),
        trust_anchors: config.trust_anchors.clone(),
        clock: Default::default(),
        checkpoint_interval: std::time::Duration::from_millis(
            config.checkpoint_interval_ms.max(10),
        ),
    };
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "credence listening");
    }
    let application = Application::open(store, options)
        .await
        .map_err(ServeError::Start)?;
    let mut serve_options = config.serve_options();
    serve_options.throttled_prefix = registry_prefix;
    serve_options.tls = tls;
    Ok(Prepared {
        listener,
        application,
        serve_options,
    })
}

/// Runs a registry as `config` says until `shutdown` resolves: [`prepare`], serve, drain, and
/// stop the publisher after its last checkpoint.
pub async fn run(
    config: config::ServeConfig,
    registry_prefix: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let Prepared {
        listener,
        application,
        serve_options,
    } = prepare(&config, registry_prefix).await?;
    serve_with(
        listener,
        application.router.clone(),
        shutdown,
        serve_options,
    )
    .await
    .map_err(ServeError::Serve)?;
    // Stop the publisher after the last request drained; it publishes a final checkpoint.
    application.shutdown().await.map_err(ServeError::Publisher)
}
