//! Opening plugin libraries (host side).
//!
//! `abi_stable`'s `RootModule::load_from_file` caches one module per root-module type for the
//! whole process, so a second plugin of the same kind would silently come back as the first.
//! Compare runs load two consensus plugins in one process, so this goes through
//! `lib_header_from_path` + `init_root_module` instead, which checks version and layout per file.
//! Libraries are never unloaded (abi_stable leaks them on purpose).

use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RSlice, RStr};

use crate::codec::Encode;
use crate::conformance::{CaseFormat, CaseOutcome};
use crate::consensus::Consensus;
use crate::da::DataAvailability;
use crate::error::PluginError;
use crate::exec::Executor;
use crate::ffi::{self, PluginModRef};
use crate::types::{Axis, InitArgs, PluginMeta};
use crate::{Instance, ABI_VERSION};

/// Why a plugin library could not be used. Each renders as one line naming the file, what was
/// expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the path.
    #[error("{path}: plugin file not found")]
    NotFound {
        /// The path tried.
        path: PathBuf,
    },
    /// The dynamic loader refused the file.
    #[error("{path}: cannot open as a shared library: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A shared library, but not a diverge plugin.
    #[error(
        "{path}: not a diverge plugin (expected the abi_stable root-module symbol, found none)"
    )]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Built against another version of the `diverge-plugins` crate.
    #[error("{path}: plugin interface version mismatch: expected diverge-plugins {expected}, found {found}")]
    InterfaceVersion {
        /// The file.
        path: PathBuf,
        /// This host's interface version.
        expected: String,
        /// The plugin's.
        found: String,
    },
    /// The types at the boundary differ from the host's.
    #[error("{path}: plugin ABI layout mismatch with this host's diverge-plugins {expected} (full report: {report})")]
    Layout {
        /// The file.
        path: PathBuf,
        /// This host's interface version.
        expected: String,
        /// Where abi_stable's (very long) report was written.
        report: String,
    },
    /// Built with a different [`ABI_VERSION`] (codec schemas inside the bytes changed).
    #[error("{path}: plugin ABI version mismatch: expected {expected}, found {found}")]
    AbiVersion {
        /// The file.
        path: PathBuf,
        /// This host's ABI version.
        expected: u32,
        /// The plugin's.
        found: u32,
    },
    /// The plugin implements another axis than the config section asked for.
    #[error(
        "{path}: wrong plugin axis: expected a {expected} plugin, found {found} plugin '{name}'"
    )]
    WrongAxis {
        /// The file.
        path: PathBuf,
        /// The axis asked for.
        expected: Axis,
        /// The plugin's axis.
        found: Axis,
        /// The plugin's name.
        name: String,
    },
    /// Anything else abi_stable reported.
    #[error("{path}: cannot load plugin: {reason}")]
    Other {
        /// The file.
        path: PathBuf,
        /// One line.
        reason: String,
    },
}

/// An opened plugin library.
pub struct PluginLibrary {
    path: PathBuf,
    module: PluginModRef,
    meta: PluginMeta,
}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

fn interface_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

fn classify(path: &Path, err: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path,
            reason: first_line(&err.to_string()),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            LoadError::InterfaceVersion {
                path,
                expected: interface_version(),
                found: actual_version.to_string(),
            }
        }
        LibraryError::AbiInstability(report) => {
            // abi_stable's layout report runs to hundreds of lines: keep it out of the one-line
            // error, but on disk for whoever debugs the mismatch.
            let file = std::env::temp_dir().join(format!(
                "diverge-abi-mismatch-{}.txt",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let report_text = report.to_string();
            let report = match std::fs::write(&file, &report_text) {
                Ok(()) => file.display().to_string(),
                Err(e) => format!("not saved: {e}"),
            };
            LoadError::Layout {
                path,
                expected: interface_version(),
                report,
            }
        }
        other => LoadError::Other {
            path,
            reason: first_line(&other.to_string()),
        },
    }
}

