//! The `abi_stable` boundary: FFI-safe trait objects, the root module a plugin library exports,
//! and the adapters between them and the plain traits.
//!
//! Every method moves bytes (codec-encoded values) or small `#[repr(C)]` structs, so abi_stable's
//! load-time layout check covers the whole surface. Plugin-side adapters catch every panic: a
//! panic inside an `extern "C"` function would abort the host (abi_stable's default), so each
//! entry point runs under `catch_unwind`, and an instance that panicked is poisoned (its state
//! may be half-updated) and answers every later call with [`ErrorKind::Panicked`].

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RErr, ROk, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

use crate::codec::{decode_exact, Encode};
use crate::conformance::{CaseFormat, CaseOutcome};
use crate::consensus::{Consensus, Event, SealInfo, Time};
use crate::da::{CheckedShard, DaShape, DataAvailability, Encoded};
use crate::error::{ErrorKind, PluginError};
use crate::exec::{ExecOutput, Executor, ValidateRequest, Verdict};
use crate::types::{Axis, Hash, Header, InitArgs, PluginMeta};
use crate::Instance;

/// Items the [`crate::export_plugin!`] expansion names; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
}

/// [`PluginError`] in FFI form.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiError {
    /// Category.
    pub kind: ErrorKind,
    /// Detail.
    pub message: RString,
}

/// Result of every boundary call.
pub type FfiResult<T> = RResult<T, FfiError>;

impl From<PluginError> for FfiError {
    fn from(e: PluginError) -> Self {
        FfiError {
            kind: e.kind,
            message: e.message.into(),
        }
    }
}

impl From<FfiError> for PluginError {
    fn from(e: FfiError) -> Self {
        PluginError {
            kind: e.kind,
            message: e.message.into_string(),
        }
    }
}

