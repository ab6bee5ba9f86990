//! The simulator backend: every validator's real [`NodeCore`] with its real loaded plugins, in
//! one process and in virtual time. It is what `diverge compare --backend sim` runs, and the
//! only way to put a chain under partitions, a latency matrix or 1023 validators on one
//! machine.
//!
//! A discrete-event loop (a heap keyed by virtual time, then insertion order) delivers slot
//! ticks, consensus timers and messages to the cores, and sends their outputs through
//! [`links::Links`]. Plugin calls run for real, but are *charged* by the
//! [`crate::node::cost::CostModel`]: a node is busy for the modelled time, and whatever reaches
//! it meanwhile waits, so a slow check delays everything behind it as it would on one CPU. The
//! schedule depends only on the seed, the scenario and the cost file; so does the event log,
//! once block hashes are named canonically (ring-VRF ticket proofs are blinded with fresh
//! randomness, which changes a block's hash but nothing the protocol decides on).
//!
//! Why not an existing engine: `shared/research/sim.md` measured commonware's deterministic
//! runtime with its simulated p2p (the closest fit) and turmoil at 1023 nodes. commonware caps a
//! run at ~32.7k link creations (no full mesh above ~181 nodes), needed ~1 GB for 28.6k links
//! and minutes per slot with bandwidth limits; turmoil did not finish one slot at 1023 hosts.
//! The cores are sans-IO state machines already, so the async machinery those engines provide
//! is not needed; the note's bare event loop did a 1023-node full mesh at 1.3M deliveries/s.

pub mod links;
pub mod shadow;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use anyhow::Context;
use diverge_plugins::codec::decode_exact;
use diverge_plugins::{blake2b_256, Hash, MaliciousEncoding, Slot, ValidatorIndex};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::chainspec::ChainSpec;
use crate::config::Loaded;
use crate::node::core::{Channel, CoreStats, Input, NodeCore, NodeEvent, Output};
use crate::node::cost::CostFile;
use crate::node::runtime::{instantiate_da, load_plugins_untraced};
use crate::node::wire::BlockMsg;
use crate::node::workload::NodeWorkload;
use links::{LinkModel, Links, Traffic};

/// A fault on the simulated network, at slot boundaries.
#[derive(Clone, Debug, PartialEq)]
pub enum SimFault {
    /// `group` talks only to itself, the rest only to the rest, from `at` until `heal`.
    Partition {
        /// One side.
        group: Vec<u16>,
        /// From this slot.
        at: Slot,
        /// Until this slot.
        heal: Slot,
    },
    /// The node's process dies (its memory is lost, its store kept) and maybe restarts.
    Crash {
        /// Validator.
        node: u16,
        /// Slot of the crash.
        at: Slot,
        /// Slot of the restart from its store.
        restart: Option<Slot>,
    },
    /// The node keeps running but reaches nobody.
    Offline {
        /// Validator.
        node: u16,
        /// From this slot.
        from: Slot,
        /// Until this slot.
        to: Slot,
    },
    /// A byzantine node (see [`Byzantine`]) from `from` until `to`.
    Byzantine {
        /// Validator.
        node: u16,
        /// What it does.
        behaviour: Byzantine,
        /// From this slot.
        from: Slot,
        /// Until this slot.
        to: Slot,
    },
}

/// Byzantine behaviours: rewrites of what an otherwise honest node sends. They live in the
/// host, not in any plugin, so the same behaviour runs against every variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// As an author, sends no shard to anyone (data withholding).
    WithholdShards,
    /// As an author, flips a byte of every shard it sends (a malicious encoder caught by the
    /// shard check; one that commits to a non-codeword needs the DA plugin's cooperation).
    CorruptShards,
    /// Sends this many garbage consensus messages to everyone at each slot tick.
    Spam(u32),
    /// As an author, seals blocks whose execution claim is false
    /// ([`NodeCore::set_invalid_execution`]): re-execution or the proof check must refuse them.
    InvalidProof,
    /// As an author, publishes this malicious encoding of its payload: the node's DA plugin is
    /// re-instantiated with `[da.params] adversary` (an adversary knob only this sets), so the
    /// commitment in its header and the shards it sends are the plugin's own construction,
    /// checked by the honest nodes' unchanged `verify_shard`.
    MaliciousEncoder(MaliciousEncoding),
}

