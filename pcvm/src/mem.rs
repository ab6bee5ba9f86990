//! S3, first slice: memory. In the execution statement ([`crate::cpu`]) every load returns
//! what the latest store (or the program's initial memory) left at its address, every store
//! writes exactly the bytes its width and value say, and no access leaves the mapped memory.
//!
//! # What is proven
//!
//! On the CPU proof's commitment and transcript (256 columns in the execution statement),
//! for the rows the CPU proof already shows to be one run of one export:
//!
//! * the rows' memory operations, in row order, are a consistent run of a byte memory whose
//!   initial contents are the blob's: read-only and read-write data as the blob has them,
//!   zeros elsewhere in the RW region and on the stack ([`MemoryTable`], the verifier's own);
//! * `load_u8`/`load_indirect_u8` write the byte at the address, zero-extended;
//!   `load_u64`/`load_indirect_u64` write the 8 bytes there (8-aligned);
//! * `store_*_u8` change exactly the byte at the address, to the low byte of the value;
//!   `store_*_u64` the 8 bytes there (8-aligned); the value is the register in slot `a`, or
//!   the sign-extended second immediate for `store_imm*`;
//! * every address is the ALU lanes' `ρ_lo`: `(base + sext(offset)) mod 2^32`, or the
//!   immediate for the absolute forms, as PolkaVM computes it.
//!
//! An access outside the table (PolkaVM's segfault) or an unaligned word access (which the
//! workload never makes, `tests/trace.rs` asserts it) cannot be proven; the prover refuses
//! it.
//!
//! **Host writes.** A host call that writes guest memory (`input_read`, `state_load`) is
//! followed by *host rows*, one per word it wrote. A host row fetches its call site's host
//! entry (`fetch::HOST_OPCODE`) and writes the whole word with advice bytes
//! (range-checked); its key is free but must name a word of the **IO region** (the lowest
//! [`IO_BYTES`] of the stack, `kind` 3): after any host call the prover may write any IO
//! words, and nothing else. The `ecalli` and the host rows choose whether another host row
//! follows (`HC`, [`crate::cpu`]). What the host writes is advice: a program binds it by
//! copying it out of the region right after the call and committing to what it copied
//! (the workload's `prove_block` hashes its input and checks its pre-state root;
//! `docs/PCVM-MEMORY.md`).
//!
//! # The argument
//!
//! **Cells** are aligned 8-byte words keyed by their byte address. One memory operation per
//! row: it consumes `(key, kind, ob_0..7, t_old)` and produces `(key, kind, nb_0..7, T)`,
//! `T = g^(k+1)` for row `k`. Non-memory rows touch a dummy word (key 0, `kind` 2, which no
//! memory row can name: theirs have `kind` 1, or 3 in the IO region) and leave it unchanged. `Init` is the memory
//! table at timestamp 1 (the verifier computes its product), `Final` is committed in
//! table-indexed columns. Read-write offline memory checking exactly as [`crate::regs`]':
//! multiplicative timestamps, `t_old·gap = T` with `gap ∈ {g^1..g^N}` by a read-only lookup,
//! so each operation consumes the latest earlier production at its key. Padding entries of
//! the table have `kind` 0: no row's tuple can match them.
//!
//! **Offsets.** A one-hot column `oh_0..7` (booleans, pairwise disjoint, exactly one on
//! memory rows) names the byte offset; `key = MEM·(ρ_lo + Σ_l oh_l·l)`. In characteristic 2
//! the sum clears the address's low bits only if `oh` names them; otherwise `key` has low
//! bits set and matches no table entry (all table keys are aligned). No range check needed.
//!
//! **Which rows do what** is a function of the pc: a second read-only lookup, keyed by the
//! fetched `PC`, into the verifier's *side table*
//! `(PC, L8, L64, S8, S64, IMM2, V_LO, V_HI, FREE, HOST)`
//! (one entry per program-table entry, multiplicative counters as in [`crate::fetch`]), so
//! the CPU statements' fetch tuple does not grow.
//!
//! **Stored bytes** `sb_0..7` are the value's bytes: `pack(sb) = V` per 32-bit half, and each
//! `sb_l` is looked up in the byte table `{0..255}` (8N lookups, multiplicative counters).
//! Every byte in memory then is a byte: from the table, or from `sb`.
//!
//! **Semantics**, one eq-weighted zerocheck of 81 identities (degree ≤ 3, 4 with `eq`):
//! `(1 + S8 + S64 + HOST)·(nb_l + ob_l)`, `(S64 + HOST)·(nb_l + sb_l)`,
//! `S8·(nb_l + ob_l + oh_l·(sb_0 + ob_l))`, `HOST·oh_l`,
//! `L8·(R_lo + Σ oh_l·ob_l)`, `L8·R_hi`, `L64·(R − pack(ob))` per half,
//! `(S8 + S64)·(pack(sb) + V)` per half, `(L64 + S64)·(1 + oh_0)`, `MEM·(1 + Σ oh_l)`,
//! `oh_i·oh_j` (`i < j`), `oh_l·(1 + oh_l)`, the key (`(1 + HOST)·(key + MEM·(ρ_lo + Σ oh_l·l))`),
//! `t_old·gap + T`, and `IO·(1 + IO)`, `IO·(1 + MEM)`, `HOST·(1 + IO)`. `R` is the row's
//! register write (regs' `new`), `V = (1 + IMM2)·A_slot_a + IMM2·(V_LO, V_HI)`.
//!
//! # Every open claim, and what discharges it
//!
//! * Rows (one batch of 10 products over `N`): side `R`, `W`, `Π ts`; memory `C`, `P`; gap
//!   `R`, `W`, `Π ts`, `F`, `Init` (`H̃`, `T̃` in closed form). Leaves are affine in the columns
//!   at the batch point, the side-table fields of `F` evaluated by the verifier.
//! * Byte lookups (one batch of 3 over `8N`), byte table finals (256), side table finals
//!   (`2^p`), memory table finals (`2^m`): each its own point; table fields by the verifier.
//! * The semantics zerocheck's point.
//! * Six points in all, joining the CPU proof's eight: every column stated at each, one
//!   batched PCS opening.
//!
//! Soundness error: the PCS's `2^-100` plus `O((log_rows^2 + N)/2^128)`.

use std::collections::HashMap;

use ligerito_binary_fields::BinaryFieldElement;
use polkavm::program::Opcode;
use rayon::prelude::*;

use crate::error::EngineError;
use crate::fetch::{self, field, Entry, ProgramTable, HOST_OPCODE, PAD_OPCODE};
use crate::field::{eq_table, f32, g, lift, F128, F32};
use crate::grand_product::{self, BatchProductProof, GrandProductProof};
use crate::regs::{self, powers, RegsError, COL_NEW_HI, COL_NEW_LO, COL_OLD_HI, COL_OLD_LO};
use crate::sumcheck::{Composition, SumcheckProof};
use crate::trace::{TraceError, SUPPORTED};
use crate::transcript::Transcript;
use crate::zerocheck;

