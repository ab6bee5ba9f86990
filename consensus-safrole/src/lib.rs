//! `consensus-safrole`: the Polkadot-style consensus plugin: Safrole block production (Gray Paper
//! section 6) and GRANDPA finality, as a sans-IO state machine the host drives through
//! `diverge_plugins::Consensus`, loaded as `libconsensus_safrole.so`.
//!
//! - [`safrole`]: the state transition (JAM vectors), sealing, tickets, the trace replay.
//! - [`grandpa`]: vote arithmetic, messages and the voter state machine.
//! - [`fork_choice`]: GP 19.4's best block among acceptable ones.
//! - [`engine`]: all of the above behind `Consensus`, plus the BABE-style lottery baseline.
//! - [`wire`], [`keys`], [`srs`]: header digest and gossip encodings, dev keys, the SRS.

pub mod conformance;
pub mod engine;
pub mod fork_choice;
pub mod grandpa;
pub mod wire;

// Safrole itself lives in the `diverge-safrole` library (shared with consensus-ssf, since one
// plugin crate cannot link another); these keep the old paths, e.g.
// `consensus_safrole::safrole::stf`.
pub use diverge_safrole::{keys, srs};
/// Safrole (Gray Paper section 6): re-exported from `diverge-safrole`.
pub mod safrole {
    pub use diverge_safrole::{codec, ring, seal, sequence, stf, tickets, trace, types};
}

use diverge_plugins::ffi::Plugin;
use diverge_plugins::{Axis, CaseFormat, CaseOutcome, InitArgs, Instance, PluginError};

/// The plugin's entry points.
#[derive(Debug)]
pub struct SafrolePlugin;

impl Plugin for SafrolePlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Consensus;
    const DESCRIPTION: &'static str =
        "Safrole ticket sealing (or a BABE-style lottery) + GRANDPA finality";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Consensus(Box::new(
            engine::SafroleConsensus::new(&args)?,
        )))
    }

    fn conformance(
        suite: &str,
        format: CaseFormat,
        case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        match suite {
            "safrole" => conformance::judge_safrole(format, case),
            "safrole-trace" => conformance::judge_trace(format, case),
            _ => Err(PluginError::unsupported(format!(
                "consensus-safrole runs the safrole and safrole-trace suites, not {suite:?}"
            ))),
        }
    }
}

diverge_plugins::export_plugin!(SafrolePlugin);
