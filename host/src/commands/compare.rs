//! `diverge compare A.toml B.toml --scenario S.toml`: run two variants under one scenario and
//! write the side-by-side report (`report.md`, CSV, an SVG plot of the finality latency
//! distribution) and print its table.
//!
//! Backend: real processes over QUIC on 127.0.0.1 (`diverge testnet`), one variant after the
//! other on the same machine, same validator count, slots, slot length, workload and faults.
//! The simulator backend (virtual time, modelled links, up to 1023 validators) is issue #8's
//! next step; scenario keys it alone can honour (latency matrix, loss, partitions) are refused
//! here rather than silently ignored.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::testnet::{self, TestnetArgs};
use crate::config::Loaded;
use crate::stats::percentile;

/// A scenario file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name for the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// Validators (one process each).
    #[serde(default = "default_nodes")]
    pub nodes: u16,
    /// Slots to run.
    #[serde(default = "default_slots")]
    pub slots: u32,
    /// Slot length override (ms); both variants get it.
    #[serde(default)]
    pub slot_ms: Option<u64>,
    /// Transactions per block.
    #[serde(default = "default_txs")]
    pub txs: usize,
    /// Extra `--set key=value` overrides applied to both variants.
    #[serde(default)]
    pub set: Vec<String>,
    /// The fault timeline.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn default_name() -> String {
    "baseline".into()
}
fn default_nodes() -> u16 {
    4
}
fn default_slots() -> u32 {
    20
}
fn default_txs() -> usize {
    32
}

/// One fault.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Kill a node with SIGKILL at a slot; optionally restart it from its disk later.
    Crash {
        /// Validator index.
        node: u16,
        /// Slot of the kill.
        at_slot: u32,
        /// Slot of the restart.
        #[serde(default)]
        restart_slot: Option<u32>,
    },
    /// Split the validators in two groups (needs the simulator backend).
    Partition {
        /// One side.
        group: Vec<u16>,
        /// From.
        at_slot: u32,
        /// Heal.
        heal_slot: u32,
    },
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("scenario {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("scenario {}", path.display()))
    }
}

/// One variant's numbers.
#[derive(Debug, Clone, Default)]
pub struct VariantReport {
    /// Label (config file stem).
    pub name: String,
    /// Plugins, `consensus + da + exec`.
    pub plugins: String,
    /// Blocks sealed.
    pub authored: usize,
    /// Distinct blocks finalized anywhere.
    pub finalized_blocks: usize,
    /// Distinct orphaned blocks.
    pub orphaned: usize,
    /// Nullifiers revealed by orphaned blocks.
    pub nullifiers_exposed: usize,
    /// (node, slot, latency ms) of every finalization.
    pub latencies: Vec<(u16, u64, f64)>,
    /// Mean bytes per node per slot.
    pub bytes_per_node_slot: f64,
    /// Mean plugin call times in ms, by call.
    pub calls_ms: BTreeMap<String, f64>,
    /// Nodes that exited with an error.
    pub failed_nodes: Vec<u16>,
}

impl VariantReport {
    fn pct(&self, p: f64) -> Option<f64> {
        let v: Vec<f64> = self.latencies.iter().map(|l| l.2).collect();
        percentile(&v, p)
    }
}

fn read_variant(name: &str, plugins: &str, base: &Path, nodes: u16) -> VariantReport {
    let mut r = VariantReport {
        name: name.into(),
        plugins: plugins.into(),
        ..VariantReport::default()
    };
    let mut finalized = std::collections::HashSet::new();
    let mut orphaned: HashMap<String, usize> = HashMap::new();
    let mut calls: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut add = |call: &str, us: Option<u64>| {
        if let Some(us) = us.filter(|u| *u > 0) {
            let e = calls.entry(call.to_string()).or_insert((0.0, 0));
            e.0 += us as f64 / 1e3;
            e.1 += 1;
        }
    };
    let mut bytes = 0u64;
    for i in 0..nodes {
        let dir = base.join(format!("node-{i}"));
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let u = |k: &str| e[k].as_u64();
            match e["event"].as_str().unwrap_or("") {
                "proposed" => {
                    r.authored += 1;
                    add("exec.execute", u("execute_us"));
                    add("da.encode", u("encode_us"));
                    add("consensus.seal", u("seal_us"));
                }
                "imported" => add("consensus.verify_seal", u("verify_seal_us")),
                "validated" => add("exec.validate", u("validate_us")),
                "available" => add("da.verify_shard", u("verify_shard_us")),
                "finalized" => {
                    if let Some(h) = e["hash"].as_str() {
                        finalized.insert(h.to_string());
                    }
                    r.latencies.push((
                        i,
                        u("slot").unwrap_or(0),
                        u("latency_us").unwrap_or(0) as f64 / 1e3,
                    ));
                }
                "orphaned" => {
                    if let Some(h) = e["hash"].as_str() {
                        orphaned.insert(h.to_string(), u("nullifiers").unwrap_or(0) as usize);
                    }
                }
                _ => {}
            }
        }
        if let Ok(t) = std::fs::read_to_string(dir.join("summary.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                if let Some(kinds) = v["net"]["per_kind"].as_object() {
                    for k in kinds.values() {
                        bytes += k["bytes_in"].as_u64().unwrap_or(0)
                            + k["bytes_out"].as_u64().unwrap_or(0);
                    }
                }
            }
        }
    }
    r.finalized_blocks = finalized.len();
    r.orphaned = orphaned.len();
    r.nullifiers_exposed = orphaned.values().sum();
    r.bytes_per_node_slot = bytes as f64 / f64::from(nodes.max(1));
    r.calls_ms = calls
        .into_iter()
        .map(|(k, (sum, n))| (k, sum / n as f64))
        .collect();
    r
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

