//! S2, fourth slice: control flow. The execution statement: the rows of the CPU proof
//! ([`alu`]) are **one complete run of one export**, not a bag of consistent steps.
//!
//! # What is proven
//!
//! Everything [`alu`] proves, on the same commitment and transcript (its own label,
//! `pcvm/cpu/v3`, with the entry pc absorbed before the commitment's challenges), and:
//!
//! * row 0 is at the public entry pc (the export's);
//! * every row's successor is the row PolkaVM runs next: the next instruction, or the branch
//!   or jump target when taken, where *taken* is the opcode's condition on the row's reads;
//!   an indirect jump's successor is the instruction at the jump-table address it computes;
//! * the run ends by returning to the host (`jump_indirect` to [`polkavm::RETURN_TO_HOST`]),
//!   only padding follows, and the last row is padding;
//! * its loads and stores are a consistent run of memory from the blob's initial memory
//!   ([`crate::mem`], on the same commitment, which is 256 columns wide here);
//! * with [`prove_with_outputs`], the words it leaves at the public output addresses are the
//!   public output values (absorbed with the statement, so a proof states its outputs).
//!
//! # Columns
//!
//! Fetched (table fields, [`fetch::field`]): `JADDR`, the pc's jump-table address (`(i+1)·2`
//! for entry `i`, `RETURN_TO_HOST` for the padding entry, 0 otherwise), and four selectors
//! ([`selectors`]):
//!
//! | opcode | `JUMP` | `IF_C8` | `IF_EQ` | taken |
//! |---|---|---|---|---|
//! | `jump`, `load_imm_and_jump` | 1 | | | 1 |
//! | `branch_greater_or_equal_unsigned(_imm)` | | 1 | | `c_8` |
//! | `branch_less_unsigned(_imm)`, `branch_greater_unsigned_imm` (swapped) | 1 | 1 | | `1 ⊕ c_8` |
//! | `branch_eq(_imm)` | | | 1 | `E` |
//! | `branch_not_eq(_imm)` | 1 | | 1 | `1 ⊕ E` |
//! | `jump_indirect` (`IND`) | | | | next row fetches `JADDR = ρ_lo` |
//!
//! The conditions reuse the ALU lanes: a branch row's lanes compute `A − B` (or `A − I`,
//! `I − A`) with `ALU = 0` ([`alu::selectors`]), so `c_8 = 1` iff there is no borrow and
//! `ρ = 0` iff the operands are equal; `jump_indirect`'s lanes compute `A + I`. Committed
//! ([`alu::COL_TAKEN`], [`alu::COL_INV`]): `TAKEN` and `INV`.
//!
//! # The zero test in characteristic 2
//!
//! `W = ρ_lo² + ρ_lo·ρ_hi + c·ρ_hi²` with [`NORM_C`] of trace 1, the norm form of
//! GF(2^64) over GF(2^32): `x² + x + c` is irreducible, so `W = 0` only at `ρ = 0`.
//! `E = 1 + W·INV` with `ρ_lo·E = 0` and `ρ_hi·E = 0`. Soundness needs only those two: if
//! `ρ ≠ 0` a half is nonzero and `E = 0`; if `ρ = 0`, `W = 0` and `E = 1`, whatever `INV`.
//! Completeness needs the norm: with `W = ρ_lo + ρ_hi`, an honest row with equal halves could
//! not set `E = 0`.
//!
//! # Identities ([`identities`], in the routing zerocheck, batched by λ)
//!
//! `PC'`, `JADDR'` are the next row's (the zerocheck's shifted inputs, reduced by
//! [`crate::shift`] to openings of `PC`, `JADDR` at a fourth point); `L0`, `LL` the first- and
//! last-row indicators, which the verifier evaluates itself. Degree 4 (5 with `eq`).
//!
//! 1. `(1 + LL)·(1 + IND)·(PC' + NP + TAKEN·(TGT + NP)) = 0`: the successor.
//! 2. `(1 + LL)·IND·(JADDR' + ρ_lo) = 0`: the next row fetches the entry the address names.
//!    Non-targets have `JADDR = 0`, and 4 with 3 makes `ρ_lo ≠ 0`, so no indirect jump lands
//!    on a non-target; the return address matches only the padding entry.
//! 3. `IND·ρ_hi = 0`: the prover refuses an indirect base ≥ 2^32, stricter than PolkaVM
//!    (which truncates) and so still sound; the workload's bases are code addresses.
//! 4. `IND·E = 0`.
//! 5. `ρ_lo·E = 0`, 6. `ρ_hi·E = 0`: the zero test.
//! 7. `TAKEN + JUMP + IF_C8·c_8 + IF_EQ·E + FREE·HC = 0`: `TAKEN` is the condition (so 0
//!    or 1), or on `ecalli` and host rows (`FREE`, from [`crate::mem`]'s side table) the
//!    prover's `HC`: whether a host row follows.
//! 8. `L0·(PC + entry_pc) = 0`.
//! 9. `LL·(PC + pad_pc) = 0`: the run ended.
//! 10. `HC·(1 + HC) = 0`.
//!
//! **Host rows.** Each `ecalli` site has its own host entry, whose `NEXT_PC` is the
//! instruction after the call and whose `TARGET` is itself; the call's `TARGET` is that
//! entry. So identity 1 unchanged routes a call into its host rows and them back to the
//! instruction after it, and nowhere else; no return pc needs carrying.
//!
//! Padding is absorbing (its `NEXT_PC` is its own pc, its selectors 0) and only the halt
//! enters it: targets are valid jump targets (the table refuses others) and the last
//! instruction's `NEXT_PC` is `code_len`, which no entry has, since padding pcs start at
//! `code_len + 1` ([`ProgramTable::from_blob`]). So the rows are: the entry row, steps that
//! each follow from the one before, the halt, padding to the end.
//!
//! # Cost
//!
//! Two committed columns (127 of 128 used), nine identities in the existing zerocheck
//! (degree 3 → 4), one shift sumcheck and one more opened point.

