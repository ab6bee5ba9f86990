//! `diverge run`: one node of a chain, as a validator or an observer.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use diverge_plugins::ValidatorIndex;

use crate::chainspec::ChainSpec;
use crate::config::Loaded;
use crate::node::runtime::{self, NodeOptions, Summary};
use crate::node::workload::NodeWorkload;

/// What `diverge run` was told.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The chain spec (genesis time, validators, bootnodes); absent only with `dev`.
    pub chain: Option<PathBuf>,
    /// A one-validator development chain: validator 0 with its development key, its own
    /// chain spec (kept in the base path), a temp base path unless one is given.
    pub dev: bool,
    /// This node's validator index (absent: observer).
    pub validator_index: Option<ValidatorIndex>,
    /// A key file from `diverge key generate`.
    pub key: Option<PathBuf>,
    /// Use the development seed of `validator_index` (testnets only).
    pub dev_key: bool,
    /// Database, event log, summary (default: `diverge-data`, or a temp dir with `dev`).
    pub base_path: Option<PathBuf>,
    /// QUIC listen address (default: 127.0.0.1:30333, or a free port with `dev`).
    pub listen: Option<SocketAddr>,
    /// Extra peers, `INDEX@IP:PORT`.
    pub peers: Vec<String>,
    /// Prometheus address.
    pub metrics: Option<SocketAddr>,
    /// JSON-RPC address.
    pub rpc: Option<SocketAddr>,
    /// Stop after this slot.
    pub exit_after_slot: Option<u32>,
    /// Transactions per block.
    pub txs: usize,
    /// Workload seed (same on every node of a chain).
    pub workload_seed: u64,
    /// Read-only observers this validator serves at once.
    pub max_observers: usize,
    /// Link shaping file ([`crate::net::ShapeSpec`], JSON).
    pub shape: Option<PathBuf>,
    /// Byzantine floods (`FROM:TO:PER_SLOT`, [`runtime::Spam`]).
    pub spam: Vec<runtime::Spam>,
}

/// Slot length of a development chain unless `--set chain.slot_ms` says otherwise: short, so a
/// researcher sees blocks finalize within seconds.
pub const DEV_SLOT_MS: u64 = 1000;

/// The config overrides of `--dev`, placed before the user's own `--set`s so those still win.
/// One validator (so k = n = 1 in the DA plugins) and fast slots; the rest of the config file
/// (plugins and their params) is used as it is.
pub fn dev_overrides(user: &[String]) -> Vec<String> {
    let mut o = vec![
        "chain.validators=1".to_string(),
        format!("chain.slot_ms={DEV_SLOT_MS}"),
    ];
    o.extend(user.iter().cloned());
    o
}

/// Where a chain spec comes from.
enum SpecSource {
    /// `--chain FILE`.
    File(PathBuf),
    /// `--dev`: `spec.json` in the base path, written on the first start (genesis = now) and
    /// read again on a restart with the same base path, so the chain on disk stays valid.
    Dev(PathBuf),
}

