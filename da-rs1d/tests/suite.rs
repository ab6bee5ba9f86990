//! The shared DA contract and property tests, on the rlib.

use da_rs1d::erasure::{self, ErasureParams};
use da_rs1d::{Params, Rs1d};
use diverge_plugins::testkit::{bytes, da_suite};
use diverge_plugins::{CheckShard, DataAvailability};
use proptest::prelude::*;

#[test]
fn contract_tiny_full_and_custom() {
    for (k, n) in [(2, 6), (342, 1023), (34, 100), (1, 2), (1, 1)] {
        da_suite(&Rs1d::new(k, n, Params::default()).expect("params"));
    }
}

#[test]
fn commitment_for_another_chain_is_rejected() {
    let tiny = Rs1d::new(2, 6, Params::default()).expect("tiny");
    let other = Rs1d::new(3, 9, Params::default()).expect("other");
    let enc = other.encode(b"payload").expect("encode");
    let err = tiny
        .verify_shard(&enc.commitment, 0, &enc.shards[0])
        .expect_err("other chain's commitment");
    assert!(err.message.contains("k=3 n=9"), "{err}");
}

#[test]
fn sampling_is_distinct_deterministic_and_seeded() {
    let da = Rs1d::new(342, 1023, Params::default()).expect("full");
    let enc = da.encode(&bytes(5000, 1)).expect("encode");
    let a = da.sample(&enc.commitment, &[1; 32]).expect("sample");
    let b = da.sample(&enc.commitment, &[1; 32]).expect("sample");
    let c = da.sample(&enc.commitment, &[2; 32]).expect("sample");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 26);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), a.len());
    for i in a {
        da.check(&enc.commitment, i, enc.shards[i as usize].clone())
            .expect("sampled shard checks");
    }
}

#[test]
fn bad_params_are_config_errors() {
    assert!(Rs1d::new(0, 6, Params::default()).is_err());
    assert!(Rs1d::new(6, 6, Params::default()).is_err());
    assert!(Rs1d::new(2, 1, Params::default()).is_err());
    assert!(Rs1d::new(2, 70_000, Params::default()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_k_subset_rebuilds(len in 0usize..20_000, k in 1usize..40, extra in 1usize..60, seed in any::<u64>()) {
        let n = k + extra;
        let params = ErasureParams::new(k, n).expect("params");
        let data = bytes(len, seed);
        let chunks = erasure::encode(&params, &data).expect("encode");
        prop_assert_eq!(chunks.len(), n);
        // A seeded choice of k distinct indices.
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let given: Vec<(usize, &[u8])> = order[..k].iter().map(|&i| (i, chunks[i].as_slice())).collect();
        prop_assert_eq!(erasure::reconstruct(&params, &given, len).expect("rebuild"), data);
    }

    #[test]
    fn reconstruct_rejects_bad_input_without_panicking(
        k in 1usize..8, extra in 1usize..8, idx in proptest::collection::vec(0usize..20, 0..12),
        len in 0usize..64, chunk_len in 0usize..40,
    ) {
        let params = ErasureParams::new(k, k + extra).expect("params");
        let chunk = vec![7u8; chunk_len];
        let given: Vec<(usize, &[u8])> = idx.iter().map(|&i| (i, chunk.as_slice())).collect();
        let _ = erasure::reconstruct(&params, &given, len);
    }

    #[test]
    fn verify_shard_never_panics(commitment in proptest::collection::vec(any::<u8>(), 0..64),
                                 shard in proptest::collection::vec(any::<u8>(), 0..512),
                                 index in any::<u32>()) {
        let da = Rs1d::new(2, 6, Params::default()).expect("tiny");
        prop_assert!(da.verify_shard(&commitment, index, &shard).is_err());
    }
}
