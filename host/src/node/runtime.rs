//! The node as a process: a wall-clock slot timer, consensus timers, QUIC networking, redb
//! storage, the JSON-lines event log and Prometheus metrics around one [`NodeCore`].
//!
//! The core and every plugin call run on one dedicated thread, so slow cryptography or
//! re-execution never stalls the async runtime that keeps connections alive; the core thread
//! also writes blocks and finality to disk *before* any message that depends on them leaves.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use diverge_plugins::codec::Encode;
use diverge_plugins::consensus::Time;
use diverge_plugins::{Axis, InitArgs, Instance, Slot, ValidatorIndex, ValidatorSecret};
use serde::Serialize;
use tokio::sync::mpsc;

use super::core::{Channel, CoreStats, Input, NodeCore, NodeEvent, Output, Plugins, Workload};
use super::metrics::Metrics;
use super::wire::SyncMsg;
use crate::chainspec::ChainSpec;
use crate::config::Loaded;
use crate::net::{Inbound, Kind, NetConfig, NetStats, Network, RateLimit, ShapeSpec, Shaper};
use crate::registry;
use crate::store::Store;

/// Largest message a node accepts (a block with its payload; shards are smaller).
pub const MAX_MESSAGE: usize = 16 << 20;

/// How to run one node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Plugins and their params.
    pub config: Loaded,
    /// Genesis, validators.
    pub spec: ChainSpec,
    /// This node's validator index and seed (none: an observer that follows the chain).
    pub validator: Option<(ValidatorIndex, [u8; 32])>,
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// Known validator addresses.
    pub peers: Vec<(ValidatorIndex, SocketAddr)>,
    /// Directory for the database, event log and summary.
    pub base_path: PathBuf,
    /// Prometheus listen address.
    pub metrics: Option<SocketAddr>,
    /// JSON-RPC listen address (HTTP and WebSocket).
    pub rpc: Option<SocketAddr>,
    /// Stop after this slot (for testnets and experiments).
    pub exit_after_slot: Option<Slot>,
    /// Transactions per block the workload generator makes.
    pub txs_per_block: usize,
    /// Read-only observers a validator serves at once (an observer itself serves none).
    pub max_observers: usize,
    /// A scenario's link model applied to this validator's sends (`--shape`); none: unshaped.
    pub shape: Option<ShapeSpec>,
    /// Byzantine floods this validator sends besides its honest traffic (`--spam`).
    pub spam: Vec<Spam>,
}

/// A flood of garbage consensus messages: the scenario fault `kind = "spam"` on a real process.
///
/// The simulator sends a slot's messages in one burst at the tick; a process spreads them over
/// the slot in batches every [`Spam::BATCH_MS`], because a burst of tens of thousands of
/// broadcasts would stall this node's own loop (and so its honest votes) rather than load its
/// peers, and a sustained flood is what the receivers' rate limits are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spam {
    /// First slot of the flood.
    pub from: Slot,
    /// The flood stops when this slot begins.
    pub to: Slot,
    /// 200-byte messages to every validator per slot.
    pub per_slot: u32,
}

impl Spam {
    /// Interval between two batches of one slot's messages.
    pub const BATCH_MS: u64 = 20;

    /// Parses `FROM:TO:PER_SLOT` (the command line's form).
    pub fn parse(s: &str) -> anyhow::Result<Spam> {
        let parts: Vec<&str> = s.split(':').collect();
        let [from, to, per_slot] = parts[..] else {
            bail!("--spam {s:?}: expected FROM_SLOT:TO_SLOT:PER_SLOT");
        };
        let num = |what: &str, v: &str| -> anyhow::Result<u32> {
            v.parse()
                .with_context(|| format!("--spam {s:?}: {what} is not a number"))
        };
        let spam = Spam {
            from: num("FROM_SLOT", from)?,
            to: num("TO_SLOT", to)?,
            per_slot: num("PER_SLOT", per_slot)?,
        };
        if spam.to <= spam.from {
            bail!("--spam {s:?}: TO_SLOT must be after FROM_SLOT");
        }
        Ok(spam)
    }

