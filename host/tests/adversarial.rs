//! Adversarial bytes through the loaded da-rs1d `.so`: whatever arrives from the network must
//! come back as an error, never a panic or an abort of the host.

mod common;

use common::plugin_file;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{CaseFormat, ChainParams, ErrorKind, InitArgs};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_commitments_and_shards_are_rejected(
        commitment in proptest::collection::vec(any::<u8>(), 0..80),
        shard in proptest::collection::vec(any::<u8>(), 0..600),
        index in any::<u32>(),
    ) {
        let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load");
        let da = lib.da(&InitArgs::new(ChainParams::tiny(), "{}")).expect("instance");
        let err = da.verify_shard(&commitment, index, &shard).expect_err("garbage accepted");
        prop_assert!(matches!(err.kind, ErrorKind::InvalidInput | ErrorKind::Rejected), "{err}");
    }

    #[test]
    fn a_valid_shard_with_one_flipped_bit_is_rejected(byte in any::<usize>(), bit in 0u8..8, index in 0u32..6) {
        let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load");
        let da = lib.da(&InitArgs::new(ChainParams::tiny(), "{}")).expect("instance");
        let enc = da.encode(&[7u8; 300]).expect("encode");
        let mut shard = enc.shards[index as usize].clone();
        let pos = byte % shard.len();
        shard[pos] ^= 1 << bit;
        prop_assert!(da.verify_shard(&enc.commitment, index, &shard).is_err());
    }

    #[test]
    fn random_init_args_and_cases_never_abort(
        init in proptest::collection::vec(any::<u8>(), 0..200),
        case in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let lib = PluginLibrary::open(&plugin_file("da-rs1d")).expect("load");
        // Raw bytes where encoded InitArgs are expected: the plugin side decodes and refuses.
        let _ = lib.instantiate_raw(&init);
        let _ = lib.conformance("erasure", CaseFormat::Binary, &case);
        let _ = lib.conformance("erasure", CaseFormat::Json, &case);
    }
}
