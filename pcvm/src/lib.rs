//! `diverge-pcvm`: the proof system the future `exec-proof` plugin will use to prove PolkaVM
//! executions over binary fields.
//!
//! A plain library (no plugin ABI): the plugin wraps it. Layers, bottom up:
//!
//! * [`field`]: GF(2^32) for committed data, GF(2^128) for challenges and claims (the
//!   `ligerito-binary-fields` types), multilinear helpers, column packing by index bits.
//! * [`transcript`]: the single Fiat–Shamir transcript every layer absorbs into.
//! * [`pcs`]: commit to a multilinear polynomial over GF(2^32) and prove its evaluations at
//!   arbitrary GF(2^128) points, built from `ligerito` 0.8's public pieces (commitment, codes,
//!   Merkle trees, row-check reduction) with our own evaluation sumcheck and verifier; the
//!   soundness argument and the chosen security level (100 bits) are in its docs.
//! * [`codec`]: canonical bytes of an evaluation proof; decoding never trusts a length.
//! * [`sumcheck`]: generic degree-`d` sumcheck; [`zerocheck`]: `eq(τ, ·)`-weighted, so bad rows
//!   cannot cancel in characteristic 2; [`shift`]: next-row columns reduced to openings of the
//!   committed ones; [`grand_product`]: layered product circuit and multiset equality (exact
//!   multiplicities, unlike LogUp in characteristic 2).
//! * [`air`]: a toy AIR proven end to end with all of the above, plus the native constraint
//!   checker used as a debug oracle.
//!
//! Every verifier returns a typed error ([`PcsError`], [`EngineError`]) and never panics on proof
//! data. Every claimed evaluation a sub-protocol leaves open is returned to the caller, who must
//! discharge it (PCS opening or verifier-known table); the module docs say which.
//!
//! * [`trace`]: the execution trace S2 constrains (one row per executed PolkaVM instruction,
//!   read from PolkaVM's interpreter in step-tracing mode) and the opcode inventory that keeps
//!   the workload blob inside the constrained subset.
//! * [`fetch`]: S2's first argument. The verifier derives the program table from the blob
//!   (one entry per instruction: pc, opcode, register and immediate operands, next pc, target)
//!   and binds the blob's hash into the transcript; the proof shows every committed row's fetch
//!   tuple is a table entry (read-only offline memory checking with multiplicative counters,
//!   by grand products; every open claim is a PCS opening or the verifier's own table
//!   evaluation). Proven on the workload's real trace.
//! * [`regs`]: S2's second argument, on one commitment with the fetch argument. Every row
//!   reads the registers in its fetched slots and writes the register its fetched `write`
//!   field names (the table's, so a prover cannot choose), and a read-write offline memory
//!   check over the 13 registers proves each read returns the latest write, from the public
//!   initial ABI state to the public final state. Timestamps are powers of a generator of
//!   GF(2^32)^*, ordered by a range lookup (`t_old·h = t_now`, `h ∈ {g^1..g^4N}`), so no
//!   cycle of accesses balances in characteristic 2. Host calls write `A0` as advice. The
//!   written values are committed; [`regs`] alone does not constrain them.
//! * [`alu`]: S2's third argument, the CPU proof: the register proof's commitment and
//!   transcript extended so that every row of the 15 opcodes in [`alu::CONSTRAINED`] (moves,
//!   immediates, add, sub, and, or, xor, unsigned compares, shifts by immediate: every
//!   register-writing opcode of the workload but the loads and `ecalli`) writes its opcode's
//!   result on its reads and fetched immediate. Operands are split into eight byte lanes;
//!   every lane is looked up (exact multiplicities, multiplicative counters) in a
//!   verifier-known `2^19`-entry table of ripple-adder steps, byte ANDs and byte shifts whose
//!   MLE the verifier evaluates in closed form; one eq-weighted zerocheck routes operands into
//!   the lanes, moves the shifted bytes through a three-stage byte barrel and the result into
//!   the written value, with selectors that are fields of the fetched program entry (functions
//!   of opcode and immediate), so a row cannot opt out. Needs `log_rows ≥ 16`.
//!
//! * [`cpu`]: S2's fourth argument, the execution statement: the same proof with nine control
//!   identities in the ALU's zerocheck, so the rows are one complete run of one export. Row 0
//!   is at the export's entry pc; each row's successor is its next instruction or, when its
//!   condition holds (the lanes' borrow, or a norm-form zero test that is sound in
//!   characteristic 2), its target; an indirect jump lands on the jump-table entry its lanes
//!   computed; the run halts by returning to the host into absorbing padding, and the last
//!   row is padding. Next-row values come from the shift argument.
//!
//! * [`mem`]: S3's first argument, in the execution statement (256 columns): one memory
//!   operation per row on aligned 8-byte words, read-write offline memory checking against
//!   the verifier's memory table (the blob's data, zeros elsewhere), offsets by the key's low
//!   bits, memory selectors from a pc-keyed side table, stored bytes range-checked. Loads
//!   return what the latest store left; stores change exactly their bytes; host calls'
//!   memory writes enter as host rows of advice words.
//!
//! Later stages (issue 10) bind the proof to the block's pre-state, payload and post-state
//! (`docs/PCVM-MEMORY.md`).

pub mod air;
pub mod alu;
pub mod codec;
pub mod cpu;
pub mod error;
pub mod fetch;
pub mod field;
pub mod grand_product;
pub mod mem;
pub mod pcs;
pub mod regs;
pub mod shift;
pub mod sumcheck;
pub mod trace;
pub mod transcript;
pub mod zerocheck;

pub use error::{EngineError, PcsError, Rejection};
pub use field::{F128, F32};
pub use pcs::{commit, prove, verify, Claim, Commitment, EvalProof, Params};
pub use transcript::Transcript;
