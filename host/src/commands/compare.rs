//! `diverge compare A.toml B.toml --scenario S.toml`: run two variants under one scenario and
//! write the side-by-side report (`report.md`, CSV, an SVG plot of the finality latency
//! distribution) and print its table.
//!
//! Backends: the simulator ([`crate::sim`], virtual time), or real processes over QUIC on
//! 127.0.0.1 (`diverge testnet`), one variant after the other on the same machine, same
//! validator count, slots, slot length, workload and faults. On processes, the scenario's
//! network (latency matrix, jitter, loss, bandwidth) and its partition and offline windows are
//! applied by each node's transport ([`crate::net::shape`]), and a spam fault is the node's own
//! flood (`diverge run --spam`); faults only the simulator can stage (the other byzantine
//! behaviours, twins) are refused rather than silently ignored.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::testnet::{self, TestnetArgs};
use crate::config::Loaded;
use crate::net::shape::{Cut, ShapeSpec};
use crate::node::cost::CostFile;
use crate::sim::links::{LinkModel, RttTable};
use crate::sim::{Byzantine, SimFault, SimSetup};
use crate::stats::percentile;
use diverge_plugins::MaliciousEncoding;

/// Where a scenario runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One `diverge run` process per validator, QUIC on 127.0.0.1, wall-clock time.
    #[default]
    Processes,
    /// Every validator in one process, in virtual time, over modelled links.
    Sim,
}

/// The simulated network (sim backend only).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Regions the validators are spread over, round-robin (validator i in region i mod R),
    /// named as in the latency table. Empty: one region with `latency_ms`.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Round-trip table (`from,to,rtt_ms`), relative to the scenario file.
    #[serde(default = "default_latency_table")]
    pub latency_table: String,
    /// One-way latency between any two validators when `regions` is empty (ms).
    #[serde(default = "default_latency_ms")]
    pub latency_ms: f64,
    /// Standard deviation of the per-message Normal jitter (ms).
    #[serde(default)]
    pub jitter_ms: f64,
    /// Packet loss probability (QUIC retransmits: a loss delays, never drops, a message).
    #[serde(default)]
    pub loss: f64,
    /// Egress and ingress bandwidth of each validator (Mbit/s); 0: unlimited.
    #[serde(default)]
    pub bandwidth_mbit: f64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            regions: Vec::new(),
            latency_table: default_latency_table(),
            latency_ms: default_latency_ms(),
            jitter_ms: 0.0,
            loss: 0.0,
            bandwidth_mbit: 0.0,
        }
    }
}

fn default_latency_table() -> String {
    "../regions/aws.csv".into()
}
fn default_latency_ms() -> f64 {
    50.0
}

/// A scenario file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name for the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// Where it runs (`--backend` overrides).
    #[serde(default)]
    pub backend: Backend,
    /// Validators.
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
    /// Seed of the simulated links (jitter, loss) and of the workload.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Links (sim backend).
    #[serde(default)]
    pub network: NetworkSpec,
    /// CPU cost model for the sim backend, relative to the scenario file.
    #[serde(default = "default_costs")]
    pub costs: String,
    /// Extra `--set key=value` overrides applied to both variants.
    #[serde(default)]
    pub set: Vec<String>,
    /// The fault timeline.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The directory of the scenario file (paths in it are relative to it).
    #[serde(skip)]
    pub dir: PathBuf,
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
fn default_seed() -> u64 {
    1
}
fn default_costs() -> String {
    "../costs.toml".into()
}

/// One fault.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Kill a node (SIGKILL, or drop its memory in the simulator) at a slot; optionally restart
    /// it from its store later.
    Crash {
        /// Validator index.
        node: u16,
        /// Slot of the kill.
        at_slot: u32,
        /// Slot of the restart.
        #[serde(default)]
        restart_slot: Option<u32>,
    },
    /// Split the validators in two groups that cannot reach each other, then heal (sim).
    Partition {
        /// One side; the other validators form the other side.
        group: Vec<u16>,
        /// From.
        at_slot: u32,
        /// Heal.
        heal_slot: u32,
    },
    /// A validator keeps running but reaches nobody (sim).
    Offline {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
    },
    /// A validator that, as an author, sends no shards (sim).
    WithholdShards {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
    },
    /// A validator that, as an author, corrupts every shard it sends (sim).
    CorruptShards {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
    },
    /// A validator that, as an author, publishes a malicious encoding built by its own DA
    /// plugin (`shared/research/zoda.md` §5): random shards, one corrupted shard, a splice, a
    /// forged checksum, or per-validator equivocation, all under a valid commitment (sim).
    MaliciousEncoder {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
        /// `random_shards`, `corrupt_shard`, `splice`, `forged_checksum` or `equivocation`.
        construction: MaliciousEncoding,
    },
    /// A second node runs the validator's keys for the whole run, with other transactions and
    /// on the other side of any partition: an equivocating author and voter (sim).
    Twin {
        /// Validator index.
        node: u16,
    },
    /// A validator that floods every other with garbage consensus messages (both backends; a
    /// process spreads each slot's messages over the slot, the simulator sends them at the tick).
    Spam {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
        /// Messages per slot (to each validator).
        per_slot: u32,
    },
    /// A validator that, as an author, seals blocks whose execution claim is false: the
    /// post-state root with a byte flipped or, if the exec plugin makes proofs, a byte in the
    /// middle of the proof (the root stays true); the payload, shards and seal stay honest, so
    /// only validation can catch it (sim).
    InvalidProof {
        /// Validator index.
        node: u16,
        /// From.
        from_slot: u32,
        /// Until.
        to_slot: u32,
    },
}

