//! The execution statement ([`diverge_pcvm::cpu`]): a complete run of the workload blob's
//! `hash_chain` export proves and verifies, with exec-reexec's result; every wrong path (a
//! branch taken against its registers, padding mid-run, a halt at the wrong pc, a return to a
//! non-target, another entry pc, a run that does not end) is refused by the prover's own
//! check, and its unchecked proof is rejected by the verifier, never by a panic.

mod common;
mod pool_host;

use std::collections::HashMap;
use std::sync::OnceLock;

use common::{prefix_of, table};
use diverge_pcvm::alu::{self, CpuProof, CpuWitness, MIN_LOG_ROWS};
use diverge_pcvm::cpu::{self, ctl, CpuError};
use diverge_pcvm::fetch::{field, Entry, FetchWitness, NO_REG};
use diverge_pcvm::mem::{side, MemError, MemWitness, SideEntry};
use diverge_pcvm::regs::{Boundary, RegsWitness};
use diverge_pcvm::trace::{Regs, Trace, Tracer};
use diverge_pcvm::F32;
use exec_reexec::state::PoolState;
use exec_reexec::vm::{Backend, Vm, GUEST_BLOB};
use ligerito_binary_fields::BinaryFieldElement;
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

/// What a cheating prover's memory does differently at one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cheat {
    None,
    /// A load returns the word as it was before its latest store.
    StaleLoad(usize),
    /// A store leaves memory unchanged.
    DropStore(usize),
    /// A byte store also flips a bit of the neighbouring byte.
    Neighbour(usize),
    /// A word store commits its value as `[lo, 0, 0, 0, hi, 0, 0, 0]`: the same packing in
    /// the field, but not bytes.
    NotBytes(usize),
}

/// The 64-bit value a word's committed "bytes" pack to in the field (for bytes, the word).
fn pack(b: &[u32; 8]) -> u64 {
    let half = |h: usize| (0..4).fold(0u32, |acc, l| acc ^ (b[4 * h + l] << (8 * l)));
    half(0) as u64 | (half(1) as u64) << 32
}

/// The witness a prover commits for an arbitrary path from `initial`: every register and
/// memory value the path computes (ALU results from the registers along it, loads from the
/// memory its stores left, `cheat` applied), `TAKEN` set to follow the path, so only what
/// the path itself gets wrong is wrong. Host-call results keep the trace's values
/// (`hash_chain` has none).
fn along(path: &[Step], initial: Regs, log_rows: usize) -> (CpuWitness, Boundary) {
    along_with(path, initial, log_rows, Cheat::None)
}

