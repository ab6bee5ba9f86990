//! consensus-ssf through its loaded `.so`: six instances in virtual time (SimNet) run the
//! genesis DKG and epoch 0's reshare, finalize every slot within it, a 3/3 partition (in epoch
//! 1, on the reshared keys) stalls with no certificate and heals, and bad init arguments are
//! config errors.

mod common;

use common::plugin_file;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{ChainParams, Consensus, InitArgs, ValidatorSecret};

const SEC: u64 = 1_000_000;

fn lib() -> PluginLibrary {
    PluginLibrary::open(&plugin_file("consensus-ssf")).expect("load consensus-ssf")
}

fn instance(lib: &PluginLibrary, i: u16) -> Box<dyn Consensus> {
    lib.consensus(&InitArgs {
        chain: ChainParams {
            slot_ms: 1000,
            ..ChainParams::tiny()
        },
        params_json: r#"{"delta_ms": 100}"#.into(),
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
fn six_loaded_instances_finalize_every_slot_within_it_and_survive_a_partition() {
    let lib = lib();
    let nodes = (0..6).map(|i| instance(&lib, i)).collect();
    let mut net = SimNet::new(nodes, SEC, 50_000);
    net.run_until(13 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(net.log.rejected.is_empty(), "{:?}", net.log.rejected);
    assert_eq!(net.log.authored.len(), 12);
    // The keys came from the genesis DKG (the default), and epoch 0's reshare installed the
    // sharing epoch 1 signs with, at all six.
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_done"), Some(&6));
    assert_eq!(
        net.log.telemetry.get("consensus.ssf.reshare_done"),
        Some(&6)
    );
    net.assert_safe();
    for i in 0..6 {
        let lags: Vec<(u32, u64)> = net
            .log
            .finalized
            .iter()
            .filter(|f| f.1 == i)
            .map(|f| (f.3, f.0 - u64::from(f.3) * SEC))
            .collect();
        assert_eq!(lags.len(), 12, "node {i}: {lags:?}");
        assert!(lags.iter().all(|(_, l)| *l < SEC), "node {i}: {lags:?}");
    }
    let before = net.log.finalized.len();
    net.set_groups(Some(vec![0, 0, 0, 1, 1, 1]), 13 * SEC - 1);
    net.run_until(18 * SEC - 1);
    assert_eq!(
        net.log.finalized.len(),
        before,
        "nothing final while split 3/3"
    );
    net.set_groups(None, 18 * SEC - 1);
    net.run_until(24 * SEC - 1);
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 21,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
}

#[test]
fn bad_init_arguments_are_config_errors_not_panics() {
    let lib = lib();
    let mut args = InitArgs::new(ChainParams::tiny(), r#"{"delta_ms": 0}"#);
    args.validators = diverge_keys::dev_validators(6);
    let e = lib.consensus(&args).err().expect("delta_ms 0 refused");
    assert_eq!(e.kind, diverge_plugins::ErrorKind::Config, "{e}");
    let mut args = InitArgs::new(ChainParams::tiny(), r#"{"unknown": 1}"#);
    args.validators = diverge_keys::dev_validators(6);
    assert!(lib.consensus(&args).is_err(), "unknown param");
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
    args.identity = Some(ValidatorSecret {
        index: 9,
        seed: diverge_keys::dev_seed(9),
    });
    assert!(lib.consensus(&args).is_err(), "index out of range");
}
