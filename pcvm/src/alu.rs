//! S2, third slice: the ALU. The CPU proof is the register-file proof ([`regs`], fetch
//! included) extended on **the same commitment and transcript** by constraints that fix the
//! value every ALU row writes from the values it reads and its fetched immediate.
//!
//! # What is proven
//!
//! Everything [`regs`] proves, and for every row whose fetched opcode is one of [`CONSTRAINED`]
//! (every register-writing opcode of [`crate::trace::SUPPORTED`] except the loads and
//! `ecalli`) the written value (regs' `new` column, the value the register memory stores at the
//! fetched `write` register) is the opcode's result on the row's reads: `A` = the read of slot
//! `reg_b`, `B` = the read of slot `reg_c`, `I` = the fetched 64-bit immediate.
//!
//! | opcode | α (a lanes) | β (b lanes) | carry in | lane op | written value |
//! |---|---|---|---|---|---|
//! | `move_reg` | A | 0 | 0 | add | ρ |
//! | `load_imm`, `load_imm64`, `load_imm_and_jump` | 0 | I | 0 | add | ρ |
//! | `add_64` / `add_imm_64` | A | B / I | 0 | add | ρ |
//! | `sub_64` | A | ¬B | 1 | add | ρ = A − B |
//! | `and_imm` | A | I | 0 | and | ρ |
//! | `or` / `or_imm` | A | B / I | 0 | and | ρ ⊕ α ⊕ β |
//! | `xor` | A | B | 0 | and | α ⊕ β |
//! | `set_less_than_unsigned_imm` | A | ¬I | 1 | add | 1 ⊕ c_8 (borrow of A − I) |
//! | `set_greater_than_unsigned_imm` | I | ¬A | 1 | add | 1 ⊕ c_8 (borrow of I − A) |
//! | `shift_logical_left_imm_64`, `s = 8q + t` | A | t in every lane | 0 | shl | ρ moved up q bytes |
//! | `shift_logical_right_imm_64`, `t > 0` | A | 8 − t | 0 | shl | (ρ, c_8) one byte down, then down q |
//!
//! (`ρ` is the lanes' result word; for every non-shift row the barrel below passes it
//! through.) Which row follows which line is the table's: the 18 selectors ([`sel`]: lane
//! mode, operand and result routing, the shift's `t`, `DOWN` and the bits of `q`) are fields of
//! the program table entry ([`fetch::field::ALU_SEL`]), functions of the opcode and its
//! immediate, fetched like the opcode, so a row cannot opt out of its opcode's constraint, into
//! another's, or shift by another amount. The control opcodes write nothing here (`ALU = 0`)
//! but drive the lanes: branches compute `A − B`, `A − I` or `I − A` (borrow and zero test
//! decide them), `jump_indirect` computes `A + I` (its address); [`crate::cpu`] reads those.
//! Every other opcode has all selectors zero and its write is constrained elsewhere or not
//! yet: loads (S3, memory) and `ecalli` (host advice, [`regs`]).
//!
//! # Two statements, one code path
//!
//! [`prove`]/[`verify`] state ALU consistency (label `pcvm/alu/v2`): the rows may be any
//! sequence of table entries, which is what the edge-value tests need. [`crate::cpu`] states
//! an execution (label `pcvm/cpu/v5`, entry pc, context and outputs absorbed): the same proof with the
//! control identities and memory enforced. The labels differ, so neither proof verifies as
//! the other.
//!
//! # The argument
//!
//! Committed (columns after [`regs`]' 61; with [`crate::cpu`]'s two, 127 of 128 packed columns
//! in all): per row eight byte
//! lanes `a_l`, `b_l`, `r_l` (`l = 0..8`, least significant first), the lane carries
//! `c_1..c_8` (`c_{l+1}` is lane `l`'s carry out; `c_0` is the fetched `sub` selector), the
//! barrel's first two stages `y1_l`, `y2_l`, the lanes' lookup counters, and the lane table's
//! final counters.
//!
//! * **Lane lookup.** Every lane tuple `(mode, a_l, b_l, c_l, r_l, c_{l+1})` (`mode` fetched) is
//!   an entry of the verifier-known table `T` of `2^19` entries ([`table_entry`]): `add`
//!   `(a, b, cin ∈ {0,1}) → ((a + b + cin) mod 256, ÷ 256)`, `and` `(a, b) → (a & b, 0)`, and
//!   `shl` `(a, b < 8, spill < 128) → ((a << b) ⊕ spill) mod 256, (a << b) ÷ 256)`.
//!   Read-only offline memory checking with multiplicative counters, exactly [`fetch`]'s
//!   argument over the `8N` lane lookups (`Init ∪ W = R ∪ F`, `Π ts ≠ 0`, `8N < 2^32 − 1`),
//!   so every lane is a table entry: the `a, b, r` lanes are bytes and each lane is one step of
//!   a ripple-carry adder, a byte AND, or a byte shift whose spill is the next lane's carry.
//!   Chained through `c_l`, the eight lanes say `ρ = α + β + c_0 mod 2^64` with carry out
//!   `c_8` (add), `ρ = α & β` (and), or `ρ = A << t mod 2^64` with `c_8 = A >> (64 − t)`
//!   (shl: the spill into lane `l` is `a_{l−1} >> (8 − t) < 2^t`, below the bits `a_l << t`
//!   occupies, so the XOR is the shift's OR), where `α = Σ 256^l a_l` etc.
//! * **Routing and barrel**, one eq-weighted [`zerocheck`] over the rows of 22 identities in
//!   GF(2^32) of degree ≤ 3 (the same zerocheck carries [`crate::cpu`]'s nine control
//!   identities, degree ≤ 4, in the execution statement), batched by powers of a random `λ`:
//!   `α = s_a·A + s_swap·I`, `β = s_b·B + s_i·I + s_swap·A + s_sub·ONES + t·0x01010101` (per
//!   32-bit half); per byte `j` the barrel stages
//!   `y^{k+1}_j = y^k_j + ql_k·(y^k_{j−2^k} + y^k_j) + qr_k·(y^k_{j+2^k} + y^k_j)` (bytes past
//!   either end are 0) from `y^0_j = ρ_j + down·(ρ_{j+1} + ρ_j)` (`ρ_8 = c_8`), with `y^1`,
//!   `y^2` committed and `y^3` inline; and `s_alu·R = s_r·Y3 + s_x·(α + β) + s_cmp·(1 + c_8)`
//!   (low half; the high half without the compare term). `α_lo = Σ_{l<4} X^{8l}·a_l` is the
//!   packing of four bytes into one GF(2^32) element (bit positions do not overlap, because
//!   the lookup made each `a_l` a byte), so `α_lo = A_lo` says the lanes *are* `A`'s bytes.
//!   The barrel identities hold byte by byte, so each `y` byte is exactly one input byte or 0
//!   (no range check needed) and `Y3`'s packing is again exact. Addition in GF(2^32) is XOR:
//!   `B + ONES` is `¬B`, `α + β` is `α ⊕ β`, `ρ + α + β = (α & β) ⊕ α ⊕ β = α | β`, and
//!   `t·0x01010101` is `t` in each byte. Selectors are table fields (0/1 except `t < 8`), so
//!   each identity is the table row's line above; a row with `s_alu = 0` (and every other
//!   selector 0, which the table guarantees) only forces its lanes to the zero tuple.
//!
//! Why no output is left unconstrained: for each covered opcode `s_alu = 1` and the result
//! identity fixes both 32-bit halves of `R` as a function of `Y3`, `α`, `β`, `c_8`, which the
//! lookup, barrel and routing identities fix as functions of `A`, `B`, `I`. The unit test
//! `every_constrained_opcode_computes_its_result` checks natively that each of the 64 result
//! bits of every covered opcode (shifts at several amounts) enters the identities, and
//! `tests/alu.rs` flips result bits of each covered opcode, re-proves, and expects rejection.
//!
//! # Every open claim, and what discharges it
//!
//! * Fetch and registers: as in [`regs`] (its four column points).
//! * Lane products `Π R`, `Π W`, `Π ts` over the `8N` lookups (index `l·N + k`), one batch: at
//!   `(r, r_l)` each leaf claim is `Σ_l eq(r_l, l)·(affine in the columns at r)`.
//! * Table products `Π F`, `Π Init` over `T`, one batch, at `r_T`: `T`'s six fields are
//!   **evaluated by the verifier in closed form** ([`table_mle`]: the index fields are linear
//!   in the coordinates, the AND output a sum of products, the adder's sum and carry a
//!   two-state forward pass over the carry chain, the shift's outputs linear per shift amount
//!   and weighted by `eq` over its three bits; a few hundred operations); the final counters
//!   are the committed finals columns at `r_T` (entry `j·N + k` in cell `k` of finals column
//!   `j`).
//! * The zerocheck ends at `z`: its 68 inputs are the stated columns at `z` (or affine
//!   combinations of them) and the fetched selectors.
//! * Its two next-row inputs (`PC'`, `JADDR'`) are reduced by [`crate::shift`] to `PC`, `JADDR`
//!   at a fourth point `r'`; the first- and last-row indicators at `z` the verifier evaluates.
//! * The four new points join regs' four: all 128 columns are stated at each, reduced to one
//!   PCS claim per point, one batched evaluation proof ([`pcs`], 100 bits).
//!
//! The table needs `2^19` final counters: the proof needs `log_rows ≥` [`MIN_LOG_ROWS`] (16,
//! eight finals columns). Soundness error: the PCS's `2^-100` plus
//! `O((log_rows^2 + N)/2^128)`.
//!
//! # Cost
//!
//! The lane counters and the table's finals take 16 of the 64 ALU columns, the fetched
//! selectors 18 fetch columns. The commitment is 2x regs' (128 columns): at 2^20 rows the
//! commit dominates proving, as before. Fewer columns would need fewer, wider lookups (the
//! counters are per lookup) or selectors packed behind a second, per-opcode lookup.

