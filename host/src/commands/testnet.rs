//! `diverge testnet`: a local chain of N node processes on 127.0.0.1, with progress while it
//! runs and a summary read from the nodes' event logs when it stops.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::chainspec::ChainSpec;
use crate::config::Loaded;
use crate::stats::percentile;

/// What `diverge testnet` was told.
#[derive(Debug, Clone)]
pub struct TestnetArgs {
    /// Validators (one process each).
    pub nodes: u16,
    /// Slots to run.
    pub slots: u32,
    /// Where the nodes keep their data (default: a fresh temp dir).
    pub base_path: Option<PathBuf>,
    /// Transactions per block.
    pub txs: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// Crash faults: node, the slot it is killed with SIGKILL at, and the slot it restarts
    /// from its disk at (never, if none).
    pub crashes: Vec<(u16, u32, Option<u32>)>,
    /// Link shaping file every node applies (`diverge run --shape`).
    pub shape: Option<PathBuf>,
    /// Byzantine floods: the node and its window (`diverge run --spam`).
    pub spam: Vec<(u16, crate::node::runtime::Spam)>,
}

/// The run's numbers.
#[derive(Debug, Clone, Default)]
pub struct TestnetSummary {
    /// Blocks sealed across nodes.
    pub authored: usize,
    /// Blocks every node finalized.
    pub finalized: usize,
    /// Distinct orphaned blocks.
    pub orphaned: usize,
    /// Nullifiers revealed by orphaned blocks.
    pub nullifiers_exposed: usize,
    /// Finality latency over blocks and nodes, ms: p50, p90, p99.
    pub latency_ms: Option<(f64, f64, f64)>,
    /// Mean bytes sent plus received per node per slot.
    pub bytes_per_node_slot: f64,
    /// Nodes that exited with an error.
    pub failed_nodes: Vec<u16>,
    /// Where the data is.
    pub base_path: PathBuf,
}

#[derive(Deserialize)]
struct Line {
    event: String,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    latency_us: Option<u64>,
    #[serde(default)]
    nullifiers: Option<usize>,
}

#[derive(Deserialize)]
struct NodeSummary {
    net: NetTotals,
}

#[derive(Deserialize)]
struct NetTotals {
    per_kind: std::collections::BTreeMap<String, KindTotals>,
}

#[derive(Deserialize)]
struct KindTotals {
    bytes_in: u64,
    bytes_out: u64,
}

fn free_ports(n: u16) -> anyhow::Result<Vec<u16>> {
    // Bind them all at once so they differ, then release them for the nodes.
    let socks: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free UDP ports on 127.0.0.1")?;
    socks.iter().map(|s| Ok(s.local_addr()?.port())).collect()
}

fn node_dir(base: &Path, i: u16) -> PathBuf {
    base.join(format!("node-{i}"))
}

fn count_finalized(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter(|l| l.contains("\"event\":\"finalized\""))
                .count()
        })
        .unwrap_or(0)
}

