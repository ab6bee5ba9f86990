//! The fetch argument on the default block's real trace (32 transactions, `configs/README.md`)
//! against the raw commitment of the same packed columns, in the same run.
//!
//! Per size (a prefix of the trace's pcs, padded to `2^log_rows`; at 2^20 the whole block):
//! `raw-commit` = `ligerito`'s `ligero_commit` of the 16 packed columns (`2^(log_rows + 4)`
//! coefficients, the same matrix shape the proof commits), `prove` = the whole fetch proof
//! (commitment included), `verify` = the verifier from the table on. Proof bytes go to stderr.
//! Sizes: `PCVM_BENCH_LOG_ROWS` (default `16,20`).
//! `cargo bench -p diverge-pcvm --bench fetch`

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/pool_host/mod.rs"]
mod pool_host;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diverge_pcvm::fetch::{self, FetchWitness, FIELDS};
use diverge_pcvm::field::pack_columns;
use diverge_pcvm::{Params, F32};
use ligerito_binary_fields::BinaryFieldElement;
use std::hint::black_box;

fn sizes() -> Vec<usize> {
    std::env::var("PCVM_BENCH_LOG_ROWS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 20])
}

/// The packed polynomial the proof commits (the same layout as `fetch::prove_unchecked`).
fn packed(w: &FetchWitness) -> Vec<F32> {
    let rows = 1usize << w.log_rows;
    let mut columns: Vec<Vec<F32>> = (0..FIELDS)
        .map(|j| w.rows.iter().map(|e| F32::from_value(e[j])).collect())
        .collect();
    columns.push(w.read_ts.clone());
    let mut finals = w.final_ts.clone();
    finals.resize(rows, F32::zero());
    columns.push(finals);
    pack_columns(&columns, w.log_rows)
}

fn bench(c: &mut Criterion) {
    let trace = common::trace_of(32);
    let table = common::table();
    let pcs: Vec<u32> = trace.rows.iter().map(|r| r.pc).collect();
    eprintln!(
        "default block: {} rows; table 2^{} entries",
        pcs.len(),
        table.log_entries
    );

    let mut group = c.benchmark_group("fetch");
    group.sample_size(10);
    for log_rows in sizes() {
        let n = pcs.len().min(1 << log_rows);
        let w = FetchWitness::new(table, &pcs[..n], log_rows).expect("witness");
        let poly = packed(&w);
        let params = Params::new(log_rows + 4).expect("params");
        let cfg = params.prover_config().expect("config");
        group.bench_with_input(
            BenchmarkId::new("raw-commit", log_rows),
            &log_rows,
            |b, _| {
                b.iter(|| {
                    ligerito::ligero::ligero_commit(
                        black_box(&poly),
                        cfg.initial_dims.0,
                        cfg.initial_dims.1,
                        &cfg.initial_reed_solomon,
                    )
                })
            },
        );
        let proof = fetch::prove(table, &w).expect("prove");
        group.bench_with_input(BenchmarkId::new("prove", log_rows), &log_rows, |b, _| {
            b.iter(|| fetch::prove(table, black_box(&w)).expect("prove"))
        });
        group.bench_with_input(BenchmarkId::new("verify", log_rows), &log_rows, |b, _| {
            b.iter(|| fetch::verify(table, log_rows, black_box(&proof)).expect("verify"))
        });
        eprintln!(
            "2^{log_rows} rows ({n} real): fetch proof {} bytes",
            fetch::proof_bytes(&proof)
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
