//! A scenario as a [Shadow](https://shadow.github.io) experiment, for users who outgrow one
//! machine's simulator: the real `diverge run` binaries, one Shadow host per validator, on a
//! GML graph built from the same latency matrix, jitter, loss and bandwidth the simulator uses.
//!
//! Shadow runs real processes in its own simulated time (starting 2000-01-01 00:00:00 UTC), so
//! the chain spec's genesis is set a few seconds after that start. Fault timelines are not
//! exported (Shadow's graph is static); they are listed in a comment for the user to script.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::links::LinkModel;
use crate::chainspec::ChainSpec;

/// Shadow's simulated clock starts at 2000-01-01T00:00:00Z.
const SHADOW_EPOCH_MS: u64 = 946_684_800_000;
/// Time for every process to start and load its plugins before slot 1.
const GENESIS_DELAY_MS: u64 = 10_000;
/// The validators' QUIC port.
const PORT: u16 = 30333;

/// What to export.
#[derive(Debug)]
pub struct ShadowExport<'a> {
    /// The variant's chain spec, validators and genesis time get overwritten.
    pub spec: ChainSpec,
    /// Links of the scenario (one region per graph node).
    pub links: &'a LinkModel,
    /// Slots to run.
    pub slots: u32,
    /// Transactions per block.
    pub txs: usize,
    /// The `diverge` binary the hosts run.
    pub exe: &'a Path,
    /// The variant config the hosts run.
    pub config: &'a Path,
    /// Faults of the scenario, described (not exported).
    pub faults: Vec<String>,
}

fn ip(i: usize) -> String {
    format!("11.0.{}.{}", (i + 1) / 250, (i + 1) % 250 + 1)
}

/// The GML graph: one node per region, an edge for every ordered pair (self-loops included,
/// Shadow needs them for hosts in the same region).
pub fn gml(links: &LinkModel) -> String {
    let r = links.one_way_us.len();
    let bw = if links.bytes_per_us > 0.0 {
        format!("{} Mbit", (links.bytes_per_us * 8.0).round() as u64)
    } else {
        "10 Gbit".to_string()
    };
    let mut g = String::from("graph [\n  directed 1\n");
    for i in 0..r {
        let _ = writeln!(
            g,
            "  node [\n    id {i}\n    host_bandwidth_down \"{bw}\"\n    host_bandwidth_up \"{bw}\"\n  ]"
        );
    }
    for (a, row) in links.one_way_us.iter().enumerate() {
        for (b, us) in row.iter().enumerate() {
            // Shadow's latency unit has microsecond precision; it needs at least 1 ns.
            let _ = writeln!(
                g,
                "  edge [\n    source {a}\n    target {b}\n    latency \"{} us\"\n    jitter \"{} us\"\n    packet_loss {}\n  ]",
                (*us).max(1),
                links.jitter_us.round() as u64,
                links.loss
            );
        }
    }
    g.push_str("]\n");
    g
}

/// Writes `spec.json`, `network.gml` and `shadow.yaml` into `out`.
pub fn export(x: ShadowExport<'_>, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let n = x.links.region_of.len();
    let mut spec = x.spec;
    spec.genesis_unix_ms = SHADOW_EPOCH_MS + GENESIS_DELAY_MS;
    for (i, v) in spec.validators.iter_mut().enumerate() {
        v.address = Some(format!("{}:{PORT}", ip(i)));
    }
    let spec_path = out.join("spec.json");
    spec.save(&spec_path)?;
    std::fs::write(out.join("network.gml"), gml(x.links))?;
    let slot_s = spec.chain.slot_ms as f64 / 1e3;
    let stop_s = (GENESIS_DELAY_MS as f64 / 1e3 + slot_s * f64::from(x.slots + 2)).ceil() as u64;
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Shadow experiment exported by `diverge shadow`: {n} validators, {} slots of {slot_s} s.",
        x.slots
    );
    let _ = writeln!(
        y,
        "# Run: shadow shadow.yaml   (each host's events.jsonl lands in shadow.data/hosts/v<i>/)."
    );
    if !x.faults.is_empty() {
        let _ = writeln!(
            y,
            "# Faults of the scenario NOT exported (Shadow's graph is static): {}",
            x.faults.join("; ")
        );
    }
    let _ = writeln!(
        y,
        "general:\n  stop_time: {stop_s} s\n  model_unblocked_syscall_latency: true\nnetwork:\n  graph:\n    type: gml\n    file:\n      path: network.gml\nhosts:"
    );
    let exe = x.exe.display();
    let config = x.config.display();
    let spec_abs = std::fs::canonicalize(&spec_path).unwrap_or(spec_path.clone());
    for i in 0..n {
        let _ = writeln!(
            y,
            "  v{i}:\n    network_node_id: {}\n    ip_addr: {}\n    processes:\n    - path: {exe}\n      args: --log info run --config {config} --chain {} --validator-index {i} --dev-key --base-path data --listen 0.0.0.0:{PORT} --exit-after-slot {} --txs {}\n      start_time: 1 s\n      expected_final_state: any",
            x.links.region_of[i],
            ip(i),
            spec_abs.display(),
            x.slots,
            x.txs
        );
    }
    std::fs::write(out.join("shadow.yaml"), y)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_has_every_region_pair_with_its_latency() {
        let links = LinkModel {
            region_of: vec![0, 1, 0],
            one_way_us: vec![vec![500, 35_000], vec![35_100, 400]],
            jitter_us: 2_000.0,
            loss: 0.001,
            bytes_per_us: 125.0,
        };
        let g = gml(&links);
        assert_eq!(g.matches("node [").count(), 2);
        assert_eq!(g.matches("edge [").count(), 4);
        assert!(
            g.contains("source 1\n    target 0\n    latency \"35100 us\""),
            "{g}"
        );
        assert!(g.contains("host_bandwidth_up \"1000 Mbit\""), "{g}");
        assert!(g.contains("packet_loss 0.001"), "{g}");
    }
}
