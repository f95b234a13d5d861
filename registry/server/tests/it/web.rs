//! did:web fetcher: URL mapping (did:web §3.2) against the spec's own
//! examples, the SSRF address policy, and fetch behaviour against local axum
//! servers on 127.0.0.1 (the only place these tests send traffic; forbidden
//! targets are refused before any connection is made).

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use credence_registry::resolver::web::{
    WebError, WebResolver, WebResolverConfig, did_web_url, is_forbidden_ip,
};
use futures::StreamExt;
use serde_json::{Value, json};

/// did:web spec examples, copied from w3c-ccg/did-method-web index.html
/// (commit ea423c1); see registry/server/testdata/README.md.
const SPEC_EXAMPLES: &str = "testdata/did-web/did-web-spec-examples.json";

fn spec_examples() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC_EXAMPLES);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("spec examples are JSON")
}

fn local_config() -> WebResolverConfig {
    WebResolverConfig {
        allow_http: true,
        allow_private_targets: true,
        ..Default::default()
    }
}

/// Which `WebError` variant, so expectations stay one line.
#[derive(Debug, PartialEq)]
enum Kind {
    InvalidDid,
    ForbiddenTarget,
    NotFound,
    Unreachable,
    InvalidDocument,
}

fn kind(err: &WebError) -> Kind {
    match err {
        WebError::InvalidDid(_) => Kind::InvalidDid,
        WebError::ForbiddenTarget(_) => Kind::ForbiddenTarget,
        WebError::NotFound(_) => Kind::NotFound,
        WebError::Unreachable(_) => Kind::Unreachable,
        WebError::InvalidDocument(_) => Kind::InvalidDocument,
    }
}

#[track_caller]
fn check_url(method_specific_id: &str, config: &WebResolverConfig, expected: Result<&str, Kind>) {
    let actual = did_web_url(method_specific_id, config);
    match (&actual, expected) {
        (Ok(url), Ok(want)) => assert_eq!(url.as_str(), want, "{method_specific_id}"),
        (Err(err), Err(want)) => assert_eq!(kind(err), want, "{method_specific_id}: {err}"),
        (got, want) => panic!("{method_specific_id}: got {got:?}, want {want:?}"),
    }
}

// --- URL mapping, did:web §3.2 -------------------------------------------

#[test]
fn every_spec_example_maps_to_its_url() {
    let examples = spec_examples();
    let pairs = examples["did_to_url"].as_array().expect("did_to_url");
    assert!(!pairs.is_empty());
    for pair in pairs {
        let did = pair[0].as_str().expect("did");
        let url = pair[1].as_str().expect("url");
        let msi = did.strip_prefix("did:web:").expect("did:web");
        check_url(msi, &WebResolverConfig::default(), Ok(url));
        // allow_http only swaps the scheme.
        let http = url.replacen("https://", "http://", 1);
        check_url(
            msi,
            &WebResolverConfig {
                allow_http: true,
                ..Default::default()
            },
            Ok(&http),
        );
    }
}

#[test]
fn url_mapping_edge_cases() {
    let default = WebResolverConfig::default();
    let ok = |msi, url| check_url(msi, &default, Ok(url));
    // Percent-encoding is case-insensitive (RFC 3986 §2.1); hosts are lowercased.
    ok(
        "Example.COM%3a8443:a:b",
        "https://example.com:8443/a/b/did.json",
    );
    // Path segments keep their (valid) percent-encoding.
    ok(
        "example.com:user%20x",
        "https://example.com/user%20x/did.json",
    );
    // IDNA: percent-encoded UTF-8 host becomes punycode.
    ok(
        "b%C3%BCcher.example",
        "https://xn--bcher-kva.example/.well-known/did.json",
    );
}

#[test]
fn malformed_did_web_ids_are_invalid() {
    let default = WebResolverConfig::default();
    for msi in [
        "",                         // nothing
        "example.com:",             // empty trailing segment (DID Core §3.1)
        ":example.com",             // empty host
        "example.com::alice",       // empty path segment
        "%3A3000",                  // port without host
        "example.com%3A",           // empty port
        "example.com%3A0",          // port 0
        "example.com%3A65536",      // port out of range
        "example.com%3Ahttp",       // non-numeric port
        "example.com%3A80%3A90",    // two ports
        "example.com%3",            // truncated percent-escape
        "example.com%zz",           // bad percent-escape
        "exa mple.com",             // not an idchar
        "[::1]",                    // '[' is not an idchar: write it %5B
        "example.com/evil",         // '/' is not an idchar
        "example.com%2Fevil",       // encoded '/' in the host
        "user%40example.com",       // userinfo smuggled into the host
        "example.com%23frag",       // encoded '#' in the host
        "example.com:..:admin",     // dot segment
        "example.com:%2E%2E:admin", // encoded dot segment (WHATWG treats it as "..")
        "example.com:a%2Fb",        // encoded '/' in a path segment
        "example.com%FF",           // host is not UTF-8
    ] {
        check_url(msi, &default, Err(Kind::InvalidDid));
    }
}