fn along_with(
    path: &[Step],
    initial: Regs,
    log_rows: usize,
    cheat: Cheat,
) -> (CpuWitness, Boundary) {
    let t = table();
    let m = &t.memory;
    let n = 1usize << log_rows;
    let mut tuples: Vec<Entry> = path.iter().map(|s| s.0).collect();
    tuples.resize(n, *t.pad_entry());
    // Memory by key (mapped words, the dummy at 0, and whatever unmapped word a path
    // touches), with the time of its last access and the version before its last store.
    let mut memory: HashMap<u32, [u32; 8]> = m
        .keys
        .iter()
        .zip(&m.init)
        .map(|(&k, b)| (k, b.map(u32::from)))
        .collect();
    let mut last: HashMap<u32, u64> = HashMap::new();
    let mut before: HashMap<u32, ([u32; 8], u64)> = HashMap::new();
    let mut mw = MemWitness {
        side: Vec::new(),
        side_ts: Vec::new(),
        side_final: Vec::new(),
        key: vec![0; n],
        ob: std::array::from_fn(|_| vec![0; n]),
        nb: std::array::from_fn(|_| vec![0; n]),
        oh: std::array::from_fn(|_| vec![0; n]),
        sb: std::array::from_fn(|_| vec![0; n]),
        sb_ts: Default::default(),
        byte_final: Vec::new(),
        t_old: Vec::new(),
        gap: Vec::new(),
        gap_ts: Vec::new(),
        gap_final: Vec::new(),
        final_bytes: Vec::new(),
        final_ts: Vec::new(),
        // No host calls on these paths (hash_chain makes none).
        hc: vec![0; n],
        io: vec![0; n],
    };
    let g = F32::from_value(diverge_pcvm::fetch::G);
    let mut regs = initial;
    let mut writes = vec![0u64; n];
    for (k, e) in tuples.iter().enumerate() {
        let traced = path.get(k).and_then(|s| s.1);
        let read = |slot: usize| match e[slot] {
            NO_REG => 0,
            r => regs[r as usize],
        };
        let (a, b) = (read(field::REG_B), read(field::REG_C));
        let s = t
            .index_of(e[field::PC])
            .map_or([0; diverge_pcvm::mem::SIDE], |i| m.side[i]);
        mw.side.push(s);
        let mut key = 0;
        let mut loaded = None;
        let old = memory[&0];
        let mut ob = old;
        let mut nb = old;
        if s[side::L8..=side::S64].contains(&1) {
            let (alpha, beta, cin) = alu::operands(e, a, b);
            let (r, _) = alu::lanes(e[field::ALU_SEL + alu::sel::MODE], alpha, beta, cin);
            let address = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
            let off = (address & 7) as usize;
            key = address & !7;
            mw.oh[off][k] = 1;
            ob = *memory.entry(key).or_default();
            if cheat == Cheat::StaleLoad(k) {
                let (stale, _) = before[&key];
                ob = stale;
            }
            nb = ob;
            if s[side::S8] | s[side::S64] == 1 {
                let v = if s[side::IMM2] == 1 {
                    s[side::V_LO] as u64 | (s[side::V_HI] as u64) << 32
                } else {
                    read(field::REG_A)
                };
                let mut sb = v.to_le_bytes().map(u32::from);
                if cheat == Cheat::NotBytes(k) {
                    sb = [v as u32, 0, 0, 0, (v >> 32) as u32, 0, 0, 0];
                }
                for (col, &x) in mw.sb.iter_mut().zip(&sb) {
                    col[k] = x;
                }
                if s[side::S64] == 1 {
                    nb = sb;
                } else {
                    nb[off] = sb[0];
                }
                if cheat == Cheat::Neighbour(k) {
                    nb[off ^ 1] ^= 1;
                }
                if cheat == Cheat::DropStore(k) {
                    nb = ob;
                }
                before.insert(key, (ob, last.get(&key).copied().unwrap_or(0)));
            }
            loaded = match (s[side::L8], s[side::L64]) {
                (1, _) => Some(ob[off] as u64),
                (_, 1) => Some(pack(&ob)),
                _ => None,
            };
        }
        mw.key[k] = key;
        // The IO region's words are kind 3 in the table.
        let io_word = (m.io..m.io + diverge_pcvm::mem::IO_BYTES).contains(&key);
        mw.io[k] = u8::from(key != 0 && io_word);
        let produced_before = last.get(&key).copied().unwrap_or(0);
        let t_old = match cheat {
            Cheat::StaleLoad(c) if c == k => before[&key].1,
            _ => produced_before,
        };
        mw.t_old.push(g.pow(t_old));
        last.insert(key, k as u64 + 1);
        for l in 0..8 {
            mw.ob[l][k] = ob[l];
            mw.nb[l][k] = nb[l];
        }
        memory.insert(key, nb);
        let dest = e[field::WRITE];
        let v = match alu::expected(e, a, b) {
            Some(v) => v,
            None if dest == NO_REG => 0,
            None => loaded.or(traced).unwrap_or(regs[dest as usize]),
        };
        if dest != NO_REG {
            regs[dest as usize] = v;
        }
        writes[k] = v;
    }
    mw.final_bytes = m.keys.iter().map(|k| memory[k]).collect();
    mw.final_ts = m
        .keys
        .iter()
        .map(|k| g.pow(last.get(k).copied().unwrap_or(0)))
        .collect();
    mw.relink(t);
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
    w.mem = Some(mw);
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
    assert!(
        w.regs == r.w.regs && w.alu == r.w.alu,
        "the path's registers or lanes"
    );
    assert!(
        w.mem == r.w.mem,
        "the path's memory differs from the honest one"
    );
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
    let mut w = CpuWitness::from_trace(table(), &prefix, MIN_LOG_ROWS).expect("witness");
    cpu::with_memory(table(), &mut w).expect("memory");
    let expected = CpuError::NotEnded {
        pad: table().pad_pc(),
        got: prefix.rows[n - 1].pc,
    };
    assert_rejected(&w, &boundary(&prefix), entry(), &expected);
}