impl Fault {
    /// The slot after which the fault is over (`None`: never).
    pub fn end(&self) -> Option<u32> {
        match self {
            Fault::Crash { restart_slot, .. } => *restart_slot,
            Fault::Partition { heal_slot, .. } => Some(*heal_slot),
            Fault::Twin { .. } => None,
            Fault::Offline { to_slot, .. }
            | Fault::WithholdShards { to_slot, .. }
            | Fault::CorruptShards { to_slot, .. }
            | Fault::MaliciousEncoder { to_slot, .. }
            | Fault::Spam { to_slot, .. }
            | Fault::InvalidProof { to_slot, .. } => Some(*to_slot),
        }
    }
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("scenario {}", path.display()))?;
        let mut s: Scenario =
            toml::from_str(&text).with_context(|| format!("scenario {}", path.display()))?;
        s.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(s)
    }

    /// The simulator's setup for this scenario.
    pub fn sim_setup(&self, progress: bool) -> anyhow::Result<SimSetup> {
        let n = usize::from(self.nodes);
        let net = &self.network;
        let (region_of, one_way_us) = if net.regions.is_empty() {
            (
                vec![0; n],
                vec![vec![(net.latency_ms * 1000.0).round() as u64]],
            )
        } else {
            let path = self.dir.join(&net.latency_table);
            let table = RttTable::load(&path)?;
            let m = table.one_way_us(&net.regions, &path.display().to_string())?;
            ((0..n).map(|i| i % net.regions.len()).collect(), m)
        };
        if !(0.0..1.0).contains(&net.loss) {
            bail!("scenario {}: loss must be in [0, 1)", self.name);
        }
        let costs_path = self.dir.join(&self.costs);
        let twins = self
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::Twin { node } => Some(*node),
                _ => None,
            })
            .collect();
        let faults = self
            .faults
            .iter()
            .filter(|f| !matches!(f, Fault::Twin { .. }))
            .map(|f| match f.clone() {
                Fault::Crash {
                    node,
                    at_slot,
                    restart_slot,
                } => SimFault::Crash {
                    node,
                    at: at_slot,
                    restart: restart_slot,
                },
                Fault::Partition {
                    group,
                    at_slot,
                    heal_slot,
                } => SimFault::Partition {
                    group,
                    at: at_slot,
                    heal: heal_slot,
                },
                Fault::Offline {
                    node,
                    from_slot,
                    to_slot,
                } => SimFault::Offline {
                    node,
                    from: from_slot,
                    to: to_slot,
                },
                Fault::WithholdShards {
                    node,
                    from_slot,
                    to_slot,
                } => SimFault::Byzantine {
                    node,
                    behaviour: Byzantine::WithholdShards,
                    from: from_slot,
                    to: to_slot,
                },
                Fault::CorruptShards {
                    node,
                    from_slot,
                    to_slot,
                } => SimFault::Byzantine {
                    node,
                    behaviour: Byzantine::CorruptShards,
                    from: from_slot,
                    to: to_slot,
                },
                Fault::MaliciousEncoder {
                    node,
                    from_slot,
                    to_slot,
                    construction,
                } => SimFault::Byzantine {
                    node,
                    behaviour: Byzantine::MaliciousEncoder(construction),
                    from: from_slot,
                    to: to_slot,
                },
                Fault::Spam {
                    node,
                    from_slot,
                    to_slot,
                    per_slot,
                } => SimFault::Byzantine {
                    node,
                    behaviour: Byzantine::Spam(per_slot),
                    from: from_slot,
                    to: to_slot,
                },
                Fault::InvalidProof {
                    node,
                    from_slot,
                    to_slot,
                } => SimFault::Byzantine {
                    node,
                    behaviour: Byzantine::InvalidProof,
                    from: from_slot,
                    to: to_slot,
                },
                Fault::Twin { .. } => unreachable!("filtered above"),
            })
            .collect();
        Ok(SimSetup {
            validators: self.nodes,
            slots: self.slots,
            txs: self.txs,
            seed: self.seed,
            workload_seed: self.seed,
            links: LinkModel {
                region_of,
                one_way_us,
                jitter_us: net.jitter_ms * 1000.0,
                loss: net.loss,
                // Mbit/s to bytes per microsecond.
                bytes_per_us: net.bandwidth_mbit / 8.0,
            },
            faults,
            twins,
            costs: CostFile::load(&costs_path)?,
            progress,
        })
    }
}