use ligerito_binary_fields::BinaryFieldElement;
use polkavm::program::Opcode;

use crate::alu::{self, AluError, CpuProof, CpuWitness, Statement, LANES, MIN_LOG_ROWS};
use std::collections::{BTreeMap, HashMap};

use crate::fetch::{self, field, Entry, FetchError, FetchWitness, ProgramTable, HOST_OPCODE};
use crate::field::{f32, lift, F128, F32};
use crate::mem::{self, MemError, MemWitness, Output};
use crate::regs::{self, Boundary, RegsError, RegsWitness};
use crate::trace::Trace;

/// Control selectors per table entry.
pub const CONTROLS: usize = 4;
/// Control selector indices (field [`fetch::field::CTL`] `+ j`).
pub mod ctl {
    /// Taken unconditionally, or the condition is negated.
    pub const JUMP: usize = 0;
    /// The condition is the lanes' carry out `c_8` (no borrow).
    pub const IF_C8: usize = 1;
    /// The condition is the lanes' zero test `E`.
    pub const IF_EQ: usize = 2;
    /// An indirect jump: the successor is the one the computed address names.
    pub const IND: usize = 3;
}
/// Control identities (see the module docs).
pub const IDENTITIES: usize = 10;

/// The norm form's constant: `Tr(c) = 1` in GF(2^32) (checked by a test), so
/// `x² + x·y + c·y²` vanishes only at `(0, 0)`.
pub const NORM_C: u32 = 1 << 17;

/// The control selectors of `opcode` (all zero for every other opcode and padding).
pub fn selectors(opcode: Opcode) -> [u32; CONTROLS] {
    use Opcode as O;
    let on: &[usize] = match opcode {
        O::jump | O::load_imm_and_jump => &[ctl::JUMP],
        O::branch_greater_or_equal_unsigned | O::branch_greater_or_equal_unsigned_imm => {
            &[ctl::IF_C8]
        }
        O::branch_less_unsigned | O::branch_less_unsigned_imm | O::branch_greater_unsigned_imm => {
            &[ctl::JUMP, ctl::IF_C8]
        }
        O::branch_eq | O::branch_eq_imm => &[ctl::IF_EQ],
        O::branch_not_eq | O::branch_not_eq_imm => &[ctl::JUMP, ctl::IF_EQ],
        O::jump_indirect => &[ctl::IND],
        _ => &[],
    };
    let mut s = [0u32; CONTROLS];
    for &j in on {
        s[j] = 1;
    }
    s
}

