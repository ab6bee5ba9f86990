//! The node's configuration: a TOML file, overridden by `DIVERGE_*` environment variables,
//! overridden by `--set key=value` flags (figment layers, in that order).
//!
//! Every key is documented in `configs/README.md`. Unknown keys and wrong types are errors that
//! name the key and where it came from; a plugin's `params` table is passed through untouched as
//! JSON and checked by the plugin itself.

use std::path::{Path, PathBuf};

use diverge_plugins::{Axis, ChainParams};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variables with this prefix override config keys; `__` separates levels:
/// `DIVERGE_CHAIN__SLOT_MS=2000` sets `chain.slot_ms`.
pub const ENV_PREFIX: &str = "DIVERGE_";

/// The `[da.params]` key of the DA plugins' adversary knob (`diverge_plugins::MaliciousEncoding`),
/// which a config may not set: the simulator passes it to one byzantine author only.
pub const DA_ADVERSARY_KEY: &str = "adversary";

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named on the command line does not exist.
    #[error("config file {0}: not found")]
    Missing(PathBuf),
    /// A `--set` flag is not `key=value`.
    #[error("--set {0:?}: expected key=value, e.g. --set chain.slot_ms=2000")]
    BadOverride(String),
    /// figment's own message names the key and its source (file, env var or flag).
    #[error("config: {0}")]
    Invalid(String),
    /// The chain preset is unknown.
    #[error("config key chain.preset = {preset:?} in {file}: expected \"tiny\" or \"full\"")]
    UnknownPreset {
        /// The value.
        preset: String,
        /// The file.
        file: String,
    },
    /// Parameters that cannot work together.
    #[error("config key {key} in {file}: {reason}")]
    Inconsistent {
        /// The key.
        key: String,
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// `[chain]`: the preset and any overrides of its parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// `tiny` (JAM: 6 validators, 12-slot epochs) or `full` (1023, 600).
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Slot length in milliseconds (JAM: 6000).
    #[serde(default)]
    pub slot_ms: Option<u64>,
    /// Override V.
    #[serde(default)]
    pub validators: Option<u16>,
    /// Override E.
    #[serde(default)]
    pub epoch_len: Option<u32>,
    /// Override Y.
    #[serde(default)]
    pub ticket_end: Option<u32>,
    /// Override the erasure data-shard count k (default ceil(V/3)).
    #[serde(default)]
    pub erasure_k: Option<u16>,
}

fn default_preset() -> String {
    "tiny".into()
}

impl Default for ChainSection {
    fn default() -> Self {
        ChainSection {
            preset: default_preset(),
            slot_ms: None,
            validators: None,
            epoch_len: None,
            ticket_end: None,
            erasure_k: None,
        }
    }
}

/// `[plugins]`: where plugin libraries are searched.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Directories searched first (relative paths are relative to the config file).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
}

/// `[consensus]`, `[da]`, `[exec]`: which plugin, and its own parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// The plugin's crate name, e.g. `da-rs1d` (found as `libda_rs1d.so`).
    pub plugin: String,
    /// An explicit library file, overriding the search (relative to the config file).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The plugin's own table, passed to it as JSON.
    #[serde(default)]
    pub params: Dict,
}

impl PluginSection {
    /// The params table as the JSON text handed to the plugin.
    pub fn params_json(&self) -> String {
        // A Dict of figment values always serializes; fall back to an empty table defensively.
        serde_json::to_string(&self.params).unwrap_or_else(|_| "{}".into())
    }
}

/// The whole file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Chain parameters.
    #[serde(default)]
    pub chain: ChainSection,
    /// Plugin search.
    #[serde(default)]
    pub plugins: PluginsSection,
    /// Consensus plugin.
    pub consensus: PluginSection,
    /// DA plugin.
    pub da: PluginSection,
    /// Exec plugin.
    pub exec: PluginSection,
}