impl Scenario {
    /// What the process backend applies of this scenario's network (`diverge run --shape`):
    /// the simulator's link model and its partition and offline windows, so both backends
    /// run one network.
    pub fn shape_spec(&self) -> anyhow::Result<ShapeSpec> {
        let setup = self.sim_setup(false)?;
        let n = usize::from(self.nodes);
        let cuts = setup
            .faults
            .iter()
            .filter_map(|f| match f {
                SimFault::Partition { group, at, heal } => Some(Cut {
                    from_slot: *at,
                    to_slot: *heal,
                    groups: (0..n)
                        .map(|i| u32::from(group.contains(&(i as u16))))
                        .collect(),
                }),
                SimFault::Offline { node, from, to } => Some(Cut {
                    from_slot: *from,
                    to_slot: *to,
                    groups: (0..n).map(|i| u32::from(i == usize::from(*node))).collect(),
                }),
                _ => None,
            })
            .collect();
        let l = setup.links;
        let spec = ShapeSpec {
            region_of: l.region_of,
            one_way_us: l.one_way_us,
            jitter_us: l.jitter_us,
            loss: l.loss,
            bytes_per_us: l.bytes_per_us,
            cuts,
            seed: self.seed,
        };
        spec.validate(n)
            .with_context(|| format!("scenario {}", self.name))?;
        Ok(spec)
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
    /// Of those: in blocks that had a notarization certificate / a vote majority (a
    /// supermajority prevoted for them or a descendant) / neither, when they were orphaned.
    pub leak_by_support: [usize; 3],
    /// (node, slot, latency ms) of every finalization.
    pub latencies: Vec<(u16, u64, f64)>,
    /// Per finalized block: latency at the first and at the last node that finalized it (ms).
    pub first_last: Vec<(f64, f64)>,
    /// Deepest reorg of any node's best chain (blocks).
    pub max_reorg: u64,
    /// Heights where two nodes finalized different blocks, plus finalized blocks later
    /// reported orphaned: both must be 0.
    pub safety_violations: usize,
    /// Blocks of slots after every fault ended that were finalized (did the chain resume?).
    pub finalized_after_faults: usize,
    /// Misbehaviour reports by honest nodes: (reports, distinct offenders).
    pub misbehaviour: (usize, usize),
    /// Inputs nodes refused: (shards, everything else).
    pub rejected: (usize, usize),
    /// Per block with a refused shard: first refusal minus the block's proposal (ms).
    pub detect_ms: Vec<f64>,
    /// Blocks a `malicious_encoder` author sealed in its window.
    pub malicious_blocks: usize,
    /// Of those: finalized by some node.
    pub malicious_finalized: usize,
    /// Of those: marked available by some node other than the author.
    pub malicious_available: usize,
    /// Time to detect a malicious encoder: per malicious block some node refused a shard of,
    /// the first refusal minus the block's proposal (ms). Blocks never refused are missing.
    pub malicious_detect_ms: Vec<f64>,
    /// Blocks some node's validation refused (re-execution or proof check).
    pub invalid_blocks: usize,
    /// Of those: finalized by some node (must be 0).
    pub invalid_finalized: usize,
    /// Mean bytes per node (in + out) over the run.
    pub bytes_per_node_slot: f64,
    /// Bytes (in + out) of each node over the run.
    pub bytes_by_node: Vec<u64>,
    /// Mean plugin call times in ms, by call.
    pub calls_ms: BTreeMap<String, f64>,
    /// Nodes that exited with an error.
    pub failed_nodes: Vec<u16>,
    /// One row per block: slot, hash, author, status, nullifiers, support, first/last final ms.
    pub blocks: Vec<BlockRow>,
}

/// A block in the per-block CSV.
#[derive(Debug, Clone, Default)]
pub struct BlockRow {
    /// Slot.
    pub slot: u64,
    /// Hash (canonical in the simulator).
    pub hash: String,
    /// Author.
    pub author: u64,
    /// `finalized`, `orphaned` or `pending` (neither by the end).
    pub status: &'static str,
    /// Nullifiers its payload revealed.
    pub nullifiers: usize,
    /// `notarized`, `majority` or `none`.
    pub support: &'static str,
    /// First and last finalization latency (ms).
    pub final_ms: Option<(f64, f64)>,
}

impl VariantReport {
    fn pct(&self, p: f64) -> Option<f64> {
        let v: Vec<f64> = self.latencies.iter().map(|l| l.2).collect();
        percentile(&v, p)
    }

