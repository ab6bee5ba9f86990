//! `da-zoda2d`: the privacy-first chain's data-availability plugin. ZODA (Evans, Mohnblatt,
//! Angeris, eprint 2025/034) in the shape `../shared/research/zoda.md` §3 derives for validator
//! dissemination: a shard proves, on receipt, that its rows belong to *one* codeword, which
//! da-rs1d's Merkle paths cannot.
//!
//! # Construction (one block of B bytes)
//! 1. The data is an n × n' matrix X̃ of GF(2^16) symbols (n data rows of 2n' bytes).
//! 2. Column code: `X = G X̃`, the m = V·S rows of a systematic Reed-Solomon code (rows 0..n are
//!    X̃). `root` = Merkle root over the m rows.
//! 3. `c0 = H(params, shape, B, root)`; `R = XOF(c0)`, an n' × 8 GF(2^16) matrix. R is fixed only
//!    after the rows are, so the encoder cannot fit the data to the challenge.
//! 4. Checksum `W = X̃ R` (n × 8): the tensor construction's one column `Y = X̃ D_r G'^T` of the
//!    row code, with its GF(2^128) randomness written as 8 GF(2^16) coordinates (zoda.md §1).
//! 5. `c1 = H(c0, W)`: the checksum is bound into the commitment the header carries and the
//!    validators vote on; a per-validator W changes c1 (equivocation is a different block).
//! 6. `π = shuffle(XOF(c1), m)`: validator v holds rows `π[vS..(v+1)S)`, a disjoint random
//!    partition drawn after everything it is checked against is fixed.
//!
//! A shard is `(W, its S rows, a multiproof)`. [`Zoda2d::verify_shard`] recomputes c0, R, c1 and
//! π, checks the multiproof, encodes `GW` (n shards of 16 bytes) and checks `x_i · R = (GW)_i`
//! for each of its rows: `GW` is a codeword, so if X is far from the code, each row disagrees
//! with probability ≥ β ≈ (1 − ρ)/2, and an accepted row of a close X is the row of its unique
//! nearest codeword. Any k checked shards hold ≥ n rows and decode (any n rows of an RS code).
//!
//! # Security modes (`[da.params] mode`)
//! The rows per validator S decide who is convinced ([`shape`]):
//! - `standalone` (A): every validator alone, at `security_bits` (126). Needs V·S ≤ 65,535, so it
//!   is unreachable at V = 1023 in GF(2^16) (instantiation says so).
//! - `certificate` (B, default): a certificate of q votes implies a decodable codeword except with
//!   probability 2^-`security_bits` (128), with ≥ 2/3 honest. One accept alone means little.
//!
//! [`byzantine`] builds the malicious encoders of zoda.md §5 (the tests' and the simulator's
//! byzantine author's, through `[da.params] adversary`).
//!
//! Not built: the row extension G' with a cell tree for 2D light-client *cell* sampling (zoda.md
//! §4); [`Zoda2d::sample`] picks whole shards. Measured (`bench/zoda-baseline`): at V = 1023 a
//! light client downloads 1.63 / 3.2 / 5.1 MB for 40 / 80 / 128 bits at 14 MB and 393 KB / 771 KB
//! / 1.22 MB at 1 MiB, not the seed's "~300 kB": that needs the cell layer (≈248 KB at 128 bits).

pub mod byzantine;
pub mod code;
pub mod gf;
pub mod merkle;
pub mod shape;

use diverge_plugins::codec::{decode_exact, Decode, Encode};
use diverge_plugins::ffi::Plugin;
use diverge_plugins::{
    blake2b_256, Axis, CaseFormat, CaseOutcome, CheckedShard, DaShape, DataAvailability, Encoded,
    ErrorKind, Hash, InitArgs, Instance, MaliciousEncoding, PluginError,
};
use rayon::prelude::*;
use serde::Deserialize;

use crate::gf::{CHECK_ROW_BYTES, T};
pub use crate::shape::{Committee, Mode, Shape};

