//! S2, second slice: the register file, by read-write offline memory checking, on the same
//! commitment and transcript as the fetch argument.
//!
//! # What is proven
//!
//! For a public program blob, a public initial register state (the export's ABI entry state)
//! and a public final register state, and `2^log_rows` committed rows:
//!
//! * every row fetches a program-table entry ([`fetch`]'s argument, repeated here on this
//!   proof's commitment);
//! * every row performs four register operations in a fixed order: it reads the registers in
//!   its fetched slots `reg_a`, `reg_b`, `reg_c`, then writes the register in its fetched
//!   `write` field ([`fetch::field::WRITE`]). The addresses of the operations *are* the fetched
//!   columns, so which registers a row reads and writes is the table's function of the opcode
//!   and its operands: a prover cannot read or write any other register without fetching a
//!   tuple the table does not have. An absent slot ([`fetch::NO_REG`]) addresses a 14th,
//!   dummy cell that no instruction's semantics use;
//! * every read returns the value of the latest earlier write to that register (or the initial
//!   state), every write's value is what the next access sees, and the values after the last
//!   row are the public final state.
//!
//! Reading the destination slot `reg_a` of a register-writing opcode is harmless (it is a read
//! of the current value); its semantic use is the ALU slice's business.
//!
//! # What is left to later slices
//!
//! * **ALU values.** The value each write stores is a committed column: nothing here says it is
//!   the sum, shift or load result the opcode defines. The ALU slice constrains it from the
//!   read values and the fetched immediates.
//! * **Host calls.** An `ecalli` row writes `A0` (the ABI's result register; the table says so)
//!   with the host's result as an advice value: unconstrained in value until S3 binds host-call
//!   results, but it goes through the register memory, so later reads of `A0` see exactly it.
//!   A trace whose host call changes any other register is refused by the prover
//!   ([`RegsError::UnexpectedWrite`]).
//! * Control flow (that consecutive rows follow `next_pc`/`target`), padding placement and
//!   halt are [`crate::cpu`]'s; memory is S3's. Writes to the dummy cell are unconstrained and
//!   unused.
//!
//! # The argument (characteristic 2, no LogUp)
//!
//! Operation `o = s·N + k` (row `k < N = 2^log_rows`, slot `s < 4`) happens at time
//! exponent `e_o = 4k + s + 1`; its timestamp is `T_o = g^{e_o}`, `g` = [`fetch::G`], a
//! generator of GF(2^32)^* (verifier-known in closed form). It consumes the tuple
//! `(addr_o, v_old_o, t_old_o)` and produces `(addr_o, v_new_o, T_o)`, where `v_new = v_old`
//! for reads (the same committed columns enter both tuples) and `v = (lo, hi)` are the value's
//! two 32-bit limbs. The multisets
//!
//! * `Init = {(a, init_a, 1)}` over the 14 cells (public), `P = {(addr_o, v_new_o, T_o)}`,
//! * `C = {(addr_o, v_old_o, t_old_o)}`, `Final = {(a, final_a, tf_a)}` (values public,
//!   timestamps `tf` in the proof)
//!
//! satisfy `Init ∪ P = C ∪ Final`, and every read is earlier than its operation:
//! `t_old_o = T_o / h_o` with `h_o ∈ H = {g^1, …, g^{4N}}`. The range is a committed column `h`
//! with `t_old·h = T` (an eq-weighted [`zerocheck`]) and `h ∈ H` by a read-only lookup with
//! multiplicative counters exactly as in [`fetch`] (`Init_H ∪ W_H = R_H ∪ F_H`, `Π ts ≠ 0`).
//!
//! Why that suffices. All exponents lie in `[0, 4N]` and `8N < 2^32 − 1`, so
//! `t_old_o = g^{e_o − d}` with `1 ≤ d ≤ 4N` is either `g^j` for an integer `0 ≤ j < e_o`, or
//! (if `d > e_o`) a power above `4N`, which no tuple on the left has. The produced tuples are
//! pairwise distinct (distinct cells in `Init`, distinct times in `P`), so the equality pairs
//! each of them with exactly one consumer, and every operation consumes a tuple produced
//! *strictly earlier* at its own address. Per cell, sort its operations by time
//! `o_1 < o_2 < …`: `o_1` can only consume `Init`; `o_2` only `Init` or `o_1`'s, and `Init`
//! is taken; inductively `o_i` consumes `o_{i−1}`'s tuple and `Final` the last one. So each
//! read returns the latest write (or the initial value) and the final state is the last write.
//! Without the ordering, a cycle would pass: a read consuming a *later* write's output while
//! that write consumes the read's (a stale read that balances); the test
//! `a_read_reordered_before_a_write_is_rejected` is exactly that cheat. Additive timestamps
//! `t + 1` would have order 2 in characteristic 2; powers of a generator do not wrap below
//! `2^32 − 1`.
//!
//! Multiset equalities are grand products of fingerprints `γ + Σ β_j·x_j` with challenges
//! drawn after the commitment (Schwartz–Zippel over GF(2^128), `≤ (4N + 14)/2^128` each).
//!
//! # Every open claim, and what discharges it
//!
//! * Fetch (`Π R`, `Π W`, `Π ts` over rows; `Π F` over the table): as in [`fetch`].
//! * Register and range products over the `4N` operations, one batched circuit of seven
//!   ([`grand_product::prove_batch`]): `C`, `P`, `R_H`, `W_H`, `Π ts_H`, `F_H`, `Init_H`. They end
//!   at one point `(r, r_s)`; each leaf claim is `Σ_s eq(r_s, s)·(affine in row columns at
//!   r)`, with `T̃` and `H̃` evaluated by the verifier in closed form
//!   (`Π_b (1 + r_b + r_b·c_b)`). `Π Init` and `Π Final` (14 leaves) the verifier computes.
//! * The zerocheck `t_old·h + T = 0` over the `4N` operations ends at `(z, z_s)`: `t̃_old`,
//!   `h̃` from the stated columns at `z`, `T̃` in closed form.
//! * The 64 packed columns are stated at the four row points (fetch rows, fetch table, ops,
//!   zerocheck), each reduced to one PCS claim by `ρ` drawn after the values; one batched
//!   Ligerito evaluation proof ([`pcs`], 100 bits) opens all four.
//!
//! Soundness error: the PCS's `2^-100` plus `O((log_rows^2 + N)/2^128)`.