/// Bytes per memory word.
pub const BYTES: usize = 8;
/// Side-table fields.
pub const SIDE: usize = 10;
/// Side-table field indices (0 is the pc, the rest are committed columns from `COL_SIDE`).
pub mod side {
    pub const PC: usize = 0;
    /// `load_u8`, `load_indirect_u8`.
    pub const L8: usize = 1;
    /// `load_u64`, `load_indirect_u64`.
    pub const L64: usize = 2;
    /// `store_imm_u8`, `store_imm_indirect_u8`, `store_indirect_u8`.
    pub const S8: usize = 3;
    /// `store_u64`, `store_imm_u64`, `store_imm_indirect_u64`, `store_indirect_u64`.
    pub const S64: usize = 4;
    /// The stored value is the instruction's `V` (`store_imm*`), not a register.
    pub const IMM2: usize = 5;
    /// `V`: the sign-extended second immediate, as 64 bits.
    pub const V_LO: usize = 6;
    pub const V_HI: usize = 7;
    /// `TAKEN` is the prover's (`HC`): an `ecalli` or host row chooses whether host rows
    /// follow ([`crate::cpu`]).
    pub const FREE: usize = 8;
    /// A host row: it writes one word of the host call's memory advice.
    pub const HOST: usize = 9;
}
pub type SideEntry = [u32; SIDE];

/// Table entry kinds: padding (never matched), a mapped word, the dummy word, a word of the
/// IO region (the only words host rows may write).
pub const KIND_PAD: u32 = 0;
pub const KIND_MAPPED: u32 = 1;
pub const KIND_DUMMY: u32 = 2;
pub const KIND_IO: u32 = 3;
/// The IO region: the lowest bytes of the stack. Host rows write only here, so a host call
/// cannot change the program's own data: a program that copies what it needs out of the
/// region right after each call (and keeps nothing live there across calls) sees the host
/// only through those copies.
pub const IO_BYTES: u32 = 2048;

/// The execution statement's columns after the ALU's.
pub const COL_SIDE: usize = crate::alu::USED;
pub const COL_SIDE_TS: usize = COL_SIDE + SIDE - 1;
/// The side table's final counters (entry `i` in cell `i`).
pub const COL_SIDE_FINAL: usize = COL_SIDE_TS + 1;
pub const COL_KEY: usize = COL_SIDE_FINAL + 1;
pub const COL_OB: usize = COL_KEY + 1;
pub const COL_NB: usize = COL_OB + BYTES;
pub const COL_OH: usize = COL_NB + BYTES;
pub const COL_SB: usize = COL_OH + BYTES;
pub const COL_SB_TS: usize = COL_SB + BYTES;
pub const COL_T_OLD: usize = COL_SB_TS + BYTES;
pub const COL_GAP: usize = COL_T_OLD + 1;
pub const COL_GAP_TS: usize = COL_GAP + 1;
/// The gap range's final counters (`H(k) = g^(k+1)` in cell `k`).
pub const COL_GAP_FINAL: usize = COL_GAP_TS + 1;
/// The memory table's final bytes and timestamps (entry `i` in cell `i`).
pub const COL_FINAL_BYTES: usize = COL_GAP_FINAL + 1;
pub const COL_FINAL_TS: usize = COL_FINAL_BYTES + BYTES;
/// The byte table's final counters (byte `j` in cell `j`).
pub const COL_BYTE_FINAL: usize = COL_FINAL_TS + 1;
/// `HC`: on `ecalli` and host rows, whether a host row follows ([`crate::cpu`]).
pub const COL_HC: usize = COL_BYTE_FINAL + 1;
/// `IO`: the row's word is in the IO region (`kind` 3 rather than 1).
pub const COL_IO: usize = COL_HC + 1;
pub(crate) const USED: usize = COL_IO + 1;
/// Packed columns of the execution statement.
pub const COLUMNS: usize = 256;
pub(crate) const LOG_COLUMNS: usize = 8;
const LOG_BYTE_TABLE: usize = 8;
const LOG_BYTES: usize = 3;

/// Why memory could not be proven or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    #[error("row {row}: address {address:#x} is outside the mapped memory")]
    Unmapped { row: usize, address: u32 },
    #[error("row {row}: a 64-bit access at {address:#x} is not 8-aligned")]
    Unaligned { row: usize, address: u32 },
    #[error("row {row}: loads {got:#x}, memory holds {expected:#x}")]
    WrongLoad { row: usize, expected: u64, got: u64 },
    #[error("row {row}: a host row without the host's advice")]
    HostAdvice { row: usize },
    #[error("row {row}: the host writes {address:#x}, outside the IO region")]
    HostOutsideIo { row: usize, address: u32 },
    #[error("the memory table needs 2^{need} rows, the proof has 2^{log_rows}")]
    Rows { need: usize, log_rows: usize },
    #[error("row {row}: the committed {what} is not memory's")]
    Inconsistent { row: usize, what: &'static str },
    #[error("the memory's final state or counters are not the honest ones")]
    Finals,
}

/// The verifier's view of memory: every word of the blob's mapped regions with its initial
/// bytes, and the side table of the program's instructions.
#[derive(Debug, Clone)]
pub struct MemoryTable {
    /// Word keys (byte address of the word), initial bytes and kinds, `2^log_entries`.
    pub keys: Vec<u32>,
    pub init: Vec<[u8; BYTES]>,
    pub kinds: Vec<u32>,
    pub log_entries: usize,
    /// The IO region's first address ([`IO_BYTES`] from there).
    pub io: u32,
    by_key: HashMap<u32, usize>,
    /// One entry per program-table entry, in its order.
    pub side: Vec<SideEntry>,
}

fn side_entry(e: &Entry) -> SideEntry {
    use Opcode as O;
    let mut s = [0u32; SIDE];
    s[side::PC] = e[field::PC];
    if e[field::OPCODE] == PAD_OPCODE {
        return s;
    }
    if e[field::OPCODE] == HOST_OPCODE {
        s[side::FREE] = 1;
        s[side::HOST] = 1;
        return s;
    }
    let op = SUPPORTED[e[field::OPCODE] as usize];
    let on: &[usize] = match op {
        O::load_u8 | O::load_indirect_u8 => &[side::L8],
        O::load_indirect_u64 | O::load_u64 => &[side::L64],
        O::store_indirect_u8 => &[side::S8],
        O::store_imm_u8 | O::store_imm_indirect_u8 => &[side::S8, side::IMM2],
        O::store_indirect_u64 | O::store_u64 => &[side::S64],
        O::store_imm_indirect_u64 | O::store_imm_u64 => &[side::S64, side::IMM2],
        O::ecalli => &[side::FREE],
        _ => &[],
    };
    for &j in on {
        s[j] = 1;
    }
    if s[side::IMM2] == 1 {
        let v = e[field::IMM2] as i32 as i64 as u64;
        s[side::V_LO] = v as u32;
        s[side::V_HI] = (v >> 32) as u32;
    }
    s
}