    /// The command line's form, as [`Spam::parse`] reads it.
    pub fn arg(&self) -> String {
        format!("{}:{}:{}", self.from, self.to, self.per_slot)
    }

    /// Messages per batch in `slot` (0 outside the flood), rounded up so a slot sends at
    /// least `per_slot`.
    fn per_batch(spams: &[Spam], slot: Slot, slot_ms: u64) -> u32 {
        let batches = (slot_ms / Spam::BATCH_MS).max(1);
        spams
            .iter()
            .filter(|s| s.from <= slot && slot < s.to)
            .map(|s| u64::from(s.per_slot).div_ceil(batches))
            .sum::<u64>()
            .min(u64::from(u32::MAX)) as u32
    }
}

/// Written to `summary.json` when the node stops.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Validator index.
    pub node: Option<ValidatorIndex>,
    /// Core counters.
    pub core: CoreStats,
    /// Network counters.
    pub net: NetStats,
    /// The last slot seen.
    pub last_slot: Slot,
    /// Plugin calls that failed by the plugin's fault (caught panic, internal error); each is
    /// also a `WARN` log line (`trace::note`).
    pub plugin_faults: u64,
    /// Plugin calls slower than `trace::SLOW_CALL` (logged at `WARN`; never interrupted).
    pub slow_plugin_calls: u64,
}

fn now_us(genesis_unix_ms: u64) -> Time {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    since_epoch.saturating_sub(genesis_unix_ms * 1000)
}

fn kind(c: Channel) -> Kind {
    match c {
        Channel::Block => Kind::Block,
        Channel::Consensus => Kind::Consensus,
        Channel::Shard => Kind::Shard,
        Channel::Availability => Kind::Availability,
        Channel::Sync => Kind::Sync,
    }
}

fn channel(k: Kind) -> Channel {
    match k {
        Kind::Block => Channel::Block,
        Kind::Consensus => Channel::Consensus,
        Kind::Shard => Channel::Shard,
        Kind::Availability => Channel::Availability,
        Kind::Sync => Channel::Sync,
    }
}

/// Loads the three plugins for a node of `spec`, each call wrapped in a `tracing` span and the
/// consensus telemetry turned into `tracing` events. Returns the genesis header too: it
/// depends on the exec plugin's genesis state root, and consensus is initialised on it.
pub fn load_plugins(
    config: &Loaded,
    spec: &ChainSpec,
    validator: Option<(ValidatorIndex, [u8; 32])>,
) -> anyhow::Result<(Plugins, diverge_plugins::Header)> {
    let (p, genesis) = load_plugins_untraced(config, spec, validator)?;
    Ok((
        Plugins {
            consensus: Box::new(super::trace::TracedConsensus(p.consensus)),
            da: Box::new(super::trace::TracedDa(p.da)),
            exec: Box::new(super::trace::TracedExec(p.exec)),
        },
        genesis,
    ))
}

/// A DA instance of `config`'s plugin with `[da.params]` plus `extra` (top-level keys of a JSON
/// object, overriding the config's): how the simulator hands its byzantine author the
/// plugin's adversary knob without any change to the plugin interface.
pub fn instantiate_da(
    config: &Loaded,
    spec: &ChainSpec,
    validator: Option<(ValidatorIndex, [u8; 32])>,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Box<dyn diverge_plugins::DataAvailability>> {
    let mut params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&config.section(Axis::Da).params_json()).unwrap_or_default();
    params.extend(extra.clone());
    let args = InitArgs {
        chain: spec.chain.clone(),
        params_json: serde_json::Value::Object(params).to_string(),
        validators: spec
            .keys()
            .map_err(|e| anyhow::anyhow!("chain spec: {e}"))?,
        identity: validator.map(|(index, seed)| ValidatorSecret { index, seed }),
        genesis: Vec::new(),
    };
    let lib = registry::open_axis(config, Axis::Da)?;
    match lib
        .instantiate(&args)
        .with_context(|| format!("instantiating {}", lib.path().display()))?
    {
        Instance::Da(da) => Ok(da),
        _ => bail!("the da plugin did not make a da instance"),
    }
}

