//! S2, first slice: the program table and the fetch argument, bound to the program blob.
//!
//! # What is proven
//!
//! For a public program blob and `2^log_rows` committed CPU rows, every row's fetch tuple
//! `(pc, opcode, reg_a, reg_b, reg_c, imm_lo, imm_hi, next_pc, target/imm2, write, jaddr, control
//! selectors, alu selectors)` is an entry of
//! the blob's program table: an instruction of the blob at that pc with exactly the operand
//! fields the blob encodes, or a padding entry (opcode [`PAD_OPCODE`], no register operand,
//! every other operand field zero, a pc past the end of the code, its own next pc). `write` is the register the
//! opcode writes, derived from its class: [`crate::regs`] reads and writes registers at the
//! fetched slots, so the table decides which registers a row touches. A pc that is not an instruction boundary, a wrong opcode or
//! a wrong operand field anywhere in the rows makes the verifier reject.
//!
//! The table is the verifier's own: [`ProgramTable::from_blob`] parses the blob with PolkaVM's
//! parser (as [`trace::inventory`] does), and the table is never
//! committed; the verifier evaluates its multilinear extension itself (2^p entries, p = 11 for
//! the workload's 1521 instructions). The blob's Blake2b-256 hash is absorbed right after the domain label
//! (`pcvm/fetch/v5`, the version is in the label; v2 added `write`, v3 the ALU selectors, v4
//! the jump-table address and control selectors, v5 address lanes for memory opcodes) and before the commitment and any challenge,
//! so a proof made for one blob is a transcript of another statement under every other blob,
//! even one whose table is identical.
//!
//! # What is left to later stages
//!
//! Nothing here says the rows are an *execution*: that consecutive pcs follow (`next_pc`,
//! branch `target`, the jump-table address `jaddr`), that the ALU semantics of each opcode
//! hold, that registers are read and written consistently, that memory is, or where padding
//! may sit. [`crate::regs`], [`crate::alu`] and [`crate::cpu`] prove those from the same
//! committed columns (S3 memory), so the fetch argument is what ties them to the blob.
//!
//! # The argument (offline memory checking for read-only memory, multiplicative counters)
//!
//! Committed, one Ligerito commitment, columns packed by index bits (64 columns of
//! `2^log_rows`, `log_rows ≥ p`): the 33 fetch fields per row, the row's read counter `ts`, and,
//! in the first `2^p` cells of column 34, each table entry's final counter `f`. `g` is the
//! generator [`G`] of GF(2^32)^*. Honestly, the `j`-th read of entry `i` carries `ts = g^j`, and
//! `f_i = g^{c_i}` for its read count `c_i`: the counts the prover commits. The multisets of
//! tuples `(fields, counter)` are
//!
//! * `Init = {(e_i, 1)}` over table entries (verifier-known),
//! * `R = {(row_k, ts_k)}`, `W = {(row_k, g·ts_k)}` over rows,
//! * `F = {(e_i, f_i)}` over table entries,
//!
//! and the proof shows `Init ∪ W = R ∪ F` and `Π_k ts_k ≠ 0`.
//!
//! Why that suffices: fix a tuple `x` of fields that is not a table entry (table pcs are
//! distinct, so `x` is any wrong field, or a pc no entry has). Tuples with fields `x` occur on
//! the left only in `W` and on the right only in `R`, so the multiset of counters `{g·ts}` over
//! the rows fetching `x` equals `{ts}` over the same `m` rows. Taking products,
//! `g^m · Π ts = Π ts`, and `Π ts ≠ 0`, so `g^m = 1`: `m` is a multiple of `ord(g) = 2^32 − 1`,
//! and `m ≤ 2^log_rows < 2^32 − 1` gives `m = 0`. No row fetches `x`. (Zero is the one fixed
//! point of `ts ↦ g·ts`; it is what the nonzero product excludes. Additive counters `ts + 1`
//! would have order 2 in characteristic 2 and prove nothing.) For a table entry `e_i` read by
//! `c_i` rows the same products give `g^{c_i} · Π ts = Π ts · f_i`, so `f_i = g^{c_i}`: the
//! committed counters are the exact read counts (`c ↦ g^c` is injective below `2^32 − 1`), and
//! the rows' multiset is the table's entries each repeated by its count.
//!
//! Multiset equality is by grand products ([`grand_product`]) of fingerprints
//! `γ + Σ_j β_j·field_j + β_ts·counter` with `β_0..β_33`, `γ` drawn after the commitment: as
//! polynomials in `(γ, β)`, `Π (γ + ⟨β, x⟩)` over two different multisets differ (distinct
//! tuples give distinct irreducible linear forms), so they agree at the random point with
//! probability `≤ (2^p + 2^log_rows)/2^128` (Schwartz–Zippel). Exact multiplicities: no LogUp.
//!
//! # Every open claim, and what discharges it
//!
//! * `Π Init`: the verifier computes it from the table directly (no sub-protocol).
//! * `Π R`, `Π W`, `Π_k ts_k` (rows, `log_rows` layers, proven as one batched circuit,
//!   [`grand_product::prove_batch`], so all three end at one point `r`) and `Π F` (table, `p`
//!   layers, its own point `r_F`): each ends in one claim on its leaves' MLE. The leaves are
//!   affine in the columns, so the claim is `γ + Σ β_j ṽ_j(r) + β_ts·c̃(r)` (`g·t̃s(r)` for
//!   `W`, `t̃s(r)` alone for the nonzero product). The prover states all 64 packed columns at
//!   each point (absorbed); the verifier checks the leaf claims from them, with `ẽ_j(r_F)` for
//!   `F` **evaluated by the verifier from its own table**.
//! * The two stated column vectors: each is reduced to one **PCS claim** on the packed
//!   polynomial at `(r, ρ)` with value `Σ_y eq(ρ, y)·v_y`, `ρ` drawn after the values (a wrong
//!   value makes this a nonzero multilinear polynomial in `ρ`: `4/2^128`). One batched
//!   evaluation proof ([`pcs`], 100 bits) opens both. For `F` the row point is
//!   `(r_F, 0^{log_rows − p})`: the first `2^p` cells of the counter column.
//!
//! The verifier also checks `Π Init · Π W = Π R · Π F` and `Π ts ≠ 0`. Soundness error: the
//! PCS's `2^-100` plus `O((log_rows^2 + 2^log_rows)/2^128)` from the products, fingerprints and
//! batching.

