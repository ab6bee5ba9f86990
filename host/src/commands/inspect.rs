//! `diverge plugins` and `diverge config`.

use std::io::Write;

use diverge_plugins::Axis;

use crate::config::Loaded;
use crate::registry;

const AXES: [Axis; 3] = [Axis::Consensus, Axis::Da, Axis::Exec];

/// Prints what each axis of the config loads. Returns how many axes failed to load.
pub fn plugins(config: &Loaded, out: &mut dyn Write) -> std::io::Result<usize> {
    let mut failed = 0;
    writeln!(out, "config: {}", config.file.display())?;
    for axis in AXES {
        match registry::open_axis(config, axis) {
            Ok(lib) => {
                let m = lib.meta();
                writeln!(
                    out,
                    "{axis:<9}  {:<18} {:<8} abi {}  {}",
                    m.name,
                    m.version,
                    m.abi_version,
                    lib.path().display()
                )?;
                writeln!(out, "{:<9}  {}", "", m.description)?;
            }
            Err(e) => {
                failed += 1;
                writeln!(out, "{axis:<9}  MISSING  {e}")?;
            }
        }
    }
    Ok(failed)
}

/// Prints the effective config (file < env < --set) as TOML, plus the derived chain parameters.
pub fn config(config: &Loaded, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "# effective config from {}", config.file.display())?;
    writeln!(out, "{}", toml::to_string_pretty(&config.config)?)?;
    let params = config.chain_params()?;
    writeln!(out, "# derived chain parameters")?;
    #[derive(serde::Serialize)]
    struct Derived {
        chain_params: diverge_plugins::ChainParams,
    }
    writeln!(
        out,
        "{}",
        toml::to_string_pretty(&Derived {
            chain_params: params
        })?
    )?;
    Ok(())
}
