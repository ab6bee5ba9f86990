//! A chain spec: what every node of one chain must agree on and the config does not say: the
//! genesis time, the validator set (public keys) and where to find the validators first.
//! Written by `diverge chain-spec build` (or `diverge testnet`), read by `diverge run --chain`.

use std::path::Path;

use diverge_plugins::{ChainParams, ValidatorKeys};
use serde::{Deserialize, Serialize};

/// Why a spec is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not readable.
    #[error("chain spec {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a spec.
    #[error("chain spec {path}: {reason}")]
    Invalid {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
}

/// One genesis validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecValidator {
    /// Ed25519 public key (votes, network identity), hex.
    pub ed25519: String,
    /// Bandersnatch public key (Safrole), hex.
    pub bandersnatch: String,
    /// A QUIC address where it listens (a bootnode), if known.
    #[serde(default)]
    pub address: Option<String>,
}

/// The spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Human name.
    pub name: String,
    /// Start of slot 0, Unix milliseconds.
    pub genesis_unix_ms: u64,
    /// Protocol parameters (V, E, Y, slot length, ...).
    pub chain: ChainParams,
    /// The genesis set, by validator index.
    pub validators: Vec<SpecValidator>,
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(out)
}

impl ChainSpec {
    /// A spec whose validators are the development keys of `chain.validators` validators.
    pub fn dev(name: &str, chain: ChainParams, genesis_unix_ms: u64) -> ChainSpec {
        let validators = diverge_keys::dev_validators(chain.validators)
            .into_iter()
            .map(|k| SpecValidator {
                ed25519: hex::encode(k.ed25519),
                bandersnatch: hex::encode(k.bandersnatch),
                address: None,
            })
            .collect();
        ChainSpec {
            name: name.into(),
            genesis_unix_ms,
            chain,
            validators,
        }
    }

    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> Result<ChainSpec, SpecError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: p.clone(),
            source,
        })?;
        ChainSpec::from_json(&text, &p)
    }

    /// Parses and checks spec text; `origin` names it in errors (the file, for `load`). Split
    /// from `load` so the fuzz target can feed text without a file per input.
    pub fn from_json(text: &str, origin: &str) -> Result<ChainSpec, SpecError> {
        let p = origin.to_string();
        let spec: ChainSpec = serde_json::from_str(text).map_err(|e| SpecError::Invalid {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        spec.keys().map_err(|reason| SpecError::Invalid {
            path: p.clone(),
            reason,
        })?;
        if spec.validators.len() != usize::from(spec.chain.validators) {
            return Err(SpecError::Invalid {
                path: p,
                reason: format!(
                    "chain.validators = {} but {} validators are listed",
                    spec.chain.validators,
                    spec.validators.len()
                ),
            });
        }
        Ok(spec)
    }

    /// Writes the spec as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), SpecError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SpecError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The validator set as the plugins take it.
    pub fn keys(&self) -> Result<Vec<ValidatorKeys>, String> {
        self.validators
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Ok(ValidatorKeys {
                    ed25519: hex32(&v.ed25519, &format!("validator {i} ed25519"))?,
                    bandersnatch: hex32(&v.bandersnatch, &format!("validator {i} bandersnatch"))?,
                    bls: [0; 144],
                    metadata: [0; 128],
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_spec_roundtrips_and_checks_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spec.json");
        let spec = ChainSpec::dev("t", ChainParams::tiny(), 1_000);
        spec.save(&path).expect("save");
        assert_eq!(ChainSpec::load(&path).expect("load"), spec);
        let mut bad = spec.clone();
        bad.validators.pop();
        bad.save(&path).expect("save");
        assert!(ChainSpec::load(&path).is_err());
        let mut bad = spec;
        bad.validators[0].ed25519 = "zz".into();
        bad.save(&path).expect("save");
        assert!(ChainSpec::load(&path).is_err());
    }
}