/// The honest run's path with `cheat` at the first (or `last`) row `pick` accepts (rows, side entry,
/// the honest witness's memory columns), refused by the prover and rejected by the verifier.
fn memory_cheat(
    what: &str,
    last: bool,
    pick: impl Fn(usize, &SideEntry, &MemWitness) -> bool,
    cheat: fn(usize) -> Cheat,
) {
    let r = run();
    let m = r.w.mem.as_ref().expect("memory");
    let mut rows: Vec<usize> = (0..r.trace.rows.len()).collect();
    if last {
        rows.reverse();
    }
    let k = rows
        .into_iter()
        .find(|&k| pick(k, &m.side[k], m))
        .unwrap_or_else(|| panic!("{what}: no row to cheat at"));
    let (w, b) = along_with(
        &steps(&r.trace),
        r.trace.initial_regs,
        MIN_LOG_ROWS,
        cheat(k),
    );
    let why = cpu::check(table(), &b, entry(), &w).expect_err("the oracle sees it");
    assert!(matches!(why, CpuError::Mem(_)), "{what}: {why}");
    let proof = cpu::prove_unchecked(table(), &b, entry(), &w).expect("proves anyway");
    let verdict = cpu::verify(table(), &b, entry(), MIN_LOG_ROWS, &proof)
        .expect_err(&format!("{what}: the verifier accepted"));
    println!("{what} at row {k}: refused ({why}), rejected ({verdict})");
}

/// A word store that changed its word, and the rows after it.
fn changing_store(k: usize, s: &SideEntry, m: &MemWitness, width: usize) -> bool {
    s[width] == 1 && (0..8).any(|l| m.ob[l][k] != m.nb[l][k])
}

#[test]
fn a_load_of_a_stale_value_is_rejected() {
    // A word load whose word an earlier store changed: it returns the version before.
    memory_cheat(
        "stale load",
        false,
        |k, s, m| {
            s[side::L64] == 1
                && (0..k)
                    .rev()
                    .find(|&j| {
                        m.key[j] == m.key[k] && m.side[j][side::S64] + m.side[j][side::S8] == 1
                    })
                    .is_some_and(|j| (0..8).any(|l| m.ob[l][j] != m.nb[l][j]))
        },
        Cheat::StaleLoad,
    );
}

#[test]
fn a_dropped_store_is_rejected() {
    memory_cheat(
        // The last one: an early one drops the return address and the run jumps to 0,
        // which the control identities catch first.
        "dropped store",
        true,
        |k, s, m| changing_store(k, s, m, side::S64),
        Cheat::DropStore,
    );
}

#[test]
fn a_byte_store_that_changes_its_neighbour_is_rejected() {
    memory_cheat(
        "neighbour byte",
        false,
        |_, s, _| s[side::S8] == 1,
        Cheat::Neighbour,
    );
}

#[test]
fn stored_bytes_that_are_not_bytes_are_rejected() {
    // Same packing in GF(2^32), so only the byte range check stands in the way.
    memory_cheat(
        "non-byte stored bytes",
        false,
        |k, s, m| s[side::S64] == 1 && (1..4).chain(5..8).any(|l| m.sb[l][k] != 0),
        Cheat::NotBytes,
    );
}

#[test]
fn unmapped_and_unaligned_accesses_are_rejected() {
    // The stack pointer moved off the mapped stack (or onto the non-memory rows' dummy
    // word at address 0), or off 8-alignment: PolkaVM would segfault, or (for words) the
    // workload never does it; none proves.
    let r = run();
    let sp = Reg::SP.to_usize();
    for (what, sp_value) in [
        ("unmapped", 0x2000_0000u64),
        // The first push lands at address 0: the dummy word's key, which no memory row
        // may name (its tuples have another kind).
        ("the dummy word's address", 8),
        ("unaligned", r.trace.initial_regs[sp] - 4),
    ] {
        let mut initial = r.trace.initial_regs;
        initial[sp] = sp_value;
        let (w, b) = along(&steps(&r.trace), initial, MIN_LOG_ROWS);
        let why = cpu::check(table(), &b, entry(), &w).expect_err("the oracle sees it");
        assert!(
            matches!(
                why,
                CpuError::Mem(MemError::Unmapped { .. } | MemError::Unaligned { .. })
            ),
            "{what}: {why}"
        );
        let proof = cpu::prove_unchecked(table(), &b, entry(), &w).expect("proves anyway");
        let verdict = cpu::verify(table(), &b, entry(), MIN_LOG_ROWS, &proof)
            .expect_err(&format!("{what}: the verifier accepted"));
        println!("{what} stack: refused ({why}), rejected ({verdict})");
    }
}