impl Byzantine {
    /// Applies the behaviour to one outgoing message; `None` drops it.
    pub fn rewrite(self, channel: Channel, mut bytes: Vec<u8>) -> Option<Vec<u8>> {
        match (self, channel) {
            (Byzantine::WithholdShards, Channel::Shard) => None,
            (Byzantine::CorruptShards, Channel::Shard) => {
                if let Some(b) = bytes.last_mut() {
                    *b ^= 0x5a;
                }
                Some(bytes)
            }
            _ => Some(bytes),
        }
    }
}

/// One simulated run.
#[derive(Clone, Debug)]
pub struct SimSetup {
    /// Validators (one simulated node each).
    pub validators: u16,
    /// Slots to run.
    pub slots: u32,
    /// Transactions per block.
    pub txs: usize,
    /// Seed of the link RNG (jitter, loss).
    pub seed: u64,
    /// Workload seed (same transactions for every variant).
    pub workload_seed: u64,
    /// Links.
    pub links: LinkModel,
    /// The fault timeline.
    pub faults: Vec<SimFault>,
    /// Validators that also run a twin: a second node with the same keys and another
    /// workload, on the other side of any partition. Both sign what they see, so the validator
    /// equivocates as author and as voter, with its real keys. Twins are logged after the
    /// honest nodes (`node-<V + k>`) and left out of the report's numbers.
    pub twins: Vec<u16>,
    /// Plugin call prices.
    pub costs: CostFile,
    /// Show a progress bar.
    pub progress: bool,
}

/// What a run did, written to `sim.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimSummary {
    /// Validators.
    pub validators: u16,
    /// Slots run.
    pub slots: u32,
    /// Virtual time simulated (ms).
    pub virtual_ms: u64,
    /// Wall time the run took (ms). Not part of the deterministic output.
    pub wall_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped by partitions, crashes and offline nodes.
    pub dropped: u64,
    /// Messages that paid a retransmission for a lost packet.
    pub retransmitted: u64,
    /// Peak resident memory of the process (KiB), from `/proc/self/status`.
    pub peak_rss_kib: u64,
    /// Per validator (twins left out): finalized height at the end.
    pub finalized_height: Vec<u32>,
    /// Digest of every node's event log, in node order (equal seeds give equal digests).
    pub log_digest: String,
}

enum Ev {
    Tick(Slot),
    Fault(usize, bool),
    /// The node's CPU is free again: take the next queued input.
    Wake {
        node: usize,
        life: u32,
    },
    Deliver {
        to: usize,
        from: usize,
        channel: Channel,
        bytes: Rc<Vec<u8>>,
    },
    Timer {
        node: usize,
        life: u32,
        id: u64,
    },
}

/// The last finalization as the node wrote it: block, justification, consensus and exec
/// snapshots (what `Output::StoreFinalized` carries).
type Finalized = (Hash, Vec<u8>, Vec<u8>, Vec<u8>);

/// A node's disk: what survives a simulated crash.
#[derive(Default)]
struct MemStore {
    blocks: BTreeMap<Hash, Vec<u8>>,
    finalized: Option<Finalized>,
    journal: Vec<u8>,
}

struct SimNode {
    core: Option<NodeCore>,
    /// Bumped on crash and restart so timers and queued inputs of a dead process are ignored.
    life: u32,
    busy_until: u64,
    /// Inputs that arrived while the CPU was busy, in arrival order.
    inbox: std::collections::VecDeque<Input>,
    /// A `Wake` is in the heap.
    wake_pending: bool,
    /// The byzantine behaviour in force, if any.
    byzantine: Option<Byzantine>,
    store: MemStore,
    log: std::io::BufWriter<std::fs::File>,
    digest: blake2b_simd_state::State,
    traffic: BTreeMap<&'static str, Traffic>,
    last_slot: Slot,
}