/// The side-by-side table (markdown).
pub fn table(s: &Scenario, variants: &[VariantReport]) -> String {
    let mut t = String::new();
    let _ = write!(t, "| metric |");
    for v in variants {
        let _ = write!(t, " {} |", v.name);
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "|---|{}", "---|".repeat(variants.len()));
    let mut row = |name: &str, f: &dyn Fn(&VariantReport) -> String| {
        let _ = write!(t, "| {name} |");
        for v in variants {
            let _ = write!(t, " {} |", f(v));
        }
        let _ = writeln!(t);
    };
    row("plugins", &|v| v.plugins.clone());
    row("blocks authored", &|v| v.authored.to_string());
    row("blocks finalized", &|v| v.finalized_blocks.to_string());
    row("finality latency p50 ms", &|v| fmt_ms(v.pct(50.0)));
    row("finality latency p95 ms", &|v| fmt_ms(v.pct(95.0)));
    row("finality latency p99 ms", &|v| fmt_ms(v.pct(99.0)));
    row("orphaned blocks", &|v| v.orphaned.to_string());
    row("nullifiers exposed in orphans", &|v| {
        v.nullifiers_exposed.to_string()
    });
    row("bytes per node per slot", &|v| {
        crate::stats::bytes((v.bytes_per_node_slot / f64::from(s.slots.max(1))) as usize)
    });
    let calls: std::collections::BTreeSet<String> = variants
        .iter()
        .flat_map(|v| v.calls_ms.keys().cloned())
        .collect();
    for c in calls {
        row(&format!("{c} mean ms"), &|v| {
            v.calls_ms
                .get(&c)
                .map_or_else(|| "-".into(), |x| format!("{x:.2}"))
        });
    }
    t
}

