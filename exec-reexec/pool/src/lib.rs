//! The chain's workload, a shielded-pool-like state transition, as everything both execution
//! plugins share: the PolkaVM guest blob (`../guest/pool.c`), the payload and receipt formats
//! ([`tx`]), the six host calls ([`host`]), the state and its root ([`state`]), the PolkaVM
//! runner ([`vm`]) and the workload generator ([`workload`]). exec-reexec validates by
//! re-executing it; exec-proof proves its run with pcvm. One crate, so the semantics a proof
//! proves are the ones re-execution runs.

pub mod host;
pub mod state;
pub mod tx;
pub mod vm;
pub mod workload;

/// Default gas limit per block: ~5,000 generated transactions (~20k gas each), which the
/// recompiler validates in ~170 ms on the 2-core dev machine, under the 600 ms (a tenth of a
/// 6 s slot) the design allows.
pub const DEFAULT_GAS_LIMIT: u64 = 100_000_000;
