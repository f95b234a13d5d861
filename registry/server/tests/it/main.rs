//! Integration tests of credence-registry: one test binary (CONVENTIONS.md), one module per
//! feature. PostgreSQL halves run when CREDENCE_TEST_DATABASE_URL names a database.

mod audit;
mod concurrency;
mod did_key;
mod hardening;
mod http;
mod log;
mod malicious;
mod ops;
mod owner;
mod resolution;
mod schemas;
mod serving;
mod ssi;
mod status;
mod store;
mod support;
mod trust;
mod web;
mod witness;
