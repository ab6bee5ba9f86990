//! exec-reexec benchmarks: interpreter vs recompiler on the block workload and on a
//! compute-heavy loop (throughput in gas/s, i.e. guest instructions/s under the naive cost
//! model, plus host-call charges for the workload), block validation time vs transactions per
//! block, and state-root time vs state size (constant by design: the frontier and the nullifier
//! hash chain never rehash the state).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use diverge_plugins::{blake2b_256, Executor, Hash, Header, ValidateRequest, Verdict};
use exec_reexec::tx::encode_payload;
use exec_reexec::workload::{Generator, WorkloadConfig};
use exec_reexec::{Backend, Params, ReExec};

const BACKENDS: [(Backend, &str); 2] = [
    (Backend::Interpreter, "interpreter"),
    (Backend::Compiler, "compiler"),
];

fn exec(backend: Backend) -> ReExec {
    ReExec::new(Params {
        backend,
        gas_limit: u64::MAX / 4,
    })
    .expect("engine")
}

/// A chain of `blocks` blocks of `txs`; returns the executor, the tip and the next payload.
fn chain(backend: Backend, blocks: usize, txs: usize, next: usize) -> (ReExec, Hash, Vec<u8>) {
    let mut e = exec(backend);
    let mut g = Generator::new(WorkloadConfig::default());
    let mut pre = e.genesis_state_root().expect("genesis");
    for _ in 0..blocks {
        let out = e.execute(&pre, &encode_payload(&g.block(txs))).expect("x");
        pre = out.post_state_root;
        e.retain(&[pre]).expect("retain");
    }
    (e, pre, encode_payload(&g.block(next)))
}

fn workload(c: &mut Criterion) {
    let mut group = c.benchmark_group("workload_1000tx");
    for (backend, name) in BACKENDS {
        let (mut e, pre, payload) = chain(backend, 2, 1000, 1000);
        let gas = e.run(&pre, &payload).expect("run").gas_used;
        group.throughput(Throughput::Elements(gas));
        group.bench_function(name, |b| b.iter(|| e.run(&pre, &payload).expect("run")));
    }
    group.finish();
}

fn compute(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_chain_2000");
    for (backend, name) in BACKENDS {
        let mut e = exec(backend);
        let (_, gas) = e.vm().hash_chain(2000, u64::MAX / 4).expect("hash");
        group.throughput(Throughput::Elements(gas));
        group.bench_function(name, |b| {
            b.iter(|| e.vm().hash_chain(2000, u64::MAX / 4).expect("hash"))
        });
    }
    group.finish();
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_compiler");
    group.sample_size(10);
    for txs in [100usize, 1000, 5000] {
        let (mut e, pre, payload) = chain(Backend::Compiler, 1, 1000, txs);
        let out = e.execute(&pre, &payload).expect("x");
        let req = ValidateRequest {
            pre_state_root: pre,
            header: Header {
                payload_hash: blake2b_256(&payload),
                post_state_root: out.post_state_root,
                ..Header::default()
            },
            payload: Some(payload.clone()),
            receipt: out.receipt.clone(),
            proof: Vec::new(),
        };
        group.throughput(Throughput::Elements(txs as u64));
        group.bench_with_input(BenchmarkId::from_parameter(txs), &req, |b, req| {
            b.iter(|| {
                let v = e.validate(req.clone()).expect("validate");
                assert_eq!(v, Verdict::Valid);
            })
        });
    }
    group.finish();
}

fn state_root(c: &mut Criterion) {
    // An empty block costs exactly the root: load the state, 32 hashes for the tree root, one
    // for the state root, store. Its time should not grow with the state.
    let mut group = c.benchmark_group("state_root_vs_state");
    group.sample_size(20);
    for blocks in [1usize, 10, 40] {
        let (mut e, pre, _) = chain(Backend::Compiler, blocks, 1000, 0);
        let notes = e.state(&pre).expect("state").leaf_count;
        let empty = encode_payload(&[]);
        group.bench_function(BenchmarkId::new("guest_empty_block", notes), |b| {
            b.iter(|| e.run(&pre, &empty).expect("run"))
        });
        let state = e.state(&pre).expect("state").clone();
        group.bench_function(BenchmarkId::new("native_root", notes), |b| {
            b.iter(|| state.root())
        });
    }
    group.finish();
}

criterion_group!(benches, workload, compute, validate, state_root);
criterion_main!(benches);
