//! The execution statement ([`diverge_pcvm::cpu`]: fetch, registers, ALU, control flow and
//! memory on one 256-column commitment) against trace length: `hash_chain(k)` for k = 2, 25
//! and 50 (2^16, 2^17 and 2^18 rows), each against re-executing the same run in the same
//! process (exec-reexec's `hash_chain(k)` on the recompiler and on the interpreter: the
//! baseline the prover/re-execution ratio is over) and the raw commitment of 256 packed
//! columns of that length (the commitment-throughput baseline).
//!
//! `prove` = witness from the trace, the native check and the proof; `verify` = the verifier
//! from the table on. Proof bytes go to stderr.
//! `cargo bench -p diverge-pcvm --bench cpu --profile dev` (the 2^18 group alone takes ~10 min;
//! filter with `-- cpu_hash_chain_2/`)

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/pool_host/mod.rs"]
mod pool_host;

use criterion::{criterion_group, criterion_main, Criterion};
use diverge_pcvm::regs::Boundary;
use diverge_pcvm::trace::Tracer;
use diverge_pcvm::{alu, cpu, mem, Params};
use exec_reexec::state::PoolState;
use exec_reexec::vm::{Backend, Vm, GUEST_BLOB};
use std::hint::black_box;

/// `hash_chain(k)` is about 5.1k rows per hash: these three fill 2^16, 2^17 and 2^18 rows
/// (10,363, 128,422 and 256,747 rows with the current guest blob).
const CHAINS: [(u64, usize); 3] = [(2, 16), (25, 17), (50, 18)];

fn bench(c: &mut Criterion) {
    let table = common::table();
    let entry = table.export_pc("hash_chain").expect("export");
    for (k, log_rows) in CHAINS {
        let trace = Tracer::new(GUEST_BLOB)
            .expect("tracer")
            .trace(
                "hash_chain",
                &[k],
                &mut pool_host::PoolHost::new(&PoolState::genesis(), Vec::new()),
                i64::MAX / 4,
                usize::MAX,
            )
            .expect("trace");
        let b = Boundary {
            initial: trace.initial_regs,
            last: trace.final_regs,
        };
        let w = cpu::witness(table, &trace).expect("witness");
        assert_eq!(w.regs.fetch.log_rows, log_rows, "hash_chain({k})");
        let proof = cpu::prove(table, &b, entry, &w).expect("prove");
        eprintln!(
            "hash_chain({k}): {} rows (2^{log_rows}), execution proof {} bytes",
            trace.rows.len(),
            alu::proof_bytes(&proof)
        );

        let mut group = c.benchmark_group(format!("cpu_hash_chain_{k}"));
        group.sample_size(10);
        for (backend, name) in [
            (Backend::Compiler, "reexec-recompiler"),
            (Backend::Interpreter, "reexec-interpreter"),
        ] {
            let mut vm = Vm::new(backend).expect("engine");
            group.bench_function(name, |bch| {
                bch.iter(|| vm.hash_chain(black_box(k), u64::MAX / 4).expect("run"))
            });
        }
        let poly = common::packed(mem::COLUMNS, log_rows);
        let params = Params::new(log_rows + 8).expect("params");
        let cfg = params.prover_config().expect("config");
        group.bench_function("raw-commit-256", |bch| {
            bch.iter(|| {
                ligerito::ligero::ligero_commit(
                    black_box(&poly),
                    cfg.initial_dims.0,
                    cfg.initial_dims.1,
                    &cfg.initial_reed_solomon,
                )
            })
        });
        group.bench_function("prove", |bch| {
            bch.iter(|| {
                let w = cpu::witness(table, black_box(&trace)).expect("witness");
                cpu::prove(table, &b, entry, &w).expect("prove")
            })
        });
        group.bench_function("verify", |bch| {
            bch.iter(|| cpu::verify(table, &b, entry, log_rows, black_box(&proof)).expect("verify"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