fn halves(r: &[u8; LANES]) -> (u32, u32) {
    let word = u64::from_le_bytes(*r);
    (word as u32, (word >> 32) as u32)
}

/// `W(ρ) = ρ_lo² + ρ_lo·ρ_hi + c·ρ_hi²` over GF(2^32).
pub fn norm(lo: u32, hi: u32) -> F32 {
    let (lo, hi) = (f32(lo), f32(hi));
    lo.mul(&lo)
        .add(&lo.mul(&hi))
        .add(&f32(NORM_C).mul(&hi.mul(&hi)))
}

/// The honest `INV` of result lanes `r`: `W(ρ)^-1`, or 0 when `ρ = 0`.
pub fn norm_inverse(r: &[u8; LANES]) -> F32 {
    let (lo, hi) = halves(r);
    let w = norm(lo, hi);
    if w == F32::zero() {
        F32::zero()
    } else {
        w.inv()
    }
}

fn on(e: &Entry, j: usize) -> bool {
    e[field::CTL + j] != 0
}

/// Whether a row of entry `e` with result lanes `r` and carry out `c8` takes its branch or
/// jump: `JUMP ⊕ (IF_C8 ∧ c_8) ⊕ (IF_EQ ∧ ρ = 0)`.
pub fn taken(e: &Entry, r: &[u8; LANES], c8: u8) -> u8 {
    let zero = *r == [0; LANES];
    (on(e, ctl::JUMP) ^ (on(e, ctl::IF_C8) && c8 == 1) ^ (on(e, ctl::IF_EQ) && zero)) as u8
}

/// The nine control identities on one row's routing inputs ([`alu`]'s `input` layout), for
/// public `entry` and `pad` pcs (lifted).
pub(crate) fn identities(x: &[F128], entry: F128, pad: F128) -> [F128; IDENTITIES] {
    use alu::input;
    let one = F128::one();
    let c = |j: usize| x[input::CTL + j];
    let (pc, np, tgt) = (x[input::PC], x[input::NP], x[input::TGT]);
    let (taken, inv) = (x[input::TAKEN], x[input::INV]);
    let (pc_next, jaddr_next) = (x[input::PC_NEXT], x[input::JADDR_NEXT]);
    let (first, last) = (x[input::FIRST], x[input::LAST]);
    let (free, hc) = (x[input::FREE], x[input::HC]);
    let rho_lo = alu::pack_half(x, input::RHO, 0);
    let rho_hi = alu::pack_half(x, input::RHO, 1);
    let w = rho_lo
        .mul(&rho_lo)
        .add(&rho_lo.mul(&rho_hi))
        .add(&lift(NORM_C).mul(&rho_hi.mul(&rho_hi)));
    let e = one.add(&w.mul(&inv));
    let not_last = one.add(&last);
    let ind = c(ctl::IND);
    [
        not_last
            .mul(&one.add(&ind))
            .mul(&pc_next.add(&np).add(&taken.mul(&tgt.add(&np)))),
        not_last.mul(&ind).mul(&jaddr_next.add(&rho_lo)),
        ind.mul(&rho_hi),
        ind.mul(&e),
        rho_lo.mul(&e),
        rho_hi.mul(&e),
        taken
            .add(&c(ctl::JUMP))
            .add(&c(ctl::IF_C8).mul(&x[input::C8]))
            .add(&c(ctl::IF_EQ).mul(&e))
            .add(&free.mul(&hc)),
        first.mul(&pc.add(&entry)),
        last.mul(&pc.add(&pad)),
        hc.mul(&one.add(&hc)),
    ]
}

