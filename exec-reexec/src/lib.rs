//! exec-reexec: the chain's workload, a shielded-pool-like state transition, as a PolkaVM
//! program, validated by re-execution.
//!
//! - The guest (`guest/pool.c`, committed as `guest/pool.polkavm`) checks every rule: a
//!   transaction's nullifiers must be unspent and distinct, its commitments go into an
//!   append-only Merkle tree, deposits and withdrawals move transparent value. It computes the
//!   new state root itself (Blake2b-256 in C), so gas reflects the real work.
//! - The plugin ([`ReExec`]) holds the states by root (so forks work), lends the one a block
//!   needs to the guest through host calls at fixed gas prices ([`vm::price`]), and compares a
//!   block's claims with its own re-execution ([`reason`] names every way they can differ).
//! - The workload itself (guest blob, [`host`] calls, [`state`], [`tx`] formats, [`vm`],
//!   [`workload`] generator) lives in `diverge-pool` (`exec-reexec/pool`), which exec-proof
//!   links too; it is re-exported here under its old paths.
//!
//! Gas is metered synchronously with the naive cost model pinned, so the interpreter and the
//! recompiler agree on gas to the unit; the engine, module and instance are created once per
//! plugin instance, because the recompiler's first instantiation costs ~100 ms.

pub use diverge_pool::{host, state, tx, vm, workload, DEFAULT_GAS_LIMIT};

use std::collections::HashMap;
use std::sync::Arc;

use diverge_plugins::codec::Encode;
use diverge_plugins::ffi::Plugin;
use diverge_plugins::{
    blake2b_256, Axis, ExecOutput, Executor, Hash, InitArgs, Instance, PluginError,
    ValidateRequest, Verdict,
};
use serde::Deserialize;

use crate::state::{decode_snapshot, encode_snapshot, PoolState, States};
use crate::tx::{decode_payload, guest_input, PayloadError, Receipt};
pub use crate::vm::Backend;
use crate::vm::{BlockRun, Vm, VmError};

/// The stable codes of [`Verdict::Invalid`].
pub mod reason {
    /// The header's post-state root differs from re-execution's.
    pub const POST_STATE_ROOT_MISMATCH: &str = "post_state_root_mismatch";
    /// The receipt's per-transaction results differ.
    pub const RECEIPT_MISMATCH: &str = "receipt_mismatch";
    /// The receipt's gas differs.
    pub const GAS_MISMATCH: &str = "gas_mismatch";
    /// The payload exceeds the block gas limit.
    pub const OUT_OF_GAS: &str = "out_of_gas";
    /// The payload does not decode.
    pub const BAD_PAYLOAD: &str = "bad_payload";
    /// The receipt does not decode.
    pub const BAD_RECEIPT: &str = "bad_receipt";
    /// No payload came with the request (re-execution needs it).
    pub const MISSING_PAYLOAD: &str = "missing_payload";
    /// The header's payload hash is not the payload's.
    pub const PAYLOAD_HASH_MISMATCH: &str = "payload_hash_mismatch";
    /// A proof came with a block of a re-execution chain.
    pub const UNEXPECTED_PROOF: &str = "unexpected_proof";
    /// The guest failed on this payload (trap or host-call misuse).
    pub const GUEST_FAILED: &str = "guest_failed";
}

/// `[exec.params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `compiler` (default) or `interpreter`.
    #[serde(default = "default_backend")]
    pub backend: Backend,
    /// Gas a block may use.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
}

fn default_backend() -> Backend {
    Backend::Compiler
}

fn default_gas_limit() -> u64 {
    DEFAULT_GAS_LIMIT
}

impl Default for Params {
    fn default() -> Self {
        Params {
            backend: default_backend(),
            gas_limit: default_gas_limit(),
        }
    }
}

/// Why executing failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No state is kept under this root (never executed, or pruned).
    #[error("no state with root {0}")]
    UnknownState(Hash),
    /// The payload does not decode.
    #[error(transparent)]
    BadPayload(#[from] PayloadError),
    /// The guest run failed.
    #[error(transparent)]
    Vm(#[from] VmError),
}

impl From<ExecError> for PluginError {
    fn from(e: ExecError) -> PluginError {
        let msg = e.to_string();
        match e {
            ExecError::UnknownState(_) | ExecError::BadPayload(_) => {
                PluginError::invalid_input(msg)
            }
            ExecError::Vm(VmError::OutOfGas { .. }) => {
                PluginError::rejected(format!("{}: {msg}", reason::OUT_OF_GAS))
            }
            ExecError::Vm(VmError::Guest(_)) => PluginError::internal(msg),
            ExecError::Vm(VmError::Engine(_)) => PluginError::internal(msg),
        }
    }
}

/// The executor: the guest and the states by root.
#[derive(Debug)]
pub struct ReExec {
    vm: Vm,
    gas_limit: u64,
    states: States,
    genesis_root: Hash,
}

impl ReExec {
    /// An executor with `params`, holding the genesis state.
    pub fn new(params: Params) -> Result<ReExec, PluginError> {
        let vm = Vm::new(params.backend).map_err(|e| PluginError::config(e.to_string()))?;
        let genesis = PoolState::genesis();
        let genesis_root = genesis.root();
        let mut states = HashMap::new();
        states.insert(genesis_root, Arc::new(genesis));
        Ok(ReExec {
            vm,
            gas_limit: params.gas_limit,
            states,
            genesis_root,
        })
    }

    /// From the host's init arguments (`[exec.params]` as JSON).
    pub fn from_init(args: &InitArgs) -> Result<ReExec, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[exec.params]: {e}")))?
        };
        ReExec::new(params)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.vm.backend()
    }

    /// The block gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    /// The state kept under `root`.
    pub fn state(&self, root: &Hash) -> Option<&PoolState> {
        self.states.get(root).map(Arc::as_ref)
    }

    /// How many states are kept.
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// Direct access to the guest (benchmarks, guest self-checks).
    pub fn vm(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// Re-executes `payload` on the state under `pre` without keeping the result.
    pub fn run(&mut self, pre: &Hash, payload: &[u8]) -> Result<BlockRun, ExecError> {
        let pre_state = self
            .states
            .get(pre)
            .cloned()
            .ok_or(ExecError::UnknownState(*pre))?;
        let txs = decode_payload(payload)?;
        Ok(self
            .vm
            .run_block(&pre_state, guest_input(&txs), self.gas_limit)?)
    }

    fn keep(&mut self, run: &BlockRun) {
        self.states
            .entry(run.root)
            .or_insert_with(|| Arc::new(run.post.clone()));
    }
}