/// Everything that can go wrong; each maps to a [`PluginError`] kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZodaError {
    /// Bytes that do not parse.
    #[error("{what}: {detail}")]
    Malformed {
        /// Which input.
        what: &'static str,
        /// The codec's complaint.
        detail: String,
    },
    /// A commitment for another validator set or mode.
    #[error("commitment is for V={v} k={k} mode {mode}, this chain uses V={our_v} k={our_k} mode {our_mode}")]
    OtherChain {
        /// Its V.
        v: u16,
        /// Its k.
        k: u16,
        /// Its mode tag.
        mode: u8,
        /// Ours.
        our_v: u32,
        /// Ours.
        our_k: u32,
        /// Ours.
        our_mode: u8,
    },
    /// A shape that is malformed or too weak for this chain's security target.
    #[error("commitment shape rejected: {0}")]
    BadShape(String),
    /// Shard index ≥ V.
    #[error("shard index {index} out of range (V = {validators})")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// V.
        validators: u32,
    },
    /// Sizes inside a shard that the commitment does not imply.
    #[error("shard {index}: {detail}")]
    ShardSize {
        /// The shard.
        index: u32,
        /// What is off.
        detail: String,
    },
    /// The shard's checksum is not the one the commitment binds.
    #[error("shard {index}: checksum does not hash to the committed c1 (equivocating or forged checksum)")]
    ChecksumMismatch {
        /// The shard.
        index: u32,
    },
    /// The multiproof does not lead to the committed root.
    #[error("shard {index}: multiproof does not lead to the committed row root")]
    BadProof {
        /// The shard.
        index: u32,
    },
    /// A row that disagrees with the checksum codeword: the encoding is not one codeword.
    #[error("shard {index}: row at position {position} disagrees with the checksum (inconsistent encoding)")]
    InconsistentRow {
        /// The shard.
        index: u32,
        /// The row's position among the m encoded rows.
        position: u32,
    },
    /// Fewer distinct shards than k.
    #[error("too few shards: need {need}, got {got}")]
    TooFewShards {
        /// k.
        need: u32,
        /// Distinct shards given.
        got: u32,
    },
    /// The same shard twice.
    #[error("duplicate shard index {0}")]
    DuplicateShard(u32),
    /// Parameters that cannot work.
    #[error("{0}")]
    Config(String),
    /// The payload does not fit the commitment's u32 length.
    #[error("payload of {0} bytes: over 4 GiB")]
    TooLarge(usize),
    /// reed-solomon-simd refused inputs that passed validation (a bug, reported, not unwrapped).
    #[error("reed-solomon-simd: {0}")]
    Backend(String),
}

impl From<ZodaError> for PluginError {
    fn from(e: ZodaError) -> PluginError {
        let kind = match &e {
            ZodaError::Malformed { .. } | ZodaError::TooLarge(_) => ErrorKind::InvalidInput,
            ZodaError::Config(_) => ErrorKind::Config,
            ZodaError::Backend(_) => ErrorKind::Internal,
            _ => ErrorKind::Rejected,
        };
        PluginError::new(kind, e.to_string())
    }
}

/// What the header carries.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Commitment {
    /// V.
    pub validators: u16,
    /// k.
    pub k: u16,
    /// [`Mode::tag`].
    pub mode: u8,
    /// B: payload bytes.
    pub data_len: u32,
    /// S: rows per shard.
    pub rows_per_shard: u16,
    /// n: data rows.
    pub data_rows: u16,
    /// Merkle root over the m encoded rows.
    pub root: Hash,
    /// c1 = H(c0, W): binds the checksum.
    pub c1: Hash,
}

/// What validator v receives.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Shard {
    /// W = X̃R: n rows of 16 bytes (8 symbols in reed-solomon-simd's layout).
    pub checksum: Vec<u8>,
    /// The S rows at positions π[vS..(v+1)S), in that order.
    pub rows: Vec<Vec<u8>>,
    /// Multiproof of those rows against the root.
    pub proof: Vec<Hash>,
}

