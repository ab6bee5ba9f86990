//! The register-file argument on the workload's real trace: the honest proof verifies, and
//! every inconsistent register access (stale read, another register's value, a dropped
//! write, a write to the wrong register, a changed boundary state, a forged or reordered
//! timestamp) and every tampered proof field is rejected by the verifier, never by a panic.

mod common;
mod pool_host;

use std::sync::OnceLock;

use common::{prefix_trace, small_trace, table, trace_of};
use diverge_pcvm::fetch::{self, field, FetchWitness, NO_REG};
use diverge_pcvm::regs::{
    self, op_address, Boundary, RegsError, RegsProof, RegsWitness, COLUMNS, OPS, WRITE_OP,
};
use diverge_pcvm::sumcheck::SumcheckProof;
use diverge_pcvm::trace::{Trace, REGS};
use diverge_pcvm::{codec, EngineError, F128, F32};
use ligerito_binary_fields::BinaryFieldElement;

fn boundary(trace: &Trace) -> Boundary {
    Boundary {
        initial: trace.initial_regs,
        last: trace.final_regs,
    }
}

/// The first rows of the real trace as a trace of their own (final state: the registers
/// after them), at the table's size: where the cheating provers work.
fn prefix() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| prefix_trace((1usize << table().log_entries) - 100))
}

fn prefix_witness() -> RegsWitness {
    RegsWitness::from_trace(table(), prefix(), table().log_entries).expect("witness")
}

fn prefix_proof() -> &'static RegsProof {
    static P: OnceLock<RegsProof> = OnceLock::new();
    P.get_or_init(|| regs::prove(table(), &boundary(prefix()), &prefix_witness()).expect("prove"))
}

fn verify_prefix(b: &Boundary, proof: &RegsProof) -> Result<(), RegsError> {
    regs::verify(table(), b, table().log_entries, proof)
}

