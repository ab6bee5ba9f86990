//! The JAM erasure vectors through the loaded da-rs1d `.so`, the way `diverge conformance`
//! runs them.

mod common;

use common::plugin_file;
use diverge::commands::conformance;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::testkit::vectors_dir;

#[test]
fn every_erasure_vector_passes_through_the_loaded_plugin() {
    let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load da-rs1d");
    let dir = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("erasure");
    let mut out = Vec::new();
    let tally = conformance::run(&lib, "erasure", &dir, &mut out).expect("run");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(tally.failed, 0, "{text}");
    assert_eq!(tally.passed, 20, "{text}");
    for preset in ["tiny", "full"] {
        assert!(text.contains(&format!("PASS {preset}/ec-3.bin")), "{text}");
    }
}

#[test]
fn a_corrupted_vector_fails_its_case() {
    let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load da-rs1d");
    let src = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("erasure/tiny/ec-32.json");
    let text = std::fs::read_to_string(src).expect("read");
    // Flip one hex digit of the last shard.
    let pos = text.rfind("0x").expect("hex") + 4;
    let mut bytes = text.into_bytes();
    bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ec-32.json"), bytes).expect("write");
    let mut out = Vec::new();
    let tally = conformance::run(&lib, "erasure", dir.path(), &mut out).expect("run");
    assert_eq!(
        (tally.passed, tally.failed),
        (0, 1),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(String::from_utf8_lossy(&out).contains("chunk 5 differs"));
}