/// A running blake2b over the log bytes (the crate's `blake2b_256` is one-shot).
mod blake2b_simd_state {
    /// Chained: `h = blake2b(h ++ line)`, enough for an equality check of two runs.
    pub struct State(pub [u8; 32]);
    impl State {
        pub fn update(&mut self, bytes: &[u8]) {
            let mut v = Vec::with_capacity(32 + bytes.len());
            v.extend_from_slice(&self.0);
            v.extend_from_slice(bytes);
            self.0 = diverge_plugins::blake2b_256(&v).0;
        }
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Block => "block",
        Channel::Consensus => "consensus",
        Channel::Shard => "shard",
        Channel::Availability => "availability",
        Channel::Sync => "sync",
    }
}

#[derive(Serialize)]
struct LogLine<'a> {
    t_us: u64,
    node: Option<ValidatorIndex>,
    #[serde(flatten)]
    event: &'a NodeEvent,
}

/// Names blocks by what the protocol decided (parent, slot, author, payload, state), not by
/// bytes that carry fresh randomness.
#[derive(Default)]
struct Canon {
    real_to_canon: HashMap<Hash, Hash>,
    hex: HashMap<String, String>,
    used: HashSet<Hash>,
}

impl Canon {
    fn register(&mut self, msg: &BlockMsg) {
        let real = msg.header.hash();
        if self.real_to_canon.contains_key(&real) {
            return;
        }
        let h = &msg.header;
        let parent = self
            .real_to_canon
            .get(&h.parent)
            .copied()
            .unwrap_or(h.parent);
        let mut seed = Vec::new();
        seed.extend_from_slice(b"diverge-sim-block");
        seed.extend_from_slice(&parent.0);
        seed.extend_from_slice(&h.slot.to_le_bytes());
        seed.extend_from_slice(&h.author.to_le_bytes());
        seed.extend_from_slice(&h.payload_hash.0);
        seed.extend_from_slice(&h.post_state_root.0);
        seed.extend_from_slice(&h.da_commitment);
        let mut canon = blake2b_256(&seed);
        // Two blocks alike in everything but their proofs (an equivocating author): number them.
        let mut k = 0u32;
        while !self.used.insert(canon) {
            k += 1;
            let mut s = seed.clone();
            s.extend_from_slice(&k.to_le_bytes());
            canon = blake2b_256(&s);
        }
        self.real_to_canon.insert(real, canon);
        let bare = |h: Hash| h.to_hex().trim_start_matches("0x").to_string();
        self.hex.insert(bare(real), bare(canon));
    }