use std::collections::HashMap;

use ligerito_binary_fields::BinaryFieldElement;
use polkavm::program::Opcode;
use rayon::prelude::*;

use crate::error::EngineError;
use crate::fetch::{self, field, Entry, ProgramTable};
use crate::field::{eq_table, f32, g, lift, F128, F32};
use crate::grand_product::{self, BatchProductProof};
use crate::mem::{self, MemProof, MemWitness};
use crate::pcs;
use crate::regs::{
    self, Boundary, Layout, RegsError, RegsProof, RegsWitness, COL_NEW_HI, COL_NEW_LO, COL_OLD_HI,
    COL_OLD_LO,
};
use crate::shift::{self, ShiftProof};
use crate::sumcheck::{Composition, SumcheckProof};
use crate::trace::Trace;
use crate::transcript::Transcript;
use crate::zerocheck;

/// ALU selectors per table entry.
pub const SELECTORS: usize = 18;
/// Selector indices (field [`fetch::field::ALU_SEL`] `+ j`).
pub mod sel {
    /// Lane operation: [`super::MODE_ADD`] or [`super::MODE_AND`].
    pub const MODE: usize = 0;
    /// `α += A`.
    pub const A: usize = 1;
    /// `α += I`, `β += A` (operands swapped: `I − A`).
    pub const SWAP: usize = 2;
    /// `β += B`.
    pub const B: usize = 3;
    /// `β += I`.
    pub const I: usize = 4;
    /// `β += ONES` (`¬`) and carry in 1: subtraction.
    pub const SUB: usize = 5;
    /// The written value is constrained.
    pub const ALU: usize = 6;
    /// `R += ρ`.
    pub const R: usize = 7;
    /// `R += α ⊕ β`.
    pub const X: usize = 8;
    /// `R += 1 ⊕ c_8`.
    pub const CMP: usize = 9;
    /// Shifts: the lanes' bit shift `t` (a value 0..8, not a flag): `β += t·0x0101…01`.
    pub const T: usize = 10;
    /// Shifts right: the barrel's input is the lanes read one byte down (`ρ_{j+1}`, `c_8`).
    pub const DOWN: usize = 11;
    /// Shifts: bit `k` of the byte shift `q`, left (`QL + k`) or right (`QR + k`).
    pub const QL: usize = 12;
    pub const QR: usize = 15;
}
pub const MODE_ADD: u32 = 0;
pub const MODE_AND: u32 = 1;
/// Shift each lane's byte left by `b`, the spill of the lane below XORed in.
pub const MODE_SHL: u32 = 2;

/// The opcodes whose written value this slice constrains.
pub const CONSTRAINED: &[Opcode] = &[
    Opcode::move_reg,
    Opcode::load_imm,
    Opcode::load_imm64,
    Opcode::load_imm_and_jump,
    Opcode::add_64,
    Opcode::add_imm_64,
    Opcode::sub_64,
    Opcode::and_imm,
    Opcode::or,
    Opcode::or_imm,
    Opcode::xor,
    Opcode::set_less_than_unsigned_imm,
    Opcode::set_greater_than_unsigned_imm,
    Opcode::shift_logical_left_imm_64,
    Opcode::shift_logical_right_imm_64,
];

/// The selectors of `opcode` with first immediate `imm` (all zero outside [`CONSTRAINED`];
/// the shifts' amount fields are functions of `imm`, fixed per instruction like the rest).
pub fn selectors(opcode: Opcode, imm: u64) -> [u32; SELECTORS] {
    use Opcode as O;
    let on: &[usize] = match opcode {
        O::move_reg => &[sel::A, sel::ALU, sel::R],
        O::load_imm | O::load_imm64 | O::load_imm_and_jump => &[sel::I, sel::ALU, sel::R],
        O::add_64 => &[sel::A, sel::B, sel::ALU, sel::R],
        O::add_imm_64 => &[sel::A, sel::I, sel::ALU, sel::R],
        O::sub_64 => &[sel::A, sel::B, sel::SUB, sel::ALU, sel::R],
        O::and_imm => &[sel::MODE, sel::A, sel::I, sel::ALU, sel::R],
        O::or => &[sel::MODE, sel::A, sel::B, sel::ALU, sel::R, sel::X],
        O::or_imm => &[sel::MODE, sel::A, sel::I, sel::ALU, sel::R, sel::X],
        O::xor => &[sel::MODE, sel::A, sel::B, sel::ALU, sel::X],
        O::set_less_than_unsigned_imm => &[sel::A, sel::I, sel::SUB, sel::ALU, sel::CMP],
        O::set_greater_than_unsigned_imm => &[sel::SWAP, sel::SUB, sel::ALU, sel::CMP],
        O::shift_logical_left_imm_64 | O::shift_logical_right_imm_64 => &[sel::A, sel::ALU, sel::R],
        // Control rows write nothing here (`ALU = 0`): their lanes compute what
        // [`crate::cpu`]'s identities read. Branches compare by the borrow and the zero test
        // of `A − B`, `A − I` or (swapped) `I − A`; `jump_indirect` adds its offset.
        O::branch_eq_imm
        | O::branch_not_eq_imm
        | O::branch_less_unsigned_imm
        | O::branch_greater_or_equal_unsigned_imm => &[sel::A, sel::I, sel::SUB],
        O::branch_greater_unsigned_imm => &[sel::SWAP, sel::SUB],
        O::branch_eq
        | O::branch_not_eq
        | O::branch_less_unsigned
        | O::branch_greater_or_equal_unsigned => &[sel::A, sel::B, sel::SUB],
        O::jump_indirect => &[sel::A, sel::I],
        // Memory rows: the lanes compute the address [`crate::mem`] reads, `A + I` (slot
        // `b` is the base) or the absolute `I`.
        O::load_indirect_u8
        | O::load_indirect_u64
        | O::store_indirect_u8
        | O::store_indirect_u64
        | O::store_imm_indirect_u8
        | O::store_imm_indirect_u64 => &[sel::A, sel::I],
        O::load_u8 | O::load_u64 | O::store_imm_u8 | O::store_imm_u64 | O::store_u64 => &[sel::I],
        _ => &[],
    };
    let mut s = [0u32; SELECTORS];
    for &j in on {
        s[j] = 1;
    }
    // A left shift by 8q + t: lanes shift by t, the barrel moves bytes up by q. A right shift
    // by t > 0 is a left shift by 8 − t read one byte down; then the barrel moves bytes down.
    let (q, t) = (((imm & 63) >> 3) as u32, (imm & 7) as u32);
    let right = match opcode {
        O::shift_logical_left_imm_64 => false,
        O::shift_logical_right_imm_64 => true,
        _ => return s,
    };
    s[sel::MODE] = MODE_SHL;
    if right && t > 0 {
        s[sel::T] = 8 - t;
        s[sel::DOWN] = 1;
    } else {
        s[sel::T] = t;
    }
    let q_at = if right { sel::QR } else { sel::QL };
    for k in 0..3 {
        s[q_at + k] = (q >> k) & 1;
    }
    s
}

/// Byte lanes per 64-bit operand.
pub const LANES: usize = 8;
const LOG_LANES: usize = 3;
/// The lane table's index bits: `a` (0..8), `b` (8..16), `cin` (16), `mode` (17).
pub const LOG_TABLE: usize = 19;
/// Columns holding the lane table's final counters.
pub const FINAL_COLS: usize = 8;
/// Smallest provable `log_rows`: the table's finals must fit [`FINAL_COLS`] columns.
pub const MIN_LOG_ROWS: usize = LOG_TABLE - 3;

