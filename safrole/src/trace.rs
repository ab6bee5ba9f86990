//! Block-import traces (the JAM vectors' `traces/`): each step is a raw key-value pre-state, a
//! block, and the raw post-state, in JAM codec. This module decodes the header, the tickets
//! extrinsic and the Safrole components of the state, and replays Safrole through a trace:
//! seal and entropy VRFs checked against the right key for the slot, the state transition run
//! on the header's input, and its posterior components and header markers compared with the
//! trace.
//!
//! Encodings (GP 0.7.x, appendix C "serialization", appendix D "state merklization"; the trace
//! schema's `Header`/`Extrinsic` order):
//!
//! - Header: parent (32), parent state root (32), extrinsic hash (32), slot (E_4), epoch mark
//!   (option: eta_0, eta_1, V x (bandersnatch, ed25519)), tickets mark (option: E x (id,
//!   attempt)), author index (E_2), entropy source H_v (96), offenders mark (length-prefixed
//!   Ed25519 keys), seal H_s (96). The seal is last, so E_U(H), the seal's auxiliary data, is
//!   the encoding without its final 96 bytes.
//! - Extrinsic: tickets, preimages, guarantees, assurances, disputes, each length-prefixed.
//! - State keys C(i) = `[i, 0 x 30]`. gamma C(4) = gamma_k (V x 336), gamma_z (144), gamma_s
//!   (tag 0 = E tickets of 33 bytes, 1 = E keys of 32), gamma_a (length-prefixed tickets); psi
//!   C(5) = four length-prefixed sets of 32-byte keys (good, bad, wonky, offenders); eta C(6) =
//!   4 x 32; iota C(7), kappa C(8), lambda C(9) = V x 336; tau C(11) = E_4.

use std::path::{Path, PathBuf};

use diverge_plugins::codec::read_natural;

use super::codec::TICKET_SIGNATURE_LEN;
use super::ring::RingContext;
use super::seal::{self, SealError, SealKind};
use super::stf::{transition, Spec};
use super::types::{
    Bytes, EpochMark, EpochMarkValidator, ErrorCode, Input, Output, SealKeys, State, TicketBody,
    TicketEnvelope, ValidatorData, B32,
};

/// The chain constants a trace's encoding depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParams {
    /// Safrole constants (E, Y, N, K).
    pub spec: Spec,
    /// V: validators.
    pub validators: usize,
    /// C: cores (sizes the assurance bitfield).
    pub cores: usize,
}

impl TraceParams {
    /// JAM tiny, the only chain the public traces use.
    pub const TINY: TraceParams = TraceParams {
        spec: Spec::TINY,
        validators: 6,
        cores: 2,
    };

    fn supermajority(&self) -> usize {
        2 * self.validators / 3 + 1
    }
}

/// Why a trace step cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Ran out of bytes.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// An option or choice tag that is not 0 or 1.
    #[error("bad tag {tag} for {what}")]
    BadTag {
        /// The field.
        what: &'static str,
        /// The byte.
        tag: u8,
    },
    /// A length prefix beyond what the schema or the input allows.
    #[error("bad length {len} for {what}")]
    BadLength {
        /// The field.
        what: &'static str,
        /// The decoded length.
        len: u64,
    },
    /// An extrinsic this decoder does not walk (work-report guarantees), present in the block.
    #[error("unsupported non-empty {0} extrinsic")]
    Unsupported(&'static str),
    /// A state component that is absent.
    #[error("state key C({0}) missing")]
    MissingKey(u8),
    /// A state component with bytes left over.
    #[error("state key C({0}): {1} trailing bytes")]
    TrailingValue(u8, usize),
    /// Bytes left after the step.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// A decoded block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// H_p.
    pub parent: B32,
    /// H_r.
    pub parent_state_root: B32,
    /// H_x.
    pub extrinsic_hash: B32,
    /// H_t.
    pub slot: u32,
    /// H_e.
    pub epoch_mark: Option<EpochMark>,
    /// H_w.
    pub tickets_mark: Option<Vec<TicketBody>>,
    /// H_a: index into the posterior kappa.
    pub author_index: u16,
    /// H_v.
    pub entropy_source: [u8; 96],
    /// H_o.
    pub offenders_mark: Vec<B32>,
    /// H_s.
    pub seal: [u8; 96],
}

