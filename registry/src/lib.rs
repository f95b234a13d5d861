//! credence-registry: the base crate of Credence, shared by every party that talks to a
//! registry or checks what one says. It carries no server: no store, no HTTP routes, no metrics
//! exporter (the registry operator's half is `credence-registry-server`).
//!
//! IO-free modules: [`did`] (the `Did` newtype), [`json`] (strict JSON intake), [`keys`] (key
//! encodings, strict JWS), [`ops`] (the did:credence method), [`error`] (RFC 9457 problems),
//! [`wire`] (the registry API's types), [`log`] (Merkle log verification), [`status`],
//! [`trust`], [`schemas`] (the checks on what the registry hosts). The [`resolver`] and
//! [`client`] are how other crates reach DIDs and registries; [`proven`], [`replay`] and
//! [`audit`] check that what a registry serves is what its log proves. See ARCHITECTURE.md.

pub mod audit;
pub mod client;
pub mod clock;
pub mod did;
pub mod error;
pub mod ids;
pub mod json;
pub mod keys;
pub mod log;
pub mod ops;
pub mod owner;
pub mod proven;
pub mod replay;
pub mod resolver;
pub mod schemas;
pub mod signed;
pub mod status;
pub mod trust;
pub mod wire;
pub mod witness;