/// Committed columns after [`regs`]' (lane `l` adds `l`).
pub const COL_A: usize = regs::USED;
pub const COL_B: usize = COL_A + LANES;
pub const COL_R: usize = COL_B + LANES;
/// `c_{l+1}`, lane `l`'s carry out.
pub const COL_CARRY: usize = COL_R + LANES;
pub const COL_LANE_TS: usize = COL_CARRY + LANES;
/// The barrel's first two stages, one byte per lane.
pub const COL_Y1: usize = COL_LANE_TS + LANES;
pub const COL_Y2: usize = COL_Y1 + LANES;
/// Final counters: table entry `j·N + k` (or `k` when `N ≥ 2^18`) in cell `k` of column
/// `COL_TABLE_FINAL + j`.
pub const COL_TABLE_FINAL: usize = COL_Y2 + LANES;
/// [`crate::cpu`]'s columns: whether the row's branch or jump is taken, and the inverse of
/// the lanes' norm `W(ρ)` (or 0), the witness of the zero test.
pub const COL_TAKEN: usize = COL_TABLE_FINAL + FINAL_COLS;
pub const COL_INV: usize = COL_TAKEN + 1;
pub(crate) const USED: usize = COL_INV + 1;
/// Packed columns (127 used).
pub const COLUMNS: usize = 128;
const LOG_COLUMNS: usize = 7;
/// Largest provable `log_rows` (the PCS's `2^(log_rows + 7) ≤ 2^30`).
pub const MAX_LOG_ROWS: usize = pcs::MAX_LOG_SIZE - LOG_COLUMNS;

/// Which statement a proof makes. Both run the same code on the same columns; each has its
/// own transcript label, so a proof of one never verifies as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statement<'a> {
    /// The rows are consistent ALU steps ([`prove`], [`verify`]): the control identities are
    /// weighted 0, so synthetic row sequences (edge values) prove.
    Alu,
    /// The rows are one complete execution entered at `entry_pc` ([`crate::cpu`]), leaving
    /// `outputs` in memory.
    Execution {
        entry_pc: u32,
        outputs: &'a [mem::Output],
        /// Bytes the run is bound to beyond the program's own (a block's parent hash and
        /// slot, say): absorbed with the statement, so a proof made under one context does
        /// not verify under another.
        context: &'a [u8; 32],
    },
}

impl Statement<'_> {
    /// The public words absorbed into the transcript: entry pc, the context's four words,
    /// then each output's key and value.
    fn public(self) -> Vec<u64> {
        match self {
            Statement::Alu => Vec::new(),
            Statement::Execution {
                entry_pc,
                outputs,
                context,
            } => {
                std::iter::once(entry_pc as u64)
                    .chain(context.chunks_exact(8).map(|c| {
                        u64::from_le_bytes(c.try_into().expect("32 bytes are four words"))
                    }))
                    .chain(
                        outputs
                            .iter()
                            .flat_map(|o| [o.key as u64, u64::from_le_bytes(o.bytes)]),
                    )
                    .collect()
            }
        }
    }

    fn layout(self, public: &[u64]) -> Layout<'_> {
        match self {
            Statement::Alu => Layout {
                domain: b"pcvm/alu/v2",
                log_columns: LOG_COLUMNS,
                public,
            },
            Statement::Execution { .. } => Layout {
                domain: b"pcvm/cpu/v5",
                log_columns: crate::mem::LOG_COLUMNS,
                public,
            },
        }
    }

    /// The control identities' public values `(entry pc, padding pc)`, if they are enforced.
    fn control(self, table: &ProgramTable) -> Option<[F128; 2]> {
        match self {
            Statement::Alu => None,
            Statement::Execution { entry_pc, .. } => Some([lift(entry_pc), lift(table.pad_pc())]),
        }
    }
}

/// Why a witness or proof could not be built or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AluError {
    #[error("registers: {0}")]
    Regs(#[from] RegsError),
    #[error("2^{log_rows} rows: the ALU needs {MIN_LOG_ROWS} <= log_rows <= {MAX_LOG_ROWS}, and lanes for every row")]
    Rows { log_rows: usize },
    #[error("row {row}: the lanes are not the operands' bytes and their {what}")]
    Lanes { row: usize, what: &'static str },
    #[error("row {row}: the committed {what} is not the one the row's reads give")]
    Control { row: usize, what: &'static str },
    #[error("row {row}: writes {got:#x}, the opcode's result is {expected:#x}")]
    WrongValue { row: usize, expected: u64, got: u64 },
    #[error("the lane lookup's counters are not the honest ones")]
    Counters,
    #[error("an execution proof needs the memory witness (cpu::witness builds it)")]
    NoMemory,
}

impl From<EngineError> for AluError {
    fn from(e: EngineError) -> Self {
        AluError::Regs(RegsError::Rejected(e))
    }
}

/// What the ALU slice commits beyond the register witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AluWitness {
    pub a: [Vec<u8>; LANES],
    pub b: [Vec<u8>; LANES],
    pub r: [Vec<u8>; LANES],
    /// `carry[l]` = `c_{l+1}`.
    pub carry: [Vec<u8>; LANES],
    /// The barrel's first two stages (the third is the written value).
    pub y1: [Vec<u8>; LANES],
    pub y2: [Vec<u8>; LANES],
    /// The lane lookups' read counters.
    pub ts: [Vec<F32>; LANES],
    /// The table entries' final counters (`2^18`).
    pub finals: Vec<F32>,
    /// Per row, whether its branch or jump is taken ([`crate::cpu::taken`]).
    pub taken: Vec<u8>,
    /// Per row, `W(ρ)^-1` or 0 ([`crate::cpu::norm`]).
    pub inv: Vec<F32>,
}

/// A CPU witness: registers (fetch included), ALU lanes and, for the execution statement,
/// memory ([`crate::cpu::witness`] sets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuWitness {
    pub regs: RegsWitness,
    pub alu: AluWitness,
    pub mem: Option<MemWitness>,
}

fn s(e: &Entry, j: usize) -> bool {
    e[field::ALU_SEL + j] != 0
}

fn imm(e: &Entry) -> u64 {
    e[field::IMM_LO] as u64 | (e[field::IMM_HI] as u64) << 32
}

/// A row's lane inputs `(α, β, c_0)` from its reads `a` (slot `reg_b`) and `b` (slot `reg_c`).
pub fn operands(e: &Entry, a: u64, b: u64) -> (u64, u64, u8) {
    let i = imm(e);
    let pick = |j: usize, v: u64| if s(e, j) { v } else { 0 };
    let alpha = pick(sel::A, a) ^ pick(sel::SWAP, i);
    let beta = pick(sel::B, b) ^ pick(sel::I, i) ^ pick(sel::SWAP, a) ^ pick(sel::SUB, u64::MAX);
    let beta = beta ^ (e[field::ALU_SEL + sel::T] as u64).wrapping_mul(BCAST);
    (alpha, beta, s(e, sel::SUB) as u8)
}

/// One byte in every lane.
const BCAST: u64 = 0x0101_0101_0101_0101;

/// One lane: the table's `(r, cout)` at `(mode, a, b, cin)`.
pub fn lane(mode: u32, a: u8, b: u8, cin: u8) -> (u8, u8) {
    if mode == MODE_AND {
        (a & b, 0)
    } else if mode == MODE_SHL {
        let s = (a as u16) << (b & 7);
        (s as u8 ^ cin, (s >> 8) as u8)
    } else {
        let s = a as u16 + b as u16 + cin as u16;
        (s as u8, (s >> 8) as u8)
    }
}

/// The lanes' results and carries (`carry[l] = c_{l+1}`).
pub fn lanes(mode: u32, alpha: u64, beta: u64, cin: u8) -> ([u8; LANES], [u8; LANES]) {
    let (mut r, mut carry) = ([0u8; LANES], [0u8; LANES]);
    let mut c = cin;
    for l in 0..LANES {
        let (x, y) = ((alpha >> (8 * l)) as u8, (beta >> (8 * l)) as u8);
        (r[l], c) = lane(mode, x, y, c);
        carry[l] = c;
    }
    (r, carry)
}

fn word(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes
        .enumerate()
        .fold(0u64, |acc, (l, x)| acc | (x as u64) << (8 * l))
}

/// The byte barrel: `y^0` = the lanes (read one byte down, `c_8` on top, if `DOWN`), stage
/// `k` moves every byte up (`QL + k`) or down (`QR + k`) by `2^k` lanes. Returns
/// `[y^1, y^2, y^3]`; `y^3` is what the result takes (`ρ` itself for every non-shift row).
pub fn barrel(e: &Entry, r: &[u8; LANES], c8: u8) -> [[u8; LANES]; 3] {
    let down = s(e, sel::DOWN);
    let mut y: [u8; LANES] = std::array::from_fn(|j| {
        if !down {
            r[j]
        } else if j + 1 < LANES {
            r[j + 1]
        } else {
            c8
        }
    });
    let mut out = [[0u8; LANES]; 3];
    for (k, stage) in out.iter_mut().enumerate() {
        let d = 1usize << k;
        *stage = std::array::from_fn(|j| {
            if s(e, sel::QL + k) {
                if j >= d {
                    y[j - d]
                } else {
                    0
                }
            } else if s(e, sel::QR + k) {
                y.get(j + d).copied().unwrap_or(0)
            } else {
                y[j]
            }
        });
        y = *stage;
    }
    out
}