use std::collections::HashMap;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ligerito_binary_fields::BinaryFieldElement;
use polkavm::program::{Instruction, Opcode, RawReg};
use polkavm::ProgramCounter;
use rayon::prelude::*;

use crate::error::EngineError;
use crate::field::{eq_table, evaluate_mle, f32, g, lift, pack_columns, F128, F32};
use crate::grand_product::{self, BatchProductProof, GrandProductProof};
use crate::pcs::{self, Claim, Commitment, EvalProof, Params};
use crate::trace::{self, Trace, TraceError};
use crate::transcript::Transcript;

/// Fetch fields per row and per table entry: 11 operand fields, the 4 control selectors, then
/// the ALU selectors.
pub const FIELDS: usize = field::ALU_SEL + crate::alu::SELECTORS;
/// Field indices.
pub mod field {
    pub const PC: usize = 0;
    /// [`super::opcode_code`], or [`super::PAD_OPCODE`].
    pub const OPCODE: usize = 1;
    /// Register operands ([`super::NO_REG`] if absent). The destination of a register-writing
    /// opcode is in `REG_A`; the ALU reads its operands `A`, `B` from `REG_B`, `REG_C`, so
    /// branches and `jump_indirect` keep their registers there too.
    pub const REG_A: usize = 2;
    pub const REG_B: usize = 3;
    pub const REG_C: usize = 4;
    /// The first immediate as 64 bits (sign-extended `i32`, or `load_imm64`'s `u64`).
    pub const IMM_LO: usize = 5;
    pub const IMM_HI: usize = 6;
    /// The pc of the next instruction in the code (a padding entry's own pc: padding is
    /// absorbing).
    pub const NEXT_PC: usize = 7;
    /// Branch or jump target (0 if none).
    pub const TARGET: usize = 8;
    /// The second immediate (stored value of `store_imm*`), as its `u32` bits. It shares
    /// `TARGET`'s field: no opcode has both, and the column budget is short of one.
    pub const IMM2: usize = TARGET;
    /// The register the instruction writes ([`super::NO_REG`] if none): the destination slot
    /// of every register-writing opcode, `A0` for `ecalli` (the host's result). The register
    /// argument ([`crate::regs`]) takes its write address from this fetched field, so which
    /// register a row writes is the table's, never the prover's, choice.
    pub const WRITE: usize = 9;
    /// The jump-table address of this pc: `(i + 1)·2` if it is jump-table entry `i`,
    /// [`polkavm::RETURN_TO_HOST`] for the padding entry (the halt), 0 otherwise. An indirect
    /// jump's next row must fetch the address it computed ([`crate::cpu`]).
    pub const JADDR: usize = 10;
    /// The control selectors of the opcode, [`crate::cpu::ctl`] (`CTL + j` is selector `j`).
    pub const CTL: usize = 11;
    /// The ALU selectors of the opcode, [`crate::alu::sel`] (`ALU_SEL + j` is selector `j`):
    /// fields of the table, so which constraint family a row obeys is the opcode's, never the
    /// prover's, choice.
    pub const ALU_SEL: usize = CTL + crate::cpu::CONTROLS;
}
/// Committed column of the rows' read counters.
pub const COL_TS: usize = FIELDS;
/// Committed column whose first `2^p` cells are the table entries' final counters.
pub const COL_FINAL: usize = FIELDS + 1;
/// Packed columns (35 used, padded to a power of two).
pub const COLUMNS: usize = 64;
const LOG_COLUMNS: usize = 6;