// --- Address policy ----------------------------------------------------

#[test]
fn literal_ip_hosts_are_refused_before_connecting() {
    let default = WebResolverConfig::default();
    let forbidden = |msi| check_url(msi, &default, Err(Kind::ForbiddenTarget));
    forbidden("127.0.0.1");
    forbidden("127.0.0.1%3A8080");
    forbidden("10.0.0.1");
    forbidden("169.254.169.254:latest:meta-data"); // cloud metadata endpoint
    forbidden("0x7f.1"); // WHATWG parses this as 127.0.0.1
    forbidden("2130706433"); // and this
    forbidden("%5B%3A%3A1%5D"); // [::1]
    forbidden("%5B%3A%3A1%5D%3A8443"); // [::1]:8443
    forbidden("%5B%3A%3Affff%3A127.0.0.1%5D"); // [::ffff:127.0.0.1]
    forbidden("%5Bfd00%3A%3A1%5D"); // ULA
    // A public IP is not forbidden as a target, but did:web §3.1 says the
    // method-specific id MUST NOT include IP addresses.
    check_url("1.1.1.1", &default, Err(Kind::InvalidDid));
    check_url(
        "%5B2606%3A4700%3A%3A1111%5D",
        &default,
        Err(Kind::InvalidDid),
    );
    // Local development: allowed only when configured.
    check_url(
        "127.0.0.1%3A8080",
        &local_config(),
        Ok("http://127.0.0.1:8080/.well-known/did.json"),
    );
    check_url(
        "%5B%3A%3A1%5D%3A8080:a",
        &local_config(),
        Ok("http://[::1]:8080/a/did.json"),
    );
}

#[track_caller]
fn check_ip(ip: &str, forbidden: bool) {
    let parsed: IpAddr = ip.parse().expect("test IP parses");
    assert_eq!(is_forbidden_ip(parsed), forbidden, "{ip}");
}

#[test]
fn ipv4_classification() {
    for ip in [
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        check_ip(ip, true);
    }
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.1",
        "192.169.0.1",
        "198.20.0.1",
        "223.255.255.255",
    ] {
        check_ip(ip, false);
    }
}

#[test]
fn ipv6_classification() {
    for ip in [
        "::",
        "::1",
        "::127.0.0.1", // IPv4-compatible (deprecated)
        "100::1",
        "64:ff9b:1::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "2001::1",   // Teredo
        "2001:2::1", // benchmarking
        "2001:10::1",
        "2001:db8::1",
        "3fff::1",
        "4000::1", // outside 2000::/3
    ] {
        check_ip(ip, true);
    }
    for ip in [
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "2001:4860:4860::8888",
        "3ffe::1",
    ] {
        check_ip(ip, false);
    }
}

#[test]
fn ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4() {
    // IPv4-mapped: the OS connects to the embedded address.
    check_ip("::ffff:127.0.0.1", true);
    check_ip("::ffff:10.0.0.1", true);
    check_ip("::ffff:169.254.169.254", true);
    check_ip("::ffff:8.8.8.8", false);
    // NAT64 (RFC 6052) and 6to4 (RFC 3056) gateways reach the embedded address.
    check_ip("64:ff9b::7f00:1", true);
    check_ip("64:ff9b::808:808", false);
    check_ip("2002:c0a8:101::1", true); // 192.168.1.1
    check_ip("2002:808:808::1", false);
}

// --- Fetching --------------------------------------------------------------

/// A local HTTP server whose every request is answered by `answer` and
/// whose request paths are recorded.
struct TestServer {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start<F, Fut>(answer: F) -> Self
    where
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        let app = Router::new().fallback(move |uri: Uri| {
            seen.lock().expect("paths lock").push(uri.path().to_owned());
            answer()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        // Ends with the test's runtime.
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, paths }
    }

    fn did(&self) -> (String, String) {
        let msi = format!("127.0.0.1%3A{}", self.port);
        (format!("did:web:{msi}"), msi)
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("paths lock").clone()
    }

    async fn resolve(&self, config: WebResolverConfig) -> Result<Value, WebError> {
        let (did, msi) = self.did();
        WebResolver::new(config).resolve(&did, &msi).await
    }
}

/// The spec's example DID document with its ids moved to `did`.
fn example_document_for(did: &str) -> Value {
    let text = spec_examples()["example_did_documents"][0].to_string();
    serde_json::from_str(&text.replace("did:web:example.com", did)).expect("JSON")
}