/// Plugin parameters (`[da.params]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `"certificate"` (B, default) or `"standalone"` (A).
    #[serde(default = "default_mode")]
    pub mode: ModeName,
    /// Soundness target in bits: per validator in mode A (default 126, commonware's), per
    /// certificate in mode B (default 128).
    #[serde(default)]
    pub security_bits: Option<f64>,
    /// Light-client sampling target: a block withheld beyond recovery goes unnoticed by
    /// [`Zoda2d::sample`]'s shards with probability ≤ 2^-sample_bits.
    #[serde(default = "default_sample_bits")]
    pub sample_bits: f64,
    /// Adversary knob, set only by the simulator's byzantine author (`malicious_encoder`
    /// faults), never by a chain config: `encode` then publishes this construction of
    /// [`byzantine`] instead of the honest encoding. Checking and decoding stay honest.
    #[serde(default)]
    pub adversary: Option<MaliciousEncoding>,
}

/// The config spelling of [`Mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    /// Mode A.
    Standalone,
    /// Mode B.
    Certificate,
}

fn default_mode() -> ModeName {
    ModeName::Certificate
}

fn default_sample_bits() -> f64 {
    40.0
}

impl Default for Params {
    fn default() -> Self {
        Params {
            mode: default_mode(),
            security_bits: None,
            sample_bits: default_sample_bits(),
            adversary: None,
        }
    }
}

impl Params {
    /// Mode A at its default security.
    pub fn standalone() -> Params {
        Params {
            mode: ModeName::Standalone,
            ..Params::default()
        }
    }

    /// Mode B at its default security.
    pub fn certificate() -> Params {
        Params::default()
    }
}

/// One instance: a validator set, a mode, a security target.
#[derive(Debug, Clone)]
pub struct Zoda2d {
    committee: Committee,
    mode: Mode,
    bits: f64,
    sample_bits: f64,
    adversary: Option<MaliciousEncoding>,
}

/// A verifier may accept a shape whose bits came out a hair lower than the encoder's on
/// another machine's libm.
const BITS_SLACK: f64 = 1e-6;

fn malformed(what: &'static str) -> impl FnOnce(diverge_plugins::codec::CodecError) -> ZodaError {
    move |e| ZodaError::Malformed {
        what,
        detail: e.to_string(),
    }
}

