//! Running public test vectors through a loaded plugin.
//!
//! Vectors test what a plugin implements (JAM erasure coding, Safrole), so the plugin decodes
//! and judges each case itself; the host only finds the files and reports. That keeps vector
//! schemas out of the host and lets `diverge conformance` test a modified plugin unchanged.

use abi_stable::StableAbi;

/// How a case file is written.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, StableAbi)]
pub enum CaseFormat {
    /// The JSON form of the JAM vectors.
    Json,
    /// The JAM-codec binary form (`.bin`).
    Binary,
}

impl CaseFormat {
    /// The format of a file by its extension.
    pub fn from_extension(ext: &str) -> Option<CaseFormat> {
        match ext {
            "json" => Some(CaseFormat::Json),
            "bin" => Some(CaseFormat::Binary),
            _ => None,
        }
    }
}

/// The verdict on one case.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CaseOutcome {
    /// The plugin's result equals the vector's.
    Pass {
        /// What was checked, one line.
        detail: String,
    },
    /// It does not.
    Fail {
        /// The first difference, one line.
        detail: String,
    },
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        matches!(self, CaseOutcome::Pass { .. })
    }
}
