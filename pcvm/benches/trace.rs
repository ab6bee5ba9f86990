//! Cost of tracing the workload against running it, on one default block (32 transactions,
//! `configs/README.md`): exec-reexec's own interpreter run (Linker, typed host calls), the same
//! interpreter driven through the tracer's raw loop without step tracing, the traced run (one
//! interrupt and a register snapshot per instruction), and the native semantics check.
//! `cargo bench -p diverge-pcvm --bench trace -- --warm-up-time 1 --measurement-time 5`

#[path = "../tests/pool_host/mod.rs"]
mod pool_host;

use criterion::{criterion_group, criterion_main, Criterion};
use diverge_pcvm::trace::Tracer;
use exec_reexec::state::PoolState;
use exec_reexec::tx::guest_input;
use exec_reexec::vm::{Backend, Vm, GUEST_BLOB};
use exec_reexec::workload::{Generator, WorkloadConfig};
use exec_reexec::DEFAULT_GAS_LIMIT;
use pool_host::PoolHost;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let input = guest_input(&Generator::new(WorkloadConfig::default()).block(32));
    let pre = PoolState::genesis();
    let gas = DEFAULT_GAS_LIMIT as i64;
    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let mut vm = Vm::new(Backend::Interpreter).expect("engine");
    let trace = tracer
        .trace(
            "apply_block",
            &[],
            &mut PoolHost::new(&pre, input.clone()),
            gas,
            usize::MAX,
        )
        .expect("trace");
    eprintln!(
        "default block: {} rows, {} host calls, {} gas",
        trace.rows.len(),
        trace.host_calls.len(),
        trace.gas_used
    );

    let mut group = c.benchmark_group("trace_32tx");
    group.sample_size(10);
    group.bench_function("reexec_interpreter", |b| {
        b.iter(|| {
            black_box(
                vm.run_block(&pre, input.clone(), DEFAULT_GAS_LIMIT)
                    .expect("run"),
            )
        })
    });
    group.bench_function("tracer_plain", |b| {
        b.iter(|| {
            let mut host = PoolHost::new(&pre, input.clone());
            black_box(
                tracer
                    .run_plain("apply_block", &[], &mut host, gas)
                    .expect("run"),
            )
        })
    });
    group.bench_function("tracer_traced", |b| {
        b.iter(|| {
            let mut host = PoolHost::new(&pre, input.clone());
            black_box(
                tracer
                    .trace("apply_block", &[], &mut host, gas, usize::MAX)
                    .expect("trace"),
            )
        })
    });
    group.bench_function("semantics_check", |b| {
        b.iter(|| tracer.check(black_box(&trace)).expect("check"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