/// A config as loaded, with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The merged values.
    pub config: Config,
    /// The file.
    pub file: PathBuf,
}

impl Loaded {
    /// Loads `file`, then `DIVERGE_*` env vars, then `overrides` (`key=value`, value in TOML
    /// syntax; a bare word is taken as a string).
    pub fn load(file: &Path, overrides: &[String]) -> Result<Loaded, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError::Missing(file.to_path_buf()));
        }
        // figment silently skips a missing TOML file, hence the explicit check above.
        let mut fig = Figment::new().merge(Toml::file(file)).merge(
            // Only nested keys: every key lives in a section, so a stray DIVERGE_FOO cannot
            // turn into an "unknown field" error at the top level.
            Env::prefixed(ENV_PREFIX)
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(o.clone()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(ConfigError::BadOverride(o.clone()));
            }
            fig = fig.merge(Serialized::default(key, parse_value(raw.trim())));
        }
        let config: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e, file)))?;
        if config.da.params.contains_key(DA_ADVERSARY_KEY) {
            // The knob makes the DA plugin publish a malicious encoding. Only the simulator's
            // malicious_encoder fault may turn it on (for one byzantine author); a chain config
            // that set it would make every honest node of the chain encode maliciously.
            return Err(ConfigError::Inconsistent {
                key: format!("da.params.{DA_ADVERSARY_KEY}"),
                file: file.display().to_string(),
                reason: "an adversary knob set only by a scenario's malicious_encoder fault, never by a chain config".into(),
            });
        }
        let loaded = Loaded {
            config,
            file: file.to_path_buf(),
        };
        loaded.chain_params()?;
        Ok(loaded)
    }

    /// The directory relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The plugin section of `axis`.
    pub fn section(&self, axis: Axis) -> &PluginSection {
        match axis {
            Axis::Consensus => &self.config.consensus,
            Axis::Da => &self.config.da,
            Axis::Exec => &self.config.exec,
        }
    }

    /// The chain parameters: the preset with the file's overrides applied and checked.
    pub fn chain_params(&self) -> Result<ChainParams, ConfigError> {
        let c = &self.config.chain;
        let file = self.file.display().to_string();
        let mut p = ChainParams::preset(&c.preset).ok_or_else(|| ConfigError::UnknownPreset {
            preset: c.preset.clone(),
            file: file.clone(),
        })?;
        let bad = |key: &str, reason: String| ConfigError::Inconsistent {
            key: key.into(),
            file: file.clone(),
            reason,
        };
        if let Some(v) = c.validators {
            if v == 0 {
                return Err(bad("chain.validators", "must be at least 1".into()));
            }
            p.validators = v;
            p.erasure_k = ChainParams::default_erasure_k(v);
            p.preset = "custom".into();
        }
        if let Some(ms) = c.slot_ms {
            if ms == 0 {
                return Err(bad("chain.slot_ms", "must be positive".into()));
            }
            p.slot_ms = ms;
        }
        if let Some(e) = c.epoch_len {
            p.epoch_len = e;
            p.preset = "custom".into();
        }
        if let Some(y) = c.ticket_end {
            p.ticket_end = y;
            p.preset = "custom".into();
        }
        if let Some(k) = c.erasure_k {
            p.erasure_k = k;
        }
        if p.epoch_len == 0 {
            return Err(bad("chain.epoch_len", "must be positive".into()));
        }
        if p.ticket_end > p.epoch_len {
            return Err(bad(
                "chain.ticket_end",
                format!("{} exceeds the epoch length {}", p.ticket_end, p.epoch_len),
            ));
        }
        if p.erasure_k == 0 || p.erasure_k >= p.validators.max(2) {
            return Err(bad(
                "chain.erasure_k",
                format!(
                    "{} must be between 1 and validators-1 ({})",
                    p.erasure_k,
                    p.validators.saturating_sub(1)
                ),
            ));
        }
        Ok(p)
    }
}