/// A counter-mode Blake2b XOF: `block_i = H(tag ‖ seed ‖ i)`.
struct Xof {
    tag: &'static [u8],
    seed: Hash,
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl Xof {
    fn new(tag: &'static [u8], seed: Hash) -> Xof {
        Xof {
            tag,
            seed,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }

    fn refill(&mut self) {
        let mut input = Vec::with_capacity(self.tag.len() + 40);
        input.extend_from_slice(self.tag);
        input.extend_from_slice(&self.seed.0);
        input.extend_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        self.buf = blake2b_256(&input).0;
        self.pos = 0;
    }

    fn next_u16(&mut self) -> u16 {
        if self.pos + 2 > 32 {
            self.refill();
        }
        let v = u16::from_le_bytes([self.buf[self.pos], self.buf[self.pos + 1]]);
        self.pos += 2;
        v
    }

    fn next_u64(&mut self) -> u64 {
        if self.pos + 8 > 32 {
            self.refill();
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
        self.pos += 8;
        u64::from_le_bytes(b)
    }
}

/// The Fiat–Shamir challenge R as logs (`log_r[j*T + c]`), n' × T. Every 16-bit word is a field
/// element, so there is no rejection sampling. Generated in parallel blocks of 4096 symbols
/// (each block its own XOF stream) because at n = 84 and 14 MB it is 660k words.
fn challenge(c0: &Hash, row_symbols: usize) -> Vec<u32> {
    const BLOCK: usize = 4096;
    let log = &gf::tables().log;
    let mut out = vec![0u32; row_symbols * T];
    out.par_chunks_mut(BLOCK * T)
        .enumerate()
        .for_each(|(b, chunk)| {
            let mut seed = Vec::with_capacity(40);
            seed.extend_from_slice(&c0.0);
            seed.extend_from_slice(&(b as u64).to_le_bytes());
            let mut x = Xof::new(b"zoda2d/R", blake2b_256(&seed));
            for w in chunk {
                *w = log[usize::from(x.next_u16())];
            }
        });
    out
}

/// The row permutation from c1 (Fisher–Yates; the modulo bias of a 64-bit draw over ≤ 2^16
/// positions is below 2^-48).
fn permutation(c1: &Hash, rows: u32) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..rows).collect();
    let mut x = Xof::new(b"zoda2d/shuffle", *c1);
    for i in (1..perm.len()).rev() {
        let j = (x.next_u64() % (i as u64 + 1)) as usize;
        perm.swap(i, j);
    }
    perm
}

fn c1_of(c0: &Hash, checksum: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(48 + checksum.len());
    buf.extend_from_slice(b"zoda2d/c1");
    buf.extend_from_slice(&c0.0);
    buf.extend_from_slice(checksum);
    blake2b_256(&buf)
}

/// `GW`: all m checksum rows (n given, m − n by the column code).
fn extend_checksum(checksum: &[u8], shape: &Shape) -> Result<Vec<Vec<u8>>, ZodaError> {
    let data: Vec<Vec<u8>> = checksum
        .chunks_exact(CHECK_ROW_BYTES)
        .map(<[u8]>::to_vec)
        .collect();
    let parity = code::extend(&data, shape.rows as usize)?;
    Ok(data.into_iter().chain(parity).collect())
}

impl Zoda2d {
    /// V validators, any k of which decode.
    pub fn new(validators: u16, k: u16, params: Params) -> Result<Zoda2d, ZodaError> {
        let (v, k32) = (u32::from(validators), u32::from(k));
        // k < V, except a one-validator chain (`diverge run --dev`): V = k = 1 is a proper
        // instance of the same construction (m = S rows, n < S data rows, all held by the one
        // validator, the checksum still checked), not a special case.
        if k == 0 || (k >= validators && !(k == 1 && validators == 1)) {
            return Err(ZodaError::Config(format!(
                "need 1 ≤ k < V (or k = V = 1), got k={k} V={validators}"
            )));
        }
        let mode = match params.mode {
            ModeName::Standalone => Mode::Standalone,
            ModeName::Certificate => Mode::Certificate,
        };
        let bits = params.security_bits.unwrap_or(match mode {
            Mode::Standalone => 126.0,
            Mode::Certificate => 128.0,
        });
        if !(1.0..=256.0).contains(&bits) {
            return Err(ZodaError::Config(format!(
                "security_bits = {bits}: expected 1..=256"
            )));
        }
        if !(1.0..=256.0).contains(&params.sample_bits) {
            return Err(ZodaError::Config(format!(
                "sample_bits = {}: expected 1..=256",
                params.sample_bits
            )));
        }
        let committee = Committee::new(v, k32);
        // Feasibility hardly depends on B (the best shapes use few data rows), so an
        // impossible target is a config error now rather than at the first block.
        if shape::design(&committee, mode, bits, 0).is_none() {
            let why = match mode {
                Mode::Standalone => format!(
                    "mode \"standalone\" cannot reach {bits} bits per validator at V={v}: \
                     V·S ≤ 65,535 rows in GF(2^16) caps it at {:.1} bits; use mode \
                     \"certificate\" or lower security_bits",
                    shape::standalone_ceiling(&committee)
                ),
                Mode::Certificate => format!(
                    "mode \"certificate\" cannot reach {bits} bits at V={v} k={k} within 65,535 rows"
                ),
            };
            return Err(ZodaError::Config(why));
        }
        Ok(Zoda2d {
            committee,
            mode,
            bits,
            sample_bits: params.sample_bits,
            adversary: params.adversary,
        })
    }