use std::collections::HashMap;

use ligerito_binary_fields::BinaryFieldElement;
use rayon::prelude::*;

use crate::error::EngineError;
use crate::fetch::{self, field, FetchError, FetchWitness, ProgramTable, FIELDS, NO_REG};
use crate::field::{eq_table, evaluate_mle, f32, g, lift, pack_columns, F128, F32};
use crate::grand_product::{self, BatchProductProof, GrandProductProof};
use crate::pcs::{self, Claim, Commitment, EvalProof, Params};
use crate::sumcheck::{Composition, SumcheckProof};
use crate::trace::{Regs, Trace, REGS};
use crate::transcript::Transcript;
use crate::zerocheck;

/// Register cells: the 13 registers and the dummy cell absent slots address.
pub const CELLS: usize = REGS + 1;
/// Register operations per row: read `reg_a`, `reg_b`, `reg_c`, write `write`.
pub const OPS: usize = 4;
const LOG_OPS: usize = 2;
/// The write operation's slot.
pub const WRITE_OP: usize = 3;

/// Committed columns after the fetch columns (`0..=fetch::COL_FINAL`). Slot `s` adds `s`.
pub const COL_OLD_LO: usize = fetch::COL_FINAL + 1;
pub const COL_OLD_HI: usize = COL_OLD_LO + OPS;
/// The write's new value.
pub const COL_NEW_LO: usize = COL_OLD_HI + OPS;
pub const COL_NEW_HI: usize = COL_NEW_LO + 1;
pub const COL_T_OLD: usize = COL_NEW_HI + 1;
/// `h = T / t_old`, looked up in `H`.
pub const COL_GAP: usize = COL_T_OLD + OPS;
/// The lookup's read counters.
pub const COL_GAP_TS: usize = COL_GAP + OPS;
/// `H`'s final counters: entry `s·N + k` in cell `k` of column `COL_GAP_FINAL + s`.
pub const COL_GAP_FINAL: usize = COL_GAP_TS + OPS;
pub(crate) const USED: usize = COL_GAP_FINAL + OPS;
/// Packed columns (61 used).
pub const COLUMNS: usize = 64;
const LOG_COLUMNS: usize = 6;
/// Largest provable row count: the PCS's `2^(log_rows + 6) ≤ 2^30` (the ordering argument
/// needs only `8N < 2^32 − 1`).
pub const MAX_LOG_ROWS: usize = pcs::MAX_LOG_SIZE - LOG_COLUMNS;

const DOMAIN: &[u8] = b"pcvm/regs/v1";

/// The statement's transcript label and commitment width: this module's own proof, or the CPU
/// proof of [`crate::alu`], which commits more columns after [`USED`] and runs its own
/// sub-protocol on the same transcript (so one commitment and one transcript bind both).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout<'a> {
    pub domain: &'static [u8],
    pub log_columns: usize,
    /// The rest of the public statement, absorbed before the commitment's challenges: an
    /// execution's entry pc and public outputs ([`crate::cpu`]).
    pub public: &'a [u64],
}

const REGS_LAYOUT: Layout = Layout {
    domain: DOMAIN,
    log_columns: LOG_COLUMNS,
    public: &[],
};

impl Layout<'_> {
    fn max_log_rows(&self) -> usize {
        pcs::MAX_LOG_SIZE.saturating_sub(self.log_columns)
    }
}

/// Why a witness or proof could not be built or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegsError {
    #[error("fetch: {0}")]
    Fetch(#[from] FetchError),
    #[error("{rows} rows do not fit 2^{log_rows}")]
    Rows { rows: usize, log_rows: usize },
    #[error("row {row}: register {reg} changed, but the instruction writes only {write}")]
    UnexpectedWrite { row: usize, reg: usize, write: u32 },
    #[error("row {row} slot {slot}: {address} is not a register cell")]
    Address {
        row: usize,
        slot: usize,
        address: u32,
    },
    #[error("row {row} slot {slot}: {what} is not the register memory's")]
    Inconsistent {
        row: usize,
        slot: usize,
        what: &'static str,
    },
    #[error("the range lookup's counters are not the honest ones")]
    GapCounters,
    #[error("cell {cell}: the final {what} is not the last write's")]
    Final { cell: usize, what: &'static str },
    #[error("proof rejected: {0}")]
    Rejected(#[from] EngineError),
}

/// The public register states at the export's entry and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    pub initial: Regs,
    pub last: Regs,
}

/// What the prover commits beyond the fetch witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegsWitness {
    pub fetch: FetchWitness,
    /// The value each operation consumes (for reads, also the one it produces), per slot.
    pub old: [Vec<u64>; OPS],
    /// The value each row's write stores.
    pub new: Vec<u64>,
    /// The consumed timestamps.
    pub t_old: [Vec<F32>; OPS],
    /// `T / t_old`.
    pub gap: [Vec<F32>; OPS],
    /// The range lookup's read counters.
    pub gap_ts: [Vec<F32>; OPS],
    /// `H`'s final counters, entry `s·N + k` at `[s][k]`.
    pub gap_final: [Vec<F32>; OPS],
    /// The dummy cell's final value (the registers' are public).
    pub dummy_last: u64,
    /// The cells' final timestamps.
    pub last_ts: [F32; CELLS],
}

