//! One module per CLI command; `main.rs` only parses arguments and reports errors.

pub mod compare;
pub mod conformance;
pub mod da;
pub mod exec;
pub mod inspect;
pub mod keys;
pub mod run;
pub mod testnet;