/// Parses a `--set` value as a TOML value, falling back to a plain string so that
/// `--set da.plugin=da-zoda2d` works without quotes.
fn parse_value(raw: &str) -> Value {
    #[derive(Deserialize)]
    struct Wrap {
        v: toml::Value,
    }
    match toml::from_str::<Wrap>(&format!("v = {raw}")) {
        Ok(w) => Value::serialize(w.v).unwrap_or_else(|_| Value::from(raw.to_string())),
        Err(_) => Value::from(raw.to_string()),
    }
}

/// figment's message, with the `default.` profile prefix dropped from key paths.
fn describe(e: &figment::Error, file: &Path) -> String {
    let mut out = Vec::new();
    for err in e.clone() {
        let mut msg = err.to_string().replace("\"default.", "\"");
        if err.metadata.is_none() {
            msg.push_str(&format!(" (in {})", file.display()));
        }
        out.push(msg);
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, body: &str) -> PathBuf {
        let path = dir.path().join("c.toml");
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(body.as_bytes()).expect("write");
        path
    }

    const BASE: &str = r#"
[chain]
preset = "tiny"
slot_ms = 6000
[consensus]
plugin = "consensus-safrole"
[consensus.params]
sealing = "safrole"
gossip_ms = 1000
[da]
plugin = "da-rs1d"
[exec]
plugin = "exec-reexec"
"#;

    #[test]
    fn loads_and_passes_params_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = Loaded::load(&write(&dir, BASE), &[]).expect("load");
        assert_eq!(l.config.da.plugin, "da-rs1d");
        let json: serde_json::Value =
            serde_json::from_str(&l.config.consensus.params_json()).expect("json");
        assert_eq!(json["sealing"], "safrole");
        assert_eq!(json["gossip_ms"], 1000);
        assert_eq!(l.chain_params().expect("params").validators, 6);
    }

    #[test]
    fn cli_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = Loaded::load(
            &write(&dir, BASE),
            &["chain.slot_ms=1500".into(), "da.plugin=da-zoda2d".into()],
        )
        .expect("load");
        assert_eq!(l.config.chain.slot_ms, Some(1500));
        assert_eq!(l.config.da.plugin, "da-zoda2d");
    }

    #[test]
    fn a_config_cannot_turn_on_the_da_adversary_knob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let in_file = BASE.replace(
            "plugin = \"da-rs1d\"\n",
            "plugin = \"da-rs1d\"\n[da.params]\nadversary = \"splice\"\n",
        );
        let err = Loaded::load(&write(&dir, &in_file), &[]).expect_err("file sets it");
        assert!(err.to_string().contains("da.params.adversary"), "{err}");
        let err = Loaded::load(&write(&dir, BASE), &["da.params.adversary=splice".into()])
            .expect_err("--set sets it");
        assert!(err.to_string().contains("malicious_encoder"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = BASE.replace("slot_ms = 6000", "slot_msec = 6000");
        let path = write(&dir, &body);
        let err = Loaded::load(&path, &[]).expect_err("must fail").to_string();
        assert!(err.contains("slot_msec"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = BASE.replace("slot_ms = 6000", "slot_ms = \"fast\"");
        let err = Loaded::load(&write(&dir, &body), &[])
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("chain.slot_ms"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Loaded::load(Path::new("/nonexistent/x.toml"), &[]).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }

    #[test]
    fn inconsistent_chain_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = BASE.replace("slot_ms = 6000", "slot_ms = 6000\nerasure_k = 6");
        let err = Loaded::load(&write(&dir, &body), &[])
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("chain.erasure_k"), "{err}");
    }

    #[test]
    fn bare_word_override_is_a_string() {
        assert_eq!(
            parse_value("da-zoda2d"),
            Value::from("da-zoda2d".to_string())
        );
        assert_eq!(parse_value("12").to_i128(), Some(12));
    }
}