/// A decoded block: the header, its unsealed encoding and the tickets extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// E_U(H): the header's encoding without the seal (the seal's auxiliary data).
    pub unsealed_header: Vec<u8>,
    /// E_T.
    pub tickets: Vec<TicketEnvelope>,
}

/// A raw state: its root and key-values, borrowed from the trace bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawState<'a> {
    /// The state root.
    pub state_root: B32,
    /// 31-byte keys and their values.
    pub keyvals: Vec<(&'a [u8], &'a [u8])>,
}

/// One trace step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep<'a> {
    /// The state before the block.
    pub pre_state: RawState<'a>,
    /// The block.
    pub block: Block,
    /// The state after.
    pub post_state: RawState<'a>,
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    fn arr<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<Bytes<N>, DecodeError> {
        self.arr(what).map(Bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }

    /// A length prefix, bounded by `max` and by what the remaining bytes could hold at
    /// `min_item` bytes per item, so a corrupt prefix never drives a huge allocation.
    fn len(
        &mut self,
        what: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize, DecodeError> {
        let n = read_natural(&mut self.b).map_err(|_| DecodeError::Truncated(what))?;
        let room = self.b.len() / min_item.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&l| l <= max && l <= room)
            .ok_or(DecodeError::BadLength { what, len: n })
    }

    fn tag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { what, tag }),
        }
    }

    fn ticket(&mut self) -> Result<TicketBody, DecodeError> {
        Ok(TicketBody {
            id: self.bytes("ticket id")?,
            attempt: self.u8("ticket attempt")?,
        })
    }

    fn validators(&mut self, v: usize) -> Result<Vec<ValidatorData>, DecodeError> {
        (0..v)
            .map(|_| {
                Ok(ValidatorData {
                    bandersnatch: self.bytes("bandersnatch")?,
                    ed25519: self.bytes("ed25519")?,
                    bls: self.bytes("bls")?,
                    metadata: self.bytes("metadata")?,
                })
            })
            .collect()
    }

    fn raw_state(&mut self) -> Result<RawState<'a>, DecodeError> {
        let state_root = self.bytes("state root")?;
        let n = self.len("keyvals", usize::MAX, 32)?;
        let keyvals = (0..n)
            .map(|_| {
                let k = self.take(31, "key")?;
                let l = self.len("value", usize::MAX, 1)?;
                Ok((k, self.take(l, "value")?))
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(RawState {
            state_root,
            keyvals,
        })
    }

    fn header(&mut self, p: &TraceParams) -> Result<(Header, usize), DecodeError> {
        let start = self.b.len();
        let parent = self.bytes("parent")?;
        let parent_state_root = self.bytes("parent state root")?;
        let extrinsic_hash = self.bytes("extrinsic hash")?;
        let slot = self.u32("slot")?;
        let epoch_mark = if self.tag("epoch mark")? {
            Some(EpochMark {
                entropy: self.bytes("epoch entropy")?,
                tickets_entropy: self.bytes("tickets entropy")?,
                validators: (0..p.validators)
                    .map(|_| {
                        Ok(EpochMarkValidator {
                            bandersnatch: self.bytes("bandersnatch")?,
                            ed25519: self.bytes("ed25519")?,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?,
            })
        } else {
            None
        };
        let tickets_mark = if self.tag("tickets mark")? {
            Some(
                (0..p.spec.epoch_len)
                    .map(|_| self.ticket())
                    .collect::<Result<_, _>>()?,
            )
        } else {
            None
        };
        let author_index = self.u16("author index")?;
        let entropy_source = self.arr("entropy source")?;
        let n = self.len("offenders mark", usize::MAX, 32)?;
        let offenders_mark = (0..n)
            .map(|_| self.bytes("offender"))
            .collect::<Result<_, _>>()?;
        let unsealed_len = start - self.b.len();
        let seal = self.arr("seal")?;
        Ok((
            Header {
                parent,
                parent_state_root,
                extrinsic_hash,
                slot,
                epoch_mark,
                tickets_mark,
                author_index,
                entropy_source,
                offenders_mark,
                seal,
            },
            unsealed_len,
        ))
    }

    fn block(&mut self, p: &TraceParams) -> Result<Block, DecodeError> {
        let header_bytes = self.b;
        let (header, unsealed_len) = self.header(p)?;
        let unsealed_header = header_bytes[..unsealed_len].to_vec();

        let n = self.len(
            "tickets extrinsic",
            p.spec.max_tickets_per_block,
            1 + TICKET_SIGNATURE_LEN,
        )?;
        let tickets = (0..n)
            .map(|_| {
                Ok(TicketEnvelope {
                    attempt: self.u8("attempt")?,
                    signature: self
                        .take(TICKET_SIGNATURE_LEN, "ticket signature")?
                        .to_vec(),
                })
            })
            .collect::<Result<_, DecodeError>>()?;

        // The other extrinsics carry no Safrole input: walk them only to find the block's end.
        let n = self.len("preimages", usize::MAX, 5)?;
        for _ in 0..n {
            self.skip(4, "preimage requester")?;
            let l = self.len("preimage blob", usize::MAX, 1)?;
            self.skip(l, "preimage blob")?;
        }
        if self.len("guarantees", p.cores, 1)? != 0 {
            return Err(DecodeError::Unsupported("guarantees"));
        }
        let assurance = 32 + p.cores.div_ceil(8) + 2 + 64;
        let n = self.len("assurances", p.validators, assurance)?;
        self.skip(n * assurance, "assurances")?;
        let vote = 1 + 2 + 64;
        let n = self.len("verdicts", usize::MAX, 36)?;
        for _ in 0..n {
            self.skip(32 + 4 + p.supermajority() * vote, "verdict")?;
        }
        let n = self.len("culprits", usize::MAX, 128)?;
        self.skip(n * 128, "culprits")?;
        let n = self.len("faults", usize::MAX, 129)?;
        self.skip(n * 129, "faults")?;
        Ok(Block {
            header,
            unsealed_header,
            tickets,
        })
    }
}

/// Decodes a trace step (`TraceStep` of the traces' schema).
pub fn decode_step<'a>(bytes: &'a [u8], p: &TraceParams) -> Result<TraceStep<'a>, DecodeError> {
    let mut r = Reader { b: bytes };
    let step = TraceStep {
        pre_state: r.raw_state()?,
        block: r.block(p)?,
        post_state: r.raw_state()?,
    };
    if !r.b.is_empty() {
        return Err(DecodeError::Trailing(r.b.len()));
    }
    Ok(step)
}

/// The state key C(i) (GP D.1): the component index then 30 zero bytes.
pub fn state_key(i: u8) -> [u8; 31] {
    let mut k = [0u8; 31];
    k[0] = i;
    k
}

impl RawState<'_> {
    /// The value at C(i).
    pub fn component(&self, i: u8) -> Result<&[u8], DecodeError> {
        let key = state_key(i);
        self.keyvals
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or(DecodeError::MissingKey(i))
    }

    fn read<T>(
        &self,
        i: u8,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let mut r = Reader {
            b: self.component(i)?,
        };
        let out = f(&mut r)?;
        if !r.b.is_empty() {
            return Err(DecodeError::TrailingValue(i, r.b.len()));
        }
        Ok(out)
    }

    /// The Safrole components: tau C(11), eta C(6), lambda C(9), kappa C(8), gamma C(4), iota
    /// C(7) and psi_o from C(5) as `post_offenders`.
    pub fn safrole(&self, p: &TraceParams) -> Result<State, DecodeError> {
        let (v, e) = (p.validators, p.spec.epoch_len as usize);
        let tau = self.read(11, |r| r.u32("tau"))?;
        let eta = self.read(6, |r| {
            Ok([
                r.bytes("eta")?,
                r.bytes("eta")?,
                r.bytes("eta")?,
                r.bytes("eta")?,
            ])
        })?;
        let lambda = self.read(9, |r| r.validators(v))?;
        let kappa = self.read(8, |r| r.validators(v))?;
        let iota = self.read(7, |r| r.validators(v))?;
        let (gamma_k, gamma_z, gamma_s, gamma_a) = self.read(4, |r| {
            let gamma_k = r.validators(v)?;
            let gamma_z = r.bytes("gamma_z")?;
            let gamma_s = if r.tag("gamma_s")? {
                SealKeys::Keys(
                    (0..e)
                        .map(|_| r.bytes("fallback key"))
                        .collect::<Result<_, _>>()?,
                )
            } else {
                SealKeys::Tickets((0..e).map(|_| r.ticket()).collect::<Result<_, _>>()?)
            };
            let n = r.len("gamma_a", e, 33)?;
            let gamma_a = (0..n).map(|_| r.ticket()).collect::<Result<_, _>>()?;
            Ok((gamma_k, gamma_z, gamma_s, gamma_a))
        })?;
        let post_offenders = self.read(5, |r| {
            let mut sets: Vec<Vec<B32>> = Vec::with_capacity(4);
            for what in ["psi_g", "psi_b", "psi_w", "psi_o"] {
                let n = r.len(what, usize::MAX, 32)?;
                sets.push((0..n).map(|_| r.bytes(what)).collect::<Result<_, _>>()?);
            }
            Ok(sets.pop().unwrap_or_default())
        })?;
        Ok(State {
            tau,
            eta,
            lambda,
            kappa,
            gamma_k,
            iota,
            gamma_a,
            gamma_s,
            gamma_z,
            post_offenders,
        })
    }
}

/// Names of the Safrole components in which `a` and `b` differ.
pub fn differing_components(a: &State, b: &State) -> Vec<&'static str> {
    let mut d = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            d.push(name);
        }
    };
    check("tau", a.tau == b.tau);
    check("eta", a.eta == b.eta);
    check("lambda", a.lambda == b.lambda);
    check("kappa", a.kappa == b.kappa);
    check("gamma_k", a.gamma_k == b.gamma_k);
    check("iota", a.iota == b.iota);
    check("gamma_a", a.gamma_a == b.gamma_a);
    check("gamma_s", a.gamma_s == b.gamma_s);
    check("gamma_z", a.gamma_z == b.gamma_z);
    check("psi_o", a.post_offenders == b.post_offenders);
    d
}