fn value(x: F32) -> u32 {
    x.poly().value()
}

/// The cell of a register address.
pub fn cell_of(address: u32) -> Option<usize> {
    match address {
        a if (a as usize) < REGS => Some(a as usize),
        NO_REG => Some(REGS),
        _ => None,
    }
}

fn cell_address(cell: usize) -> u32 {
    if cell < REGS {
        cell as u32
    } else {
        NO_REG
    }
}

/// The address operation `slot` of a fetched tuple touches.
pub fn op_address(row: &fetch::Entry, slot: usize) -> u32 {
    if slot == WRITE_OP {
        row[field::WRITE]
    } else {
        row[field::REG_A + slot]
    }
}

impl RegsWitness {
    /// The honest witness of a trace's rows: the register file replayed from the rows' writes
    /// and the host calls' (`A0`) writes.
    pub fn from_trace(
        table: &ProgramTable,
        trace: &Trace,
        log_rows: usize,
    ) -> Result<RegsWitness, RegsError> {
        let fetch = FetchWitness::from_trace(table, trace, log_rows)?;
        let rows = 1usize << log_rows;
        let replay = trace.replay_registers();
        let mut writes = vec![0u64; rows];
        for (k, pair) in replay.windows(2).enumerate() {
            writes[k] = traced_write(&fetch.rows[k], k, &pair[0], &pair[1])?;
        }
        Self::simulate(fetch, writes, &trace.initial_regs)
    }

    /// Runs the register memory over the fetched addresses, from `initial`, storing
    /// `writes[k]` at row `k`'s write: the consistent witness for those tuples and values.
    /// Tests use it to build cheating witnesses that are consistent everywhere but in the
    /// tuples they fetch.
    pub fn simulate(
        fetch: FetchWitness,
        writes: Vec<u64>,
        initial: &Regs,
    ) -> Result<RegsWitness, RegsError> {
        let rows = 1usize << fetch.log_rows;
        if fetch.rows.len() != rows || writes.len() != rows || fetch.log_rows > MAX_LOG_ROWS {
            return Err(RegsError::Rows {
                rows: writes.len(),
                log_rows: fetch.log_rows,
            });
        }
        let pw = powers(OPS * rows);
        let mut mem = [0u64; CELLS];
        mem[..REGS].copy_from_slice(initial);
        let mut last = [0u64; CELLS];
        let mut old: [Vec<u64>; OPS] = Default::default();
        let mut t_old: [Vec<F32>; OPS] = Default::default();
        for (k, row) in fetch.rows.iter().enumerate() {
            for s in 0..OPS {
                let address = op_address(row, s);
                let c = cell_of(address).ok_or(RegsError::Address {
                    row: k,
                    slot: s,
                    address,
                })?;
                old[s].push(mem[c]);
                t_old[s].push(pw[last[c] as usize]);
                last[c] = time(k, s);
                if s == WRITE_OP {
                    mem[c] = writes[k];
                }
            }
        }
        let mut w = RegsWitness {
            fetch,
            old,
            new: writes,
            t_old,
            gap: Default::default(),
            gap_ts: Default::default(),
            gap_final: Default::default(),
            dummy_last: mem[REGS],
            last_ts: last.map(|e| pw[e as usize]),
        };
        w.relink_with(&pw);
        Ok(w)
    }

    /// Recomputes `h = T / t_old` and the range lookup's counters from `t_old`, as any prover
    /// would for the timestamps it commits (a cheating one included: tests forge `t_old` and
    /// relink, so only the verifier's range check stands between them and acceptance).
    pub fn relink(&mut self) {
        let pw = powers(OPS * self.new.len());
        self.relink_with(&pw);
    }

    fn relink_with(&mut self, pw: &[F32]) {
        let rows = self.new.len();
        let gaps = Gaps::new(pw);
        let mut counters: HashMap<u32, F32> = HashMap::new();
        for s in 0..OPS {
            self.gap[s] = (0..rows)
                .map(|k| gaps.gap(self.t_old[s][k], time(k, s)))
                .collect();
            self.gap_ts[s] =
                fetch::read_counters(self.gap[s].iter().map(|h| value(*h)), &mut counters);
        }
        self.gap_final = std::array::from_fn(|s| {
            (0..rows)
                .map(|k| {
                    let h = pw[s * rows + k + 1];
                    counters.get(&value(h)).copied().unwrap_or(F32::one())
                })
                .collect()
        });
    }

    /// The registers after the last row, as the witness has them.
    pub fn last_regs(&self) -> Regs {
        let mut regs = [0u64; REGS];
        let rows = self.new.len();
        let mut latest = [None::<(u64, u64)>; CELLS];
        for k in 0..rows {
            for s in 0..OPS {
                if let Some(c) = cell_of(op_address(&self.fetch.rows[k], s)) {
                    let v = if s == WRITE_OP {
                        self.new[k]
                    } else {
                        self.old[s][k]
                    };
                    latest[c] = Some((time(k, s), v));
                }
            }
        }
        for (r, l) in regs.iter_mut().zip(&latest) {
            if let Some((_, v)) = l {
                *r = *v;
            }
        }
        regs
    }
}