/// The opcode of padding entries: no supported opcode's code.
pub const PAD_OPCODE: u32 = 0x100;
/// The opcode of host entries (rows that write a host call's memory advice).
pub const HOST_OPCODE: u32 = 0x101;
/// An absent register operand (registers are 0..13).
pub const NO_REG: u32 = 0xff;

/// A generator of GF(2^32)^* (order `2^32 − 1 = 3·5·17·257·65537`; checked by a test): the
/// counters' multiplier.
pub const G: u32 = 3;

/// Largest provable row count: the counter argument needs `2^log_rows < ord(G)`, the PCS
/// `2^(log_rows + 6) ≤ 2^30`.
pub const MAX_LOG_ROWS: usize = pcs::MAX_LOG_SIZE - LOG_COLUMNS;

pub type Entry = [u32; FIELDS];

/// Why a table, witness or proof could not be built or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("program blob: {0}")]
    Blob(#[from] TraceError),
    #[error("the program table has no encoding for `{opcode}` at pc {pc}")]
    UnsupportedInstruction { pc: u32, opcode: &'static str },
    #[error("jump table: pc {pc} has two entries")]
    DuplicateJumpTarget { pc: u32 },
    #[error("{}: {target} is not a valid jump target", match pc { Some(pc) => format!("the branch or jump at pc {pc}"), None => "a jump-table entry".to_string() })]
    InvalidJumpTarget { pc: Option<u32>, target: u32 },
    #[error("row {row}: pc {pc} is not an instruction boundary of the blob")]
    NotAnInstruction { row: usize, pc: u32 },
    #[error("{rows} rows do not fit 2^{log_rows} (the table needs at least 2^{min})")]
    Rows {
        rows: usize,
        log_rows: usize,
        min: usize,
    },
    #[error("row {row}: the fetch tuple is not the table's entry at its pc")]
    WrongFields { row: usize },
    #[error("row {row}: read counter is not g^(earlier reads of its entry)")]
    WrongCounter { row: usize },
    #[error("entry {entry}: final counter is not g^(its read count)")]
    WrongFinal { entry: usize },
    #[error("proof rejected: {0}")]
    Rejected(#[from] EngineError),
}

/// The program table a verifier derives from a blob.
#[derive(Debug, Clone)]
pub struct ProgramTable {
    /// Blake2b-256 of the blob.
    pub hash: [u8; 32],
    /// Instructions in the code (entries `0..instructions`); the rest are padding entries.
    pub instructions: usize,
    /// `2^log_entries` entries.
    pub log_entries: usize,
    pub entries: Vec<Entry>,
    by_pc: HashMap<u32, usize>,
    /// The blob's exports and their entry pcs.
    exports: Vec<(String, u32)>,
    /// The blob's memory and the memory side table ([`crate::mem`]).
    pub memory: crate::mem::MemoryTable,
}

fn reg(r: RawReg) -> u32 {
    r.get().to_usize() as u32
}

/// The table entry of one instruction: its operands in a fixed slot layout (see [`field`]).
/// Only [`trace::SUPPORTED`]'s opcodes have an encoding: a blob with any other is refused,
/// as the inventory refuses it.
fn encode(instruction: Instruction, pc: u32, next: u32) -> Result<Entry, FetchError> {
    use Instruction as I;
    let mut e = [0u32; FIELDS];
    e[field::PC] = pc;
    // PolkaVM's numbering is not public (and differs between instruction sets): the code is
    // the opcode's position in `SUPPORTED`, which later stages' flags are keyed by.
    e[field::OPCODE] =
        opcode_code(instruction.opcode()).ok_or(FetchError::UnsupportedInstruction {
            pc,
            opcode: instruction.opcode().name(),
        })?;
    e[field::NEXT_PC] = next;
    let mut regs = [NO_REG; 3];
    let mut imm: Option<u64> = None;
    let mut target = 0u32;
    let mut write = NO_REG;
    let sext = |i: i32| i as i64 as u64;
    match instruction {
        I::fallthrough | I::unlikely => {}
        I::load_imm(d, i) | I::load_u8(d, i) | I::load_u64(d, i) => {
            regs[0] = reg(d);
            write = reg(d);
            imm = Some(sext(i));
        }
        I::jump_indirect(base, i) => {
            regs[1] = reg(base);
            imm = Some(sext(i));
        }
        I::load_imm64(d, i) => {
            regs[0] = reg(d);
            write = reg(d);
            imm = Some(i);
        }
        I::move_reg(d, s) => {
            regs[..2].copy_from_slice(&[reg(d), reg(s)]);
            write = reg(d);
        }
        I::add_64(d, a, b) | I::sub_64(d, a, b) | I::or(d, a, b) | I::xor(d, a, b) => {
            regs = [reg(d), reg(a), reg(b)];
            write = reg(d);
        }
        I::add_imm_64(d, a, i)
        | I::and_imm(d, a, i)
        | I::or_imm(d, a, i)
        | I::shift_logical_left_imm_64(d, a, i)
        | I::shift_logical_right_imm_64(d, a, i)
        | I::set_less_than_unsigned_imm(d, a, i)
        | I::set_greater_than_unsigned_imm(d, a, i)
        | I::load_indirect_u8(d, a, i)
        | I::load_indirect_u64(d, a, i) => {
            regs[..2].copy_from_slice(&[reg(d), reg(a)]);
            write = reg(d);
            imm = Some(sext(i));
        }
        I::store_indirect_u8(v, a, i) | I::store_indirect_u64(v, a, i) => {
            regs[..2].copy_from_slice(&[reg(v), reg(a)]);
            imm = Some(sext(i));
        }
        I::store_u64(v, o) => {
            // The value in slot `a`, as the indirect stores have it; the address is `I`.
            regs[0] = reg(v);
            imm = Some(sext(o));
        }
        I::store_imm_u8(o, v) | I::store_imm_u64(o, v) => {
            imm = Some(sext(o));
            target = v as u32;
        }
        I::store_imm_indirect_u8(b, o, v) | I::store_imm_indirect_u64(b, o, v) => {
            // The base in slot `b`, where the ALU lanes read `A` for the address.
            regs[1] = reg(b);
            imm = Some(sext(o));
            target = v as u32;
        }
        I::branch_eq_imm(a, i, t)
        | I::branch_not_eq_imm(a, i, t)
        | I::branch_less_unsigned_imm(a, i, t)
        | I::branch_greater_or_equal_unsigned_imm(a, i, t)
        | I::branch_greater_unsigned_imm(a, i, t) => {
            regs[1] = reg(a);
            imm = Some(sext(i));
            target = t;
        }
        I::load_imm_and_jump(d, i, t) => {
            regs[0] = reg(d);
            write = reg(d);
            imm = Some(sext(i));
            target = t;
        }
        I::branch_not_eq(a, b, t)
        | I::branch_eq(a, b, t)
        | I::branch_less_unsigned(a, b, t)
        | I::branch_greater_or_equal_unsigned(a, b, t) => {
            regs[1..].copy_from_slice(&[reg(a), reg(b)]);
            target = t;
        }
        I::jump(t) => target = t,
        I::ecalli(i) => {
            imm = Some(u64::from(i as u32));
            write = polkavm::Reg::A0.to_usize() as u32;
        }
        other => {
            return Err(FetchError::UnsupportedInstruction {
                pc,
                opcode: other.opcode().name(),
            })
        }
    }
    e[field::REG_A..=field::REG_C].copy_from_slice(&regs);
    let imm = imm.unwrap_or(0);
    e[field::IMM_LO] = imm as u32;
    e[field::IMM_HI] = (imm >> 32) as u32;
    // `TARGET` is also `IMM2`: the store's value, or the branch's target.
    e[field::TARGET] = target;
    e[field::WRITE] = write;
    e[field::CTL..field::ALU_SEL].copy_from_slice(&crate::cpu::selectors(instruction.opcode()));
    e[field::ALU_SEL..].copy_from_slice(&crate::alu::selectors(instruction.opcode(), imm));
    Ok(e)
}

/// The opcode field's value for `opcode`: its index in [`trace::SUPPORTED`].
pub fn opcode_code(opcode: polkavm::program::Opcode) -> Option<u32> {
    trace::SUPPORTED
        .iter()
        .position(|&o| o == opcode)
        .map(|i| i as u32)
}

/// Blake2b-256 of a blob: what the transcript binds.
pub fn blob_hash(blob: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(blob).into()
}

impl ProgramTable {
    /// Parses `blob` (PolkaVM's parser, 64-bit only) into one entry per instruction, in code
    /// order, then the halt's padding entry, one host entry per `ecalli` site (`HOST_OPCODE`,
    /// [`crate::cpu`]), and padding entries up to a power of two. Their pcs are
    /// `code_len + 1, code_len + 2, …`: never an instruction boundary, distinct, and not
    /// `code_len` itself, which is the last instruction's `next_pc`: running off the end of
    /// the code must fetch nothing rather than "halt". Refuses a jump table that names a pc
    /// twice (each pc has one `JADDR`) and a jump-table entry, branch or jump target that is
    /// not a valid jump target (PolkaVM traps on those; the constraints assume it never does).
    pub fn from_blob(blob: &[u8]) -> Result<ProgramTable, FetchError> {
        let program = trace::parse(blob)?;
        let code_len = program.code().len() as u32;
        let isa = program.isa();
        let valid = |pc: u32| program.scan_is_jump_target_valid(isa, ProgramCounter(pc));
        let mut jaddr: HashMap<u32, u32> = HashMap::new();
        for (i, pc) in program.jump_table().iter().enumerate() {
            if !valid(pc.0) {
                return Err(FetchError::InvalidJumpTarget {
                    pc: None,
                    target: pc.0,
                });
            }
            if jaddr.insert(pc.0, (i as u32 + 1) * 2).is_some() {
                return Err(FetchError::DuplicateJumpTarget { pc: pc.0 });
            }
        }
        let mut entries = Vec::new();
        for inst in program.instructions() {
            let mut e = encode(inst.kind, inst.offset.0, inst.next_offset.0)?;
            let is_jump = e[field::CTL..field::CTL + crate::cpu::ctl::IND]
                .iter()
                .any(|&x| x != 0);
            if is_jump && !valid(e[field::TARGET]) {
                return Err(FetchError::InvalidJumpTarget {
                    pc: Some(inst.offset.0),
                    target: e[field::TARGET],
                });
            }
            e[field::JADDR] = jaddr.get(&inst.offset.0).copied().unwrap_or(0);
            entries.push(e);
        }
        let instructions = entries.len();
        // After the code: the halt's padding entry, then one host entry per `ecalli` site
        // (the rows that write the host's memory advice, [`crate::mem`]), then padding.
        let sites: Vec<usize> = (0..instructions)
            .filter(|&i| entries[i][field::OPCODE] == opcode_code(Opcode::ecalli).unwrap_or(0))
            .collect();
        let used = instructions + 1 + sites.len();
        let log_entries = used.next_power_of_two().trailing_zeros() as usize;
        for k in 0..(1usize << log_entries) - instructions {
            let mut e = [0u32; FIELDS];
            let pc = code_len.saturating_add(k as u32 + 1);
            e[field::PC] = pc;
            e[field::OPCODE] = PAD_OPCODE;
            // Padding touches no register: its slots are absent, like a marker's.
            e[field::REG_A..=field::REG_C].fill(NO_REG);
            e[field::WRITE] = NO_REG;
            e[field::NEXT_PC] = pc;
            if k == 0 {
                // The one entry the halt (`jump_indirect` to the return address) enters.
                e[field::JADDR] = polkavm::RETURN_TO_HOST as u32;
            }
            if let Some(&site) = sites.get(k.wrapping_sub(1)).filter(|_| k > 0) {
                // A host row of the `ecalli` at `site`: it goes on to another host row (its
                // own pc, `TARGET`) or returns to the instruction after the call. The call
                // itself enters it through its `TARGET`.
                e[field::OPCODE] = HOST_OPCODE;
                e[field::NEXT_PC] = entries[site][field::NEXT_PC];
                e[field::TARGET] = pc;
                entries[site][field::TARGET] = pc;
            }
            entries.push(e);
        }
        let by_pc = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e[field::PC], i))
            .collect();
        let exports = program
            .exports()
            .map(|e| {
                (
                    String::from_utf8_lossy(e.symbol().as_bytes()).into_owned(),
                    e.program_counter().0,
                )
            })
            .collect();
        let memory = crate::mem::MemoryTable::new(&program, &entries)?;
        Ok(ProgramTable {
            hash: blob_hash(blob),
            instructions,
            log_entries,
            entries,
            by_pc,
            exports,
            memory,
        })
    }

    /// The entry pc of the export `name`: the first row of an execution of it.
    pub fn export_pc(&self, name: &str) -> Option<u32> {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, pc)| pc)
    }

    /// The padding entry's pc: the last row of an execution is there.
    pub fn pad_pc(&self) -> u32 {
        self.pad_entry()[field::PC]
    }

    /// The entry index at `pc` (an instruction boundary or a padding pc).
    pub fn index_of(&self, pc: u32) -> Option<usize> {
        self.by_pc.get(&pc).copied()
    }

    /// The padding entry padding rows fetch.
    pub fn pad_entry(&self) -> &Entry {
        &self.entries[self.instructions]
    }

    /// The smallest `log_rows` a trace of `rows` rows is proven at.
    pub fn log_rows_for(&self, rows: usize) -> usize {
        rows.max(1)
            .next_power_of_two()
            .trailing_zeros()
            .max(self.log_entries as u32) as usize
    }

    /// The MLE of field `j` of the table at `point` (`log_entries` coordinates): what the
    /// verifier evaluates itself.
    pub(crate) fn field_mle(&self, eq: &[F128], j: usize) -> F128 {
        self.entries
            .iter()
            .zip(eq)
            .fold(F128::zero(), |acc, (e, w)| acc.add(&w.mul(&lift(e[j]))))
    }
}

