//! consensus-safrole through its loaded `.so`: the public JAM Safrole vectors and the 100-block
//! trace the way `diverge conformance` runs them, and six loaded instances running a chain.

mod common;

use common::plugin_file;
use diverge::commands::conformance;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::testkit::vectors_dir;
use diverge_plugins::{ChainParams, Consensus, InitArgs, ValidatorSecret};

fn lib() -> PluginLibrary {
    PluginLibrary::open(&plugin_file("consensus-safrole")).expect("load consensus-safrole")
}

#[test]
fn all_safrole_vectors_pass_through_the_loaded_plugin_in_both_forms() {
    let dir = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("safrole/tiny");
    let mut out = Vec::new();
    let tally = conformance::run(&lib(), "safrole", &dir, &mut out).expect("run");
    let text = String::from_utf8_lossy(&out);
    assert_eq!((tally.passed, tally.failed), (42, 0), "{text}");
    assert!(
        text.contains("PASS publish-tickets-no-mark-2.bin"),
        "{text}"
    );
}

#[test]
fn every_block_of_the_safrole_trace_imports_through_the_loaded_plugin() {
    let dir = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("traces/safrole");
    let mut out = Vec::new();
    let tally = conformance::run(&lib(), "safrole-trace", &dir, &mut out).expect("run");
    let text = String::from_utf8_lossy(&out);
    assert_eq!((tally.passed, tally.failed), (100, 0), "{text}");
    assert!(
        text.contains("Ticket"),
        "the trace has ticket-sealed blocks: {text}"
    );
}

#[test]
fn a_vector_whose_expected_state_was_edited_fails_naming_the_component() {
    let src = vectors_dir(env!("CARGO_MANIFEST_DIR"))
        .join("safrole/tiny/enact-epoch-change-with-no-tickets-1.json");
    let mut case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src).expect("read")).expect("json");
    let tau = case["post_state"]["tau"].as_u64().expect("tau");
    case["post_state"]["tau"] = serde_json::json!(tau + 1);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("edited.json"), case.to_string()).expect("write");
    let mut out = Vec::new();
    let tally = conformance::run(&lib(), "safrole", dir.path(), &mut out).expect("run");
    let text = String::from_utf8_lossy(&out);
    assert_eq!((tally.passed, tally.failed), (0, 1), "{text}");
    assert!(text.contains("tau differs"), "{text}");
}

fn instance(lib: &PluginLibrary, i: u16, params: &str) -> Box<dyn Consensus> {
    lib.consensus(&InitArgs {
        chain: ChainParams {
            slot_ms: 1000,
            ..ChainParams::tiny()
        },
        params_json: params.into(),
        validators: diverge_keys::dev_validators(6),
        identity: Some(ValidatorSecret {
            index: i,
            seed: diverge_keys::dev_seed(u32::from(i)),
        }),
        genesis: Vec::new(),
    })
    .expect("instantiate")
}

#[test]
fn six_loaded_instances_seal_and_finalize_a_chain() {
    let lib = lib();
    let params = r#"{"sealing": "safrole", "gossip_ms": 100}"#;
    let nodes = (0..6).map(|i| instance(&lib, i, params)).collect();
    let mut net = SimNet::new(nodes, 1_000_000, 50_000);
    net.run_until(14_000_000 - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(net.log.rejected.is_empty(), "{:?}", net.log.rejected);
    assert_eq!(net.log.authored.len(), 13);
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 11,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
    // Slots 12 and 13 open epoch 1 with the tickets gossiped and included during epoch 0.
    assert!(net.log.ticketed.contains(&12) && net.log.ticketed.contains(&13));
}

#[test]
fn bad_init_arguments_are_config_errors_not_panics() {
    let lib = lib();
    let mut args = InitArgs::new(ChainParams::tiny(), r#"{"sealing": "proof-of-work"}"#);
    args.validators = diverge_keys::dev_validators(6);
    let e = lib.consensus(&args).err().expect("unknown sealing refused");
    assert_eq!(e.kind, diverge_plugins::ErrorKind::Config, "{e}");
    let mut args = InitArgs::new(ChainParams::tiny(), "{}");
    args.validators = diverge_keys::dev_validators(5);
    assert!(lib.consensus(&args).is_err(), "5 keys for 6 validators");
    args.validators = diverge_keys::dev_validators(6);
    args.identity = Some(ValidatorSecret {
        index: 2,
        seed: diverge_keys::dev_seed(3),
    });
    assert!(
        lib.consensus(&args).is_err(),
        "seed of validator 3 at index 2"
    );
}