/// Why an execution could not be proven or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    #[error("{0}")]
    Alu(#[from] AluError),
    #[error("memory: {0}")]
    Mem(#[from] MemError),
    #[error("row 0 is at pc {got}, the export's entry is {entry}")]
    WrongEntry { entry: u32, got: u32 },
    #[error("the last row is at pc {got}, not padding (pc {pad}): the run did not end")]
    NotEnded { pad: u32, got: u32 },
    #[error("row {row}: the next row is at pc {got}, the instruction's successor is {expected}")]
    WrongSuccessor { row: usize, expected: u32, got: u32 },
    #[error(
        "row {row}: jumps to address {address:#x}, the next row's jump-table address is {got:#x}"
    )]
    WrongJumpAddress { row: usize, address: u64, got: u32 },
}

/// The honest witness of a complete run: the trace's rows, with one host row after each
/// `ecalli` for every word its call wrote (the host's memory advice, [`crate::mem`]), at
/// least one padding row after the halt, and the ALU's minimum size.
pub fn witness(table: &ProgramTable, trace: &Trace) -> Result<CpuWitness, CpuError> {
    let replay = trace.replay_registers();
    let mut tuples: Vec<Entry> = Vec::with_capacity(trace.rows.len() + 1);
    let mut writes: Vec<u64> = Vec::with_capacity(trace.rows.len() + 1);
    let mut advice: HashMap<usize, (u32, Vec<(usize, u32)>)> = HashMap::new();
    let mut calls = trace.host_calls.iter().peekable();
    for (k, row) in trace.rows.iter().enumerate() {
        let e = table
            .index_of(row.pc)
            .filter(|&i| i < table.instructions)
            .map(|i| table.entries[i])
            .ok_or(FetchError::NotAnInstruction { row: k, pc: row.pc })
            .map_err(|e| AluError::from(RegsError::from(e)))?;
        let write =
            regs::traced_write(&e, k, &replay[k], &replay[k + 1]).map_err(AluError::from)?;
        tuples.push(e);
        writes.push(write);
        while let Some(call) = calls.next_if(|c| c.row == k) {
            let mut words: BTreeMap<u32, Vec<(usize, u32)>> = BTreeMap::new();
            for (address, data) in &call.mem_writes {
                for (j, &byte) in data.iter().enumerate() {
                    let a = address.wrapping_add(j as u32);
                    words
                        .entry(a & !7)
                        .or_default()
                        .push(((a & 7) as usize, byte as u32));
                }
            }
            let host = table
                .index_of(e[field::TARGET])
                .map(|i| table.entries[i])
                .filter(|h| h[field::OPCODE] == HOST_OPCODE && !words.is_empty());
            for (key, patches) in words {
                let h = host.ok_or(MemError::HostAdvice { row: k })?;
                advice.insert(tuples.len(), (key, patches));
                tuples.push(h);
                writes.push(0);
            }
        }
    }
    let log_rows = table.log_rows_for(tuples.len() + 1).max(MIN_LOG_ROWS);
    tuples.resize(1 << log_rows, *table.pad_entry());
    writes.resize(1 << log_rows, 0);
    let fetch = FetchWitness::with_tuples(table, log_rows, tuples);
    let regs = RegsWitness::simulate(fetch, writes, &trace.initial_regs).map_err(AluError::from)?;
    let mut w = CpuWitness::new(regs);
    let rows = &w.regs.fetch.rows;
    for k in 0..rows.len() - 1 {
        if free(&rows[k]) {
            w.alu.taken[k] = (rows[k + 1][field::OPCODE] == HOST_OPCODE) as u8;
        }
    }
    set_memory(table, &mut w, &|k| advice.get(&k).cloned())?;
    Ok(w)
}

/// An `ecalli` or host row: its `TAKEN` is the prover's (whether host rows follow).
fn free(e: &Entry) -> bool {
    e[field::OPCODE] == HOST_OPCODE || Some(e[field::OPCODE]) == fetch::opcode_code(Opcode::ecalli)
}