/// What the prover commits: the rows' fetch tuples and counters, the table's final counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchWitness {
    pub log_rows: usize,
    /// `2^log_rows` fetch tuples (padding rows hold the padding entry).
    pub rows: Vec<Entry>,
    /// Each row's read counter.
    pub read_ts: Vec<F32>,
    /// Each table entry's final counter (`2^log_entries`).
    pub final_ts: Vec<F32>,
}

impl FetchWitness {
    /// The honest witness for rows at `pcs`, padded to `2^log_rows` with the padding entry.
    pub fn new(
        table: &ProgramTable,
        pcs: &[u32],
        log_rows: usize,
    ) -> Result<FetchWitness, FetchError> {
        let rows = 1usize << log_rows;
        if pcs.len() > rows || log_rows < table.log_entries || log_rows > MAX_LOG_ROWS {
            return Err(FetchError::Rows {
                rows: pcs.len(),
                log_rows,
                min: table.log_entries,
            });
        }
        let mut tuples = Vec::with_capacity(rows);
        for (row, &pc) in pcs.iter().enumerate() {
            match table.index_of(pc) {
                Some(i) if i < table.instructions => tuples.push(table.entries[i]),
                _ => return Err(FetchError::NotAnInstruction { row, pc }),
            }
        }
        tuples.resize(rows, *table.pad_entry());
        Ok(Self::with_tuples(table, log_rows, tuples))
    }