    fn max_latency(&self) -> Option<f64> {
        self.latencies.iter().map(|l| l.2).reduce(f64::max)
    }
}

const SUPPORT: [&str; 3] = ["notarized", "majority", "none"];

fn read_variant(
    name: &str,
    plugins: &str,
    base: &Path,
    nodes: u16,
    faults_end: Option<u32>,
    malicious: &[(u16, u32, u32)],
) -> VariantReport {
    let mut r = VariantReport {
        name: name.into(),
        plugins: plugins.into(),
        ..VariantReport::default()
    };
    let mut calls: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut add = |call: &str, us: Option<u64>| {
        if let Some(us) = us.filter(|u| *u > 0) {
            let e = calls.entry(call.to_string()).or_insert((0.0, 0));
            e.0 += us as f64 / 1e3;
            e.1 += 1;
        }
    };
    // The block tree as the nodes saw it.
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut height: HashMap<String, u64> = HashMap::new();
    let mut info: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut final_ms: HashMap<String, Vec<f64>> = HashMap::new();
    let mut final_at: BTreeMap<u64, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut orphaned: HashMap<String, usize> = HashMap::new();
    let mut notarized = std::collections::HashSet::new();
    let mut precommit_targets = std::collections::HashSet::new();
    let mut proposed_at: HashMap<String, u64> = HashMap::new();
    let mut first_refusal: HashMap<String, u64> = HashMap::new();
    let mut available_at: HashMap<String, std::collections::BTreeSet<u16>> = HashMap::new();
    let mut offenders = std::collections::BTreeSet::new();
    let mut invalid = std::collections::HashSet::new();
    let mut bytes = 0u64;
    for i in 0..nodes {
        let dir = base.join(format!("node-{i}"));
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
        let mut best: Option<String> = None;
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let u = |k: &str| e[k].as_u64();
            let hash = e["hash"].as_str().unwrap_or("").to_string();
            match e["event"].as_str().unwrap_or("") {
                "misbehaviour" => {
                    r.misbehaviour.0 += 1;
                    offenders.insert(u("offender").unwrap_or(u64::MAX));
                }
                "rejected" => {
                    if e["channel"] == "shard" {
                        r.rejected.0 += 1;
                        let reason = e["reason"].as_str().unwrap_or("");
                        if let Some(h) = reason
                            .strip_prefix("shard of ")
                            .and_then(|x| x.split(':').next())
                        {
                            let t = u("t_us").unwrap_or(0);
                            let f = first_refusal.entry(h.to_string()).or_insert(t);
                            *f = (*f).min(t);
                        }
                    } else {
                        r.rejected.1 += 1;
                    }
                }
                "proposed" => {
                    proposed_at.insert(hash.clone(), u("t_us").unwrap_or(0));
                    r.authored += 1;
                    add("exec.execute", u("execute_us"));
                    add("da.encode", u("encode_us"));
                    add("consensus.seal", u("seal_us"));
                    height.insert(hash.clone(), u("number").unwrap_or(0));
                    info.insert(hash, (u("slot").unwrap_or(0), u64::from(i)));
                }
                "imported" => {
                    add("consensus.verify_seal", u("verify_seal_us"));
                    if let Some(p) = e["parent"].as_str() {
                        parent.insert(hash.clone(), p.to_string());
                    }
                    height.insert(hash.clone(), u("number").unwrap_or(0));
                    info.insert(hash, (u("slot").unwrap_or(0), u("author").unwrap_or(0)));
                }
                "validated" => {
                    add("exec.validate", u("validate_us"));
                    if e["valid"] == false {
                        invalid.insert(hash);
                    }
                }
                "available" => {
                    add("da.verify_shard", u("verify_shard_us"));
                    available_at.entry(hash).or_default().insert(i);
                }
                "finalized" => {
                    let ms = u("latency_us").unwrap_or(0) as f64 / 1e3;
                    r.latencies.push((i, u("slot").unwrap_or(0), ms));
                    final_ms.entry(hash.clone()).or_default().push(ms);
                    final_at
                        .entry(u("number").unwrap_or(0))
                        .or_default()
                        .insert(hash);
                }
                "orphaned" => {
                    orphaned.insert(hash, u("nullifiers").unwrap_or(0) as usize);
                }
                "best" => {
                    if let Some(old) = best.replace(hash.clone()) {
                        r.max_reorg = r.max_reorg.max(reorg_depth(&parent, &height, &old, &hash));
                    }
                }
                "telemetry" => {
                    let f = &e["fields"];
                    match e["name"].as_str().unwrap_or("") {
                        "consensus.ssf.certificate" if f["kind"] == "notarize" => {
                            if let Some(h) = f["hash"].as_str() {
                                notarized.insert(h.to_string());
                            }
                        }
                        "consensus.grandpa.precommit" => {
                            if let Some(h) = f["target"].as_str() {
                                precommit_targets.insert(h.to_string());
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let mut mine = 0u64;
        if let Ok(t) = std::fs::read_to_string(dir.join("summary.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                if let Some(kinds) = v["net"]["per_kind"].as_object() {
                    for k in kinds.values() {
                        mine += k["bytes_in"].as_u64().unwrap_or(0)
                            + k["bytes_out"].as_u64().unwrap_or(0);
                    }
                }
            }
        }
        bytes += mine;
        r.bytes_by_node.push(mine);
    }
    // A precommit target had a supermajority of prevotes for it or a descendant: so did
    // every ancestor of it.
    let mut majority = std::collections::HashSet::new();
    for t in &precommit_targets {
        let mut cur = Some(t.clone());
        while let Some(h) = cur {
            if !majority.insert(h.clone()) {
                break;
            }
            cur = parent.get(&h).cloned();
        }
    }
    r.misbehaviour.1 = offenders.len();
    for (h, t) in &first_refusal {
        if let Some(p) = proposed_at.get(h) {
            r.detect_ms.push(t.saturating_sub(*p) as f64 / 1e3);
        }
    }
    r.detect_ms.sort_by(|a, b| a.total_cmp(b));
    r.safety_violations = final_at.values().filter(|s| s.len() > 1).count()
        + orphaned
            .keys()
            .filter(|h| final_ms.contains_key(*h))
            .count();
    r.finalized_blocks = final_ms.len();
    r.invalid_blocks = invalid.len();
    r.invalid_finalized = invalid.iter().filter(|h| final_ms.contains_key(*h)).count();
    r.orphaned = orphaned.len();
    r.nullifiers_exposed = orphaned.values().sum();
    for (h, (slot, author)) in &info {
        let support = if notarized.contains(h) {
            0
        } else if majority.contains(h) {
            1
        } else {
            2
        };
        let fm = final_ms.get(h).map(|v| {
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            )
        });
        let by_cheat = malicious.iter().any(|(node, from, to)| {
            u64::from(*node) == *author && (u64::from(*from)..u64::from(*to)).contains(slot)
        });
        if by_cheat {
            r.malicious_blocks += 1;
            r.malicious_finalized += usize::from(fm.is_some());
            let others = available_at
                .get(h)
                .is_some_and(|s| s.iter().any(|n| u64::from(*n) != *author));
            r.malicious_available += usize::from(others);
            if let (Some(t), Some(p)) = (first_refusal.get(h), proposed_at.get(h)) {
                r.malicious_detect_ms
                    .push(t.saturating_sub(*p) as f64 / 1e3);
            }
        }
        if let Some(fl) = fm {
            r.first_last.push(fl);
            if faults_end.is_some_and(|end| *slot >= u64::from(end)) {
                r.finalized_after_faults += 1;
            }
        }
        let nullifiers = orphaned.get(h).copied().unwrap_or(0);
        let status = if fm.is_some() {
            "finalized"
        } else if orphaned.contains_key(h) {
            r.leak_by_support[support] += nullifiers;
            "orphaned"
        } else {
            "pending"
        };
        r.blocks.push(BlockRow {
            slot: *slot,
            hash: h.clone(),
            author: *author,
            status,
            nullifiers,
            support: SUPPORT[support],
            final_ms: fm,
        });
    }
    r.malicious_detect_ms.sort_by(|a, b| a.total_cmp(b));
    r.blocks
        .sort_by(|a, b| (a.slot, &a.hash).cmp(&(b.slot, &b.hash)));
    r.bytes_per_node_slot = bytes as f64 / f64::from(nodes.max(1));
    r.calls_ms = calls
        .into_iter()
        .map(|(k, (sum, n))| (k, sum / n as f64))
        .collect();
    r
}

/// Blocks of `old`'s branch abandoned when the head moved to `new` (0 for an extension).
fn reorg_depth(
    parent: &HashMap<String, String>,
    height: &HashMap<String, u64>,
    old: &str,
    new: &str,
) -> u64 {
    let mut ancestors = std::collections::HashSet::new();
    let mut cur = Some(new.to_string());
    while let Some(h) = cur {
        if !ancestors.insert(h.clone()) {
            break;
        }
        cur = parent.get(&h).cloned();
    }
    let mut cur = Some(old.to_string());
    while let Some(h) = cur {
        if ancestors.contains(&h) {
            let (ho, hc) = (
                height.get(old).copied().unwrap_or(0),
                height.get(&h).copied().unwrap_or(0),
            );
            return ho.saturating_sub(hc);
        }
        cur = parent.get(&h).cloned();
    }
    0
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
    row("finality latency p90 ms", &|v| fmt_ms(v.pct(90.0)));
    row("finality latency p99 ms", &|v| fmt_ms(v.pct(99.0)));
    row("finality latency max ms", &|v| fmt_ms(v.max_latency()));
    row("p50 at first / last node ms", &|v| {
        let f: Vec<f64> = v.first_last.iter().map(|x| x.0).collect();
        let l: Vec<f64> = v.first_last.iter().map(|x| x.1).collect();
        format!(
            "{} / {}",
            fmt_ms(percentile(&f, 50.0)),
            fmt_ms(percentile(&l, 50.0))
        )
    });
    row("orphaned blocks", &|v| v.orphaned.to_string());
    row("max reorg depth", &|v| v.max_reorg.to_string());
    row("nullifiers exposed in orphans", &|v| {
        v.nullifiers_exposed.to_string()
    });
    row("... in notarized / majority / unsupported", &|v| {
        format!(
            "{} / {} / {}",
            v.leak_by_support[0], v.leak_by_support[1], v.leak_by_support[2]
        )
    });
    if s.faults.iter().any(|f| f.end().is_some()) {
        row("blocks finalized from after the faults", &|v| {
            v.finalized_after_faults.to_string()
        });
    }
    row("safety violations", &|v| v.safety_violations.to_string());
    if variants.iter().any(|v| v.invalid_blocks > 0)
        || s.faults
            .iter()
            .any(|f| matches!(f, Fault::InvalidProof { .. }))
    {
        row("blocks validation refused / finalized anyway", &|v| {
            format!("{} / {}", v.invalid_blocks, v.invalid_finalized)
        });
    }
    row("misbehaviour reports (offenders)", &|v| {
        format!("{} ({})", v.misbehaviour.0, v.misbehaviour.1)
    });
    row("inputs refused: shards / other", &|v| {
        format!("{} / {}", v.rejected.0, v.rejected.1)
    });
    if variants.iter().any(|v| !v.detect_ms.is_empty()) {
        row("bad shard detected after (p50 / max ms)", &|v| {
            format!(
                "{} / {}",
                fmt_ms(percentile(&v.detect_ms, 50.0)),
                fmt_ms(v.detect_ms.last().copied())
            )
        });
    }
    if !malicious_windows(s).is_empty() {
        row(
            "malicious-encoder blocks: sealed / available / finalized",
            &|v| {
                format!(
                    "{} / {} / {}",
                    v.malicious_blocks, v.malicious_available, v.malicious_finalized
                )
            },
        );
        row(
            "malicious encoder detected after (p50 / max ms, blocks)",
            &|v| {
                format!(
                    "{} / {} ({} of {})",
                    fmt_ms(percentile(&v.malicious_detect_ms, 50.0)),
                    fmt_ms(v.malicious_detect_ms.last().copied()),
                    v.malicious_detect_ms.len(),
                    v.malicious_blocks
                )
            },
        );
    }
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

/// An SVG document's opening: size, font, white background.
fn svg_start(w: f64, h: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    )
}

/// The x and y axes of a plot area `left..w-20` by `20..h-bottom`.
fn svg_axes(svg: &mut String, left: f64, w: f64, h: f64, bottom: f64) {
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{left}\" y1=\"20\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - 20.0,
        h - bottom,
        h - bottom
    );
}

/// The x-axis title under the plot and the y-axis title turned along the left edge.
fn svg_titles(svg: &mut String, (left, w, h): (f64, f64, f64), x: &str, y: &str) {
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x}</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">{y}</text>",
        (w + left) / 2.0,
        h - 6.0,
        h / 2.0,
        h / 2.0
    );
}

/// An SVG plot of each variant's finality-latency CDF.
pub fn cdf_svg(variants: &[VariantReport]) -> String {
    let (w, h, left, bottom) = (640.0, 400.0, 60.0, 40.0);
    let max = variants
        .iter()
        .flat_map(|v| v.latencies.iter().map(|l| l.2))
        .fold(1.0f64, f64::max)
        * 1.05;
    let mut svg = svg_start(w, h);
    let x = |ms: f64| left + (w - left - 20.0) * ms / max;
    let y = |f: f64| (h - bottom) - (h - bottom - 20.0) * f;
    svg_axes(&mut svg, left, w, h, bottom);
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
    svg_titles(
        &mut svg,
        (left, w, h),
        "finality latency (ms after slot start)",
        "fraction of (block, node)",
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
        let c = COLORS[i % COLORS.len()];
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

/// (node, from, to) of every `malicious_encoder` fault.
fn malicious_windows(s: &Scenario) -> Vec<(u16, u32, u32)> {
    s.faults
        .iter()
        .filter_map(|f| match f {
            Fault::MaliciousEncoder {
                node,
                from_slot,
                to_slot,
                ..
            } => Some((*node, *from_slot, *to_slot)),
            _ => None,
        })
        .collect()
}

/// The last slot any fault of the scenario is active in, if all of them end.
fn faults_end(s: &Scenario) -> Option<u32> {
    let ends: Option<Vec<u32>> = s
        .faults
        .iter()
        .filter(|f| !matches!(f, Fault::Twin { .. }))
        .map(Fault::end)
        .collect();
    ends.and_then(|e| e.into_iter().max())
}

const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// An SVG of finality latency over the run: per block, the last node's latency against the
/// block's slot, one line per variant, with the scenario's faults shaded.
pub fn timeline_svg(s: &Scenario, variants: &[VariantReport]) -> String {
    let (w, h, left, bottom) = (640.0, 400.0, 70.0, 40.0);
    let slots = f64::from(s.slots.max(1));
    let max = variants
        .iter()
        .flat_map(|v| v.blocks.iter().filter_map(|b| b.final_ms.map(|f| f.1)))
        .fold(1.0f64, f64::max)
        * 1.05;
    let x = |slot: f64| left + (w - left - 20.0) * slot / slots;
    let y = |ms: f64| (h - bottom) - (h - bottom - 20.0) * ms / max;
    let mut svg = svg_start(w, h);
    for f in &s.faults {
        let (a, b, label) = match f {
            Fault::Partition {
                at_slot, heal_slot, ..
            } => (*at_slot, *heal_slot, "partition"),
            Fault::Crash {
                at_slot,
                restart_slot,
                node,
            } => {
                let _ = node;
                (*at_slot, restart_slot.unwrap_or(s.slots), "crash")
            }
            Fault::Offline {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "offline"),
            Fault::WithholdShards {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "withheld shards"),
            Fault::CorruptShards {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "corrupt shards"),
            Fault::MaliciousEncoder {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "malicious encoder"),
            Fault::Spam {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "spam"),
            Fault::InvalidProof {
                from_slot, to_slot, ..
            } => (*from_slot, *to_slot, "invalid proof"),
            Fault::Twin { .. } => (0, s.slots, "twin"),
        };
        let (xa, xb) = (x(f64::from(a)), x(f64::from(b)));
        let _ = writeln!(
            svg,
            "<rect x=\"{xa:.1}\" y=\"20\" width=\"{:.1}\" height=\"{}\" fill=\"#f2c14e\" fill-opacity=\"0.25\"/><text x=\"{:.1}\" y=\"34\" fill=\"#8a6d1d\">{label}</text>",
            (xb - xa).max(1.0),
            h - bottom - 20.0,
            xa + 4.0
        );
    }
    svg_axes(&mut svg, left, w, h, bottom);
    for k in 0..=5 {
        let sl = slots * f64::from(k) / 5.0;
        let ms = max * f64::from(k) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{sl:.0}</text><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{ms:.0}</text>",
            x(sl),
            h - bottom + 16.0,
            left - 6.0,
            y(ms) + 4.0
        );
    }
    svg_titles(
        &mut svg,
        (left, w, h),
        "slot of the block",
        "finality latency at the last node (ms)",
    );
    for (i, v) in variants.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<String> = v
            .blocks
            .iter()
            .filter_map(|b| {
                b.final_ms
                    .map(|f| format!("{:.1},{:.1}", x(b.slot as f64), y(f.1)))
            })
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        for b in v.blocks.iter().filter(|b| b.status == "orphaned") {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" fill=\"{c}\" text-anchor=\"middle\">x</text>",
                x(b.slot as f64),
                h - bottom - 4.0 - 12.0 * i as f64
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{} (x: orphaned block)</text>",
            left + 10.0,
            52.0 + 16.0 * i as f64,
            v.name
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// An SVG bar chart of the bytes each node sent and received per slot, per variant.
pub fn bytes_svg(s: &Scenario, variants: &[VariantReport]) -> String {
    let (w, h, left, bottom) = (640.0, 360.0, 80.0, 40.0);
    let slots = f64::from(s.slots.max(1));
    let nodes = variants
        .iter()
        .map(|v| v.bytes_by_node.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let max = variants
        .iter()
        .flat_map(|v| v.bytes_by_node.iter().map(|b| *b as f64 / slots / 1024.0))
        .fold(1.0f64, f64::max)
        * 1.1;
    let group = (w - left - 20.0) / nodes as f64;
    let bar = group * 0.8 / variants.len().max(1) as f64;
    let y = |kib: f64| (h - bottom) - (h - bottom - 20.0) * kib / max;
    let mut svg = svg_start(w, h);
    svg_axes(&mut svg, left, w, h, bottom);
    for k in 0..=4 {
        let kib = max * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{kib:.0}</text>",
            left - 6.0,
            y(kib) + 4.0
        );
    }
    for n in 0..nodes {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
            left + group * (n as f64 + 0.5),
            h - bottom + 16.0
        );
    }
    for (i, v) in variants.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        for (n, b) in v.bytes_by_node.iter().enumerate() {
            let kib = *b as f64 / slots / 1024.0;
            let x0 = left + group * n as f64 + group * 0.1 + bar * i as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{c}\"/>",
                y(kib),
                (h - bottom) - y(kib)
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>",
            left + 10.0,
            30.0 + 16.0 * i as f64,
            v.name
        );
    }
    svg_titles(
        &mut svg,
        (left, w, h),
        "validator",
        "KiB sent + received per slot",
    );
    svg.push_str("</svg>\n");
    svg
}

/// Runs every variant under `scenario` on `backend` and writes the report into `out_dir`.
pub fn compare(
    configs: &[(PathBuf, Loaded)],
    scenario: &Scenario,
    backend: Backend,
    overrides: &[String],
    out_dir: &Path,
    progress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<VariantReport>> {
    if backend == Backend::Processes {
        if let Some(f) = scenario.faults.iter().find(|f| {
            !matches!(
                f,
                Fault::Crash { .. }
                    | Fault::Partition { .. }
                    | Fault::Offline { .. }
                    | Fault::Spam { .. }
            )
        }) {
            bail!(
                "scenario {}: {f:?} needs the simulator (backend = \"sim\" or --backend sim); \
                 the process backend runs crash/restart, partition, offline and spam faults",
                scenario.name
            );
        }
    }
    let sim_setup = match backend {
        Backend::Sim => Some(scenario.sim_setup(progress)?),
        Backend::Processes => None,
    };
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
            _ => None,
        })
        .collect();
    let spams: Vec<(u16, crate::node::runtime::Spam)> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::Spam {
                node,
                from_slot,
                to_slot,
                per_slot,
            } => Some((
                *node,
                crate::node::runtime::Spam {
                    from: *from_slot,
                    to: *to_slot,
                    per_slot: *per_slot,
                },
            )),
            _ => None,
        })
        .collect();
    let mut sets = overrides.to_vec();
    sets.extend(scenario.set.iter().cloned());
    if let Some(ms) = scenario.slot_ms {
        sets.push(format!("chain.slot_ms={ms}"));
    }
    let mut reports = Vec::new();
    let mut sims = Vec::new();
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
        let plugins = [
            &loaded.config.consensus.plugin,
            &loaded.config.da.plugin,
            &loaded.config.exec.plugin,
        ]
        .map(|s| s.as_str())
        .join(" + ");
        let failed = match &sim_setup {
            Some(setup) => {
                let summary = crate::sim::run(&loaded, setup, &base, out)
                    .with_context(|| format!("simulating {name}"))?;
                writeln!(
                    out,
                    "finalized: {} (slowest node), wall {:.1} s, peak memory {} MiB",
                    summary.finalized_height.iter().min().copied().unwrap_or(0),
                    summary.wall_ms as f64 / 1e3,
                    summary.peak_rss_kib / 1024
                )?;
                sims.push((name.clone(), summary));
                Vec::new()
            }
            None => {
                let shape = if scenario.network == NetworkSpec::default()
                    && !scenario
                        .faults
                        .iter()
                        .any(|f| matches!(f, Fault::Partition { .. } | Fault::Offline { .. }))
                {
                    // Nothing to shape: loopback as it is.
                    None
                } else {
                    let path = std::path::absolute(base.join("shape.json"))?;
                    std::fs::create_dir_all(&base)?;
                    std::fs::write(&path, serde_json::to_vec_pretty(&scenario.shape_spec()?)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                    Some(path)
                };
                let args = TestnetArgs {
                    nodes: scenario.nodes,
                    slots: scenario.slots,
                    base_path: Some(base.clone()),
                    txs: scenario.txs,
                    progress,
                    crashes: crashes.clone(),
                    shape,
                    spam: spams.clone(),
                };
                testnet::testnet(&loaded, &sets, &args, out)?.failed_nodes
            }
        };
        let mut r = read_variant(
            &name,
            &plugins,
            &base,
            scenario.nodes,
            faults_end(scenario),
            &malicious_windows(scenario),
        );
        r.failed_nodes = failed;
        reports.push(r);
    }
    let tbl = table(scenario, &reports);
    let mut csv = String::from("variant,node,slot,latency_ms\n");
    for r in &reports {
        for (node, slot, ms) in &r.latencies {
            let _ = writeln!(csv, "{},{node},{slot},{ms:.3}", r.name);
        }
    }
    let mut blocks_csv = String::from(
        "variant,slot,hash,author,status,nullifiers,support,first_final_ms,last_final_ms\n",
    );
    for r in &reports {
        for b in &r.blocks {
            let (f, l) = b.final_ms.map_or((String::new(), String::new()), |(f, l)| {
                (format!("{f:.3}"), format!("{l:.3}"))
            });
            let _ = writeln!(
                blocks_csv,
                "{},{},{},{},{},{},{},{f},{l}",
                r.name, b.slot, b.hash, b.author, b.status, b.nullifiers, b.support
            );
        }
    }
    let mut summary_csv = String::from(
        "variant,authored,finalized,p50_ms,p90_ms,p99_ms,max_ms,orphaned,max_reorg,nullifiers_exposed,exposed_notarized,exposed_majority,exposed_unsupported,safety_violations,refused_shards,refused_other,misbehaviour_reports,bytes_per_node_slot,malicious_blocks,malicious_available,malicious_finalized,malicious_detected,malicious_detect_p50_ms,invalid_blocks,invalid_finalized\n",
    );
    for r in &reports {
        let _ = writeln!(
            summary_csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.0},{},{},{},{},{},{},{}",
            r.name,
            r.authored,
            r.finalized_blocks,
            fmt_ms(r.pct(50.0)),
            fmt_ms(r.pct(90.0)),
            fmt_ms(r.pct(99.0)),
            fmt_ms(r.max_latency()),
            r.orphaned,
            r.max_reorg,
            r.nullifiers_exposed,
            r.leak_by_support[0],
            r.leak_by_support[1],
            r.leak_by_support[2],
            r.safety_violations,
            r.rejected.0,
            r.rejected.1,
            r.misbehaviour.0,
            r.bytes_per_node_slot / f64::from(scenario.slots.max(1)),
            r.malicious_blocks,
            r.malicious_available,
            r.malicious_finalized,
            r.malicious_detect_ms.len(),
            fmt_ms(percentile(&r.malicious_detect_ms, 50.0)),
            r.invalid_blocks,
            r.invalid_finalized,
        );
    }
    let setup = match (&sim_setup, backend) {
        (Some(s), _) => format!(
            "{} validators simulated in one process in virtual time (seed {}), {}, {} slots of {} ms, {} transactions per block; plugin calls run for real and are charged by the cost model `{}`",
            scenario.nodes,
            scenario.seed,
            describe_network(&scenario.network),
            scenario.slots,
            configs
                .first()
                .and_then(|(p, _)| Loaded::load(p, &sets).ok())
                .and_then(|l| l.chain_params().ok())
                .map_or(0, |c| c.slot_ms),
            scenario.txs,
            scenario.dir.join(&scenario.costs).display(),
        ) + &format!("; {} faults", s.faults.len()),
        (None, _) => format!(
            "{} validators as {} processes over QUIC on 127.0.0.1, {} slots, {} transactions per block",
            scenario.nodes, scenario.nodes, scenario.slots, scenario.txs
        ),
    };
    let faults = if scenario.faults.is_empty() {
        "none".to_string()
    } else {
        scenario
            .faults
            .iter()
            .map(describe_fault)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut sim_lines = String::new();
    for (name, s) in &sims {
        let _ = writeln!(
            sim_lines,
            "- {name}: {} events, {} messages delivered, {} dropped by faults, {} retransmitted; wall {:.1} s, peak memory {} MiB; log digest `{}`",
            s.events,
            s.delivered,
            s.dropped,
            s.retransmitted,
            s.wall_ms as f64 / 1e3,
            s.peak_rss_kib / 1024,
            s.log_digest
        );
    }
    let md = format!(
        "# diverge compare: {}\n\n{setup}.\n\nFaults: {faults}.\n\n{tbl}\n![finality latency CDF](finality_cdf.svg)\n\n![finality latency over the run, faults shaded](latency_over_time.svg)\n\n![bytes per validator per slot](bytes_per_node.svg)\n\n## What the rows mean\n\n- Finality latency: the time a node finalized a block minus the start of the block's slot, over every (block, node); \"first / last node\" takes, per block, the first and the last node that finalized it.\n- Orphaned blocks: blocks some node imported that ended off the finalized chain. Their payloads were gossiped, so their nullifiers are public for ever although the transactions never happened: the privacy leak. It is split by the support the block had: a notarization certificate (single-slot finality's first round), a vote majority (a supermajority of GRANDPA prevotes for it or a descendant), or nothing.\n- Max reorg depth: the most blocks any node's best chain abandoned at once.\n- Safety violations: heights where two nodes finalized different blocks, plus finalized blocks later orphaned. Anything but 0 is a bug.\n- Bytes per node per slot: everything a node sent and received, over the run's slots.\n- Plugin call times: {}.\n\n{}Files: per-finalization samples `finality.csv`; one row per block `blocks.csv`; this table `summary.csv`; each node's event log `<variant>/node-<i>/events.jsonl`.\n",
        scenario.name,
        if sim_setup.is_some() {
            "modelled by the cost model (the simulator charges them; they are not measured in this run)"
        } else {
            "measured wall time in the node processes"
        },
        if sims.is_empty() {
            String::new()
        } else {
            format!("## Simulator\n\n{sim_lines}\n")
        },
    );
    std::fs::write(out_dir.join("report.md"), md)?;
    std::fs::write(out_dir.join("finality.csv"), csv)?;
    std::fs::write(out_dir.join("blocks.csv"), blocks_csv)?;
    std::fs::write(out_dir.join("summary.csv"), summary_csv)?;
    std::fs::write(out_dir.join("finality_cdf.svg"), cdf_svg(&reports))?;
    std::fs::write(
        out_dir.join("latency_over_time.svg"),
        timeline_svg(scenario, &reports),
    )?;
    std::fs::write(
        out_dir.join("bytes_per_node.svg"),
        bytes_svg(scenario, &reports),
    )?;
    writeln!(out, "\n{tbl}")?;
    writeln!(out, "report: {}", out_dir.join("report.md").display())?;
    Ok(reports)
}

