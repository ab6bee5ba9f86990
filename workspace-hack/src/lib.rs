//! No code: a workspace member whose only job is its `[dependencies]`' features.
//!
//! Cargo's feature resolver unifies features over the packages it builds, and `cargo test`
//! also builds dev-dependencies, which turn on extra features in crates the plugins and the
//! host share. Those crates, and every crate above them, then compile twice on a fresh machine:
//! once for `scripts/build-plugins`, once for the tests. Listing the union here makes both
//! builds resolve the same graph (the pattern `cargo hakari` automates), so CI compiles the
//! dependency graph once.