/// The written value the constraints force for lane words `α`, `β`, barrel output `y3` and
/// carry out `c8`, or `None` if the opcode's write is not constrained here.
pub fn result(e: &Entry, alpha: u64, beta: u64, y3: u64, c8: u8) -> Option<u64> {
    if !s(e, sel::ALU) {
        return None;
    }
    let pick = |j: usize, v: u64| if s(e, j) { v } else { 0 };
    Some(pick(sel::R, y3) ^ pick(sel::X, alpha ^ beta) ^ pick(sel::CMP, 1 ^ c8 as u64))
}

/// The written value of an ALU row with reads `a`, `b` (`None` outside [`CONSTRAINED`]).
pub fn expected(e: &Entry, a: u64, b: u64) -> Option<u64> {
    let (alpha, beta, cin) = operands(e, a, b);
    let (r, carry) = lanes(e[field::ALU_SEL + sel::MODE], alpha, beta, cin);
    let y = barrel(e, &r, carry[LANES - 1]);
    result(e, alpha, beta, word(y[2].into_iter()), carry[LANES - 1])
}

/// Entry `idx` of the lane table: `(mode, a, b, cin, r, cout)`. Below `2^18`: `a`, `b`,
/// `cin`, add/and as the index bits; above: `a`, the shift `b < 8` and a 7-bit spill `cin`.
pub fn table_entry(idx: usize) -> [u32; 6] {
    let (mode, a, b, cin) = if idx >> 18 == 0 {
        let (cin, mode) = (((idx >> 16) & 1) as u8, ((idx >> 17) & 1) as u32);
        (mode, idx as u8, (idx >> 8) as u8, cin)
    } else {
        let (b, cin) = (((idx >> 8) & 7) as u8, ((idx >> 11) & 0x7f) as u8);
        (MODE_SHL, idx as u8, b, cin)
    };
    let (r, cout) = lane(mode, a, b, cin);
    [mode, a as u32, b as u32, cin as u32, r as u32, cout as u32]
}

fn table_index(t: &[u32; 6]) -> Option<usize> {
    let idx = match t[0] {
        0 | 1 if t[1] < 256 && t[2] < 256 && t[3] < 2 => t[1] | t[2] << 8 | t[3] << 16 | t[0] << 17,
        MODE_SHL if t[1] < 256 && t[2] < 8 && t[3] < 128 => 1 << 18 | t[1] | t[2] << 8 | t[3] << 11,
        _ => return None,
    } as usize;
    (table_entry(idx) == *t).then_some(idx)
}

/// The MLE of each of the table's six fields at `p` (`LOG_TABLE` coordinates), in closed form:
/// what the verifier evaluates instead of the `2^19` entries.
pub fn table_mle(p: &[F128]) -> [F128; 6] {
    let (low, shl) = (add_and_mle(&p[..18]), shl_mle(p));
    let hi = p[18];
    let lo = F128::one().add(&hi);
    std::array::from_fn(|j| lo.mul(&low[j]).add(&hi.mul(&shl[j])))
}

/// The shift half's fields at `p[..18]` (`a` in 0..8, `b` in 8..11, spill in 11..18). For a
/// fixed shift `t` every output bit is one index bit, so the MLE is linear per `t`, weighted
/// by `eq(p[8..11], t)`.
fn shl_mle(p: &[F128]) -> [F128; 6] {
    let one = F128::one();
    let x = |k: usize| lift(1 << k);
    let a = (0..8).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[k])));
    let b = (0..3).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[8 + k])));
    let spill = (0..7).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[11 + k])));
    let (mut r, mut cout) = (spill, F128::zero());
    for t in 0..8usize {
        let w = (0..3).fold(one, |acc, i| {
            acc.mul(&if (t >> i) & 1 == 1 {
                p[8 + i]
            } else {
                one.add(&p[8 + i])
            })
        });
        let shifted = (t..8).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[k - t])));
        let out = (0..t).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[8 - t + k])));
        r = r.add(&w.mul(&shifted));
        cout = cout.add(&w.mul(&out));
    }
    [lift(MODE_SHL), a, b, spill, r, cout]
}

/// The add/and half's fields at `p` (18 coordinates).
fn add_and_mle(p: &[F128]) -> [F128; 6] {
    let one = F128::one();
    let x = |k: usize| lift(1 << k);
    let linear = |off: usize| (0..8).fold(F128::zero(), |acc, k| acc.add(&x(k).mul(&p[off + k])));
    let (a, b) = (linear(0), linear(8));
    let (cin, mode) = (p[16], p[17]);
    let and = (0..8).fold(F128::zero(), |acc, k| {
        acc.add(&x(k).mul(&p[k].mul(&p[8 + k])))
    });
    // The adder: f[c] = weight of the lower bits' assignments whose carry into bit k is c.
    // The bits above k sum to weight 1, so bit k's sum is Σ f[c]·w(a)·w(b)·[a ⊕ b ⊕ c].
    let mut f = [one.add(&cin), cin];
    let mut sum = F128::zero();
    for k in 0..8 {
        let wa = [one.add(&p[k]), p[k]];
        let wb = [one.add(&p[8 + k]), p[8 + k]];
        let mut next = [F128::zero(); 2];
        let mut bit = F128::zero();
        for (c, fc) in f.iter().enumerate() {
            for (ab, wab) in [
                (0, wa[0].mul(&wb[0])),
                (1, wa[0].mul(&wb[1])),
                (2, wa[1].mul(&wb[0])),
                (3, wa[1].mul(&wb[1])),
            ] {
                let (ai, bi) = (ab >> 1, ab & 1);
                let w = fc.mul(&wab);
                if ai ^ bi ^ c == 1 {
                    bit = bit.add(&w);
                }
                let carry = (ai & bi) | (ai & c) | (bi & c);
                next[carry] = next[carry].add(&w);
            }
        }
        sum = sum.add(&x(k).mul(&bit));
        f = next;
    }
    let add_mode = one.add(&mode);
    let r = add_mode.mul(&sum).add(&mode.mul(&and));
    let cout = add_mode.mul(&f[1]);
    [mode, a, b, cin, r, cout]
}

impl AluWitness {
    /// The honest lanes of `rows` with reads `old` (regs' per-slot values), counters linked.
    pub fn honest(rows: &[Entry], old: &[Vec<u64>; regs::OPS]) -> AluWitness {
        let n = rows.len();
        let mut w = AluWitness {
            a: std::array::from_fn(|_| vec![0; n]),
            b: std::array::from_fn(|_| vec![0; n]),
            r: std::array::from_fn(|_| vec![0; n]),
            carry: std::array::from_fn(|_| vec![0; n]),
            y1: std::array::from_fn(|_| vec![0; n]),
            y2: std::array::from_fn(|_| vec![0; n]),
            ts: Default::default(),
            finals: Vec::new(),
            taken: vec![0; n],
            inv: vec![F32::zero(); n],
        };
        for (k, e) in rows.iter().enumerate() {
            w.set_row(k, e, old[1][k], old[2][k]);
        }
        w.relink(rows);
        w
    }

    /// Sets row `k`'s lanes and barrel to the honest ones of entry `e` on reads `a`, `b`
    /// (counters not relinked). Tests pass another entry to forge a consistent wrong row.
    pub fn set_row(&mut self, k: usize, e: &Entry, a: u64, b: u64) {
        let (alpha, beta, cin) = operands(e, a, b);
        let (r, carry) = lanes(e[field::ALU_SEL + sel::MODE], alpha, beta, cin);
        let y = barrel(e, &r, carry[LANES - 1]);
        for l in 0..LANES {
            self.a[l][k] = (alpha >> (8 * l)) as u8;
            self.b[l][k] = (beta >> (8 * l)) as u8;
            self.r[l][k] = r[l];
            self.carry[l][k] = carry[l];
            self.y1[l][k] = y[0][l];
            self.y2[l][k] = y[1][l];
        }
        self.taken[k] = crate::cpu::taken(e, &r, carry[LANES - 1]);
        self.inv[k] = crate::cpu::norm_inverse(&r);
    }

    /// Lane `l`'s lookup tuple at row `k`.
    fn tuple(&self, rows: &[Entry], l: usize, k: usize) -> [u32; 6] {
        let cin = if l == 0 {
            rows[k][field::ALU_SEL + sel::SUB]
        } else {
            self.carry[l - 1][k] as u32
        };
        [
            rows[k][field::ALU_SEL + sel::MODE],
            self.a[l][k] as u32,
            self.b[l][k] as u32,
            cin,
            self.r[l][k] as u32,
            self.carry[l][k] as u32,
        ]
    }

    /// Recomputes the lookup counters from the lanes, as any prover would for the lanes it
    /// commits (tests forge lanes and relink, so only the verifier stands in the way).
    pub fn relink(&mut self, rows: &[Entry]) {
        let n = rows.len();
        let mut counters = vec![F32::one(); 1 << LOG_TABLE];
        let mut outside: HashMap<[u32; 6], F32> = HashMap::new();
        let mut ts: [Vec<F32>; LANES] = Default::default();
        for (l, ts_l) in ts.iter_mut().enumerate() {
            *ts_l = (0..n)
                .map(|k| {
                    let t = self.tuple(rows, l, k);
                    let c = match table_index(&t) {
                        Some(i) => &mut counters[i],
                        None => outside.entry(t).or_insert(F32::one()),
                    };
                    let now = *c;
                    *c = c.mul(&g());
                    now
                })
                .collect();
        }
        self.ts = ts;
        self.finals = counters;
    }
}

