//! exec-proof: the execution axis validated by a proof. The block's author runs the workload
//! (exec-reexec's guest, state and host calls) under pcvm's tracer and proves the run with
//! pcvm's execution statement (Ligerito over binary fields); validators check the proof and a
//! short log instead of re-executing, and never need the payload.
//!
//! **What a valid proof means.** The proven export is `prove_block(out, io)` of the committed
//! blob (`exec-reexec/guest/pool.c`): the rules of `apply_block`, with every input bound to a
//! public output the validator checks against what it already knows:
//!
//! - the root of the state it loaded = the parent's post-state root;
//! - Blake2b-256 of the payload it parsed = the header's payload hash;
//! - Blake2b-256 of the host-call log = the hash of the log the block carries, which the
//!   validator replays against its nullifier set ([`log::replay`]): every `nf_contains`
//!   answer must be the honest one, and the inserts become the child's set;
//! - the root of the state it stored = the header's post-state root.
//!
//! Host calls may write only pcvm's IO region, which the guest copies out of at once, so no
//! advice reaches the state transition unchecked. The proof's transcript also absorbs a
//! context (this chain's parameters), so proofs do not cross chains. The post-state record
//! (1 KiB: counts, nullifier-chain root, tree frontier) travels in the proof bytes and is
//! checked against the post-state root natively, so a validator can author the next block.
//!
//! **Not bound:** gas. The execution statement has no gas column; the receipt's gas is the
//! author's claim (bounded only by the trace length). A block whose trace exceeds
//! `2^max_log_rows` rows cannot be proven here.

pub mod log;
mod tracer_host;

use std::collections::HashMap;
use std::sync::Arc;

use diverge_pcvm::alu::MIN_LOG_ROWS;
use diverge_pcvm::codec::{decode_cpu, encode_cpu};
use diverge_pcvm::cpu;
use diverge_pcvm::cpu::MAX_LOG_ROWS;
use diverge_pcvm::fetch::ProgramTable;
use diverge_pcvm::mem::{Output, IO_BYTES};
use diverge_pcvm::regs::Boundary;
use diverge_pcvm::trace::{Regs, Trace, Tracer};
use diverge_plugins::codec::{decode_exact, Decode, Encode};
use diverge_plugins::ffi::Plugin;
use diverge_plugins::{
    blake2b_256, Axis, ExecOutput, Executor, Hash, InitArgs, Instance, PluginError,
    ValidateRequest, Verdict,
};
use diverge_pool::host::Applied;
use diverge_pool::state::{
    decode_snapshot, encode_snapshot, NullifierSet, PoolState, States, GUEST_STATE_LEN,
};
use diverge_pool::tx::{decode_payload, Receipt};
use diverge_pool::vm::GUEST_BLOB;
use serde::Deserialize;

pub use crate::tracer_host::LoggingHost;

/// The proven export.
pub const EXPORT: &str = "prove_block";
/// Output words: pre-state root, payload hash, log hash, post-state root.
pub const OUT_WORDS: usize = 16;

/// The stable codes of [`Verdict::Invalid`].
pub mod reason {
    /// The block carries no proof.
    pub const MISSING_PROOF: &str = "missing_proof";
    /// The proof bytes do not decode, or their shape is outside the limits.
    pub const BAD_PROOF: &str = "bad_proof";
    /// The receipt does not decode.
    pub const BAD_RECEIPT: &str = "bad_receipt";
    /// The log does not parse, or replays as no honest host would answer.
    pub const BAD_LOG: &str = "bad_log";
    /// The receipt's results are not the log's, or not as many as the run returned.
    pub const RECEIPT_MISMATCH: &str = "receipt_mismatch";
    /// The carried post-state is not the header's post-state root.
    pub const POST_STATE_MISMATCH: &str = "post_state_mismatch";
    /// The proof does not verify for this block's statement.
    pub const PROOF_REJECTED: &str = "proof_rejected";
}

