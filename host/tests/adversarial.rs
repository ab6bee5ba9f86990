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

/// Fuzz findings (`scripts/fuzz`), replayed from the files the fuzzer wrote: each file in
/// `host/tests/fuzz-regressions/<target>/` goes through what that target checks.
mod fuzz_regressions {
    use std::path::Path;

    use diverge::node::wire::{AvailabilityMsg, BlockMsg, ShardMsg, SyncMsg};
    use diverge_plugins::codec::{decode_exact, Decode, Encode};
    use diverge_plugins::{Event, Header, ValidateRequest};

    fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-regressions")
            .join(target);
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).expect("read");
                (p.display().to_string(), bytes)
            })
            .collect();
        out.sort();
        out
    }

    /// The `wire` target's property: what decodes re-encodes no longer and decodes the same.
    fn roundtrips<T: Decode + Encode + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
        if let Ok(v) = decode_exact::<T>(bytes) {
            let again = v.encode();
            assert!(again.len() <= bytes.len());
            assert_eq!(decode_exact::<T>(&again).ok().as_ref(), Some(&v));
        }
    }

    #[test]
    fn wire_inputs_replay() {
        let cases = inputs("wire");
        assert!(!cases.is_empty(), "the wire regressions are committed");
        for (name, data) in cases {
            let Some((sel, bytes)) = data.split_first() else {
                continue;
            };
            match sel % 12 {
                0 => roundtrips::<BlockMsg>(bytes),
                1 => roundtrips::<ShardMsg>(bytes),
                2 => roundtrips::<AvailabilityMsg>(bytes),
                3 => roundtrips::<SyncMsg>(bytes),
                4 => roundtrips::<Header>(bytes),
                5 => roundtrips::<Event>(bytes),
                7 => roundtrips::<ValidateRequest>(bytes),
                _ => {}
            }
            eprintln!("replayed {name}");
        }
    }

    /// Found by the `wire` target: jam-codec accepts a non-minimal natural (`0x80 0x00` for a
    /// zero length), so one header has two wire forms. Its identity must not depend on which
    /// arrived: the hash is over the re-encoded value.
    #[test]
    fn a_non_minimal_length_decodes_to_the_same_header_and_hash() {
        let h = Header::default();
        let canonical = h.encode();
        // Header: parent(32) slot(4) author(2) payload_hash(32), then da_commitment's length.
        let at = 32 + 4 + 2 + 32;
        assert_eq!(canonical[at], 0);
        let mut long = canonical[..at].to_vec();
        long.extend_from_slice(&[0x80, 0x00]);
        long.extend_from_slice(&canonical[at + 1..]);
        let decoded: Header = decode_exact(&long).expect("non-minimal natural accepted");
        assert_eq!(decoded, h);
        assert_eq!(decoded.hash(), h.hash());
        assert_eq!(decoded.encode(), canonical);
    }
}