    /// Replaces every known 64-hex-digit block hash in `line`.
    fn rewrite(&self, line: &str) -> String {
        let b = line.as_bytes();
        let mut out = String::with_capacity(line.len());
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_hexdigit() && (i == 0 || !b[i - 1].is_ascii_hexdigit()) {
                let mut j = i;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
                let run = &line[i..j];
                match (j - i == 64).then(|| self.hex.get(run)).flatten() {
                    Some(c) => out.push_str(c),
                    None => out.push_str(run),
                }
                i = j;
            } else {
                let ch = line[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }
}

struct Sim<'a> {
    config: &'a Loaded,
    spec: ChainSpec,
    setup: &'a SimSetup,
    slot_us: u64,
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Ev>,
    seq: u64,
    rng: ChaCha20Rng,
    links: Links,
    nodes: Vec<SimNode>,
    /// The validator index each simulated node speaks as (twins share one).
    identity: Vec<usize>,
    /// The simulated nodes of each validator index.
    by_identity: Vec<Vec<usize>>,
    canon: Canon,
    summary: SimSummary,
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

impl<'a> Sim<'a> {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn new_core(&self, i: usize) -> anyhow::Result<NodeCore> {
        let me = self.identity[i] as ValidatorIndex;
        // A twin proposes other transactions, so its blocks differ from its sibling's.
        let workload_seed = if i >= usize::from(self.setup.validators) {
            self.setup.workload_seed ^ 0x7_7717_0000 ^ i as u64
        } else {
            self.setup.workload_seed
        };
        let (plugins, genesis) = load_plugins_untraced(
            self.config,
            &self.spec,
            Some((me, diverge_keys::dev_seed(u32::from(me)))),
        )?;
        let c = &self.config.config;
        let model = self.setup.costs.resolve(
            [&c.consensus.plugin, &c.da.plugin, &c.exec.plugin].map(|s| s.as_str()),
            self.setup.validators,
        );
        let mut core = NodeCore::new(
            Some(me),
            self.setup.validators,
            self.spec.chain.slot_ms,
            plugins,
            Box::new(NodeWorkload::new(workload_seed, self.setup.txs)),
            genesis,
        );
        core.set_cost_model(model);
        // Only a node that crashes ever reads its store back (restart); the others need no
        // snapshots or stored blocks, which at large V cost time and memory per node.
        let crashes = self
            .setup
            .faults
            .iter()
            .any(|f| matches!(f, SimFault::Crash { node, .. } if usize::from(*node) == i));
        core.set_persist(crashes);
        Ok(core)
    }

    /// Feeds `input` to node `i` at `t`, or queues it behind the node's busy CPU (one FIFO
    /// inbox and one wake-up per node, so a backlog costs one heap entry, not one per input).
    fn step(&mut self, i: usize, t: u64, input: Input) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        if node.core.is_none() {
            return Ok(());
        }
        if t < node.busy_until || !node.inbox.is_empty() {
            node.inbox.push_back(input);
            self.schedule_wake(i);
            return Ok(());
        }
        self.handle(i, t, input)
    }

    fn schedule_wake(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if !node.wake_pending {
            node.wake_pending = true;
            let (at, life) = (node.busy_until, node.life);
            self.push(at, Ev::Wake { node: i, life });
        }
    }

    fn handle(&mut self, i: usize, t: u64, input: Input) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let Some(core) = node.core.as_mut() else {
            return Ok(());
        };
        // Also after a crash: the restarted core keeps cheating.
        core.set_invalid_execution(matches!(node.byzantine, Some(Byzantine::InvalidProof)));
        let outs = core.handle(t, input);
        let done = t + core.take_charged_us();
        node.busy_until = done;
        self.process(i, t, done, outs)
    }

    /// The CPU of node `i` is free at `t`: run queued inputs until it is busy again.
    fn wake(&mut self, i: usize, t: u64) -> anyhow::Result<()> {
        self.nodes[i].wake_pending = false;
        while self.nodes[i].busy_until <= t {
            let Some(input) = self.nodes[i].inbox.pop_front() else {
                return Ok(());
            };
            self.handle(i, t, input)?;
        }
        if !self.nodes[i].inbox.is_empty() {
            self.schedule_wake(i);
        }
        Ok(())
    }