    /// From the chain parameters and the `[da.params]` JSON.
    pub fn from_init(args: &InitArgs) -> Result<Zoda2d, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[da.params]: {e}")))?
        };
        Ok(Zoda2d::new(
            args.chain.validators,
            args.chain.erasure_k,
            params,
        )?)
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The shape [`Zoda2d::encode`] uses for `data_len` bytes.
    pub fn shape_for(&self, data_len: usize) -> Result<Shape, ZodaError> {
        shape::design(&self.committee, self.mode, self.bits, data_len as u64).ok_or_else(|| {
            ZodaError::Config(format!(
                "no shape reaches {} bits for {data_len} bytes",
                self.bits
            ))
        })
    }

    fn c0(&self, c: &Commitment, shape: &Shape) -> Hash {
        let mut buf = Vec::with_capacity(96);
        buf.extend_from_slice(b"zoda2d/c0");
        buf.extend_from_slice(&c.validators.to_le_bytes());
        buf.extend_from_slice(&c.k.to_le_bytes());
        buf.push(c.mode);
        buf.extend_from_slice(&shape.rows_per_shard.to_le_bytes());
        buf.extend_from_slice(&shape.data_rows.to_le_bytes());
        buf.extend_from_slice(&shape.row_symbols.to_le_bytes());
        buf.extend_from_slice(&shape.rows.to_le_bytes());
        buf.push(T as u8);
        buf.extend_from_slice(&c.data_len.to_le_bytes());
        buf.extend_from_slice(&c.root.0);
        blake2b_256(&buf)
    }

    /// Parses a commitment and checks it is for this chain, mode and a secure shape.
    pub fn commitment(&self, bytes: &[u8]) -> Result<(Commitment, Shape), ZodaError> {
        let c: Commitment = decode_exact(bytes).map_err(malformed("commitment"))?;
        let cm = &self.committee;
        if u32::from(c.validators) != cm.validators
            || u32::from(c.k) != cm.k
            || c.mode != self.mode.tag()
        {
            return Err(ZodaError::OtherChain {
                v: c.validators,
                k: c.k,
                mode: c.mode,
                our_v: cm.validators,
                our_k: cm.k,
                our_mode: self.mode.tag(),
            });
        }
        let n = u32::from(c.data_rows);
        let s = u32::from(c.rows_per_shard);
        let shape = Shape {
            rows_per_shard: s,
            data_rows: n,
            rows: cm.validators.saturating_mul(s),
            row_symbols: if n == 0 {
                0
            } else {
                // ≤ 2^31: a u32 length over ≥ 1 row.
                shape::row_symbols(u64::from(c.data_len), n) as u32
            },
        };
        if let Some(e) = shape.structural_error(cm) {
            return Err(ZodaError::BadShape(e));
        }
        let bits = shape.bits(self.mode, cm);
        if bits + BITS_SLACK < self.bits {
            return Err(ZodaError::BadShape(format!(
                "S={s} n={n} m={} gives {bits:.1} bits, this chain requires {}",
                shape.rows, self.bits
            )));
        }
        Ok((c, shape))
    }

    /// The data rows of `data` under `shape` (zero-padded).
    pub fn data_rows(shape: &Shape, data: &[u8]) -> Vec<Vec<u8>> {
        let len = shape.row_bytes();
        (0..shape.data_rows as usize)
            .map(|i| {
                let start = (i * len).min(data.len());
                let end = ((i + 1) * len).min(data.len());
                let mut row = Vec::with_capacity(len);
                row.extend_from_slice(&data[start..end]);
                row.resize(len, 0);
                row
            })
            .collect()
    }

    /// The honest m encoded rows of `data`.
    pub fn encode_rows(shape: &Shape, data: &[u8]) -> Result<Vec<Vec<u8>>, ZodaError> {
        let mut rows = Zoda2d::data_rows(shape, data);
        let parity = code::extend(&rows, shape.rows as usize)?;
        rows.extend(parity);
        Ok(rows)
    }

