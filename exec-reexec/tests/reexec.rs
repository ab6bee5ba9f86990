//! exec-reexec against its rules: guest hashing and roots agree with the native code, both
//! backends agree to the byte and the gas unit, every invalid block is rejected with its reason,
//! forks and snapshots work, and nothing from input panics.

use diverge_plugins::codec::Encode;
use diverge_plugins::{blake2b_256, ExecOutput, Executor, Hash, Header, ValidateRequest, Verdict};
use exec_reexec::tx::{decode_payload, encode_payload, Receipt, Tx, TxResult};
use exec_reexec::workload::{Generator, WorkloadConfig};
use exec_reexec::{reason, Backend, Params, ReExec};
use proptest::prelude::*;

fn exec(backend: Backend) -> ReExec {
    ReExec::new(Params {
        backend,
        ..Params::default()
    })
    .expect("engine")
}

fn header_for(payload: &[u8], out: &ExecOutput) -> Header {
    Header {
        payload_hash: blake2b_256(payload),
        post_state_root: out.post_state_root,
        ..Header::default()
    }
}

fn request(pre: Hash, payload: &[u8], out: &ExecOutput) -> ValidateRequest {
    ValidateRequest {
        pre_state_root: pre,
        header: header_for(payload, out),
        payload: Some(payload.to_vec()),
        receipt: out.receipt.clone(),
        proof: Vec::new(),
    }
}

fn code(v: &Verdict) -> &str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid { code, .. } => code,
    }
}

fn results(out: &ExecOutput) -> Vec<u8> {
    Receipt::decode_bytes(&out.receipt)
        .expect("receipt")
        .results
}

#[test]
fn guest_blake2b_matches_the_host() {
    let mut e = exec(Backend::Interpreter);
    for len in [0usize, 1, 31, 64, 127, 128, 129, 255, 256, 1000, 4096] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(
            e.vm().guest_hash(&data).expect("guest hash"),
            blake2b_256(&data),
            "len {len}"
        );
    }
}

#[test]
fn guest_root_matches_native_root_and_genesis() {
    let mut e = exec(Backend::Interpreter);
    let genesis = e.genesis_state_root().expect("genesis");
    // An empty block stores the state unchanged: the guest's root of it is the native genesis root.
    let empty = encode_payload(&[]);
    let out = e.execute(&genesis, &empty).expect("empty block");
    assert_eq!(out.post_state_root, genesis);
    let mut g = Generator::new(WorkloadConfig::default());
    let mut pre = genesis;
    for _ in 0..5 {
        let payload = encode_payload(&g.block(200));
        let out = e.execute(&pre, &payload).expect("execute");
        let state = e.state(&out.post_state_root).expect("kept");
        assert_eq!(
            state.root(),
            out.post_state_root,
            "guest and native roots differ"
        );
        pre = out.post_state_root;
    }
}

fn run_chain(backend: Backend, seed: u64, blocks: usize, txs: usize) -> Vec<ExecOutput> {
    let mut e = exec(backend);
    let mut g = Generator::new(WorkloadConfig {
        seed,
        ..WorkloadConfig::default()
    });
    let mut pre = e.genesis_state_root().expect("genesis");
    let mut outs = Vec::new();
    for _ in 0..blocks {
        let payload = encode_payload(&g.block(txs));
        let out = e.execute(&pre, &payload).expect("execute");
        pre = out.post_state_root;
        outs.push(out);
    }
    outs
}

