//! da-zoda2d against 1D Reed-Solomon in the same run.
//!
//! The baseline is da-rs1d's scheme built on the same raw reed-solomon-simd (k of V chunks,
//! Blake2b Merkle root over the chunks, a shard is chunk + path), without its JAM byte
//! transposition: the plugin crates cannot link each other (each exports the same root-module
//! symbol), and the raw code is the best da-rs1d could do, so ratios against it are
//! conservative for ZODA.
//!
//! Before the timings, a table of bytes per validator per block (the shard a validator
//! downloads from the proposer; proposer upload = the sum) for 1D RS and both ZODA modes at
//! V = 6 / 100 / 1023, measured from real encodings, next to zoda.md §3's predictions.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use da_zoda2d::{Params, Zoda2d};
use diverge_plugins::{blake2b_256, CheckShard, DataAvailability, Hash};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// da-rs1d's scheme on raw reed-solomon-simd.
struct Rs1 {
    k: usize,
    v: usize,
}

struct Rs1Encoded {
    root: Hash,
    chunks: Vec<Vec<u8>>,
    paths: Vec<Vec<Hash>>,
}

fn leaf(i: u32, chunk: &[u8]) -> Hash {
    let mut b = Vec::with_capacity(8 + chunk.len());
    b.extend_from_slice(b"leaf");
    b.extend_from_slice(&i.to_le_bytes());
    b.extend_from_slice(chunk);
    blake2b_256(&b)
}

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut b = [0u8; 68];
    b[..4].copy_from_slice(b"node");
    b[4..36].copy_from_slice(&l.0);
    b[36..].copy_from_slice(&r.0);
    blake2b_256(&b)
}

impl Rs1 {
    fn chunk_len(&self, len: usize) -> usize {
        (len.div_ceil(2 * self.k) * 2).max(2)
    }

    fn encode(&self, data: &[u8]) -> Rs1Encoded {
        let len = self.chunk_len(data.len());
        let mut chunks: Vec<Vec<u8>> = (0..self.k)
            .map(|i| {
                let s = (i * len).min(data.len());
                let e = ((i + 1) * len).min(data.len());
                let mut c = data[s..e].to_vec();
                c.resize(len, 0);
                c
            })
            .collect();
        let mut enc = ReedSolomonEncoder::new(self.k, self.v - self.k, len).expect("bench setup");
        for c in &chunks {
            enc.add_original_shard(c).expect("bench setup");
        }
        let out = enc.encode().expect("bench setup");
        chunks.extend(out.recovery_iter().map(<[u8]>::to_vec));
        drop(out);
        use rayon::prelude::*;
        let width = self.v.next_power_of_two();
        let mut level: Vec<Hash> = chunks
            .par_iter()
            .enumerate()
            .map(|(i, c)| leaf(i as u32, c))
            .collect();
        level.resize(width, Hash::ZERO);
        let mut levels = vec![level];
        while levels.last().map_or(0, Vec::len) > 1 {
            let prev = levels.last().expect("non-empty");
            let next = prev.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        let paths = (0..self.v)
            .map(|i| {
                let mut idx = i;
                levels[..levels.len() - 1]
                    .iter()
                    .map(|l| {
                        let h = l[idx ^ 1];
                        idx >>= 1;
                        h
                    })
                    .collect()
            })
            .collect();
        Rs1Encoded {
            root: levels[levels.len() - 1][0],
            chunks,
            paths,
        }
    }

    fn verify(&self, root: &Hash, i: usize, chunk: &[u8], path: &[Hash]) -> bool {
        let mut acc = leaf(i as u32, chunk);
        let mut idx = i;
        for s in path {
            acc = if idx & 1 == 0 {
                node(&acc, s)
            } else {
                node(s, &acc)
            };
            idx >>= 1;
        }
        acc == *root
    }

    fn decode(&self, given: &[(usize, &[u8])], len: usize) -> Vec<u8> {
        let cl = given[0].1.len();
        let mut dec = ReedSolomonDecoder::new(self.k, self.v - self.k, cl).expect("bench setup");
        let mut originals: Vec<Option<Vec<u8>>> = vec![None; self.k];
        for &(i, c) in given {
            if i < self.k {
                originals[i] = Some(c.to_vec());
                dec.add_original_shard(i, c).expect("bench setup");
            } else {
                dec.add_recovery_shard(i - self.k, c).expect("bench setup");
            }
        }
        let r = dec.decode().expect("bench setup");
        for (i, s) in r.restored_original_iter() {
            originals[i] = Some(s.to_vec());
        }
        let mut out: Vec<u8> = originals.into_iter().flatten().flatten().collect();
        out.truncate(len);
        out
    }

    /// Bytes of a shard as da-rs1d encodes it (chunk + path + two length prefixes).
    fn shard_bytes(&self, len: usize) -> usize {
        let chunk = self.chunk_len(len);
        let depth = self.v.next_power_of_two().trailing_zeros() as usize;
        chunk + 32 * depth + compact_len(chunk) + compact_len(depth)
    }
}

fn compact_len(x: usize) -> usize {
    match x {
        0..=63 => 1,
        64..=16383 => 2,
        16384..=1_073_741_823 => 4,
        _ => 5,
    }
}

/// k as the chain presets have it (2 of 6, 342 of 1023, ⌈V/3⌉ otherwise).
fn committee(v: u16) -> u16 {
    diverge_plugins::ChainParams::default_erasure_k(v)
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut d = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut d);
    d
}