/// Sets `w.mem` to the honest memory witness of its rows, lanes, stored values and loads
/// (for rows without host writes: tests of wrong paths build those).
pub fn with_memory(table: &ProgramTable, w: &mut CpuWitness) -> Result<(), CpuError> {
    set_memory(table, w, &|_| None)
}

fn set_memory(
    table: &ProgramTable,
    w: &mut CpuWitness,
    host: &dyn Fn(usize) -> Option<mem::HostWord>,
) -> Result<(), CpuError> {
    let r = &w.regs;
    w.mem = Some(MemWitness::honest(
        table,
        &r.fetch.rows,
        &w.alu.r,
        &r.old[0],
        &r.new,
        host,
    )?);
    Ok(())
}

/// The native check (debug oracle), run by the prover: the run starts at `entry_pc` and ends
/// in padding, every row's successor is its instruction's under the witness's `TAKEN`, and
/// then [`alu::check`] (which finds a `TAKEN` the reads contradict). Control first, so a
/// wrong path is named as such even when its registers are consistent with it.
pub fn check(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    w: &CpuWitness,
) -> Result<(), CpuError> {
    alu::shape(w)?;
    let rows = &w.regs.fetch.rows;
    let (first, last) = (rows[0][field::PC], rows[rows.len() - 1][field::PC]);
    if first != entry_pc {
        return Err(CpuError::WrongEntry {
            entry: entry_pc,
            got: first,
        });
    }
    if last != table.pad_pc() {
        return Err(CpuError::NotEnded {
            pad: table.pad_pc(),
            got: last,
        });
    }
    for (k, pair) in rows.windows(2).enumerate() {
        let (e, next) = (&pair[0], &pair[1]);
        if on(e, ctl::IND) {
            let r: [u8; LANES] = std::array::from_fn(|l| w.alu.r[l][k]);
            let address = u64::from_le_bytes(r);
            let (lo, hi) = halves(&r);
            if hi != 0 || lo == 0 || next[field::JADDR] != lo {
                return Err(CpuError::WrongJumpAddress {
                    row: k,
                    address,
                    got: next[field::JADDR],
                });
            }
        } else {
            let expected = if w.alu.taken[k] == 1 {
                e[field::TARGET]
            } else {
                e[field::NEXT_PC]
            };
            if next[field::PC] != expected {
                return Err(CpuError::WrongSuccessor {
                    row: k,
                    expected,
                    got: next[field::PC],
                });
            }
        }
    }
    alu::check(table, b, w)?;
    let m = w.mem.as_ref().ok_or(AluError::NoMemory)?;
    // The control columns (the ALU statement leaves them unconstrained, so they are checked
    // here): `TAKEN` is the condition on the row's lanes, or on `ecalli` and host rows the
    // prover's `HC`; `INV` is the zero test's inverse.
    for (k, e) in rows.iter().enumerate() {
        let r: [u8; LANES] = std::array::from_fn(|l| w.alu.r[l][k]);
        let (want, what) = if free(e) {
            (m.hc[k], "host continuation")
        } else {
            (taken(e, &r, w.alu.carry[LANES - 1][k]), "branch outcome")
        };
        if w.alu.taken[k] != want {
            return Err(AluError::Control { row: k, what }.into());
        }
        if w.alu.inv[k] != norm_inverse(&r) {
            let what = "zero test's inverse";
            return Err(AluError::Control { row: k, what }.into());
        }
    }
    mem::check(table, rows, &w.alu.r, &w.regs.old[0], &w.regs.new, m)?;
    Ok(())
}

/// Prove after the native check.
pub fn prove(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    w: &CpuWitness,
) -> Result<CpuProof, CpuError> {
    Ok(prove_with_outputs(table, b, entry_pc, &[], &NO_CONTEXT, w)?.0)
}

/// Largest provable `log_rows` of the execution statement (256 columns: the PCS's
/// `2^(log_rows + 8) ≤ 2^30`).
pub const MAX_LOG_ROWS: usize = crate::pcs::MAX_LOG_SIZE - crate::mem::LOG_COLUMNS;