/// Writes `scenario` for `config` as a Shadow experiment into `out` (the real binary on one
/// Shadow host per validator, the scenario's links as its GML graph).
pub fn shadow(
    config: &Path,
    scenario: &Scenario,
    overrides: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let mut sets = overrides.to_vec();
    sets.extend(scenario.set.iter().cloned());
    if let Some(ms) = scenario.slot_ms {
        sets.push(format!("chain.slot_ms={ms}"));
    }
    let loaded = Loaded::load(config, &sets)?;
    let setup = scenario.sim_setup(false)?;
    let spec = crate::sim::sim_spec(&loaded, scenario.nodes)?;
    let exe = std::env::current_exe().context("locating the diverge binary")?;
    let config_abs = std::fs::canonicalize(config).unwrap_or(config.to_path_buf());
    crate::sim::shadow::export(
        crate::sim::shadow::ShadowExport {
            spec,
            links: &setup.links,
            slots: scenario.slots,
            txs: scenario.txs,
            exe: &exe,
            config: &config_abs,
            faults: scenario.faults.iter().map(describe_fault).collect(),
        },
        out,
    )
}

fn describe_network(n: &NetworkSpec) -> String {
    let mut s = if n.regions.is_empty() {
        format!("{} ms one-way links", n.latency_ms)
    } else {
        format!(
            "validators spread over {} regions ({}; round trips from `{}`)",
            n.regions.len(),
            n.regions.join(", "),
            n.latency_table
        )
    };
    if n.jitter_ms > 0.0 {
        let _ = write!(s, ", jitter {} ms", n.jitter_ms);
    }
    if n.loss > 0.0 {
        let _ = write!(s, ", packet loss {}", n.loss);
    }
    if n.bandwidth_mbit > 0.0 {
        let _ = write!(s, ", {} Mbit/s per validator", n.bandwidth_mbit);
    }
    s
}