/// The value trace row `k` (entry `e`) writes to its fetched `write` register, from the
/// registers before and after it; a row that changed any other register is refused.
pub(crate) fn traced_write(
    e: &fetch::Entry,
    k: usize,
    before: &Regs,
    after: &Regs,
) -> Result<u64, RegsError> {
    let write = e[field::WRITE];
    if let Some(reg) = (0..REGS).find(|&r| r as u32 != write && before[r] != after[r]) {
        return Err(RegsError::UnexpectedWrite { row: k, reg, write });
    }
    Ok(cell_of(write).filter(|&c| c < REGS).map_or(0, |c| after[c]))
}

/// Time exponent of operation `slot` of row `k`.
fn time(k: usize, slot: usize) -> u64 {
    (OPS * k + slot + 1) as u64
}

/// `g^0 ..= g^max`: every timestamp and every entry of a range `H` (registers: `max = 4N`,
/// `H(s·N + k) = g^(s·N + k + 1)`; memory: `max = N`).
pub(crate) fn powers(max: usize) -> Vec<F32> {
    let mut pw = Vec::with_capacity(max + 1);
    let mut x = F32::one();
    for _ in 0..=max {
        pw.push(x);
        x = x.mul(&g());
    }
    pw
}

/// The ordering argument's honest gaps `h = T / t_old`, for the timestamps a prover commits
/// (a cheating one's too), shared by the register file and memory.
pub(crate) struct Gaps<'a> {
    pw: &'a [F32],
    /// Discrete logs of the honest range, so the honest path needs no inversions.
    log: HashMap<u32, u64>,
}

impl<'a> Gaps<'a> {
    pub(crate) fn new(pw: &'a [F32]) -> Gaps<'a> {
        let log = pw
            .iter()
            .enumerate()
            .map(|(e, x)| (value(*x), e as u64))
            .collect();
        Gaps { pw, log }
    }

    /// `g^now / t_old` (0 for a zero `t_old`, which the range check then rejects).
    pub(crate) fn gap(&self, t_old: F32, now: u64) -> F32 {
        let order = u32::MAX as u64;
        match self.log.get(&value(t_old)) {
            Some(&j) if j <= now => self.pw[(now - j) as usize],
            Some(&j) => g().pow(now + order - j),
            None if t_old == F32::zero() => F32::zero(),
            None => self.pw[now as usize].mul(&t_old.inv()),
        }
    }
}

/// The native check (debug oracle), run by the prover: the fetch check, then the witness must
/// be the one [`RegsWitness::simulate`] derives from its fetched tuples, its writes and the
/// public initial state, ending in the public final state.
pub fn check(table: &ProgramTable, b: &Boundary, w: &RegsWitness) -> Result<(), RegsError> {
    fetch::check(table, &w.fetch)?;
    shape(w)?;
    let honest = RegsWitness::simulate(w.fetch.clone(), w.new.clone(), &b.initial)?;
    for s in 0..OPS {
        for k in 0..w.new.len() {
            let at = |what| RegsError::Inconsistent {
                row: k,
                slot: s,
                what,
            };
            if w.old[s][k] != honest.old[s][k] {
                return Err(at("the value read"));
            }
            if w.t_old[s][k] != honest.t_old[s][k] {
                return Err(at("the timestamp"));
            }
            if w.gap[s][k] != honest.gap[s][k] {
                return Err(at("the timestamp gap"));
            }
        }
    }
    if w.gap_ts != honest.gap_ts || w.gap_final != honest.gap_final {
        return Err(RegsError::GapCounters);
    }
    for cell in 0..CELLS {
        if w.last_ts[cell] != honest.last_ts[cell] {
            return Err(RegsError::Final {
                cell,
                what: "timestamp",
            });
        }
    }
    if w.dummy_last != honest.dummy_last {
        return Err(RegsError::Final {
            cell: REGS,
            what: "value",
        });
    }
    let last = honest.last_regs();
    for (cell, (a, b)) in last.iter().zip(&b.last).enumerate() {
        if a != b {
            return Err(RegsError::Final {
                cell,
                what: "value",
            });
        }
    }
    Ok(())
}

fn shape(w: &RegsWitness) -> Result<(), RegsError> {
    let rows = 1usize << w.fetch.log_rows;
    let ok = w.fetch.rows.len() == rows
        && w.fetch.read_ts.len() == rows
        && w.new.len() == rows
        && w.fetch.log_rows <= MAX_LOG_ROWS
        && w.old.iter().all(|c| c.len() == rows)
        && [&w.t_old, &w.gap, &w.gap_ts, &w.gap_final]
            .iter()
            .all(|v| v.iter().all(|c| c.len() == rows));
    if ok {
        Ok(())
    } else {
        Err(RegsError::Rows {
            rows: w.new.len(),
            log_rows: w.fetch.log_rows,
        })
    }
}

/// A register-file proof (fetch included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegsProof {
    pub commitment: Commitment,
    /// The dummy cell's final value and every cell's final timestamp.
    pub dummy_last: u64,
    pub last_ts: Vec<F32>,
    /// Fetch: `Π R`, `Π W`, `Π ts` over rows, batched; `Π F` over the table.
    pub fetch_rows: BatchProductProof,
    pub fetch_finals: GrandProductProof,
    /// Over the `4N` operations: `C`, `P`, `R_H`, `W_H`, `Π ts_H`, `F_H`, `Init_H`.
    pub ops: BatchProductProof,
    /// `t_old·h + T = 0` over the operations.
    pub order: SumcheckProof,
    /// The packed columns at the fetch-rows, fetch-table, ops and zerocheck points.
    /// (A CPU proof appends its own points' vectors after these four.)
    pub column_evals: Vec<Vec<F128>>,
    pub opening: EvalProof,
}