/// An SVG plot of each variant's finality-latency CDF.
pub fn cdf_svg(variants: &[VariantReport]) -> String {
    let (w, h, left, bottom) = (640.0, 400.0, 60.0, 40.0);
    let max = variants
        .iter()
        .flat_map(|v| v.latencies.iter().map(|l| l.2))
        .fold(1.0f64, f64::max)
        * 1.05;
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let x = |ms: f64| left + (w - left - 20.0) * ms / max;
    let y = |f: f64| (h - bottom) - (h - bottom - 20.0) * f;
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{left}\" y1=\"20\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - 20.0,
        h - bottom,
        h - bottom
    );
    for k in 0..=5 {
        let ms = max * f64::from(k) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{ms:.0}</text>",
            x(ms),
            h - bottom + 16.0
        );
        let f = f64::from(k) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{f:.1}</text>",
            left - 6.0,
            y(f) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">finality latency (ms after slot start)</text>",
        (w + left) / 2.0,
        h - 6.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">fraction of (block, node)</text>",
        h / 2.0,
        h / 2.0
    );
    for (i, v) in variants.iter().enumerate() {
        let mut l: Vec<f64> = v.latencies.iter().map(|l| l.2).collect();
        l.sort_by(|a, b| a.total_cmp(b));
        let n = l.len().max(1) as f64;
        let pts: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(k, ms)| format!("{:.1},{:.1}", x(*ms), y((k + 1) as f64 / n)))
            .collect();
        let c = colors[i % colors.len()];
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>",
            left + 10.0,
            30.0 + 16.0 * i as f64,
            v.name
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Runs both variants and writes the report into `out_dir`.
pub fn compare(
    configs: &[(PathBuf, Loaded)],
    scenario: &Scenario,
    overrides: &[String],
    out_dir: &Path,
    progress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<VariantReport>> {
    if let Some(Fault::Partition { .. }) = scenario
        .faults
        .iter()
        .find(|f| matches!(f, Fault::Partition { .. }))
    {
        bail!(
            "scenario {}: partitions need the simulator backend (issue #8); the process backend \
             runs crash and restart faults",
            scenario.name
        );
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let crashes: Vec<(u16, u32, Option<u32>)> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::Crash {
                node,
                at_slot,
                restart_slot,
            } => Some((*node, *at_slot, *restart_slot)),
            Fault::Partition { .. } => None,
        })
        .collect();
    let mut sets = overrides.to_vec();
    sets.extend(scenario.set.iter().cloned());
    if let Some(ms) = scenario.slot_ms {
        sets.push(format!("chain.slot_ms={ms}"));
    }
    let mut reports = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (path, _) in configs {
        let mut name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "variant".into());
        while !seen.insert(name.clone()) {
            name.push('\'');
        }
        let loaded = Loaded::load(path, &sets)?;
        let base = out_dir.join(&name);
        if base.exists() {
            std::fs::remove_dir_all(&base)
                .with_context(|| format!("clearing {}", base.display()))?;
        }
        writeln!(out, "== variant {name} ({})", path.display())?;
        let args = TestnetArgs {
            nodes: scenario.nodes,
            slots: scenario.slots,
            base_path: Some(base.clone()),
            txs: scenario.txs,
            progress,
            crashes: crashes.clone(),
        };
        let summary = testnet::testnet(&loaded, &sets, &args, out)?;
        let plugins = [
            &loaded.config.consensus.plugin,
            &loaded.config.da.plugin,
            &loaded.config.exec.plugin,
        ]
        .map(|s| s.as_str())
        .join(" + ");
        let mut r = read_variant(&name, &plugins, &base, scenario.nodes);
        r.failed_nodes = summary.failed_nodes;
        reports.push(r);
    }
    let tbl = table(scenario, &reports);
    let mut csv = String::from("variant,node,slot,latency_ms\n");
    for r in &reports {
        for (node, slot, ms) in &r.latencies {
            let _ = writeln!(csv, "{},{node},{slot},{ms:.3}", r.name);
        }
    }
    let mut summary_csv = String::from(
        "variant,authored,finalized,p50_ms,p95_ms,p99_ms,orphaned,nullifiers_exposed,bytes_per_node_slot\n",
    );
    for r in &reports {
        let _ = writeln!(
            summary_csv,
            "{},{},{},{},{},{},{},{},{:.0}",
            r.name,
            r.authored,
            r.finalized_blocks,
            fmt_ms(r.pct(50.0)),
            fmt_ms(r.pct(95.0)),
            fmt_ms(r.pct(99.0)),
            r.orphaned,
            r.nullifiers_exposed,
            r.bytes_per_node_slot / f64::from(scenario.slots.max(1))
        );
    }
    let md = format!(
        "# diverge compare: {}\n\n{} validators as {} processes over QUIC on 127.0.0.1, {} slots, {} transactions per block, faults: {}.\n\nFinality latency is the time a node finalized a block minus the start of the block's slot, over every (block, node). Orphaned blocks are blocks some node imported that ended off the finalized chain; their nullifiers were public and are now dead.\n\n{tbl}\n![finality latency CDF](finality_cdf.svg)\n\nPer-finalization samples: `finality.csv`; this table: `summary.csv`; each node's event log: `<variant>/node-<i>/events.jsonl`.\n",
        scenario.name,
        scenario.nodes,
        scenario.nodes,
        scenario.slots,
        scenario.txs,
        if scenario.faults.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", scenario.faults)
        },
    );
    std::fs::write(out_dir.join("report.md"), md)?;
    std::fs::write(out_dir.join("finality.csv"), csv)?;
    std::fs::write(out_dir.join("summary.csv"), summary_csv)?;
    std::fs::write(out_dir.join("finality_cdf.svg"), cdf_svg(&reports))?;
    writeln!(out, "\n{tbl}")?;
    writeln!(out, "report: {}", out_dir.join("report.md").display())?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_and_reject_unknown_keys() {
        let s: Scenario = toml::from_str(
            "name = \"crash\"\nnodes = 4\n[[faults]]\nkind = \"crash\"\nnode = 3\nat_slot = 5\nrestart_slot = 9\n",
        )
        .expect("parse");
        assert_eq!(
            s.faults,
            vec![Fault::Crash {
                node: 3,
                at_slot: 5,
                restart_slot: Some(9)
            }]
        );
        assert!(toml::from_str::<Scenario>("nodez = 4").is_err());
    }

    #[test]
    fn the_table_and_plot_show_both_variants() {
        let a = VariantReport {
            name: "a".into(),
            latencies: vec![(0, 1, 100.0), (1, 1, 300.0)],
            ..VariantReport::default()
        };
        let b = VariantReport {
            name: "b".into(),
            latencies: vec![(0, 1, 900.0)],
            orphaned: 2,
            ..VariantReport::default()
        };
        let s = Scenario {
            name: "t".into(),
            nodes: 2,
            slots: 4,
            slot_ms: None,
            txs: 1,
            set: vec![],
            faults: vec![],
        };
        let t = table(&s, &[a.clone(), b.clone()]);
        assert!(t.contains("| finality latency p50 ms | 100 | 900 |"), "{t}");
        assert!(t.contains("| orphaned blocks | 0 | 2 |"), "{t}");
        let svg = cdf_svg(&[a, b]);
        assert_eq!(svg.matches("<polyline").count(), 2);
    }
}