impl MemoryTable {
    /// The table of `blob` for the program table `program` (its side table follows its
    /// entries). The memory map is PolkaVM's for the blob's sizes (4 KiB pages, no aux data).
    pub fn new(blob: &polkavm::ProgramBlob, program: &[Entry]) -> Result<MemoryTable, TraceError> {
        let map = polkavm::MemoryMapBuilder::new(0x1000)
            .ro_data_size(blob.ro_data_size())
            .rw_data_size(blob.rw_data_size())
            .stack_size(blob.stack_size())
            .build()
            .map_err(|e| TraceError::Parse(format!("memory map: {e}")))?;
        let (mut keys, mut init, mut kinds) = (vec![0u32], vec![[0u8; BYTES]], vec![KIND_DUMMY]);
        let mut region = |start: u32, size: u32, data: &[u8], io: u32| {
            for w in (0..size).step_by(BYTES) {
                let mut bytes = [0u8; BYTES];
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = data.get((w as usize) + i).copied().unwrap_or(0);
                }
                keys.push(start + w);
                init.push(bytes);
                kinds.push(if w < io { KIND_IO } else { KIND_MAPPED });
            }
        };
        if map.stack_size() < 2 * IO_BYTES {
            return Err(TraceError::Parse(format!(
                "a {}-byte stack leaves no room for the {IO_BYTES}-byte IO region",
                map.stack_size()
            )));
        }
        region(map.ro_data_address(), map.ro_data_size(), blob.ro_data(), 0);
        region(map.rw_data_address(), map.rw_data_size(), blob.rw_data(), 0);
        region(map.stack_address_low(), map.stack_size(), &[], IO_BYTES);
        let log_entries = keys.len().next_power_of_two().trailing_zeros() as usize;
        // Padding: kind 0, keys distinct from each other (odd, so never a word's key).
        let mut pad = 1u32;
        while keys.len() < 1 << log_entries {
            keys.push(pad);
            init.push([0; BYTES]);
            kinds.push(KIND_PAD);
            pad += 2;
        }
        let by_key = keys
            .iter()
            .zip(&kinds)
            .enumerate()
            .filter(|(_, (_, &k))| k != KIND_PAD)
            .map(|(i, (&key, _))| (key, i))
            .collect();
        Ok(MemoryTable {
            keys,
            init,
            kinds,
            log_entries,
            io: map.stack_address_low(),
            by_key,
            side: program.iter().map(side_entry).collect(),
        })
    }

    /// The entry of the mapped word at aligned `key` (not the dummy's).
    pub fn index_of(&self, key: u32) -> Option<usize> {
        self.by_key
            .get(&key)
            .copied()
            .filter(|&i| matches!(self.kinds[i], KIND_MAPPED | KIND_IO))
    }
}

/// What the prover commits for memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemWitness {
    /// Per row: its side entry (the table's at its pc), and the lookup's counter.
    pub side: Vec<SideEntry>,
    pub side_ts: Vec<F32>,
    /// Per side-table entry: its final counter.
    pub side_final: Vec<F32>,
    pub key: Vec<u32>,
    /// Old, new and stored bytes: `u32` so that a test can commit a "byte" that is not one
    /// (the range check's business).
    pub ob: [Vec<u32>; BYTES],
    pub nb: [Vec<u32>; BYTES],
    pub oh: [Vec<u8>; BYTES],
    pub sb: [Vec<u32>; BYTES],
    pub sb_ts: [Vec<F32>; BYTES],
    /// The byte table's final counters (256).
    pub byte_final: Vec<F32>,
    pub t_old: Vec<F32>,
    pub gap: Vec<F32>,
    pub gap_ts: Vec<F32>,
    /// Per gap-range entry `H(k) = g^(k+1)`: its final counter.
    pub gap_final: Vec<F32>,
    /// Per memory-table entry: final bytes and timestamp.
    pub final_bytes: Vec<[u32; BYTES]>,
    pub final_ts: Vec<F32>,
    /// Per row: on `ecalli` and host rows, 1 if a host row follows.
    pub hc: Vec<u8>,
    /// Per row: 1 if its word is in the IO region.
    pub io: Vec<u8>,
}

/// Counts reads of each key with multiplicative counters: returns each read's counter and
/// leaves the finals in `counters`.
/// The 64-bit value of a word's bytes.
pub fn word(bytes: &[u32; BYTES]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |acc, (l, &b)| acc | (b as u64) << (8 * l))
}

fn address(r: &[Vec<u8>; 8], k: usize) -> u32 {
    u32::from_le_bytes([r[0][k], r[1][k], r[2][k], r[3][k]])
}

/// A host row's advice: the word it writes (its key) and the bytes it sets, `(offset, value)`.
pub type HostWord = (u32, Vec<(usize, u32)>);

impl MemWitness {
    /// The honest memory witness of rows `rows` whose ALU lanes are `lanes` (the address is
    /// `ρ_lo`), whose slot-`a` reads are `value` (stored registers) and whose writes are
    /// `writes` (checked against memory on loads). `host(k)` is host row `k`'s advice: the
    /// word it writes, and the bytes it sets there (offset, value).
    pub fn honest(
        table: &ProgramTable,
        rows: &[Entry],
        lanes: &[Vec<u8>; 8],
        value: &[u64],
        writes: &[u64],
        host: &dyn Fn(usize) -> Option<HostWord>,
    ) -> Result<MemWitness, MemError> {
        let m = &table.memory;
        let n = rows.len();
        if m.log_entries > n.trailing_zeros() as usize {
            return Err(MemError::Rows {
                need: m.log_entries,
                log_rows: n.trailing_zeros() as usize,
            });
        }
        let empty = || std::array::from_fn(|_| vec![0u32; n]);
        let mut w = MemWitness {
            side: Vec::with_capacity(n),
            side_ts: Vec::new(),
            side_final: Vec::new(),
            key: vec![0; n],
            ob: empty(),
            nb: empty(),
            oh: std::array::from_fn(|_| vec![0u8; n]),
            sb: empty(),
            sb_ts: Default::default(),
            byte_final: Vec::new(),
            t_old: Vec::with_capacity(n),
            gap: Vec::new(),
            gap_ts: Vec::new(),
            gap_final: Vec::new(),
            final_bytes: Vec::new(),
            final_ts: vec![F32::one(); m.keys.len()],
            hc: vec![0; n],
            io: vec![0; n],
        };
        let mut last = vec![0u64; m.keys.len()];
        let mut state: Vec<[u32; BYTES]> = m.init.iter().map(|b| b.map(u32::from)).collect();
        let pw = powers(n);
        for (k, e) in rows.iter().enumerate() {
            let s = table
                .index_of(e[field::PC])
                .map(|i| m.side[i])
                .unwrap_or([0; SIDE]);
            w.side.push(s);
            let (l8, l64, s8, s64) = (s[side::L8], s[side::L64], s[side::S8], s[side::S64]);
            let mut idx = 0;
            let mut new = state[0];
            if s[side::FREE] == 1 {
                let next_host = rows
                    .get(k + 1)
                    .is_some_and(|e| e[field::OPCODE] == HOST_OPCODE);
                w.hc[k] = next_host as u8;
            }
            if s[side::HOST] == 1 {
                let (key, patches) = host(k).ok_or(MemError::HostAdvice { row: k })?;
                idx = m.index_of(key).ok_or(MemError::Unmapped {
                    row: k,
                    address: key,
                })?;
                if m.kinds[idx] != KIND_IO {
                    return Err(MemError::HostOutsideIo {
                        row: k,
                        address: key,
                    });
                }
                w.key[k] = key;
                new = state[idx];
                for (off, b) in patches {
                    new[off % BYTES] = b;
                }
                for (l, &b) in new.iter().enumerate() {
                    w.sb[l][k] = b;
                }
            } else if l8 | l64 | s8 | s64 == 1 {
                let a = address(lanes, k);
                let (key, off) = (a & !7, (a & 7) as usize);
                if (l64 | s64) == 1 && off != 0 {
                    return Err(MemError::Unaligned { row: k, address: a });
                }
                idx = m
                    .index_of(key)
                    .ok_or(MemError::Unmapped { row: k, address: a })?;
                w.key[k] = key;
                w.oh[off][k] = 1;
                let old = state[idx];
                new = old;
                if s8 | s64 == 1 {
                    let v = if s[side::IMM2] == 1 {
                        s[side::V_LO] as u64 | (s[side::V_HI] as u64) << 32
                    } else {
                        value[k]
                    };
                    let sb = v.to_le_bytes().map(u32::from);
                    for (l, &b) in sb.iter().enumerate() {
                        w.sb[l][k] = b;
                    }
                    if s64 == 1 {
                        new = sb;
                    } else {
                        new[off] = sb[0];
                    }
                }
                let loaded = match (l8, l64) {
                    (1, _) => Some(old[off] as u64),
                    (_, 1) => Some(word(&old)),
                    _ => None,
                };
                if let Some(expected) = loaded.filter(|&x| x != writes[k]) {
                    return Err(MemError::WrongLoad {
                        row: k,
                        expected,
                        got: writes[k],
                    });
                }
            }
            w.io[k] = u8::from(m.kinds[idx] == KIND_IO);
            for l in 0..BYTES {
                w.ob[l][k] = state[idx][l];
                w.nb[l][k] = new[l];
            }
            state[idx] = new;
            w.t_old.push(pw[last[idx] as usize]);
            last[idx] = k as u64 + 1;
        }
        w.final_bytes = state;
        w.final_ts = last.iter().map(|&e| pw[e as usize]).collect();
        w.relink(table);
        Ok(w)
    }

