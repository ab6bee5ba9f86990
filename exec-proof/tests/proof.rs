//! exec-proof against its rules, on the rlib: `prove_block` (the proven entry) computes what
//! re-execution's `apply_block` computes, block after block; a real proof of a block verifies
//! without the payload, and every way a block can lie is rejected with its reason.

use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::{blake2b_256, Executor, Hash, Header, ValidateRequest, Verdict};
use diverge_pool::state::PoolState;
use diverge_pool::tx::{encode_payload, guest_input, Receipt};
use diverge_pool::vm::{Backend, Vm};
use diverge_pool::workload::{Generator, WorkloadConfig};
use diverge_pool::DEFAULT_GAS_LIMIT;
use exec_proof::log::Record;
use exec_proof::{reason, BlockProof, Params, ProofExec};

/// Without proving: the traced `prove_block` and re-executed `apply_block` agree on roots and
/// results over a chain of blocks with planted double spends (in-block and cross-block), and
/// the four digests it leaves for the proof are the right ones.
#[test]
fn prove_block_computes_what_apply_block_does() {
    let mut vm = Vm::new(Backend::Interpreter).expect("engine");
    let mut g = Generator::new(WorkloadConfig {
        double_spend_permille: 200,
        ..WorkloadConfig::default()
    });
    let prover = ProofExec::new(Params::default(), [7; 32]).expect("exec-proof");
    let mut state = PoolState::genesis();
    for (i, txs) in [0usize, 1, 5, 20, 3].into_iter().enumerate() {
        let block = g.block(txs);
        let payload = encode_payload(&block);
        let want = vm
            .run_block(&state, guest_input(&block), DEFAULT_GAS_LIMIT)
            .expect("re-execution");
        let run = prover
            .program()
            .run(&state, &payload, i64::MAX / 4, 1 << 22)
            .expect("traced run");
        assert_eq!(Hash(run.applied.root), want.root, "block {i}: root");
        assert_eq!(run.applied.results, want.results, "block {i}: results");
        let digest = |j: usize| &run.outputs[32 * j..32 * (j + 1)];
        assert_eq!(digest(0), state.root().0, "block {i}: pre-state root");
        assert_eq!(
            digest(1),
            blake2b_256(&payload).0,
            "block {i}: payload hash"
        );
        assert_eq!(digest(2), blake2b_256(&run.log).0, "block {i}: log hash");
        assert_eq!(digest(3), want.root.0, "block {i}: post-state root");
        let records = exec_proof::log::parse(&run.log).expect("log");
        let fx = exec_proof::log::replay(&records, &state.nullifiers).expect("honest log");
        assert_eq!(fx.results, want.results, "block {i}: the log's results");
        println!(
            "block {i}: {txs} txs, {} rows, {} log bytes",
            run.trace.rows.len(),
            run.log.len()
        );
        state = run.applied.post;
    }
}

fn code(v: &Verdict) -> &str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid { code, .. } => code,
    }
}