/// Why a block fails to import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The trace step does not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// The Safrole transition rejects the block.
    #[error("state transition: {0}")]
    Stf(ErrorCode),
    /// The author index is not a validator of the posterior kappa.
    #[error("author index {0} out of range")]
    BadAuthor(u16),
    /// gamma'_s has no entry for the slot (a sealer series shorter than E).
    #[error("slot {slot}: no sealer in gamma_s")]
    NoSealer {
        /// H_t.
        slot: u32,
    },
    /// The slot's fallback key is not the author's key.
    #[error("slot {slot}: author is not the slot's fallback key")]
    WrongFallbackKey {
        /// H_t.
        slot: u32,
    },
    /// The seal does not verify.
    #[error("seal ({kind:?}): {err}")]
    Seal {
        /// Ticketed or fallback.
        kind: SealKind,
        /// Why.
        err: SealError,
    },
    /// The entropy VRF H_v does not verify.
    #[error("entropy source: {0}")]
    Entropy(SealError),
    /// H_e differs from the transition's epoch mark.
    #[error("epoch mark differs from the state transition's")]
    EpochMark,
    /// H_w differs from the transition's winning-tickets mark.
    #[error("tickets mark differs from the state transition's")]
    TicketsMark,
    /// The replayed state before the block is not the trace's pre-state.
    #[error("pre-state differs in {0:?}")]
    PreState(Vec<&'static str>),
    /// The state after the block is not the trace's post-state.
    #[error("post-state differs in {0:?}")]
    PostState(Vec<&'static str>),
}

/// What importing one block established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The posterior Safrole state.
    pub post: State,
    /// The transition's header markers (checked equal to the header's).
    pub output: Output,
    /// How the block was sealed.
    pub kind: SealKind,
    /// Y(H_s).
    pub seal_output: B32,
    /// Y(H_v): the block's entropy.
    pub entropy: B32,
}

