//! credence-verifier: the verification pipeline as a library (the wallet uses it to check what
//! it receives; the verifier service renders its reports). For every format the same named
//! steps: parse, issuer (its DID resolved as of issuance), signature, validity, status,
//! accreditation, schema, holder binding, policy — each reported with a reason a support desk
//! can act on, "invalid" kept apart from "could not check".
//!
//! Code map: [`report`] (the typed report and verdicts), [`jose`] (the JWS rules every JWT
//! format shares, pure), [`sd_jwt`] (SD-JWT / SD-JWT VC, pure), [`vc_jwt`] (VC-JOSE-COSE
//! `vc+jwt`, pure), [`data_integrity`] (Data Integrity `eddsa-rdfc-2022` credentials and
//! presentations: JSON-LD with bundled contexts, RDFC-1.0, pure), [`pipeline`] (the steps in order, the caches, registry and status-list
//! access), and behind the non-default `server` feature `server` (the W3C VC API verify
//! routes, which render a [`report::Report`], and the OpenID4VP service). [`dcql`] (DCQL queries:
//! parsing, the verifier's check, the wallet's matcher, pure), [`openid4vp`] (request objects
//! and response checks, pure), [`jwe`] (ECDH-ES JWE for `direct_post.jwt`, pure) and [`x509`]
//! (X.509 client identifiers of request objects: `x5c` path validation, pure). Built so far:
//! `dc+sd-jwt` with key binding, `vc+jwt` credentials and [`vp_jwt`] (VC-JOSE-COSE `vp+jwt`
//! presentations of them, pure), Data Integrity (`eddsa-rdfc-2022`) credentials and
//! presentations, OpenID4VP with DCQL (several credentials per request). Not yet: other Data
//! Integrity cryptosuites.
//!
//! It depends only on `credence-registry` (never on the issuer, never on a server crate), and
//! reads no clock: `now` is part of [`pipeline::Expectations`].

mod cache;
pub mod client;
pub mod data_integrity;
pub mod dcql;
pub mod jose;
pub mod jwe;
pub mod openid4vp;
pub mod pipeline;
pub mod report;
pub mod sd_jwt;
#[cfg(feature = "server")]
pub mod server;
pub mod vc_jwt;
pub mod vp_jwt;
pub mod x509;

pub use pipeline::{
    Context, Expectations, HolderBinding, Policy, VerifyError, verify_data_integrity,
    verify_data_integrity_presentation, verify_sd_jwt_vc, verify_vc_jwt, verify_vp_jwt,
};
pub use report::{Defect, DisclosedClaims, Outcome, Report, Step, Verdict};