/// The context of a statement that is bound to nothing beyond its program.
pub const NO_CONTEXT: [u8; 32] = [0; 32];

/// [`prove`] with public outputs: the final contents of the aligned words at `keys`, which
/// the statement (and so the verifier) then fixes, and a `context` the proof is bound to
/// (absorbed, not interpreted). Returns the outputs with the proof.
pub fn prove_with_outputs(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    keys: &[u32],
    context: &[u8; 32],
    w: &CpuWitness,
) -> Result<(CpuProof, Vec<Output>), CpuError> {
    check(table, b, entry_pc, w)?;
    let m = w.mem.as_ref().ok_or(AluError::NoMemory)?;
    let outputs = keys
        .iter()
        .map(|&key| {
            let i = table.memory.index_of(key).ok_or(MemError::Unmapped {
                row: 0,
                address: key,
            })?;
            Ok(Output {
                key,
                bytes: m.final_bytes[i].map(|x| x as u8),
            })
        })
        .collect::<Result<Vec<Output>, CpuError>>()?;
    let proof = prove_unchecked_with_outputs(table, b, entry_pc, &outputs, context, w)?;
    Ok((proof, outputs))
}

/// [`prove`] without the native check: what a cheating prover runs.
pub fn prove_unchecked(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    w: &CpuWitness,
) -> Result<CpuProof, CpuError> {
    prove_unchecked_with_outputs(table, b, entry_pc, &[], &NO_CONTEXT, w)
}

/// [`prove_unchecked`] claiming `outputs` (a cheating prover may claim any).
pub fn prove_unchecked_with_outputs(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    outputs: &[Output],
    context: &[u8; 32],
    w: &CpuWitness,
) -> Result<CpuProof, CpuError> {
    Ok(alu::prove_statement(
        table,
        b,
        w,
        Statement::Execution {
            entry_pc,
            outputs,
            context,
        },
    )?)
}

/// Verify that `2^log_rows` committed rows are a complete execution of `table`'s program
/// entered at `entry_pc`, from register state `b.initial` to `b.last`.
pub fn verify(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    log_rows: usize,
    proof: &CpuProof,
) -> Result<(), CpuError> {
    verify_with_outputs(table, b, entry_pc, &[], &NO_CONTEXT, log_rows, proof)
}

