//! did:web resolution: maps a did:web method-specific id to its HTTPS URL
//! (did:web §3.2) and fetches the DID document from it, SSRF-safe.
//!
//! Owns: did:web syntax checks, the URL mapping, the IP-address policy
//! ([`is_forbidden_ip`]), and the one HTTP client used for did:web fetches.
//!
//! Must not: follow redirects, use a proxy, connect to loopback / private /
//! link-local / otherwise non-public addresses (unless the config allows it),
//! read an unbounded body, or wait unboundedly. It also must not use ssi's
//! did:web resolver, which does all of those. It does not interpret the DID
//! document beyond checking that it is a JSON object whose `id` is the DID.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

/// Policy and limits for did:web fetches.
#[derive(Clone, Debug)]
pub struct WebResolverConfig {
    /// Allow plain http:// (tests, local dev). Default false: https only.
    /// When true, [`did_web_url`] maps DIDs to `http://` URLs.
    pub allow_http: bool,
    /// Allow loopback, private (RFC 1918, ULA fc00::/7), link-local,
    /// unspecified, CGNAT 100.64/10, multicast, broadcast, documentation,
    /// IPv4-mapped forms of these, and the other non-public ranges listed in
    /// [`is_forbidden_ip`]. Default false. When true, IP-address hosts (which
    /// did:web §3.1 forbids) are also accepted, for local tests.
    pub allow_private_targets: bool,
    /// Whole-request time limit: DNS, connect, TLS, headers and body.
    /// Default 5 s.
    pub timeout: Duration,
    /// Largest DID document accepted, in bytes. Default 256 KiB.
    pub max_body_bytes: usize,
}

impl Default for WebResolverConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private_targets: false,
            timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
        }
    }
}

/// Why a did:web resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The DID is not a syntactically valid did:web (bad host, bad
    /// percent-encoded port, empty path segment, etc.)
    #[error("invalid did:web: {0}")]
    InvalidDid(String),
    /// Target host resolves to (or is) an address the config forbids; or
    /// scheme not allowed.
    #[error("forbidden did:web target: {0}")]
    ForbiddenTarget(String),
    /// HTTP 404/410 from the server.
    #[error("DID document not found: {0}")]
    NotFound(String),
    /// Network error, timeout, non-2xx other than 404/410, redirect attempted.
    #[error("did:web host unreachable: {0}")]
    Unreachable(String),
    /// Body too large, not JSON, JSON whose `id` is not the DID.
    #[error("invalid DID document: {0}")]
    InvalidDocument(String),
}

/// True if `ip` must not be fetched from unless `allow_private_targets` is set:
/// anything that is not plainly a public unicast address.
///
/// IPv6 forms that embed an IPv4 address a host or gateway would actually
/// reach (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by that IPv4 address.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    // IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates).
    a == 0                                   // 0.0.0.0/8 "this network", incl. unspecified
        || a == 10                           // 10/8 private (RFC 1918)
        || (a == 100 && (64..=127).contains(&b)) // 100.64/10 CGNAT (RFC 6598)
        || a == 127                          // 127/8 loopback
        || (a == 169 && b == 254)            // 169.254/16 link-local (cloud metadata lives here)
        || (a == 172 && (16..=31).contains(&b)) // 172.16/12 private
        || (a == 192 && b == 0 && c == 0)    // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)    // 192.0.2/24 TEST-NET-1
        || (a == 192 && b == 88 && c == 99)  // 192.88.99/24 6to4 relay anycast (RFC 7526)
        || (a == 192 && b == 168)            // 192.168/16 private
        || (a == 198 && (b == 18 || b == 19)) // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // 198.51.100/24 TEST-NET-2
        || (a == 203 && b == 0 && c == 113)  // 203.0.113/24 TEST-NET-3
        || a >= 224 // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:a.b.c.d (IPv4-mapped): the OS connects to a.b.c.d itself.
    if s[..6] == [0, 0, 0, 0, 0, 0xffff] {
        return is_forbidden_v4(embedded_v4(s[6], s[7]));
    }
    // 64:ff9b::a.b.c.d (NAT64 well-known prefix, RFC 6052): DNS64 networks
    // hand these out for public IPv4-only hosts; the gateway reaches a.b.c.d.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_forbidden_v4(embedded_v4(s[6], s[7]));
    }
    // 2002:AABB:CCDD::/48 (6to4, RFC 3056): relays reach AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return is_forbidden_v4(embedded_v4(s[1], s[2]));
    }
    // Everything outside global unicast 2000::/3 is non-public: ::, ::1,
    // ::/96 IPv4-compatible, 100::/64 discard, 64:ff9b:1::/48 local NAT64,
    // fc00::/7 ULA, fe80::/10 link-local, fec0::/10 site-local, ff00::/8
    // multicast, and the unassigned rest.
    if s[0] & 0xe000 != 0x2000 {
        return true;
    }
    // Non-public blocks inside 2000::/3.
    (s[0] == 0x2001 && s[1] == 0) // 2001::/32 Teredo (tunnels to an embedded IPv4)
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // 2001:2::/48 benchmarking
        || (s[0] == 0x2001 && (0x0010..=0x002f).contains(&s[1])) // 2001:10::/28, 2001:20::/28 ORCHID
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20 documentation (RFC 9637)
}