/// Runs the testnet and prints its summary to `out`.
pub fn testnet(
    config: &Loaded,
    overrides: &[String],
    args: &TestnetArgs,
    out: &mut dyn Write,
) -> anyhow::Result<TestnetSummary> {
    if args.nodes < 2 {
        bail!("--nodes must be at least 2");
    }
    let mut chain = config.chain_params()?;
    // The nodes take every chain parameter (V included) from the spec written below, so only
    // the spec needs V = --nodes; the config overrides pass through for the plugins' params.
    if chain.validators != args.nodes {
        let mut c = config.clone();
        c.config.chain.validators = Some(args.nodes);
        chain = c.chain_params()?;
    }
    let base = match &args.base_path {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!(
            "diverge-testnet-{}-{}",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
        )),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let ports = free_ports(args.nodes)?;
    // Time for every process to start and load its plugins before slot 1.
    let genesis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64 + 4000;
    let mut spec = ChainSpec::dev("testnet", chain.clone(), genesis);
    for (v, p) in spec.validators.iter_mut().zip(&ports) {
        v.address = Some(format!("127.0.0.1:{p}"));
    }
    let spec_path = base.join("spec.json");
    spec.save(&spec_path)?;
    writeln!(
        out,
        "testnet: {} nodes, {} slots of {} ms, {} ({}), data in {}",
        args.nodes,
        args.slots,
        chain.slot_ms,
        config.file.display(),
        [
            &config.config.consensus.plugin,
            &config.config.da.plugin,
            &config.config.exec.plugin
        ]
        .map(|s| s.as_str())
        .join(" + "),
        base.display()
    )?;
    let exe = std::env::current_exe().context("locating the diverge binary")?;
    let config_path = std::fs::canonicalize(&config.file).unwrap_or(config.file.clone());
    let spawn = |i: u16| -> anyhow::Result<Child> {
        let dir = node_dir(&base, i);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("--log").arg("info").arg("run");
        cmd.arg("--config").arg(&config_path);
        for o in overrides {
            cmd.arg("--set").arg(o);
        }
        cmd.arg("--chain")
            .arg(&spec_path)
            .arg("--validator-index")
            .arg(i.to_string())
            .arg("--dev-key")
            .arg("--base-path")
            .arg(&dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", ports[usize::from(i)]))
            .arg("--exit-after-slot")
            .arg(args.slots.to_string())
            .arg("--txs")
            .arg(args.txs.to_string());
        if let Some(shape) = &args.shape {
            cmd.arg("--shape").arg(shape);
        }
        for (_, spam) in args.spam.iter().filter(|(n, _)| *n == i) {
            cmd.arg("--spam").arg(spam.arg());
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        cmd.spawn()
            .with_context(|| format!("starting node {i} ({})", exe.display()))
    };
    let mut children: Vec<(u16, Child)> = Vec::new();
    for i in 0..args.nodes {
        children.push((i, spawn(i)?));
    }
    let mut crashes = args.crashes.clone();
    for (node, at, restart) in &crashes {
        if *node >= args.nodes || restart.is_some_and(|r| r <= *at) {
            bail!("crash fault node {node} at slot {at} restart {restart:?}: bad node or order");
        }
    }

    let total = Duration::from_millis(
        (genesis + (u64::from(args.slots) + 1) * chain.slot_ms)
            .saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64),
    );
    let bar = if args.progress {
        let b = indicatif::ProgressBar::new(u64::from(args.slots));
        b.set_style(
            indicatif::ProgressStyle::with_template("slot {pos}/{len} {bar:30} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let hard_stop = Instant::now() + total + Duration::from_secs(60);
    let mut failed = Vec::new();
    while !children.is_empty() {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(b) = &bar {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
            let slot = now_ms.saturating_sub(genesis) / chain.slot_ms;
            b.set_position(slot.min(u64::from(args.slots)));
            b.set_message(format!(
                "finalized at node 0: {}",
                count_finalized(&node_dir(&base, 0).join("events.jsonl"))
            ));
        }
        // Faults due by now: SIGKILL (Child::kill) and restart from the node's own disk.
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        let slot_now = (now_ms.saturating_sub(genesis) / chain.slot_ms) as u32;
        for (node, at, restart) in crashes.iter_mut() {
            if *at <= slot_now && *at != u32::MAX {
                if let Some((_, c)) = children.iter_mut().find(|(i, _)| i == node) {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                children.retain(|(i, _)| i != node);
                *at = u32::MAX;
            }
            if *at == u32::MAX && restart.is_some_and(|r| r <= slot_now) {
                children.push((*node, spawn(*node)?));
                *restart = None;
            }
        }
        let mut still = Vec::new();
        for (i, mut c) in children {
            match c.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        failed.push(i);
                    }
                }
                Ok(None) if Instant::now() > hard_stop => {
                    let _ = c.kill();
                    let _ = c.wait();
                    failed.push(i);
                }
                Ok(None) => still.push((i, c)),
                Err(_) => failed.push(i),
            }
        }
        children = still;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let summary = summarize(&base, args.nodes, args.slots, failed)?;
    print_summary(&summary, out)?;
    for i in &summary.failed_nodes {
        writeln!(
            out,
            "node {i} failed; its log: {}",
            node_dir(&base, *i).join("node.log").display()
        )?;
    }
    Ok(summary)
}

/// Reads every node's event log and summary.
pub fn summarize(
    base: &Path,
    nodes: u16,
    slots: u32,
    failed_nodes: Vec<u16>,
) -> anyhow::Result<TestnetSummary> {
    let mut s = TestnetSummary {
        failed_nodes,
        base_path: base.to_path_buf(),
        ..TestnetSummary::default()
    };
    let mut latencies = Vec::new();
    let mut finalized_per_node = Vec::new();
    let mut orphaned = std::collections::HashMap::new();
    let mut bytes = 0u64;
    for i in 0..nodes {
        let dir = node_dir(base, i);
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
        let mut fin = 0;
        for line in text.lines() {
            let Ok(l) = serde_json::from_str::<Line>(line) else {
                continue;
            };
            match l.event.as_str() {
                "proposed" => s.authored += 1,
                "finalized" => {
                    fin += 1;
                    if let Some(us) = l.latency_us {
                        latencies.push(us as f64 / 1e3);
                    }
                }
                "orphaned" => {
                    if let Some(h) = l.hash {
                        orphaned.insert(h, l.nullifiers.unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        finalized_per_node.push(fin);
        if let Ok(t) = std::fs::read_to_string(dir.join("summary.json")) {
            if let Ok(ns) = serde_json::from_str::<NodeSummary>(&t) {
                bytes += ns
                    .net
                    .per_kind
                    .values()
                    .map(|k| k.bytes_in + k.bytes_out)
                    .sum::<u64>();
            }
        }
    }
    s.finalized = finalized_per_node.iter().copied().min().unwrap_or(0);
    s.orphaned = orphaned.len();
    s.nullifiers_exposed = orphaned.values().sum();
    s.latency_ms = match (
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
    ) {
        (Some(a), Some(b), Some(c)) => Some((a, b, c)),
        _ => None,
    };
    s.bytes_per_node_slot = bytes as f64 / f64::from(nodes) / f64::from(slots.max(1));
    Ok(s)
}

/// The summary lines (`finalized: N` and friends are for scripts).
pub fn print_summary(s: &TestnetSummary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "authored: {}", s.authored)?;
    writeln!(out, "finalized: {}", s.finalized)?;
    writeln!(out, "orphaned: {}", s.orphaned)?;
    writeln!(
        out,
        "nullifiers exposed in orphaned blocks: {}",
        s.nullifiers_exposed
    )?;
    match s.latency_ms {
        Some((p50, p90, p99)) => writeln!(
            out,
            "finality latency ms: p50 {p50:.0}, p90 {p90:.0}, p99 {p99:.0}"
        )?,
        None => writeln!(out, "finality latency ms: none (nothing finalized)")?,
    }
    writeln!(
        out,
        "bytes per node per slot: {}",
        crate::stats::bytes(s.bytes_per_node_slot as usize)
    )
}