    /// The checksum `W = X̃R` of the first n rows under the challenge of `c0` (fewer rows give
    /// a shorter checksum, which verifiers refuse).
    pub fn checksum(shape: &Shape, c0: &Hash, rows: &[Vec<u8>]) -> Vec<u8> {
        let log_r = challenge(c0, shape.row_symbols as usize);
        rows[..rows.len().min(shape.data_rows as usize)]
            .par_iter()
            .flat_map_iter(|row| gf::check_row_bytes(&gf::dot_row(row, &log_r)))
            .collect()
    }

    /// Commits to `rows` (m of them, `shape.row_bytes()` each) with the honest checksum of their
    /// first n rows, and cuts the shards.
    pub fn assemble(
        &self,
        shape: &Shape,
        data_len: u32,
        rows: &[Vec<u8>],
    ) -> Result<Encoded, ZodaError> {
        self.assemble_with(shape, data_len, rows, |c0| {
            Zoda2d::checksum(shape, c0, rows)
        })
    }

    /// [`Zoda2d::assemble`] with the checksum chosen by `make_checksum(c0)`: together with
    /// arbitrary rows this is how tests build a malicious encoder (rows that are not one
    /// codeword, a checksum of other rows, a perturbed checksum). Rows of the wrong count or
    /// length are refused.
    pub fn assemble_with(
        &self,
        shape: &Shape,
        data_len: u32,
        rows: &[Vec<u8>],
        make_checksum: impl FnOnce(&Hash) -> Vec<u8>,
    ) -> Result<Encoded, ZodaError> {
        if rows.len() != shape.rows as usize || rows.iter().any(|r| r.len() != shape.row_bytes()) {
            return Err(ZodaError::Config(format!(
                "assemble: need {} rows of {} bytes",
                shape.rows,
                shape.row_bytes()
            )));
        }
        let tree = merkle::Tree::build(rows);
        let mut c = Commitment {
            validators: self.committee.validators as u16,
            k: self.committee.k as u16,
            mode: self.mode.tag(),
            data_len,
            rows_per_shard: shape.rows_per_shard as u16,
            data_rows: shape.data_rows as u16,
            root: tree.root(),
            c1: Hash::ZERO,
        };
        let c0 = self.c0(&c, shape);
        let w = make_checksum(&c0);
        c.c1 = c1_of(&c0, &w);
        let perm = permutation(&c.c1, shape.rows);
        let s = shape.rows_per_shard as usize;
        let shards = perm
            .par_chunks(s)
            .map(|positions| {
                Shard {
                    checksum: w.clone(),
                    rows: positions
                        .iter()
                        .map(|&p| rows[p as usize].clone())
                        .collect(),
                    proof: tree.multiproof(positions),
                }
                .encode()
            })
            .collect();
        Ok(Encoded {
            commitment: c.encode(),
            shards,
        })
    }

    /// Positions of shard `index`'s rows under the commitment.
    pub fn positions(c: &Commitment, shape: &Shape, index: u32) -> Vec<u32> {
        let s = shape.rows_per_shard as usize;
        let perm = permutation(&c.c1, shape.rows);
        perm.get(index as usize * s..(index as usize + 1) * s)
            .map(<[u32]>::to_vec)
            .unwrap_or_default()
    }

    fn parse_shard(&self, index: u32, shape: &Shape, bytes: &[u8]) -> Result<Shard, ZodaError> {
        let s: Shard = decode_exact(bytes).map_err(malformed("shard"))?;
        let size = |detail: String| ZodaError::ShardSize { index, detail };
        if s.checksum.len() != CHECK_ROW_BYTES * shape.data_rows as usize {
            return Err(size(format!(
                "checksum of {} bytes, the commitment implies {}",
                s.checksum.len(),
                CHECK_ROW_BYTES * shape.data_rows as usize
            )));
        }
        if s.rows.len() != shape.rows_per_shard as usize {
            return Err(size(format!(
                "{} rows, the commitment implies {}",
                s.rows.len(),
                shape.rows_per_shard
            )));
        }
        if let Some(r) = s.rows.iter().find(|r| r.len() != shape.row_bytes()) {
            return Err(size(format!(
                "a row of {} bytes, the commitment implies {}",
                r.len(),
                shape.row_bytes()
            )));
        }
        let max_proof = shape.rows_per_shard as usize * merkle::depth(shape.rows as usize);
        if s.proof.len() > max_proof {
            return Err(size(format!(
                "multiproof of {} hashes, at most {max_proof}",
                s.proof.len()
            )));
        }
        Ok(s)
    }
}

