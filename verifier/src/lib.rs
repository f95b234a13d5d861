//! credence-verifier: the verification pipeline (parse, resolve the issuer at the right version,
//! signature, validity, status, accreditation, schema, holder binding, policy), OpenID4VP and the
//! W3C VC API verify endpoints.
//!
//! Not built yet: this crate exists so the workspace has its final shape. It depends only on
//! `credence-registry` and never on the issuer.
