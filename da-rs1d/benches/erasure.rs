//! JAM erasure coding through this crate vs raw reed-solomon-simd on the same data, same run.
//!
//! Raw = reed-solomon-simd encoding/decoding the same k shards already in its own byte layout
//! with a reused encoder: the floor this crate's JAM layout and allocation add to.
//! Report ratios (this crate / raw), never absolute times alone.

use std::collections::HashMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use da_rs1d::erasure::{self, ErasureParams};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

struct Setup {
    label: &'static str,
    size: usize,
    k: usize,
    n: usize,
}

const SETUPS: [Setup; 2] = [
    Setup {
        label: "size=14MB k=342 n=1023",
        size: 14_000_000,
        k: 342,
        n: 1023,
    },
    Setup {
        label: "size=1MiB k=2 n=6",
        size: 1 << 20,
        k: 2,
        n: 6,
    },
];

fn data(size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    ChaCha20Rng::seed_from_u64(7).fill_bytes(&mut v);
    v
}

fn bench(c: &mut Criterion) {
    for s in &SETUPS {
        let params = ErasureParams::new(s.k, s.n).expect("params");
        let d = data(s.size);
        let len = params.chunk_len(d.len());
        let originals: Vec<Vec<u8>> = (0..s.k)
            .map(|i| {
                let mut c = vec![0u8; len];
                let a = (i * len).min(d.len());
                let b = ((i + 1) * len).min(d.len());
                c[..b - a].copy_from_slice(&d[a..b]);
                c
            })
            .collect();

        let mut g = c.benchmark_group("reed_solomon::encode");
        g.sample_size(10)
            .throughput(Throughput::Bytes(s.size as u64));
        let mut enc = ReedSolomonEncoder::new(s.k, s.n - s.k, len).expect("encoder");
        g.bench_function(BenchmarkId::new("raw", s.label), |b| {
            b.iter(|| {
                enc.reset(s.k, s.n - s.k, len).expect("reset");
                for o in &originals {
                    enc.add_original_shard(o).expect("add");
                }
                let r = enc.encode().expect("encode");
                r.recovery_iter().count()
            })
        });
        g.bench_function(BenchmarkId::new("jam", s.label), |b| {
            b.iter(|| erasure::encode(&params, &d).expect("encode").len())
        });
        g.finish();

        // Reconstruct from the last k chunks: recovery-heavy, the expensive case.
        let chunks = erasure::encode(&params, &d).expect("encode");
        let given: Vec<(usize, &[u8])> = (s.n - s.k..s.n)
            .map(|i| (i, chunks[i].as_slice()))
            .collect();
        let mut raw_enc = ReedSolomonEncoder::new(s.k, s.n - s.k, len).expect("encoder");
        for o in &originals {
            raw_enc.add_original_shard(o).expect("add");
        }
        let raw_recovery: HashMap<usize, Vec<u8>> = raw_enc
            .encode()
            .expect("encode")
            .recovery_iter()
            .enumerate()
            .map(|(i, r)| (i, r.to_vec()))
            .collect();
        let mut g = c.benchmark_group("reed_solomon::reconstruct");
        g.sample_size(10)
            .throughput(Throughput::Bytes(s.size as u64));
        let mut dec = ReedSolomonDecoder::new(s.k, s.n - s.k, len).expect("decoder");
        // The same indices (last k) in reed-solomon-simd's own layout.
        let raw_given: Vec<(usize, &[u8])> = (s.n - s.k..s.n)
            .map(|i| {
                if i < s.k {
                    (i, originals[i].as_slice())
                } else {
                    (i, raw_recovery[&(i - s.k)].as_slice())
                }
            })
            .collect();
        g.bench_function(BenchmarkId::new("raw", s.label), |b| {
            b.iter(|| {
                dec.reset(s.k, s.n - s.k, len).expect("reset");
                for &(i, shard) in &raw_given {
                    if i < s.k {
                        dec.add_original_shard(i, shard).expect("add");
                    } else {
                        dec.add_recovery_shard(i - s.k, shard).expect("add");
                    }
                }
                dec.decode()
                    .expect("decode")
                    .restored_original_iter()
                    .count()
            })
        });
        g.bench_function(BenchmarkId::new("jam", s.label), |b| {
            b.iter(|| {
                erasure::reconstruct(&params, &given, d.len())
                    .expect("rebuild")
                    .len()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
