//! exec-proof's validation against re-execution of the same block (the baseline, measured in
//! the same run): a 1-transaction block is proven once in the setup (about a minute), then
//! criterion times `validate` (log replay, post-state check, proof verification, no payload)
//! and PolkaVM re-execution of the block (the recompiler, what exec-reexec's `validate` does).
//!
//! `cargo bench -p exec-proof --bench validate --profile dev`

use criterion::{criterion_group, criterion_main, Criterion};
use diverge_plugins::{blake2b_256, Executor, Header, ValidateRequest, Verdict};
use diverge_pool::state::PoolState;
use diverge_pool::tx::{encode_payload, guest_input};
use diverge_pool::vm::{Backend, Vm};
use diverge_pool::workload::{Generator, WorkloadConfig};
use diverge_pool::DEFAULT_GAS_LIMIT;
use exec_proof::{Params, ProofExec};

fn validate(c: &mut Criterion) {
    let mut author = ProofExec::new(Params::default(), [1; 32]).expect("author");
    let mut validator = ProofExec::new(Params::default(), [1; 32]).expect("validator");
    let pre = author.genesis_state_root().expect("genesis");
    let block = Generator::new(WorkloadConfig::default()).block(1);
    let payload = encode_payload(&block);
    let out = author.execute(&pre, &payload).expect("prove");
    let request = ValidateRequest {
        pre_state_root: pre,
        header: Header {
            payload_hash: blake2b_256(&payload),
            post_state_root: out.post_state_root,
            ..Header::default()
        },
        payload: None,
        receipt: out.receipt.clone(),
        proof: out.proof.clone(),
    };
    assert_eq!(
        validator.validate(request.clone()).expect("validate"),
        Verdict::Valid
    );
    let mut g = c.benchmark_group("validate_1tx");
    g.sample_size(20);
    g.bench_function("exec_proof", |b| {
        b.iter(|| validator.validate(request.clone()).expect("validate"))
    });
    let mut vm = Vm::new(Backend::Compiler).expect("engine");
    let genesis = PoolState::genesis();
    g.bench_function("reexec_compiler", |b| {
        b.iter(|| {
            vm.run_block(&genesis, guest_input(&block), DEFAULT_GAS_LIMIT)
                .expect("re-execution")
        })
    });
    g.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