/// Imports a decoded block on Safrole state `pre`: runs the transition on the header's input,
/// then verifies the seal with the key the posterior state assigns to the slot (GP 6.15/6.16),
/// the entropy VRF (6.17) and the header's markers (6.27/6.28). `pre.post_offenders` must
/// already include the block's offenders (psi'_o).
pub fn import_block(
    p: &TraceParams,
    ring: &RingContext,
    pre: &State,
    block: &Block,
) -> Result<Imported, BlockError> {
    let h = &block.header;
    // The transition needs Y(H_v) before its signature can be checked against the posterior
    // author key; the output hash is a function of the signature bytes alone.
    let entropy = Bytes(seal::vrf_output(&h.entropy_source).map_err(BlockError::Entropy)?);
    let input = Input {
        slot: h.slot,
        entropy,
        extrinsic: block.tickets.clone(),
    };
    let (post, output) = transition(&p.spec, ring, pre, &input).map_err(BlockError::Stf)?;

    let author = post
        .kappa
        .get(usize::from(h.author_index))
        .map(|k| k.bandersnatch.0)
        .ok_or(BlockError::BadAuthor(h.author_index))?;
    let idx = (h.slot % p.spec.epoch_len) as usize;
    let eta3 = post.eta[3].0;
    let (kind, y) = match &post.gamma_s {
        SealKeys::Tickets(t) => {
            let t = t.get(idx).ok_or(BlockError::NoSealer { slot: h.slot })?;
            let kind = SealKind::Ticket { attempt: t.attempt };
            let y = seal::verify_ticket_seal(
                &author,
                &t.id.0,
                t.attempt,
                &eta3,
                &block.unsealed_header,
                &h.seal,
            )
            .map_err(|err| BlockError::Seal { kind, err })?;
            (kind, y)
        }
        SealKeys::Keys(k) => {
            let kind = SealKind::Fallback;
            if k.get(idx).map(|k| k.0) != Some(author) {
                return Err(BlockError::WrongFallbackKey { slot: h.slot });
            }
            let y = seal::verify_seal(&author, kind, &eta3, &block.unsealed_header, &h.seal)
                .map_err(|err| BlockError::Seal { kind, err })?;
            (kind, y)
        }
    };
    let hv = seal::verify_entropy(&author, &y, &h.entropy_source).map_err(BlockError::Entropy)?;
    debug_assert_eq!(hv, entropy.0);
    if h.epoch_mark != output.epoch_mark {
        return Err(BlockError::EpochMark);
    }
    if h.tickets_mark != output.tickets_mark {
        return Err(BlockError::TicketsMark);
    }
    Ok(Imported {
        post,
        output,
        kind,
        seal_output: Bytes(y),
        entropy,
    })
}