    /// The witness of a trace's rows.
    pub fn from_trace(
        table: &ProgramTable,
        trace: &Trace,
        log_rows: usize,
    ) -> Result<FetchWitness, FetchError> {
        let pcs: Vec<u32> = trace.rows.iter().map(|r| r.pc).collect();
        Self::new(table, &pcs, log_rows)
    }

    /// Counters for arbitrary tuples, as an honest prover would set them (per distinct tuple,
    /// `g^(earlier reads)`; final counters of the entries from the reads of exactly that
    /// entry). On tuples outside the table this is what a cheating prover commits: tests use
    /// it to build witnesses the native check refuses and the verifier must reject.
    pub fn with_tuples(table: &ProgramTable, log_rows: usize, rows: Vec<Entry>) -> FetchWitness {
        let mut counter: HashMap<Entry, F32> = HashMap::new();
        let read_ts = read_counters(rows.iter().copied(), &mut counter);
        let final_ts = table
            .entries
            .iter()
            .map(|e| counter.get(e).copied().unwrap_or(F32::one()))
            .collect();
        FetchWitness {
            log_rows,
            rows,
            read_ts,
            final_ts,
        }
    }
}

/// The read counters of a read-only lookup's reads, in order: each read of a tuple carries
/// `g^(earlier reads of it)`; `counters` is left holding `g^(reads)` per tuple, the final
/// counters. Every lookup in the crate (fetch, registers' range, lanes, memory) counts so.
pub(crate) fn read_counters<K: std::hash::Hash + Eq>(
    reads: impl IntoIterator<Item = K>,
    counters: &mut HashMap<K, F32>,
) -> Vec<F32> {
    reads
        .into_iter()
        .map(|k| {
            let c = counters.entry(k).or_insert(F32::one());
            let now = *c;
            *c = c.mul(&g());
            now
        })
        .collect()
}