/// `[exec.params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Largest trace this node proves or accepts, as `log2(rows)`.
    #[serde(default = "default_max_log_rows")]
    pub max_log_rows: usize,
    /// Gas the guest may use while being traced.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
}

fn default_max_log_rows() -> usize {
    20
}

fn default_gas_limit() -> u64 {
    diverge_pool::DEFAULT_GAS_LIMIT
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_log_rows: default_max_log_rows(),
            gas_limit: default_gas_limit(),
        }
    }
}

/// What a block carries in `proof`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockProof {
    /// The trace is `2^log_rows` rows.
    pub log_rows: u8,
    /// Registers when the run returned (13; `A0` is the transaction count).
    pub final_regs: Vec<u64>,
    /// The host-call log ([`log`]).
    pub log: Vec<u8>,
    /// The post-state record as the guest stored it (`GUEST_STATE_LEN` bytes).
    pub post_record: Vec<u8>,
    /// The execution proof (`diverge_pcvm::codec::encode_cpu`).
    pub cpu: Vec<u8>,
}

/// Why proving failed.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// No state is kept under this root.
    #[error("no state with root {0}")]
    UnknownState(Hash),
    /// The payload does not decode.
    #[error(transparent)]
    BadPayload(#[from] diverge_pool::tx::PayloadError),
    /// The run could not be traced (out of gas, too long, a trap).
    #[error("trace: {0}")]
    Trace(#[from] diverge_pcvm::trace::TraceError),
    /// The guest refused the payload or broke the host-call protocol.
    #[error("guest: {0}")]
    Guest(String),
    /// The prover refused its own witness, or the trace is too long to prove.
    #[error("prove: {0}")]
    Prove(#[from] cpu::CpuError),
    /// The proven outputs are not what the run computed (a bug, never a block's fault).
    #[error("the proven outputs differ from the run's: {0}")]
    Outputs(&'static str),
}

impl From<ProveError> for PluginError {
    fn from(e: ProveError) -> PluginError {
        let msg = e.to_string();
        match e {
            ProveError::UnknownState(_) | ProveError::BadPayload(_) => {
                PluginError::invalid_input(msg)
            }
            ProveError::Trace(_) | ProveError::Guest(_) => PluginError::rejected(msg),
            ProveError::Prove(_) | ProveError::Outputs(_) => PluginError::internal(msg),
        }
    }
}

/// The blob, its program table and what a verifier derives from them once.
#[derive(Debug)]
pub struct Program {
    tracer: Tracer,
    table: ProgramTable,
    entry_pc: u32,
    /// The IO region's address and the output buffer's (just above it).
    io: u32,
    out: u32,
    initial: Regs,
}

impl Program {
    /// The committed workload blob's.
    pub fn new() -> Result<Program, String> {
        let tracer = Tracer::new(GUEST_BLOB).map_err(|e| format!("tracer: {e}"))?;
        let table = ProgramTable::from_blob(GUEST_BLOB).map_err(|e| format!("table: {e}"))?;
        let entry_pc = table
            .export_pc(EXPORT)
            .ok_or_else(|| format!("the blob does not export {EXPORT}"))?;
        let io = table.memory.io;
        let out = io + IO_BYTES;
        if let Some(k) = (0..OUT_WORDS as u32)
            .map(|j| out + 8 * j)
            .find(|&k| table.memory.index_of(k).is_none())
        {
            return Err(format!("output word {k:#x} is not mapped"));
        }
        let initial = tracer
            .initial_regs(EXPORT, &[out.into(), io.into()])
            .map_err(|e| format!("entry registers: {e}"))?;
        Ok(Program {
            tracer,
            table,
            entry_pc,
            io,
            out,
            initial,
        })
    }

    fn keys(&self) -> Vec<u32> {
        (0..OUT_WORDS as u32).map(|j| self.out + 8 * j).collect()
    }

    /// The statement's outputs for these four digests.
    fn outputs(&self, digests: [&[u8; 32]; 4]) -> Vec<Output> {
        let bytes: Vec<u8> = digests.iter().flat_map(|d| d.iter().copied()).collect();
        self.keys()
            .into_iter()
            .zip(bytes.chunks_exact(8))
            .map(|(key, b)| Output {
                key,
                bytes: b.try_into().expect("8 bytes"),
            })
            .collect()
    }
}

/// A traced run of [`EXPORT`], before any proving.
#[derive(Debug)]
pub struct Run {
    /// The trace.
    pub trace: Trace,
    /// The post-state, its root and the results, as the host recorded them.
    pub applied: Applied,
    /// The host-call log's bytes.
    pub log: Vec<u8>,
    /// What the guest left in its output words (the four digests), read off the trace's
    /// stores.
    pub outputs: [u8; 8 * OUT_WORDS],
}

impl Program {
    /// Traces `payload` on `state` (no proof): what the prover will prove.
    pub fn run(
        &self,
        state: &PoolState,
        payload: &[u8],
        gas: i64,
        max_rows: usize,
    ) -> Result<Run, ProveError> {
        decode_payload(payload)?;
        let mut host = LoggingHost::new(state, payload.to_vec());
        let trace = self.tracer.trace(
            EXPORT,
            &[self.out.into(), self.io.into()],
            &mut host,
            gas,
            max_rows,
        )?;
        let n = trace.result();
        if n == u64::MAX {
            return Err(ProveError::Guest("prove_block refused the payload".into()));
        }
        let (applied, records) = host.finish(state, n).map_err(ProveError::Guest)?;
        let mut outputs = [0u8; 8 * OUT_WORDS];
        for m in trace.rows.iter().filter_map(|r| r.mem).filter(|m| m.store) {
            for (i, b) in m.value.to_le_bytes()[..m.width as usize].iter().enumerate() {
                let at = (m.address as usize + i).wrapping_sub(self.out as usize);
                if let Some(o) = outputs.get_mut(at) {
                    *o = *b;
                }
            }
        }
        Ok(Run {
            trace,
            applied,
            log: log::encode(&records),
            outputs,
        })
    }
}

/// A proof made by [`ProofExec::prove`], with what it took.
#[derive(Debug)]
pub struct Proven {
    /// The execution output (proof bytes included).
    pub output: ExecOutput,
    /// Guest instructions traced and rows proven (`2^log_rows`).
    pub rows: usize,
    /// `log2` of the proven rows.
    pub log_rows: usize,
}

/// The executor: the program, the states by root, the limits.
#[derive(Debug)]
pub struct ProofExec {
    program: Program,
    params: Params,
    context: [u8; 32],
    states: States,
    genesis_root: Hash,
}

fn invalid(code: &str, detail: impl Into<String>) -> Verdict {
    Verdict::Invalid {
        code: code.into(),
        detail: detail.into(),
    }
}

impl ProofExec {
    /// An executor with `params`, bound to `context` (see [`ProofExec::from_init`]).
    pub fn new(params: Params, context: [u8; 32]) -> Result<ProofExec, PluginError> {
        if !(MIN_LOG_ROWS..=MAX_LOG_ROWS).contains(&params.max_log_rows) {
            return Err(PluginError::config(format!(
                "[exec.params] max_log_rows = {}: pcvm proves {MIN_LOG_ROWS}..={MAX_LOG_ROWS}",
                params.max_log_rows
            )));
        }
        let program = Program::new().map_err(PluginError::config)?;
        let genesis = PoolState::genesis();
        let genesis_root = genesis.root();
        let states = HashMap::from([(genesis_root, Arc::new(genesis))]);
        Ok(ProofExec {
            program,
            params,
            context,
            states,
            genesis_root,
        })
    }

    /// From the host's init arguments: `[exec.params]` as JSON; the context is the chain's
    /// parameters, hashed.
    pub fn from_init(args: &InitArgs) -> Result<ProofExec, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[exec.params]: {e}")))?
        };
        let mut ctx = b"diverge/exec-proof/v1".to_vec();
        ctx.extend(args.chain.encode());
        ProofExec::new(params, blake2b_256(&ctx).0)
    }

    /// The state kept under `root`.
    pub fn state(&self, root: &Hash) -> Option<&PoolState> {
        self.states.get(root).map(Arc::as_ref)
    }

    /// The program it proves.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Traces and proves `payload` on the state under `pre`, keeping the post-state.
    pub fn prove(&mut self, pre: &Hash, payload: &[u8]) -> Result<Proven, ProveError> {
        let state = self
            .states
            .get(pre)
            .cloned()
            .ok_or(ProveError::UnknownState(*pre))?;
        let p = &self.program;
        let Run {
            trace,
            applied,
            log,
            outputs: written,
        } = p.run(
            &state,
            payload,
            i64::try_from(self.params.gas_limit).unwrap_or(i64::MAX),
            1 << self.params.max_log_rows,
        )?;
        let w = cpu::witness(&p.table, &trace)?;
        let log_rows = w.regs.fetch.log_rows;
        if log_rows > self.params.max_log_rows {
            return Err(ProveError::Trace(diverge_pcvm::trace::TraceError::TooLong(
                1 << self.params.max_log_rows,
            )));
        }
        if trace.initial_regs != p.initial {
            return Err(ProveError::Outputs("entry registers"));
        }
        let b = Boundary {
            initial: trace.initial_regs,
            last: trace.final_regs,
        };
        let (proof, outputs) =
            cpu::prove_with_outputs(&p.table, &b, p.entry_pc, &p.keys(), &self.context, &w)?;
        let want = p.outputs([
            &pre.0,
            &blake2b_256(payload).0,
            &blake2b_256(&log).0,
            &applied.root,
        ]);
        if outputs != want || outputs.iter().flat_map(|o| o.bytes).ne(written) {
            return Err(ProveError::Outputs(
                "pre-state, payload, log or post-state digest",
            ));
        }
        let root = Hash(applied.root);
        let block = BlockProof {
            log_rows: log_rows as u8,
            final_regs: trace.final_regs.to_vec(),
            log,
            post_record: applied.post.guest_record().to_vec(),
            cpu: encode_cpu(&proof),
        };
        let receipt = Receipt {
            results: applied.results,
            gas_used: trace.gas_used,
        };
        self.states
            .entry(root)
            .or_insert_with(|| Arc::new(applied.post));
        Ok(Proven {
            output: ExecOutput {
                post_state_root: root,
                receipt: receipt.encode(),
                proof: block.encode(),
                gas_used: trace.gas_used,
            },
            rows: trace.rows.len(),
            log_rows,
        })
    }

    /// Checks a block's proof; `Ok(Err(verdict))` for an invalid block, the post-state for a
    /// valid one.
    fn check(&self, req: &ValidateRequest) -> Result<Result<PoolState, Verdict>, PluginError> {
        if req.proof.is_empty() {
            return Ok(Err(invalid(
                reason::MISSING_PROOF,
                "the block carries no proof",
            )));
        }
        let bp: BlockProof = match decode_exact(&req.proof) {
            Ok(bp) => bp,
            Err(e) => return Ok(Err(invalid(reason::BAD_PROOF, format!("proof bytes: {e}")))),
        };
        let log_rows = bp.log_rows as usize;
        if !(MIN_LOG_ROWS..=self.params.max_log_rows).contains(&log_rows) {
            return Ok(Err(invalid(
                reason::BAD_PROOF,
                format!(
                    "2^{log_rows} rows, outside {MIN_LOG_ROWS}..={}",
                    self.params.max_log_rows
                ),
            )));
        }
        let Ok(last) = Regs::try_from(bp.final_regs.as_slice()) else {
            return Ok(Err(invalid(reason::BAD_PROOF, "final registers")));
        };
        let Ok(record) = <[u8; GUEST_STATE_LEN]>::try_from(bp.post_record.as_slice()) else {
            return Ok(Err(invalid(reason::BAD_PROOF, "post-state record length")));
        };
        let claimed = match Receipt::decode_bytes(&req.receipt) {
            Ok(r) => r,
            Err(e) => return Ok(Err(invalid(reason::BAD_RECEIPT, e.to_string()))),
        };
        let parent = self.states.get(&req.pre_state_root).ok_or_else(|| {
            PluginError::invalid_input(format!(
                "cannot validate: no state with root {} (pruned or never seen)",
                req.pre_state_root
            ))
        })?;
        let effects = match log::parse(&bp.log).and_then(|r| log::replay(&r, &parent.nullifiers)) {
            Ok(fx) => fx,
            Err(e) => return Ok(Err(invalid(reason::BAD_LOG, e.to_string()))),
        };
        if claimed.results != effects.results
            || last[polkavm::Reg::A0.to_usize()] != effects.results.len() as u64
        {
            return Ok(Err(invalid(
                reason::RECEIPT_MISMATCH,
                format!(
                    "receipt has {} results, the log {}, the run returned {}",
                    claimed.results.len(),
                    effects.results.len(),
                    last[polkavm::Reg::A0.to_usize()]
                ),
            )));
        }
        let nullifiers = if effects.spent.is_empty() {
            parent.nullifiers.clone()
        } else {
            Arc::new(NullifierSet::child(&parent.nullifiers, effects.spent))
        };
        let post = PoolState::from_guest_record(&record, nullifiers);
        if post.root() != req.header.post_state_root {
            return Ok(Err(invalid(
                reason::POST_STATE_MISMATCH,
                format!(
                    "header claims {}, the carried state hashes to {}",
                    req.header.post_state_root,
                    post.root()
                ),
            )));
        }
        let proof = match decode_cpu(&bp.cpu) {
            Ok(p) => p,
            Err(e) => return Ok(Err(invalid(reason::BAD_PROOF, e.to_string()))),
        };
        let p = &self.program;
        let outputs = p.outputs([
            &req.pre_state_root.0,
            &req.header.payload_hash.0,
            &blake2b_256(&bp.log).0,
            &req.header.post_state_root.0,
        ]);
        let b = Boundary {
            initial: p.initial,
            last,
        };
        if let Err(e) = cpu::verify_with_outputs(
            &p.table,
            &b,
            p.entry_pc,
            &outputs,
            &self.context,
            log_rows,
            &proof,
        ) {
            return Ok(Err(invalid(reason::PROOF_REJECTED, e.to_string())));
        }
        Ok(Ok(post))
    }
}

impl Executor for ProofExec {
    fn genesis_state_root(&mut self) -> Result<Hash, PluginError> {
        self.states
            .entry(self.genesis_root)
            .or_insert_with(|| Arc::new(PoolState::genesis()));
        Ok(self.genesis_root)
    }

    fn execute(
        &mut self,
        pre_state_root: &Hash,
        payload: &[u8],
    ) -> Result<ExecOutput, PluginError> {
        Ok(self.prove(pre_state_root, payload)?.output)
    }

    /// Never reads `request.payload`: a proof validator does not need it.
    fn validate(&mut self, request: ValidateRequest) -> Result<Verdict, PluginError> {
        match self.check(&request)? {
            Ok(post) => {
                self.states
                    .entry(request.header.post_state_root)
                    .or_insert_with(|| Arc::new(post));
                Ok(Verdict::Valid)
            }
            Err(verdict) => Ok(verdict),
        }
    }

    fn retain(&mut self, roots: &[Hash]) -> Result<(), PluginError> {
        self.states.retain(|root, _| roots.contains(root));
        Ok(())
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        Ok(encode_snapshot(&self.states))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        self.states = decode_snapshot(snapshot).map_err(PluginError::invalid_input)?;
        Ok(())
    }
}

/// The exported plugin.
#[derive(Debug)]
pub struct ProofExecPlugin;

impl Plugin for ProofExecPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Exec;
    const DESCRIPTION: &'static str =
        "shielded-pool workload proven by the author (pcvm: Ligerito over GF(2^32)), verified without the payload";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Exec(Box::new(ProofExec::from_init(&args)?)))
    }
}

diverge_plugins::export_plugin!(ProofExecPlugin);