/// zoda.md §3's predicted strong-shard bytes (mode A, mode B) and 1D RS, for the comparison
/// column; `None` where the note says n/a.
fn note_prediction(len: usize, v: u16) -> (Option<u64>, Option<u64>) {
    match (len, v) {
        (1_048_576, 6) => (Some(545_000), Some(530_000)),
        (1_048_576, 100) => (Some(136_000), Some(37_100)),
        (1_048_576, 1023) => (None, Some(15_200)),
        (14_000_000, 6) => (Some(7_020_000), Some(7_005_000)),
        (14_000_000, 100) => (Some(536_000), Some(418_000)),
        (14_000_000, 1023) => (None, Some(58_400)),
        _ => (None, None),
    }
}

fn print_bytes_table() {
    println!("\n## Bytes per validator per block (phase-1 shard from the proposer)\n");
    println!("| B | V | 1D RS | ZODA A (S,n,m) | xRS | note A | ZODA B (S,n,m) | xRS | note B | commitment |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for len in [1usize << 20, 14_000_000] {
        let d = data(len, 11);
        for v in [6u16, 100, 1023] {
            let k = committee(v);
            let rs = Rs1 {
                k: k as usize,
                v: v as usize,
            }
            .shard_bytes(len);
            let mut cells = Vec::new();
            let mut commitment = 0;
            for params in [Params::standalone(), Params::certificate()] {
                match Zoda2d::new(v, k, params) {
                    Ok(z) => {
                        let shape = z.shape_for(len).expect("bench setup");
                        let enc = z.encode(&d).expect("bench setup");
                        commitment = enc.commitment.len();
                        let mean = enc.shards.iter().map(Vec::len).sum::<usize>() / v as usize;
                        cells.push(format!(
                            "{mean} ({}, {}, {})",
                            shape.rows_per_shard, shape.data_rows, shape.rows
                        ));
                        cells.push(format!("{:.2}x", mean as f64 / rs as f64));
                    }
                    Err(_) => {
                        cells.push("n/a (GF(2^16) row limit)".into());
                        cells.push("-".into());
                    }
                }
            }
            let (na, nb) = note_prediction(len, v);
            let show = |x: Option<u64>| x.map_or("n/a".to_string(), |b| format!("{b}"));
            println!(
                "| {len} | {v} | {rs} | {} | {} | {} | {} | {} | {} | {commitment} |",
                cells[0],
                cells[1],
                show(na),
                cells[2],
                cells[3],
                show(nb)
            );
        }
    }
    println!();
    print_light_client_table();
}