impl DataAvailability for Zoda2d {
    fn shape(&self) -> DaShape {
        DaShape {
            shards: self.committee.validators,
            min_shards: self.committee.k,
        }
    }

    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError> {
        if let Some(kind) = self.adversary {
            return Ok(self.encode_malicious(kind, data)?.encoded);
        }
        let data_len = u32::try_from(data.len()).map_err(|_| ZodaError::TooLarge(data.len()))?;
        let shape = self.shape_for(data.len())?;
        let rows = Zoda2d::encode_rows(&shape, data)?;
        Ok(self.assemble(&shape, data_len, &rows)?)
    }

    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError> {
        let (c, shape) = self.commitment(commitment)?;
        if index >= self.committee.validators {
            return Err(ZodaError::IndexOutOfRange {
                index,
                validators: self.committee.validators,
            }
            .into());
        }
        // Sizes first: every later allocation (R is n'·8 words) is then bounded by bytes the
        // sender actually sent.
        let s = self.parse_shard(index, &shape, shard)?;
        let c0 = self.c0(&c, &shape);
        if c1_of(&c0, &s.checksum) != c.c1 {
            return Err(ZodaError::ChecksumMismatch { index }.into());
        }
        let positions = Zoda2d::positions(&c, &shape, index);
        let given: Vec<(u32, &[u8])> = positions
            .iter()
            .zip(&s.rows)
            .map(|(&p, r)| (p, r.as_slice()))
            .collect();
        if !merkle::verify(&c.root, shape.rows as usize, &given, &s.proof) {
            return Err(ZodaError::BadProof { index }.into());
        }
        let gw = extend_checksum(&s.checksum, &shape)?;
        let log_r = challenge(&c0, shape.row_symbols as usize);
        for &(p, row) in &given {
            if gf::dot_row(row, &log_r) != gf::check_row(&gw[p as usize]) {
                return Err(ZodaError::InconsistentRow { index, position: p }.into());
            }
        }
        Ok(())
    }