fn describe_fault(f: &Fault) -> String {
    match f {
        Fault::Crash {
            node,
            at_slot,
            restart_slot,
        } => match restart_slot {
            Some(r) => format!("validator {node} crashes at slot {at_slot}, restarts at {r}"),
            None => format!("validator {node} crashes at slot {at_slot}"),
        },
        Fault::Partition {
            group,
            at_slot,
            heal_slot,
        } => format!(
            "validators {group:?} split from the rest at slot {at_slot}, healed at {heal_slot}"
        ),
        Fault::Offline {
            node,
            from_slot,
            to_slot,
        } => format!("validator {node} offline from slot {from_slot} to {to_slot}"),
        Fault::WithholdShards {
            node,
            from_slot,
            to_slot,
        } => format!("validator {node} withholds its shards from slot {from_slot} to {to_slot}"),
        Fault::CorruptShards {
            node,
            from_slot,
            to_slot,
        } => format!("validator {node} corrupts its shards from slot {from_slot} to {to_slot}"),
        Fault::MaliciousEncoder {
            node,
            from_slot,
            to_slot,
            construction,
        } => format!(
            "validator {node} publishes a malicious encoding ({}) of every block it authors from slot {from_slot} to {to_slot}",
            construction.name()
        ),
        Fault::Twin { node } => {
            format!("validator {node} runs twice (a twin with its keys, other transactions, across any partition)")
        }
        Fault::Spam {
            node,
            from_slot,
            to_slot,
            per_slot,
        } => format!(
            "validator {node} sends {per_slot} garbage consensus messages per slot to everyone from slot {from_slot} to {to_slot}"
        ),
        Fault::InvalidProof {
            node,
            from_slot,
            to_slot,
        } => format!(
            "validator {node} seals a false execution claim (post-state root, proof) in every block it authors from slot {from_slot} to {to_slot}"
        ),
    }
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
            backend: Backend::Sim,
            nodes: 2,
            slots: 4,
            slot_ms: None,
            txs: 1,
            seed: 1,
            network: NetworkSpec::default(),
            costs: default_costs(),
            set: vec![],
            faults: vec![],
            dir: PathBuf::new(),
        };
        let t = table(&s, &[a.clone(), b.clone()]);
        assert!(t.contains("| finality latency p50 ms | 100 | 900 |"), "{t}");
        assert!(t.contains("| orphaned blocks | 0 | 2 |"), "{t}");
        let svg = cdf_svg(&[a, b]);
        assert_eq!(svg.matches("<polyline").count(), 2);
    }
}