impl PluginLibrary {
    /// Opens `path`, checks interface version, layout and [`ABI_VERSION`].
    pub fn open(path: &Path) -> Result<PluginLibrary, LoadError> {
        if !path.is_file() {
            return Err(LoadError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let header = lib_header_from_path(path).map_err(|e| classify(path, e))?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| classify(path, e))?;
        let meta = ffi::meta_from_ffi((module.meta())());
        if meta.abi_version != ABI_VERSION {
            return Err(LoadError::AbiVersion {
                path: path.to_path_buf(),
                expected: ABI_VERSION,
                found: meta.abi_version,
            });
        }
        Ok(PluginLibrary {
            path: path.to_path_buf(),
            module,
            meta,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the plugin says about itself.
    pub fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    /// Fails unless the plugin implements `axis`.
    pub fn expect_axis(&self, axis: Axis) -> Result<(), LoadError> {
        if self.meta.axis == axis {
            Ok(())
        } else {
            Err(LoadError::WrongAxis {
                path: self.path.clone(),
                expected: axis,
                found: self.meta.axis,
                name: self.meta.name.clone(),
            })
        }
    }

    /// Creates an instance.
    pub fn instantiate(&self, args: &InitArgs) -> Result<Instance, PluginError> {
        self.instantiate_raw(&args.encode())
    }

    /// Creates an instance from raw bytes where encoded [`InitArgs`] belong: for tests that
    /// feed the boundary adversarial input.
    pub fn instantiate_raw(&self, init: &[u8]) -> Result<Instance, PluginError> {
        let instance = ffi::ffi_back((self.module.instantiate())(RSlice::from_slice(init)))?;
        Ok(ffi::instance_from_ffi(instance))
    }

    /// Creates a consensus instance (the plugin must be one).
    pub fn consensus(&self, args: &InitArgs) -> Result<Box<dyn Consensus>, PluginError> {
        match self.instantiate(args)? {
            Instance::Consensus(c) => Ok(c),
            other => Err(self.axis_error(Axis::Consensus, &other)),
        }
    }

    /// Creates a DA instance (the plugin must be one).
    pub fn da(&self, args: &InitArgs) -> Result<Box<dyn DataAvailability>, PluginError> {
        match self.instantiate(args)? {
            Instance::Da(d) => Ok(d),
            other => Err(self.axis_error(Axis::Da, &other)),
        }
    }

    /// Creates an exec instance (the plugin must be one).
    pub fn exec(&self, args: &InitArgs) -> Result<Box<dyn Executor>, PluginError> {
        match self.instantiate(args)? {
            Instance::Exec(e) => Ok(e),
            other => Err(self.axis_error(Axis::Exec, &other)),
        }
    }

    fn axis_error(&self, expected: Axis, got: &Instance) -> PluginError {
        PluginError::config(format!(
            "{}: expected a {expected} plugin, got {got:?}",
            self.path.display()
        ))
    }

    /// Runs one conformance case.
    pub fn conformance(
        &self,
        suite: &str,
        format: CaseFormat,
        case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        let out = ffi::ffi_back((self.module.conformance())(
            RStr::from_str(suite),
            format,
            RSlice::from_slice(case),
        ))?;
        Ok(ffi::outcome_from_ffi(out))
    }
}

/// The file name a plugin crate builds to on this platform: `da-rs1d` -> `libda_rs1d.so`.
pub fn library_file_name(crate_name: &str) -> String {
    let stem = crate_name.replace('-', "_");
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        stem,
        std::env::consts::DLL_SUFFIX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_follows_cargo() {
        if cfg!(target_os = "linux") {
            assert_eq!(library_file_name("da-rs1d"), "libda_rs1d.so");
        }
    }

    #[test]
    fn missing_file_is_one_line_naming_it() {
        let err =
            PluginLibrary::open(Path::new("/nonexistent/libnothing.so")).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/libnothing.so"), "{msg}");
        assert!(!msg.contains('\n'));
    }
}
