//! The verifier's one test binary: the IETF SD-JWT vectors and their negative set, Wycheproof
//! edge cases through the strict signature path, tampered presentations one line each, and the
//! registry-backed steps against a real registry on loopback.

mod registry;
mod support;
mod tampered;
mod vectors;
mod wycheproof;
