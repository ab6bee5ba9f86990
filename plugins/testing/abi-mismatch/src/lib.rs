//! A plugin that claims the next ABI version, so the host's loader test can provoke and check the
//! "ABI version mismatch" error. Built only for tests; never configured.

use diverge_plugins::ffi::Plugin;
use diverge_plugins::{Axis, InitArgs, Instance, PluginError};

/// The fixture.
#[derive(Debug)]
pub struct FromTheFuture;

impl Plugin for FromTheFuture {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Da;
    const DESCRIPTION: &'static str = "loader test fixture: reports ABI_VERSION + 1";
    const ABI_VERSION: u32 = diverge_plugins::ABI_VERSION + 1;

    fn instantiate(_args: InitArgs) -> Result<Instance, PluginError> {
        Err(PluginError::unsupported("fixture: never instantiated"))
    }
}

diverge_plugins::export_plugin!(FromTheFuture);