    fn process(&mut self, i: usize, t: u64, done: u64, outs: Vec<Output>) -> anyhow::Result<()> {
        for o in &outs {
            if let Output::Broadcast {
                channel: Channel::Block,
                bytes,
            }
            | Output::Send {
                channel: Channel::Block,
                bytes,
                ..
            } = o
            {
                if let Ok(msg) = decode_exact::<BlockMsg>(bytes) {
                    self.canon.register(&msg);
                }
            }
        }
        let n = self.nodes.len();
        let byz = self.nodes[i].byzantine;
        for o in outs {
            match o {
                Output::Send { to, channel, bytes } => {
                    let bytes = match byz {
                        Some(b) => match b.rewrite(channel, bytes) {
                            Some(x) => x,
                            None => continue,
                        },
                        None => bytes,
                    };
                    let bytes = Rc::new(bytes);
                    let to = self
                        .by_identity
                        .get(usize::from(to))
                        .cloned()
                        .unwrap_or_default();
                    for j in to.into_iter().filter(|j| *j != i) {
                        self.transmit(i, j, channel, bytes.clone(), done);
                    }
                }
                Output::Broadcast { channel, bytes } => {
                    let bytes = Rc::new(bytes);
                    let me = self.identity[i];
                    let to: Vec<usize> = (0..n).filter(|j| self.identity[*j] != me).collect();
                    for j in to {
                        self.transmit(i, j, channel, bytes.clone(), done);
                    }
                }
                Output::SetTimer { id, at } => {
                    let life = self.nodes[i].life;
                    self.push(at.max(t), Ev::Timer { node: i, life, id });
                }
                Output::StoreBlock { hash, bytes } => {
                    self.nodes[i].store.blocks.insert(hash, bytes);
                }
                Output::StoreJournal { bytes } => self.nodes[i].store.journal = bytes,
                Output::StoreFinalized {
                    hash,
                    justification,
                    consensus,
                    exec,
                } => self.nodes[i].store.finalized = Some((hash, justification, consensus, exec)),
                Output::Event(e) => self.log(i, t, &e)?,
            }
        }
        Ok(())
    }

    fn log(&mut self, i: usize, t: u64, e: &NodeEvent) -> anyhow::Result<()> {
        let line = serde_json::to_string(&LogLine {
            t_us: t,
            node: Some(self.identity[i] as ValidatorIndex),
            event: e,
        })?;
        let mut line = self.canon.rewrite(&line);
        line.push('\n');
        let node = &mut self.nodes[i];
        node.digest.update(line.as_bytes());
        node.log.write_all(line.as_bytes())?;
        Ok(())
    }

    fn transmit(&mut self, from: usize, to: usize, channel: Channel, bytes: Rc<Vec<u8>>, at: u64) {
        if to >= self.nodes.len() {
            return;
        }
        let name = channel_name(channel);
        let tr = self.nodes[from].traffic.entry(name).or_default();
        tr.messages_out += 1;
        tr.bytes_out += bytes.len() as u64;
        if let Some(arrive) = self.links.send(&mut self.rng, at, from, to, bytes.len()) {
            self.push(
                arrive,
                Ev::Deliver {
                    to,
                    from,
                    channel,
                    bytes,
                },
            );
        }
    }

    /// `k` messages of seeded garbage from `i` to every other validator.
    fn spam(&mut self, i: usize, t: u64, k: u32) {
        use rand::RngCore;
        for _ in 0..k {
            let mut junk = vec![0u8; 200];
            self.rng.fill_bytes(&mut junk);
            let junk = Rc::new(junk);
            let me = self.identity[i];
            let to: Vec<usize> = (0..self.nodes.len())
                .filter(|j| self.identity[*j] != me)
                .collect();
            for j in to {
                self.transmit(i, j, Channel::Consensus, junk.clone(), t);
            }
        }
    }

    /// Gives node `i` a DA instance that encodes as its byzantine behaviour says (the honest
    /// one when it has none).
    fn set_da_adversary(&mut self, i: usize) -> anyhow::Result<()> {
        let mut extra = serde_json::Map::new();
        if let Some(Byzantine::MaliciousEncoder(kind)) = self.nodes[i].byzantine {
            extra.insert(
                crate::config::DA_ADVERSARY_KEY.into(),
                serde_json::to_value(kind)?,
            );
        }
        let me = self.identity[i] as ValidatorIndex;
        let da = instantiate_da(
            self.config,
            &self.spec,
            Some((me, diverge_keys::dev_seed(u32::from(me)))),
            &extra,
        )
        .with_context(|| format!("node {i}: DA plugin for its byzantine behaviour"))?;
        if let Some(core) = self.nodes[i].core.as_mut() {
            core.replace_da(da);
        }
        Ok(())
    }