    /// Recomputes every counter, gap and final from the committed side entries, bytes and
    /// timestamps, as any prover would for the values it commits.
    pub fn relink(&mut self, table: &ProgramTable) {
        let n = self.key.len();
        let pw = powers(n);
        let mut side_counters = HashMap::new();
        self.side_ts = fetch::read_counters(self.side.iter().copied(), &mut side_counters);
        self.side_final = table
            .memory
            .side
            .iter()
            .map(|s| side_counters.get(s).copied().unwrap_or(F32::one()))
            .collect();
        let mut byte_counters = HashMap::new();
        for l in 0..BYTES {
            self.sb_ts[l] = fetch::read_counters(self.sb[l].iter().copied(), &mut byte_counters);
        }
        self.byte_final = (0..=255u32)
            .map(|b| byte_counters.get(&b).copied().unwrap_or(F32::one()))
            .collect();
        let gaps = regs::Gaps::new(&pw);
        self.gap = (0..n)
            .map(|k| gaps.gap(self.t_old[k], k as u64 + 1))
            .collect();
        let mut gap_counters = HashMap::new();
        self.gap_ts =
            fetch::read_counters(self.gap.iter().map(|h| h.poly().value()), &mut gap_counters);
        self.gap_final = (0..n)
            .map(|k| {
                let h = pw[k + 1].poly().value();
                gap_counters.get(&h).copied().unwrap_or(F32::one())
            })
            .collect();
    }
}

/// The memory columns (`COL_SIDE..USED`) of a witness over `2^log_rows` rows.
pub(crate) fn columns(w: &MemWitness, log_rows: usize) -> Vec<Vec<F32>> {
    let n = 1usize << log_rows;
    let padded = |v: &[F32]| {
        let mut c = v.to_vec();
        c.resize(n, F32::zero());
        c
    };
    let bytes = |v: &[u32]| v.iter().map(|&b| f32(b)).collect::<Vec<F32>>();
    let mut cols: Vec<Vec<F32>> = (1..SIDE)
        .map(|j| w.side.iter().map(|s| f32(s[j])).collect())
        .collect();
    cols.push(w.side_ts.clone());
    cols.push(padded(&w.side_final));
    cols.push(w.key.iter().map(|&x| f32(x)).collect());
    cols.extend(w.ob.iter().map(|c| bytes(c)));
    cols.extend(w.nb.iter().map(|c| bytes(c)));
    cols.extend(
        w.oh.iter()
            .map(|c| c.iter().map(|&b| f32(b as u32)).collect()),
    );
    cols.extend(w.sb.iter().map(|c| bytes(c)));
    cols.extend(w.sb_ts.iter().cloned());
    cols.push(w.t_old.clone());
    cols.push(w.gap.clone());
    cols.push(w.gap_ts.clone());
    cols.push(w.gap_final.clone());
    for l in 0..BYTES {
        let c: Vec<F32> = w.final_bytes.iter().map(|b| f32(b[l])).collect();
        cols.push(padded(&c));
    }
    cols.push(padded(&w.final_ts));
    cols.push(padded(&w.byte_final));
    cols.push(w.hc.iter().map(|&x| f32(x as u32)).collect());
    cols.push(w.io.iter().map(|&x| f32(x as u32)).collect());
    debug_assert_eq!(cols.len(), USED - COL_SIDE);
    cols
}

/// The native check (debug oracle): the memory witness is the honest one for the CPU
/// witness's rows, lanes, stored values and loads.
pub fn check(
    table: &ProgramTable,
    rows: &[Entry],
    lanes: &[Vec<u8>; 8],
    value: &[u64],
    writes: &[u64],
    w: &MemWitness,
) -> Result<(), MemError> {
    let n = rows.len();
    if w.key.len() != n || (0..BYTES).any(|l| w.nb[l].len() != n) {
        return Err(MemError::Finals);
    }
    // Host rows' words are advice: the witness's own.
    let advice = |k: usize| Some((w.key[k], (0..BYTES).map(|l| (l, w.nb[l][k])).collect()));
    let honest = MemWitness::honest(table, rows, lanes, value, writes, &advice)?;
    fn same<T: PartialEq>(a: &[Vec<T>; BYTES], b: &[Vec<T>; BYTES], k: usize) -> bool {
        (0..BYTES).all(|l| a[l].get(k) == b[l].get(k))
    }
    if w.key.len() != n || w.side.len() != n || w.t_old.len() != n {
        return Err(MemError::Finals);
    }
    for k in 0..n {
        for (what, ok) in [
            ("side entry", w.side[k] == honest.side[k]),
            ("key", w.key[k] == honest.key[k]),
            ("old bytes", same(&w.ob, &honest.ob, k)),
            ("new bytes", same(&w.nb, &honest.nb, k)),
            ("offset", same(&w.oh, &honest.oh, k)),
            ("stored bytes", same(&w.sb, &honest.sb, k)),
            ("timestamp", w.t_old[k] == honest.t_old[k]),
            ("host continuation", w.hc.get(k) == honest.hc.get(k)),
            ("IO flag", w.io.get(k) == honest.io.get(k)),
        ] {
            if !ok {
                return Err(MemError::Inconsistent { row: k, what });
            }
        }
    }
    if *w != honest {
        return Err(MemError::Finals);
    }
    Ok(())
}

/// The memory part of an execution proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemProof {
    /// Over the rows: side `R`, `W`, `Π ts`; memory `C`, `P`; gap `R`, `W`, `Π ts`, `F`, `Init`.
    pub rows: BatchProductProof,
    /// Over the `8N` byte lookups: `R`, `W`, `Π ts`.
    pub bytes: BatchProductProof,
    /// `Π F` over the side table, the memory table (`Final`) and the byte table.
    pub side_finals: GrandProductProof,
    pub mem_finals: GrandProductProof,
    pub byte_finals: GrandProductProof,
    /// The semantics zerocheck.
    pub semantics: SumcheckProof,
}

struct Challenges {
    side_beta: Vec<F128>,
    side_gamma: F128,
    mem_beta: Vec<F128>,
    mem_gamma: F128,
    gap_beta: Vec<F128>,
    gap_gamma: F128,
    byte_beta: Vec<F128>,
    byte_gamma: F128,
}