/// Serves one document, set after the server's port (and so its DID) is known.
async fn document_server() -> (TestServer, Arc<Mutex<Value>>) {
    let document = Arc::new(Mutex::new(Value::Null));
    let served = document.clone();
    let server = TestServer::start(move || {
        let body = served.lock().expect("lock").clone();
        async move { axum::Json(body).into_response() }
    })
    .await;
    (server, document)
}

#[track_caller]
fn set(document: &Mutex<Value>, value: Value) {
    *document.lock().expect("lock") = value;
}

#[tokio::test]
async fn fetches_a_host_did_from_the_well_known_path() {
    let (server, document) = document_server().await;
    let (did, msi) = server.did();
    set(&document, example_document_for(&did));
    let resolved = WebResolver::new(local_config())
        .resolve(&did, &msi)
        .await
        .expect("resolves");
    assert_eq!(resolved, example_document_for(&did));
    assert_eq!(server.paths(), ["/.well-known/did.json"]);
}

#[tokio::test]
async fn fetches_a_path_did_from_its_path() {
    let (server, document) = document_server().await;
    let msi = format!("127.0.0.1%3A{}:user:alice", server.port);
    let did = format!("did:web:{msi}");
    set(&document, example_document_for(&did));
    let resolved = WebResolver::new(local_config())
        .resolve(&did, &msi)
        .await
        .expect("resolves");
    assert_eq!(resolved, example_document_for(&did));
    assert_eq!(server.paths(), ["/user/alice/did.json"]);
}

#[tokio::test]
async fn localhost_is_refused_by_the_dns_filter() {
    // Default config: https://localhost/... is refused at DNS time, so no
    // connection is attempted at all.
    let err = WebResolver::new(WebResolverConfig::default())
        .resolve("did:web:localhost", "localhost")
        .await
        .expect_err("loopback");
    assert_eq!(kind(&err), Kind::ForbiddenTarget, "{err}");

    // With http allowed and a live server on loopback: still refused, and
    // the server never sees a request.
    let server = TestServer::start(|| async { StatusCode::OK.into_response() }).await;
    let msi = format!("localhost%3A{}", server.port);
    let config = WebResolverConfig {
        allow_http: true,
        ..Default::default()
    };
    let err = WebResolver::new(config)
        .resolve(&format!("did:web:{msi}"), &msi)
        .await
        .expect_err("loopback");
    assert_eq!(kind(&err), Kind::ForbiddenTarget, "{err}");
    assert!(server.paths().is_empty());
}