/// The memory part of the proof is bound: every product, every final evaluation and a
/// stride of every sumcheck message, flipped, is rejected.
#[test]
fn every_memory_proof_field_is_bound() {
    let r = run();
    let b = boundary(&r.trace);
    let honest = r
        .proof
        .alu
        .mem
        .as_ref()
        .expect("an execution proof has memory");
    let reject = |p: &CpuProof, what: &str| {
        assert!(
            cpu::verify(table(), &b, entry(), MIN_LOG_ROWS, p).is_err(),
            "{what} accepted"
        );
    };
    let flip = |x: &mut diverge_pcvm::F128, bit: usize| {
        *x = x.add(&diverge_pcvm::F128::from_value(1u128 << (bit % 128)));
    };
    let with = |edit: &dyn Fn(&mut diverge_pcvm::mem::MemProof)| {
        let mut p = r.proof.clone();
        edit(p.alu.mem.as_mut().expect("memory"));
        p
    };
    for k in 0..honest.rows.products.len() {
        reject(&with(&|m| flip(&mut m.rows.products[k], k)), "row product");
    }
    for k in 0..honest.bytes.products.len() {
        reject(
            &with(&|m| flip(&mut m.bytes.products[k], k)),
            "byte product",
        );
    }
    reject(
        &with(&|m| flip(&mut m.side_finals.product, 1)),
        "side finals",
    );
    reject(
        &with(&|m| flip(&mut m.mem_finals.product, 2)),
        "memory finals",
    );
    reject(
        &with(&|m| flip(&mut m.byte_finals.product, 3)),
        "byte finals",
    );
    for e in 0..honest.semantics.evals.len() {
        reject(
            &with(&|m| flip(&mut m.semantics.evals[e], e)),
            "semantics evaluation",
        );
    }
    for r_ in 0..honest.semantics.rounds.len() {
        reject(
            &with(&|m| flip(&mut m.semantics.rounds[r_][0], r_)),
            "semantics message",
        );
    }
    let mut p = r.proof.clone();
    p.alu.mem = None;
    reject(&p, "memory dropped");
    assert_eq!(r.proof.regs.column_evals.len(), 14);
    for k in 8..14 {
        for c in [
            0,
            diverge_pcvm::mem::COL_KEY,
            diverge_pcvm::mem::COL_FINAL_TS,
        ] {
            let mut p = r.proof.clone();
            flip(&mut p.regs.column_evals[k][c], c + k);
            reject(&p, "memory column evaluation");
        }
    }
}

