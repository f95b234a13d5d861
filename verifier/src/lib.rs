//! credence-verifier: the verification pipeline as a library (the wallet uses it to check what
//! it receives; the verifier service renders its reports). For every format the same named
//! steps: parse, issuer (its DID resolved as of issuance), signature, validity, status,
//! accreditation, schema, holder binding, policy — each reported with a reason a support desk
//! can act on, "invalid" kept apart from "could not check".
//!
//! Code map: [`report`] (the typed report and verdicts), [`sd_jwt`] (SD-JWT / SD-JWT VC,
//! pure), [`pipeline`] (the steps in order, the caches, registry and status-list access).
//! Built so far: `dc+sd-jwt` with key binding. Not yet: `vc+jwt`, Data Integrity, OpenID4VP,
//! the W3C VC API routes (they will call [`pipeline`] and render its [`report::Report`]).
//!
//! It depends only on `credence-registry` (never on the issuer, never on a server crate), and
//! reads no clock: `now` is part of [`pipeline::Expectations`].

mod cache;
pub mod pipeline;
pub mod report;
pub mod sd_jwt;

pub use pipeline::{Context, Expectations, HolderBinding, Policy, VerifyError, verify_sd_jwt_vc};
pub use report::{Defect, DisclosedClaims, Outcome, Report, Step, Verdict};
