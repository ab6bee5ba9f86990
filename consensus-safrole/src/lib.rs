//! `consensus-safrole`: the Polkadot-style consensus plugin: Safrole block production (Gray Paper
//! section 6) and GRANDPA finality, as a sans-IO state machine the host drives through
//! `diverge_plugins::Consensus`.
//!
//! Status: the GRANDPA vote arithmetic ([`grandpa::votes`]) is here and tested; the Safrole state
//! transition, sealing and the GRANDPA round machine arrive with the rest of issue #3. Until
//! then the crate builds as an rlib only, so no config can load an unfinished plugin.

pub mod grandpa;