/// `hash_input(len, out)`: one `input_read` host call writes the input into guest memory
/// (host rows), the guest hashes it. Proves and verifies with the digest at `out` as a
/// public output, which is Blake2b-256 of the input; a false output, and a host row that
/// returns elsewhere, are rejected.
#[test]
fn a_run_with_host_writes_proves_and_verifies() {
    let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let out = 0xfffd_0000u64;
    let trace = tracer
        .trace(
            "hash_input",
            &[data.len() as u64, out],
            &mut PoolHost::new(&PoolState::genesis(), data.clone()),
            i64::MAX / 4,
            usize::MAX,
        )
        .expect("trace");
    assert_eq!(trace.result(), 0, "hash_input succeeded");
    let entry = table().export_pc("hash_input").expect("export");
    let b = boundary(&trace);
    let start = std::time::Instant::now();
    let w = cpu::witness(table(), &trace).expect("witness");
    // The digest the guest writes at `out` is a public output: the statement fixes it.
    let keys: Vec<u32> = (0..4).map(|j| out as u32 + 8 * j).collect();
    let (proof, outputs) =
        cpu::prove_with_outputs(table(), &b, entry, &keys, &cpu::NO_CONTEXT, &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let log_rows = w.regs.fetch.log_rows;
    let verify = |outputs: &[diverge_pcvm::mem::Output]| {
        cpu::verify_with_outputs(
            table(),
            &b,
            entry,
            outputs,
            &cpu::NO_CONTEXT,
            log_rows,
            &proof,
        )
    };
    assert_eq!(verify(&outputs), Ok(()));
    let rows = &w.regs.fetch.rows;
    let host_rows = rows
        .iter()
        .filter(|e| e[field::OPCODE] == diverge_pcvm::fetch::HOST_OPCODE)
        .count();
    assert_eq!(
        host_rows,
        data.len().div_ceil(8),
        "one host row per written word"
    );
    let digest: Vec<u8> = outputs.iter().flat_map(|o| o.bytes).collect();
    let want = exec_reexec::vm::Vm::new(Backend::Interpreter)
        .expect("engine")
        .guest_hash(&data)
        .expect("hash");
    assert_eq!(
        digest,
        want.0.to_vec(),
        "the proven output is Blake2b-256 of the input"
    );
    // Another digest, a dropped output, or none: another statement, rejected.
    let mut wrong = outputs.clone();
    wrong[2].bytes[5] ^= 1;
    assert!(verify(&wrong).is_err(), "a wrong output verified");
    assert!(verify(&outputs[..3]).is_err(), "a dropped output verified");
    assert!(
        verify(&[]).is_err(),
        "the proof verified without its outputs"
    );
    // The same statement under another context (another block): rejected.
    let mut other = cpu::NO_CONTEXT;
    other[31] = 1;
    assert!(
        cpu::verify_with_outputs(table(), &b, entry, &outputs, &other, log_rows, &proof).is_err(),
        "the proof verified under another context"
    );
    // A host row that claims its word is an ordinary one (what writing the program's own
    // data would need): refused, and the tuple (kind 1 at an IO word) and the host-row
    // identity both reject it.
    let host_row = rows
        .iter()
        .position(|e| e[field::OPCODE] == diverge_pcvm::fetch::HOST_OPCODE)
        .expect("a host row");
    let mut ordinary = w.clone();
    ordinary.mem.as_mut().expect("memory").io[host_row] = 0;
    assert!(cpu::check(table(), &b, entry, &ordinary).is_err());
    let lie = cpu::prove_unchecked_with_outputs(
        table(),
        &b,
        entry,
        &outputs,
        &cpu::NO_CONTEXT,
        &ordinary,
    )
    .expect("proves");
    assert!(
        cpu::verify_with_outputs(
            table(),
            &b,
            entry,
            &outputs,
            &cpu::NO_CONTEXT,
            log_rows,
            &lie
        )
        .is_err(),
        "a host write outside the IO region was proven"
    );
    // A cheating prover claiming the wrong digest from the same witness.
    let lie = cpu::prove_unchecked_with_outputs(table(), &b, entry, &wrong, &cpu::NO_CONTEXT, &w)
        .expect("proves");
    assert!(
        cpu::verify_with_outputs(table(), &b, entry, &wrong, &cpu::NO_CONTEXT, log_rows, &lie)
            .is_err(),
        "a false output was proven"
    );
    println!(
        "hash_input(200 bytes): {} rows + {host_rows} host rows (2^{log_rows}): prove {prove_ms:.0} ms, digest public",
        trace.rows.len()
    );

    // The last host row returning to the call instead of after it.
    let last = (0..rows.len())
        .rev()
        .find(|&k| rows[k][field::OPCODE] == diverge_pcvm::fetch::HOST_OPCODE)
        .expect("a host row");
    let call = (0..last)
        .rev()
        .find(|&k| rows[k][field::OPCODE] != rows[last][field::OPCODE])
        .expect("the ecalli");
    let mut bad = w.clone();
    let mut tuples = bad.regs.fetch.rows.clone();
    tuples[last + 1] = tuples[call];
    bad.regs.fetch = FetchWitness::with_tuples(table(), log_rows, tuples);
    let why = cpu::check(table(), &b, entry, &bad).expect_err("the oracle sees it");
    let p = cpu::prove_unchecked(table(), &b, entry, &bad).expect("proves anyway");
    let verdict = cpu::verify(table(), &b, entry, log_rows, &p).expect_err("rejected");
    println!("a host row returning to its call: refused ({why}), rejected ({verdict})");
}

/// Host rows write only the IO region. `apply_block` (re-execution's entry) lets `state_load`
/// and `input_read` write the program's own data, so its honest run cannot be proven at all:
/// the prover refuses it (`prove_block`, exec-proof's entry, proves: `exec-proof/tests`).
#[test]
fn host_writes_outside_the_io_region_are_refused() {
    let err = cpu::witness(table(), common::small_trace()).expect_err("refused");
    assert!(
        matches!(err, CpuError::Mem(MemError::HostOutsideIo { .. })),
        "{err}"
    );
    println!("apply_block's host writes: {err}");
}

/// The bytes a block carries: a CPU proof round-trips through its codec, and every
/// truncation, a trailing byte, another version and random bytes are decode errors (never a
/// panic); a flipped byte either fails to decode or fails to verify.
#[test]
fn the_proof_codec_round_trips_and_rejects_damage() {
    use diverge_pcvm::codec::{decode_cpu, encode_cpu};
    use rand::{Rng, SeedableRng};
    let r = run();
    let bytes = encode_cpu(&r.proof);
    assert_eq!(decode_cpu(&bytes).as_ref(), Ok(&r.proof));
    let b = boundary(&r.trace);
    for cut in (0..bytes.len()).step_by(997).chain([bytes.len() - 1]) {
        assert!(
            decode_cpu(&bytes[..cut]).is_err(),
            "a {cut}-byte prefix decoded"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(decode_cpu(&long).is_err(), "a trailing byte decoded");
    let mut other = bytes.clone();
    other[0] ^= 0x80;
    assert!(decode_cpu(&other).is_err(), "another version decoded");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
    for _ in 0..200 {
        let n = rng.gen_range(0..4096);
        let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let _ = decode_cpu(&junk);
    }
    for _ in 0..24 {
        let mut bad = bytes.clone();
        let at = rng.gen_range(1..bad.len());
        bad[at] ^= 1 << rng.gen_range(0..8);
        if let Ok(p) = decode_cpu(&bad) {
            assert!(
                cpu::verify(table(), &b, entry(), r.w.regs.fetch.log_rows, &p).is_err(),
                "a proof with byte {at} flipped verified"
            );
        }
    }
    println!("CPU proof: {} bytes encoded", bytes.len());
}

/// The five opcodes `prove_block`'s code brought in (`load_u64`, `store_u64`, `store_imm_u64`,
/// `branch_eq`, `branch_greater_or_equal_unsigned_imm`) are constrained exactly as their
/// siblings: the same lanes (absolute forms address by `I` alone, as `load_u8` does), the same
/// control selectors, and memory selectors naming a 64-bit access, in the workload's own table.
#[test]
fn the_binding_opcodes_reuse_their_siblings_constraints() {
    use polkavm::program::Opcode as O;
    for (new, sibling) in [
        (O::load_u64, O::load_u8),
        (O::store_u64, O::load_u8),
        (O::store_imm_u64, O::store_imm_u8),
        (O::branch_eq, O::branch_not_eq),
        (
            O::branch_greater_or_equal_unsigned_imm,
            O::branch_less_unsigned_imm,
        ),
    ] {
        assert_eq!(
            alu::selectors(new, 5),
            alu::selectors(sibling, 5),
            "{new:?} lanes"
        );
    }
    assert_eq!(
        cpu::selectors(O::branch_eq),
        cpu::selectors(O::branch_eq_imm)
    );
    assert_eq!(
        cpu::selectors(O::branch_greater_or_equal_unsigned_imm),
        cpu::selectors(O::branch_greater_or_equal_unsigned)
    );
    let code = |op: O| {
        diverge_pcvm::trace::SUPPORTED
            .iter()
            .position(|&o| o == op)
            .expect("supported") as u32
    };
    let m = &table().memory;
    for (op, on) in [
        (O::load_u64, &[side::L64][..]),
        (O::store_u64, &[side::S64][..]),
        (O::store_imm_u64, &[side::S64, side::IMM2][..]),
    ] {
        let mut seen = 0;
        for (i, e) in table().entries.iter().enumerate() {
            if e[field::OPCODE] != code(op) {
                continue;
            }
            seen += 1;
            for j in [
                side::L8,
                side::L64,
                side::S8,
                side::S64,
                side::IMM2,
                side::FREE,
                side::HOST,
            ] {
                assert_eq!(
                    m.side[i][j],
                    u32::from(on.contains(&j)),
                    "{op:?} side field {j}"
                );
            }
        }
        assert!(seen > 0, "the workload blob uses {op:?}");
    }
}
