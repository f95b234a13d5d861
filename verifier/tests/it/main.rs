//! The verifier's one test binary: the IETF SD-JWT vectors and their negative set, Wycheproof
//! edge cases through the strict signature path, tampered presentations one line each, and the
//! registry-backed steps against a real registry on loopback; `vc+jwt` credentials the issuer
//! crate makes and `vp+jwt` presentations of them; the W3C VC API routes and OpenID4VP (with the `server` feature).

// The API token generated when none is configured (feature `server`).
#[cfg(feature = "server")]
mod api_token;
// OpenID4VP with DCQL (feature `server`).
#[cfg(feature = "server")]
mod openid4vp;
// Data Integrity eddsa-rdfc-2022 credentials and presentations.
mod data_integrity;
// The direct_post.jwt JWE against jwcrypto.
mod jwe_interop;
mod registry;
mod support;
mod tampered;
// The W3C VC API routes: `cargo test -p credence-verifier --features server`.
#[cfg(feature = "server")]
mod vc_api;
mod vc_jwt;
mod vectors;
mod vp_jwt;
mod wycheproof;
mod x509;
