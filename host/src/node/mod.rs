//! The node: the block pipeline ([`core`], sans-IO), its wire messages ([`wire`]), and the
//! process around it ([`runtime`]: clock, QUIC, disk, event log, [`metrics`], and [`trace`]:
//! `tracing` spans around plugin calls and plugin telemetry as named events).

pub mod core;
pub mod cost;
pub mod metrics;
pub mod rpc;
pub mod runtime;
pub mod trace;
pub mod wire;
pub mod workload;
