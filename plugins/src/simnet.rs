//! A small virtual-time network of consensus plugin instances, so one test body checks a
//! consensus plugin as an rlib and through its loaded `.so`.
//!
//! It stands in for the host's block pipeline: a node told to `Author` gets a header (dummy
//! payload and state root), seals it and sends it; a receiver verifies the seal, imports the
//! block and reports it available and valid (or invalid, for slots the test marks). Messages
//! arrive after a fixed delay; offline nodes miss everything and get the missed headers
//! replayed in order when they return (what sync does in a real node). Twins are extra
//! instances speaking as an existing validator ([`SimNet::add_twin`]). It is deliberately not
//! the experiment simulator: no bandwidth, no loss, no cost model.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use crate::consensus::{Action, Consensus, Event, Time};
use crate::types::{blake2b_256, Hash, Header, Slot, ValidatorIndex};

#[derive(Clone, Debug)]
enum Ev {
    Tick(Slot),
    Timer(u64),
    Message {
        from: ValidatorIndex,
        bytes: Vec<u8>,
    },
    Header(Header),
}

/// A queued event, ordered by time, then by insertion (so equal times replay in order).
#[derive(Debug)]
struct Queued {
    at: Time,
    seq: u64,
    to: usize,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What happened during a run.
#[derive(Debug, Default, Clone)]
pub struct NetLog {
    /// (time, node, block, slot) of every finalization a node applied.
    pub finalized: Vec<(Time, usize, Hash, Slot)>,
    /// (slot, node, block) of every block sealed.
    pub authored: Vec<(Slot, usize, Hash)>,
    /// (reporting node, offender, kind) of every misbehaviour report.
    pub misbehaviour: Vec<(usize, ValidatorIndex, String)>,
    /// Headers a node refused (seal or import), with the reason.
    pub rejected: Vec<(usize, String)>,
    /// Plugin calls that returned an error other than a refused header.
    pub errors: Vec<(usize, String)>,
    /// Slots of blocks sealed with a ticket (counted once, at the author).
    pub ticketed: Vec<Slot>,
    /// Telemetry event names, counted.
    pub telemetry: HashMap<String, usize>,
    /// The first justification each finalized block came with.
    pub justifications: HashMap<Hash, Vec<u8>>,
}

/// The network.
pub struct SimNet {
    /// The instances, by validator index.
    pub nodes: Vec<Box<dyn Consensus>>,
    online: Vec<bool>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    /// One-way message delay.
    pub delay: Time,
    /// Slot length.
    pub slot: Time,
    /// Every header seen, by hash.
    pub headers: HashMap<Hash, Header>,
    order: Vec<Hash>,
    /// Blocks authored in these slots validate as invalid everywhere.
    pub invalid_slots: HashSet<Slot>,
    /// Nodes that seal two different blocks whenever they author.
    pub equivocators: HashSet<usize>,
    imported: Vec<HashSet<Hash>>,
    pending: Vec<Vec<Header>>,
    /// The record.
    pub log: NetLog,
    next_slot: Slot,
    /// A partition: node i reaches node j only if both have the same group.
    groups: Option<Vec<usize>>,
    /// Each node's last [`Action::Journal`]: what survives a crash besides the snapshot.
    pub journals: HashMap<usize, Vec<u8>>,
    /// Each node's snapshot taken right after its last finalization (what a host persists).
    /// Each node's last snapshot and the final slot it was taken at.
    snapshots: HashMap<usize, (Vec<u8>, Slot)>,
    /// The validator index each instance speaks as: its position, except for twins.
    identity: Vec<ValidatorIndex>,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimNet({} nodes)", self.nodes.len())
    }
}