fn challenges(t: &mut Transcript) -> Challenges {
    let side_beta = t.challenge_f128s(b"pcvm/mem/v1/side-tuple", SIDE + 1);
    let side_gamma = grand_product::draw_gamma(t);
    let mem_beta = t.challenge_f128s(b"pcvm/mem/v1/mem-tuple", BYTES + 3);
    let mem_gamma = grand_product::draw_gamma(t);
    let gap_beta = t.challenge_f128s(b"pcvm/mem/v1/gap-tuple", 2);
    let gap_gamma = grand_product::draw_gamma(t);
    let byte_beta = t.challenge_f128s(b"pcvm/mem/v1/byte-tuple", 2);
    let byte_gamma = grand_product::draw_gamma(t);
    Challenges {
        side_beta,
        side_gamma,
        mem_beta,
        mem_gamma,
        gap_beta,
        gap_gamma,
        byte_beta,
        byte_gamma,
    }
}

fn linear(gamma: F128, beta: &[F128], x: &[F128]) -> F128 {
    x.iter()
        .zip(beta)
        .fold(gamma, |acc, (v, b)| acc.add(&b.mul(v)))
}

fn side_fp(ch: &Challenges, fields: &[F128; SIDE], counter: F128) -> F128 {
    linear(ch.side_gamma, &ch.side_beta, fields).add(&ch.side_beta[SIDE].mul(&counter))
}

fn mem_fp(ch: &Challenges, key: F128, kind: F128, bytes: &[F128; BYTES], ts: F128) -> F128 {
    let b = &ch.mem_beta;
    linear(
        ch.mem_gamma.add(&b[0].mul(&key)).add(&b[1].mul(&kind)),
        &b[2..],
        bytes,
    )
    .add(&b[BYTES + 2].mul(&ts))
}

fn gap_fp(ch: &Challenges, h: F128, counter: F128) -> F128 {
    linear(ch.gap_gamma, &ch.gap_beta, &[h, counter])
}

fn byte_fp(ch: &Challenges, b: F128, counter: F128) -> F128 {
    linear(ch.byte_gamma, &ch.byte_beta, &[b, counter])
}

/// A row's `kind` from its memory selectors and `IO`: 1 on memory rows, 3 on those whose
/// word is in the IO region (host rows must be, by the semantics), 2 (the dummy's) elsewhere.
fn kind_of(mem: F128, io: F128) -> F128 {
    lift(KIND_DUMMY)
        .add(&mem.mul(&lift(KIND_DUMMY ^ KIND_MAPPED)))
        .add(&io.mul(&lift(KIND_IO ^ KIND_MAPPED)))
}

/// The memory selectors' sum, host rows included (at most one is set, so it is their OR):
/// the rows whose tuples name a mapped word.
fn mem_of(ev: &dyn Fn(usize) -> F128) -> F128 {
    [side::L8, side::L64, side::S8, side::S64, side::HOST]
        .iter()
        .fold(F128::zero(), |acc, &j| acc.add(&ev(COL_SIDE + j - 1)))
}

fn side_fields(ev: &dyn Fn(usize) -> F128) -> [F128; SIDE] {
    std::array::from_fn(|j| {
        if j == side::PC {
            ev(field::PC)
        } else {
            ev(COL_SIDE + j - 1)
        }
    })
}

fn group(ev: &dyn Fn(usize) -> F128, col: usize) -> [F128; BYTES] {
    std::array::from_fn(|l| ev(col + l))
}

/// `T̃ = H̃` at a row point: `g^(k+1)`.
fn time_mle(point: &[F128]) -> F128 {
    F128::from(g()).mul(&regs::power_mle(point, 1))
}

/// Inputs of the semantics zerocheck.
mod input {
    use super::BYTES;
    /// `L8, L64, S8, S64, IMM2, V_LO, V_HI, FREE, HOST`.
    pub const SIDE: usize = 0;
    /// The result lanes 0..4 (the address).
    pub const RHO: usize = super::SIDE - 1;
    pub const KEY: usize = RHO + 4;
    pub const OB: usize = KEY + 1;
    pub const NB: usize = OB + BYTES;
    pub const OH: usize = NB + BYTES;
    pub const SB: usize = OH + BYTES;
    /// The slot-`a` read (the stored register), then the row's write.
    pub const A_LO: usize = SB + BYTES;
    pub const A_HI: usize = A_LO + 1;
    pub const R_LO: usize = A_HI + 1;
    pub const R_HI: usize = R_LO + 1;
    pub const T_OLD: usize = R_HI + 1;
    pub const GAP: usize = T_OLD + 1;
    /// `T(k) = g^(k+1)`, verifier-known.
    pub const T: usize = GAP + 1;
    pub const IO: usize = T + 1;
    pub const COUNT: usize = IO + 1;
}

/// Semantics identities (see the module docs).
pub const IDENTITIES: usize = 81;

struct Semantics<'a> {
    lambda: &'a [F128],
}

impl Composition for Semantics<'_> {
    fn num_inputs(&self) -> usize {
        input::COUNT
    }
    fn degree(&self) -> usize {
        3
    }
    fn eval(&self, x: &[F128]) -> F128 {
        let one = F128::one();
        let s = |j: usize| x[input::SIDE + j - 1];
        let (l8, l64, s8, s64, imm2, host) = (
            s(side::L8),
            s(side::L64),
            s(side::S8),
            s(side::S64),
            s(side::IMM2),
            s(side::HOST),
        );
        let ob = |l: usize| x[input::OB + l];
        let nb = |l: usize| x[input::NB + l];
        let oh = |l: usize| x[input::OH + l];
        let sb = |l: usize| x[input::SB + l];
        let mem = l8.add(&l64).add(&s8).add(&s64);
        let store = s8.add(&s64);
        let mut acc = F128::zero();
        let mut i = 0;
        let mut add = |v: F128| {
            acc = acc.add(&self.lambda[i].mul(&v));
            i += 1;
        };
        for l in 0..BYTES {
            add(one.add(&store).add(&host).mul(&nb(l).add(&ob(l))));
            add(s64.add(&host).mul(&nb(l).add(&sb(l))));
            add(s8.mul(&nb(l).add(&ob(l)).add(&oh(l).mul(&sb(0).add(&ob(l))))));
        }
        let picked = (0..BYTES).fold(F128::zero(), |a, l| a.add(&oh(l).mul(&ob(l))));
        add(l8.mul(&x[input::R_LO].add(&picked)));
        add(l8.mul(&x[input::R_HI]));
        for h in 0..2 {
            add(l64.mul(&x[input::R_LO + h].add(&crate::alu::pack_half(x, input::OB, h))));
            let v = one
                .add(&imm2)
                .mul(&x[input::A_LO + h])
                .add(&imm2.mul(&s(side::V_LO + h)));
            add(store.mul(&crate::alu::pack_half(x, input::SB, h).add(&v)));
        }
        add(l64.add(&s64).mul(&one.add(&oh(0))));
        let ones = (0..BYTES).fold(F128::zero(), |a, l| a.add(&oh(l)));
        add(mem.mul(&one.add(&ones)));
        for a in 0..BYTES {
            add(oh(a).mul(&one.add(&oh(a))));
            for b in a + 1..BYTES {
                add(oh(a).mul(&oh(b)));
            }
        }
        let offset = (0..BYTES).fold(F128::zero(), |a, l| a.add(&oh(l).mul(&lift(l as u32))));
        let rho_lo = crate::alu::pack_half(x, input::RHO, 0);
        // A host row's word is the host's advice (the memory multiset keeps it mapped).
        add(one
            .add(&host)
            .mul(&x[input::KEY].add(&mem.mul(&rho_lo.add(&offset)))));
        for l in 0..BYTES {
            add(host.mul(&oh(l)));
        }
        add(x[input::T_OLD].mul(&x[input::GAP]).add(&x[input::T]));
        // `IO` is a bit, set only on rows that name a word, and always on host rows: with the
        // kind in the memory tuple, a host row can write only the IO region.
        let io = x[input::IO];
        add(io.mul(&one.add(&io)));
        add(io.mul(&one.add(&mem).add(&host)));
        add(host.mul(&one.add(&io)));
        acc
    }
}

