//! `diverge run`: load the configured plugins and run the node.

use anyhow::{bail, Context};
use diverge_plugins::Axis;

use crate::config::Loaded;
use crate::registry;

/// Loads and instantiates every configured plugin, then runs the node.
///
/// The node loop (slot clock, QUIC network, storage) is issue #5 and does not exist yet; until
/// then this checks that the config's three plugins load and instantiate, and says so plainly.
pub fn run(config: &Loaded) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for axis in [Axis::Consensus, Axis::Da, Axis::Exec] {
        match registry::open_axis(config, axis) {
            Ok(lib) => {
                let args = registry::init_args(config, axis)?;
                lib.instantiate(&args)
                    .with_context(|| format!("instantiating {}", lib.path().display()))?;
                tracing::info!(%axis, plugin = %lib.meta().name, "plugin loaded");
            }
            Err(e) => missing.push(e.to_string()),
        }
    }
    if !missing.is_empty() {
        bail!("cannot run: {}", missing.join("; "));
    }
    bail!(
        "all plugins load, but this build has no node loop yet (issue #5); \
         use `diverge da roundtrip` and `diverge conformance` meanwhile"
    )
}