impl CpuWitness {
    /// The honest witness of a trace's rows.
    pub fn from_trace(
        table: &ProgramTable,
        trace: &Trace,
        log_rows: usize,
    ) -> Result<CpuWitness, AluError> {
        Ok(Self::new(RegsWitness::from_trace(table, trace, log_rows)?))
    }

    /// The honest lanes for a register witness's reads (tests build cheating register
    /// witnesses with [`RegsWitness::simulate`] and wrap them here).
    pub fn new(regs: RegsWitness) -> CpuWitness {
        let alu = AluWitness::honest(&regs.fetch.rows, &regs.old);
        CpuWitness {
            regs,
            alu,
            mem: None,
        }
    }

    /// Re-derives the lane counters after a test edits lanes.
    pub fn relink(&mut self) {
        self.alu.relink(&self.regs.fetch.rows);
    }
}

pub(crate) fn shape(w: &CpuWitness) -> Result<(), AluError> {
    let log_rows = w.regs.fetch.log_rows;
    let n = 1usize << log_rows.min(MAX_LOG_ROWS + 1);
    let a = &w.alu;
    let ok = (MIN_LOG_ROWS..=MAX_LOG_ROWS).contains(&log_rows)
        && w.regs.fetch.rows.len() == n
        && [&a.a, &a.b, &a.r, &a.carry, &a.y1, &a.y2]
            .iter()
            .all(|v| v.iter().all(|c| c.len() == n))
        && a.ts.iter().all(|c| c.len() == n)
        && a.taken.len() == n
        && a.inv.len() == n
        && a.finals.len() == 1 << LOG_TABLE;
    ok.then_some(()).ok_or(AluError::Rows { log_rows })
}

/// The native check (debug oracle), run by the prover: the register check, the lanes are the
/// honest ones for the reads, the counters the honest ones, and every constrained row writes
/// its opcode's result.
pub fn check(table: &ProgramTable, b: &Boundary, w: &CpuWitness) -> Result<(), AluError> {
    regs::check(table, b, &w.regs)?;
    shape(w)?;
    let rows = &w.regs.fetch.rows;
    let honest = AluWitness::honest(rows, &w.regs.old);
    for k in 0..rows.len() {
        for (what, got, want) in [
            ("a bytes", &w.alu.a, &honest.a),
            ("b bytes", &w.alu.b, &honest.b),
            ("results", &w.alu.r, &honest.r),
            ("carries", &w.alu.carry, &honest.carry),
            ("barrel stage 1", &w.alu.y1, &honest.y1),
            ("barrel stage 2", &w.alu.y2, &honest.y2),
        ] {
            if (0..LANES).any(|l| got[l][k] != want[l][k]) {
                return Err(AluError::Lanes { row: k, what });
            }
        }
        if let Some(expected) = expected(&rows[k], w.regs.old[1][k], w.regs.old[2][k]) {
            if w.regs.new[k] != expected {
                return Err(AluError::WrongValue {
                    row: k,
                    expected,
                    got: w.regs.new[k],
                });
            }
        }
    }
    if w.alu.ts != honest.ts || w.alu.finals != honest.finals {
        return Err(AluError::Counters);
    }
    Ok(())
}

/// The ALU slice's part of a CPU proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AluProof {
    /// Over the `8N` lane lookups: `Π R`, `Π W`, `Π ts`.
    pub lanes: BatchProductProof,
    /// Over the lane table: `Π F`, `Π Init`.
    pub table: BatchProductProof,
    /// The routing (and control) identities over the rows.
    pub routing: SumcheckProof,
    /// The next-row values `PC'`, `JADDR'` the routing zerocheck ends in, reduced to `PC`,
    /// `JADDR` at a fourth point.
    pub shift: ShiftProof,
    /// Memory, in the execution statement only.
    pub mem: Option<MemProof>,
}

/// A CPU proof: fetch, registers and ALU on one commitment and one transcript. Its
/// `regs.column_evals` has eight vectors: regs' four, then the lanes', the table finals', the
/// routing zerocheck's and the shift's points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuProof {
    pub regs: RegsProof,
    pub alu: AluProof,
}

struct Challenges {
    beta: Vec<F128>,
    gamma: F128,
    lambda: Vec<F128>,
}

fn challenges(t: &mut Transcript) -> Challenges {
    let beta = t.challenge_f128s(b"pcvm/alu/v1/lane-tuple", 7);
    let gamma = grand_product::draw_gamma(t);
    let l = t.challenge_f128(b"pcvm/alu/v1/lambda");
    let mut lambda = vec![F128::one()];
    for _ in 1..IDENTITIES {
        let last = lambda[lambda.len() - 1];
        lambda.push(last.mul(&l));
    }
    Challenges {
        beta,
        gamma,
        lambda,
    }
}

fn fp(ch: &Challenges, t: &[F128; 6], counter: F128) -> F128 {
    t.iter()
        .zip(&ch.beta)
        .fold(ch.gamma.add(&ch.beta[6].mul(&counter)), |acc, (x, b)| {
            acc.add(&b.mul(x))
        })
}

fn lift_tuple(t: [u32; 6]) -> [F128; 6] {
    t.map(lift)
}

/// Inputs of the routing zerocheck.
pub(crate) mod input {
    use super::LANES;
    pub const A: usize = 0; // lo, hi
    pub const B: usize = 2;
    pub const I: usize = 4;
    pub const R: usize = 6;
    pub const ALPHA: usize = 8;
    pub const BETA: usize = 10;
    /// The result lanes, one byte each, then `c_8`.
    pub const RHO: usize = 12;
    pub const C8: usize = RHO + LANES;
    pub const Y1: usize = C8 + 1;
    pub const Y2: usize = Y1 + LANES;
    /// Selectors `sel::A..` (not `MODE`).
    pub const SEL: usize = Y2 + LANES;
    /// The control inputs ([`crate::cpu`]): fetched `PC`, `NEXT_PC`, `TARGET`, `JADDR` and
    /// control selectors, the committed `TAKEN`, `INV`.
    pub const PC: usize = SEL + super::SELECTORS - 1;
    pub const NP: usize = PC + 1;
    pub const TGT: usize = PC + 2;
    pub const JADDR: usize = PC + 3;
    pub const CTL: usize = PC + 4;
    pub const TAKEN: usize = CTL + crate::cpu::CONTROLS;
    pub const INV: usize = TAKEN + 1;
    /// Inputs that are columns (or affine in them) at the same row.
    pub const COLUMN_INPUTS: usize = INV + 1;
    /// The next row's `PC` and `JADDR` (shifted columns), then the first- and last-row
    /// indicators (verifier-known).
    pub const PC_NEXT: usize = COLUMN_INPUTS;
    pub const JADDR_NEXT: usize = PC_NEXT + 1;
    pub const FIRST: usize = JADDR_NEXT + 1;
    pub const LAST: usize = FIRST + 1;
    /// The execution statement's memory-part columns the control identities read: the side
    /// table's `FREE` and the committed `HC` ([`crate::mem`]; zero in the ALU statement).
    pub const FREE: usize = LAST + 1;
    pub const HC: usize = FREE + 1;
    pub const COUNT: usize = HC + 1;
}

/// Routing identities: α and β per half, 8 + 8 barrel bytes, the result per half.
const ROUTING: usize = 22;
/// All identities: the routing ones, then [`crate::cpu`]'s nine.
const IDENTITIES: usize = ROUTING + crate::cpu::IDENTITIES;

struct Routing<'a> {
    lambda: &'a [F128],
    /// `(entry pc, padding pc)` when the control identities are enforced.
    control: Option<[F128; 2]>,
}

fn ones() -> F128 {
    lift(u32::MAX)
}