struct Challenges {
    fetch_beta: Vec<F128>,
    fetch_gamma: F128,
    /// `(addr, lo, hi, ts)`.
    mem_beta: Vec<F128>,
    mem_gamma: F128,
    /// `(h, counter)`.
    gap_beta: Vec<F128>,
    gap_gamma: F128,
}

fn begin(
    layout: &Layout,
    table: &ProgramTable,
    b: &Boundary,
    log_rows: usize,
    proof_head: (&Commitment, u64, &[F32]),
) -> (Transcript, Challenges) {
    let (cm, dummy_last, last_ts) = proof_head;
    let mut t = Transcript::new(layout.domain);
    t.absorb_bytes(b"program-hash", &table.hash);
    t.absorb_u64(b"log-entries", table.log_entries as u64);
    t.absorb_u64(b"log-rows", log_rows as u64);
    for &x in layout.public {
        t.absorb_u64(b"statement", x);
    }
    for &v in &b.initial {
        t.absorb_u64(b"initial-reg", v);
    }
    for &v in &b.last {
        t.absorb_u64(b"final-reg", v);
    }
    t.absorb_u64(b"dummy-final", dummy_last);
    t.absorb_f32s(b"final-ts", last_ts);
    t.absorb_bytes(b"root", &cm.root);
    let fetch_beta = t.challenge_f128s(b"pcvm/regs/v1/fetch-tuple", FIELDS + 1);
    let fetch_gamma = grand_product::draw_gamma(&mut t);
    let mem_beta = t.challenge_f128s(b"pcvm/regs/v1/mem-tuple", 4);
    let mem_gamma = grand_product::draw_gamma(&mut t);
    let gap_beta = t.challenge_f128s(b"pcvm/regs/v1/gap-tuple", 2);
    let gap_gamma = grand_product::draw_gamma(&mut t);
    (
        t,
        Challenges {
            fetch_beta,
            fetch_gamma,
            mem_beta,
            mem_gamma,
            gap_beta,
            gap_gamma,
        },
    )
}

fn mem_fp(ch: &Challenges, addr: F128, lo: F128, hi: F128, ts: F128) -> F128 {
    let b = &ch.mem_beta;
    ch.mem_gamma
        .add(&b[0].mul(&addr))
        .add(&b[1].mul(&lo))
        .add(&b[2].mul(&hi))
        .add(&b[3].mul(&ts))
}

fn gap_fp(ch: &Challenges, h: F128, counter: F128) -> F128 {
    ch.gap_gamma
        .add(&ch.gap_beta[0].mul(&h))
        .add(&ch.gap_beta[1].mul(&counter))
}

fn lo(v: u64) -> u32 {
    v as u32
}
fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

/// `Π Init` or `Π Final` over the cells (values and timestamps given).
fn cells_product(ch: &Challenges, values: &[u64; CELLS], ts: &[F128; CELLS]) -> F128 {
    (0..CELLS).fold(F128::one(), |acc, c| {
        acc.mul(&mem_fp(
            ch,
            lift(cell_address(c)),
            lift(lo(values[c])),
            lift(hi(values[c])),
            ts[c],
        ))
    })
}

/// `Π_b (1 + r_b + r_b·c^(m·2^b))`: the MLE of `x ↦ c^(m·x)` over the bits of `x`.
pub(crate) fn power_mle(point: &[F128], m: u64) -> F128 {
    let mut base = F128::from(g().pow(m));
    let mut acc = F128::one();
    for &r in point {
        acc = acc.mul(&F128::one().add(&r).add(&r.mul(&base)));
        base = base.mul(&base);
    }
    acc
}

/// `T̃` at an ops point `(r, r_s)`: `T(s·N + k) = g^(4k + s + 1)`.
fn time_mle(point: &[F128], log_rows: usize) -> F128 {
    F128::from(g())
        .mul(&power_mle(&point[..log_rows], OPS as u64))
        .mul(&power_mle(&point[log_rows..], 1))
}

/// `H̃` at an ops point: `H(s·N + k) = g^(s·N + k + 1)`.
fn gap_mle(point: &[F128], log_rows: usize) -> F128 {
    F128::from(g())
        .mul(&power_mle(&point[..log_rows], 1))
        .mul(&power_mle(&point[log_rows..], 1u64 << log_rows))
}

/// `t_old · h + T` on `[t_old, h, T]`.
struct Order;

impl Composition for Order {
    fn num_inputs(&self) -> usize {
        3
    }
    fn degree(&self) -> usize {
        2
    }
    fn eval(&self, x: &[F128]) -> F128 {
        x[0].mul(&x[1]).add(&x[2])
    }
}

/// The committed columns, in [`COLUMNS`]'s layout (unused ones omitted).
fn columns(w: &RegsWitness) -> Vec<Vec<F32>> {
    let rows = w.new.len();
    let mut cols: Vec<Vec<F32>> = (0..FIELDS)
        .map(|j| w.fetch.rows.iter().map(|e| f32(e[j])).collect())
        .collect();
    cols.push(w.fetch.read_ts.clone());
    let mut finals = w.fetch.final_ts.clone();
    finals.resize(rows, F32::zero());
    cols.push(finals);
    for half in [lo as fn(u64) -> u32, hi] {
        for s in 0..OPS {
            cols.push(w.old[s].iter().map(|&v| f32(half(v))).collect());
        }
    }
    cols.push(w.new.iter().map(|&v| f32(lo(v))).collect());
    cols.push(w.new.iter().map(|&v| f32(hi(v))).collect());
    for group in [&w.t_old, &w.gap, &w.gap_ts, &w.gap_final] {
        cols.extend(group.iter().cloned());
    }
    debug_assert_eq!(cols.len(), USED);
    cols
}