fn invalid(code: &str, detail: impl Into<String>) -> Verdict {
    Verdict::Invalid {
        code: code.into(),
        detail: detail.into(),
    }
}

impl Executor for ReExec {
    fn genesis_state_root(&mut self) -> Result<Hash, PluginError> {
        // Re-derivable, so kept even after a restore or retain that dropped it.
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
        let run = self.run(pre_state_root, payload)?;
        self.keep(&run);
        let receipt = Receipt {
            results: run.results,
            gas_used: run.gas_used,
        };
        Ok(ExecOutput {
            post_state_root: run.root,
            receipt: receipt.encode(),
            proof: Vec::new(),
            gas_used: run.gas_used,
        })
    }

    fn validate(&mut self, request: ValidateRequest) -> Result<Verdict, PluginError> {
        let Some(payload) = request.payload else {
            return Ok(invalid(
                reason::MISSING_PAYLOAD,
                "re-execution needs the payload",
            ));
        };
        if !request.proof.is_empty() {
            return Ok(invalid(
                reason::UNEXPECTED_PROOF,
                format!(
                    "{} proof bytes on a re-execution chain",
                    request.proof.len()
                ),
            ));
        }
        let payload_hash = blake2b_256(&payload);
        if payload_hash != request.header.payload_hash {
            return Ok(invalid(
                reason::PAYLOAD_HASH_MISMATCH,
                format!(
                    "header says {}, payload hashes to {payload_hash}",
                    request.header.payload_hash
                ),
            ));
        }
        let claimed = match Receipt::decode_bytes(&request.receipt) {
            Ok(r) => r,
            Err(e) => return Ok(invalid(reason::BAD_RECEIPT, e.to_string())),
        };
        let run = match self.run(&request.pre_state_root, &payload) {
            Ok(run) => run,
            Err(ExecError::UnknownState(root)) => {
                return Err(PluginError::invalid_input(format!(
                    "cannot validate: no state with root {root} (pruned or never seen)"
                )))
            }
            Err(ExecError::BadPayload(e)) => {
                return Ok(invalid(reason::BAD_PAYLOAD, e.to_string()))
            }
            Err(ExecError::Vm(VmError::OutOfGas { limit })) => {
                return Ok(invalid(
                    reason::OUT_OF_GAS,
                    format!("payload needs more than the block limit of {limit} gas"),
                ))
            }
            Err(ExecError::Vm(VmError::Guest(m))) => return Ok(invalid(reason::GUEST_FAILED, m)),
            Err(e @ ExecError::Vm(VmError::Engine(_))) => return Err(e.into()),
        };
        if claimed.results != run.results {
            let first = claimed
                .results
                .iter()
                .zip(&run.results)
                .position(|(a, b)| a != b)
                .unwrap_or(claimed.results.len().min(run.results.len()));
            return Ok(invalid(
                reason::RECEIPT_MISMATCH,
                format!(
                    "results differ from transaction {first} ({} claimed, {} re-executed)",
                    claimed.results.len(),
                    run.results.len()
                ),
            ));
        }
        if claimed.gas_used != run.gas_used {
            return Ok(invalid(
                reason::GAS_MISMATCH,
                format!(
                    "claimed {} gas, re-execution used {}",
                    claimed.gas_used, run.gas_used
                ),
            ));
        }
        if request.header.post_state_root != run.root {
            return Ok(invalid(
                reason::POST_STATE_ROOT_MISMATCH,
                format!(
                    "header claims {}, re-execution gives {}",
                    request.header.post_state_root, run.root
                ),
            ));
        }
        self.keep(&run);
        Ok(Verdict::Valid)
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
pub struct ReExecPlugin;

impl Plugin for ReExecPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Exec;
    const DESCRIPTION: &'static str =
        "shielded-pool workload as a PolkaVM guest (C, Blake2b in-guest), validated by re-execution";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Exec(Box::new(ReExec::from_init(&args)?)))
    }
}

diverge_plugins::export_plugin!(ReExecPlugin);
