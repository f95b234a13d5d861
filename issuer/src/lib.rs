//! credence-issuer: how an agency (a tenant of the issuer service) turns claims into verifiable
//! credentials and manages their status. The library part, pure and synchronous: no HTTP, no
//! database, no clock (every function that needs the time takes `now`).
//!
//! What exists:
//! - [`sd_jwt`]: IETF SD-JWT VC (`dc+sd-jwt`) issuance: selectively disclosable claims (top
//!   level, nested, array elements, recursive), decoy digests, sorted `_sd` arrays, `cnf.jwk`
//!   holder binding, `status.status_list` Token Status List reference.
//! - [`vc_jwt`]: W3C VCDM 2.0 credentials secured as VC-JOSE-COSE `vc+jwt`, with
//!   `BitstringStatusListEntry` status.
//! - [`status`]: the issuer's status lists: random index allocation without reuse, valid /
//!   invalid / suspended, and the signed lists the registry hosts (`statuslist+jwt` and
//!   `BitstringStatusListCredential` as `vc+jwt`).
//! - [`jws`]: the issuer's signing key ([`jws::IssuerKey`], [`jws::Kid`]) and compact JWS
//!   assembly; signatures come from `credence_registry::keys`.
//! - [`claims`]: the open claim set ([`claims::Claims`]) and JSON Pointer claim paths.
//!
//! Not built yet (issue 11): tenants, key storage, credential types and schema validation,
//! Data Integrity proofs, the record of issuance, republishing lists, OpenID4VCI, the HTTP API
//! and the CLI. This crate depends only on `credence-registry` (keys, DIDs, the registry's
//! status-list rules) and never on the verifier.

pub mod claims;
pub mod jws;
pub mod oid4vci;
pub mod sd_jwt;
pub mod status;
pub mod vc_jwt;
