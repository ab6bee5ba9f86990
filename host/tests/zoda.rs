//! da-zoda2d through the loaded `.so`: the shared DA contract in both modes, its config errors,
//! and adversarial bytes, which must come back as errors, never a panic or an abort of the host.

mod common;

use common::plugin_file;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::testkit::{bytes, da_suite};
use diverge_plugins::{Axis, CaseFormat, ChainParams, CheckShard, ErrorKind, InitArgs};
use proptest::prelude::*;

fn lib() -> PluginLibrary {
    PluginLibrary::open(&plugin_file("da-zoda2d")).expect("load da-zoda2d")
}

#[test]
fn loaded_zoda_passes_the_da_suite_in_both_modes() {
    let lib = lib();
    assert_eq!(lib.meta().name, "da-zoda2d");
    assert_eq!(lib.meta().axis, Axis::Da);
    for (chain, params) in [
        (ChainParams::tiny(), r#"{"mode": "certificate"}"#),
        (ChainParams::full(), "{}"),
        (ChainParams::tiny(), r#"{"mode": "standalone"}"#),
    ] {
        let da = lib.da(&InitArgs::new(chain, params)).expect("instantiate");
        da_suite(da.as_ref());
    }
}

#[test]
fn config_errors_come_from_the_plugin() {
    let lib = lib();
    let err = lib
        .da(&InitArgs::new(
            ChainParams::tiny(),
            r#"{"mdoe": "standalone"}"#,
        ))
        .err()
        .expect("typo must fail");
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("mdoe"), "{err}");
    // Mode A cannot reach 126 bits per validator at V = 1023 in GF(2^16): said at load time.
    let err = lib
        .da(&InitArgs::new(
            ChainParams::full(),
            r#"{"mode": "standalone"}"#,
        ))
        .err()
        .expect("infeasible");
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("standalone"), "{err}");
}

#[test]
fn a_shard_of_another_block_is_rejected_through_the_boundary() {
    let lib = lib();
    let da = lib
        .da(&InitArgs::new(ChainParams::tiny(), "{}"))
        .expect("instance");
    let a = da.encode(&bytes(2000, 1)).expect("encode");
    let b = da.encode(&bytes(2000, 2)).expect("encode");
    let err = da
        .verify_shard(&a.commitment, 3, &b.shards[3])
        .expect_err("other block");
    assert_eq!(err.kind, ErrorKind::Rejected);
    assert!(err.message.contains("shard 3"), "{err}");
    let checked = da
        .check(&a.commitment, 3, a.shards[3].clone())
        .expect("own");
    assert_eq!(checked.index(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_commitments_and_shards_are_rejected(
        commitment in proptest::collection::vec(any::<u8>(), 0..120),
        shard in proptest::collection::vec(any::<u8>(), 0..800),
        index in any::<u32>(),
    ) {
        let da = lib().da(&InitArgs::new(ChainParams::tiny(), "{}")).expect("instance");
        let err = da.verify_shard(&commitment, index, &shard).expect_err("garbage accepted");
        prop_assert!(matches!(err.kind, ErrorKind::InvalidInput | ErrorKind::Rejected), "{err}");
        prop_assert!(da.sample(&commitment, &[0; 32]).is_err());
    }

    #[test]
    fn a_valid_shard_or_commitment_with_one_flipped_bit_is_rejected(
        byte in any::<usize>(), bit in 0u8..8, index in 0u32..6, in_commitment in any::<bool>(),
    ) {
        let da = lib().da(&InitArgs::new(ChainParams::tiny(), "{}")).expect("instance");
        let enc = da.encode(&[7u8; 300]).expect("encode");
        let mut commitment = enc.commitment.clone();
        let mut shard = enc.shards[index as usize].clone();
        let target = if in_commitment { &mut commitment } else { &mut shard };
        let pos = byte % target.len();
        target[pos] ^= 1 << bit;
        prop_assert!(da.verify_shard(&commitment, index, &shard).is_err());
    }

    #[test]
    fn random_init_args_and_cases_never_abort(
        init in proptest::collection::vec(any::<u8>(), 0..200),
        params in "\\PC{0,40}",
        case in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let lib = lib();
        let _ = lib.instantiate_raw(&init);
        let _ = lib.da(&InitArgs::new(ChainParams::tiny(), &params));
        let _ = lib.conformance("erasure", CaseFormat::Binary, &case);
    }
}
