//! The execution statement ([`diverge_pcvm::cpu`]): a complete run of the workload blob's
//! `hash_chain` export proves and verifies, with exec-reexec's result; every wrong path (a
//! branch taken against its registers, padding mid-run, a halt at the wrong pc, a return to a
//! non-target, another entry pc, a run that does not end) is refused by the prover's own
//! check, and its unchecked proof is rejected by the verifier, never by a panic.

mod common;
mod pool_host;

use std::sync::OnceLock;

use common::{prefix_of, table};
use diverge_pcvm::alu::{self, CpuProof, CpuWitness, MIN_LOG_ROWS};
use diverge_pcvm::cpu::{self, ctl, CpuError};
use diverge_pcvm::fetch::{field, Entry, FetchWitness, NO_REG};
use diverge_pcvm::regs::{Boundary, RegsWitness};
use diverge_pcvm::trace::{Regs, Trace, Tracer};
use exec_reexec::state::PoolState;
use exec_reexec::vm::{Backend, Vm, GUEST_BLOB};
use polkavm::Reg;

use crate::pool_host::PoolHost;

/// `hash_chain(k)`: no host calls, 5221 rows at `k = 1` and 5121 more per hash.
fn chain_trace(k: u64) -> Trace {
    Tracer::new(GUEST_BLOB)
        .expect("tracer")
        .trace(
            "hash_chain",
            &[k],
            &mut PoolHost::new(&PoolState::genesis(), Vec::new()),
            i64::MAX / 4,
            usize::MAX,
        )
        .expect("trace")
}

fn entry() -> u32 {
    table()
        .export_pc("hash_chain")
        .expect("the blob exports hash_chain")
}

fn boundary(trace: &Trace) -> Boundary {
    Boundary {
        initial: trace.initial_regs,
        last: trace.final_regs,
    }
}

/// `hash_chain(2)`, its witness and proof, built once per binary.
struct Run {
    trace: Trace,
    w: CpuWitness,
    proof: CpuProof,
    /// Witness and proof, the prover's own check included.
    prove_ms: f64,
}

fn run() -> &'static Run {
    static R: OnceLock<Run> = OnceLock::new();
    R.get_or_init(|| {
        let trace = chain_trace(2);
        let start = std::time::Instant::now();
        let w = cpu::witness(table(), &trace).expect("witness");
        let proof = cpu::prove(table(), &boundary(&trace), entry(), &w).expect("prove");
        let prove_ms = start.elapsed().as_secs_f64() * 1e3;
        Run {
            trace,
            w,
            proof,
            prove_ms,
        }
    })
}

/// One row of a path: the table entry it fetches and the value the trace's row wrote to its
/// destination (loads: memory is S3's, free here).
type Step = (Entry, Option<u64>);

fn steps(trace: &Trace) -> Vec<Step> {
    trace
        .rows
        .iter()
        .map(|r| {
            let i = table().index_of(r.pc).expect("an instruction");
            (table().entries[i], r.write.map(|(_, v)| v))
        })
        .collect()
}

fn pad_step() -> Step {
    (*table().pad_entry(), None)
}

