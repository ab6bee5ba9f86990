//! Set-up shared by the SSF engine's network tests: six tiny-preset validators with 1 s slots
//! (the dev keys), each test choosing its params, and what a SimNet log says each node
//! finalized.
#![allow(dead_code)] // each test binary uses part of it

use consensus_ssf::engine::SsfConsensus;
use diverge_plugins::consensus::Time;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{ChainParams, Consensus, InitArgs, ValidatorSecret};

/// One second of host time (microseconds).
pub const SEC: u64 = 1_000_000;

/// The params most tests run with: dealer keys (the default), a 100 ms message bound.
pub const PARAMS: &str = r#"{"delta_ms": 100}"#;

/// Validator `i` of the six, with `params_json`.
pub fn args_with(i: u16, params_json: &str) -> InitArgs {
    InitArgs {
        chain: ChainParams {
            slot_ms: 1000,
            ..ChainParams::tiny()
        },
        params_json: params_json.to_string(),
        validators: diverge_keys::dev_validators(6),
        identity: Some(ValidatorSecret {
            index: i,
            seed: diverge_keys::dev_seed(u32::from(i)),
        }),
        genesis: Vec::new(),
    }
}

/// Validator `i` with [`PARAMS`].
pub fn args(i: u16) -> InitArgs {
    args_with(i, PARAMS)
}

/// Validator `i`'s engine with `params_json`.
pub fn engine_with(i: u16, params_json: &str) -> SsfConsensus {
    SsfConsensus::new(&args_with(i, params_json)).expect("engine")
}

/// Validator `i`'s engine with [`PARAMS`].
pub fn engine(i: u16) -> SsfConsensus {
    engine_with(i, PARAMS)
}

/// Validator `i`'s engine with [`PARAMS`], as the network holds it.
pub fn boxed(i: u16) -> Box<dyn Consensus> {
    Box::new(engine_with(i, PARAMS))
}

/// The six with [`PARAMS`] on 1 s slots and 50 ms links.
pub fn net() -> SimNet {
    SimNet::new((0..6).map(boxed).collect(), SEC, 50_000)
}

/// (slot, latency from the slot's start) of every block node `i` finalized.
pub fn finals(net: &SimNet, i: usize) -> Vec<(u32, Time)> {
    net.log
        .finalized
        .iter()
        .filter(|f| f.1 == i)
        .map(|f| (f.3, f.0 - u64::from(f.3) * SEC))
        .collect()
}