/// Consensus, across the boundary. Values are codec-encoded.
#[sabi_trait]
pub trait FfiConsensus: Send {
    /// [`Consensus::on_event`]: an encoded [`Event`] in, encoded `Vec<Action>` out.
    fn on_event(&mut self, now: u64, event: RSlice<'_, u8>) -> FfiResult<RVec<u8>>;
    /// [`Consensus::seal`]: encoded [`Header`] in and out.
    fn seal(&mut self, now: u64, header: RSlice<'_, u8>) -> FfiResult<RVec<u8>>;
    /// [`Consensus::verify_seal`]: encoded [`Header`] in, encoded [`SealInfo`] out.
    fn verify_seal(&mut self, header: RSlice<'_, u8>) -> FfiResult<RVec<u8>>;
    /// [`Consensus::verify_justification`].
    fn verify_justification(
        &mut self,
        hash: RSlice<'_, u8>,
        justification: RSlice<'_, u8>,
    ) -> FfiResult<()>;
    /// [`Consensus::snapshot`].
    fn snapshot(&self) -> FfiResult<RVec<u8>>;
    /// [`Consensus::restore`].
    #[sabi(last_prefix_field)]
    fn restore(&mut self, snapshot: RSlice<'_, u8>) -> FfiResult<()>;
}

/// Shard counts, FFI form of [`DaShape`].
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct FfiShape {
    /// Shards produced.
    pub shards: u32,
    /// Shards needed to decode.
    pub min_shards: u32,
}

/// FFI form of [`Encoded`].
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiEncoded {
    /// Commitment.
    pub commitment: RVec<u8>,
    /// Shards by index.
    pub shards: RVec<RVec<u8>>,
}

/// A checked shard lent to the plugin for decoding.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct FfiShardRef<'a> {
    /// Shard index.
    pub index: u32,
    /// Shard bytes.
    pub bytes: RSlice<'a, u8>,
}

/// Data availability, across the boundary.
#[sabi_trait]
pub trait FfiDa: Send + Sync {
    /// [`DataAvailability::shape`].
    fn shape(&self) -> FfiShape;
    /// [`DataAvailability::encode`].
    fn encode(&self, data: RSlice<'_, u8>) -> FfiResult<FfiEncoded>;
    /// [`DataAvailability::verify_shard`].
    fn verify_shard(
        &self,
        commitment: RSlice<'_, u8>,
        index: u32,
        shard: RSlice<'_, u8>,
    ) -> FfiResult<()>;
    /// [`DataAvailability::decode`]; the host only passes shards it checked.
    fn decode(
        &self,
        commitment: RSlice<'_, u8>,
        shards: RSlice<'_, FfiShardRef<'_>>,
    ) -> FfiResult<RVec<u8>>;
    /// [`DataAvailability::sample`].
    #[sabi(last_prefix_field)]
    fn sample(&self, commitment: RSlice<'_, u8>, seed: RSlice<'_, u8>) -> FfiResult<RVec<u32>>;
}

/// Execution, across the boundary. Values are codec-encoded.
#[sabi_trait]
pub trait FfiExec: Send {
    /// [`Executor::genesis_state_root`]: encoded [`Hash`] out.
    fn genesis_state_root(&mut self) -> FfiResult<RVec<u8>>;
    /// [`Executor::execute`]: encoded [`Hash`] and raw payload in, encoded [`ExecOutput`] out.
    fn execute(
        &mut self,
        pre_state_root: RSlice<'_, u8>,
        payload: RSlice<'_, u8>,
    ) -> FfiResult<RVec<u8>>;
    /// [`Executor::validate`]: encoded [`ValidateRequest`] in, encoded [`Verdict`] out.
    fn validate(&mut self, request: RSlice<'_, u8>) -> FfiResult<RVec<u8>>;
    /// [`Executor::retain`]: encoded `Vec<Hash>` in.
    fn retain(&mut self, roots: RSlice<'_, u8>) -> FfiResult<()>;
    /// [`Executor::snapshot`].
    fn snapshot(&self) -> FfiResult<RVec<u8>>;
    /// [`Executor::restore`].
    #[sabi(last_prefix_field)]
    fn restore(&mut self, snapshot: RSlice<'_, u8>) -> FfiResult<()>;
}

/// Boxed FFI consensus object.
pub type FfiConsensusBox = FfiConsensus_TO<'static, RBox<()>>;
/// Boxed FFI DA object.
pub type FfiDaBox = FfiDa_TO<'static, RBox<()>>;
/// Boxed FFI exec object.
pub type FfiExecBox = FfiExec_TO<'static, RBox<()>>;

/// An instantiated plugin object, FFI form of [`Instance`].
#[repr(u8)]
#[derive(StableAbi)]
#[allow(missing_debug_implementations)]
pub enum FfiInstance {
    /// Consensus.
    Consensus(FfiConsensusBox),
    /// Data availability.
    Da(FfiDaBox),
    /// Execution.
    Exec(FfiExecBox),
}

/// FFI form of [`PluginMeta`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiMeta {
    /// Crate name.
    pub name: RString,
    /// Crate version.
    pub version: RString,
    /// Axis.
    pub axis: Axis,
    /// [`crate::ABI_VERSION`] the plugin was built with.
    pub abi_version: u32,
    /// One line.
    pub description: RString,
}

/// FFI form of [`CaseOutcome`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiCaseOutcome {
    /// Whether the case passed.
    pub passed: bool,
    /// One line.
    pub detail: RString,
}

/// The root module every plugin library exports (through [`crate::export_plugin!`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
#[allow(missing_debug_implementations)]
pub struct PluginMod {
    /// Who the plugin is.
    pub meta: extern "C" fn() -> FfiMeta,
    /// Runs one conformance case of `suite`.
    pub conformance: extern "C" fn(
        suite: RStr<'_>,
        format: CaseFormat,
        case: RSlice<'_, u8>,
    ) -> FfiResult<FfiCaseOutcome>,
    /// Creates an instance from encoded [`InitArgs`]. Later fields go after this one.
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(init: RSlice<'_, u8>) -> FfiResult<FfiInstance>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "diverge_plugin";
    const NAME: &'static str = "diverge_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// A plugin crate implements this (plain Rust) and exports it with [`crate::export_plugin!`].
pub trait Plugin {
    /// Crate name: use `env!("CARGO_PKG_NAME")`.
    const NAME: &'static str;
    /// Crate version: use `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// Which axis.
    const AXIS: Axis;
    /// One line for `diverge plugins`.
    const DESCRIPTION: &'static str;
    /// The ABI version reported to the host. Never override it except to test the loader.
    const ABI_VERSION: u32 = crate::ABI_VERSION;

    /// Creates an instance; it must be of [`Plugin::AXIS`].
    fn instantiate(args: InitArgs) -> Result<Instance, PluginError>;

    /// Judges one public test-vector case of `suite`.
    fn conformance(
        suite: &str,
        format: CaseFormat,
        case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        let _ = (format, case);
        Err(PluginError::unsupported(format!(
            "{} runs no conformance suite '{suite}'",
            Self::NAME
        )))
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into [`ErrorKind::Panicked`].
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> FfiResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e.into()),
        Err(payload) => RErr(FfiError {
            kind: ErrorKind::Panicked,
            message: format!("plugin panicked in {what}: {}", panic_message(payload)).into(),
        }),
    }
}

/// Holds a plain plugin object and poisons it after a panic.
struct Guarded<T: ?Sized> {
    inner: Option<Box<T>>,
}

impl<T: ?Sized> Guarded<T> {
    fn new(inner: Box<T>) -> Self {
        Guarded { inner: Some(inner) }
    }

    fn call<R>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut T) -> Result<R, PluginError>,
    ) -> FfiResult<R> {
        let Some(inner) = self.inner.as_mut() else {
            return RErr(poisoned(what));
        };
        let out = guard(what, || f(inner));
        if matches!(&out, RErr(e) if e.kind == ErrorKind::Panicked) {
            // The panic may have left the object half-updated; never use it again.
            self.poison();
        }
        out
    }

    fn call_ref<R>(
        &self,
        what: &str,
        f: impl FnOnce(&T) -> Result<R, PluginError>,
    ) -> FfiResult<R> {
        match self.inner.as_ref() {
            Some(inner) => guard(what, || f(inner)),
            None => RErr(poisoned(what)),
        }
    }

    fn poison(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Dropping may panic too; swallow it rather than abort the host.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(inner)));
        }
    }
}

impl<T: ?Sized> Drop for Guarded<T> {
    fn drop(&mut self) {
        self.poison();
    }
}

fn poisoned(what: &str) -> FfiError {
    FfiError {
        kind: ErrorKind::Panicked,
        message: format!("{what}: instance unusable after an earlier panic").into(),
    }
}

fn to_rvec(v: Vec<u8>) -> RVec<u8> {
    RVec::from(v)
}

// Shared-access objects (DA) cannot poison through &self; a panic there leaves no half-updated
// state because DataAvailability methods take &self.
struct GuardedDa(Box<dyn DataAvailability>);

impl FfiConsensus for Guarded<dyn Consensus> {
    fn on_event(&mut self, now: u64, event: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        self.call("consensus.on_event", |c| {
            let event: Event = decode_exact(event.as_slice())?;
            // Counts left by a call that failed are not this call's.
            crate::work::clear();
            let mut actions = c.on_event(now, event)?;
            actions.extend(crate::work::take());
            Ok(to_rvec(actions.encode()))
        })
    }

