//! The register-file proof (fetch included) on the default block's real trace (32
//! transactions) against the raw commitment of the same packed columns, in the same run.
//!
//! Per size (a prefix of the trace, padded to `2^log_rows`; at 2^20 the whole block):
//! `raw-commit` = `ligerito`'s `ligero_commit` of the 64 packed columns (`2^(log_rows + 6)`
//! coefficients, the matrix shape the proof commits), `prove` = the whole proof (commitment
//! included, witness given), `verify` = the verifier from the table on. Proof bytes go to
//! stderr. Sizes: `PCVM_BENCH_LOG_ROWS` (default `16,20`).
//! `cargo bench -p diverge-pcvm --bench regs`

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/pool_host/mod.rs"]
mod pool_host;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diverge_pcvm::regs::{self, Boundary, RegsWitness};
use diverge_pcvm::Params;
use std::hint::black_box;

fn sizes() -> Vec<usize> {
    std::env::var("PCVM_BENCH_LOG_ROWS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 20])
}

fn bench(c: &mut Criterion) {
    let trace = common::trace_of(32);
    let replay = trace.replay_registers();
    let table = common::table();
    eprintln!("default block: {} rows", trace.rows.len());

    let mut group = c.benchmark_group("regs");
    group.sample_size(10);
    for log_rows in sizes() {
        let n = trace.rows.len().min(1 << log_rows);
        let t = common::prefix_of(&trace, &replay, n);
        let w = RegsWitness::from_trace(table, &t, log_rows).expect("witness");
        let b = Boundary {
            initial: t.initial_regs,
            last: t.final_regs,
        };
        let poly = common::packed(regs::COLUMNS, log_rows);
        let params = Params::new(log_rows + 6).expect("params");
        let cfg = params.prover_config().expect("config");
        group.bench_with_input(
            BenchmarkId::new("raw-commit", log_rows),
            &log_rows,
            |bch, _| {
                bch.iter(|| {
                    ligerito::ligero::ligero_commit(
                        black_box(&poly),
                        cfg.initial_dims.0,
                        cfg.initial_dims.1,
                        &cfg.initial_reed_solomon,
                    )
                })
            },
        );
        let proof = regs::prove(table, &b, &w).expect("prove");
        group.bench_with_input(BenchmarkId::new("prove", log_rows), &log_rows, |bch, _| {
            bch.iter(|| regs::prove_unchecked(table, &b, black_box(&w)).expect("prove"))
        });
        group.bench_with_input(BenchmarkId::new("verify", log_rows), &log_rows, |bch, _| {
            bch.iter(|| regs::verify(table, &b, log_rows, black_box(&proof)).expect("verify"))
        });
        eprintln!(
            "2^{log_rows} rows ({n} real): register-file proof {} bytes",
            regs::proof_bytes(&proof)
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