#[test]
fn a_real_block_trace_proves_and_verifies() {
    let trace = small_trace();
    assert!(!trace.host_calls.is_empty(), "the block makes host calls");
    let log_rows = table().log_rows_for(trace.rows.len());
    let w = RegsWitness::from_trace(table(), trace, log_rows).expect("witness");
    let b = boundary(trace);
    assert_eq!(regs::check(table(), &b, &w), Ok(()));
    let start = std::time::Instant::now();
    let proof = regs::prove(table(), &b, &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    assert_eq!(regs::verify(table(), &b, log_rows, &proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(regs::verify(table(), &b, log_rows + 1, &proof).is_err());
    println!(
        "{} rows (2^{log_rows}), {} host calls: prove {prove_ms:.0} ms, verify {verify_ms:.1} ms, {} proof bytes",
        trace.rows.len(),
        trace.host_calls.len(),
        regs::proof_bytes(&proof)
    );
}

/// `cargo test -p diverge-pcvm --test regs -- --ignored --nocapture`
#[test]
#[ignore = "heavy: a 2^20-row trace and a 2^26 commitment"]
fn the_default_block_proves_and_verifies() {
    let trace = trace_of(32);
    let log_rows = table().log_rows_for(trace.rows.len());
    let w = RegsWitness::from_trace(table(), &trace, log_rows).expect("witness");
    let b = boundary(&trace);
    let start = std::time::Instant::now();
    let proof = regs::prove(table(), &b, &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    assert_eq!(regs::verify(table(), &b, log_rows, &proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "default block {} rows (2^{log_rows}): prove {prove_ms:.0} ms, verify {verify_ms:.1} ms, {} proof bytes",
        trace.rows.len(),
        regs::proof_bytes(&proof)
    );
}

#[test]
fn the_honest_prefix_verifies() {
    let b = boundary(prefix());
    assert_eq!(verify_prefix(&b, prefix_proof()), Ok(()));
    for log_rows in [
        0,
        table().log_entries - 1,
        regs::MAX_LOG_ROWS + 1,
        usize::MAX,
    ] {
        assert!(regs::verify(table(), &b, log_rows, prefix_proof()).is_err());
    }
    let mut short = prefix_witness();
    short.gap[2].pop();
    assert!(matches!(
        regs::prove_unchecked(table(), &b, &short),
        Err(RegsError::Rows { .. })
    ));
}

/// The trace's host calls write only `A0`; one that wrote another register is refused.
#[test]
fn a_host_write_outside_a0_is_refused() {
    let mut t = small_trace().clone();
    let call = t.host_calls.first_mut().expect("a host call in the block");
    let row = call.row;
    call.reg_writes.push((polkavm::Reg::S0, 0xdead));
    assert!(matches!(
        RegsWitness::from_trace(table(), &t, table().log_rows_for(t.rows.len())),
        Err(RegsError::UnexpectedWrite { row: r, .. }) if r == row
    ));
}

/// Prove a tampered witness without the native check: the oracle and the prover refuse it,
/// the verifier rejects the proof (against the true boundary).
fn assert_cheat_rejected(w: &RegsWitness, what: &str) -> RegsError {
    let b = boundary(prefix());
    assert!(
        regs::check(table(), &b, w).is_err(),
        "{what}: the oracle sees it"
    );
    assert!(
        regs::prove(table(), &b, w).is_err(),
        "{what}: the prover refuses"
    );
    let proof = regs::prove_unchecked(table(), &b, w).expect("a cheating prover proves anyway");
    verify_prefix(&b, &proof).expect_err(&format!("{what}: the verifier accepted"))
}

/// Every operation on register cell `reg`, in time order: `(row, slot)`.
fn ops_on(w: &RegsWitness, reg: u32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (k, row) in w.fetch.rows.iter().enumerate() {
        for s in 0..OPS {
            if op_address(row, s) == reg {
                out.push((k, s));
            }
        }
    }
    out
}

/// A write on a real register that changes its value, followed (next on that register) by a
/// read: `(register, the write's op, the read's op, the op after the read if any)`.
type WriteThenRead = (u32, (usize, usize), (usize, usize), Option<(usize, usize)>);

fn write_then_read(w: &RegsWitness) -> WriteThenRead {
    for reg in 0..REGS as u32 {
        let ops = ops_on(w, reg);
        for i in 0..ops.len().saturating_sub(1) {
            let (wk, ws) = ops[i];
            let (_, rs) = ops[i + 1];
            if ws == WRITE_OP && rs != WRITE_OP && w.old[ws][wk] != w.new[wk] {
                return (reg, ops[i], ops[i + 1], ops.get(i + 2).copied());
            }
        }
    }
    panic!("the prefix has a changing write followed by a read");
}

#[test]
fn a_stale_read_is_rejected() {
    let honest = prefix_witness();
    let (_, (wk, ws), (rk, rs), _) = write_then_read(&honest);
    // The value before the write, at the timestamp the read honestly consumes.
    let mut w = honest.clone();
    w.old[rs][rk] = honest.old[ws][wk];
    assert_cheat_rejected(&w, "stale value");
    // And with the timestamp the stale value was written at: the write is skipped, its
    // output consumed by nobody, the older tuple twice (a dropped write, seen by the read).
    let mut w = honest.clone();
    w.old[rs][rk] = honest.old[ws][wk];
    w.t_old[rs][rk] = honest.t_old[ws][wk];
    w.relink();
    assert_cheat_rejected(&w, "stale value and timestamp (dropped write)");
}

/// The exact cycle a read-write memory check without ordering accepts: the read consumes the
/// tuple before the write (a stale value), the write consumes the read's output, the next
/// access the write's. Every multiset balances; only the range check (`t_old < t_now`) fails.
#[test]
fn a_read_reordered_before_a_write_is_rejected() {
    let honest = prefix_witness();
    let (reg, (wk, ws), (rk, rs), next) = write_then_read(&honest);
    let pw = |k: usize, s: usize| F32::from_value(fetch::G).pow((OPS * k + s + 1) as u64);
    let mut w = honest.clone();
    w.old[rs][rk] = honest.old[ws][wk];
    w.t_old[rs][rk] = honest.t_old[ws][wk];
    w.t_old[ws][wk] = pw(rk, rs);
    match next {
        Some((nk, ns)) => w.t_old[ns][nk] = pw(wk, ws),
        None => w.last_ts[reg as usize] = pw(wk, ws),
    }
    w.relink();
    let err = assert_cheat_rejected(&w, "reordered read");
    assert_eq!(
        err,
        RegsError::Rejected(EngineError::FinalEvaluation("range: Init ∪ W ≠ R ∪ F")),
        "the registers' multisets balance: the ordering check is what rejects"
    );
}

#[test]
fn another_registers_value_is_rejected() {
    let honest = prefix_witness();
    // A read of a real register whose value differs from another register's at that time.
    let replay = prefix().replay_registers();
    let (k, s, other) = (0..prefix().rows.len())
        .flat_map(|k| (0..WRITE_OP).map(move |s| (k, s)))
        .find_map(|(k, s)| {
            let r = op_address(&honest.fetch.rows[k], s) as usize;
            (r < REGS)
                .then(|| (0..REGS).find(|&o| replay[k][o] != replay[k][r]))
                .flatten()
                .map(|o| (k, s, o))
        })
        .expect("a read with a differing other register");
    let mut w = honest.clone();
    w.old[s][k] = replay[k][other];
    assert_cheat_rejected(&w, "another register's value");
    // With that register's timestamp too.
    let other_ops = ops_on(&honest, other as u32);
    if let Some(&(ok, os)) = other_ops.iter().rev().find(|&&(ok, os)| (ok, os) < (k, s)) {
        w.t_old[s][k] = F32::from_value(fetch::G).pow((OPS * ok + os + 1) as u64);
        w.relink();
        assert_cheat_rejected(&w, "another register's value and timestamp");
    }
}

/// The write address is the fetched `write` field: a prover that writes another register (or
/// none) must fetch a tuple the table does not have, even with the memory consistent.
#[test]
fn a_write_to_the_wrong_register_or_none_is_rejected() {
    let honest = prefix_witness();
    let (reg, (wk, _), _, _) = write_then_read(&honest);
    for wrong in [(reg + 1) % REGS as u32, NO_REG] {
        let mut rows = honest.fetch.rows.clone();
        rows[wk][field::WRITE] = wrong;
        let f = FetchWitness::with_tuples(table(), table().log_entries, rows);
        let w = RegsWitness::simulate(f, honest.new.clone(), &prefix().initial_regs)
            .expect("a consistent memory for the wrong tuples");
        let b = boundary(prefix());
        let proof = regs::prove_unchecked(table(), &b, &w).expect("proves anyway");
        assert!(
            verify_prefix(&b, &proof).is_err(),
            "write to {wrong} accepted"
        );
        // Even against the boundary that cheating memory ends in.
        let b = Boundary {
            initial: prefix().initial_regs,
            last: w.last_regs(),
        };
        let proof = regs::prove_unchecked(table(), &b, &w).expect("proves anyway");
        assert!(
            verify_prefix(&b, &proof).is_err(),
            "write to {wrong} accepted"
        );
    }
}

#[test]
fn a_changed_boundary_is_rejected() {
    let b = boundary(prefix());
    let proof = prefix_proof();
    for r in 0..REGS {
        let mut c = b;
        c.initial[r] ^= 1 << (r % 64);
        assert!(verify_prefix(&c, proof).is_err(), "initial reg {r}");
        let mut c = b;
        c.last[r] ^= 1 << 40;
        assert!(verify_prefix(&c, proof).is_err(), "final reg {r}");
    }
    // A prover whose memory starts elsewhere, claiming the true initial state.
    let mut initial = prefix().initial_regs;
    let used = (0..REGS)
        .find(|&r| !ops_on(&prefix_witness(), r as u32).is_empty())
        .expect("a used register");
    initial[used] ^= 7;
    let honest = prefix_witness();
    let w = RegsWitness::simulate(honest.fetch.clone(), honest.new.clone(), &initial)
        .expect("simulate");
    assert_cheat_rejected(&w, "changed initial state");
}

#[test]
fn a_forged_timestamp_is_rejected() {
    let honest = prefix_witness();
    let (reg, _, (rk, rs), _) = write_then_read(&honest);
    // A gap inside the range that no write produced.
    let mut w = honest.clone();
    w.t_old[rs][rk] = w.t_old[rs][rk].mul(&F32::from_value(fetch::G));
    w.relink();
    assert_cheat_rejected(&w, "forged timestamp");
    // Zero.
    let mut w = honest.clone();
    w.t_old[rs][rk] = F32::zero();
    w.relink();
    assert_cheat_rejected(&w, "zero timestamp");
    // A final timestamp.
    let mut w = honest.clone();
    w.last_ts[reg as usize] = w.last_ts[reg as usize].mul(&F32::from_value(fetch::G));
    assert_cheat_rejected(&w, "final timestamp");
    // The gap column inconsistent with t_old (no relink).
    let mut w = honest.clone();
    w.gap[rs][rk] = w.gap[rs][rk].mul(&F32::from_value(fetch::G));
    assert_cheat_rejected(&w, "gap without its timestamp");
}

/// The written value is advice in this slice (the ALU slice constrains it): a consistent
/// memory with another value at a register's last write proves another final state, and
/// never the true one.
#[test]
fn a_changed_write_value_proves_only_its_own_final_state() {
    let honest = prefix_witness();
    let (reg, wk) = (0..REGS as u32)
        .find_map(|r| {
            let ops = ops_on(&honest, r);
            let last_write = ops.iter().rposition(|&(_, s)| s == WRITE_OP)?;
            Some((r, ops[last_write].0))
        })
        .expect("a register written in the prefix");
    let mut writes = honest.new.clone();
    writes[wk] ^= 1;
    let w = RegsWitness::simulate(honest.fetch.clone(), writes, &prefix().initial_regs)
        .expect("simulate");
    let b = boundary(prefix());
    let moved = Boundary {
        initial: b.initial,
        last: w.last_regs(),
    };
    assert_eq!(moved.last[reg as usize], b.last[reg as usize] ^ 1);
    assert_cheat_rejected(&w, "changed write value, true final state");
    let proof = regs::prove(table(), &moved, &w).expect("a consistent memory proves");
    assert_eq!(verify_prefix(&moved, &proof), Ok(()));
    // And a dummy-cell final value other than the memory's.
    let mut w = honest.clone();
    w.dummy_last ^= 1;
    assert_cheat_rejected(&w, "dummy final value");
}

fn flip(x: &mut F128, bit: usize) {
    *x = x.add(&F128::from_value(1u128 << (bit % 128)));
}

/// Proof fields flipped (every product, column evaluation and final timestamp, a stride of
/// the sumcheck messages, root bytes and opening bytes): all rejected.
#[test]
fn every_proof_field_is_bound() {
    let b = boundary(prefix());
    let proof = prefix_proof();
    let reject = |p: &RegsProof, what: &str| {
        assert!(verify_prefix(&b, p).is_err(), "{what} accepted");
    };
    for i in 0..32 {
        let mut p = proof.clone();
        p.commitment.root[i] ^= 1 << (i % 8);
        reject(&p, "root byte");
    }
    let mut p = proof.clone();
    p.dummy_last ^= 1;
    reject(&p, "dummy final");
    for c in 0..proof.last_ts.len() {
        let mut p = proof.clone();
        p.last_ts[c] = p.last_ts[c].add(&F32::one());
        reject(&p, "final timestamp");
    }
    let mut p = proof.clone();
    p.last_ts.pop();
    reject(&p, "final timestamps shortened");
    for k in 0..proof.fetch_rows.products.len() {
        let mut p = proof.clone();
        flip(&mut p.fetch_rows.products[k], k);
        reject(&p, "fetch product");
    }
    let mut p = proof.clone();
    flip(&mut p.fetch_finals.product, 3);
    reject(&p, "fetch finals product");
    for k in 0..proof.ops.products.len() {
        let mut p = proof.clone();
        flip(&mut p.ops.products[k], k + 11);
        reject(&p, "ops product");
    }
    let mut p = proof.clone();
    p.ops.products.pop();
    reject(&p, "ops products shortened");
    type Layers = fn(&mut RegsProof) -> &mut Vec<SumcheckProof>;
    let circuits: [(&str, Layers); 3] = [
        ("fetch rows", |p| &mut p.fetch_rows.layers),
        ("fetch finals", |p| &mut p.fetch_finals.layers),
        ("ops", |p| &mut p.ops.layers),
    ];
    let mut n = 0usize;
    for (name, layers_of) in circuits {
        let shape: Vec<(Vec<usize>, usize)> = layers_of(&mut proof.clone())
            .iter()
            .map(|l| (l.rounds.iter().map(Vec::len).collect(), l.evals.len()))
            .collect();
        for (l, (rounds, evals)) in shape.iter().enumerate() {
            for (r, &len) in rounds.iter().enumerate() {
                for k in 0..len {
                    n += 1;
                    if n % 5 == 0 {
                        let mut p = proof.clone();
                        flip(&mut layers_of(&mut p)[l].rounds[r][k], l + r + k);
                        reject(&p, name);
                    }
                }
            }
            for e in 0..*evals {
                let mut p = proof.clone();
                flip(&mut layers_of(&mut p)[l].evals[e], 100 + e);
                reject(&p, name);
            }
            let mut p = proof.clone();
            layers_of(&mut p)[l].evals.pop();
            reject(&p, name);
        }
        let mut p = proof.clone();
        layers_of(&mut p).pop();
        reject(&p, name);
    }
    for r in 0..proof.order.rounds.len() {
        for k in 0..proof.order.rounds[r].len() {
            let mut p = proof.clone();
            flip(&mut p.order.rounds[r][k], r + k);
            reject(&p, "ordering zerocheck round");
        }
    }
    for e in 0..proof.order.evals.len() {
        let mut p = proof.clone();
        flip(&mut p.order.evals[e], e);
        reject(&p, "ordering zerocheck eval");
    }
    let mut p = proof.clone();
    p.order.evals.pop();
    reject(&p, "ordering zerocheck evals shortened");
    for k in 0..4 {
        for c in 0..COLUMNS {
            let mut p = proof.clone();
            flip(&mut p.column_evals[k][c], c * 7 + k);
            reject(&p, "column evaluation");
        }
        let mut p = proof.clone();
        p.column_evals[k].pop();
        reject(&p, "column evaluations shortened");
    }
    let bytes = codec::encode(&proof.opening);
    let stride = (bytes.len() / 200).max(1);
    for i in (0..bytes.len()).step_by(stride) {
        let mut bb = bytes.clone();
        bb[i] ^= 1 << (i % 8);
        if let Ok(opening) = codec::decode(&bb) {
            let mut p = proof.clone();
            p.opening = opening;
            reject(&p, "opening byte");
        }
    }
}