/// The witness a prover commits for an arbitrary path from `initial`: every ALU-constrained
/// write recomputed from the registers along the path, loads keeping the trace's values,
/// `TAKEN` set to follow the path, so only what the path itself gets wrong is wrong.
fn along(path: &[Step], initial: Regs, log_rows: usize) -> (CpuWitness, Boundary) {
    let t = table();
    let n = 1usize << log_rows;
    let mut tuples: Vec<Entry> = path.iter().map(|s| s.0).collect();
    tuples.resize(n, *t.pad_entry());
    let mut regs = initial;
    let mut writes = vec![0u64; n];
    for (k, &(e, traced)) in path.iter().enumerate() {
        let read = |slot: usize| match e[slot] {
            NO_REG => 0,
            r => regs[r as usize],
        };
        let dest = e[field::WRITE];
        let v = match alu::expected(&e, read(field::REG_B), read(field::REG_C)) {
            Some(v) => v,
            None if dest == NO_REG => 0,
            None => traced.unwrap_or(regs[dest as usize]),
        };
        if dest != NO_REG {
            regs[dest as usize] = v;
        }
        writes[k] = v;
    }
    let fetch = FetchWitness::with_tuples(t, log_rows, tuples);
    let regs = RegsWitness::simulate(fetch, writes, &initial).expect("simulate");
    let b = Boundary {
        initial,
        last: regs.last_regs(),
    };
    let mut w = CpuWitness::new(regs);
    let rows = &w.regs.fetch.rows;
    for k in 0..n - 1 {
        let (e, next) = (&rows[k], rows[k + 1][field::PC]);
        let branch = (ctl::JUMP..ctl::IND).any(|j| e[field::CTL + j] != 0);
        if branch && e[field::TARGET] != e[field::NEXT_PC] {
            w.alu.taken[k] = (next == e[field::TARGET]) as u8;
        }
    }
    (w, b)
}

/// The prover's check names `expected`, the prover refuses, and the unchecked proof is
/// rejected (a 2^16-row proof, ~5 s on 2 cores).
fn assert_rejected(w: &CpuWitness, b: &Boundary, entry_pc: u32, expected: &CpuError) {
    let t = table();
    assert_eq!(cpu::check(t, b, entry_pc, w).as_ref(), Err(expected));
    assert!(cpu::prove(t, b, entry_pc, w).is_err(), "the prover refuses");
    let proof = cpu::prove_unchecked(t, b, entry_pc, w).expect("a cheating prover proves anyway");
    let log_rows = w.regs.fetch.log_rows;
    let why = cpu::verify(t, b, entry_pc, log_rows, &proof)
        .expect_err(&format!("{expected}: the verifier accepted"));
    println!("{expected}: rejected ({why})");
}

