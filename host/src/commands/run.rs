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
    /// The chain spec (genesis time, validators, bootnodes).
    pub chain: PathBuf,
    /// This node's validator index (absent: observer).
    pub validator_index: Option<ValidatorIndex>,
    /// A key file from `diverge key generate`.
    pub key: Option<PathBuf>,
    /// Use the development seed of `validator_index` (testnets only).
    pub dev_key: bool,
    /// Database, event log, summary.
    pub base_path: PathBuf,
    /// QUIC listen address.
    pub listen: SocketAddr,
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
pub fn read_key(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    #[derive(serde::Deserialize)]
    struct KeyFile {
        seed: String,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("key file {}", path.display()))?;
    let k: KeyFile =
        serde_json::from_str(&text).with_context(|| format!("key file {}", path.display()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(k.seed.trim_start_matches("0x"), &mut seed)
        .with_context(|| format!("key file {}: seed", path.display()))?;
    Ok(seed)
}

/// Runs the node until its exit slot or Ctrl-C.
pub fn run(config: &Loaded, args: &RunArgs) -> anyhow::Result<Summary> {
    let spec = ChainSpec::load(&args.chain)?;
    let validator = match (args.validator_index, &args.key, args.dev_key) {
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
    let opts = NodeOptions {
        config: config.clone(),
        spec,
        validator,
        listen: args.listen,
        peers,
        base_path: args.base_path.clone(),
        metrics: args.metrics,
        rpc: args.rpc,
        exit_after_slot: args.exit_after_slot,
        txs_per_block: args.txs,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(runtime::run(opts, workload))
}