impl SimNet {
    /// Nodes with `slot`-long slots and `delay` one-way latency; slot 1 starts at `slot`.
    pub fn new(nodes: Vec<Box<dyn Consensus>>, slot: Time, delay: Time) -> SimNet {
        let n = nodes.len();
        SimNet {
            nodes,
            online: vec![true; n],
            queue: BinaryHeap::new(),
            seq: 0,
            delay,
            slot,
            headers: HashMap::new(),
            order: Vec::new(),
            invalid_slots: HashSet::new(),
            equivocators: HashSet::new(),
            imported: vec![HashSet::new(); n],
            pending: vec![Vec::new(); n],
            log: NetLog::default(),
            next_slot: 1,
            groups: None,
            journals: HashMap::new(),
            snapshots: HashMap::new(),
            identity: (0..n).map(|i| i as ValidatorIndex).collect(),
        }
    }

    /// Adds `twin`, an instance holding validator `of`'s key, as a new node; returns its
    /// position (for [`SimNet::set_groups`] and [`SimNet::set_online`]). Its messages carry
    /// `of` as sender, messages sent to `of` reach both, and the blocks it seals carry other
    /// payloads than its sibling's, so the two sign conflicting things whenever both author or
    /// see different blocks.
    pub fn add_twin(&mut self, twin: Box<dyn Consensus>, of: ValidatorIndex) -> usize {
        self.nodes.push(twin);
        self.online.push(true);
        self.imported.push(HashSet::new());
        self.pending.push(Vec::new());
        self.identity.push(of);
        self.nodes.len() - 1
    }

    /// Kills node `i` and starts `fresh` in its place as the host restarts a node: the snapshot
    /// of its last finalization restored, then (if `journal`; tests turn it off for a negative
    /// control) its last journal delivered, then the headers above the snapshot's final slot
    /// re-imported in authoring order. Headers at or below it are not: the host keeps its
    /// finalized chain on disk and does not replay it through the plugin, so what the plugin
    /// needs of them must be in its snapshot. Whatever it held only in memory is gone, and its
    /// pending timers and inbound messages die with the old process.
    pub fn restart(&mut self, i: usize, mut fresh: Box<dyn Consensus>, now: Time, journal: bool) {
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue.into_iter().filter(|Reverse(q)| q.to != i).collect();
        let mut final_slot = None;
        if let Some((snap, slot)) = self.snapshots.get(&i) {
            if let Err(e) = fresh.restore(snap) {
                self.log.errors.push((i, format!("restore: {e}")));
            }
            final_slot = Some(*slot);
        }
        self.nodes[i] = fresh;
        if journal {
            if let Some(bytes) = self.journals.get(&i).cloned() {
                self.call(now, i, Event::Journal { bytes });
            }
        }
        self.imported[i].clear();
        self.pending[i].clear();
        for h in self.order.clone() {
            if let Some(header) = self.headers.get(&h).cloned() {
                if final_slot.is_some_and(|f| header.slot <= f) {
                    // Held as imported, as the host's store holds it.
                    self.imported[i].insert(h);
                    continue;
                }
                self.push(now, i, Ev::Header(header));
            }
        }
    }