#[test]
fn backends_agree_on_generated_chains() {
    for seed in [1, 2, 3] {
        let a = run_chain(Backend::Interpreter, seed, 4, 300);
        let b = run_chain(Backend::Compiler, seed, 4, 300);
        assert_eq!(a, b, "seed {seed}");
        assert!(a.iter().all(|o| o.gas_used > 0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn backends_agree_on_random_workloads(seed in any::<u64>(), txs in 0usize..120, ds in 0u32..500) {
        let config = WorkloadConfig { seed, double_spend_permille: ds, ..WorkloadConfig::default() };
        let mut g = Generator::new(config);
        let blocks: Vec<Vec<u8>> = (0..3).map(|_| encode_payload(&g.block(txs))).collect();
        let mut outs = Vec::new();
        for backend in [Backend::Interpreter, Backend::Compiler] {
            let mut e = exec(backend);
            let mut pre = e.genesis_state_root().expect("genesis");
            let mut chain = Vec::new();
            for p in &blocks {
                let out = e.execute(&pre, p).expect("execute");
                pre = out.post_state_root;
                chain.push(out);
            }
            outs.push(chain);
        }
        prop_assert_eq!(&outs[0], &outs[1]);
    }

    #[test]
    fn arbitrary_payload_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut e = exec(Backend::Interpreter);
        let genesis = e.genesis_state_root().expect("genesis");
        match decode_payload(&bytes) {
            Err(_) => prop_assert!(e.execute(&genesis, &bytes).is_err()),
            Ok(_) => { let _ = e.execute(&genesis, &bytes); }
        }
    }
}

#[test]
fn honest_blocks_validate_on_the_other_backend() {
    let mut author = exec(Backend::Compiler);
    let mut validator = exec(Backend::Interpreter);
    let mut g = Generator::new(WorkloadConfig::default());
    let mut pre = author.genesis_state_root().expect("genesis");
    assert_eq!(validator.genesis_state_root().expect("genesis"), pre);
    for _ in 0..3 {
        let payload = encode_payload(&g.block(250));
        let out = author.execute(&pre, &payload).expect("execute");
        let v = validator
            .validate(request(pre, &payload, &out))
            .expect("validate");
        assert_eq!(v, Verdict::Valid);
        pre = out.post_state_root;
    }
}

fn deposit(tag: u8) -> Tx {
    Tx::Deposit {
        commitments: vec![[tag; 32]],
        value: 1000,
        from: [0; 32],
    }
}

fn transfer(nfs: &[u8], cm: u8) -> Tx {
    Tx::Transfer {
        nullifiers: nfs.iter().map(|&n| [n; 32]).collect(),
        commitments: vec![[cm; 32]],
        fee: 1,
    }
}

#[test]
fn double_spends_are_rejected_in_block_in_tx_and_across_blocks() {
    let mut e = exec(Backend::Interpreter);
    let g = e.genesis_state_root().expect("genesis");
    let b1 = encode_payload(&[
        deposit(1),
        transfer(&[10], 2),
        transfer(&[10], 3),     // same nullifier again in this block
        transfer(&[11, 11], 4), // twice in one transaction
        transfer(&[12, 10], 5), // one fresh, one spent: nothing of it applies
    ]);
    let out1 = e.execute(&g, &b1).expect("b1");
    assert_eq!(
        results(&out1),
        vec![
            TxResult::Ok as u8,
            TxResult::Ok as u8,
            TxResult::NullifierRepeatedInBlock as u8,
            TxResult::NullifierRepeatedInTx as u8,
            TxResult::NullifierRepeatedInBlock as u8,
        ]
    );
    let state = e.state(&out1.post_state_root).expect("state");
    assert_eq!(state.nullifiers.len(), 1, "only [10] was spent");
    assert_eq!(state.leaf_count, 2);
    assert_eq!(state.pool_value, 999);

    // [12] was not spent by the rejected transaction, so it spends now; [10] is a cross-block
    // double spend.
    let b2 = encode_payload(&[transfer(&[10], 6), transfer(&[12], 7)]);
    let out2 = e.execute(&out1.post_state_root, &b2).expect("b2");
    assert_eq!(
        results(&out2),
        vec![TxResult::NullifierSpent as u8, TxResult::Ok as u8]
    );

    // An author that claims the double spend succeeded is caught by the receipt.
    let mut lying = Receipt::decode_bytes(&out2.receipt).expect("receipt");
    lying.results[0] = TxResult::Ok as u8;
    let mut req = request(out1.post_state_root, &b2, &out2);
    req.receipt = lying.encode();
    let v = e.validate(req).expect("validate");
    assert_eq!(code(&v), reason::RECEIPT_MISMATCH, "{v:?}");
}

#[test]
fn pool_rules_hold() {
    let mut e = exec(Backend::Interpreter);
    let g = e.genesis_state_root().expect("genesis");
    let b = encode_payload(&[
        transfer(&[1], 1), // fee from an empty pool
        deposit(2),
        Tx::Withdraw {
            nullifiers: vec![[3; 32]],
            commitments: vec![],
            value: 5000,
            to: [0; 32],
        },
        Tx::Withdraw {
            nullifiers: vec![[3; 32]],
            commitments: vec![],
            value: 400,
            to: [0; 32],
        },
        Tx::Withdraw {
            nullifiers: vec![],
            commitments: vec![],
            value: 1,
            to: [0; 32],
        },
        Tx::Transfer {
            nullifiers: vec![[4; 32]],
            commitments: vec![],
            fee: 0,
        },
        Tx::Deposit {
            commitments: vec![[5; 32]],
            value: u64::MAX,
            from: [0; 32],
        },
    ]);
    let out = e.execute(&g, &b).expect("execute");
    use TxResult::*;
    let want: Vec<u8> = [
        PoolInsufficient,
        Ok,
        PoolInsufficient,
        Ok,
        BadShape,
        BadShape,
        PoolOverflow,
    ]
    .iter()
    .map(|r| *r as u8)
    .collect();
    assert_eq!(results(&out), want);
    assert_eq!(
        e.state(&out.post_state_root).expect("state").pool_value,
        600
    );
}

fn one_block(e: &mut ReExec, txs: usize) -> (Hash, Vec<u8>, ExecOutput) {
    let g = e.genesis_state_root().expect("genesis");
    let payload = encode_payload(&Generator::new(WorkloadConfig::default()).block(txs));
    let out = e.execute(&g, &payload).expect("execute");
    (g, payload, out)
}

#[test]
fn tampered_claims_are_rejected_with_their_reason() {
    let mut e = exec(Backend::Compiler);
    let (g, payload, out) = one_block(&mut e, 100);
    assert_eq!(
        e.validate(request(g, &payload, &out)).expect("v"),
        Verdict::Valid
    );

    let mut req = request(g, &payload, &out);
    req.header.post_state_root.0[0] ^= 1;
    assert_eq!(
        code(&e.validate(req).expect("v")),
        reason::POST_STATE_ROOT_MISMATCH
    );

    let mut req = request(g, &payload, &out);
    let mut r = Receipt::decode_bytes(&out.receipt).expect("receipt");
    r.gas_used += 1;
    req.receipt = r.encode();
    assert_eq!(code(&e.validate(req).expect("v")), reason::GAS_MISMATCH);

    let mut req = request(g, &payload, &out);
    req.receipt = vec![0xff; 3];
    assert_eq!(code(&e.validate(req).expect("v")), reason::BAD_RECEIPT);

    let mut req = request(g, &payload, &out);
    req.payload = Some(vec![0x05, 0x09]);
    req.header.payload_hash = blake2b_256(&[0x05, 0x09]);
    assert_eq!(code(&e.validate(req).expect("v")), reason::BAD_PAYLOAD);

    let mut req = request(g, &payload, &out);
    req.header.payload_hash = Hash::ZERO;
    assert_eq!(
        code(&e.validate(req).expect("v")),
        reason::PAYLOAD_HASH_MISMATCH
    );

    let mut req = request(g, &payload, &out);
    req.payload = None;
    assert_eq!(code(&e.validate(req).expect("v")), reason::MISSING_PAYLOAD);

    let mut req = request(g, &payload, &out);
    req.proof = vec![1];
    assert_eq!(code(&e.validate(req).expect("v")), reason::UNEXPECTED_PROOF);

    let req = request(Hash([7; 32]), &payload, &out);
    assert!(
        e.validate(req).is_err(),
        "unknown pre-state cannot be validated"
    );
}

#[test]
fn out_of_gas_blocks_are_rejected_identically_on_both_backends() {
    let mut gas = Vec::new();
    for backend in [Backend::Interpreter, Backend::Compiler] {
        let mut big = exec(backend);
        let (g, payload, out) = one_block(&mut big, 400);
        let mut small = ReExec::new(Params {
            backend,
            gas_limit: out.gas_used / 2,
        })
        .expect("engine");
        assert_eq!(small.genesis_state_root().expect("genesis"), g);
        let err = small
            .execute(&g, &payload)
            .expect_err("must run out of gas");
        assert!(err.message.contains(reason::OUT_OF_GAS), "{err}");
        let v = small
            .validate(request(g, &payload, &out))
            .expect("validate");
        assert_eq!(code(&v), reason::OUT_OF_GAS, "{v:?}");
        // Exactly enough gas is enough; the instance is usable after running out.
        let mut exact = ReExec::new(Params {
            backend,
            gas_limit: out.gas_used,
        })
        .expect("engine");
        assert_eq!(
            exact.validate(request(g, &payload, &out)).expect("v"),
            Verdict::Valid
        );
        let mut one_less = ReExec::new(Params {
            backend,
            gas_limit: out.gas_used - 1,
        })
        .expect("engine");
        assert_eq!(
            code(&one_less.validate(request(g, &payload, &out)).expect("v")),
            reason::OUT_OF_GAS
        );
        assert_eq!(
            small
                .validate(request(g, &payload, &out))
                .map(|v| code(&v).to_owned())
                .expect("v"),
            reason::OUT_OF_GAS
        );
        gas.push(out.gas_used);
    }
    assert_eq!(gas[0], gas[1]);
}

#[test]
fn forks_each_find_their_parent_and_retain_prunes() {
    let mut e = exec(Backend::Compiler);
    let mut g = Generator::new(WorkloadConfig::default());
    let genesis = e.genesis_state_root().expect("genesis");
    let parent = e
        .execute(&genesis, &encode_payload(&g.block(50)))
        .expect("parent");
    let p = parent.post_state_root;
    // Two children spend the same note: each is valid on its own branch.
    let a = encode_payload(&[transfer(&[42], 1), deposit(2)]);
    let b = encode_payload(&[deposit(3), transfer(&[42], 4)]);
    let oa = e.execute(&p, &a).expect("child a");
    let ob = e.execute(&p, &b).expect("child b");
    assert_ne!(oa.post_state_root, ob.post_state_root);
    // Funds exist from the parent's deposits, so the spend of [42] succeeds on both branches.
    assert_eq!(results(&oa)[0], TxResult::Ok as u8);
    assert_eq!(results(&ob)[1], TxResult::Ok as u8);
    // A grandchild on branch a sees [42] spent; on branch b too; the parent does not.
    let again = encode_payload(&[transfer(&[42], 9)]);
    for root in [oa.post_state_root, ob.post_state_root] {
        let o = e.execute(&root, &again).expect("grandchild");
        assert_eq!(results(&o), vec![TxResult::NullifierSpent as u8]);
    }
    let o = e.execute(&p, &again).expect("sibling");
    assert_eq!(results(&o), vec![TxResult::Ok as u8]);

    e.retain(&[oa.post_state_root]).expect("retain");
    assert_eq!(e.state_count(), 1);
    assert!(
        e.execute(&ob.post_state_root, &again).is_err(),
        "pruned branch"
    );
    assert!(e.execute(&p, &again).is_err(), "pruned parent");
    let o = e.execute(&oa.post_state_root, &again).expect("kept branch");
    assert_eq!(results(&o), vec![TxResult::NullifierSpent as u8]);
}

#[test]
fn snapshot_restore_round_trip() {
    let mut e = exec(Backend::Compiler);
    let mut g = Generator::new(WorkloadConfig::default());
    let mut pre = e.genesis_state_root().expect("genesis");
    for _ in 0..3 {
        pre = e
            .execute(&pre, &encode_payload(&g.block(100)))
            .expect("x")
            .post_state_root;
    }
    let snap = e.snapshot().expect("snapshot");
    let next = encode_payload(&g.block(100));
    let want = e.execute(&pre, &next).expect("continue");

    let mut fresh = exec(Backend::Interpreter);
    fresh.restore(&snap).expect("restore");
    assert_eq!(
        fresh.snapshot().expect("snapshot"),
        snap,
        "snapshot is canonical"
    );
    let got = fresh.execute(&pre, &next).expect("continue after restore");
    assert_eq!(got, want);

    let mut bad = snap.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    assert!(fresh.restore(&bad).is_err() || fresh.snapshot().expect("s") != snap);
    assert!(fresh.restore(&[1, 2, 3]).is_err());
}

#[test]
fn generated_blocks_include_double_spend_attempts() {
    let mut e = exec(Backend::Compiler);
    let mut g = Generator::new(WorkloadConfig::default());
    let mut pre = e.genesis_state_root().expect("genesis");
    let mut counts = [0usize; 8];
    for _ in 0..4 {
        let out = e.execute(&pre, &encode_payload(&g.block(500))).expect("x");
        for r in results(&out) {
            counts[r as usize] += 1;
        }
        pre = out.post_state_root;
    }
    assert!(counts[TxResult::Ok as usize] > 1500, "{counts:?}");
    assert!(counts[TxResult::NullifierSpent as usize] > 0, "{counts:?}");
    assert!(
        counts[TxResult::NullifierRepeatedInBlock as usize] > 0,
        "{counts:?}"
    );
    // Every rejection is a planted double spend: honest transactions all apply.
    assert_eq!(counts[1] + counts[2] + counts[0], 2000, "{counts:?}");
}
