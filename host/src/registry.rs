//! Finding and opening the plugin library a config section names.
//!
//! `plugin = "da-rs1d"` is looked up as `libda_rs1d.so` in, in order: the `[plugins] dirs` of the
//! config, the directory of the running binary, and the cargo target directory
//! (`$CARGO_TARGET_DIR` or `./target`, release before debug). `path = "..."` skips the search.

use std::path::{Path, PathBuf};

use diverge_plugins::loader::{library_file_name, LoadError, PluginLibrary};
use diverge_plugins::{Axis, InitArgs};

use crate::config::Loaded;

/// Why the library for an axis could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not in any searched directory.
    #[error("{axis} plugin \"{plugin}\": {file} not found in {searched} (build plugins with scripts/build-plugins)")]
    NotFound {
        /// The axis.
        axis: Axis,
        /// The configured name.
        plugin: String,
        /// The file name looked for.
        file: String,
        /// The directories searched, joined.
        searched: String,
    },
    /// Found but unusable.
    #[error("{axis} plugin \"{plugin}\": {source}")]
    Load {
        /// The axis.
        axis: Axis,
        /// The configured name.
        plugin: String,
        /// Why.
        #[source]
        source: LoadError,
    },
}

/// The directories searched for plugins, in order.
pub fn search_dirs(config: Option<&Loaded>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(l) = config {
        let base = l.base_dir();
        dirs.extend(l.config.plugins.dirs.iter().map(|d| base.join(d)));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_path_buf());
            // Test binaries run from target/<profile>/deps; the plugins sit one level up.
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_path_buf());
                }
            }
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    dirs.push(target.join("release"));
    dirs.push(target.join("debug"));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// The library file for `plugin`, searched in `dirs`.
pub fn find(plugin: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let file = library_file_name(plugin);
    dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file())
}

/// Resolves and opens the plugin the config names for `axis`, checking it implements `axis`.
pub fn open_axis(config: &Loaded, axis: Axis) -> Result<PluginLibrary, ResolveError> {
    let section = config.section(axis);
    let path = match &section.path {
        Some(p) => config.base_dir().join(p),
        None => {
            let dirs = search_dirs(Some(config));
            find(&section.plugin, &dirs).ok_or_else(|| ResolveError::NotFound {
                axis,
                plugin: section.plugin.clone(),
                file: library_file_name(&section.plugin),
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?
        }
    };
    let load = |source| ResolveError::Load {
        axis,
        plugin: section.plugin.clone(),
        source,
    };
    let lib = PluginLibrary::open(&path).map_err(load)?;
    lib.expect_axis(axis).map_err(load)?;
    Ok(lib)
}

/// The [`InitArgs`] for `axis` from the config: the development validator set of the chain's
/// size (JIP-5 seeds, `diverge-keys`) and no identity (an observer); the node replaces both
/// with its chain spec's.
pub fn init_args(config: &Loaded, axis: Axis) -> anyhow::Result<InitArgs> {
    let chain = config.chain_params()?;
    let mut args = InitArgs::new(chain.clone(), config.section(axis).params_json());
    args.validators = diverge_keys::dev_validators(chain.validators);
    Ok(args)
}

/// Opens a library given directly by path (for `--plugin` flags).
pub fn open_path(path: &Path) -> Result<PluginLibrary, LoadError> {
    PluginLibrary::open(path)
}
