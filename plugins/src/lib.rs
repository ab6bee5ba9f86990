//! The diverge plugin ABI: the one crate every plugin and the host depend on.
//!
//! diverge is a thin host binary that loads one plugin per axis (consensus, data availability,
//! execution) from a shared library chosen by config. This crate is the contract between them:
//!
//! - [`types`]: the chain types every combination shares (Blake2b-256 [`Hash`], [`Header`],
//!   validator keys, chain parameters) and [`codec`], JAM's binary codec, used for everything
//!   that crosses the library boundary as bytes.
//! - [`consensus`], [`da`], [`exec`]: the three interfaces as plain Rust traits. They are
//!   *sans-IO*: a plugin never touches sockets, clocks or threads for IO; the host passes time
//!   and events in and receives actions out, so the same plugin runs in a real node and in a
//!   simulator with virtual time.
//! - [`ffi`]: the `abi_stable` layer (the only place that touches it). The export macro
//!   [`export_plugin!`] wraps a plain implementation into a root module whose every entry point
//!   catches panics; [`loader`] opens a library, checks its layout and ABI version, and hands back
//!   objects that implement the same plain traits, so code and tests are written once and run
//!   against the rlib or the loaded `.so` alike.
//!
//! Rich values (events, actions, headers) cross the boundary encoded with the codec, not as
//! `#[repr(C)]` mirrors: the boundary stays a handful of byte-in/byte-out methods that abi_stable
//! checks for layout, and [`ABI_VERSION`] versions what is inside the bytes.

pub mod codec;
pub mod conformance;
pub mod consensus;
pub mod da;
pub mod error;
pub mod exec;
pub mod ffi;
pub mod loader;
pub mod simnet;
pub mod testkit;
pub mod types;
pub mod work;

pub use conformance::{CaseFormat, CaseOutcome};
pub use consensus::{Action, Consensus, Event, SealInfo};
pub use da::{CheckShard, CheckedShard, DaShape, DataAvailability, Encoded, MaliciousEncoding};
pub use error::{ErrorKind, PluginError};
pub use exec::{ExecOutput, Executor, ValidateRequest, Verdict};
pub use types::{
    blake2b_256, Axis, ChainParams, Hash, Header, InitArgs, PluginMeta, Slot, ValidatorIndex,
    ValidatorKeys, ValidatorSecret,
};

/// Version of what travels inside the bytes (codec schemas of events, actions, headers, init
/// arguments). abi_stable checks the layout of the boundary itself; this number covers the rest.
/// Bump it whenever an encoded type changes shape.
pub const ABI_VERSION: u32 = 2;

/// A plugin object the host instantiated, one variant per axis.
pub enum Instance {
    /// A consensus engine.
    Consensus(Box<dyn Consensus>),
    /// A data-availability scheme.
    Da(Box<dyn DataAvailability>),
    /// An execution engine.
    Exec(Box<dyn Executor>),
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let axis = match self {
            Instance::Consensus(_) => "consensus",
            Instance::Da(_) => "da",
            Instance::Exec(_) => "exec",
        };
        write!(f, "Instance({axis})")
    }
}