/// [`load_plugins`] without the tracing wrappers: for the simulator, where hundreds of nodes
/// share one process and each node's event log is the record.
pub fn load_plugins_untraced(
    config: &Loaded,
    spec: &ChainSpec,
    validator: Option<(ValidatorIndex, [u8; 32])>,
) -> anyhow::Result<(Plugins, diverge_plugins::Header)> {
    let validators = spec
        .keys()
        .map_err(|e| anyhow::anyhow!("chain spec: {e}"))?;
    let identity = validator.map(|(index, seed)| ValidatorSecret { index, seed });
    let args = |axis: Axis, genesis: Vec<u8>| -> anyhow::Result<InitArgs> {
        Ok(InitArgs {
            chain: spec.chain.clone(),
            params_json: config.section(axis).params_json(),
            validators: validators.clone(),
            identity: identity.clone(),
            genesis,
        })
    };
    // Resolve all three first, so one error line names every missing plugin.
    let mut libs = std::collections::HashMap::new();
    let mut missing = Vec::new();
    for axis in [Axis::Consensus, Axis::Da, Axis::Exec] {
        match registry::open_axis(config, axis) {
            Ok(lib) => {
                libs.insert(axis, lib);
            }
            Err(e) => missing.push(e.to_string()),
        }
    }
    if !missing.is_empty() {
        bail!("cannot run: {}", missing.join("; "));
    }
    let open = |axis: Axis, genesis: Vec<u8>| -> anyhow::Result<Instance> {
        let lib = libs
            .get(&axis)
            .with_context(|| format!("no {axis} plugin"))?;
        lib.instantiate(&args(axis, genesis)?)
            .with_context(|| format!("instantiating {}", lib.path().display()))
    };
    let Instance::Exec(mut exec) = open(Axis::Exec, Vec::new())? else {
        bail!("the exec plugin did not make an exec instance");
    };
    let root = exec
        .genesis_state_root()
        .context("exec plugin: genesis state root")?;
    let genesis = NodeCore::genesis_header(root);
    let Instance::Da(da) = open(Axis::Da, Vec::new())? else {
        bail!("the da plugin did not make a da instance");
    };
    let Instance::Consensus(consensus) = open(Axis::Consensus, genesis.encode())? else {
        bail!("the consensus plugin did not make a consensus instance");
    };
    Ok((
        Plugins {
            consensus,
            da,
            exec,
        },
        genesis,
    ))
}

enum CoreMsg {
    Input(Time, Input),
    Stop,
}

#[derive(Serialize)]
struct LogLine<'a> {
    t_us: Time,
    node: Option<ValidatorIndex>,
    #[serde(flatten)]
    event: &'a NodeEvent,
}

fn update_view(shared: &super::rpc::Shared, core: &NodeCore, e: &NodeEvent) {
    let mut v = shared.view.write().unwrap_or_else(|p| p.into_inner());
    match e {
        NodeEvent::Imported { hash, number, .. } => {
            if let Some(h) = core.header(hash) {
                v.add_header(h.clone(), *number);
            }
        }
        NodeEvent::Best { hash } => v.best = (*hash, core.number(hash).unwrap_or(0)),
        NodeEvent::Finalized { hash, number, .. } => {
            v.finalized = (*hash, *number);
            if let Some(h) = core.header(hash) {
                // No subscriber is not an error.
                let _ = shared.finalized.send(super::rpc::header_json(h, *number));
            }
        }
        _ => {}
    }
}

