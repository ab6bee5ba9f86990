//! The `diverge` host: CLI, config, plugin loading and (as later issues land) the node loop,
//! network, storage, metrics, testnet launcher and experiments.
//!
//! The host links no plugin crate. It reads a config naming one plugin per axis (consensus, DA,
//! exec), finds each library, checks its ABI and drives it through the plain traits of
//! `diverge-plugins`, owning everything a sans-IO plugin must not touch: time, network, disk.

pub mod chainspec;
pub mod commands;
pub mod config;
pub mod net;
pub mod node;
pub mod registry;
pub mod sim;
pub mod stats;
pub mod store;
pub mod workload;
