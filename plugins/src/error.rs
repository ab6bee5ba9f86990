//! The one error type that crosses the plugin boundary.

use abi_stable::StableAbi;

/// What went wrong, coarse enough for the host to count and react to.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, StableAbi)]
pub enum ErrorKind {
    /// Bytes that do not decode (from the network, a file or the host).
    InvalidInput,
    /// Well-formed input that breaks a protocol rule: a shard that fails its commitment, a
    /// bad seal, an invalid block. The message says which rule.
    Rejected,
    /// The plugin's config table or the chain parameters are unusable.
    Config,
    /// The plugin does not offer this operation (e.g. light-client sampling).
    Unsupported,
    /// The plugin panicked; the host caught it at the boundary.
    Panicked,
    /// A bug or broken invariant inside the plugin.
    Internal,
}

impl ErrorKind {
    /// Short lowercase name for metrics labels and one-line messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Config => "config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error returned by a plugin call.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct PluginError {
    /// The category.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}

impl PluginError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PluginError {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// Undecodable input.
    pub fn invalid_input(message: impl Into<String>) -> PluginError {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A protocol rule was broken.
    pub fn rejected(message: impl Into<String>) -> PluginError {
        Self::new(ErrorKind::Rejected, message)
    }

    /// Bad configuration.
    pub fn config(message: impl Into<String>) -> PluginError {
        Self::new(ErrorKind::Config, message)
    }

    /// Operation not offered.
    pub fn unsupported(message: impl Into<String>) -> PluginError {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Broken invariant.
    pub fn internal(message: impl Into<String>) -> PluginError {
        Self::new(ErrorKind::Internal, message)
    }
}

impl From<crate::codec::CodecError> for PluginError {
    fn from(e: crate::codec::CodecError) -> Self {
        PluginError::invalid_input(format!("codec: {e}"))
    }
}
