//! `consensus-safrole`: the Polkadot-style consensus plugin: Safrole block production (Gray Paper
//! section 6) and GRANDPA finality, as a sans-IO state machine the host drives through
//! `diverge_plugins::Consensus`.
//!
//! Status: the GRANDPA voter ([`grandpa`]) and fork choice ([`fork_choice`]) are here and tested;
//! the Safrole state transition, sealing and the plugin wiring arrive with the rest of issue #3. Until
//! then the crate builds as an rlib only, so no config can load an unfinished plugin.

pub mod fork_choice;
pub mod grandpa;
pub mod safrole;
