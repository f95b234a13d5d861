//! credence-issuer: agencies (tenants), their keys and credential types, issuance of W3C
//! verifiable credentials in every supported format, status management (revoke, suspend,
//! reinstate) and OpenID4VCI.
//!
//! Not built yet: this crate exists so the workspace has its final shape. It depends only on
//! `credence-registry` (shared wire types, the resolver and the registry client) and never on
//! the verifier.
