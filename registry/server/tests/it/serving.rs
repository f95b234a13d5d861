//! The server as a client meets it over TCP (`serve_with` on a loopback port): writes are
//! throttled per client and in all, a client that dribbles its headers is cut off, and
//! graceful shutdown finishes even while such clients hold connections open.

use std::time::Duration;

use credence_registry::keys::KeyType;
use credence_registry::ops;
use credence_registry_server::http::throttle::Throttle;
use credence_registry_server::store::WriteLimits;
use credence_registry_server::{ServeOptions, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{Owner, sqlite, test_app};

/// A server on a loopback port, stopped by dropping `stop` (or sending on it).
struct Running {
    base: String,
    address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _backend: crate::support::Backend,
}

async fn start(options: ServeOptions) -> Running {
    let backend = sqlite().await;
    let app = test_app(backend.store.clone(), WriteLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        app,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    Running {
        base: format!("http://{address}"),
        address,
        stop,
        server,
        _backend: backend,
    }
}

/// Creates a fresh DID over HTTP; returns (status, problem type, Retry-After, the DID).
async fn create_did(base: &str) -> (u16, String, Option<String>, String) {
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = owner.genesis();
    let did = ops::did_for_genesis(&genesis).to_string();
    let response = reqwest::Client::new()
        .post(format!("{base}/registry/dids"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&genesis).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let kind = body["type"].as_str().unwrap_or_default().to_owned();
    (status, kind, retry_after, did)
}

async fn resolve_status(base: &str, did: &str) -> u16 {
    reqwest::get(format!("{base}/registry/1.0/identifiers/{did}"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Issue 8 item 10: genesis operations from anyone were unthrottled (the per-DID limits cannot
/// apply to a DID that does not exist yet), so one client could grow the log without bound.
#[tokio::test]
async fn writes_are_throttled_per_client_and_in_all() {
    for (throttle, allowed) in [
        (
            Throttle {
                per_client_per_minute: 2,
                global_per_minute: 0,
            },
            2,
        ),
        (
            Throttle {
                per_client_per_minute: 0,
                global_per_minute: 1,
            },
            1,
        ),
    ] {
        let running = start(ServeOptions {
            throttle,
            ..ServeOptions::default()
        })
        .await;
        for _ in 0..allowed {
            let (status, _, _, did) = create_did(&running.base).await;
            assert_eq!(status, 201);
            assert_eq!(resolve_status(&running.base, &did).await, 200);
        }
        let (status, kind, retry_after, did) = create_did(&running.base).await;
        assert_eq!(status, 429, "{throttle:?}");
        assert_eq!(kind, "https://credence.example/problems/throttled");
        let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        // Nothing was written, and reads are not throttled.
        assert_eq!(resolve_status(&running.base, &did).await, 404);
        running.stop.send(()).unwrap();
        running.server.await.unwrap().unwrap();
    }
}

/// Issue 8 item 10: with no header timeout, sockets sending a byte now and then held the server
/// for ever. Such a connection is closed once the header read timeout passes.
#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_cut_off() {
    let running = start(ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let mut socket = tokio::net::TcpStream::connect(running.address)
        .await
        .unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server must close the connection after its header timeout");
    assert!(read.is_ok() || !answer.is_empty());
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    running.stop.send(()).unwrap();
    running.server.await.unwrap().unwrap();
}

/// Issue 8 item 10: graceful shutdown waited for every open connection, so a stalled client
/// kept the process (and its final checkpoint) from ever finishing. It now waits at most the
/// grace period.
#[tokio::test]
async fn shutdown_finishes_while_stalled_clients_hold_connections() {
    let running = start(ServeOptions {
        header_read_timeout: Duration::from_secs(3600),
        shutdown_grace: Duration::from_millis(200),
        ..ServeOptions::default()
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut socket = tokio::net::TcpStream::connect(running.address)
            .await
            .unwrap();
        socket
            .write_all(b"POST /registry/dids HTTP/1.1\r\n")
            .await
            .unwrap();
        stalled.push(socket);
    }
    // A complete request still works before shutdown.
    let health = reqwest::get(format!("{}/health", running.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    running.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running.server)
        .await
        .expect("serve_with must return after its shutdown grace period")
        .unwrap()
        .unwrap();
    drop(stalled);
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plain_http() {
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tls");
    let tls = credence_registry_server::tls_config(
        std::path::Path::new(&format!("{testdata}/cert.pem")),
        std::path::Path::new(&format!("{testdata}/key.pem")),
    )
    .expect("tls config");
    let running = start(ServeOptions {
        tls: Some(tls),
        ..ServeOptions::default()
    })
    .await;
    let certificate =
        reqwest::Certificate::from_pem(&std::fs::read(format!("{testdata}/ca.pem")).unwrap())
            .unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .build()
        .unwrap();
    let port = running.address.port();
    let answer = client
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .expect("https request");
    assert_eq!(answer.status(), 200);
    // The same port does not speak plain HTTP.
    assert!(
        reqwest::get(format!("{}/health", running.base))
            .await
            .is_err()
    );
    // A certificate nobody vouches for is refused by a client that checks.
    assert!(
        reqwest::get(format!("https://localhost:{port}/health"))
            .await
            .is_err()
    );
    let _ = running.stop.send(());
    running.server.await.unwrap().unwrap();
}

#[test]
fn tls_config_names_the_file_it_cannot_read() {
    let missing = std::path::Path::new("/nonexistent/cert.pem");
    let error = credence_registry_server::tls_config(missing, missing).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/cert.pem"),
        "{error}"
    );
}