/// Bytes a light client downloads with `sample`: whole shards (each checked like a validator's),
/// so the count is ⌈bits / log2(V/(k−1))⌉ and the bytes are that many shards.
fn print_light_client_table() {
    println!("## Light client: bytes for `sample` (mode B, whole shards)\n");
    println!("| B | V | bits | shards | bytes |");
    println!("|---|---|---|---|---|");
    for len in [1usize << 20, 14_000_000] {
        let d = data(len, 12);
        for v in [100u16, 1023] {
            let k = committee(v);
            for bits in [40.0, 80.0, 128.0] {
                let z = Zoda2d::new(
                    v,
                    k,
                    Params {
                        sample_bits: bits,
                        ..Params::certificate()
                    },
                )
                .expect("bench setup");
                let enc = z.encode(&d).expect("bench setup");
                let picked = z.sample(&enc.commitment, &[7; 32]).expect("bench setup");
                let bytes: usize = picked.iter().map(|&i| enc.shards[i as usize].len()).sum();
                println!("| {len} | {v} | {bits} | {} | {bytes} |", picked.len());
            }
        }
    }
    println!();
}

fn config<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    print_bytes_table();
    println!("(table built in {:.1} s)\n", t.elapsed().as_secs_f64());
    for (v, len) in [
        (6u16, 1usize << 20),
        (6, 14_000_000),
        (1023, 1 << 20),
        (1023, 14_000_000),
    ] {
        let k = committee(v);
        let d = data(len, 1);
        let label = format!("V={v} k={k} size={len}");
        let mut g = config(c, &format!("zoda/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        let rs = Rs1 {
            k: k as usize,
            v: v as usize,
        };
        g.bench_function(BenchmarkId::new("encode", "rs1d_raw"), |b| {
            b.iter(|| rs.encode(&d).chunks.len())
        });
        let renc = rs.encode(&d);
        let last = v as usize - 1;
        g.bench_function(BenchmarkId::new("verify_shard", "rs1d_raw"), |b| {
            b.iter(|| rs.verify(&renc.root, last, &renc.chunks[last], &renc.paths[last]))
        });
        let given: Vec<(usize, &[u8])> = (v as usize - k as usize..v as usize)
            .map(|i| (i, renc.chunks[i].as_slice()))
            .collect();
        g.bench_function(BenchmarkId::new("decode_last_k", "rs1d_raw"), |b| {
            b.iter(|| rs.decode(&given, len).len())
        });
        for (mode, params) in [
            ("certificate", Params::certificate()),
            ("standalone", Params::standalone()),
        ] {
            let Ok(z) = Zoda2d::new(v, k, params) else {
                continue;
            };
            g.bench_function(BenchmarkId::new("encode", mode), |b| {
                b.iter(|| z.encode(&d).expect("bench setup").shards.len())
            });
            let enc = z.encode(&d).expect("bench setup");
            g.bench_function(BenchmarkId::new("verify_shard", mode), |b| {
                b.iter(|| {
                    z.verify_shard(&enc.commitment, last as u32, &enc.shards[last])
                        .is_ok()
                })
            });
            // The last k shards: the first third of the validators missing, so most rows are
            // parity and the decoder really decodes.
            let checked: Vec<_> = (v - k..v)
                .map(|i| {
                    z.check(
                        &enc.commitment,
                        u32::from(i),
                        enc.shards[i as usize].clone(),
                    )
                    .expect("bench setup")
                })
                .collect();
            g.bench_function(BenchmarkId::new("decode_last_k", mode), |b| {
                b.iter(|| {
                    z.decode(&enc.commitment, &checked)
                        .expect("bench setup")
                        .len()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