/// The native check (debug oracle): every tuple is the table's entry at its pc, the counters
/// are the honest ones. The prover runs it before proving.
pub fn check(table: &ProgramTable, w: &FetchWitness) -> Result<(), FetchError> {
    let rows = 1usize << w.log_rows;
    if w.rows.len() != rows
        || w.read_ts.len() != rows
        || w.final_ts.len() != table.entries.len()
        || w.log_rows < table.log_entries
        || w.log_rows > MAX_LOG_ROWS
    {
        return Err(FetchError::Rows {
            rows: w.rows.len(),
            log_rows: w.log_rows,
            min: table.log_entries,
        });
    }
    let mut reads = vec![F32::one(); table.entries.len()];
    for (row, t) in w.rows.iter().enumerate() {
        let i = table
            .index_of(t[field::PC])
            .ok_or(FetchError::NotAnInstruction {
                row,
                pc: t[field::PC],
            })?;
        if table.entries[i] != *t {
            return Err(FetchError::WrongFields { row });
        }
        if w.read_ts[row] != reads[i] {
            return Err(FetchError::WrongCounter { row });
        }
        reads[i] = reads[i].mul(&g());
    }
    for (entry, (f, r)) in w.final_ts.iter().zip(&reads).enumerate() {
        if f != r {
            return Err(FetchError::WrongFinal { entry });
        }
    }
    Ok(())
}

/// A fetch proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchProof {
    pub commitment: Commitment,
    /// The row-side grand products `Π R`, `Π W`, `Π ts`, batched (one point).
    pub rows: BatchProductProof,
    /// The table-side grand product `Π F`.
    pub finals: GrandProductProof,
    /// The 64 packed columns at the rows' point, then at the table's point.
    pub column_evals: [Vec<F128>; 2],
    /// One evaluation proof for the two claims.
    pub opening: EvalProof,
}

const DOMAIN: &[u8] = b"pcvm/fetch/v5";

/// Fiat–Shamir up to the fingerprint challenges: domain, blob hash, sizes, root → `β`, `γ`.
fn begin(table: &ProgramTable, log_rows: usize, cm: &Commitment) -> (Transcript, Vec<F128>, F128) {
    let mut t = Transcript::new(DOMAIN);
    t.absorb_bytes(b"program-hash", &table.hash);
    t.absorb_u64(b"log-entries", table.log_entries as u64);
    t.absorb_u64(b"log-rows", log_rows as u64);
    t.absorb_bytes(b"root", &cm.root);
    let beta = t.challenge_f128s(b"pcvm/fetch/v1/tuple", FIELDS + 1);
    let gamma = grand_product::draw_gamma(&mut t);
    (t, beta, gamma)
}

/// `γ + Σ β_j·x_j + β_ts·c` over lifted values.
pub(crate) fn fingerprint(beta: &[F128], gamma: F128, fields: &[F128], counter: F128) -> F128 {
    fields
        .iter()
        .zip(beta)
        .fold(gamma.add(&beta[FIELDS].mul(&counter)), |acc, (x, b)| {
            acc.add(&b.mul(x))
        })
}