/// did:web method-specific id -> URL per the did:web spec §3.2 (":" -> "/",
/// "%3A" port, default path /.well-known/did.json, else <path>/did.json).
///
/// Also enforces the config's scheme and IP-address policy on hosts written
/// as IP literals (these never reach the DNS filter).
pub fn did_web_url(method_specific_id: &str, config: &WebResolverConfig) -> Result<Url, WebError> {
    let invalid = |why: &str| WebError::InvalidDid(format!("{why}: {method_specific_id:?}"));

    if method_specific_id.is_empty() {
        return Err(invalid("empty method-specific id"));
    }
    let mut segments = method_specific_id.split(':');
    let host_segment = segments.next().unwrap_or_default();
    let path_segments: Vec<&str> = segments.collect();

    // DID Core §3.1: method-specific-id = *( *idchar ":" ) 1*idchar, so no
    // segment may be empty (this also rejects a leading or trailing ':').
    for segment in std::iter::once(host_segment).chain(path_segments.iter().copied()) {
        if segment.is_empty() {
            return Err(invalid("empty segment"));
        }
        if !is_idchars(segment) {
            return Err(invalid(
                "character outside DID idchar or bad percent-encoding",
            ));
        }
    }

    // did:web §3.2 step 2: percent-decode the host segment (the port colon
    // is written "%3A" so it is not taken for a path separator).
    let decoded_host = percent_decode(host_segment)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid("host is not percent-encoded UTF-8"))?;
    let (host_str, port) =
        split_host_port(&decoded_host).ok_or_else(|| invalid("bad host or port"))?;
    // WHATWG host parsing: IDNA to ASCII, rejects forbidden code points
    // ('/', '@', '%', ...), and normalises IPv4 spellings like "0x7f.1"
    // so the literal-IP check below cannot be dodged.
    // (It also refuses an empty host.)
    let host = Host::parse(host_str).map_err(|e| invalid(&format!("bad host ({e})")))?;

    let mut path = String::new();
    for segment in &path_segments {
        // A "." / ".." segment (plain or percent-encoded, which WHATWG URL
        // parsing also treats as dot segments) or an encoded '/' or '\'
        // would let the DID point at a different path than it spells.
        let decoded = percent_decode(segment).unwrap_or_default();
        if decoded == b"." || decoded == b".." || decoded.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(invalid(
                "path segment is a dot segment or contains an encoded slash",
            ));
        }
        // Segments keep their percent-encoding: they are URL path text.
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        // did:web §3.2 step 4: no path -> /.well-known
        path.push_str("/.well-known");
    }
    // did:web §3.2 step 5
    path.push_str("/did.json");

    // did:web §3.2 step 3 says https; plain http only when configured.
    let scheme = if config.allow_http { "http" } else { "https" };
    let authority = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let url = Url::parse(&format!("{scheme}://{authority}{path}"))
        .map_err(|e| invalid(&format!("does not map to a URL ({e})")))?;
    check_url(&url, config)?;
    Ok(url)
}

/// DID Core §3.1 idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded.
fn is_idchars(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => i += 1,
            b'%' if bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                i += 3
            }
            _ => return false,
        }
    }
    true
}

