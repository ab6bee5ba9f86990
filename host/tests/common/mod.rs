//! Shared by the host's integration tests: where the built plugin libraries are.

#![allow(dead_code)]

use std::path::PathBuf;

use diverge::registry;
use diverge_plugins::loader::library_file_name;

/// The built library of `crate_name`, or a panic telling how to build it.
pub fn plugin_file(crate_name: &str) -> PathBuf {
    registry::find(crate_name, &registry::search_dirs(None)).unwrap_or_else(|| {
        panic!(
            "{} not built: run `cargo build --workspace` (scripts/test does) before the tests",
            library_file_name(crate_name)
        )
    })
}
