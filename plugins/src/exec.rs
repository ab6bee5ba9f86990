//! The execution axis: run a block's payload against a pre-state, and validate a block either
//! by re-executing it or by checking a proof of its execution.
//!
//! States are content-addressed by their root: `execute` and a successful `validate` keep the
//! post-state under its root, so two children of one parent (a fork) each find their pre-state,
//! and the host prunes with [`Executor::retain`] once finality makes branches irrelevant.

use crate::codec::{Decode, Encode};
use crate::error::PluginError;
use crate::types::{Hash, Header};

/// What executing a payload produced.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ExecOutput {
    /// State root after the payload.
    pub post_state_root: Hash,
    /// Per-transaction results and gas, in the plugin's encoding; travels with the block.
    pub receipt: Vec<u8>,
    /// A proof of the execution (empty for re-execution schemes).
    pub proof: Vec<u8>,
    /// Gas consumed, by the chain spec's cost model.
    pub gas_used: u64,
}

/// Everything a validator has when it validates a block.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidateRequest {
    /// The parent's post-state root.
    pub pre_state_root: Hash,
    /// The block header (carries the claimed post-state root and payload hash).
    pub header: Header,
    /// The payload, when the scheme needs it (re-execution); `None` for proof checkers.
    pub payload: Option<Vec<u8>>,
    /// The author's receipt.
    pub receipt: Vec<u8>,
    /// The author's proof (empty for re-execution).
    pub proof: Vec<u8>,
}

/// The outcome of validation: a block is valid or invalid for a stated reason. Errors (the
/// `Err` of [`Executor::validate`]) mean validation could not be carried out at all.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Verdict {
    /// The block's claims hold.
    Valid,
    /// The block is invalid.
    Invalid {
        /// Stable machine-readable reason, e.g. `post_state_root_mismatch`.
        code: String,
        /// Detail for humans.
        detail: String,
    },
}

/// An execution engine (PolkaVM re-execution, Ligerito proofs, ...).
pub trait Executor: Send {
    /// Root of the genesis state.
    fn genesis_state_root(&mut self) -> Result<Hash, PluginError>;

    /// Applies `payload` to the state with root `pre_state_root` (the author's path).
    fn execute(&mut self, pre_state_root: &Hash, payload: &[u8])
        -> Result<ExecOutput, PluginError>;

    /// Checks a block's execution claims (every validator's path).
    fn validate(&mut self, request: ValidateRequest) -> Result<Verdict, PluginError>;

    /// Keeps only the states whose roots are listed (the host calls it after finality).
    fn retain(&mut self, roots: &[Hash]) -> Result<(), PluginError>;

    /// State as bytes for the host to persist.
    fn snapshot(&self) -> Result<Vec<u8>, PluginError>;

    /// Restores what [`Executor::snapshot`] produced.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError>;
}