impl Composition for Routing<'_> {
    fn num_inputs(&self) -> usize {
        input::COUNT
    }
    fn degree(&self) -> usize {
        if self.control.is_some() {
            4
        } else {
            3
        }
    }
    fn eval(&self, x: &[F128]) -> F128 {
        let on = |j: usize| x[input::SEL + j - 1];
        // The barrel: y^0 from the lanes (down one byte if DOWN), each stage a choice between
        // a byte and its neighbour 2^k lanes below (QL) or above (QR); bytes past either end
        // are zero.
        let rho = |j: usize| {
            if j < LANES {
                x[input::RHO + j]
            } else {
                x[input::C8]
            }
        };
        let y0: [F128; LANES] =
            std::array::from_fn(|j| rho(j).add(&on(sel::DOWN).mul(&rho(j + 1).add(&rho(j)))));
        let stage = |y: &[F128; LANES], k: usize, j: usize| {
            let d = 1usize << k;
            let below = if j >= d { y[j - d] } else { F128::zero() };
            let above = if j + d < LANES {
                y[j + d]
            } else {
                F128::zero()
            };
            y[j].add(&on(sel::QL + k).mul(&below.add(&y[j])))
                .add(&on(sel::QR + k).mul(&above.add(&y[j])))
        };
        let y1: [F128; LANES] = std::array::from_fn(|j| x[input::Y1 + j]);
        let y2: [F128; LANES] = std::array::from_fn(|j| x[input::Y2 + j]);
        let mut acc = F128::zero();
        for j in 0..LANES {
            acc = acc
                .add(&self.lambda[6 + j].mul(&y1[j].add(&stage(&y0, 0, j))))
                .add(&self.lambda[14 + j].mul(&y2[j].add(&stage(&y1, 1, j))));
        }
        let y3: [F128; LANES] = std::array::from_fn(|j| stage(&y2, 2, j));
        for h in 0..2 {
            let (a, b, i, r) = (
                x[input::A + h],
                x[input::B + h],
                x[input::I + h],
                x[input::R + h],
            );
            let (alpha, beta) = (x[input::ALPHA + h], x[input::BETA + h]);
            let y3_half = pack_half(&y3, 0, h);
            let c_alpha = alpha.add(&on(sel::A).mul(&a)).add(&on(sel::SWAP).mul(&i));
            let c_beta = beta
                .add(&on(sel::B).mul(&b))
                .add(&on(sel::I).mul(&i))
                .add(&on(sel::SWAP).mul(&a))
                .add(&on(sel::SUB).mul(&ones()))
                .add(&on(sel::T).mul(&lift(0x0101_0101)));
            let mut c_r = on(sel::ALU)
                .mul(&r)
                .add(&on(sel::R).mul(&y3_half))
                .add(&on(sel::X).mul(&alpha.add(&beta)));
            if h == 0 {
                c_r = c_r.add(&on(sel::CMP).mul(&F128::one().add(&x[input::C8])));
            }
            acc = acc
                .add(&self.lambda[h].mul(&c_alpha))
                .add(&self.lambda[2 + h].mul(&c_beta))
                .add(&self.lambda[4 + h].mul(&c_r));
        }
        if let Some([entry, pad]) = self.control {
            let ids = crate::cpu::identities(x, entry, pad);
            for (j, v) in ids.iter().enumerate() {
                acc = acc.add(&self.lambda[ROUTING + j].mul(v));
            }
        }
        acc
    }
}

/// `Σ_l X^{8l}·v[off + 4h + l]` over `l < 4`: a 32-bit half from its byte lanes.
pub(crate) fn pack_half(v: &[F128], off: usize, h: usize) -> F128 {
    (0..4).fold(F128::zero(), |acc, l| {
        acc.add(&lift(1 << (8 * l)).mul(&v[off + 4 * h + l]))
    })
}

/// The zerocheck inputs from (stated or actual) column values of one row or point.
fn routing_inputs(col: impl Fn(usize) -> F128) -> Vec<F128> {
    let mut v = vec![F128::zero(); input::COUNT];
    let all: Vec<F128> = (0..USED).map(&col).collect();
    for h in 0..2 {
        v[input::A + h] = all[[COL_OLD_LO, COL_OLD_HI][h] + 1];
        v[input::B + h] = all[[COL_OLD_LO, COL_OLD_HI][h] + 2];
        v[input::I + h] = all[[field::IMM_LO, field::IMM_HI][h]];
        v[input::R + h] = all[[COL_NEW_LO, COL_NEW_HI][h]];
        v[input::ALPHA + h] = pack_half(&all, COL_A, h);
        v[input::BETA + h] = pack_half(&all, COL_B, h);
    }
    for (to, from) in [
        (input::RHO, COL_R),
        (input::Y1, COL_Y1),
        (input::Y2, COL_Y2),
    ] {
        v[to..to + LANES].copy_from_slice(&all[from..from + LANES]);
    }
    v[input::C8] = all[COL_CARRY + LANES - 1];
    for j in 1..SELECTORS {
        v[input::SEL + j - 1] = all[field::ALU_SEL + j];
    }
    for (to, from) in [
        (input::PC, field::PC),
        (input::NP, field::NEXT_PC),
        (input::TGT, field::TARGET),
        (input::JADDR, field::JADDR),
        (input::TAKEN, COL_TAKEN),
        (input::INV, COL_INV),
    ] {
        v[to] = all[from];
    }
    let controls = crate::cpu::CONTROLS;
    v[input::CTL..input::CTL + controls].copy_from_slice(&all[field::CTL..field::CTL + controls]);
    v
}

/// Row `k`'s routing inputs: its columns (`col`), the next row's `PC` and `JADDR`, the first-
/// and last-row indicators, and in the execution statement the memory part's `FREE`, `HC`.
fn row_inputs(
    col: &(dyn Fn(usize, usize) -> F128 + Sync),
    rows: &[Entry],
    k: usize,
    execution: bool,
) -> Vec<F128> {
    let mut v = routing_inputs(|c| col(c, k));
    if let Some(next) = rows.get(k + 1) {
        v[input::PC_NEXT] = lift(next[field::PC]);
        v[input::JADDR_NEXT] = lift(next[field::JADDR]);
    }
    let indicator = |on: bool| if on { F128::one() } else { F128::zero() };
    v[input::FIRST] = indicator(k == 0);
    v[input::LAST] = indicator(k + 1 == rows.len());
    if execution {
        v[input::FREE] = col(mem::COL_SIDE + mem::side::FREE - 1, k);
        v[input::HC] = col(mem::COL_HC, k);
    }
    v
}

/// The ALU's committed columns (after regs').
fn columns(w: &AluWitness, log_rows: usize) -> Vec<Vec<F32>> {
    let n = 1usize << log_rows;
    let mut cols = Vec::with_capacity(USED - COL_A);
    let bytes = |group: &[Vec<u8>; LANES]| -> Vec<Vec<F32>> {
        group
            .iter()
            .map(|c| c.iter().map(|&x| f32(x as u32)).collect())
            .collect()
    };
    for group in [&w.a, &w.b, &w.r, &w.carry] {
        cols.extend(bytes(group));
    }
    cols.extend(w.ts.iter().cloned());
    cols.extend(bytes(&w.y1));
    cols.extend(bytes(&w.y2));
    let per = n.min(1 << LOG_TABLE);
    for j in 0..FINAL_COLS {
        let mut c = vec![F32::zero(); n];
        let start = j * per;
        if start < w.finals.len() {
            let end = (start + per).min(w.finals.len());
            c[..end - start].copy_from_slice(&w.finals[start..end]);
        }
        cols.push(c);
    }
    cols.push(w.taken.iter().map(|&x| f32(x as u32)).collect());
    cols.push(w.inv.clone());
    debug_assert_eq!(cols.len(), USED - COL_A);
    cols
}

/// The row point at which the finals columns give the table's finals MLE at `r_t`.
fn finals_point(r_t: &[F128], log_rows: usize) -> Vec<F128> {
    if log_rows >= LOG_TABLE {
        fetch::row_point(r_t, log_rows)
    } else {
        r_t[..log_rows].to_vec()
    }
}

fn finals_eval(ev: &[F128], r_t: &[F128], log_rows: usize) -> F128 {
    if log_rows >= LOG_TABLE {
        ev[COL_TABLE_FINAL]
    } else {
        let eq = eq_table(&r_t[log_rows..]);
        eq.iter().enumerate().fold(F128::zero(), |acc, (j, w)| {
            acc.add(&w.mul(&ev[COL_TABLE_FINAL + j]))
        })
    }
}

/// Column `c` at row `k`, lifted: the fetched fields, the register reads and write, and the
/// `extra` columns from `COL_A` (every column the ALU's and memory's identities read; the
/// register argument's own bookkeeping columns read as 0 here).
fn column_value(w: &CpuWitness, extra: &[Vec<F32>], c: usize, k: usize) -> F128 {
    match c {
        c if c < fetch::FIELDS => lift(w.regs.fetch.rows[k][c]),
        c if (COL_OLD_LO..COL_OLD_LO + regs::OPS).contains(&c) => {
            lift(w.regs.old[c - COL_OLD_LO][k] as u32)
        }
        c if (COL_OLD_HI..COL_OLD_HI + regs::OPS).contains(&c) => {
            lift((w.regs.old[c - COL_OLD_HI][k] >> 32) as u32)
        }
        COL_NEW_LO => lift(w.regs.new[k] as u32),
        COL_NEW_HI => lift((w.regs.new[k] >> 32) as u32),
        c if c >= COL_A => F128::from(extra[c - COL_A][k]),
        _ => F128::zero(),
    }
}

/// Prove after the native check.
pub fn prove(table: &ProgramTable, b: &Boundary, w: &CpuWitness) -> Result<CpuProof, AluError> {
    check(table, b, w)?;
    prove_unchecked(table, b, w)
}

/// [`prove`] without the native check: what a cheating prover runs.
pub fn prove_unchecked(
    table: &ProgramTable,
    b: &Boundary,
    w: &CpuWitness,
) -> Result<CpuProof, AluError> {
    prove_statement(table, b, w, Statement::Alu)
}

