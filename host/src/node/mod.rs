//! The node: the block pipeline ([`core`], sans-IO), its wire messages ([`wire`]), and the
//! process around it ([`runtime`]: clock, QUIC, disk, event log, [`metrics`]).

pub mod core;
pub mod cost;
pub mod metrics;
pub mod rpc;
pub mod runtime;
pub mod wire;
pub mod workload;