/// Regression (issue 8, item 11): a refused or failed did:web answered with the addresses an
/// internal name resolves to (`did:web:db.corp.internal` gave its IP). `localhost` stands in
/// for an internal name that resolves.
#[tokio::test]
async fn errors_do_not_reveal_the_addresses_a_name_resolves_to() {
    let reveals = |text: &str| text.contains("127.0.0.1") || text.contains("::1");
    let err = WebResolver::new(WebResolverConfig::default())
        .resolve("did:web:localhost", "localhost")
        .await
        .expect_err("loopback");
    assert_eq!(kind(&err), Kind::ForbiddenTarget, "{err}");
    assert!(!reveals(&err.to_string()), "{err}");

    // Allowed to connect (as in tests), to a port nobody listens on: the failure is reported
    // without the addresses tried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let msi = format!("localhost%3A{port}");
    let err = WebResolver::new(local_config())
        .resolve(&format!("did:web:{msi}"), &msi)
        .await
        .expect_err("nobody listens");
    assert_eq!(kind(&err), Kind::Unreachable, "{err}");
    assert!(!reveals(&err.to_string()), "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn private_literal_targets_are_refused_by_resolve() {
    let resolver = WebResolver::new(WebResolverConfig {
        allow_http: true,
        ..Default::default()
    });
    for msi in [
        "127.0.0.1",
        "10.0.0.1",
        "%5B%3A%3A1%5D",
        "%5B%3A%3Affff%3A127.0.0.1%5D",
    ] {
        let err = resolver
            .resolve(&format!("did:web:{msi}"), msi)
            .await
            .expect_err(msi);
        assert_eq!(kind(&err), Kind::ForbiddenTarget, "{msi}: {err}");
    }
}

#[tokio::test]
async fn plain_http_is_not_used_unless_allowed() {
    let server = TestServer::start(|| async { StatusCode::OK.into_response() }).await;
    let config = WebResolverConfig {
        allow_private_targets: true,
        ..Default::default()
    };
    // The client speaks TLS to the plain-http server, which fails: no
    // plain-http request reaches it.
    let err = server.resolve(config).await.expect_err("https only");
    assert_eq!(kind(&err), Kind::Unreachable, "{err}");
    assert!(server.paths().is_empty());
}

#[tokio::test]
async fn did_and_method_specific_id_must_agree() {
    let resolver = WebResolver::new(WebResolverConfig::default());
    let err = resolver
        .resolve("did:web:example.org", "example.com")
        .await
        .expect_err("mismatch");
    assert_eq!(kind(&err), Kind::InvalidDid, "{err}");
}

#[tokio::test]
async fn a_document_for_another_did_is_refused() {
    // The spec's example document, unchanged: its id is did:web:example.com.
    let server = TestServer::start(|| async {
        axum::Json(spec_examples()["example_did_documents"][0].clone()).into_response()
    })
    .await;
    let err = server.resolve(local_config()).await.expect_err("wrong id");
    assert_eq!(kind(&err), Kind::InvalidDocument, "{err}");
}

#[tokio::test]
async fn bodies_that_are_not_did_documents_are_refused() {
    for body in [
        "not json",
        "[1,2]",
        r#"{"@context":"https://www.w3.org/ns/did/v1"}"#,
        r#"{"id":7}"#,
    ] {
        let server = TestServer::start(move || async move { body.into_response() }).await;
        let err = server.resolve(local_config()).await.expect_err(body);
        assert_eq!(kind(&err), Kind::InvalidDocument, "{body}: {err}");
    }
}

#[tokio::test]
async fn oversized_body_with_content_length_is_refused() {
    let server = TestServer::start(|| async {
        let padding = "x".repeat(2048);
        axum::Json(json!({ "id": "ignored", "padding": padding })).into_response()
    })
    .await;
    let config = WebResolverConfig {
        max_body_bytes: 1024,
        ..local_config()
    };
    let err = server.resolve(config).await.expect_err("too large");
    assert!(
        matches!(&err, WebError::InvalidDocument(m) if m.contains("Content-Length")),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_streamed_body_is_cut_off() {
    // Chunked, no Content-Length; bounded at 8 MiB so a client that read it
    // all would still finish, and the test would fail on the error kind.
    let server = TestServer::start(|| async {
        let chunks =
            futures::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![b' '; 1024])))
                .take(8 * 1024);
        Body::from_stream(chunks).into_response()
    })
    .await;
    let config = WebResolverConfig {
        max_body_bytes: 4096,
        ..local_config()
    };
    let err = server.resolve(config).await.expect_err("too large");
    assert!(
        matches!(&err, WebError::InvalidDocument(m) if m.contains("larger than 4096")),
        "{err}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = TestServer::start(|| async {
        (
            StatusCode::FOUND,
            [(header::LOCATION, "/elsewhere/did.json")],
        )
            .into_response()
    })
    .await;
    let err = server.resolve(local_config()).await.expect_err("redirect");
    assert!(
        matches!(&err, WebError::Unreachable(m) if m == "redirects are not followed"),
        "{err}"
    );
    assert_eq!(
        server.paths(),
        ["/.well-known/did.json"],
        "Location was not fetched"
    );
}

#[tokio::test]
async fn http_status_maps_to_error_kind() {
    for (status, want) in [
        (StatusCode::NOT_FOUND, Kind::NotFound),
        (StatusCode::GONE, Kind::NotFound),
        (StatusCode::FORBIDDEN, Kind::Unreachable),
        (StatusCode::INTERNAL_SERVER_ERROR, Kind::Unreachable),
        (StatusCode::NOT_MODIFIED, Kind::Unreachable),
    ] {
        let server = TestServer::start(move || async move { status.into_response() }).await;
        let err = server
            .resolve(local_config())
            .await
            .expect_err("error status");
        assert_eq!(kind(&err), want, "{status}: {err}");
    }
}

#[track_caller]
fn assert_timed_out(result: Result<Value, WebError>, started: Instant, limit: Duration) {
    let elapsed = started.elapsed();
    let err = result.expect_err("timeout");
    assert!(
        matches!(&err, WebError::Unreachable(m) if m.contains("timed out")),
        "{err}"
    );
    assert!(elapsed >= limit, "gave up early: {elapsed:?}");
    assert!(elapsed < limit + Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = TestServer::start(std::future::pending::<Response>).await;
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let result = server
        .resolve(WebResolverConfig {
            timeout: limit,
            ..local_config()
        })
        .await;
    assert_timed_out(result, started, limit);
}

#[tokio::test]
async fn a_body_that_never_ends_times_out() {
    // Headers arrive at once; the body stalls after one byte. The timeout
    // covers the whole request, not just the headers.
    let server = TestServer::start(|| async {
        let first = futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"{")) });
        Body::from_stream(first.chain(futures::stream::pending())).into_response()
    })
    .await;
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let result = server
        .resolve(WebResolverConfig {
            timeout: limit,
            ..local_config()
        })
        .await;
    assert_timed_out(result, started, limit);
}