pub(crate) fn prove_statement(
    table: &ProgramTable,
    b: &Boundary,
    w: &CpuWitness,
    statement: Statement,
) -> Result<CpuProof, AluError> {
    shape(w)?;
    let log_rows = w.regs.fetch.log_rows;
    let n = 1usize << log_rows;
    let mut extra = columns(&w.alu, log_rows);
    if let Statement::Execution { .. } = statement {
        let m = w.mem.as_ref().ok_or(AluError::NoMemory)?;
        extra.extend(mem::columns(m, log_rows));
    }
    let rows = &w.regs.fetch.rows;
    let regs_cols = |c: usize, k: usize| column_value(w, &extra, c, k);
    let alu = &w.alu;
    let control = statement.control(table);
    let public = statement.public();
    let layout = statement.layout(&public);
    let (proof, alu_proof) = regs::prove_with(&layout, table, b, &w.regs, extra.clone(), |t| {
        let ch = challenges(t);
        let gl = F128::from(g());
        let lane_vec = |f: &(dyn Fn(usize, usize) -> F128 + Sync)| -> Vec<F128> {
            (0..LANES * n)
                .into_par_iter()
                .map(|o| f(o / n, o % n))
                .collect()
        };
        let tuple = |l: usize, k: usize| lift_tuple(alu.tuple(rows, l, k));
        let (lanes_gp, r_lanes, _) = grand_product::prove_batch(
            vec![
                lane_vec(&|l, k| fp(&ch, &tuple(l, k), F128::from(alu.ts[l][k]))),
                lane_vec(&|l, k| fp(&ch, &tuple(l, k), gl.mul(&F128::from(alu.ts[l][k])))),
                lane_vec(&|l, k| F128::from(alu.ts[l][k])),
            ],
            t,
        );
        let entries: Vec<[F128; 6]> = (0..1usize << LOG_TABLE)
            .into_par_iter()
            .map(|i| lift_tuple(table_entry(i)))
            .collect();
        let (table_gp, r_table, _) = grand_product::prove_batch(
            vec![
                entries
                    .par_iter()
                    .zip(&alu.finals)
                    .map(|(e, f)| fp(&ch, e, F128::from(*f)))
                    .collect(),
                entries
                    .par_iter()
                    .map(|e| fp(&ch, e, F128::one()))
                    .collect(),
            ],
            t,
        );
        let per_row: Vec<Vec<F128>> = (0..n)
            .into_par_iter()
            .map(|k| row_inputs(&regs_cols, rows, k, control.is_some()))
            .collect();
        let inputs: Vec<Vec<F128>> = (0..input::COUNT)
            .map(|i| per_row.iter().map(|v| v[i]).collect())
            .collect();
        drop(per_row);
        let routing_comp = Routing {
            lambda: &ch.lambda,
            control,
        };
        let tau = zerocheck::draw_tau(t, log_rows);
        let (routing, z) = zerocheck::prove(inputs, &routing_comp, &tau, t);
        let (shift, r_next) = shift::prove(
            &[field::PC, field::JADDR].map(|j| rows.iter().map(|e| lift(e[j])).collect()),
            &z,
            &[
                routing.evals[1 + input::PC_NEXT],
                routing.evals[1 + input::JADDR_NEXT],
            ],
            t,
        );
        let mut points = vec![
            r_lanes[..log_rows].to_vec(),
            finals_point(&r_table, log_rows),
            z,
            r_next,
        ];
        let mem_proof = match statement {
            Statement::Alu => None,
            Statement::Execution { outputs, .. } => {
                let (proof, mem_points) = mem::prove(table, log_rows, &regs_cols, outputs, t)?;
                points.extend(mem_points);
                Some(proof)
            }
        };
        Ok((
            AluProof {
                lanes: lanes_gp,
                table: table_gp,
                routing,
                shift,
                mem: mem_proof,
            },
            points,
        ))
    })?;
    Ok(CpuProof {
        regs: proof,
        alu: alu_proof,
    })
}

fn reject(what: &'static str) -> RegsError {
    EngineError::FinalEvaluation(what).into()
}

/// Verify that `2^log_rows` committed rows fetch `table`'s entries, access the register file
/// consistently from `b.initial` to `b.last`, and write every constrained opcode's result.
pub fn verify(
    table: &ProgramTable,
    b: &Boundary,
    log_rows: usize,
    proof: &CpuProof,
) -> Result<(), AluError> {
    verify_statement(table, b, log_rows, proof, Statement::Alu)
}

pub(crate) fn verify_statement(
    table: &ProgramTable,
    b: &Boundary,
    log_rows: usize,
    proof: &CpuProof,
    statement: Statement,
) -> Result<(), AluError> {
    if !(MIN_LOG_ROWS..=MAX_LOG_ROWS).contains(&log_rows) {
        return Err(EngineError::Shape("log_rows").into());
    }
    let alu = &proof.alu;
    let control = statement.control(table);
    let public = statement.public();
    regs::verify_with(
        &statement.layout(&public),
        table,
        b,
        log_rows,
        &proof.regs,
        |t, evals| {
            let (want, outputs) = match statement {
                Statement::Alu => (4, &[][..]),
                Statement::Execution { outputs, .. } => (10 + outputs.len(), outputs),
            };
            if evals.len() != want || alu.mem.is_some() != (want > 4) {
                return Err(EngineError::Shape("ALU column evaluations").into());
            }
            let [ev_lanes, ev_finals, ev_z, ev_next] = [&evals[0], &evals[1], &evals[2], &evals[3]];
            let ch = challenges(t);
            let gl = F128::from(g());

            let lanes = grand_product::verify_batch(log_rows + LOG_LANES, 3, &alu.lanes, t)?;
            let (p_r, p_w, p_nz) = (lanes.products[0], lanes.products[1], lanes.products[2]);
            let table_out = grand_product::verify_batch(LOG_TABLE, 2, &alu.table, t)?;
            let (p_f, p_init) = (table_out.products[0], table_out.products[1]);
            if p_nz == F128::zero() {
                return Err(reject("a lane counter is zero"));
            }
            if p_init.mul(&p_w) != p_r.mul(&p_f) {
                return Err(reject("lanes: Init ∪ W ≠ R ∪ F"));
            }
            let (r_rows, r_l) = lanes.point.split_at(log_rows);
            let eq_l = eq_table(r_l);
            let ev = ev_lanes;
            let tuple = |l: usize| -> [F128; 6] {
                let cin = if l == 0 {
                    ev[field::ALU_SEL + sel::SUB]
                } else {
                    ev[COL_CARRY + l - 1]
                };
                [
                    ev[field::ALU_SEL + sel::MODE],
                    ev[COL_A + l],
                    ev[COL_B + l],
                    cin,
                    ev[COL_R + l],
                    ev[COL_CARRY + l],
                ]
            };
            let by_lane = |f: &dyn Fn(usize) -> F128| {
                (0..LANES).fold(F128::zero(), |acc, l| acc.add(&eq_l[l].mul(&f(l))))
            };
            let expected = [
                by_lane(&|l| fp(&ch, &tuple(l), ev[COL_LANE_TS + l])),
                by_lane(&|l| fp(&ch, &tuple(l), gl.mul(&ev[COL_LANE_TS + l]))),
                by_lane(&|l| ev[COL_LANE_TS + l]),
            ];
            if expected[..] != lanes.claims[..] {
                return Err(reject("lane leaves"));
            }
            let r_t = &table_out.point;
            let fields = table_mle(r_t);
            if fp(&ch, &fields, finals_eval(ev_finals, r_t, log_rows)) != table_out.claims[0]
                || fp(&ch, &fields, F128::one()) != table_out.claims[1]
            {
                return Err(reject("lane table leaves"));
            }

            let routing_comp = Routing {
                lambda: &ch.lambda,
                control,
            };
            let tau = zerocheck::draw_tau(t, log_rows);
            let (z, zevals) = zerocheck::verify(&routing_comp, &tau, &alu.routing, t)?;
            let stated = routing_inputs(|c| ev_z[c]);
            // The first- and last-row indicators are eq(0…0, z) and eq(1…1, z).
            let first = z
                .iter()
                .fold(F128::one(), |acc, zi| acc.mul(&F128::one().add(zi)));
            let last = z.iter().fold(F128::one(), |acc, zi| acc.mul(zi));
            let (free, hc) = if control.is_some() {
                (ev_z[mem::COL_SIDE + mem::side::FREE - 1], ev_z[mem::COL_HC])
            } else {
                (F128::zero(), F128::zero())
            };
            if zevals.len() != input::COUNT
                || zevals[..input::COLUMN_INPUTS] != stated[..input::COLUMN_INPUTS]
                || zevals[input::FIRST] != first
                || zevals[input::LAST] != last
                || zevals[input::FREE] != free
                || zevals[input::HC] != hc
            {
                return Err(reject("routing zerocheck evaluations"));
            }
            let next_claims = [zevals[input::PC_NEXT], zevals[input::JADDR_NEXT]];
            let r_next = shift::verify(&z, &next_claims, &alu.shift, t)?;
            if alu.shift.column_evals[..] != [ev_next[field::PC], ev_next[field::JADDR]] {
                return Err(reject("next-row columns"));
            }
            let mut points = vec![r_rows.to_vec(), finals_point(r_t, log_rows), z, r_next];
            if let Some(m) = &alu.mem {
                points.extend(mem::verify(table, log_rows, m, outputs, &evals[4..], t)?);
            }
            Ok(points)
        },
    )?;
    Ok(())
}