/// [`fingerprint`] of a table-shaped tuple (no allocation: it runs once per row).
pub(crate) fn fingerprint_entry(beta: &[F128], gamma: F128, e: &Entry, counter: F128) -> F128 {
    e.iter()
        .zip(beta)
        .fold(gamma.add(&beta[FIELDS].mul(&counter)), |acc, (&x, b)| {
            acc.add(&b.mul(&lift(x)))
        })
}

pub(crate) fn leaves(
    beta: &[F128],
    gamma: F128,
    rows: &[Entry],
    ts: &[F32],
    times_g: bool,
) -> Vec<F128> {
    let gl = F128::from(g());
    rows.par_iter()
        .zip(ts.par_iter())
        .map(|(e, &c)| {
            let c = F128::from(c);
            fingerprint_entry(beta, gamma, e, if times_g { gl.mul(&c) } else { c })
        })
        .collect()
}

/// `Π Init`: computed by the verifier from the table.
pub(crate) fn init_product(table: &ProgramTable, beta: &[F128], gamma: F128) -> F128 {
    table
        .entries
        .par_iter()
        .map(|e| fingerprint_entry(beta, gamma, e, F128::one()))
        .reduce(F128::one, |a, b| a.mul(&b))
}

pub(crate) fn row_point(point: &[F128], log_rows: usize) -> Vec<F128> {
    let mut p = point.to_vec();
    p.resize(log_rows, F128::zero());
    p
}