    fn seal(&mut self, now: u64, header: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        self.call("consensus.seal", |c| {
            let header: Header = decode_exact(header.as_slice())?;
            Ok(to_rvec(c.seal(now, header)?.encode()))
        })
    }

    fn verify_seal(&mut self, header: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        self.call("consensus.verify_seal", |c| {
            let header: Header = decode_exact(header.as_slice())?;
            Ok(to_rvec(c.verify_seal(&header)?.encode()))
        })
    }

    fn verify_justification(
        &mut self,
        hash: RSlice<'_, u8>,
        justification: RSlice<'_, u8>,
    ) -> FfiResult<()> {
        self.call("consensus.verify_justification", |c| {
            let hash: Hash = decode_exact(hash.as_slice())?;
            c.verify_justification(&hash, justification.as_slice())
        })
    }

    fn snapshot(&self) -> FfiResult<RVec<u8>> {
        self.call_ref("consensus.snapshot", |c| Ok(to_rvec(c.snapshot()?)))
    }

    fn restore(&mut self, snapshot: RSlice<'_, u8>) -> FfiResult<()> {
        self.call("consensus.restore", |c| c.restore(snapshot.as_slice()))
    }
}

impl FfiDa for GuardedDa {
    fn shape(&self) -> FfiShape {
        // shape() is a pair of numbers fixed at instantiation; a plugin that panics here is
        // reported as having no shards, which every caller rejects.
        match catch_unwind(AssertUnwindSafe(|| self.0.shape())) {
            Ok(s) => FfiShape {
                shards: s.shards,
                min_shards: s.min_shards,
            },
            Err(_) => FfiShape {
                shards: 0,
                min_shards: 0,
            },
        }
    }