/// An ops-indexed vector (`o = s·N + k`) from per-slot row values.
fn ops_vec(rows: usize, f: impl Fn(usize, usize) -> F128 + Sync) -> Vec<F128> {
    (0..OPS * rows)
        .into_par_iter()
        .map(|o| f(o / rows, o % rows))
        .collect()
}

fn column_claim(layout: &Layout, point: &[F128], values: &[F128], t: &mut Transcript) -> Claim {
    t.absorb_f128s(b"pcvm/regs/v1/column-evals", values);
    let rho = t.challenge_f128s(b"pcvm/regs/v1/column-batch", layout.log_columns);
    let eq = eq_table(&rho);
    let value = values
        .iter()
        .zip(&eq)
        .fold(F128::zero(), |acc, (v, w)| acc.add(&v.mul(w)));
    let mut z = point.to_vec();
    z.extend(rho);
    Claim { point: z, value }
}

/// Prove after the native check.
pub fn prove(table: &ProgramTable, b: &Boundary, w: &RegsWitness) -> Result<RegsProof, RegsError> {
    check(table, b, w)?;
    prove_unchecked(table, b, w)
}

/// [`prove`] without the native check: what a cheating prover runs.
pub fn prove_unchecked(
    table: &ProgramTable,
    b: &Boundary,
    w: &RegsWitness,
) -> Result<RegsProof, RegsError> {
    let (proof, ()) = prove_with(&REGS_LAYOUT, table, b, w, Vec::new(), |_| {
        Ok(((), Vec::new()))
    })?;
    Ok(proof)
}

/// [`prove_unchecked`] with `extra` columns committed after [`USED`] and `ext` run on the
/// transcript after this module's sub-protocols.
pub(crate) fn prove_with<E>(
    layout: &Layout,
    table: &ProgramTable,
    b: &Boundary,
    w: &RegsWitness,
    extra: Vec<Vec<F32>>,
    ext: impl FnOnce(&mut Transcript) -> Result<(E, Vec<Vec<F128>>), RegsError>,
) -> Result<(RegsProof, E), RegsError> {
    shape(w)?;
    let log_rows = w.fetch.log_rows;
    let rows = 1usize << log_rows;
    if log_rows < table.log_entries
        || log_rows > layout.max_log_rows()
        || w.fetch.final_ts.len() != table.entries.len()
        || extra.iter().any(|c| c.len() != rows)
        || USED + extra.len() > 1 << layout.log_columns
    {
        return Err(RegsError::Rows { rows, log_rows });
    }
    let params = Params::cached(log_rows + layout.log_columns).map_err(EngineError::from)?;
    let mut cols = columns(w);
    cols.extend(extra);
    let width = 1usize << layout.log_columns;
    let (commitment, data) =
        pcs::commit(params, pack_columns(&cols, log_rows)).map_err(EngineError::from)?;
    let last_ts = w.last_ts.to_vec();
    let (mut t, ch) = begin(
        layout,
        table,
        b,
        log_rows,
        (&commitment, w.dummy_last, &last_ts),
    );

    let fw = &w.fetch;
    let (fb, fg) = (&ch.fetch_beta, ch.fetch_gamma);
    let (fetch_rows, r_rows, _) = grand_product::prove_batch(
        vec![
            fetch::leaves(fb, fg, &fw.rows, &fw.read_ts, false),
            fetch::leaves(fb, fg, &fw.rows, &fw.read_ts, true),
            fw.read_ts.iter().map(|&x| F128::from(x)).collect(),
        ],
        &mut t,
    );
    let (fetch_finals, r_finals, _) = grand_product::prove(
        fetch::leaves(fb, fg, &table.entries, &fw.final_ts, false),
        &mut t,
    );

    let pw = powers(OPS * rows);
    let addr = |s: usize, k: usize| lift(op_address(&fw.rows[k], s));
    let new_of = |s: usize, k: usize| {
        if s == WRITE_OP {
            w.new[k]
        } else {
            w.old[s][k]
        }
    };
    let l = F128::from;
    let gl = F128::from(g());
    let (ops, r_ops, _) = grand_product::prove_batch(
        vec![
            ops_vec(rows, |s, k| {
                let v = w.old[s][k];
                mem_fp(&ch, addr(s, k), lift(lo(v)), lift(hi(v)), l(w.t_old[s][k]))
            }),
            ops_vec(rows, |s, k| {
                let v = new_of(s, k);
                let ts = l(pw[time(k, s) as usize]);
                mem_fp(&ch, addr(s, k), lift(lo(v)), lift(hi(v)), ts)
            }),
            ops_vec(rows, |s, k| gap_fp(&ch, l(w.gap[s][k]), l(w.gap_ts[s][k]))),
            ops_vec(rows, |s, k| {
                gap_fp(&ch, l(w.gap[s][k]), gl.mul(&l(w.gap_ts[s][k])))
            }),
            ops_vec(rows, |s, k| l(w.gap_ts[s][k])),
            ops_vec(rows, |s, k| {
                gap_fp(&ch, l(pw[s * rows + k + 1]), l(w.gap_final[s][k]))
            }),
            ops_vec(rows, |s, k| {
                gap_fp(&ch, l(pw[s * rows + k + 1]), F128::one())
            }),
        ],
        &mut t,
    );

    let tau = zerocheck::draw_tau(&mut t, log_rows + LOG_OPS);
    let (order, z_ops) = zerocheck::prove(
        vec![
            ops_vec(rows, |s, k| l(w.t_old[s][k])),
            ops_vec(rows, |s, k| l(w.gap[s][k])),
            ops_vec(rows, |s, k| l(pw[time(k, s) as usize])),
        ],
        &Order,
        &tau,
        &mut t,
    );

    let (ext_proof, ext_points) = ext(&mut t)?;
    let mut points = vec![
        r_rows,
        fetch::row_point(&r_finals, log_rows),
        r_ops[..log_rows].to_vec(),
        z_ops[..log_rows].to_vec(),
    ];
    points.extend(ext_points);
    let mut column_evals = Vec::with_capacity(points.len());
    let mut claims = Vec::with_capacity(points.len());
    for point in &points {
        let values: Vec<F128> = (0..width)
            .into_par_iter()
            .map(|c| {
                cols.get(c)
                    .map_or(F128::zero(), |col| evaluate_mle(col, point))
            })
            .collect();
        claims.push(column_claim(layout, point, &values, &mut t));
        column_evals.push(values);
    }
    let opening = pcs::prove(params, &data, &claims, &mut t).map_err(EngineError::from)?;
    let proof = RegsProof {
        commitment,
        dummy_last: w.dummy_last,
        last_ts,
        fetch_rows,
        fetch_finals,
        ops,
        order,
        column_evals,
        opening,
    };
    Ok((proof, ext_proof))
}

