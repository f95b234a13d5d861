//! The wallet's one HTTP policy, shared by the OpenID4VCI and OpenID4VP clients: which URLs a
//! document sent by an issuer or a verifier may make the wallet fetch or post to, and the HTTP
//! client that enforces the half of it a URL alone cannot show.
//!
//! An offer, an issuer's metadata or a verifier's request object are written by someone else;
//! each URL in them is a request the citizen's device would make on that party's behalf. So,
//! like the registry's did:web resolver: https only, and no loopback, private or link-local
//! target — checked on the URL for IP literals ([`check_target`]) and at DNS resolution for
//! host names ([`client`], the resolver's filtering DNS), so the address checked is the address
//! connected to. `allow_insecure` lifts both, for loopback tests and demos only. What this must
//! not do: follow redirects (a public URL redirecting to a private one would undo the check).

use std::time::Duration;

use url::Url;

/// Total time limit of one request to an issuer or a verifier.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRefused {
    /// Not https (and insecure URLs were not allowed).
    Insecure,
    /// An IP literal at a loopback, private or link-local address; the reason names it.
    PrivateAddress(String),
}

/// Checks `url` against the policy: https, and not an IP literal at a non-public address,
/// unless `allow_insecure`.
pub fn check_target(url: &Url, allow_insecure: bool) -> Result<(), TargetRefused> {
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(TargetRefused::Insecure),
    }
    credence_registry::resolver::web::check_public_target(url.as_str(), allow_insecure)
        .map_err(TargetRefused::PrivateAddress)
}

/// The HTTP client the protocol clients use: rustls, no redirects, no proxy, a time limit, and
/// (unless `allow_insecure`) a DNS resolver that drops non-public addresses, so a host name
/// pointing at the citizen's home router is refused at connection time.
pub fn client(allow_insecure: bool) -> Result<reqwest::Client, String> {
    credence_registry::resolver::web::public_http_client(allow_insecure, TIMEOUT)
}