/// RFC 3986 §2.1 percent-decoding; `None` on a malformed escape. Written
/// here (a dozen lines) rather than adding the percent-encoding crate as a
/// direct dependency; the resolver route decodes DID URLs with it too.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Splits "host", "host:port", "[v6]" or "[v6]:port". The port must be
/// 1..=65535 in plain decimal.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, rest) = if s.starts_with('[') {
        let end = s.find(']')?;
        s.split_at(end + 1)
    } else {
        match s.find(':') {
            Some(colon) => s.split_at(colon),
            None => (s, ""),
        }
    };
    if rest.is_empty() {
        return Some((host, None));
    }
    let digits = rest.strip_prefix(':')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(port) => Some((host, Some(port))),
    }
}

/// Scheme and literal-IP policy. Domain names are checked at connect time by
/// [`FilteringDns`]; IP literals never reach a resolver, so they are
/// checked here, before any connection.
fn check_url(url: &Url, config: &WebResolverConfig) -> Result<(), WebError> {
    match url.scheme() {
        "https" => {}
        "http" if config.allow_http => {}
        other => {
            return Err(WebError::ForbiddenTarget(format!(
                "scheme {other:?} not allowed: {url}"
            )));
        }
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(WebError::InvalidDid(format!("URL has no host: {url}"))),
    };
    if config.allow_private_targets {
        return Ok(());
    }
    if is_forbidden_ip(ip) {
        return Err(WebError::ForbiddenTarget(format!(
            "non-public address {ip}"
        )));
    }
    // did:web §3.1: the method-specific id "MUST NOT include IP addresses".
    Err(WebError::InvalidDid(format!(
        "did:web host must be a domain name, not IP address {ip}"
    )))
}

/// The resolver's DNS filter refused every address of a name. Found again in
/// reqwest's error source chain to report ForbiddenTarget.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BlockedTarget(String);

/// DNS resolver for the client: resolves with the system resolver and drops
/// forbidden addresses, so that the address checked is the address connected
/// to (no DNS-rebinding window between a check and the connect).
#[derive(Debug)]
struct FilteringDns {
    allow_private_targets: bool,
}