/// psi'_o for a block: the prior offenders with the header's new ones (H_o), sorted as the
/// state keeps them.
fn with_block_offenders(mut state: State, header: &Header) -> State {
    for o in &header.offenders_mark {
        if !state.post_offenders.contains(o) {
            state.post_offenders.push(*o);
        }
    }
    state.post_offenders.sort();
    state
}

/// Imports one trace step on `carried` (the replayed state, or `None` to start from the step's
/// pre-state) and checks the result against the step's post-state. Returns the posterior state
/// and how the block was sealed.
pub fn replay_step(
    p: &TraceParams,
    ring: &RingContext,
    carried: Option<&State>,
    bytes: &[u8],
) -> Result<Imported, BlockError> {
    let step = decode_step(bytes, p)?;
    let trace_pre = step.pre_state.safrole(p)?;
    let pre = match carried {
        Some(s) => {
            let d = differing_components(s, &trace_pre);
            if !d.is_empty() {
                return Err(BlockError::PreState(d));
            }
            s.clone()
        }
        None => trace_pre,
    };
    let pre = with_block_offenders(pre, &step.block.header);
    let imported = import_block(p, ring, &pre, &step.block)?;
    let trace_post = step.post_state.safrole(p)?;
    let d = differing_components(&imported.post, &trace_post);
    if !d.is_empty() {
        return Err(BlockError::PostState(d));
    }
    Ok(imported)
}

