//! One test body for every implementation of an axis.
//!
//! A plugin crate runs these against its rlib; the host's integration tests run the same bodies
//! against the loaded `.so`, so ABI drift shows up as a failing suite, not a silent difference.
//! They panic on failure like any test assertion.

use crate::da::{CheckShard, CheckedShard, DataAvailability};

/// Deterministic pseudo-random bytes (xorshift), so suites need no RNG dependency.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The DA contract: determinism, every shard checks at its own index and nowhere else, tampering
/// is rejected, any minimal subset decodes, too few shards do not.
pub fn da_suite(da: &dyn DataAvailability) {
    let shape = da.shape();
    // k < n, except the one-validator chain (k = n = 1), whose only shard is the data.
    assert!(
        shape.min_shards >= 1 && (shape.min_shards < shape.shards || shape.shards == 1),
        "{shape:?}"
    );
    for (len, seed) in [(0usize, 1u64), (1, 2), (3, 3), (1000, 4), (65_537, 5)] {
        let data = bytes(len, seed);
        let enc = da.encode(&data).expect("encode");
        assert_eq!(enc.shards.len(), shape.shards as usize, "shard count");
        assert_eq!(
            da.encode(&data).expect("encode again"),
            enc,
            "encode is deterministic"
        );

        let checked: Vec<CheckedShard> = enc
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                da.check(&enc.commitment, i as u32, s.clone())
                    .expect("honest shard checks")
            })
            .collect();

        // A shard presented at another index, a flipped byte, a truncated shard: all rejected.
        let n = enc.shards.len();
        let other = (1 % n) as u32;
        if enc.shards[0] != enc.shards[other as usize] {
            assert!(
                da.verify_shard(&enc.commitment, other, &enc.shards[0])
                    .is_err(),
                "wrong index accepted"
            );
        }
        let mut flipped = enc.shards[0].clone();
        if let Some(b) = flipped.first_mut() {
            *b ^= 1;
        }
        assert!(
            da.verify_shard(&enc.commitment, 0, &flipped).is_err(),
            "flipped byte accepted"
        );
        let truncated = &enc.shards[0][..enc.shards[0].len() / 2];
        assert!(
            da.verify_shard(&enc.commitment, 0, truncated).is_err(),
            "truncated shard accepted"
        );
        assert!(
            da.verify_shard(&enc.commitment, shape.shards, &enc.shards[0])
                .is_err(),
            "index out of range accepted"
        );
        assert!(
            da.verify_shard(b"junk", 0, &enc.shards[0]).is_err(),
            "junk commitment accepted"
        );

        // First k, last k, every other one.
        let k = shape.min_shards as usize;
        let subsets: Vec<Vec<usize>> = vec![
            (0..k).collect(),
            (n - k..n).collect(),
            (0..n)
                .filter(|i| i % 2 == 1)
                .chain((0..n).filter(|i| i % 2 == 0))
                .take(k)
                .collect(),
        ];
        for subset in subsets {
            let given: Vec<CheckedShard> = subset.iter().map(|&i| checked[i].clone()).collect();
            let back = da.decode(&enc.commitment, &given).expect("decode");
            assert_eq!(back, data, "decode from {subset:?} (len {len})");
        }
        if k > 1 {
            let too_few: Vec<CheckedShard> = checked[..k - 1].to_vec();
            assert!(
                da.decode(&enc.commitment, &too_few).is_err(),
                "decoded from k-1 shards"
            );
        }
    }
}

/// The public JAM vectors: `$DIVERGE_VECTORS`, else `shared/vectors` beside the repository
/// (`crate_dir` is the calling crate's `CARGO_MANIFEST_DIR`, one level below the repo root).
/// Panics with instructions when absent: a vector test must never pass by finding nothing.
pub fn vectors_dir(crate_dir: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("DIVERGE_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(crate_dir).join("../../shared/vectors"));
    assert!(
        dir.is_dir(),
        "JAM vectors not found at {} (set DIVERGE_VECTORS or put shared/ beside the repo)",
        dir.display()
    );
    dir
}