fn reject(what: &'static str) -> RegsError {
    EngineError::FinalEvaluation(what).into()
}

/// The per-slot affine combination `Σ_s eq(r_s, s)·f(s)`.
fn by_slot(eq_s: &[F128], f: impl Fn(usize) -> F128) -> F128 {
    (0..OPS).fold(F128::zero(), |acc, s| acc.add(&eq_s[s].mul(&f(s))))
}

fn op_address_eval(ev: &[F128], s: usize) -> F128 {
    if s == WRITE_OP {
        ev[field::WRITE]
    } else {
        ev[field::REG_A + s]
    }
}

/// Verify that `2^log_rows` committed rows fetch `table`'s entries and access the register
/// file consistently from `b.initial` to `b.last`.
pub fn verify(
    table: &ProgramTable,
    b: &Boundary,
    log_rows: usize,
    proof: &RegsProof,
) -> Result<(), RegsError> {
    verify_with(&REGS_LAYOUT, table, b, log_rows, proof, |_, _| {
        Ok(Vec::new())
    })
}

/// [`verify`] for a proof made by [`prove_with`]: `ext` verifies the extension's sub-protocol
/// on the transcript, given the column vectors stated after the first four (at its points, in
/// its order), and returns those points.
pub(crate) fn verify_with(
    layout: &Layout,
    table: &ProgramTable,
    b: &Boundary,
    log_rows: usize,
    proof: &RegsProof,
    ext: impl FnOnce(&mut Transcript, &[Vec<F128>]) -> Result<Vec<Vec<F128>>, RegsError>,
) -> Result<(), RegsError> {
    if log_rows < table.log_entries || log_rows > layout.max_log_rows() {
        return Err(EngineError::Shape("log_rows").into());
    }
    let width = 1usize << layout.log_columns;
    if proof.column_evals.len() < 4
        || proof.column_evals.iter().any(|v| v.len() != width)
        || proof.last_ts.len() != CELLS
    {
        return Err(EngineError::Shape("column evaluations or final timestamps").into());
    }
    let params = Params::cached(log_rows + layout.log_columns).map_err(EngineError::from)?;
    let (mut t, ch) = begin(
        layout,
        table,
        b,
        log_rows,
        (&proof.commitment, proof.dummy_last, &proof.last_ts),
    );

    // Fetch, as `fetch::verify`.
    let (fb, fg) = (&ch.fetch_beta, ch.fetch_gamma);
    let rows = grand_product::verify_batch(log_rows, 3, &proof.fetch_rows, &mut t)?;
    let (p_finals, r_finals, c_finals) =
        grand_product::verify(table.log_entries, &proof.fetch_finals, &mut t)?;
    if rows.products[2] == F128::zero() {
        return Err(reject("a fetch counter is zero"));
    }
    let p_init = fetch::init_product(table, fb, fg);
    if p_init.mul(&rows.products[1]) != rows.products[0].mul(&p_finals) {
        return Err(reject("fetch: Init ∪ W ≠ R ∪ F"));
    }
    let [ev_rows, ev_finals, ev_ops, ev_z] = [0, 1, 2, 3].map(|i| &proof.column_evals[i]);
    let ts = ev_rows[fetch::COL_TS];
    let fields = &ev_rows[..FIELDS];
    if fetch::fingerprint(fb, fg, fields, ts) != rows.claims[0]
        || fetch::fingerprint(fb, fg, fields, F128::from(g()).mul(&ts)) != rows.claims[1]
        || ts != rows.claims[2]
    {
        return Err(reject("fetch row leaves"));
    }
    let eq = eq_table(&r_finals);
    let table_fields: Vec<F128> = (0..FIELDS).map(|j| table.field_mle(&eq, j)).collect();
    if fetch::fingerprint(fb, fg, &table_fields, ev_finals[fetch::COL_FINAL]) != c_finals {
        return Err(reject("fetch final leaves"));
    }

    // Registers and the range lookup.
    let ops = grand_product::verify_batch(log_rows + LOG_OPS, 7, &proof.ops, &mut t)?;
    let p = &ops.products;
    let (p_c, p_p, p_rh, p_wh, p_nz, p_fh, p_ih) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
    let mut initial = [0u64; CELLS];
    initial[..REGS].copy_from_slice(&b.initial);
    let mut last = [0u64; CELLS];
    last[..REGS].copy_from_slice(&b.last);
    last[REGS] = proof.dummy_last;
    let one = [F128::one(); CELLS];
    let last_ts: [F128; CELLS] = std::array::from_fn(|c| F128::from(proof.last_ts[c]));
    if cells_product(&ch, &initial, &one).mul(&p_p) != p_c.mul(&cells_product(&ch, &last, &last_ts))
    {
        return Err(reject("registers: Init ∪ P ≠ C ∪ Final"));
    }
    if p_nz == F128::zero() {
        return Err(reject("a range counter is zero"));
    }
    if p_ih.mul(&p_wh) != p_rh.mul(&p_fh) {
        return Err(reject("range: Init ∪ W ≠ R ∪ F"));
    }
    let (r_ops, r_s) = ops.point.split_at(log_rows);
    let eq_s = eq_table(r_s);
    let ev = ev_ops;
    let t_now = time_mle(&ops.point, log_rows);
    let h_entry = gap_mle(&ops.point, log_rows);
    let gl = F128::from(g());
    let expected = [
        by_slot(&eq_s, |s| {
            mem_fp(
                &ch,
                op_address_eval(ev, s),
                ev[COL_OLD_LO + s],
                ev[COL_OLD_HI + s],
                ev[COL_T_OLD + s],
            )
        }),
        by_slot(&eq_s, |s| {
            let (lo, hi) = if s == WRITE_OP {
                (ev[COL_NEW_LO], ev[COL_NEW_HI])
            } else {
                (ev[COL_OLD_LO + s], ev[COL_OLD_HI + s])
            };
            mem_fp(&ch, op_address_eval(ev, s), lo, hi, t_now)
        }),
        by_slot(&eq_s, |s| gap_fp(&ch, ev[COL_GAP + s], ev[COL_GAP_TS + s])),
        by_slot(&eq_s, |s| {
            gap_fp(&ch, ev[COL_GAP + s], gl.mul(&ev[COL_GAP_TS + s]))
        }),
        by_slot(&eq_s, |s| ev[COL_GAP_TS + s]),
        by_slot(&eq_s, |s| gap_fp(&ch, h_entry, ev[COL_GAP_FINAL + s])),
        gap_fp(&ch, h_entry, F128::one()),
    ];
    if expected[..] != ops.claims[..] {
        return Err(reject("register or range leaves"));
    }

    let tau = zerocheck::draw_tau(&mut t, log_rows + LOG_OPS);
    let (z_ops, evals) = zerocheck::verify(&Order, &tau, &proof.order, &mut t)?;
    let (z_rows, z_s) = z_ops.split_at(log_rows);
    let eq_z = eq_table(z_s);
    if evals.len() != 3
        || evals[0] != by_slot(&eq_z, |s| ev_z[COL_T_OLD + s])
        || evals[1] != by_slot(&eq_z, |s| ev_z[COL_GAP + s])
        || evals[2] != time_mle(&z_ops, log_rows)
    {
        return Err(reject("ordering zerocheck evaluations"));
    }

    let ext_points = ext(&mut t, &proof.column_evals[4..])?;
    let mut points = vec![
        rows.point,
        fetch::row_point(&r_finals, log_rows),
        r_ops.to_vec(),
        z_rows.to_vec(),
    ];
    points.extend(ext_points);
    if points.len() != proof.column_evals.len() {
        return Err(EngineError::Shape("column evaluations").into());
    }
    let claims: Vec<Claim> = points
        .iter()
        .zip(&proof.column_evals)
        .map(|(p, v)| column_claim(layout, p, v, &mut t))
        .collect();
    pcs::verify(params, &proof.commitment, &claims, &proof.opening, &mut t)
        .map_err(EngineError::from)?;
    Ok(())
}