/// One block's result in a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The trace file.
    pub file: PathBuf,
    /// The slot, when the header decoded.
    pub slot: Option<u32>,
    /// How it was sealed, or why it failed.
    pub result: Result<SealKind, BlockError>,
}

/// A whole trace's replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Per block, in file order.
    pub blocks: Vec<BlockOutcome>,
}

impl Report {
    /// Blocks that imported and matched the trace.
    pub fn passed(&self) -> usize {
        self.blocks.iter().filter(|b| b.result.is_ok()).count()
    }

    /// Blocks that did not.
    pub fn failed(&self) -> usize {
        self.blocks.len() - self.passed()
    }

    /// Ticket-sealed blocks among those that passed.
    pub fn ticketed(&self) -> usize {
        self.blocks
            .iter()
            .filter(|b| matches!(b.result, Ok(SealKind::Ticket { .. })))
            .count()
    }
}

/// Why a trace directory cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The directory or a file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No step files (`NNNNNNNN.bin`) in the directory.
    #[error("no trace steps in {0}")]
    Empty(PathBuf),
}

/// The step files of a trace directory (8-digit names; `genesis.bin` is not a step), sorted.
pub fn step_files(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let io = |source| TraceError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_step = path.extension().is_some_and(|e| e == "bin")
            && path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        if is_step {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(TraceError::Empty(dir.to_path_buf()));
    }
    Ok(files)
}

/// Replays every step of a trace directory in order, carrying the Safrole state from block to
/// block (after a failed block, the next starts again from its own pre-state).
pub fn replay_trace_dir(
    dir: &Path,
    p: &TraceParams,
    ring: &RingContext,
) -> Result<Report, TraceError> {
    let mut report = Report::default();
    let mut carried: Option<State> = None;
    for file in step_files(dir)? {
        let bytes = std::fs::read(&file).map_err(|source| TraceError::Io {
            path: file.clone(),
            source,
        })?;
        let slot = decode_step(&bytes, p).ok().map(|s| s.block.header.slot);
        let result = replay_step(p, ring, carried.as_ref(), &bytes);
        carried = result.as_ref().ok().map(|i| i.post.clone());
        report.blocks.push(BlockOutcome {
            file,
            slot,
            result: result.map(|i| i.kind),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_are_component_then_zeroes() {
        assert_eq!(state_key(4)[0], 4);
        assert!(state_key(4)[1..].iter().all(|&b| b == 0));
    }

    #[test]
    fn garbage_never_panics() {
        for len in [0usize, 1, 31, 32, 33, 200] {
            for fill in [0u8, 0xff, 0x81] {
                let _ = decode_step(&vec![fill; len], &TraceParams::TINY);
            }
        }
    }
}