impl reqwest::dns::Resolve for FilteringDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private_targets = self.allow_private_targets;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's (or the scheme's) port.
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|addr| allow_private_targets || !is_forbidden_ip(addr.ip()))
                .collect();
            if allowed.is_empty() {
                // The addresses stay in the operator's log: telling a client what an internal
                // name resolves to would map the server's network for it.
                let ips: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                tracing::info!(%host, addresses = %ips.join(", "), "did:web host refused: non-public addresses only");
                let msg = format!("{host} resolves only to non-public addresses");
                return Err(Box::new(BlockedTarget(msg)) as Box<dyn StdError + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client with the did:web fetcher's address policy, for other URLs that a document
/// a party sent names (a credential's status list): no redirects, no proxy, `timeout`, and,
/// unless `allow_private_targets`, a DNS resolver that drops non-public addresses, so the
/// address checked is the address connected to. An IP-literal URL is not resolved through
/// DNS: check it with [`check_public_target`] before the request.
pub fn public_http_client(
    allow_private_targets: bool,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .dns_resolver(FilteringDns {
            allow_private_targets,
        })
        .build()
        .map_err(|e| error_chain(&e))
}

/// Refuses a URL whose host is a non-public IP literal (loopback, private, link-local, ...),
/// unless `allow_private_targets`: the half of the address policy DNS filtering cannot see.
pub fn check_public_target(url: &str, allow_private_targets: bool) -> Result<(), String> {
    let url = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(format!("{url} has no host")),
    };
    if !allow_private_targets && is_forbidden_ip(ip) {
        return Err(format!("{url} is at the non-public address {ip}"));
    }
    Ok(())
}

/// Fetches did:web DID documents. Cheap to clone (shares one connection pool).
#[derive(Clone, Debug)]
pub struct WebResolver {
    config: WebResolverConfig,
    /// Built once in `new`. Building only fails if the TLS backend cannot be
    /// set up; that is reported from `resolve` instead of panicking.
    client: Result<reqwest::Client, Arc<str>>,
}

impl WebResolver {
    /// Builds the HTTP client: no redirects, no proxy, the config's timeout,
    /// and the filtering DNS resolver.
    pub fn new(config: WebResolverConfig) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .dns_resolver(FilteringDns {
                allow_private_targets: config.allow_private_targets,
            })
            .user_agent(concat!(
                "credence-registry/",
                env!("CARGO_PKG_VERSION"),
                " did:web"
            ))
            .build()
            .map_err(|e| Arc::from(error_chain(&e)));
        Self { config, client }
    }

    /// Fetches and returns the DID document JSON, checking that its "id"
    /// equals `did`.
    pub async fn resolve(
        &self,
        did: &str,
        method_specific_id: &str,
    ) -> Result<serde_json::Value, WebError> {
        // The `id` check below is only meaningful if `did` is the DID whose
        // URL we fetch.
        if did.strip_prefix("did:web:") != Some(method_specific_id) {
            return Err(WebError::InvalidDid(format!(
                "{did:?} is not did:web:{method_specific_id}"
            )));
        }
        let url = did_web_url(method_specific_id, &self.config)?;
        // reqwest's timeout already covers the body; this outer bound also
        // covers our own work and is the single source of the timeout error.
        match tokio::time::timeout(self.config.timeout, self.fetch(did, url)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(self.config.timeout)),
        }
    }

    async fn fetch(&self, did: &str, url: Url) -> Result<serde_json::Value, WebError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| WebError::Unreachable(format!("HTTP client unavailable: {e}")))?;
        check_url(&url, &self.config)?;

        let mut response = client
            .get(url.clone())
            // application/did+json is DID Core's JSON media type; plain JSON
            // is what most static hosts serve.
            .header(
                reqwest::header::ACCEPT,
                "application/did+json, application/json;q=0.9",
            )
            .send()
            .await
            .map_err(|e| self.map_reqwest_error(&e))?;

        let status = response.status();
        if status.is_redirection() {
            // A redirect could point anywhere (http, an internal host); the
            // DID names the one URL we are willing to read.
            return Err(WebError::Unreachable("redirects are not followed".into()));
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(WebError::NotFound(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(WebError::Unreachable(format!("{url} answered {status}")));
        }

        let max = self.config.max_body_bytes;
        // Refuse early on an honest Content-Length; the streaming cap below
        // handles chunked or lying servers.
        if let Some(len) = response.content_length().filter(|&len| len > max as u64) {
            return Err(WebError::InvalidDocument(format!(
                "Content-Length {len} exceeds the {max}-byte limit"
            )));
        }
        let mut body = Vec::new();
        // Read chunk by chunk so at most one chunk past the limit is held.
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.map_reqwest_error(&e))?
        {
            if body.len() + chunk.len() > max {
                return Err(WebError::InvalidDocument(format!(
                    "body larger than {max} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }

        let document: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| WebError::InvalidDocument(format!("not JSON: {e}")))?;
        let Some(object) = document.as_object() else {
            return Err(WebError::InvalidDocument("not a JSON object".into()));
        };
        // DID Core §5.1.1: `id` names the DID subject, which must be the DID
        // we resolved, or this host is answering for someone else's DID.
        match object.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if id == did => Ok(document),
            Some(id) => Err(WebError::InvalidDocument(format!(
                "id {id:?} is not {did:?}"
            ))),
            None => Err(WebError::InvalidDocument("no string \"id\"".into())),
        }
    }

    fn map_reqwest_error(&self, err: &reqwest::Error) -> WebError {
        let mut source: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = source {
            if let Some(blocked) = e.downcast_ref::<BlockedTarget>() {
                return WebError::ForbiddenTarget(blocked.0.clone());
            }
            source = e.source();
        }
        if err.is_timeout() {
            return timed_out(self.config.timeout);
        }
        if err.is_redirect() {
            return WebError::Unreachable("redirects are not followed".into());
        }
        // The cause chain can name the addresses connected to and other details of the
        // server's network (resolver errors, TLS peer names): it goes to the log, and the
        // client gets the kind of failure and the URL its DID maps to.
        let url = err
            .url()
            .map_or_else(|| "the did:web URL".to_owned(), ToString::to_string);
        tracing::info!(cause = %error_chain(err), %url, "did:web fetch failed");
        let what = if err.is_connect() {
            "could not connect to"
        } else if err.is_body() || err.is_decode() {
            "could not read the answer of"
        } else {
            "the request failed for"
        };
        WebError::Unreachable(format!("{what} {url}"))
    }
}

fn timed_out(limit: Duration) -> WebError {
    WebError::Unreachable(format!("timed out after {limit:?}"))
}

/// "outer: inner: innermost" — reqwest's own Display omits the cause.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