    fn encode(&self, data: RSlice<'_, u8>) -> FfiResult<FfiEncoded> {
        guard("da.encode", || {
            let Encoded { commitment, shards } = self.0.encode(data.as_slice())?;
            Ok(FfiEncoded {
                commitment: to_rvec(commitment),
                shards: shards.into_iter().map(to_rvec).collect(),
            })
        })
    }

    fn verify_shard(
        &self,
        commitment: RSlice<'_, u8>,
        index: u32,
        shard: RSlice<'_, u8>,
    ) -> FfiResult<()> {
        guard("da.verify_shard", || {
            self.0
                .verify_shard(commitment.as_slice(), index, shard.as_slice())
        })
    }

    fn decode(
        &self,
        commitment: RSlice<'_, u8>,
        shards: RSlice<'_, FfiShardRef<'_>>,
    ) -> FfiResult<RVec<u8>> {
        guard("da.decode", || {
            let shards: Vec<CheckedShard> = shards
                .iter()
                .map(|s| CheckedShard::from_host(s.index, s.bytes.to_vec()))
                .collect();
            Ok(to_rvec(self.0.decode(commitment.as_slice(), &shards)?))
        })
    }

    fn sample(&self, commitment: RSlice<'_, u8>, seed: RSlice<'_, u8>) -> FfiResult<RVec<u32>> {
        guard("da.sample", || {
            let seed: [u8; 32] = seed
                .as_slice()
                .try_into()
                .map_err(|_| PluginError::invalid_input("sample seed must be 32 bytes"))?;
            Ok(RVec::from(self.0.sample(commitment.as_slice(), &seed)?))
        })
    }
}

impl FfiExec for Guarded<dyn Executor> {
    fn genesis_state_root(&mut self) -> FfiResult<RVec<u8>> {
        self.call("exec.genesis_state_root", |e| {
            Ok(to_rvec(e.genesis_state_root()?.encode()))
        })
    }

    fn execute(
        &mut self,
        pre_state_root: RSlice<'_, u8>,
        payload: RSlice<'_, u8>,
    ) -> FfiResult<RVec<u8>> {
        self.call("exec.execute", |e| {
            let pre: Hash = decode_exact(pre_state_root.as_slice())?;
            Ok(to_rvec(e.execute(&pre, payload.as_slice())?.encode()))
        })
    }

    fn validate(&mut self, request: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        self.call("exec.validate", |e| {
            let request: ValidateRequest = decode_exact(request.as_slice())?;
            Ok(to_rvec(e.validate(request)?.encode()))
        })
    }

    fn retain(&mut self, roots: RSlice<'_, u8>) -> FfiResult<()> {
        self.call("exec.retain", |e| {
            let roots: Vec<Hash> = decode_exact(roots.as_slice())?;
            e.retain(&roots)
        })
    }

    fn snapshot(&self) -> FfiResult<RVec<u8>> {
        self.call_ref("exec.snapshot", |e| Ok(to_rvec(e.snapshot()?)))
    }