    fn connect_all(&mut self, t: u64, pairs: Vec<(usize, usize)>) -> anyhow::Result<()> {
        for (a, b) in pairs {
            if self.links.connected(a, b) {
                let peer = self.identity[b] as ValidatorIndex;
                self.step(a, t, Input::PeerConnected(peer))?;
            }
        }
        Ok(())
    }

    fn fault(&mut self, t: u64, k: usize, begin: bool) -> anyhow::Result<()> {
        let n = self.nodes.len();
        match self.setup.faults[k].clone() {
            SimFault::Partition { group, .. } => {
                // Twins stand on the other side from their sibling.
                let v = usize::from(self.setup.validators);
                let side: Vec<bool> = (0..n)
                    .map(|i| group.contains(&(self.identity[i] as u16)) != (i >= v))
                    .collect();
                if begin {
                    self.links
                        .set_groups(side.iter().map(|s| u32::from(*s)).collect());
                } else {
                    self.links.set_groups(vec![0; n]);
                    let pairs = (0..n)
                        .flat_map(|a| (0..n).map(move |b| (a, b)))
                        .filter(|(a, b)| side[*a] != side[*b])
                        .collect();
                    self.connect_all(t, pairs)?;
                }
            }
            SimFault::Byzantine {
                node, behaviour, ..
            } => {
                let i = usize::from(node);
                self.nodes[i].byzantine = begin.then_some(behaviour);
                if matches!(behaviour, Byzantine::MaliciousEncoder(_)) {
                    self.set_da_adversary(i)?;
                }
            }
            SimFault::Offline { node, .. } => {
                let i = usize::from(node);
                self.links.set_down(i, begin);
                if !begin {
                    let pairs = (0..n)
                        .filter(|j| *j != i)
                        .flat_map(|j| [(i, j), (j, i)])
                        .collect();
                    self.connect_all(t, pairs)?;
                }
            }
            SimFault::Crash { node, .. } => {
                let i = usize::from(node);
                if begin {
                    self.links.set_down(i, true);
                    let nd = &mut self.nodes[i];
                    nd.core = None;
                    nd.life += 1;
                    nd.inbox.clear();
                    nd.wake_pending = false;
                } else {
                    let mut core = self.new_core(i)?;
                    let journal = self.nodes[i].store.journal.clone();
                    let outs = if let Some((fin, just, cons, exec)) =
                        self.nodes[i].store.finalized.clone()
                    {
                        let stored: Vec<BlockMsg> = self.nodes[i]
                            .store
                            .blocks
                            .values()
                            .filter_map(|b| decode_exact::<BlockMsg>(b).ok())
                            .collect();
                        core.restore(t, &cons, &exec, &journal, fin, just, stored)
                            .map_err(|e| anyhow::anyhow!("node {i}: restore: {e}"))?
                    } else {
                        core.recover_journal(t, &journal)
                    };
                    let charged = core.take_charged_us();
                    let nd = &mut self.nodes[i];
                    nd.core = Some(core);
                    nd.life += 1;
                    nd.busy_until = t + charged;
                    self.links.set_down(i, false);
                    // A restarted byzantine author keeps cheating.
                    if matches!(
                        self.nodes[i].byzantine,
                        Some(Byzantine::MaliciousEncoder(_))
                    ) {
                        self.set_da_adversary(i)?;
                    }
                    self.process(i, t, t + charged, outs)?;
                    self.step(i, t, Input::Start)?;
                    let pairs = (0..n).filter(|j| *j != i).map(|j| (j, i)).collect();
                    self.connect_all(t, pairs)?;
                }
            }
        }
        Ok(())
    }