#[test]
fn a_hash_chain_run_proves_and_verifies_with_reexecutions_result() {
    let r = run();
    let prove_ms = r.prove_ms;
    let (t, b) = (table(), boundary(&r.trace));
    let log_rows = r.w.regs.fetch.log_rows;
    assert_eq!(log_rows, MIN_LOG_ROWS);
    let start = std::time::Instant::now();
    assert_eq!(cpu::verify(t, &b, entry(), log_rows, &r.proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    // The proven result is re-execution's.
    let mut vm = Vm::new(Backend::Interpreter).expect("engine");
    let (expected, _) = vm.hash_chain(2, u64::MAX / 4).expect("re-execution");
    assert_eq!(r.trace.result(), expected);
    assert_eq!(b.last[Reg::A0.to_usize()], expected);
    // The proof is of this statement only: not under another entry, result or row count,
    // and not as the ALU-consistency statement.
    assert!(cpu::verify(t, &b, entry() + 1, log_rows, &r.proof).is_err());
    let mut other = b;
    other.last[Reg::A0.to_usize()] ^= 1;
    assert!(cpu::verify(t, &other, entry(), log_rows, &r.proof).is_err());
    assert!(cpu::verify(t, &b, entry(), log_rows + 1, &r.proof).is_err());
    assert!(alu::verify(t, &b, log_rows, &r.proof).is_err());
    let rows = &r.w.regs.fetch.rows;
    let count = |j: usize| rows.iter().filter(|e| e[field::CTL + j] != 0).count();
    let taken = r.w.alu.taken.iter().filter(|&&x| x == 1).count();
    println!(
        "hash_chain(2): {} rows (2^{log_rows}), {} conditional, {} indirect, {taken} taken: \
         prove {prove_ms:.0} ms (with witness), verify {verify_ms:.1} ms, {} proof bytes",
        r.trace.rows.len(),
        count(ctl::IF_C8) + count(ctl::IF_EQ),
        count(ctl::IND),
        alu::proof_bytes(&r.proof)
    );
}

/// [`along`] on the honest path is the honest witness, so the cheats below differ from an
/// honest run only where their paths do.
#[test]
fn the_path_witness_of_the_honest_run_is_the_honest_witness() {
    let r = run();
    let (w, b) = along(&steps(&r.trace), r.trace.initial_regs, MIN_LOG_ROWS);
    assert_eq!(b, boundary(&r.trace));
    assert!(w == r.w, "the path witness differs from the honest one");
    // Conditional branches go both ways in the run, and each condition decides somewhere.
    let rows = &r.w.regs.fetch.rows;
    let decided = |j: usize, outcome: u8| {
        (0..rows.len()).any(|k| rows[k][field::CTL + j] != 0 && r.w.alu.taken[k] == outcome)
    };
    for j in [ctl::IF_C8, ctl::IF_EQ] {
        assert!(decided(j, 0) || decided(j, 1), "selector {j}");
    }
    assert!(
        decided(ctl::IF_C8, 0) || decided(ctl::IF_EQ, 0),
        "a branch not taken"
    );
    assert!(
        decided(ctl::IF_C8, 1) || decided(ctl::IF_EQ, 1),
        "a branch taken"
    );
}

#[test]
fn a_branch_taken_against_its_registers_is_rejected() {
    // The run PolkaVM makes when one conditional branch goes the other way (the last one
    // whose diverted run still returns within 2^16 rows): registers and memory are that
    // run's, so only the branch row is wrong, and its TAKEN follows the path.
    let r = run();
    let rows = &r.w.regs.fetch.rows;
    let n = r.trace.rows.len();
    let conditional = |e: &Entry| e[field::CTL + ctl::IF_C8] + e[field::CTL + ctl::IF_EQ] != 0;
    let (k, diverted) = (0..n - 1)
        .rev()
        .filter(|&k| conditional(&rows[k]) && rows[k][field::TARGET] != rows[k][field::NEXT_PC])
        .find_map(|k| {
            let e = &rows[k];
            let other = if r.w.alu.taken[k] == 1 {
                e[field::NEXT_PC]
            } else {
                e[field::TARGET]
            };
            let t = Tracer::new(GUEST_BLOB).expect("tracer").trace_diverted(
                "hash_chain",
                &[2],
                &mut PoolHost::new(&PoolState::genesis(), Vec::new()),
                i64::MAX / 4,
                (1 << MIN_LOG_ROWS) - 1,
                k + 1,
                other,
            );
            t.ok().map(|t| (k, t))
        })
        .expect("a branch whose other way returns");
    let pcs = |t: &Trace| t.rows[..=k].iter().map(|r| r.pc).collect::<Vec<_>>();
    assert!(
        pcs(&diverted) == pcs(&r.trace),
        "the same run up to the branch"
    );
    assert_ne!(diverted.rows[k].next_pc, r.trace.rows[k].next_pc);
    let (w, b) = along(&steps(&diverted), r.trace.initial_regs, MIN_LOG_ROWS);
    println!(
        "branch at row {k} (pc {}) diverted: {} rows, result {:#x} instead of {:#x}",
        rows[k][field::PC],
        diverted.rows.len(),
        diverted.result(),
        r.trace.result()
    );
    assert_eq!(b.last, diverted.final_regs);
    let expected = CpuError::Alu(alu::AluError::Control {
        row: k,
        what: "branch outcome",
    });
    assert_rejected(&w, &b, entry(), &expected);
}

#[test]
fn padding_mid_run_is_rejected() {
    // The run halts, and the rows go on: the export again, from the registers it left.
    let r = run();
    let once = steps(&r.trace);
    let mut path = once.clone();
    path.push(pad_step());
    path.extend(once.iter().copied());
    let (w, b) = along(&path, r.trace.initial_regs, MIN_LOG_ROWS);
    let pad = table().pad_pc();
    let expected = CpuError::WrongSuccessor {
        row: once.len(),
        expected: pad,
        got: entry(),
    };
    assert_rejected(&w, &b, entry(), &expected);
}

#[test]
fn a_halt_at_the_wrong_pc_is_rejected() {
    // The run stops mid-way (padding follows an instruction that is no return), claiming the
    // registers it has there as the final state.
    let r = run();
    let all = steps(&r.trace);
    let m = (all.len() / 2..all.len())
        .find(|&k| all[k - 1].0[field::CTL + ctl::IND] == 0)
        .expect("a row that is no indirect jump");
    let (w, b) = along(&all[..m], r.trace.initial_regs, MIN_LOG_ROWS);
    let prev = &all[m - 1].0;
    let expected = CpuError::WrongSuccessor {
        row: m - 1,
        expected: if w.alu.taken[m - 1] == 1 {
            prev[field::TARGET]
        } else {
            prev[field::NEXT_PC]
        },
        got: table().pad_pc(),
    };
    assert_rejected(&w, &b, entry(), &expected);
}

#[test]
fn a_return_to_a_non_target_is_rejected() {
    // A return lands one instruction past its return address: not a jump target.
    let r = run();
    let all = steps(&r.trace);
    let k = (0..all.len() - 2)
        .find(|&k| all[k].0[field::CTL + ctl::IND] != 0 && all[k + 1].0 != *table().pad_entry())
        .expect("a return inside the run");
    let mut path = all.clone();
    path.remove(k + 1);
    let (w, b) = along(&path, r.trace.initial_regs, MIN_LOG_ROWS);
    let address = u64::from_le_bytes(std::array::from_fn(|l| w.alu.r[l][k]));
    assert_eq!(address as u32, all[k + 1].0[field::JADDR]);
    let expected = CpuError::WrongJumpAddress {
        row: k,
        address,
        got: path[k + 1].0[field::JADDR],
    };
    assert_rejected(&w, &b, entry(), &expected);
}

#[test]
fn a_run_entered_elsewhere_is_rejected() {
    // The honest run without its first row, from the registers after it.
    let r = run();
    let replay = r.trace.replay_registers();
    let all = steps(&r.trace);
    let (w, b) = along(&all[1..], replay[1], MIN_LOG_ROWS);
    let expected = CpuError::WrongEntry {
        entry: entry(),
        got: all[1].0[field::PC],
    };
    assert_rejected(&w, &b, entry(), &expected);
}

#[test]
fn a_run_that_does_not_end_is_rejected() {
    // The first 2^16 rows of hash_chain(13) (66,673 rows): every step follows, no halt.
    let long = chain_trace(13);
    let n = 1usize << MIN_LOG_ROWS;
    assert!(long.rows.len() > n);
    let prefix = prefix_of(&long, &long.replay_registers(), n);
    let w = CpuWitness::from_trace(table(), &prefix, MIN_LOG_ROWS).expect("witness");
    let expected = CpuError::NotEnded {
        pad: table().pad_pc(),
        got: prefix.rows[n - 1].pc,
    };
    assert_rejected(&w, &boundary(&prefix), entry(), &expected);
}

/// A whole real block (`apply_block`, two transactions, host calls answered by re-execution's
/// host): 369,717 rows at 2^19, 42 s to prove on 2 cores (verify 8 ms, 401 KB), so ignored
/// by default.
#[test]
#[ignore = "2^19 rows: ~45 s of proving on 2 cores; cargo test -p diverge-pcvm --test cpu -- --ignored"]
fn a_real_block_execution_proves_and_verifies() {
    let trace = common::small_trace();
    let entry = table()
        .export_pc("apply_block")
        .expect("the blob exports apply_block");
    let b = boundary(trace);
    let start = std::time::Instant::now();
    let w = cpu::witness(table(), trace).expect("witness");
    let proof = cpu::prove(table(), &b, entry, &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let log_rows = w.regs.fetch.log_rows;
    let start = std::time::Instant::now();
    assert_eq!(cpu::verify(table(), &b, entry, log_rows, &proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "apply_block (2 txs): {} rows (2^{log_rows}): prove {prove_ms:.0} ms, verify {verify_ms:.1} ms, {} proof bytes",
        trace.rows.len(),
        alu::proof_bytes(&proof)
    );
}