    fn restore(&mut self, snapshot: RSlice<'_, u8>) -> FfiResult<()> {
        self.call("exec.restore", |e| e.restore(snapshot.as_slice()))
    }
}

extern "C" fn meta_of<P: Plugin>() -> FfiMeta {
    FfiMeta {
        name: P::NAME.into(),
        version: P::VERSION.into(),
        axis: P::AXIS,
        abi_version: P::ABI_VERSION,
        description: P::DESCRIPTION.into(),
    }
}

extern "C" fn conformance_of<P: Plugin>(
    suite: RStr<'_>,
    format: CaseFormat,
    case: RSlice<'_, u8>,
) -> FfiResult<FfiCaseOutcome> {
    guard("conformance", || {
        let outcome = P::conformance(suite.as_str(), format, case.as_slice())?;
        let (passed, detail) = match outcome {
            CaseOutcome::Pass { detail } => (true, detail),
            CaseOutcome::Fail { detail } => (false, detail),
        };
        Ok(FfiCaseOutcome {
            passed,
            detail: detail.into(),
        })
    })
}

extern "C" fn instantiate_of<P: Plugin>(init: RSlice<'_, u8>) -> FfiResult<FfiInstance> {
    use abi_stable::sabi_trait::TD_Opaque;
    guard("instantiate", || {
        let args: InitArgs = decode_exact(init.as_slice())?;
        let instance = P::instantiate(args)?;
        let axis = match &instance {
            Instance::Consensus(_) => Axis::Consensus,
            Instance::Da(_) => Axis::Da,
            Instance::Exec(_) => Axis::Exec,
        };
        if axis != P::AXIS {
            return Err(PluginError::internal(format!(
                "{} declares axis {} but instantiated {axis}",
                P::NAME,
                P::AXIS
            )));
        }
        Ok(match instance {
            Instance::Consensus(c) => {
                FfiInstance::Consensus(FfiConsensus_TO::from_value(Guarded::new(c), TD_Opaque))
            }
            Instance::Da(d) => FfiInstance::Da(FfiDa_TO::from_value(GuardedDa(d), TD_Opaque)),
            Instance::Exec(e) => {
                FfiInstance::Exec(FfiExec_TO::from_value(Guarded::new(e), TD_Opaque))
            }
        })
    })
}

/// Builds the root module of plugin `P` (called by the [`crate::export_plugin!`] expansion).
#[doc(hidden)]
pub fn root_module<P: Plugin>() -> PluginModRef {
    PluginMod {
        meta: meta_of::<P>,
        conformance: conformance_of::<P>,
        instantiate: instantiate_of::<P>,
    }
    .leak_into_prefix()
}

/// Exports a type implementing [`Plugin`] as this library's root module.
///
/// Put `crate-type = ["cdylib", "rlib"]` in the plugin's Cargo.toml and call this once:
/// `diverge_plugins::export_plugin!(MyPlugin);`
///
/// The expansion exists only with the calling crate's `export` feature, which every plugin
/// crate declares and enables by default (`[features] default = ["export"]`, `export = []`):
/// the symbol name is fixed, so two plugin rlibs in one binary (pcvm inside exec-proof, a
/// benchmark of both DA plugins) collide unless the linked ones are built without it.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(feature = "export")]
        // The symbol name is abi_stable's mangled "root module loader" (what its
        // #[export_root_module] emits); spelling it here keeps abi_stable out of plugin crates.
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::ffi::__private::LibHeader = {
            fn __diverge_root_module() -> $crate::ffi::PluginModRef {
                $crate::ffi::root_module::<$plugin>()
            }
            extern "C" fn __diverge_erased_root_module() -> $crate::ffi::__private::RootModuleResult
            {
                $crate::ffi::__private::__call_root_module_loader(__diverge_root_module)
            }
            // SAFETY: the constructor returns a PluginModRef, the module type named here, as
            // abi_stable's own attribute macro requires.
            unsafe {
                $crate::ffi::__private::LibHeader::from_constructor::<$crate::ffi::PluginModRef>(
                    __diverge_erased_root_module,
                    $crate::ffi::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

// ---- host side: loaded objects implementing the plain traits ----

pub(crate) struct LoadedConsensus(pub(crate) FfiConsensusBox);
pub(crate) struct LoadedDa(pub(crate) FfiDaBox);
pub(crate) struct LoadedExec(pub(crate) FfiExecBox);

pub(crate) fn ffi_back<T>(r: FfiResult<T>) -> Result<T, PluginError> {
    r.into_result().map_err(PluginError::from)
}

fn decode_reply<T: crate::codec::Decode>(
    what: &str,
    r: FfiResult<RVec<u8>>,
) -> Result<T, PluginError> {
    let bytes = ffi_back(r)?;
    // A plugin that answers with garbage is a plugin bug, not bad input from the host.
    decode_exact(bytes.as_slice()).map_err(|e| {
        PluginError::internal(format!("{what}: plugin returned undecodable bytes: {e}"))
    })
}

impl Consensus for LoadedConsensus {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<crate::Action>, PluginError> {
        let r = self.0.on_event(now, RSlice::from_slice(&event.encode()));
        decode_reply("consensus.on_event", r)
    }

    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        let r = self.0.seal(now, RSlice::from_slice(&header.encode()));
        decode_reply("consensus.seal", r)
    }

    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        let r = self.0.verify_seal(RSlice::from_slice(&header.encode()));
        decode_reply("consensus.verify_seal", r)
    }

    fn verify_justification(
        &mut self,
        hash: &Hash,
        justification: &[u8],
    ) -> Result<(), PluginError> {
        ffi_back(self.0.verify_justification(
            RSlice::from_slice(&hash.encode()),
            RSlice::from_slice(justification),
        ))
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        ffi_back(self.0.snapshot()).map(RVec::into_vec)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        ffi_back(self.0.restore(RSlice::from_slice(snapshot)))
    }
}

impl DataAvailability for LoadedDa {
    fn shape(&self) -> DaShape {
        let s = self.0.shape();
        DaShape {
            shards: s.shards,
            min_shards: s.min_shards,
        }
    }

    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError> {
        let e = ffi_back(self.0.encode(RSlice::from_slice(data)))?;
        Ok(Encoded {
            commitment: e.commitment.into_vec(),
            shards: e.shards.into_iter().map(RVec::into_vec).collect(),
        })
    }

    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError> {
        ffi_back(self.0.verify_shard(
            RSlice::from_slice(commitment),
            index,
            RSlice::from_slice(shard),
        ))
    }

    fn decode(&self, commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError> {
        let refs: Vec<FfiShardRef<'_>> = shards
            .iter()
            .map(|s| FfiShardRef {
                index: s.index(),
                bytes: RSlice::from_slice(s.bytes()),
            })
            .collect();
        ffi_back(
            self.0
                .decode(RSlice::from_slice(commitment), RSlice::from_slice(&refs)),
        )
        .map(RVec::into_vec)
    }

    fn sample(&self, commitment: &[u8], seed: &[u8; 32]) -> Result<Vec<u32>, PluginError> {
        ffi_back(
            self.0
                .sample(RSlice::from_slice(commitment), RSlice::from_slice(seed)),
        )
        .map(RVec::into_vec)
    }
}

impl Executor for LoadedExec {
    fn genesis_state_root(&mut self) -> Result<Hash, PluginError> {
        let r = self.0.genesis_state_root();
        decode_reply("exec.genesis_state_root", r)
    }

    fn execute(
        &mut self,
        pre_state_root: &Hash,
        payload: &[u8],
    ) -> Result<ExecOutput, PluginError> {
        let r = self.0.execute(
            RSlice::from_slice(&pre_state_root.encode()),
            RSlice::from_slice(payload),
        );
        decode_reply("exec.execute", r)
    }

    fn validate(&mut self, request: ValidateRequest) -> Result<Verdict, PluginError> {
        let r = self.0.validate(RSlice::from_slice(&request.encode()));
        decode_reply("exec.validate", r)
    }

    fn retain(&mut self, roots: &[Hash]) -> Result<(), PluginError> {
        ffi_back(self.0.retain(RSlice::from_slice(&roots.to_vec().encode())))
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        ffi_back(self.0.snapshot()).map(RVec::into_vec)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        ffi_back(self.0.restore(RSlice::from_slice(snapshot)))
    }
}

pub(crate) fn meta_from_ffi(m: FfiMeta) -> PluginMeta {
    PluginMeta {
        name: m.name.into_string(),
        version: m.version.into_string(),
        axis: m.axis,
        abi_version: m.abi_version,
        description: m.description.into_string(),
    }
}

pub(crate) fn outcome_from_ffi(o: FfiCaseOutcome) -> CaseOutcome {
    let detail = o.detail.into_string();
    if o.passed {
        CaseOutcome::Pass { detail }
    } else {
        CaseOutcome::Fail { detail }
    }
}

pub(crate) fn instance_from_ffi(i: FfiInstance) -> Instance {
    match i {
        FfiInstance::Consensus(c) => Instance::Consensus(Box::new(LoadedConsensus(c))),
        FfiInstance::Da(d) => Instance::Da(Box::new(LoadedDa(d))),
        FfiInstance::Exec(e) => Instance::Exec(Box::new(LoadedExec(e))),
    }
}