/// Bytes of a proof (roots, field elements and the encoded opening), for size reports.
pub fn proof_bytes(proof: &CpuProof) -> usize {
    let layers = crate::sumcheck::proof_bytes;
    let a = &proof.alu;
    regs::proof_bytes(&proof.regs)
        + 16 * (a.lanes.products.len() + a.table.products.len() + a.shift.column_evals.len())
        + layers(&a.lanes.layers)
        + layers(&a.table.layers)
        + layers(std::slice::from_ref(&a.routing))
        + layers(std::slice::from_ref(&a.shift.sumcheck))
        + a.mem.as_ref().map_or(0, mem::proof_bytes)
}

/// The first `(row, what, identity)` of an execution witness that violates a control or
/// memory identity, each identity checked alone (the debug oracle of `cpu`'s tests).
#[cfg(test)]
pub(crate) fn failing_identity(
    table: &ProgramTable,
    w: &CpuWitness,
    entry_pc: u32,
) -> Option<(usize, &'static str, usize)> {
    let log_rows = w.regs.fetch.log_rows;
    let n = 1usize << log_rows;
    let mut extra = columns(&w.alu, log_rows);
    extra.extend(mem::columns(w.mem.as_ref()?, log_rows));
    let rows = &w.regs.fetch.rows;
    let col = |c: usize, k: usize| column_value(w, &extra, c, k);
    for k in 0..n {
        let v = row_inputs(&col, rows, k, true);
        let ids = crate::cpu::identities(&v, lift(entry_pc), lift(table.pad_pc()));
        if let Some(j) = ids.iter().position(|x| *x != F128::zero()) {
            return Some((k, "control", j));
        }
    }
    mem::failing_identity(log_rows, &col).map(|(k, j)| (k, "memory", j))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::evaluate_mle_f128;

    #[test]
    fn the_closed_form_is_the_tables_mle() {
        let p: Vec<F128> = (0..LOG_TABLE)
            .map(|i| F128::from_value(0x9e37_79b9_7f4a_7c15_u128 * (i as u128 + 3) + 11))
            .collect();
        let mle = table_mle(&p);
        for (j, want) in mle.iter().enumerate() {
            let col: Vec<F128> = (0..1usize << LOG_TABLE)
                .map(|i| lift(table_entry(i)[j]))
                .collect();
            assert_eq!(evaluate_mle_f128(&col, &p), *want, "field {j}");
        }
    }

    #[test]
    fn layout_fits() {
        const { assert!(USED <= COLUMNS) };
        assert_eq!(1 << LOG_COLUMNS, COLUMNS);
        const { assert!((LANES as u64) << MAX_LOG_ROWS < u32::MAX as u64) };
        const { assert!(FINAL_COLS << MIN_LOG_ROWS >= 1 << LOG_TABLE) };
    }

    fn entry_of(op: Opcode, imm: u64) -> Entry {
        let mut e = [0u32; fetch::FIELDS];
        e[field::IMM_LO] = imm as u32;
        e[field::IMM_HI] = (imm >> 32) as u32;
        e[field::ALU_SEL..].copy_from_slice(&selectors(op, imm));
        e
    }

    /// One row's column values (regs' and the ALU's) for entry `e`, reads `a`, `b`, write `r`.
    fn row_columns(e: &Entry, a: u64, b: u64, r: u64) -> Vec<F128> {
        let mut v = vec![F128::zero(); USED];
        for (c, &x) in e.iter().enumerate() {
            v[c] = lift(x);
        }
        for (slot, x) in [(1, a), (2, b)] {
            v[COL_OLD_LO + slot] = lift(x as u32);
            v[COL_OLD_HI + slot] = lift((x >> 32) as u32);
        }
        v[COL_NEW_LO] = lift(r as u32);
        v[COL_NEW_HI] = lift((r >> 32) as u32);
        let (alpha, beta, cin) = operands(e, a, b);
        let (rl, carry) = lanes(e[field::ALU_SEL + sel::MODE], alpha, beta, cin);
        for l in 0..LANES {
            v[COL_A + l] = lift((alpha >> (8 * l)) as u8 as u32);
            v[COL_B + l] = lift((beta >> (8 * l)) as u8 as u32);
            v[COL_R + l] = lift(rl[l] as u32);
            v[COL_CARRY + l] = lift(carry[l] as u32);
        }
        let y = barrel(e, &rl, carry[LANES - 1]);
        for l in 0..LANES {
            v[COL_Y1 + l] = lift(y[0][l] as u32);
            v[COL_Y2 + l] = lift(y[1][l] as u32);
        }
        v
    }

    /// Per constrained opcode, the routing identities hold on its honest row and fail on it
    /// with any one of the 64 result bits flipped (for a fixed λ): no output bit is free.
    fn every_output_bit_enters_the_routing_identities() -> bool {
        let l = F128::from_value(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        let lambda: Vec<F128> = (0..IDENTITIES as u64).map(|i| l.pow(i)).collect();
        let routing = Routing {
            lambda: &lambda,
            control: None,
        };
        let (a, b) = (0xfedc_ba98_7654_3210u64, 0x0f0f_0000_ffff_0001u64);
        let cases = CONSTRAINED
            .iter()
            .map(|&op| (op, 0xffff_ffff_ffff_ff85))
            .chain([0, 1, 8, 13, 32, 63].into_iter().flat_map(|i| {
                [
                    (Opcode::shift_logical_left_imm_64, i),
                    (Opcode::shift_logical_right_imm_64, i),
                ]
            }));
        cases.into_iter().all(|(op, imm)| {
            let e = entry_of(op, imm);
            let r = expected(&e, a, b).expect("constrained");
            let at = |r: u64| {
                let v = row_columns(&e, a, b, r);
                routing.eval(&routing_inputs(|c| v[c]))
            };
            at(r) == F128::zero() && (0..64).all(|bit| at(r ^ 1 << bit) != F128::zero())
        })
    }

    /// The lanes' semantics against Rust's on edge values, for every constrained opcode.
    #[test]
    fn every_constrained_opcode_computes_its_result() {
        let edges = [
            0u64,
            1,
            2,
            0xff,
            0x100,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            (1 << 63) - 1,
            0x00ff_00ff_00ff_00ff,
            0x0101_0101_0101_0101,
            0xffff_ffff,
            1 << 32,
            0xdead_beef_0123_4567,
        ];
        for &x in &edges {
            for &y in &edges {
                let want: &[(Opcode, u64, u64)] = &[
                    (Opcode::move_reg, 0, x),
                    (Opcode::load_imm, y, y),
                    (Opcode::load_imm64, y, y),
                    (Opcode::load_imm_and_jump, y, y),
                    (Opcode::add_64, 0, x.wrapping_add(y)),
                    (Opcode::add_imm_64, y, x.wrapping_add(y)),
                    (Opcode::sub_64, 0, x.wrapping_sub(y)),
                    (Opcode::and_imm, y, x & y),
                    (Opcode::or, 0, x | y),
                    (Opcode::or_imm, y, x | y),
                    (Opcode::xor, 0, x ^ y),
                    (Opcode::set_less_than_unsigned_imm, y, (x < y) as u64),
                    (Opcode::set_greater_than_unsigned_imm, y, (x > y) as u64),
                ];
                for &(op, i, v) in want {
                    assert_eq!(
                        expected(&entry_of(op, i), x, y),
                        Some(v),
                        "{op:?} {x:#x} {y:#x}"
                    );
                }
                for s in [0u64, 1, 7, 8, 9, 15, 31, 32, 33, 56, 63, 64 + 5] {
                    let (l, r) = (
                        Opcode::shift_logical_left_imm_64,
                        Opcode::shift_logical_right_imm_64,
                    );
                    assert_eq!(
                        expected(&entry_of(l, s), x, 0),
                        Some(x << (s & 63)),
                        "<< {s}"
                    );
                    assert_eq!(
                        expected(&entry_of(r, s), x, 0),
                        Some(x >> (s & 63)),
                        ">> {s}"
                    );
                }
                for &(op, i, v) in want {
                    assert_eq!(
                        expected(&entry_of(op, i), x, y),
                        Some(v),
                        "{op:?} {x:#x} {y:#x}"
                    );
                }
            }
        }
        assert_eq!(CONSTRAINED.len(), 15);
        assert!(every_output_bit_enters_the_routing_identities());
        for &op in crate::trace::SUPPORTED {
            assert_eq!(
                selectors(op, 0)[sel::ALU] == 1,
                CONSTRAINED.contains(&op),
                "{op:?}"
            );
        }
    }
}