/// [`verify`], and the run leaves `outputs` in memory, under `context`.
pub fn verify_with_outputs(
    table: &ProgramTable,
    b: &Boundary,
    entry_pc: u32,
    outputs: &[Output],
    context: &[u8; 32],
    log_rows: usize,
    proof: &CpuProof,
) -> Result<(), CpuError> {
    Ok(alu::verify_statement(
        table,
        b,
        log_rows,
        proof,
        Statement::Execution {
            entry_pc,
            outputs,
            context,
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alu::input;
    use crate::fetch::FIELDS;

    fn entry_of(op: Opcode, imm: u64) -> Entry {
        let mut e = [0u32; FIELDS];
        e[field::IMM_LO] = imm as u32;
        e[field::IMM_HI] = (imm >> 32) as u32;
        e[field::CTL..field::ALU_SEL].copy_from_slice(&selectors(op));
        e[field::ALU_SEL..].copy_from_slice(&alu::selectors(op, imm));
        e
    }

    /// The lanes of a row of `e` on reads `a`, `b`: result bytes and carry out.
    fn lanes_of(e: &Entry, a: u64, b: u64) -> ([u8; LANES], u8) {
        let (alpha, beta, cin) = alu::operands(e, a, b);
        let (r, carry) = alu::lanes(e[field::ALU_SEL + alu::sel::MODE], alpha, beta, cin);
        (r, carry[LANES - 1])
    }

    const PC: u32 = 100;
    const NP: u32 = 104;
    const TGT: u32 = 200;
    const ENTRY: u32 = 100;
    const PAD: u32 = 999;

    /// A row's routing inputs as far as the control identities read them.
    #[allow(clippy::too_many_arguments)]
    fn inputs(
        e: &Entry,
        r: &[u8; LANES],
        c8: u8,
        taken: u8,
        inv: F32,
        next: (u32, u32),
        first: bool,
        last: bool,
    ) -> Vec<F128> {
        let mut x = vec![F128::zero(); input::COUNT];
        for l in 0..LANES {
            x[input::RHO + l] = lift(r[l] as u32);
        }
        x[input::C8] = lift(c8 as u32);
        x[input::PC] = lift(PC);
        x[input::NP] = lift(NP);
        x[input::TGT] = lift(TGT);
        for j in 0..CONTROLS {
            x[input::CTL + j] = lift(e[field::CTL + j]);
        }
        x[input::TAKEN] = lift(taken as u32);
        x[input::INV] = F128::from(inv);
        x[input::PC_NEXT] = lift(next.0);
        x[input::JADDR_NEXT] = lift(next.1);
        x[input::FIRST] = lift(first as u32);
        x[input::LAST] = lift(last as u32);
        x
    }

    fn holds(x: &[F128]) -> bool {
        identities(x, lift(ENTRY), lift(PAD))
            .iter()
            .all(|v| *v == F128::zero())
    }

    /// Per control opcode on edge values: the lanes decide as Rust does, the honest row
    /// satisfies all nine identities, and each control input (successor, jump-table address,
    /// `TAKEN`, `INV`, the first- and last-row pcs) and each selector, changed, breaks one.
    #[test]
    fn every_control_input_and_selector_enters_the_identities() {
        use Opcode as O;
        let edges = [
            0u64,
            1,
            5,
            7,
            0xff,
            1 << 32,
            u64::MAX,
            0x1_0000_0005,
            0xffff_0000,
        ];
        type Condition = fn(u64, u64) -> bool;
        let conditions: &[(Opcode, Condition)] = &[
            (O::jump, |_, _| true),
            (O::load_imm_and_jump, |_, _| true),
            (O::branch_greater_or_equal_unsigned, |a, b| a >= b),
            (O::branch_less_unsigned, |a, b| a < b),
            (O::branch_less_unsigned_imm, |a, b| a < b),
            (O::branch_greater_unsigned_imm, |a, b| a > b),
            (O::branch_greater_or_equal_unsigned_imm, |a, b| a >= b),
            (O::branch_eq_imm, |a, b| a == b),
            (O::branch_eq, |a, b| a == b),
            (O::branch_not_eq, |a, b| a != b),
            (O::branch_not_eq_imm, |a, b| a != b),
        ];
        let mut outcomes = [0usize; 2];
        for &(op, cond) in conditions {
            for &a in &edges {
                for &b in &edges {
                    let e = entry_of(op, b);
                    let (r, c8) = lanes_of(&e, a, b);
                    let t = taken(&e, &r, c8);
                    let want = matches!(op, O::jump | O::load_imm_and_jump) || cond(a, b);
                    assert_eq!(t == 1, want, "{op:?} {a:#x} {b:#x}");
                    outcomes[t as usize] += 1;
                    let inv = norm_inverse(&r);
                    let next = if t == 1 { TGT } else { NP };
                    let x = |taken: u8, inv: F32, next: u32| {
                        inputs(&e, &r, c8, taken, inv, (next, 0), false, false)
                    };
                    assert!(holds(&x(t, inv, next)), "{op:?} {a:#x} {b:#x}");
                    assert!(
                        !holds(&x(t, inv, next ^ (TGT ^ NP))),
                        "{op:?}: other successor"
                    );
                    assert!(!holds(&x(t ^ 1, inv, TGT ^ NP ^ next)), "{op:?}: TAKEN");
                    if r != [0; LANES] {
                        assert!(!holds(&x(t, inv.add(&F32::one()), next)), "{op:?}: INV");
                    }
                    // One selector flipped on the same row breaks it exactly when the
                    // selector's term is live there (a condition that is 0 changes nothing).
                    for j in 0..CONTROLS {
                        let mut other = e;
                        other[field::CTL + j] ^= 1;
                        let live = match j {
                            ctl::IF_C8 => c8 == 1,
                            ctl::IF_EQ => r == [0; LANES],
                            _ => true,
                        };
                        let x = inputs(&other, &r, c8, t, inv, (next, 0), false, false);
                        assert_eq!(holds(&x), !live, "{op:?} {a:#x} {b:#x}: selector {j}");
                    }
                    // The boundary pcs.
                    let row = |first, last| inputs(&e, &r, c8, t, inv, (next, 0), first, last);
                    assert!(holds(&row(true, false)), "the entry row");
                    assert!(!holds(&row(false, true)), "{op:?} as the last row");
                }
            }
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0);

        // Indirect jumps: the next row's jump-table address is the computed one, below 2^32
        // and nonzero.
        let mut landed = 0;
        for &base in &edges {
            for off in [0u64, 2, (-2i64) as u64] {
                let e = entry_of(O::jump_indirect, off);
                let (r, c8) = lanes_of(&e, base, 0);
                let address = base.wrapping_add(off);
                assert_eq!(u64::from_le_bytes(r), address);
                let inv = norm_inverse(&r);
                let x = |jaddr: u32| inputs(&e, &r, c8, 0, inv, (0, jaddr), false, false);
                if address == 0 || address >> 32 != 0 {
                    // No next-row address satisfies the row: the prover refuses it.
                    assert!(!holds(&x(address as u32)) && !holds(&x(0)), "{address:#x}");
                    continue;
                }
                landed += 1;
                assert!(holds(&x(address as u32)), "{address:#x}");
                assert!(!holds(&x(0)), "a non-target");
                assert!(!holds(&x(address as u32 ^ 2)), "another entry");
                let mut other = e;
                other[field::CTL + ctl::IND] = 0;
                // Without IND the row falls through: landing at the address's pc breaks it.
                let x = inputs(&other, &r, c8, 0, inv, (TGT, address as u32), false, false);
                assert!(!holds(&x), "IND cleared");
            }
        }
        assert!(landed > 0);
    }

    #[test]
    fn the_norm_constant_has_trace_one() {
        // Tr(c) = c + c^2 + c^4 + … + c^(2^31), in GF(2).
        let mut x = f32(NORM_C);
        let mut trace = F32::zero();
        for _ in 0..32 {
            trace = trace.add(&x);
            x = x.mul(&x);
        }
        assert_eq!(trace, F32::one());
    }

    #[test]
    fn the_norm_vanishes_only_at_zero() {
        assert_eq!(norm(0, 0), F32::zero());
        let edges = [1u32, 2, 3, 0xff, 0x8000_0000, u32::MAX, NORM_C, 0x1234_5678];
        for &a in &edges {
            for &b in &edges {
                for (lo, hi) in [(a, b), (a, 0), (0, b), (a, a)] {
                    assert_ne!(norm(lo, hi), F32::zero(), "{lo:#x} {hi:#x}");
                }
            }
        }
    }
}

/// The debug oracle's sharpest form: every row of an honest run satisfies every control and
/// memory identity, each checked alone, so a failure names its row and identity (a proof
/// only says that some round did not sum).
#[cfg(test)]
mod oracle_tests {
    use super::*;
    use crate::trace::{HostCalls, HostCtx, HostError, Tracer};

    struct NoHost;
    impl HostCalls for NoHost {
        fn call(&mut self, _: &[u8], _: &mut HostCtx<'_>) -> Result<(), HostError> {
            Err(HostError::Fault("hash_chain makes no host calls".into()))
        }
    }

    #[test]
    fn every_row_of_an_honest_run_satisfies_every_identity() {
        let blob = exec_reexec::vm::GUEST_BLOB;
        let table = ProgramTable::from_blob(blob).expect("table");
        let trace = Tracer::new(blob)
            .expect("tracer")
            .trace("hash_chain", &[1], &mut NoHost, i64::MAX / 4, usize::MAX)
            .expect("trace");
        let w = witness(&table, &trace).expect("witness");
        let entry = table.export_pc("hash_chain").expect("export");
        assert_eq!(crate::alu::failing_identity(&table, &w, entry), None);
    }
}
