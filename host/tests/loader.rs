//! The host's loader against real plugin libraries: the shared DA suite through the loaded
//! `.so`, each load error with its one-line message, two plugins of one axis in one process,
//! and panics inside a plugin contained at the boundary.

mod common;

use std::io::Write;

use common::plugin_file;
use diverge_plugins::loader::{LoadError, PluginLibrary};
use diverge_plugins::testkit::da_suite;
use diverge_plugins::{Axis, ChainParams, ErrorKind, InitArgs, ABI_VERSION};

fn da_args(chain: ChainParams, params: &str) -> InitArgs {
    InitArgs::new(chain, params)
}

#[test]
fn loaded_rs1d_passes_the_da_suite() {
    let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load da-rs1d");
    assert_eq!(lib.meta().name, "da-rs1d");
    assert_eq!(lib.meta().axis, Axis::Da);
    assert_eq!(lib.meta().abi_version, ABI_VERSION);
    for chain in [ChainParams::tiny(), ChainParams::full()] {
        let da = lib.da(&da_args(chain, "{}")).expect("instantiate");
        da_suite(da.as_ref());
    }
}

#[test]
fn bad_params_are_reported_by_the_plugin() {
    let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load");
    let err = lib
        .da(&da_args(ChainParams::tiny(), r#"{"sampels": 3}"#))
        .err()
        .expect("typo must fail");
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("sampels"), "{err}");
}

#[test]
fn missing_file_names_the_file() {
    let err = PluginLibrary::open(std::path::Path::new("/nonexistent/libda_nothing.so"))
        .expect_err("missing");
    assert!(matches!(err, LoadError::NotFound { .. }));
    let msg = err.to_string();
    assert_eq!(msg, "/nonexistent/libda_nothing.so: plugin file not found");
}

#[test]
fn abi_version_mismatch_names_expected_and_found() {
    let path = plugin_file("diverge-test-abi-mismatch");
    let err = PluginLibrary::open(&path).expect_err("must refuse");
    let msg = err.to_string();
    assert!(matches!(err, LoadError::AbiVersion { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!(
            "expected {ABI_VERSION}, found {}",
            ABI_VERSION + 1
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("libgarbage.so");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(b"\x7fELF but not really"))
        .expect("write");
    let err = PluginLibrary::open(&path).expect_err("must refuse");
    assert!(matches!(err, LoadError::Open { .. }), "{err}");
    assert!(err.to_string().starts_with(&path.display().to_string()));
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused() {
    // Any shared library without the root-module symbol: the C library itself will do.
    let candidates = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
    ];
    let Some(libm) = candidates
        .iter()
        .map(std::path::Path::new)
        .find(|p| p.is_file())
    else {
        panic!("no libm found at {candidates:?}");
    };
    let err = PluginLibrary::open(libm).expect_err("must refuse");
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err}");
    assert!(err.to_string().contains("not a diverge plugin"));
}

#[test]
fn two_plugins_of_one_axis_load_side_by_side() {
    // abi_stable's load_from_file would hand back the first module for the second path; the
    // loader must not.
    let rs = PluginLibrary::open(&plugin_file("da-rs1d")).expect("rs1d");
    let other = PluginLibrary::open(&plugin_file("diverge-test-misbehaving")).expect("fixture");
    assert_eq!(rs.meta().name, "da-rs1d");
    assert_eq!(other.meta().name, "diverge-test-misbehaving");
    let a = rs
        .da(&da_args(ChainParams::tiny(), "{}"))
        .expect("rs1d instance");
    let b = other
        .da(&da_args(ChainParams::tiny(), r#"{"mode": "replicate"}"#))
        .expect("fixture instance");
    let data = b"same bytes, two schemes".to_vec();
    let ea = a.encode(&data).expect("encode a");
    let eb = b.encode(&data).expect("encode b");
    assert_ne!(ea.commitment, eb.commitment, "distinct schemes answered");
    assert_eq!(
        eb.shards[0], data,
        "the replicating fixture answered, not da-rs1d"
    );
    // And again, after both are loaded: the first is still itself.
    let again = PluginLibrary::open(&plugin_file("da-rs1d")).expect("rs1d again");
    assert_eq!(again.meta().name, "da-rs1d");
}

#[test]
fn a_panicking_plugin_becomes_an_error_and_the_host_goes_on() {
    let lib = PluginLibrary::open(&plugin_file("diverge-test-misbehaving")).expect("fixture");

    let err = lib
        .da(&da_args(
            ChainParams::tiny(),
            r#"{"mode": "panic_instantiate"}"#,
        ))
        .err()
        .expect("instantiate panics");
    assert_eq!(err.kind, ErrorKind::Panicked);
    assert!(
        err.message.contains("deliberate panic in instantiate"),
        "{err}"
    );

    let da = lib
        .da(&da_args(ChainParams::tiny(), r#"{"mode": "panic_encode"}"#))
        .expect("instance");
    for _ in 0..3 {
        let err = da.encode(b"x").expect_err("encode panics");
        assert_eq!(err.kind, ErrorKind::Panicked);
    }
    // The process is alive and other plugins still work.
    let rs = PluginLibrary::open(&plugin_file("da-rs1d")).expect("rs1d");
    let ok = rs
        .da(&da_args(ChainParams::tiny(), "{}"))
        .expect("rs1d instance");
    assert!(ok.encode(b"still here").is_ok());
}

#[test]
fn wrong_axis_is_refused() {
    let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("rs1d");
    let err = lib.expect_axis(Axis::Consensus).expect_err("not consensus");
    let msg = err.to_string();
    assert!(
        msg.contains("expected a consensus plugin, found da plugin 'da-rs1d'"),
        "{msg}"
    );
    assert!(lib.consensus(&da_args(ChainParams::tiny(), "{}")).is_err());
}