/// Absorb the stated columns at `point`, draw `ρ`, and return the one PCS claim they reduce to.
fn column_claim(point: &[F128], values: &[F128], t: &mut Transcript) -> Claim {
    t.absorb_f128s(b"pcvm/fetch/v1/column-evals", values);
    let rho = t.challenge_f128s(b"pcvm/fetch/v1/column-batch", LOG_COLUMNS);
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
pub fn prove(table: &ProgramTable, w: &FetchWitness) -> Result<FetchProof, FetchError> {
    check(table, w)?;
    prove_unchecked(table, w)
}

/// [`prove`] without the native check: what a cheating prover runs.
pub fn prove_unchecked(table: &ProgramTable, w: &FetchWitness) -> Result<FetchProof, FetchError> {
    let log_rows = w.log_rows;
    let rows = 1usize << log_rows;
    if w.rows.len() != rows
        || w.read_ts.len() != rows
        || w.final_ts.len() != table.entries.len()
        || log_rows < table.log_entries
        || log_rows > MAX_LOG_ROWS
    {
        return Err(FetchError::Rows {
            rows: w.rows.len(),
            log_rows,
            min: table.log_entries,
        });
    }
    let params = Params::cached(log_rows + LOG_COLUMNS).map_err(EngineError::from)?;
    let mut columns: Vec<Vec<F32>> = (0..FIELDS)
        .map(|j| w.rows.iter().map(|e| f32(e[j])).collect())
        .collect();
    columns.push(w.read_ts.clone());
    let mut finals = w.final_ts.clone();
    finals.resize(rows, F32::zero());
    columns.push(finals);
    let (commitment, data) =
        pcs::commit(params, pack_columns(&columns, log_rows)).map_err(EngineError::from)?;
    let (mut t, beta, gamma) = begin(table, log_rows, &commitment);

    let (rows_gp, r_rows, _) = grand_product::prove_batch(
        vec![
            leaves(&beta, gamma, &w.rows, &w.read_ts, false),
            leaves(&beta, gamma, &w.rows, &w.read_ts, true),
            w.read_ts.iter().map(|&x| F128::from(x)).collect(),
        ],
        &mut t,
    );
    let (finals_gp, r_finals, _) = grand_product::prove(
        leaves(&beta, gamma, &table.entries, &w.final_ts, false),
        &mut t,
    );

    let points = [r_rows, row_point(&r_finals, log_rows)];
    let mut column_evals: [Vec<F128>; 2] = Default::default();
    let mut claims = Vec::with_capacity(2);
    for (k, point) in points.iter().enumerate() {
        let values: Vec<F128> = (0..COLUMNS)
            .into_par_iter()
            .map(|c| {
                columns
                    .get(c)
                    .map_or(F128::zero(), |col| evaluate_mle(col, point))
            })
            .collect();
        claims.push(column_claim(point, &values, &mut t));
        column_evals[k] = values;
    }
    let opening = pcs::prove(params, &data, &claims, &mut t).map_err(EngineError::from)?;
    Ok(FetchProof {
        commitment,
        rows: rows_gp,
        finals: finals_gp,
        column_evals,
        opening,
    })
}

/// Verify that `2^log_rows` committed rows fetch only entries of `table`.
pub fn verify(table: &ProgramTable, log_rows: usize, proof: &FetchProof) -> Result<(), FetchError> {
    if log_rows < table.log_entries || log_rows > MAX_LOG_ROWS {
        return Err(EngineError::Shape("log_rows").into());
    }
    if proof.column_evals.iter().any(|v| v.len() != COLUMNS) {
        return Err(EngineError::Shape("column evaluations").into());
    }
    let params = Params::cached(log_rows + LOG_COLUMNS).map_err(EngineError::from)?;
    let (mut t, beta, gamma) = begin(table, log_rows, &proof.commitment);
    let rows = grand_product::verify_batch(log_rows, 3, &proof.rows, &mut t)?;
    let (p_reads, p_writes, p_nonzero) = (rows.products[0], rows.products[1], rows.products[2]);
    let (r_rows, c_rows) = (rows.point, rows.claims);
    let (p_finals, r_finals, c_finals) =
        grand_product::verify(table.log_entries, &proof.finals, &mut t)?;
    if p_nonzero == F128::zero() {
        return Err(EngineError::FinalEvaluation("a read counter is zero").into());
    }
    let p_init = init_product(table, &beta, gamma);
    if p_init.mul(&p_writes) != p_reads.mul(&p_finals) {
        return Err(EngineError::FinalEvaluation("Init ∪ W ≠ R ∪ F").into());
    }

    let [ev_rows, ev_finals] = &proof.column_evals;
    let fields = &ev_rows[..FIELDS];
    let ts = ev_rows[COL_TS];
    if fingerprint(&beta, gamma, fields, ts) != c_rows[0] {
        return Err(EngineError::FinalEvaluation("read leaves").into());
    }
    if fingerprint(&beta, gamma, fields, F128::from(g()).mul(&ts)) != c_rows[1] {
        return Err(EngineError::FinalEvaluation("write leaves").into());
    }
    if ts != c_rows[2] {
        return Err(EngineError::FinalEvaluation("counter leaves").into());
    }
    // F's fields are the table's: evaluated here, not taken from the prover.
    let eq = eq_table(&r_finals);
    let table_fields: Vec<F128> = (0..FIELDS).map(|j| table.field_mle(&eq, j)).collect();
    if fingerprint(&beta, gamma, &table_fields, ev_finals[COL_FINAL]) != c_finals {
        return Err(EngineError::FinalEvaluation("final leaves").into());
    }

    let points = [r_rows, row_point(&r_finals, log_rows)];
    let claims: Vec<Claim> = points
        .iter()
        .zip(&proof.column_evals)
        .map(|(p, v)| column_claim(p, v, &mut t))
        .collect();
    pcs::verify(params, &proof.commitment, &claims, &proof.opening, &mut t)
        .map_err(EngineError::from)?;
    Ok(())
}

/// [`verify`] against the table of `blob` (what a validator holding only the blob runs).
pub fn verify_blob(blob: &[u8], log_rows: usize, proof: &FetchProof) -> Result<(), FetchError> {
    verify(&ProgramTable::from_blob(blob)?, log_rows, proof)
}

/// Bytes of a proof (roots, field elements and the encoded opening), for size reports.
pub fn proof_bytes(proof: &FetchProof) -> usize {
    let layers = crate::sumcheck::proof_bytes;
    32 + 16 * proof.rows.products.len()
        + layers(&proof.rows.layers)
        + 16
        + layers(&proof.finals.layers)
        + 16 * proof.column_evals.iter().map(Vec::len).sum::<usize>()
        + crate::codec::encode(&proof.opening).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `G` generates GF(2^32)^*: `G^((2^32−1)/q) ≠ 1` for every prime `q | 2^32 − 1`.
    #[test]
    fn g_is_a_generator() {
        let order = u32::MAX as u64;
        assert_eq!(3 * 5 * 17 * 257 * 65537, order);
        assert_eq!(g().pow(order), F32::one());
        for q in [3u64, 5, 17, 257, 65537] {
            assert_ne!(g().pow(order / q), F32::one(), "q = {q}");
        }
    }

    #[test]
    fn fingerprint_is_affine_in_the_columns() {
        // The leaf-claim checks rely on MLE(leaves) = fingerprint(MLE(columns)).
        let beta: Vec<F128> = (0..=FIELDS as u128)
            .map(|i| F128::from_value(i * 7 + 1))
            .collect();
        let gamma = F128::from_value(99);
        let rows: Vec<Entry> = (0..8u32).map(|i| [i * 3 + 1; FIELDS]).collect();
        let ts: Vec<F32> = (0..8u32).map(|i| f32(i + 5)).collect();
        let l = leaves(&beta, gamma, &rows, &ts, true);
        let point: Vec<F128> = (0..3).map(|i| F128::from_value(1000 + i)).collect();
        let col = |j: usize| -> Vec<F32> { rows.iter().map(|e| f32(e[j])).collect() };
        let fields: Vec<F128> = (0..FIELDS).map(|j| evaluate_mle(&col(j), &point)).collect();
        let c = F128::from(g()).mul(&evaluate_mle(&ts, &point));
        assert_eq!(
            crate::field::evaluate_mle_f128(&l, &point),
            fingerprint(&beta, gamma, &fields, c)
        );
    }
}