/// One real proof (a block of one transfer after a deposit block, so the nullifier answers
/// are real), validated by a second instance that never saw the payload; then every way the
/// block can lie. ~2^19 rows: about two minutes of proving on 2 cores.
#[test]
fn a_proven_block_verifies_without_its_payload_and_lies_do_not() {
    let context = [3u8; 32];
    let mut author = ProofExec::new(Params::default(), context).expect("author");
    let mut validator = ProofExec::new(Params::default(), context).expect("validator");
    let mut g = Generator::new(WorkloadConfig {
        deposit_permille: 0,
        ..WorkloadConfig::default()
    });
    // The first block deposits (the generator needs notes to spend); prove only the second,
    // so its parent state is reached by a trusted path in both instances (snapshots).
    let funding = g.block(2);
    let mut vm = Vm::new(Backend::Interpreter).expect("engine");
    let run = vm
        .run_block(
            &PoolState::genesis(),
            guest_input(&funding),
            DEFAULT_GAS_LIMIT,
        )
        .expect("funding block");
    let parent = run.root;
    let snap = vec![diverge_pool::state::SnapshotState::of(parent, &run.post)].encode();
    author.restore(&snap).expect("restore");
    validator.restore(&snap).expect("restore");

    let payload = encode_payload(&g.block(1));
    let start = std::time::Instant::now();
    let proven = author.prove(&parent, &payload).expect("prove");
    let prove_s = start.elapsed().as_secs_f64();
    let out = proven.output;
    let header = Header {
        payload_hash: blake2b_256(&payload),
        post_state_root: out.post_state_root,
        ..Header::default()
    };
    let request = |header: &Header, receipt: &[u8], proof: &[u8]| ValidateRequest {
        pre_state_root: parent,
        header: header.clone(),
        payload: None,
        receipt: receipt.to_vec(),
        proof: proof.to_vec(),
    };
    let start = std::time::Instant::now();
    let verdict = validator
        .validate(request(&header, &out.receipt, &out.proof))
        .expect("validate");
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(verdict, Verdict::Valid);
    assert!(
        validator.state(&out.post_state_root).is_some(),
        "the validator keeps the post-state"
    );
    println!(
        "1-tx block: {} rows (2^{}), prove {prove_s:.1} s, validate {verify_ms:.1} ms, proof {} bytes",
        proven.rows,
        proven.log_rows,
        out.proof.len()
    );

    let mut check = |what: &str, header: &Header, receipt: &[u8], proof: &[u8], want: &str| {
        let v = validator
            .validate(request(header, receipt, proof))
            .expect("validation runs");
        assert_eq!(code(&v), want, "{what}: {v:?}");
    };
    // The header's claims.
    let mut h = header.clone();
    h.post_state_root.0[0] ^= 1;
    check(
        "another post-state root",
        &h,
        &out.receipt,
        &out.proof,
        reason::POST_STATE_MISMATCH,
    );
    let mut h = header.clone();
    h.payload_hash.0[5] ^= 1;
    check(
        "another payload",
        &h,
        &out.receipt,
        &out.proof,
        reason::PROOF_REJECTED,
    );
    check(
        "no proof",
        &header,
        &out.receipt,
        &[],
        reason::MISSING_PROOF,
    );
    // The receipt.
    let mut r = Receipt::decode_bytes(&out.receipt).expect("receipt");
    r.results[0] ^= 1;
    check(
        "another result",
        &header,
        &r.encode(),
        &out.proof,
        reason::RECEIPT_MISMATCH,
    );
    // The proof's parts.
    let bp: BlockProof = decode_exact(&out.proof).expect("proof bytes");
    let with = |edit: &dyn Fn(&mut BlockProof)| {
        let mut p = bp.clone();
        edit(&mut p);
        p.encode()
    };
    let records = exec_proof::log::parse(&bp.log).expect("log");
    let contains = records
        .iter()
        .position(|r| matches!(r, Record::Contains { .. }))
        .expect("the transfer asks about its nullifiers");
    // A lying host: a nullifier answered as spent. The replay catches it.
    let mut lie = records.clone();
    if let Record::Contains { answer, .. } = &mut lie[contains] {
        *answer = 1;
    }
    let lie_log = exec_proof::log::encode(&lie);
    check(
        "a false nullifier answer",
        &header,
        &out.receipt,
        &with(&|p| p.log = lie_log.clone()),
        reason::BAD_LOG,
    );
    // A log and receipt that agree with each other but not with the run: only the proof's
    // log digest catches it.
    let last = records.len() - 1;
    let mut other = records.clone();
    other[last] = Record::Result { code: 4 };
    let other_log = exec_proof::log::encode(&other);
    let mut r = Receipt::decode_bytes(&out.receipt).expect("receipt");
    r.results[0] = 4;
    check(
        "a consistent false log",
        &header,
        &r.encode(),
        &with(&|p| p.log = other_log.clone()),
        reason::PROOF_REJECTED,
    );
    check(
        "another return value",
        &header,
        &out.receipt,
        &with(&|p| p.final_regs[polkavm::Reg::A0.to_usize()] += 1),
        reason::RECEIPT_MISMATCH,
    );
    check(
        "another final register",
        &header,
        &out.receipt,
        &with(&|p| p.final_regs[1] ^= 8),
        reason::PROOF_REJECTED,
    );
    check(
        "another row count",
        &header,
        &out.receipt,
        &with(&|p| p.log_rows += 1),
        reason::PROOF_REJECTED,
    );
    check(
        "a huge row count",
        &header,
        &out.receipt,
        &with(&|p| p.log_rows = 40),
        reason::BAD_PROOF,
    );
    check(
        "a short post-state",
        &header,
        &out.receipt,
        &with(&|p| {
            p.post_record.pop();
        }),
        reason::BAD_PROOF,
    );
    check(
        "a truncated proof",
        &header,
        &out.receipt,
        &with(&|p| {
            p.cpu.truncate(p.cpu.len() / 2);
        }),
        reason::BAD_PROOF,
    );
    for at in [1, 100, 5_000, 50_000, bp.cpu.len() - 1] {
        let v = validator
            .validate(request(
                &header,
                &out.receipt,
                &with(&|p| p.cpu[at] ^= 0x10),
            ))
            .expect("validation runs");
        assert_ne!(v, Verdict::Valid, "byte {at} of the CPU proof flipped");
    }
    // Another chain's context, and the proof for another parent state.
    let mut stranger = ProofExec::new(Params::default(), [4u8; 32]).expect("another chain");
    stranger.restore(&snap).expect("restore");
    let v = stranger
        .validate(request(&header, &out.receipt, &out.proof))
        .expect("validate");
    assert_eq!(code(&v), reason::PROOF_REJECTED, "a proof crossed chains");
    // The same proof on another parent state (the block's own post-state, which the
    // validator now holds): another statement.
    let mut replay = request(&header, &out.receipt, &out.proof);
    replay.pre_state_root = out.post_state_root;
    let v = validator.validate(replay).expect("validate");
    assert_ne!(
        v,
        Verdict::Valid,
        "a proof replayed on another parent state"
    );
    // Still valid after all that: nothing was consumed by the rejections.
    assert_eq!(
        validator
            .validate(request(&header, &out.receipt, &out.proof))
            .expect("validate"),
        Verdict::Valid
    );
}