/// An observer's network key: made once per base path (`node.key`, mode 0600) and kept, so
/// validators see the same observer across restarts. It signs only TLS handshakes and grants
/// nothing but read-only sync.
fn observer_seed(base: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let path = base.join("node.key");
    let mut seed = [0u8; 32];
    if path.exists() {
        // Same rule as validator key files: it is a secret, so a loosened mode is refused.
        crate::commands::run::check_key_mode(&path)?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        hex::decode_to_slice(text.trim(), &mut seed)
            .with_context(|| format!("{}: expected 64 hex digits", path.display()))?;
        return Ok(seed);
    }
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(hex::encode(seed).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(seed)
}

/// The `--spam` flood: batches of random 200-byte consensus messages to every validator, on
/// the async runtime beside the node loop, until the last window ends.
async fn flood(net: Network, spams: Vec<Spam>, genesis_ms: u64, slot_ms: u64) {
    use rand::RngCore;
    let end = spams.iter().map(|s| s.to).max().unwrap_or(0);
    let mut rng = rand::rngs::OsRng;
    let mut tick = tokio::time::interval(Duration::from_millis(Spam::BATCH_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let slot = (now_us(genesis_ms) / (slot_ms * 1000)) as Slot;
        if slot >= end {
            return;
        }
        for _ in 0..Spam::per_batch(&spams, slot, slot_ms) {
            let mut junk = vec![0u8; 200];
            rng.fill_bytes(&mut junk);
            net.broadcast(Kind::Consensus, junk);
        }
    }
}

/// Runs a node until `exit_after_slot` passes or Ctrl-C.
pub async fn run(opts: NodeOptions, workload: Box<dyn Workload>) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(&opts.base_path)
        .with_context(|| format!("creating {}", opts.base_path.display()))?;
    let me = opts.validator.map(|v| v.0);
    let genesis_ms = opts.spec.genesis_unix_ms;
    let slot_ms = opts.spec.chain.slot_ms;
    let (plugins, genesis) = load_plugins(&opts.config, &opts.spec, opts.validator)?;
    let store = Store::open(&opts.base_path.join("db.redb"))?;
    let stored = store.load()?;
    let mut core = NodeCore::new(
        me,
        opts.spec.chain.validators,
        slot_ms,
        plugins,
        workload,
        genesis,
    );
    let initial = if let Some(fin) = stored.finalized {
        let initial = core
            .restore(
                now_us(genesis_ms),
                &stored.consensus,
                &stored.exec,
                &stored.journal,
                fin,
                stored.justification.clone(),
                stored.blocks.clone(),
            )
            .context("restoring from the store")?;
        tracing::info!(finalized = %fin, blocks = stored.blocks.len(), "restored from disk");
        initial
    } else {
        core.recover_journal(now_us(genesis_ms), &stored.journal)
    };

    let keys = opts
        .spec
        .keys()
        .map_err(|e| anyhow::anyhow!("chain spec: {e}"))?;
    // An observer still needs a network identity (validators accept it as a read-only peer).
    let secret_seed = match opts.validator {
        Some((_, seed)) => diverge_keys::ed25519_seed(&seed),
        None => observer_seed(&opts.base_path)?,
    };
    let shaping = match (&opts.shape, me) {
        (Some(spec), Some(i)) => {
            spec.validate(usize::from(opts.spec.chain.validators))
                .context("--shape")?;
            let sh = Shaper::new(spec.clone(), usize::from(i), genesis_ms, slot_ms)
                .context("--shape")?;
            tracing::info!(cuts = spec.cuts.len(), "link shaping on");
            Some(Arc::new(sh))
        }
        // An observer follows the chain as it is served; shaping models validators' links.
        _ => None,
    };
    let (net, mut inbound) = Network::start(NetConfig {
        listen: opts.listen,
        me: me.unwrap_or(u16::MAX),
        secret_seed,
        validators: keys.iter().map(|k| k.ed25519).collect(),
        peers: opts.peers.clone(),
        max_message: MAX_MESSAGE,
        max_observers: if me.is_some() { opts.max_observers } else { 0 },
        rate_limit: RateLimit::default(),
        shaping,
    })
    .await
    .context("starting the network")?;
    tracing::info!(addr = %net.local_addr(), node = ?me, "listening");
    if !opts.spam.is_empty() {
        tracing::warn!(spam = ?opts.spam, "byzantine: flooding every validator with garbage");
        tokio::spawn(flood(net.clone(), opts.spam.clone(), genesis_ms, slot_ms));
    }

    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = opts.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics listener on {addr}"))?;
        tokio::spawn(super::metrics::serve(listener, metrics.clone()));
    }

    let shared = super::rpc::Shared::new();
    {
        let mut v = shared.view.write().unwrap_or_else(|p| p.into_inner());
        v.node = me;
        v.plugins = [Axis::Consensus, Axis::Da, Axis::Exec]
            .iter()
            .map(|a| (a.to_string(), opts.config.section(*a).plugin.clone()))
            .collect();
        v.best = (core.best(), core.number(&core.best()).unwrap_or(0));
        v.finalized = (
            core.finalized(),
            core.number(&core.finalized()).unwrap_or(0),
        );
    }
    let _rpc = match opts.rpc {
        Some(addr) => {
            let (local, handle) = super::rpc::serve(addr, shared.clone())
                .await
                .with_context(|| format!("JSON-RPC on {addr}"))?;
            tracing::info!(%local, "JSON-RPC listening");
            Some(handle)
        }
        None => None,
    };
    let core_shared = shared.clone();

    // The core thread: plugin calls, disk writes, the event log.
    let (in_tx, in_rx) = std_mpsc::channel::<CoreMsg>();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<Output>>();
    let log_path = opts.base_path.join("events.jsonl");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let core_metrics = metrics.clone();
    let observers = net.clone();
    let core_thread = std::thread::Builder::new()
        .name("diverge-core".into())
        .spawn(move || -> anyhow::Result<CoreStats> {
            let mut log = std::io::BufWriter::new(log_file);
            let mut process =
                |t: Time, outs: Vec<Output>, core: &NodeCore| -> anyhow::Result<Vec<Output>> {
                    let mut rest = Vec::new();
                    for o in outs {
                        match o {
                            Output::StoreBlock { hash, bytes } => store.put_block(&hash, &bytes)?,
                            Output::StoreJournal { bytes } => store.put_journal(&bytes)?,
                            Output::StoreFinalized {
                                hash,
                                justification,
                                consensus,
                                exec,
                            } => {
                                store.put_finalized(&hash, &justification, &consensus, &exec)?;
                                // Observers follow finality by push: the new final head and
                                // its justification (on disk now), from which they fetch the
                                // blocks they lack with GetBlock like any syncing node.
                                if me.is_some() && !observers.observers().is_empty() {
                                    observers.send_observers(
                                        Kind::Sync,
                                        SyncMsg::Head {
                                            best: hash,
                                            finalized: hash,
                                            justification,
                                        }
                                        .encode(),
                                    );
                                }
                            }
                            Output::Event(e) => {
                                let s = core.stats();
                                core_metrics.on_event(&e, s.best_number, s.finalized_number);
                                update_view(&core_shared, core, &e);
                                serde_json::to_writer(
                                    &mut log,
                                    &LogLine {
                                        t_us: t,
                                        node: me,
                                        event: &e,
                                    },
                                )?;
                                log.write_all(b"\n")?;
                            }
                            other => rest.push(other),
                        }
                    }
                    log.flush()?;
                    Ok(rest)
                };
            let t = now_us(genesis_ms);
            let first = process(t, initial, &core)?;
            let _ = out_tx.send(first);
            while let Ok(msg) = in_rx.recv() {
                match msg {
                    CoreMsg::Input(t, input) => {
                        if let Input::Tick { slot } = input {
                            core_shared
                                .view
                                .write()
                                .unwrap_or_else(|p| p.into_inner())
                                .slot = slot;
                        }
                        let outs = core.handle(t, input);
                        let rest = process(t, outs, &core)?;
                        if !rest.is_empty() && out_tx.send(rest).is_err() {
                            break;
                        }
                    }
                    CoreMsg::Stop => break,
                }
            }
            Ok(core.stats().clone())
        })
        .context("spawning the core thread")?;

    // Host time is microseconds since genesis and never negative: wait for slot 0 to begin.
    let since_epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    if since_epoch_ms < genesis_ms {
        tokio::time::sleep(Duration::from_millis(genesis_ms - since_epoch_ms)).await;
    }
    let send = |m: CoreMsg| in_tx.send(m).is_ok();
    send(CoreMsg::Input(now_us(genesis_ms), Input::Start));
    let slot_us = slot_ms * 1000;
    let mut next_slot: Slot = (now_us(genesis_ms) / slot_us) as Slot + 1;
    let mut timers: BTreeMap<Time, Vec<u64>> = BTreeMap::new();
    let mut last_slot = 0;
    let deadline = |at: Time| {
        let now = now_us(genesis_ms);
        tokio::time::Instant::now() + Duration::from_micros(at.saturating_sub(now))
    };
    loop {
        let tick_at = deadline(Time::from(next_slot) * slot_us);
        let timer_at = timers.keys().next().map(|t| deadline(*t));
        tokio::select! {
            _ = tokio::time::sleep_until(tick_at) => {
                last_slot = next_slot;
                if opts.exit_after_slot.is_some_and(|s| next_slot > s) {
                    break;
                }
                if !send(CoreMsg::Input(now_us(genesis_ms), Input::Tick { slot: next_slot })) {
                    break;
                }
                let stats = net.stats();
                metrics.on_net(&stats);
                shared.view.write().unwrap_or_else(|p| p.into_inner()).peers = stats.peers_connected;
                next_slot += 1;
            }
            _ = async { if let Some(at) = timer_at { tokio::time::sleep_until(at).await } }, if timer_at.is_some() => {
                let now = now_us(genesis_ms);
                let due: Vec<Time> = timers.range(..=now).map(|(t, _)| *t).collect();
                for t in due {
                    for id in timers.remove(&t).unwrap_or_default() {
                        send(CoreMsg::Input(now, Input::Timer { id }));
                    }
                }
            }
            Some(inb) = inbound.recv() => match inb {
                Inbound::Message { from, kind, bytes } => {
                    send(CoreMsg::Input(now_us(genesis_ms), Input::Net { from, channel: channel(kind), bytes }));
                }
                Inbound::Request { reply, .. } => {
                    // The pipeline speaks in messages only; answer requests empty.
                    let _ = reply.send(Vec::new());
                }
                Inbound::PeerConnected(p) => {
                    tracing::info!(peer = p, "peer connected");
                    send(CoreMsg::Input(now_us(genesis_ms), Input::PeerConnected(p)));
                }
                Inbound::PeerDisconnected(p) => tracing::info!(peer = p, "peer disconnected"),
            },
            Some(outs) = out_rx.recv() => {
                for o in outs {
                    match o {
                        // An observer is read-only: validators take only sync requests from it,
                        // so its consensus plugin's gossip (e.g. GRANDPA commits) stays home.
                        Output::Send { channel, .. } | Output::Broadcast { channel, .. }
                            if me.is_none() && channel != Channel::Sync => {}
                        Output::Send { to, channel, bytes } => net.send(to, kind(channel), bytes),
                        Output::Broadcast { channel, bytes } => net.broadcast(kind(channel), bytes),
                        Output::SetTimer { id, at } => timers.entry(at).or_default().push(id),
                        _ => {}
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = in_tx.send(CoreMsg::Stop);
    let core_stats = match core_thread.join() {
        Ok(r) => r?,
        Err(_) => bail!("the core thread panicked"),
    };
    let summary = Summary {
        node: me,
        core: core_stats,
        net: net.stats(),
        last_slot,
        plugin_faults: super::trace::plugin_faults(),
        slow_plugin_calls: super::trace::slow_calls(),
    };
    net.shutdown().await;
    let path = opts.base_path.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::Spam;

    #[test]
    fn spam_windows_parse_round_trip_and_refuse_bad_forms() {
        let s = Spam::parse("8:16:5000").expect("parses");
        assert_eq!(
            s,
            Spam {
                from: 8,
                to: 16,
                per_slot: 5000
            }
        );
        assert_eq!(Spam::parse(&s.arg()).expect("round trip"), s);
        for bad in ["8:16", "8:16:1:2", "a:16:1", "16:8:1", "8:8:1", ""] {
            assert!(Spam::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_slot_sends_at_least_its_messages_and_only_inside_the_window() {
        let spams = [Spam::parse("2:4:1001").expect("parses")];
        // 1 s slots: 50 batches of 20 ms, 21 messages each (1,050 >= 1,001).
        assert_eq!(Spam::per_batch(&spams, 2, 1000), 21);
        assert_eq!(Spam::per_batch(&spams, 3, 1000), 21);
        assert_eq!(Spam::per_batch(&spams, 1, 1000), 0);
        assert_eq!(Spam::per_batch(&spams, 4, 1000), 0);
        // A slot shorter than a batch still sends its messages in one batch.
        assert_eq!(Spam::per_batch(&spams, 2, 5), 1001);
    }
}