fn semantics_inputs(ev: &dyn Fn(usize) -> F128, t: F128) -> Vec<F128> {
    let mut v = vec![F128::zero(); input::COUNT];
    for j in 1..SIDE {
        v[input::SIDE + j - 1] = ev(COL_SIDE + j - 1);
    }
    for l in 0..4 {
        v[input::RHO + l] = ev(crate::alu::COL_R + l);
    }
    v[input::KEY] = ev(COL_KEY);
    for (to, from) in [
        (input::OB, COL_OB),
        (input::NB, COL_NB),
        (input::OH, COL_OH),
        (input::SB, COL_SB),
    ] {
        for l in 0..BYTES {
            v[to + l] = ev(from + l);
        }
    }
    v[input::A_LO] = ev(COL_OLD_LO);
    v[input::A_HI] = ev(COL_OLD_HI);
    v[input::R_LO] = ev(COL_NEW_LO);
    v[input::R_HI] = ev(COL_NEW_HI);
    v[input::T_OLD] = ev(COL_T_OLD);
    v[input::GAP] = ev(COL_GAP);
    v[input::T] = t;
    v[input::IO] = ev(COL_IO);
    v
}

fn lambdas(t: &mut Transcript) -> Vec<F128> {
    let l = t.challenge_f128(b"pcvm/mem/v1/lambda");
    let mut out = vec![F128::one()];
    for _ in 1..IDENTITIES {
        let last = out[out.len() - 1];
        out.push(last.mul(&l));
    }
    out
}

fn pad_point(point: &[F128], log_rows: usize) -> Vec<F128> {
    fetch::row_point(point, log_rows)
}

/// The row-batch leaves of row `k`.
fn row_leaves(ch: &Challenges, ev: &dyn Fn(usize) -> F128, time: F128) -> [F128; 10] {
    let gl = F128::from(g());
    let fields = side_fields(ev);
    let (side_ts, gap_ts) = (ev(COL_SIDE_TS), ev(COL_GAP_TS));
    let kind = kind_of(mem_of(ev), ev(COL_IO));
    let (key, gap) = (ev(COL_KEY), ev(COL_GAP));
    [
        side_fp(ch, &fields, side_ts),
        side_fp(ch, &fields, gl.mul(&side_ts)),
        side_ts,
        mem_fp(ch, key, kind, &group(ev, COL_OB), ev(COL_T_OLD)),
        mem_fp(ch, key, kind, &group(ev, COL_NB), time),
        gap_fp(ch, gap, gap_ts),
        gap_fp(ch, gap, gl.mul(&gap_ts)),
        gap_ts,
        gap_fp(ch, time, ev(COL_GAP_FINAL)),
        gap_fp(ch, time, F128::one()),
    ]
}

fn byte_leaves(ch: &Challenges, ev: &dyn Fn(usize) -> F128, l: usize) -> [F128; 3] {
    let (b, ts) = (ev(COL_SB + l), ev(COL_SB_TS + l));
    [
        byte_fp(ch, b, ts),
        byte_fp(ch, b, F128::from(g()).mul(&ts)),
        ts,
    ]
}

/// Proves memory on the transcript of an execution proof; `col(c, k)` is committed column
/// `c` at row `k` (every column, lifted). Returns the proof and the row points at which the
/// caller must state every column: six, then one per public output (its word's cell).
pub(crate) fn prove(
    table: &ProgramTable,
    log_rows: usize,
    col: &(dyn Fn(usize, usize) -> F128 + Sync),
    outputs: &[Output],
    t: &mut Transcript,
) -> Result<(MemProof, Vec<Vec<F128>>), RegsError> {
    let n = 1usize << log_rows;
    let m = &table.memory;
    let output_points = output_points(table, log_rows, outputs)?;
    let ch = challenges(t);
    let pw = powers(n);
    let per_row: Vec<[F128; 10]> = (0..n)
        .into_par_iter()
        .map(|k| row_leaves(&ch, &|c| col(c, k), F128::from(pw[k + 1])))
        .collect();
    let (rows, r_rows, _) = grand_product::prove_batch(
        (0..10)
            .map(|j| per_row.iter().map(|v| v[j]).collect())
            .collect(),
        t,
    );
    drop(per_row);
    let per_lookup: Vec<[F128; 3]> = (0..BYTES * n)
        .into_par_iter()
        .map(|o| byte_leaves(&ch, &|c| col(c, o % n), o / n))
        .collect();
    let (bytes, r_bytes, _) = grand_product::prove_batch(
        (0..3)
            .map(|j| per_lookup.iter().map(|v| v[j]).collect())
            .collect(),
        t,
    );
    drop(per_lookup);
    let side_leaves: Vec<F128> = m
        .side
        .iter()
        .enumerate()
        .map(|(i, s)| side_fp(&ch, &s.map(lift), col(COL_SIDE_FINAL, i)))
        .collect();
    let (side_finals, r_side, _) = grand_product::prove(side_leaves, t);
    let mem_leaves: Vec<F128> = (0..m.keys.len())
        .map(|i| {
            let bytes = std::array::from_fn(|l| col(COL_FINAL_BYTES + l, i));
            mem_fp(
                &ch,
                lift(m.keys[i]),
                lift(m.kinds[i]),
                &bytes,
                col(COL_FINAL_TS, i),
            )
        })
        .collect();
    let (mem_finals, r_mem, _) = grand_product::prove(mem_leaves, t);
    let byte_leaves: Vec<F128> = (0..1usize << LOG_BYTE_TABLE)
        .map(|j| byte_fp(&ch, lift(j as u32), col(COL_BYTE_FINAL, j)))
        .collect();
    let (byte_finals, r_byte, _) = grand_product::prove(byte_leaves, t);
    let lambda = lambdas(t);
    let per_row: Vec<Vec<F128>> = (0..n)
        .into_par_iter()
        .map(|k| semantics_inputs(&|c| col(c, k), F128::from(pw[k + 1])))
        .collect();
    let inputs: Vec<Vec<F128>> = (0..input::COUNT)
        .map(|i| per_row.iter().map(|v| v[i]).collect())
        .collect();
    drop(per_row);
    let tau = zerocheck::draw_tau(t, log_rows);
    let (semantics, z) = zerocheck::prove(inputs, &Semantics { lambda: &lambda }, &tau, t);
    let mut points = vec![
        r_rows,
        r_bytes[..log_rows].to_vec(),
        pad_point(&r_side, log_rows),
        pad_point(&r_mem, log_rows),
        pad_point(&r_byte, log_rows),
        z,
    ];
    points.extend(output_points);
    Ok((
        MemProof {
            rows,
            bytes,
            side_finals,
            mem_finals,
            byte_finals,
            semantics,
        },
        points,
    ))
}

fn reject(what: &'static str) -> RegsError {
    EngineError::FinalEvaluation(what).into()
}

