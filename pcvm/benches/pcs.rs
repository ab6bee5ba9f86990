//! pcvm's PCS against raw `ligerito` 0.8 on the same polynomial, in the same run.
//!
//! Per size: commit (ours = the crate's `ligero_commit` plus keeping the data; raw = the same
//! function alone), our prove/verify of one GF(2^128)-point claim at our 152 queries and at the
//! crate's 148 (same shape, isolates the protocol's own cost), and raw
//! `prove_with_transcript`/`verify_with_transcript` (148 queries, claim-less: it binds no value,
//! so it is the lower bound an evaluation proof is measured against). Proof sizes go to stderr.
//! Sizes: `PCVM_BENCH_LOG_SIZES` (default `16,20`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diverge_pcvm::field::evaluate_mle;
use diverge_pcvm::{codec, commit, prove, verify, Claim, Params, Transcript, F128, F32};
use ligerito::FiatShamir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn sizes() -> Vec<usize> {
    std::env::var("PCVM_BENCH_LOG_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 20])
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pcs");
    group.sample_size(10);
    for n in sizes() {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let poly: Vec<F32> = (0..1usize << n)
            .map(|_| F32::from_value(rng.gen()))
            .collect();
        let point: Vec<F128> = (0..n).map(|_| F128::from_value(rng.gen())).collect();
        let claims = vec![Claim {
            value: evaluate_mle(&poly, &point),
            point,
        }];

        let raw_params = Params::with_queries(n, 148).expect("params");
        let raw_cfg = raw_params.prover_config().expect("config");
        let raw_vcfg = raw_params.verifier_config().clone();
        group.bench_with_input(BenchmarkId::new("raw-commit", n), &n, |b, _| {
            b.iter(|| {
                ligerito::ligero::ligero_commit(
                    black_box(&poly),
                    raw_cfg.initial_dims.0,
                    raw_cfg.initial_dims.1,
                    &raw_cfg.initial_reed_solomon,
                )
            })
        });
        let raw_proof = ligerito::prove_with_transcript(raw_cfg, &poly, FiatShamir::new_sha256(0))
            .expect("raw prove");
        group.bench_with_input(BenchmarkId::new("raw-prove", n), &n, |b, _| {
            b.iter(|| {
                ligerito::prove_with_transcript(
                    raw_cfg,
                    black_box(&poly),
                    FiatShamir::new_sha256(0),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("raw-verify", n), &n, |b, _| {
            b.iter(|| {
                let ok = ligerito::verify_with_transcript(
                    &raw_vcfg,
                    black_box(&raw_proof),
                    FiatShamir::new_sha256(0),
                );
                assert!(matches!(ok, Ok(true)));
            })
        });
        eprintln!(
            "2^{n}: raw ligerito proof {} bytes (size_of, 148 queries)",
            raw_proof.size_of()
        );

        for (name, params) in [
            ("ours", Params::new(n).expect("params")),
            ("ours-148", raw_params),
        ] {
            let (cm, data) = commit(&params, poly.clone()).expect("commit");
            if name == "ours" {
                group.bench_with_input(BenchmarkId::new("ours-commit", n), &n, |b, _| {
                    b.iter_batched(
                        || poly.clone(),
                        |p| commit(&params, p),
                        criterion::BatchSize::LargeInput,
                    )
                });
            }
            let proof =
                prove(&params, &data, &claims, &mut Transcript::new(b"bench")).expect("prove");
            group.bench_with_input(BenchmarkId::new(format!("{name}-prove"), n), &n, |b, _| {
                b.iter(|| {
                    prove(
                        &params,
                        &data,
                        black_box(&claims),
                        &mut Transcript::new(b"bench"),
                    )
                })
            });
            group.bench_with_input(BenchmarkId::new(format!("{name}-verify"), n), &n, |b, _| {
                b.iter(|| {
                    let r = verify(
                        &params,
                        &cm,
                        &claims,
                        black_box(&proof),
                        &mut Transcript::new(b"bench"),
                    );
                    assert!(r.is_ok());
                })
            });
            eprintln!(
                "2^{n}: {name} proof {} bytes encoded, {:.2} bits",
                codec::encode(&proof).len(),
                params.security_bits()
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