fn dev_spec(config: &Loaded, path: &std::path::Path) -> anyhow::Result<ChainSpec> {
    if path.exists() {
        return Ok(ChainSpec::load(path)?);
    }
    let chain = config.chain_params()?;
    if chain.validators != 1 {
        bail!(
            "--dev runs one validator, but the config says chain.validators = {}",
            chain.validators
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_millis() as u64;
    let spec = ChainSpec::dev("dev", chain, now);
    spec.save(path)?;
    Ok(spec)
}

/// Parses `INDEX@IP:PORT`.
pub fn parse_peer(s: &str) -> anyhow::Result<(ValidatorIndex, SocketAddr)> {
    let (i, addr) = s
        .split_once('@')
        .with_context(|| format!("peer {s:?}: expected INDEX@IP:PORT"))?;
    Ok((
        i.parse().with_context(|| format!("peer {s:?}: index"))?,
        addr.parse()
            .with_context(|| format!("peer {s:?}: address"))?,
    ))
}

/// Reads a key file: `{"seed": "<64 hex>"}`.
///
/// Refused if group or others may read it (the seed is the validator's whole identity: its
/// Ed25519 and Bandersnatch secrets derive from it), the way ssh refuses a private key.
/// Errors never quote the file's content: serde_json's name only a position, and the hex error
/// (which would quote the offending character) is replaced by a fixed message.
pub fn read_key(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    #[derive(serde::Deserialize)]
    struct KeyFile {
        seed: String,
    }
    check_key_mode(path)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("key file {}", path.display()))?;
    let k: KeyFile =
        serde_json::from_str(&text).with_context(|| format!("key file {}", path.display()))?;
    let mut seed = [0u8; 32];
    if hex::decode_to_slice(k.seed.trim_start_matches("0x"), &mut seed).is_err() {
        bail!("key file {}: seed is not 64 hex digits", path.display());
    }
    Ok(seed)
}

/// Fails if `path` is readable by its group or by others (any of mode 0o077 set).
#[cfg(unix)]
pub(crate) fn check_key_mode(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("key file {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "key file {} is accessible by group or others (mode {:03o}); \
             it holds the validator secret: run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_key_mode(_path: &std::path::Path) -> anyhow::Result<()> {
    // No POSIX modes to check; ACLs are the platform's business.
    Ok(())
}

/// Runs the node until its exit slot or Ctrl-C. With `dev`, `config` must already carry
/// [`dev_overrides`].
pub fn run(config: &Loaded, args: &RunArgs) -> anyhow::Result<Summary> {
    // A temp base path lives as long as the node and is removed when it stops.
    let mut _temp = None;
    let base_path = match (&args.base_path, args.dev) {
        (Some(p), _) => p.clone(),
        (None, false) => PathBuf::from("diverge-data"),
        (None, true) => {
            let t = tempfile::Builder::new()
                .prefix("diverge-dev-")
                .tempdir()
                .context("creating a temp base path")?;
            let p = t.path().to_path_buf();
            _temp = Some(t);
            p
        }
    };
    let source = match (&args.chain, args.dev) {
        (Some(c), false) => SpecSource::File(c.clone()),
        (None, true) => SpecSource::Dev(base_path.join("spec.json")),
        (Some(_), true) => bail!("--dev makes its own chain spec; drop --chain"),
        (None, false) => bail!("--chain FILE is required (or --dev for a one-validator chain)"),
    };
    if args.dev && (args.validator_index.is_some() || args.key.is_some() || args.dev_key) {
        bail!(
            "--dev is validator 0 with its development key; drop --validator-index/--key/--dev-key"
        );
    }
    std::fs::create_dir_all(&base_path)
        .with_context(|| format!("creating {}", base_path.display()))?;
    let spec = match &source {
        SpecSource::File(p) => ChainSpec::load(p)?,
        SpecSource::Dev(p) => dev_spec(config, p)?,
    };
    let (validator_index, dev_key) = if args.dev {
        (Some(0), true)
    } else {
        (args.validator_index, args.dev_key)
    };
    let validator = match (validator_index, &args.key, dev_key) {
        (None, None, false) => None,
        (Some(i), Some(k), false) => Some((i, read_key(k)?)),
        (Some(i), None, true) => Some((i, diverge_keys::dev_seed(u32::from(i)))),
        (None, _, _) => bail!("--key/--dev-key need --validator-index"),
        (Some(_), None, false) => bail!("--validator-index needs --key FILE or --dev-key"),
        (Some(_), Some(_), true) => bail!("--key and --dev-key exclude each other"),
    };
    if let Some((i, seed)) = validator {
        let keys = spec
            .keys()
            .map_err(|e| anyhow::anyhow!("chain spec: {e}"))?;
        let k = keys
            .get(usize::from(i))
            .with_context(|| format!("validator index {i} is not in the chain spec"))?;
        if k.ed25519 != diverge_keys::public_keys(&seed).ed25519 {
            bail!("the key does not belong to validator {i} of the chain spec");
        }
    }
    let mut peers: Vec<(ValidatorIndex, SocketAddr)> = spec
        .validators
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let addr = v.address.as_ref()?.parse().ok()?;
            Some((i as ValidatorIndex, addr))
        })
        .filter(|(i, _)| Some(*i) != validator.map(|v| v.0))
        .collect();
    for p in &args.peers {
        peers.push(parse_peer(p)?);
    }
    let workload = Box::new(NodeWorkload::new(args.workload_seed, args.txs));
    let listen = args.listen.unwrap_or_else(|| {
        // A dev node has no peers to be found by, so any free port does.
        let port = if args.dev { 0 } else { 30333 };
        SocketAddr::from(([127, 0, 0, 1], port))
    });
    if args.dev {
        tracing::info!(
            base_path = %base_path.display(),
            slot_ms = spec.chain.slot_ms,
            "development chain: one validator"
        );
    }
    let opts = NodeOptions {
        config: config.clone(),
        spec,
        validator,
        listen,
        peers,
        base_path,
        metrics: args.metrics,
        rpc: args.rpc,
        exit_after_slot: args.exit_after_slot,
        txs_per_block: args.txs,
        max_observers: args.max_observers,
        shape: args
            .shape
            .as_deref()
            .map(crate::net::ShapeSpec::load)
            .transpose()?,
        spam: args.spam.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(runtime::run(opts, workload))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::check_key_mode;

    #[test]
    fn key_modes_with_group_or_other_bits_are_refused() {
        let f = tempfile::NamedTempFile::new().expect("temp");
        for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            assert_eq!(check_key_mode(f.path()).is_ok(), ok, "mode {mode:o}");
        }
    }
}