/// The MLEs of `K` fields of a table at one point (one `eq` table for all of them).
fn table_mles<T, const K: usize>(
    entries: &[T],
    point: &[F128],
    f: impl Fn(&T) -> [u32; K],
) -> [F128; K] {
    let eq = eq_table(point);
    entries
        .iter()
        .zip(&eq)
        .fold([F128::zero(); K], |acc, (e, w)| {
            let x = f(e);
            std::array::from_fn(|j| {
                if x[j] == 0 {
                    acc[j]
                } else {
                    acc[j].add(&w.mul(&lift(x[j])))
                }
            })
        })
}

/// Verifies the memory part, given the column vectors stated at its points (in order: six,
/// then one per public output); returns those points.
pub(crate) fn verify(
    table: &ProgramTable,
    log_rows: usize,
    proof: &MemProof,
    outputs: &[Output],
    evals: &[Vec<F128>],
    t: &mut Transcript,
) -> Result<Vec<Vec<F128>>, RegsError> {
    let m = &table.memory;
    if evals.len() != 6 + outputs.len() || m.log_entries > log_rows || LOG_BYTE_TABLE > log_rows {
        return Err(EngineError::Shape("memory column evaluations").into());
    }
    let ch = challenges(t);
    let rows = grand_product::verify_batch(log_rows, 10, &proof.rows, t)?;
    let bytes = grand_product::verify_batch(log_rows + LOG_BYTES, 3, &proof.bytes, t)?;
    let (p_sf, r_side, c_side) = grand_product::verify(table.log_entries, &proof.side_finals, t)?;
    let (p_mf, r_mem, c_mem) = grand_product::verify(m.log_entries, &proof.mem_finals, t)?;
    let (p_bf, r_byte, c_byte) = grand_product::verify(LOG_BYTE_TABLE, &proof.byte_finals, t)?;

    let p = &rows.products;
    let init_side = m.side.iter().fold(F128::one(), |acc, s| {
        acc.mul(&side_fp(&ch, &s.map(lift), F128::one()))
    });
    // Most of the table is zero words (the stack): their fingerprints skip the bytes.
    let base = ch.mem_gamma.add(&ch.mem_beta[BYTES + 2]);
    let init_mem = (0..m.keys.len()).fold(F128::one(), |acc, i| {
        let b = &ch.mem_beta;
        let mut fp = base
            .add(&b[0].mul(&lift(m.keys[i])))
            .add(&b[1].mul(&lift(m.kinds[i])));
        for (l, &byte) in m.init[i].iter().enumerate() {
            if byte != 0 {
                fp = fp.add(&b[2 + l].mul(&lift(byte as u32)));
            }
        }
        acc.mul(&fp)
    });
    let init_byte = (0..1u32 << LOG_BYTE_TABLE).fold(F128::one(), |acc, j| {
        acc.mul(&byte_fp(&ch, lift(j), F128::one()))
    });
    if p[2] == F128::zero() || p[7] == F128::zero() || bytes.products[2] == F128::zero() {
        return Err(reject("a memory counter is zero"));
    }
    if init_side.mul(&p[1]) != p[0].mul(&p_sf) {
        return Err(reject("memory side table: Init ∪ W ≠ R ∪ F"));
    }
    if init_mem.mul(&p[4]) != p[3].mul(&p_mf) {
        return Err(reject("memory: Init ∪ P ≠ C ∪ Final"));
    }
    if p[9].mul(&p[6]) != p[5].mul(&p[8]) {
        return Err(reject("memory range: Init ∪ W ≠ R ∪ F"));
    }
    if init_byte.mul(&bytes.products[1]) != bytes.products[0].mul(&p_bf) {
        return Err(reject("stored bytes: Init ∪ W ≠ R ∪ F"));
    }

    let [ev_rows, ev_bytes, ev_side, ev_mem, ev_byte, ev_z] = [0, 1, 2, 3, 4, 5].map(|i| &evals[i]);
    fn at(ev: &[F128]) -> impl Fn(usize) -> F128 + '_ {
        move |c| ev[c]
    }
    let time = time_mle(&rows.point);
    if row_leaves(&ch, &at(ev_rows), time)[..] != rows.claims[..] {
        return Err(reject("memory row leaves"));
    }
    let (r_b, r_l) = bytes.point.split_at(log_rows);
    let eq_l = eq_table(r_l);
    let expected: Vec<F128> = (0..3)
        .map(|j| {
            (0..BYTES).fold(F128::zero(), |acc, l| {
                acc.add(&eq_l[l].mul(&byte_leaves(&ch, &at(ev_bytes), l)[j]))
            })
        })
        .collect();
    if expected != bytes.claims {
        return Err(reject("stored byte leaves"));
    }
    let side_mle: [F128; SIDE] = table_mles(&m.side, &r_side, |s| *s);
    if side_fp(&ch, &side_mle, ev_side[COL_SIDE_FINAL]) != c_side {
        return Err(reject("memory side table leaves"));
    }
    let entries: Vec<[u32; 2]> = m.keys.iter().zip(&m.kinds).map(|(&k, &c)| [k, c]).collect();
    let [key, kind] = table_mles(&entries, &r_mem, |e| *e);
    let final_bytes = group(&at(ev_mem), COL_FINAL_BYTES);
    if mem_fp(&ch, key, kind, &final_bytes, ev_mem[COL_FINAL_TS]) != c_mem {
        return Err(reject("memory table leaves"));
    }
    let byte = (0..LOG_BYTE_TABLE).fold(F128::zero(), |acc, i| {
        acc.add(&lift(1 << i).mul(&r_byte[i]))
    });
    if byte_fp(&ch, byte, ev_byte[COL_BYTE_FINAL]) != c_byte {
        return Err(reject("byte table leaves"));
    }

    let lambda = lambdas(t);
    let tau = zerocheck::draw_tau(t, log_rows);
    let (z, zevals) = zerocheck::verify(&Semantics { lambda: &lambda }, &tau, &proof.semantics, t)?;
    if zevals != semantics_inputs(&at(ev_z), time_mle(&z)).as_slice() {
        return Err(reject("memory semantics evaluations"));
    }
    // Public outputs: the final bytes stated at each output word's own cell.
    for (o, ev) in outputs.iter().zip(&evals[6..]) {
        if (0..BYTES).any(|l| ev[COL_FINAL_BYTES + l] != lift(o.bytes[l] as u32)) {
            return Err(reject("a public output is not the final memory"));
        }
    }
    let mut points = vec![
        rows.point,
        r_b.to_vec(),
        pad_point(&r_side, log_rows),
        pad_point(&r_mem, log_rows),
        pad_point(&r_byte, log_rows),
        z,
    ];
    points.extend(output_points(table, log_rows, outputs)?);
    Ok(points)
}

/// A public output: the final contents of the aligned word at `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub key: u32,
    pub bytes: [u8; BYTES],
}

/// The row point of each output word's cell in the final-bytes columns: its table index's
/// bits, then zeros.
fn output_points(
    table: &ProgramTable,
    log_rows: usize,
    outputs: &[Output],
) -> Result<Vec<Vec<F128>>, RegsError> {
    outputs
        .iter()
        .map(|o| {
            let i = table.memory.index_of(o.key).ok_or(EngineError::Shape(
                "a public output outside the memory table",
            ))?;
            Ok((0..log_rows)
                .map(|b| {
                    if (i >> b) & 1 == 1 {
                        F128::one()
                    } else {
                        F128::zero()
                    }
                })
                .collect())
        })
        .collect()
}