    fn run(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        let n = self.nodes.len();
        let end = u64::from(self.setup.slots + 1) * self.slot_us;
        let bar = self.setup.progress.then(|| {
            let b = indicatif::ProgressBar::new(u64::from(self.setup.slots));
            b.set_style(
                indicatif::ProgressStyle::with_template("sim slot {pos}/{len} {bar:30} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        while let Some(Reverse((t, seq))) = self.heap.pop() {
            if t >= end {
                break;
            }
            let Some(ev) = self.events.remove(&seq) else {
                continue;
            };
            self.summary.events += 1;
            match ev {
                Ev::Tick(slot) => {
                    for i in 0..n {
                        self.nodes[i].last_slot = slot;
                        self.step(i, t, Input::Tick { slot })?;
                        if let Some(Byzantine::Spam(k)) = self.nodes[i].byzantine {
                            self.spam(i, t, k);
                        }
                    }
                    if let Some(b) = &bar {
                        b.set_position(u64::from(slot));
                        let v = usize::from(self.setup.validators);
                        let fin = self.nodes.iter().take(v).filter_map(|nd| nd.core.as_ref());
                        let min = fin.map(|c| c.stats().finalized_number).min().unwrap_or(0);
                        b.set_message(format!("finalized (slowest node): {min}"));
                    }
                    self.push(t + self.slot_us, Ev::Tick(slot + 1));
                }
                Ev::Fault(k, begin) => self.fault(t, k, begin)?,
                Ev::Wake { node, life } => {
                    if self.nodes[node].life == life {
                        self.wake(node, t)?;
                    }
                }
                Ev::Timer { node, life, id } => {
                    if self.nodes[node].life == life {
                        self.step(node, t, Input::Timer { id })?;
                    }
                }
                Ev::Deliver {
                    to,
                    from,
                    channel,
                    bytes,
                } => {
                    if !self.links.connected(from, to) || self.nodes[to].core.is_none() {
                        self.links.dropped += 1;
                        continue;
                    }
                    self.summary.delivered += 1;
                    let tr = self.nodes[to]
                        .traffic
                        .entry(channel_name(channel))
                        .or_default();
                    tr.messages_in += 1;
                    tr.bytes_in += bytes.len() as u64;
                    let bytes = Rc::try_unwrap(bytes).unwrap_or_else(|rc| (*rc).clone());
                    self.step(
                        to,
                        t,
                        Input::Net {
                            from: self.identity[from] as ValidatorIndex,
                            channel,
                            bytes,
                        },
                    )?;
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        writeln!(
            out,
            "sim: {n} nodes, {} slots, {} events, {} messages delivered, {} dropped",
            self.setup.slots, self.summary.events, self.summary.delivered, self.links.dropped
        )?;
        Ok(())
    }
}

/// The chain spec a simulated chain of `config` runs (dev keys, genesis at time 0).
pub fn sim_spec(config: &Loaded, validators: u16) -> anyhow::Result<ChainSpec> {
    let mut c = config.clone();
    c.config.chain.validators = Some(validators);
    let chain = c.chain_params()?;
    Ok(ChainSpec::dev("sim", chain, 0))
}

/// Runs one variant in virtual time and writes `node-<i>/{events.jsonl, summary.json}` and
/// `sim.json` under `base`.
pub fn run(
    config: &Loaded,
    setup: &SimSetup,
    base: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<SimSummary> {
    let started = Instant::now();
    let n = usize::from(setup.validators);
    anyhow::ensure!(n >= 1, "a simulated chain needs validators");
    anyhow::ensure!(
        setup.links.region_of.len() == n,
        "link model covers {} nodes, the chain has {n}",
        setup.links.region_of.len()
    );
    for f in &setup.faults {
        let node = match f {
            SimFault::Crash { node, .. }
            | SimFault::Offline { node, .. }
            | SimFault::Byzantine { node, .. } => Some(*node),
            SimFault::Partition { group, .. } => {
                group.iter().copied().find(|g| usize::from(*g) >= n)
            }
        };
        if let Some(node) = node.filter(|x| usize::from(*x) >= n) {
            anyhow::bail!("fault names node {node}, the chain has {n} validators");
        }
    }
    let spec = sim_spec(config, setup.validators)?;
    let slot_us = spec.chain.slot_ms * 1000;
    if let Some(t) = setup.twins.iter().find(|t| usize::from(**t) >= n) {
        anyhow::bail!("twin of validator {t}: the chain has {n} validators");
    }
    let mut identity: Vec<usize> = (0..n).collect();
    identity.extend(setup.twins.iter().map(|t| usize::from(*t)));
    let total = identity.len();
    let mut by_identity = vec![Vec::new(); n];
    for (j, v) in identity.iter().enumerate() {
        by_identity[*v].push(j);
    }
    let mut model = setup.links.clone();
    for t in &setup.twins {
        let r = model.region_of[usize::from(*t)];
        model.region_of.push(r);
    }
    let mut sim = Sim {
        config,
        spec,
        setup,
        slot_us,
        heap: BinaryHeap::new(),
        events: HashMap::new(),
        seq: 0,
        rng: ChaCha20Rng::seed_from_u64(setup.seed),
        links: Links::new(model),
        nodes: Vec::with_capacity(total),
        identity,
        by_identity,
        canon: Canon::default(),
        summary: SimSummary {
            validators: setup.validators,
            slots: setup.slots,
            ..SimSummary::default()
        },
    };
    for i in 0..total {
        let dir = node_dir(base, i);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("events.jsonl");
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let core = sim
            .new_core(i)
            .with_context(|| format!("simulated node {i}"))?;
        sim.nodes.push(SimNode {
            core: Some(core),
            life: 0,
            busy_until: 0,
            inbox: std::collections::VecDeque::new(),
            wake_pending: false,
            byzantine: None,
            store: MemStore::default(),
            log: std::io::BufWriter::new(file),
            digest: blake2b_simd_state::State([0; 32]),
            traffic: BTreeMap::new(),
            last_slot: 0,
        });
    }
    // Faults first: at a slot boundary the network changes before the slot's tick is handled.
    for (k, f) in setup.faults.iter().enumerate() {
        let (a, b) = match f {
            SimFault::Partition { at, heal, .. } => (Some(*at), Some(*heal)),
            SimFault::Crash { at, restart, .. } => (Some(*at), *restart),
            SimFault::Offline { from, to, .. } | SimFault::Byzantine { from, to, .. } => {
                (Some(*from), Some(*to))
            }
        };
        if let Some(a) = a {
            sim.push(u64::from(a) * slot_us, Ev::Fault(k, true));
        }
        if let Some(b) = b {
            sim.push(u64::from(b) * slot_us, Ev::Fault(k, false));
        }
    }
    for i in 0..total {
        sim.step(i, 0, Input::Start)?;
    }
    sim.push(slot_us, Ev::Tick(1));
    sim.run(out)?;

    let mut digest = String::new();
    for (i, nd) in sim.nodes.iter_mut().enumerate() {
        nd.log.flush()?;
        let _ = write!(digest, "{}", hex::encode(&nd.digest.0[..4]));
        let core: CoreStats = nd
            .core
            .as_ref()
            .map(|c| c.stats().clone())
            .unwrap_or_default();
        if i < n {
            sim.summary.finalized_height.push(core.finalized_number);
        }
        let summary = serde_json::json!({
            "node": i,
            "core": core,
            "net": {"per_kind": nd.traffic},
            "last_slot": nd.last_slot,
        });
        let path = node_dir(base, i).join("summary.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    sim.summary.log_digest = digest;
    sim.summary.dropped = sim.links.dropped;
    sim.summary.retransmitted = sim.links.retransmitted;
    sim.summary.virtual_ms = u64::from(setup.slots + 1) * slot_us / 1000;
    sim.summary.wall_ms = started.elapsed().as_millis() as u64;
    sim.summary.peak_rss_kib = peak_rss_kib();
    std::fs::write(
        base.join("sim.json"),
        serde_json::to_vec_pretty(&sim.summary)?,
    )?;
    Ok(sim.summary)
}

fn node_dir(base: &Path, i: usize) -> PathBuf {
    base.join(format!("node-{i}"))
}