    fn decode(&self, commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError> {
        let (c, shape) = self.commitment(commitment)?;
        let mut seen = std::collections::BTreeSet::new();
        for s in shards {
            if s.index() >= self.committee.validators {
                return Err(ZodaError::IndexOutOfRange {
                    index: s.index(),
                    validators: self.committee.validators,
                }
                .into());
            }
            if !seen.insert(s.index()) {
                return Err(ZodaError::DuplicateShard(s.index()).into());
            }
        }
        // k, not ⌈n/S⌉: "any k of V" is the contract the certificate and the host rely on,
        // the same threshold as da-rs1d, even when a shape could decode from fewer.
        if (seen.len() as u32) < self.committee.k {
            return Err(ZodaError::TooFewShards {
                need: self.committee.k,
                got: seen.len() as u32,
            }
            .into());
        }
        let perm = permutation(&c.c1, shape.rows);
        let s_len = shape.rows_per_shard as usize;
        // A CheckedShard records that it passed *some* commitment; its checksum hashing to this
        // c1 ties it to this one (c1 binds c0, hence the root its rows were checked against),
        // so shards of two blocks, or of an equivocating leader's two versions, never mix.
        let c0 = self.c0(&c, &shape);
        let parsed: Vec<(u32, Shard)> = shards
            .par_iter()
            .map(|s| {
                let parsed = self.parse_shard(s.index(), &shape, s.bytes())?;
                if c1_of(&c0, &parsed.checksum) != c.c1 {
                    return Err(ZodaError::ChecksumMismatch { index: s.index() });
                }
                Ok((s.index(), parsed))
            })
            .collect::<Result<_, ZodaError>>()?;
        let mut rows: Vec<(usize, &[u8])> = parsed
            .iter()
            .flat_map(|(i, s)| {
                let at = *i as usize * s_len;
                perm[at..at + s_len]
                    .iter()
                    .zip(&s.rows)
                    .map(|(&p, r)| (p as usize, r.as_slice()))
            })
            .collect();
        // Systematic rows first: with all n of them decoding is a copy.
        rows.sort_unstable_by_key(|r| r.0);
        rows.truncate(shape.data_rows as usize);
        let data = code::recover(shape.data_rows as usize, shape.rows as usize, &rows)?;
        let mut out = Vec::with_capacity(c.data_len as usize);
        for row in data {
            out.extend_from_slice(&row);
        }
        out.truncate(c.data_len as usize);
        Ok(out)
    }

    fn sample(&self, commitment: &[u8], seed: &[u8; 32]) -> Result<Vec<u32>, PluginError> {
        let (c, _) = self.commitment(commitment)?;
        let v = self.committee.validators;
        // Withheld beyond recovery: at most k − 1 shards served, so one uniform sample finds a
        // served shard with probability ≤ (k−1)/V; distinct samples only do better.
        let served = f64::from(self.committee.k - 1) / f64::from(v);
        let want = if served <= 0.0 {
            1
        } else {
            (self.sample_bits / -served.log2()).ceil() as u32
        }
        .min(v);
        let mut picked = Vec::with_capacity(want as usize);
        let mut taken = vec![false; v as usize];
        let mut x = Xof::new(b"zoda2d/sample", {
            let mut buf = Vec::with_capacity(64);
            buf.extend_from_slice(seed);
            buf.extend_from_slice(&c.c1.0);
            blake2b_256(&buf)
        });
        while (picked.len() as u32) < want {
            let i = (x.next_u64() % u64::from(v)) as usize;
            if !std::mem::replace(&mut taken[i], true) {
                picked.push(i as u32);
            }
        }
        Ok(picked)
    }
}

/// The exported plugin.
#[derive(Debug)]
pub struct Zoda2dPlugin;

impl Plugin for Zoda2dPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Da;
    const DESCRIPTION: &'static str =
        "ZODA over GF(2^16): RS rows + 8-column random checksum, every shard checks the encoding \
         on receipt; mode standalone (126 bits per validator) or certificate (128 bits per quorum)";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Da(Box::new(Zoda2d::from_init(&args)?)))
    }

    fn conformance(
        suite: &str,
        _format: CaseFormat,
        _case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        Err(PluginError::unsupported(format!(
            "da-zoda2d has no public test vectors (asked for {suite:?})"
        )))
    }
}

diverge_plugins::export_plugin!(Zoda2dPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity everything rests on: the column code commutes with the checksum,
    /// `G(X̃R) = (GX̃)R`, in reed-solomon-simd's field and layout.
    #[test]
    fn code_commutes_with_the_checksum() {
        for (n, m, sym) in [(1u32, 6u32, 1u32), (2, 6, 33), (5, 12, 64), (84, 504, 200)] {
            let shape = Shape {
                rows_per_shard: m / 6,
                data_rows: n,
                rows: m,
                row_symbols: sym,
            };
            let data = diverge_plugins::testkit::bytes(2 * (n * sym) as usize, u64::from(m));
            let rows = Zoda2d::encode_rows(&shape, &data).expect("encode");
            let c0 = blake2b_256(&data);
            let w = Zoda2d::checksum(&shape, &c0, &rows);
            let gw = extend_checksum(&w, &shape).expect("extend");
            let log_r = challenge(&c0, sym as usize);
            for (p, row) in rows.iter().enumerate() {
                assert_eq!(
                    gf::dot_row(row, &log_r),
                    gf::check_row(&gw[p]),
                    "n={n} m={m} n'={sym} row {p}"
                );
            }
        }
    }
}