/// Bytes of a proof (roots, field elements and the encoded opening), for size reports.
pub fn proof_bytes(proof: &RegsProof) -> usize {
    let layers = crate::sumcheck::proof_bytes;
    32 + 8
        + 4 * proof.last_ts.len()
        + 16 * (proof.fetch_rows.products.len() + 1 + proof.ops.products.len())
        + layers(&proof.fetch_rows.layers)
        + layers(&proof.fetch_finals.layers)
        + layers(&proof.ops.layers)
        + layers(std::slice::from_ref(&proof.order))
        + 16 * proof.column_evals.iter().map(Vec::len).sum::<usize>()
        + crate::codec::encode(&proof.opening).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::evaluate_mle_f128;

    fn point(n: usize, seed: u128) -> Vec<F128> {
        (0..n)
            .map(|i| F128::from_value(seed * 1_000_003 + i as u128 * 7919 + 1))
            .collect()
    }

    /// The verifier's closed forms are the MLEs of the tables the prover builds.
    #[test]
    fn closed_forms_match_the_tables() {
        let log_rows = 3;
        let rows = 1 << log_rows;
        let z = point(log_rows + LOG_OPS, 5);
        let pw = powers(OPS * rows);
        let times = ops_vec(rows, |s, k| F128::from(pw[time(k, s) as usize]));
        let gaps = ops_vec(rows, |s, k| F128::from(pw[s * rows + k + 1]));
        assert_eq!(evaluate_mle_f128(&times, &z), time_mle(&z, log_rows));
        assert_eq!(evaluate_mle_f128(&gaps, &z), gap_mle(&z, log_rows));
    }

    #[test]
    fn column_layout_fits() {
        const { assert!(USED <= COLUMNS) };
        assert_eq!(1 << LOG_COLUMNS, COLUMNS);
        // The ordering argument: exponents up to 4N, wrapped ones above 4N.
        assert!(8u64 << MAX_LOG_ROWS < u32::MAX as u64);
    }
}
