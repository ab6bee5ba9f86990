//! GP-compatible encode/reconstruct vs raw `reed-solomon-simd` on the same
//! data. "raw" feeds shards that are already in the library's layout into a
//! reused encoder/decoder, i.e. the best this crate could do single-threaded
//! if no layout conversion were needed.
//!
//! `da_rs1d::plugin` measures the whole plugin call (erasure code + Merkle commitment over every
//! chunk, shard encoding; decode from checked shards) against the same raw baseline, so the cost
//! of the commitment is visible too.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use da_rs1d::erasure::{chunk_len, gp_to_rs, Codec, ErasureParams};
use rand::{rngs::StdRng, seq::SliceRandom, RngCore, SeedableRng};
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

struct Case {
    label: &'static str,
    params: ErasureParams,
    size: usize,
}

const CASES: [Case; 2] = [
    Case {
        label: "size=14MB k=342 n=1023",
        params: ErasureParams::FULL,
        size: 14_000_000,
    },
    Case {
        label: "size=1MiB k=2 n=6",
        params: ErasureParams::TINY,
        size: 1 << 20,
    },
];

fn config<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn bench_encode(c: &mut Criterion) {
    for case in &CASES {
        let ErasureParams { k, n } = case.params;
        let mut data = vec![0u8; case.size];
        StdRng::seed_from_u64(1).fill_bytes(&mut data);
        let len = chunk_len(&case.params, case.size);
        // Raw input: the same k shards, pre-transposed into the library's layout.
        let mut padded = data.clone();
        padded.resize(k * len, 0);
        let raw_shards: Vec<Vec<u8>> = padded
            .chunks_exact(len)
            .map(|s| {
                let mut t = vec![0u8; len];
                gp_to_rs(s, &mut t);
                t
            })
            .collect();

        let mut g = config(c, &format!("reed_solomon::encode/{}", case.label));
        g.throughput(Throughput::Bytes(case.size as u64));
        let mut codec = Codec::new();
        g.bench_function(BenchmarkId::from_parameter("gp"), |b| {
            b.iter(|| codec.encode(&case.params, &data).expect("bench setup"))
        });
        let mut codec1 = Codec::with_threads(1);
        g.bench_function(BenchmarkId::from_parameter("gp_1thread"), |b| {
            b.iter(|| codec1.encode(&case.params, &data).expect("bench setup"))
        });
        let mut enc = ReedSolomonEncoder::new(k, n - k, len).expect("bench setup");
        g.bench_function(BenchmarkId::from_parameter("raw"), |b| {
            b.iter(|| {
                for s in &raw_shards {
                    enc.add_original_shard(s).expect("bench setup");
                }
                let r = enc.encode().expect("bench setup");
                r.recovery_iter().map(|s| s[0] as usize).sum::<usize>()
            })
        });
        g.bench_function(BenchmarkId::from_parameter("raw_collect"), |b| {
            b.iter(|| {
                for s in &raw_shards {
                    enc.add_original_shard(s).expect("bench setup");
                }
                let r = enc.encode().expect("bench setup");
                r.recovery_iter().map(|s| s.to_vec()).collect::<Vec<_>>()
            })
        });
        g.finish();
    }
}

fn bench_reconstruct(c: &mut Criterion) {
    for case in &CASES {
        let ErasureParams { k, n } = case.params;
        let mut data = vec![0u8; case.size];
        StdRng::seed_from_u64(2).fill_bytes(&mut data);
        let chunks = Codec::new()
            .encode(&case.params, &data)
            .expect("bench setup");
        let len = chunks[0].len();
        // Random k-subset: mostly recovery chunks (2/3 of them for 342:1023).
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(3));
        idx.truncate(k);
        idx.sort_unstable();
        let given: Vec<(usize, &[u8])> = idx.iter().map(|&i| (i, chunks[i].as_slice())).collect();
        let raw: Vec<(usize, Vec<u8>)> = idx
            .iter()
            .map(|&i| {
                let mut t = vec![0u8; len];
                gp_to_rs(&chunks[i], &mut t);
                (i, t)
            })
            .collect();
        let originals = idx.iter().filter(|&&i| i < k).count();

        let mut g = config(
            c,
            &format!(
                "reed_solomon::reconstruct/{} originals={originals}",
                case.label
            ),
        );
        g.throughput(Throughput::Bytes(case.size as u64));
        let mut codec = Codec::new();
        g.bench_function(BenchmarkId::from_parameter("gp"), |b| {
            b.iter(|| {
                codec
                    .reconstruct(&case.params, &given, case.size)
                    .expect("bench setup")
            })
        });
        let mut codec1 = Codec::with_threads(1);
        g.bench_function(BenchmarkId::from_parameter("gp_1thread"), |b| {
            b.iter(|| {
                codec1
                    .reconstruct(&case.params, &given, case.size)
                    .expect("bench setup")
            })
        });
        let mut dec = ReedSolomonDecoder::new(k, n - k, len).expect("bench setup");
        g.bench_function(BenchmarkId::from_parameter("raw"), |b| {
            b.iter(|| {
                for (i, s) in &raw {
                    if *i < k {
                        dec.add_original_shard(*i, s).expect("bench setup");
                    } else {
                        dec.add_recovery_shard(*i - k, s).expect("bench setup");
                    }
                }
                let r = dec.decode().expect("bench setup");
                r.restored_original_iter()
                    .map(|(_, s)| s[0] as usize)
                    .sum::<usize>()
            })
        });
        g.finish();
    }
}

fn bench_plugin(c: &mut Criterion) {
    use da_rs1d::{Params, Rs1d};
    use diverge_plugins::{CheckShard, DataAvailability};
    for case in &CASES {
        let ErasureParams { k, n } = case.params;
        let da = Rs1d::new(k, n, Params::default()).expect("bench setup");
        let mut data = vec![0u8; case.size];
        StdRng::seed_from_u64(1).fill_bytes(&mut data);
        let mut g = config(c, &format!("da_rs1d::plugin/{}", case.label));
        g.throughput(Throughput::Bytes(case.size as u64));
        g.bench_function(BenchmarkId::from_parameter("encode"), |b| {
            b.iter(|| da.encode(&data).expect("bench setup").shards.len())
        });
        let enc = da.encode(&data).expect("bench setup");
        // The last k shards: recovery-heavy, as a validator set missing the first third would.
        let checked: Vec<_> = (n - k..n)
            .map(|i| {
                da.check(&enc.commitment, i as u32, enc.shards[i].clone())
                    .expect("bench setup")
            })
            .collect();
        g.bench_function(BenchmarkId::from_parameter("check_one"), |b| {
            b.iter(|| {
                da.verify_shard(&enc.commitment, (n - 1) as u32, &enc.shards[n - 1])
                    .is_ok()
            })
        });
        g.bench_function(BenchmarkId::from_parameter("decode_last_k"), |b| {
            b.iter(|| {
                da.decode(&enc.commitment, &checked)
                    .expect("bench setup")
                    .len()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_encode, bench_reconstruct, bench_plugin);
criterion_main!(benches);