    fn push(&mut self, at: Time, to: usize, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            to,
            ev,
        }));
    }

    /// Partitions node `i` away or brings it back; on return, every header a node lacks is
    /// delivered to it in authoring order.
    pub fn set_online(&mut self, i: usize, online: bool, now: Time) {
        self.online[i] = online;
        if online {
            for j in 0..self.nodes.len() {
                if !self.online[j] {
                    continue;
                }
                for h in self.order.clone() {
                    if !self.imported[j].contains(&h) {
                        if let Some(header) = self.headers.get(&h).cloned() {
                            self.push(now, j, Ev::Header(header));
                        }
                    }
                }
            }
        }
    }

    /// Splits the network: `groups[i]` is node i's side, and messages and headers only cross
    /// between nodes of one side (messages already in flight still arrive). `None` heals it,
    /// and every header a node lacks is delivered to it in authoring order, as on a return.
    pub fn set_groups(&mut self, groups: Option<Vec<usize>>, now: Time) {
        let heal = groups.is_none();
        self.groups = groups;
        if heal {
            for j in 0..self.nodes.len() {
                if !self.online[j] {
                    continue;
                }
                for h in self.order.clone() {
                    if !self.imported[j].contains(&h) {
                        if let Some(header) = self.headers.get(&h).cloned() {
                            self.push(now, j, Ev::Header(header));
                        }
                    }
                }
            }
        }
    }

    fn reaches(&self, from: usize, to: usize) -> bool {
        let same_side = match &self.groups {
            Some(g) => g.get(from) == g.get(to),
            None => true,
        };
        self.online[from] && self.online[to] && same_side
    }

    /// Runs every event up to time `until`.
    pub fn run_until(&mut self, until: Time) {
        loop {
            let next_tick = Time::from(self.next_slot) * self.slot;
            let next_ev = self.queue.peek().map(|Reverse(q)| q.at);
            if next_tick <= until && next_ev.is_none_or(|t| next_tick <= t) {
                let slot = self.next_slot;
                self.next_slot += 1;
                for i in 0..self.nodes.len() {
                    self.push(next_tick, i, Ev::Tick(slot));
                }
                continue;
            }
            if next_ev.is_none_or(|t| t > until) {
                return;
            }
            let Some(Reverse(Queued { at: t, to, ev, .. })) = self.queue.pop() else {
                return;
            };
            if !self.online[to] && matches!(ev, Ev::Message { .. } | Ev::Header(_)) {
                continue;
            }
            self.handle(t, to, ev);
        }
    }

    fn handle(&mut self, now: Time, i: usize, ev: Ev) {
        let event = match ev {
            Ev::Tick(slot) => Event::Tick { slot },
            Ev::Timer(id) => Event::Timer { id },
            Ev::Message { from, bytes } => Event::Message { from, bytes },
            Ev::Header(h) => {
                self.receive(now, i, h);
                return;
            }
        };
        self.call(now, i, event);
    }

    fn call(&mut self, now: Time, i: usize, event: Event) {
        match self.nodes[i].on_event(now, event) {
            Ok(actions) => self.apply(now, i, actions),
            Err(e) => self.log.errors.push((i, e.to_string())),
        }
    }

    fn receive(&mut self, now: Time, i: usize, h: Header) {
        let hash = h.hash();
        if self.imported[i].contains(&hash) {
            return;
        }
        if !self.imported[i].contains(&h.parent) && self.headers.contains_key(&h.parent) {
            // Parent not here yet (reordering after a return): retry when it is.
            self.pending[i].push(h);
            return;
        }
        match self.nodes[i].verify_seal(&h) {
            Ok(info) => {
                if info.ticketed && i == usize::from(h.author) {
                    self.log.ticketed.push(h.slot);
                }
            }
            Err(e) => {
                self.log.rejected.push((i, e.to_string()));
                return;
            }
        }
        self.imported[i].insert(hash);
        let valid = !self.invalid_slots.contains(&h.slot);
        match self.nodes[i].on_event(now, Event::BlockImported { header: h }) {
            Ok(a) => self.apply(now, i, a),
            Err(e) => {
                self.log.rejected.push((i, e.to_string()));
                return;
            }
        }
        self.call(now, i, Event::BlockAvailable { hash });
        self.call(now, i, Event::BlockValidated { hash, valid });
        let ready: Vec<Header> = {
            let (now_ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending[i])
                .into_iter()
                .partition(|p| p.parent == hash);
            self.pending[i] = rest;
            now_ready
        };
        for p in ready {
            self.receive(now, i, p);
        }
    }

    fn author(&mut self, now: Time, i: usize, slot: Slot, parent: Hash) {
        let copies = if self.equivocators.contains(&i) { 2 } else { 1 };
        for copy in 0..copies {
            let mut seed = parent.0.to_vec();
            seed.extend_from_slice(&slot.to_le_bytes());
            seed.push(copy);
            if usize::from(self.identity[i]) != i {
                seed.extend_from_slice(&(i as u64).to_le_bytes());
            }
            let header = Header {
                parent,
                slot,
                author: self.identity[i],
                payload_hash: blake2b_256(&seed),
                da_commitment: Vec::new(),
                post_state_root: blake2b_256(&parent.0),
                digest: Vec::new(),
                seal: Vec::new(),
            };
            let sealed = match self.nodes[i].seal(now, header) {
                Ok(h) => h,
                Err(e) => {
                    self.log.errors.push((i, format!("seal: {e}")));
                    return;
                }
            };
            let hash = sealed.hash();
            self.log.authored.push((slot, i, hash));
            self.headers.insert(hash, sealed.clone());
            self.order.push(hash);
            self.receive(now, i, sealed.clone());
            for j in 0..self.nodes.len() {
                if j != i && self.reaches(i, j) {
                    self.push(now + self.delay, j, Ev::Header(sealed.clone()));
                }
            }
        }
    }

    fn apply(&mut self, now: Time, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { to, bytes } => {
                    let from = self.identity[i];
                    for j in 0..self.nodes.len() {
                        if self.identity[j] == to && self.reaches(i, j) {
                            let ev = Ev::Message {
                                from,
                                bytes: bytes.clone(),
                            };
                            self.push(now + self.delay, j, ev);
                        }
                    }
                }
                Action::Broadcast { bytes } => {
                    for j in 0..self.nodes.len() {
                        if j != i && self.reaches(i, j) {
                            let ev = Ev::Message {
                                from: self.identity[i],
                                bytes: bytes.clone(),
                            };
                            self.push(now + self.delay, j, ev);
                        }
                    }
                }
                Action::Author { slot, parent } => self.author(now, i, slot, parent),
                Action::BestBlock { .. } => {}
                Action::Finalize {
                    hash,
                    slot,
                    justification,
                } => {
                    self.log.finalized.push((now, i, hash, slot));
                    self.log.justifications.entry(hash).or_insert(justification);
                    match self.nodes[i].snapshot() {
                        Ok(snap) => {
                            self.snapshots.insert(i, (snap, slot));
                        }
                        Err(e) => self.log.errors.push((i, format!("snapshot: {e}"))),
                    }
                }
                Action::SetTimer { id, at } => self.push(at.max(now), i, Ev::Timer(id)),
                Action::Misbehaviour { offender, kind, .. } => {
                    self.log.misbehaviour.push((i, offender, kind));
                }
                Action::Telemetry { name, .. } => {
                    *self.log.telemetry.entry(name).or_default() += 1;
                }
                Action::Journal { bytes } => {
                    self.journals.insert(i, bytes);
                }
                // SimNet delivers every header to every reachable node already.
                Action::RequestBlock { .. } => {}
            }
        }
    }

    /// Whether `a` is `b` or an ancestor of it, by the headers seen.
    pub fn is_ancestor(&self, a: &Hash, b: &Hash) -> bool {
        let mut cur = *b;
        loop {
            if cur == *a {
                return true;
            }
            match self.headers.get(&cur) {
                Some(h) => cur = h.parent,
                None => return false,
            }
        }
    }

    /// Panics if two nodes finalized blocks on different branches (a safety violation).
    pub fn assert_safe(&self) {
        let blocks: BTreeSet<Hash> = self.log.finalized.iter().map(|f| f.2).collect();
        let blocks: Vec<Hash> = blocks.into_iter().collect();
        for (x, a) in blocks.iter().enumerate() {
            for b in &blocks[x + 1..] {
                assert!(
                    self.is_ancestor(a, b) || self.is_ancestor(b, a),
                    "conflicting finalized blocks {a:?} and {b:?}"
                );
            }
        }
    }

    /// The highest slot finalized at node `i`.
    pub fn finalized_slot(&self, i: usize) -> Slot {
        self.log
            .finalized
            .iter()
            .filter(|f| f.1 == i)
            .map(|f| f.3)
            .max()
            .unwrap_or(0)
    }

    /// Slots with more than one distinct block sealed (forks at the source).
    pub fn multi_author_slots(&self) -> usize {
        let mut by_slot: HashMap<Slot, HashSet<Hash>> = HashMap::new();
        for (s, _, h) in &self.log.authored {
            by_slot.entry(*s).or_default().insert(*h);
        }
        by_slot.values().filter(|v| v.len() > 1).count()
    }
}