/// Bytes of the memory part, for size reports.
pub fn proof_bytes(proof: &MemProof) -> usize {
    let layers = crate::sumcheck::proof_bytes;
    16 * (proof.rows.products.len() + proof.bytes.products.len() + 3)
        + layers(&proof.rows.layers)
        + layers(&proof.bytes.layers)
        + layers(&proof.side_finals.layers)
        + layers(&proof.mem_finals.layers)
        + layers(&proof.byte_finals.layers)
        + layers(std::slice::from_ref(&proof.semantics))
}

/// The first `(row, identity)` of the semantics that the columns `col` violate.
#[cfg(test)]
pub(crate) fn failing_identity(
    log_rows: usize,
    col: &dyn Fn(usize, usize) -> F128,
) -> Option<(usize, usize)> {
    let pw = powers(1 << log_rows);
    let unit = |i: usize| {
        let mut l = vec![F128::zero(); IDENTITIES];
        l[i] = F128::one();
        l
    };
    let units: Vec<Vec<F128>> = (0..IDENTITIES).map(unit).collect();
    (0..1usize << log_rows).find_map(|k| {
        let x = semantics_inputs(&|c| col(c, k), F128::from(pw[k + 1]));
        (0..IDENTITIES)
            .find(|&i| Semantics { lambda: &units[i] }.eval(&x) != F128::zero())
            .map(|i| (k, i))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row's semantics inputs: side entry `s`, address `address`, old word `old`, stored
    /// register `a`, register write `r`; new and stored bytes as the row's class says.
    fn row(s: &SideEntry, address: u32, old: [u32; BYTES], a: u64) -> (Vec<F128>, u64) {
        let mem = s[side::L8..=side::S64].contains(&1);
        let off = (address & 7) as usize;
        let v = if s[side::IMM2] == 1 {
            s[side::V_LO] as u64 | (s[side::V_HI] as u64) << 32
        } else {
            a
        };
        let sb = if s[side::S8] | s[side::S64] == 1 {
            v.to_le_bytes().map(u32::from)
        } else {
            [0; BYTES]
        };
        let mut nb = old;
        if s[side::S64] == 1 {
            nb = sb;
        } else if s[side::S8] == 1 {
            nb[off] = sb[0];
        }
        let r = if s[side::L64] == 1 {
            word(&old)
        } else if s[side::L8] == 1 {
            old[off] as u64
        } else {
            0
        };
        let mut x = vec![F128::zero(); input::COUNT];
        for j in 1..SIDE {
            x[input::SIDE + j - 1] = lift(s[j]);
        }
        for l in 0..4 {
            x[input::RHO + l] = lift((address >> (8 * l)) & 0xff);
        }
        x[input::KEY] = lift(if mem { address & !7 } else { 0 });
        for l in 0..BYTES {
            x[input::OB + l] = lift(old[l]);
            x[input::NB + l] = lift(nb[l]);
            x[input::OH + l] = lift((mem && l == off) as u32);
            x[input::SB + l] = lift(sb[l]);
        }
        x[input::A_LO] = lift(a as u32);
        x[input::A_HI] = lift((a >> 32) as u32);
        x[input::R_LO] = lift(r as u32);
        x[input::R_HI] = lift((r >> 32) as u32);
        // An honest timestamp pair: t_old·gap = T.
        x[input::T_OLD] = lift(9);
        x[input::GAP] = lift(5);
        x[input::T] = lift(9).mul(&lift(5));
        (x, r)
    }

    /// Per memory class on edge values: the honest row satisfies all 70 identities, and each
    /// written byte, the register write, each stored byte, the offset and each selector,
    /// changed, breaks one.
    #[test]
    fn every_memory_input_and_selector_enters_the_identities() {
        let l = F128::from_value(0x0fed_cba9_8765_4321_1357_9bdf_2468_ace0);
        let lambda: Vec<F128> = (0..IDENTITIES as u64).map(|i| l.pow(i)).collect();
        let sem = Semantics { lambda: &lambda };
        let holds = |x: &[F128]| sem.eval(x) == F128::zero();
        let classes: Vec<SideEntry> = [side::L8, side::L64, side::S8, side::S64]
            .iter()
            .flat_map(|&c| {
                let mut s = [0u32; SIDE];
                s[c] = 1;
                let mut imm = s;
                imm[side::IMM2] = 1;
                imm[side::V_LO] = 0xffff_ff85;
                imm[side::V_HI] = u32::MAX;
                let stores = c == side::S8 || c == side::S64;
                if stores {
                    vec![s, imm]
                } else {
                    vec![s]
                }
            })
            .chain([[0u32; SIDE]])
            .collect();
        let old = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let a = 0xdead_beef_0123_4567u64;
        for s in &classes {
            let words = s[side::L64] | s[side::S64] == 1;
            for address in [0x3_0000u32, 0x3_0005, 0xfffd_fff8] {
                if words && address % 8 != 0 {
                    continue;
                }
                let (x, _) = row(s, address, old, a);
                assert!(holds(&x), "{s:?} at {address:#x}");
                let bumped = |i: usize| {
                    let mut y = x.clone();
                    y[i] = y[i].add(&F128::one());
                    holds(&y)
                };
                for l in 0..BYTES {
                    assert!(!bumped(input::NB + l), "{s:?}: new byte {l}");
                }
                for h in 0..2 {
                    assert_eq!(
                        bumped(input::R_LO + h),
                        s[side::L8] | s[side::L64] == 0,
                        "{s:?}: write half {h}"
                    );
                }
                if s[side::S8] | s[side::S64] == 1 {
                    for l in 0..BYTES {
                        assert!(!bumped(input::SB + l), "{s:?}: stored byte {l}");
                    }
                }
                assert!(!bumped(input::KEY), "{s:?}: key");
                assert!(!bumped(input::T_OLD), "{s:?}: timestamp");
                if s[side::L8..=side::S64].contains(&1) {
                    // The offset moved to the next byte.
                    let off = (address & 7) as usize;
                    let mut y = x.clone();
                    y[input::OH + off] = F128::zero();
                    y[input::OH + (off + 1) % BYTES] = F128::one();
                    assert!(!holds(&y), "{s:?}: offset");
                }
                // Each selector, flipped, breaks the row; `IMM2` only where there is a store
                // (the register and the immediate differ here).
                let store = s[side::S8] | s[side::S64] == 1;
                for j in side::L8..=side::IMM2 {
                    let mut y = x.clone();
                    y[input::SIDE + j - 1] = y[input::SIDE + j - 1].add(&F128::one());
                    let live = j != side::IMM2 || store;
                    assert_eq!(holds(&y), !live, "{s:?} at {address:#x}: selector {j}");
                }
            }
        }
    }

    #[test]
    fn layout_fits() {
        const { assert!(USED <= COLUMNS) };
        assert_eq!(1 << LOG_COLUMNS, COLUMNS);
        // The semantics inputs tile 0..COUNT in order, each group its width.
        let groups = [
            (input::SIDE, SIDE - 1),
            (input::RHO, 4),
            (input::KEY, 1),
            (input::OB, BYTES),
            (input::NB, BYTES),
            (input::OH, BYTES),
            (input::SB, BYTES),
            (input::A_LO, 4),
            (input::T_OLD, 3),
            (input::IO, 1),
        ];
        let mut next = 0;
        for (start, width) in groups {
            assert_eq!(start, next);
            next += width;
        }
        assert_eq!(next, input::COUNT);
    }
}
