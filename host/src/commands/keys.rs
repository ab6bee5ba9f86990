//! `diverge key generate` and `diverge chain-spec build`: what a network team needs to launch
//! a canary chain of its own keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rand::RngCore;

use crate::chainspec::{ChainSpec, SpecValidator};
use crate::commands::run::{parse_peer, read_key};
use crate::config::Loaded;

/// Writes a fresh seed to `path` (0600, never overwriting) and prints the public keys only.
pub fn generate(path: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let body = serde_json::json!({ "seed": hex::encode(seed) }).to_string();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating key file {} (it must not exist)", path.display()))?;
    f.write_all(body.as_bytes())?;
    let k = diverge_keys::public_keys(&seed);
    writeln!(out, "key file: {}", path.display())?;
    writeln!(out, "ed25519: {}", hex::encode(k.ed25519))?;
    writeln!(out, "bandersnatch: {}", hex::encode(k.bandersnatch))?;
    Ok(())
}

/// Builds a chain spec from the config's chain parameters and keys.
pub fn build_spec(
    config: &Loaded,
    validators: Option<u16>,
    key_files: &[PathBuf],
    bootnodes: &[String],
    genesis_unix_ms: Option<u64>,
    path: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut loaded = config.clone();
    let n = match (validators, key_files.len()) {
        (Some(v), 0) => v,
        (None, 0) => loaded.chain_params()?.validators,
        (Some(v), k) if usize::from(v) != k => {
            bail!("--validators {v} but {k} key files")
        }
        (_, k) => u16::try_from(k).context("too many key files")?,
    };
    loaded.config.chain.validators = Some(n);
    let chain = loaded.chain_params()?;
    let genesis = match genesis_unix_ms {
        Some(g) => g,
        None => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64
                + 10_000
        }
    };
    let mut spec = ChainSpec::dev("canary", chain, genesis);
    if !key_files.is_empty() {
        spec.validators = key_files
            .iter()
            .map(|f| {
                let k = diverge_keys::public_keys(&read_key(f)?);
                Ok(SpecValidator {
                    ed25519: hex::encode(k.ed25519),
                    bandersnatch: hex::encode(k.bandersnatch),
                    address: None,
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    for b in bootnodes {
        let (i, addr) = parse_peer(b)?;
        let v = spec
            .validators
            .get_mut(usize::from(i))
            .with_context(|| format!("bootnode {b}: no validator {i}"))?;
        v.address = Some(addr.to_string());
    }
    spec.save(path)?;
    writeln!(
        out,
        "chain spec {}: {} validators, genesis at {} ms",
        path.display(),
        n,
        genesis
    )?;
    Ok(())
}
