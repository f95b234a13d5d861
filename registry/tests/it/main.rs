//! Integration tests of credence-registry, one binary (see CONVENTIONS.md).

mod web;
