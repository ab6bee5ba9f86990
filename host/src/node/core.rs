//! The node's block pipeline as a sans-IO state machine, like the plugins it drives: inputs
//! (slot ticks, timers, peer messages) go in with the time, outputs (messages, timers, writes to
//! disk, events for the log) come out. The tokio runtime (`node::runtime`) feeds it from QUIC
//! and a wall clock; the simulator can feed it from virtual time, and both run the same code.
//!
//! One slot: a `Tick` goes to consensus; if it answers `Author`, the core takes the slot's
//! workload, `exec.execute`s it, `da.encode`s it, has consensus seal the header, broadcasts the
//! block and sends validator i its shard i. A receiver checks the payload hash, the seal
//! (`verify_seal`), re-executes or checks the proof (`exec.validate`), imports, and reports the
//! verdict to consensus; its own shard, checked against the header's commitment, makes the
//! block available. Finality from consensus marks blocks final (latency = now - slot start)
//! and the losing branches orphaned (with the nullifiers they exposed).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::{
    blake2b_256, Action, Consensus, DataAvailability, Event, Executor, Hash, Header, Slot,
    ValidateRequest, ValidatorIndex, Verdict,
};
use serde::Serialize;

use super::cost::{Call, CostModel};
use super::wire::{AvailabilityMsg, BlockMsg, ShardMsg, SyncMsg};

/// Which logical channel a message travels on (the network maps each to a frame kind with its
/// own size bound and byte counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// [`BlockMsg`].
    Block,
    /// The consensus plugin's own messages.
    Consensus,
    /// [`ShardMsg`].
    Shard,
    /// [`AvailabilityMsg`].
    Availability,
    /// [`SyncMsg`].
    Sync,
}

/// The three plugin instances of a node.
pub struct Plugins {
    /// Authorship and finality.
    pub consensus: Box<dyn Consensus>,
    /// Erasure coding.
    pub da: Box<dyn DataAvailability>,
    /// Execution.
    pub exec: Box<dyn Executor>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plugins")
    }
}

/// The transactions a node puts in the blocks it authors.
pub trait Workload: Send {
    /// The payload for a block authored in `slot` (every node derives the same one).
    fn payload(&mut self, slot: Slot) -> Vec<u8>;
    /// The nullifiers a payload reveals (what an orphaned block leaks forever).
    fn nullifiers(&self, payload: &[u8]) -> usize;
}

/// Something the core asks the runtime to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send to one validator.
    Send {
        /// Recipient.
        to: ValidatorIndex,
        /// Channel.
        channel: Channel,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// Send to every connected validator.
    Broadcast {
        /// Channel.
        channel: Channel,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// Deliver [`Input::Timer`] with `id` at `at`.
    SetTimer {
        /// The consensus plugin's timer id.
        id: u64,
        /// Host time.
        at: Time,
    },
    /// Persist an imported block (before anything acts on it).
    StoreBlock {
        /// Its hash.
        hash: Hash,
        /// The encoded [`BlockMsg`].
        bytes: Vec<u8>,
    },
    /// Persist a new finalized block with the plugins' snapshots taken right after it.
    StoreFinalized {
        /// The block.
        hash: Hash,
        /// Its justification.
        justification: Vec<u8>,
        /// `Consensus::snapshot`.
        consensus: Vec<u8>,
        /// `Executor::snapshot`.
        exec: Vec<u8>,
    },
    /// Persist the consensus plugin's journal (its signed votes), replacing the last one,
    /// before any output after this one is carried out.
    StoreJournal {
        /// The plugin's bytes.
        bytes: Vec<u8>,
    },
    /// A record for the node's JSON-lines event log.
    Event(NodeEvent),
}

/// What happened, for the event log, metrics and reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// This node sealed a block.
    Proposed {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// Height.
        number: u32,
        /// Payload bytes.
        payload_bytes: usize,
        /// Gas used.
        gas: u64,
        /// `exec.execute` time.
        execute_us: u64,
        /// `da.encode` time.
        encode_us: u64,
        /// `consensus.seal` time.
        seal_us: u64,
    },
    /// A block passed its seal check and was imported.
    Imported {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// Height.
        number: u32,
        /// Author.
        author: ValidatorIndex,
        /// Its parent (reports rebuild the block tree from these).
        parent: Hash,
        /// `verify_seal` time.
        verify_seal_us: u64,
    },
    /// The exec plugin's verdict.
    Validated {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// Verdict.
        valid: bool,
        /// Invalid reason code, or empty.
        code: String,
        /// `exec.validate` time.
        validate_us: u64,
    },
    /// This node's shard checked against the commitment.
    Available {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// `da.verify_shard` time.
        verify_shard_us: u64,
    },
    /// The block became final here.
    Finalized {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// Height.
        number: u32,
        /// Now minus the slot's start.
        latency_us: u64,
    },
    /// A block off the finalized chain: its payload was public and is now dead.
    Orphaned {
        /// Slot.
        slot: Slot,
        /// Block.
        hash: Hash,
        /// Author.
        author: ValidatorIndex,
        /// Nullifiers its payload revealed.
        nullifiers: usize,
    },
    /// The fork-choice head moved.
    Best {
        /// New head.
        hash: Hash,
    },
    /// Input refused (bad bytes, bad seal, unknown block...).
    Rejected {
        /// Sender, when from the network.
        from: Option<ValidatorIndex>,
        /// Channel.
        channel: Channel,
        /// Why.
        reason: String,
    },
    /// A plugin call failed where it should not have.
    PluginError {
        /// Which call.
        call: String,
        /// The error.
        error: String,
    },
    /// The consensus plugin reported misbehaviour.
    Misbehaviour {
        /// The offender.
        offender: ValidatorIndex,
        /// Offence.
        kind: String,
    },
    /// A consensus-plugin telemetry event (e.g. GRANDPA rounds).
    Telemetry {
        /// Its name.
        name: String,
        /// Its fields (JSON object).
        fields: serde_json::Value,
    },
}

/// Something the runtime tells the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The node started (or restarted): ask peers where the chain is.
    Start,
    /// Slot `slot` began.
    Tick {
        /// Slot.
        slot: Slot,
    },
    /// A validator peer connected: ask it where the chain is.
    PeerConnected(ValidatorIndex),
    /// A consensus timer fired.
    Timer {
        /// Its id.
        id: u64,
    },
    /// Bytes from validator `from`.
    Net {
        /// Sender.
        from: ValidatorIndex,
        /// Channel.
        channel: Channel,
        /// Bytes.
        bytes: Vec<u8>,
    },
}

#[derive(Debug)]
struct Rec {
    msg: BlockMsg,
    number: u32,
    available: bool,
}

/// Counters the runtime exports as metrics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CoreStats {
    /// Blocks sealed here.
    pub authored: u64,
    /// Blocks imported.
    pub imported: u64,
    /// Blocks finalized here.
    pub finalized: u64,
    /// Blocks orphaned.
    pub orphaned: u64,
    /// Nullifiers in orphaned blocks.
    pub nullifiers_exposed: u64,
    /// Inputs refused.
    pub rejected: u64,
    /// Best block height.
    pub best_number: u32,
    /// Finalized height.
    pub finalized_number: u32,
}

/// Pending children of unknown parents, at most.
const MAX_ORPHANS: usize = 512;
/// Shards for unknown blocks kept, at most.
const MAX_EARLY_SHARDS: usize = 256;
/// Own blocks whose shards are kept for validators that ask again.
const OWN_SHARDS_KEPT: usize = 64;

/// The node's pipeline.
pub struct NodeCore {
    me: Option<ValidatorIndex>,
    validators: u16,
    slot_us: Time,
    plugins: Plugins,
    workload: Box<dyn Workload>,
    genesis: Hash,
    blocks: HashMap<Hash, Rec>,
    dead: HashSet<Hash>,
    final_chain: HashSet<Hash>,
    best: Hash,
    finalized: Hash,
    justification: Vec<u8>,
    orphans: HashMap<Hash, Vec<(Option<ValidatorIndex>, BlockMsg)>>,
    orphan_count: usize,
    early_shards: HashMap<Hash, ShardMsg>,
    own_shards: VecDeque<(Hash, Vec<Vec<u8>>)>,
    pending_justification: Option<(Hash, Vec<u8>)>,
    last_import_slot: Slot,
    slot: Slot,
    stats: CoreStats,
    /// Prices for plugin calls (the simulator); `None`: report measured wall time.
    costs: Option<CostModel>,
    /// Charged since the last [`NodeCore::take_charged_us`].
    charged_us: u64,
    /// Byzantine (the simulator's `invalid_proof` fault): blocks this node authors claim an
    /// execution result that is not theirs.
    invalid_execution: bool,
    /// Whether to emit the `Store*` outputs (see [`NodeCore::set_persist`]).
    persist: bool,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("me", &self.me)
            .field("blocks", &self.blocks.len())
            .field("best", &self.best)
            .field("finalized", &self.finalized)
            .finish()
    }
}

fn micros(t: Instant) -> u64 {
    t.elapsed().as_micros() as u64
}

impl NodeCore {
    /// A core on `genesis` (the header consensus was initialised with).
    pub fn new(
        me: Option<ValidatorIndex>,
        validators: u16,
        slot_ms: u64,
        plugins: Plugins,
        workload: Box<dyn Workload>,
        genesis: Header,
    ) -> NodeCore {
        let hash = genesis.hash();
        let mut blocks = HashMap::new();
        blocks.insert(
            hash,
            Rec {
                msg: BlockMsg {
                    header: genesis,
                    payload: Vec::new(),
                    receipt: Vec::new(),
                    proof: Vec::new(),
                },
                number: 0,
                available: true,
            },
        );
        NodeCore {
            me,
            validators,
            slot_us: slot_ms * 1000,
            plugins,
            workload,
            genesis: hash,
            blocks,
            dead: HashSet::new(),
            final_chain: [hash].into_iter().collect(),
            best: hash,
            finalized: hash,
            justification: Vec::new(),
            orphans: HashMap::new(),
            orphan_count: 0,
            early_shards: HashMap::new(),
            own_shards: VecDeque::new(),
            pending_justification: None,
            last_import_slot: 0,
            slot: 0,
            stats: CoreStats::default(),
            costs: None,
            charged_us: 0,
            invalid_execution: false,
            persist: true,
        }
    }

    /// Byzantine, for experiments and tests: while `on`, every block this node authors carries
    /// a false execution claim: the post-state root with a byte flipped and, if the exec plugin
    /// produced a proof, a proof with a byte flipped. Everything else about the block (payload,
    /// DA commitment, seal) is honest, so only validation can catch it: re-execution finds
    /// another root, a proof verifier rejects the proof or the root it binds.
    pub fn set_invalid_execution(&mut self, on: bool) {
        self.invalid_execution = on;
    }

    /// Price plugin calls by `model` instead of timing them: the event log then carries the
    /// modelled times, and [`NodeCore::take_charged_us`] says how long the node was busy.
    pub fn set_cost_model(&mut self, model: CostModel) {
        self.costs = Some(model);
    }

    /// With `false`, the core emits no `StoreBlock`, `StoreJournal` or `StoreFinalized` and
    /// takes no plugin snapshots at finality: for a simulated node that never restarts, whose
    /// store nobody reads (snapshots were O(blocks) each, taken at every finalization). The
    /// snapshots are pure reads and charged nothing, so the event log is the same either way.
    pub fn set_persist(&mut self, persist: bool) {
        self.persist = persist;
    }

    /// Swaps the DA instance (the simulator's byzantine author turns its adversary knob on and
    /// off this way; the rest of the node's state is untouched). Returns the old one.
    pub fn replace_da(&mut self, da: Box<dyn DataAvailability>) -> Box<dyn DataAvailability> {
        std::mem::replace(&mut self.plugins.da, da)
    }

    /// The modelled CPU time charged since the last call (0 without a cost model).
    pub fn take_charged_us(&mut self) -> u64 {
        std::mem::take(&mut self.charged_us)
    }

    /// The duration to report for a call that started at `t`: measured, or the model's price.
    fn charge(&mut self, call: Call, units: u64, t: Instant) -> u64 {
        match &self.costs {
            None => micros(t),
            Some(m) => {
                let us = m.cost(call, units);
                self.charged_us += us;
                us
            }
        }
    }

    /// Charges a call the core does not time (consensus events); free without a model.
    fn charge_only(&mut self, call: Call, units: u64) {
        if let Some(m) = &self.costs {
            self.charged_us += m.cost(call, units);
        }
    }

    /// The genesis header a chain starts from: slot 0, the exec plugin's genesis state root.
    pub fn genesis_header(genesis_state_root: Hash) -> Header {
        Header {
            post_state_root: genesis_state_root,
            ..Header::default()
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    /// Fork-choice head.
    pub fn best(&self) -> Hash {
        self.best
    }

    /// Last finalized block.
    pub fn finalized(&self) -> Hash {
        self.finalized
    }

    /// The genesis hash.
    pub fn genesis(&self) -> Hash {
        self.genesis
    }

    /// A known block's header.
    pub fn header(&self, hash: &Hash) -> Option<&Header> {
        self.blocks.get(hash).map(|r| &r.msg.header)
    }

    /// A known block's height.
    pub fn number(&self, hash: &Hash) -> Option<u32> {
        self.blocks.get(hash).map(|r| r.number)
    }

    /// The hash at height `n` on the best chain.
    pub fn hash_at(&self, n: u32) -> Option<Hash> {
        let mut cur = self.best;
        loop {
            let r = self.blocks.get(&cur)?;
            if r.number == n {
                return Some(cur);
            }
            if r.number < n || r.number == 0 {
                return None;
            }
            cur = r.msg.header.parent;
        }
    }

    /// Restores after a restart: plugin snapshots taken at the last finalization, the
    /// consensus journal written since, the finalized block, and every stored block (any
    /// order). The journal goes in before anything else, so the plugin knows what it signed
    /// before it can sign again; blocks above the finalized one are then checked again as if
    /// they had just arrived.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        &mut self,
        now: Time,
        consensus: &[u8],
        exec: &[u8],
        journal: &[u8],
        finalized: Hash,
        justification: Vec<u8>,
        mut stored: Vec<BlockMsg>,
    ) -> Result<Vec<Output>, diverge_plugins::PluginError> {
        self.plugins.consensus.restore(consensus)?;
        self.plugins.exec.restore(exec)?;
        let mut out = self.recover_journal(now, journal);
        stored.sort_by_key(|b| b.header.slot);
        let by_hash: HashMap<Hash, BlockMsg> =
            stored.into_iter().map(|b| (b.header.hash(), b)).collect();
        // The finalized chain, genesis first, is trusted from our own disk.
        let mut chain = Vec::new();
        let mut cur = finalized;
        while cur != self.genesis {
            let Some(b) = by_hash.get(&cur) else {
                return Err(diverge_plugins::PluginError::invalid_input(format!(
                    "store lacks finalized ancestor {cur}"
                )));
            };
            chain.push(cur);
            cur = b.header.parent;
        }
        chain.reverse();
        for (i, h) in chain.iter().enumerate() {
            if let Some(b) = by_hash.get(h) {
                self.blocks.insert(
                    *h,
                    Rec {
                        msg: b.clone(),
                        number: i as u32 + 1,
                        available: true,
                    },
                );
                self.final_chain.insert(*h);
            }
        }
        self.finalized = finalized;
        self.best = finalized;
        self.justification = justification;
        self.stats.finalized_number = chain.len() as u32;
        let mut rest: Vec<BlockMsg> = by_hash
            .into_values()
            .filter(|b| !self.blocks.contains_key(&b.header.hash()))
            .collect();
        rest.sort_by_key(|b| b.header.slot);
        for b in rest {
            self.import(now, None, b, &mut out);
        }
        Ok(out)
    }

    /// Hands the consensus plugin its journal after a restart (nothing if it never wrote
    /// one). [`NodeCore::restore`] does this itself; a node that crashed before its first
    /// finalization has only the journal.
    pub fn recover_journal(&mut self, now: Time, journal: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        if !journal.is_empty() {
            let bytes = journal.to_vec();
            self.consensus(now, Event::Journal { bytes }, &mut out);
        }
        out
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => out.push(Output::Broadcast {
                channel: Channel::Sync,
                bytes: SyncMsg::GetHead.encode(),
            }),
            Input::Tick { slot } => {
                self.slot = slot;
                self.consensus(now, Event::Tick { slot }, &mut out);
                // Blocks still without our shard a few slots on: ask their authors again (the
                // first answer may have been lost to a partition). Unavailable blocks get no
                // votes, so a chain whose shards never arrive here could never be final.
                if slot % 3 == 0 {
                    self.rerequest_shards(slot, &mut out);
                }
                // Nothing imported for a while: maybe we fell behind; ask.
                if slot > self.last_import_slot + 3 && slot % 3 == 0 {
                    out.push(Output::Broadcast {
                        channel: Channel::Sync,
                        bytes: SyncMsg::GetHead.encode(),
                    });
                }
            }
            Input::PeerConnected(p) => out.push(Output::Send {
                to: p,
                channel: Channel::Sync,
                bytes: SyncMsg::GetHead.encode(),
            }),
            Input::Timer { id } => self.consensus(now, Event::Timer { id }, &mut out),
            Input::Net {
                from,
                channel,
                bytes,
            } => self.on_net(now, from, channel, bytes, &mut out),
        }
        out
    }

    fn rerequest_shards(&self, slot: Slot, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        if usize::from(me) >= usize::from(self.validators) {
            return;
        }
        let fin = self.stats.finalized_number;
        let mut missing: Vec<(Slot, ValidatorIndex, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, r)| !r.available && r.number > fin && r.msg.header.slot + 2 < slot)
            .map(|(h, r)| (r.msg.header.slot, r.msg.header.author, *h))
            .collect();
        missing.sort();
        for (_, author, h) in missing.into_iter().take(16) {
            if author != me {
                out.push(Output::Send {
                    to: author,
                    channel: Channel::Sync,
                    bytes: SyncMsg::GetShard(h).encode(),
                });
            }
        }
    }

    fn reject(
        &mut self,
        from: Option<ValidatorIndex>,
        channel: Channel,
        reason: String,
        out: &mut Vec<Output>,
    ) {
        self.stats.rejected += 1;
        out.push(Output::Event(NodeEvent::Rejected {
            from,
            channel,
            reason,
        }));
    }

    fn on_net(
        &mut self,
        now: Time,
        from: ValidatorIndex,
        channel: Channel,
        bytes: Vec<u8>,
        out: &mut Vec<Output>,
    ) {
        match channel {
            Channel::Consensus => self.consensus(now, Event::Message { from, bytes }, out),
            Channel::Block => match decode_exact::<BlockMsg>(&bytes) {
                Ok(msg) => self.import(now, Some(from), msg, out),
                Err(e) => self.reject(Some(from), channel, format!("block: {e}"), out),
            },
            Channel::Shard => match decode_exact::<ShardMsg>(&bytes) {
                Ok(msg) => self.on_shard(now, Some(from), msg, out),
                Err(e) => self.reject(Some(from), channel, format!("shard: {e}"), out),
            },
            Channel::Availability => {
                if let Err(e) = decode_exact::<AvailabilityMsg>(&bytes) {
                    self.reject(Some(from), channel, format!("availability: {e}"), out);
                }
            }
            Channel::Sync => match decode_exact::<SyncMsg>(&bytes) {
                Ok(msg) => self.on_sync(now, from, msg, out),
                Err(e) => self.reject(Some(from), channel, format!("sync: {e}"), out),
            },
        }
    }

    fn on_sync(&mut self, now: Time, from: ValidatorIndex, msg: SyncMsg, out: &mut Vec<Output>) {
        match msg {
            SyncMsg::GetHead => out.push(Output::Send {
                to: from,
                channel: Channel::Sync,
                bytes: SyncMsg::Head {
                    best: self.best,
                    finalized: self.finalized,
                    justification: self.justification.clone(),
                }
                .encode(),
            }),
            SyncMsg::Head {
                best,
                finalized,
                justification,
            } => {
                for h in [best, finalized] {
                    if !self.blocks.contains_key(&h) && !self.dead.contains(&h) {
                        out.push(Output::Send {
                            to: from,
                            channel: Channel::Sync,
                            bytes: SyncMsg::GetBlock(h).encode(),
                        });
                    }
                }
                if !justification.is_empty() && !self.final_chain.contains(&finalized) {
                    self.pending_justification = Some((finalized, justification));
                    self.try_justification(now, out);
                }
            }
            SyncMsg::GetBlock(h) => {
                if let Some(r) = self.blocks.get(&h) {
                    if r.number > 0 {
                        out.push(Output::Send {
                            to: from,
                            channel: Channel::Block,
                            bytes: r.msg.encode(),
                        });
                    }
                }
            }
            SyncMsg::GetShard(h) => {
                let shard = self
                    .own_shards
                    .iter()
                    .find(|(b, _)| *b == h)
                    .and_then(|(_, s)| s.get(usize::from(from)).cloned());
                if let Some(shard) = shard {
                    out.push(Output::Send {
                        to: from,
                        channel: Channel::Shard,
                        bytes: ShardMsg {
                            block: h,
                            index: u32::from(from),
                            shard,
                        }
                        .encode(),
                    });
                }
            }
        }
    }

    fn try_justification(&mut self, now: Time, out: &mut Vec<Output>) {
        let Some((hash, bytes)) = self.pending_justification.clone() else {
            return;
        };
        if self.final_chain.contains(&hash) {
            self.pending_justification = None;
            return;
        }
        if self.blocks.contains_key(&hash) {
            self.pending_justification = None;
            self.consensus(now, Event::Justification { hash, bytes }, out);
        }
    }

    fn consensus(&mut self, now: Time, event: Event, out: &mut Vec<Output>) {
        match &event {
            Event::Message { bytes, .. } => self.charge_only(Call::Message, bytes.len() as u64),
            _ => self.charge_only(Call::Event, 0),
        }
        let mut queue = VecDeque::new();
        match self.plugins.consensus.on_event(now, event.clone()) {
            Ok(actions) => queue.extend(actions),
            // A panic or internal error is the plugin's fault, not the sender's: logged as a
            // plugin error so the peer is not blamed for it.
            Err(e) if super::trace::is_plugin_fault(&e) => {
                self.plugin_error("consensus.on_event", e, out);
            }
            Err(e) => {
                let (from, channel) = match &event {
                    Event::Message { from, .. } => (Some(*from), Channel::Consensus),
                    _ => (None, Channel::Consensus),
                };
                self.reject(from, channel, format!("consensus: {e}"), out);
            }
        }
        while let Some(a) = queue.pop_front() {
            self.act(now, a, &mut queue, out);
        }
    }

    fn act(&mut self, now: Time, a: Action, queue: &mut VecDeque<Action>, out: &mut Vec<Output>) {
        match a {
            Action::Send { to, bytes } => out.push(Output::Send {
                to,
                channel: Channel::Consensus,
                bytes,
            }),
            Action::Broadcast { bytes } => out.push(Output::Broadcast {
                channel: Channel::Consensus,
                bytes,
            }),
            Action::Author { slot, parent } => self.author(now, slot, parent, queue, out),
            Action::BestBlock { hash } => {
                self.best = hash;
                self.stats.best_number = self.number(&hash).unwrap_or(0);
                out.push(Output::Event(NodeEvent::Best { hash }));
            }
            Action::Finalize {
                hash,
                justification,
                ..
            } => self.on_finalized(now, hash, justification, out),
            Action::SetTimer { id, at } => out.push(Output::SetTimer { id, at }),
            Action::Misbehaviour { offender, kind, .. } => {
                out.push(Output::Event(NodeEvent::Misbehaviour { offender, kind }))
            }
            Action::Telemetry { name, fields_json } => {
                let fields = serde_json::from_str(&fields_json)
                    .unwrap_or(serde_json::Value::String(fields_json));
                if let Some(m) = &self.costs {
                    for (call, n) in Call::reported_work(&fields) {
                        self.charged_us += n * m.cost(call, 0);
                    }
                }
                // Counts of signature checks come with nearly every message
                // (`diverge_plugins::work`): charged, never logged.
                if name != diverge_plugins::work::TELEMETRY {
                    out.push(Output::Event(NodeEvent::Telemetry { name, fields }));
                }
            }
            Action::Journal { bytes } => {
                if self.persist {
                    out.push(Output::StoreJournal { bytes });
                }
            }
            Action::RequestBlock { hash, from } => {
                if !self.blocks.contains_key(&hash) && !self.dead.contains(&hash) {
                    out.push(Output::Send {
                        to: from,
                        channel: Channel::Sync,
                        bytes: SyncMsg::GetBlock(hash).encode(),
                    });
                }
            }
        }
    }

    fn plugin_error(&self, call: &str, e: impl std::fmt::Display, out: &mut Vec<Output>) {
        out.push(Output::Event(NodeEvent::PluginError {
            call: call.into(),
            error: e.to_string(),
        }));
    }

    fn author(
        &mut self,
        now: Time,
        slot: Slot,
        parent: Hash,
        queue: &mut VecDeque<Action>,
        out: &mut Vec<Output>,
    ) {
        let Some(me) = self.me else { return };
        let Some(p) = self.blocks.get(&parent) else {
            self.plugin_error("author", format!("unknown parent {parent}"), out);
            return;
        };
        let pre = p.msg.header.post_state_root;
        let number = p.number + 1;
        let payload = self.workload.payload(slot);
        let t = Instant::now();
        let exec = match self.plugins.exec.execute(&pre, &payload) {
            Ok(e) => e,
            Err(e) => return self.plugin_error("exec.execute", e, out),
        };
        let execute_us = self.charge(Call::Execute, payload.len() as u64, t);
        let mut exec = exec;
        if self.invalid_execution {
            // Without a proof the lie is the claimed root, which only re-execution refutes.
            // With one the claimed root stays true and a byte inside the proof is flipped:
            // a false root would be caught by the root comparison before any proof check,
            // and the fault is there to exercise the verifier.
            if exec.proof.is_empty() {
                exec.post_state_root.0[0] ^= 0xff;
            } else {
                let mid = exec.proof.len() / 2;
                exec.proof[mid] ^= 0xff;
            }
        }
        let t = Instant::now();
        let encoded = match self.plugins.da.encode(&payload) {
            Ok(e) => e,
            Err(e) => return self.plugin_error("da.encode", e, out),
        };
        let encode_us = self.charge(Call::Encode, payload.len() as u64, t);
        let header = Header {
            parent,
            slot,
            author: me,
            payload_hash: blake2b_256(&payload),
            da_commitment: encoded.commitment,
            post_state_root: exec.post_state_root,
            digest: Vec::new(),
            seal: Vec::new(),
        };
        let t = Instant::now();
        let header = match self.plugins.consensus.seal(now, header) {
            Ok(h) => h,
            Err(e) => return self.plugin_error("consensus.seal", e, out),
        };
        let seal_us = self.charge(Call::Seal, 0, t);
        let hash = header.hash();
        let msg = BlockMsg {
            header,
            payload,
            receipt: exec.receipt,
            proof: exec.proof,
        };
        self.stats.authored += 1;
        out.push(Output::Event(NodeEvent::Proposed {
            slot,
            hash,
            number,
            payload_bytes: msg.payload.len(),
            gas: exec.gas_used,
            execute_us,
            encode_us,
            seal_us,
        }));
        out.push(Output::Broadcast {
            channel: Channel::Block,
            bytes: msg.encode(),
        });
        for (i, shard) in encoded.shards.iter().enumerate() {
            if i != usize::from(me) && i < usize::from(self.validators) {
                out.push(Output::Send {
                    to: i as ValidatorIndex,
                    channel: Channel::Shard,
                    bytes: ShardMsg {
                        block: hash,
                        index: i as u32,
                        shard: shard.clone(),
                    }
                    .encode(),
                });
            }
        }
        self.own_shards.push_back((hash, encoded.shards));
        while self.own_shards.len() > OWN_SHARDS_KEPT {
            self.own_shards.pop_front();
        }
        // Our own block: executed here, so valid; all shards here, so available.
        let actions = self.import_checked(now, msg, Some(true), true, out);
        queue.extend(actions);
    }

    /// Imports a block from the network (or the store): checks, then hands it to consensus.
    fn import(
        &mut self,
        now: Time,
        from: Option<ValidatorIndex>,
        msg: BlockMsg,
        out: &mut Vec<Output>,
    ) {
        let hash = msg.header.hash();
        if self.blocks.contains_key(&hash) || self.dead.contains(&hash) {
            return;
        }
        let parent = msg.header.parent;
        if !self.blocks.contains_key(&parent) {
            if self.dead.contains(&parent) {
                return;
            }
            if self.orphan_count < MAX_ORPHANS {
                self.orphan_count += 1;
                let first = !self.orphans.contains_key(&parent);
                self.orphans.entry(parent).or_default().push((from, msg));
                if let (true, Some(from)) = (first, from) {
                    out.push(Output::Send {
                        to: from,
                        channel: Channel::Sync,
                        bytes: SyncMsg::GetBlock(parent).encode(),
                    });
                }
            }
            return;
        }
        if blake2b_256(&msg.payload) != msg.header.payload_hash {
            return self.reject(
                from,
                Channel::Block,
                format!("block {hash}: payload hash mismatch"),
                out,
            );
        }
        let mut queue = VecDeque::new();
        let actions = self.import_checked(now, msg, None, false, out);
        queue.extend(actions);
        while let Some(a) = queue.pop_front() {
            self.act(now, a, &mut queue, out);
        }
    }

    /// Seal check, validation, import; returns consensus actions to run. `valid` and
    /// `available` are known up front for own blocks.
    fn import_checked(
        &mut self,
        now: Time,
        msg: BlockMsg,
        valid: Option<bool>,
        available: bool,
        out: &mut Vec<Output>,
    ) -> Vec<Action> {
        let hash = msg.header.hash();
        let t = Instant::now();
        if let Err(e) = self.plugins.consensus.verify_seal(&msg.header) {
            self.reject(None, Channel::Block, format!("block {hash}: {e}"), out);
            return Vec::new();
        }
        let verify_seal_us = self.charge(Call::VerifySeal, msg.header.digest.len() as u64, t);
        let Some(parent) = self.blocks.get(&msg.header.parent) else {
            return Vec::new();
        };
        let number = parent.number + 1;
        let pre_state_root = parent.msg.header.post_state_root;
        let mut actions = Vec::new();
        self.charge_only(Call::Event, 0);
        match self.plugins.consensus.on_event(
            now,
            Event::BlockImported {
                header: msg.header.clone(),
            },
        ) {
            Ok(a) => actions.extend(a),
            Err(e) => {
                self.reject(None, Channel::Block, format!("block {hash}: {e}"), out);
                return Vec::new();
            }
        }
        if self.persist {
            out.push(Output::StoreBlock {
                hash,
                bytes: msg.encode(),
            });
        }
        self.stats.imported += 1;
        self.last_import_slot = self.last_import_slot.max(msg.header.slot);
        let (slot, author) = (msg.header.slot, msg.header.author);
        out.push(Output::Event(NodeEvent::Imported {
            slot,
            hash,
            number,
            author,
            parent: msg.header.parent,
            verify_seal_us,
        }));
        let (valid, code, validate_us) = match valid {
            Some(v) => (v, String::new(), 0),
            None => {
                let t = Instant::now();
                let verdict = self.plugins.exec.validate(ValidateRequest {
                    pre_state_root,
                    header: msg.header.clone(),
                    payload: Some(msg.payload.clone()),
                    receipt: msg.receipt.clone(),
                    proof: msg.proof.clone(),
                });
                let us = self.charge(Call::Validate, msg.payload.len() as u64, t);
                match verdict {
                    Ok(Verdict::Valid) => (true, String::new(), us),
                    Ok(Verdict::Invalid { code, .. }) => {
                        // Its author sealed an execution claim validation refutes; the block
                        // itself (signed header, payload, receipt, proof: in the store) is the
                        // evidence anyone holding the pre-state can check.
                        out.push(Output::Event(NodeEvent::Misbehaviour {
                            offender: msg.header.author,
                            kind: "exec.invalid_block".into(),
                        }));
                        (false, code, us)
                    }
                    Err(e) => (false, format!("error: {e}"), us),
                }
            }
        };
        out.push(Output::Event(NodeEvent::Validated {
            slot,
            hash,
            valid,
            code,
            validate_us,
        }));
        let no_shard_for_us = self
            .me
            .is_none_or(|me| usize::from(me) >= usize::from(self.validators));
        self.blocks.insert(
            hash,
            Rec {
                msg,
                number,
                available: false,
            },
        );
        self.charge_only(Call::Event, 0);
        match self
            .plugins
            .consensus
            .on_event(now, Event::BlockValidated { hash, valid })
        {
            Ok(a) => actions.extend(a),
            Err(e) => self.plugin_error("consensus.on_event(BlockValidated)", e, out),
        }
        if available || no_shard_for_us {
            actions.extend(self.mark_available(now, hash, 0, out));
        } else if let Some(shard) = self.early_shards.remove(&hash) {
            actions.extend(self.check_shard(now, shard, out));
        } else if slot < self.slot {
            // A block of a past slot (sync after a restart or a healed partition) may never
            // have had its shard sent to us: ask its author, who keeps the shards of its
            // recent blocks. A duplicate answer is ignored.
            out.push(Output::Send {
                to: author,
                channel: Channel::Sync,
                bytes: SyncMsg::GetShard(hash).encode(),
            });
        }
        // Children that were waiting for this block.
        if let Some(children) = self.orphans.remove(&hash) {
            self.orphan_count = self.orphan_count.saturating_sub(children.len());
            for (from, child) in children {
                let mut inner = Vec::new();
                self.import(now, from, child, &mut inner);
                out.extend(inner);
            }
        }
        self.try_justification(now, out);
        actions
    }

    fn on_shard(
        &mut self,
        now: Time,
        from: Option<ValidatorIndex>,
        msg: ShardMsg,
        out: &mut Vec<Output>,
    ) {
        if self.me.map(u32::from) != Some(msg.index) {
            return self.reject(
                from,
                Channel::Shard,
                format!("shard {} is not ours", msg.index),
                out,
            );
        }
        if !self.blocks.contains_key(&msg.block) {
            if self.early_shards.len() < MAX_EARLY_SHARDS {
                self.early_shards.insert(msg.block, msg);
            }
            return;
        }
        let actions = self.check_shard(now, msg, out);
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            self.act(now, a, &mut queue, out);
        }
    }

    fn check_shard(&mut self, now: Time, msg: ShardMsg, out: &mut Vec<Output>) -> Vec<Action> {
        let Some(r) = self.blocks.get(&msg.block) else {
            return Vec::new();
        };
        if r.available {
            return Vec::new();
        }
        let t = Instant::now();
        match self
            .plugins
            .da
            .verify_shard(&r.msg.header.da_commitment, msg.index, &msg.shard)
        {
            Ok(()) => {
                let us = self.charge(Call::VerifyShard, msg.shard.len() as u64, t);
                out.push(Output::Broadcast {
                    channel: Channel::Availability,
                    bytes: AvailabilityMsg {
                        block: msg.block,
                        index: msg.index,
                    }
                    .encode(),
                });
                self.mark_available(now, msg.block, us, out)
            }
            Err(e) => {
                self.reject(
                    None,
                    Channel::Shard,
                    format!("shard of {}: {e}", msg.block),
                    out,
                );
                Vec::new()
            }
        }
    }

    fn mark_available(
        &mut self,
        now: Time,
        hash: Hash,
        us: u64,
        out: &mut Vec<Output>,
    ) -> Vec<Action> {
        let Some(r) = self.blocks.get_mut(&hash) else {
            return Vec::new();
        };
        r.available = true;
        out.push(Output::Event(NodeEvent::Available {
            slot: r.msg.header.slot,
            hash,
            verify_shard_us: us,
        }));
        self.charge_only(Call::Event, 0);
        match self
            .plugins
            .consensus
            .on_event(now, Event::BlockAvailable { hash })
        {
            Ok(a) => a,
            Err(e) => {
                self.plugin_error("consensus.on_event(BlockAvailable)", e, out);
                Vec::new()
            }
        }
    }

    fn on_finalized(
        &mut self,
        now: Time,
        hash: Hash,
        justification: Vec<u8>,
        out: &mut Vec<Output>,
    ) {
        let Some(fin) = self.blocks.get(&hash) else {
            return;
        };
        let fin_number = fin.number;
        if self.final_chain.contains(&hash) {
            return;
        }
        // Newly final: from `hash` down to the previous final block.
        let mut newly = Vec::new();
        let mut cur = hash;
        while !self.final_chain.contains(&cur) {
            let Some(r) = self.blocks.get(&cur) else {
                break;
            };
            newly.push((cur, r.msg.header.slot, r.number));
            cur = r.msg.header.parent;
        }
        newly.reverse();
        for (h, slot, number) in &newly {
            self.final_chain.insert(*h);
            self.stats.finalized += 1;
            out.push(Output::Event(NodeEvent::Finalized {
                slot: *slot,
                hash: *h,
                number: *number,
                latency_us: now.saturating_sub(Time::from(*slot) * self.slot_us),
            }));
        }
        self.finalized = hash;
        self.justification = justification.clone();
        self.stats.finalized_number = fin_number;
        // Everything not descending from the final block, and not on the final chain, is dead.
        let mut live: HashSet<Hash> = [hash].into_iter().collect();
        // Height, then slot, author and payload before the hash: the orphans are reported in an
        // order that does not depend on hash values (ring proofs are blinded, so a replayed
        // simulation has other hashes but must log the same events; twins differ only in
        // their payloads).
        type Key = (u32, Slot, ValidatorIndex, Hash, Hash, Hash);
        let mut order: Vec<Key> = self
            .blocks
            .iter()
            .map(|(h, r)| {
                let hd = &r.msg.header;
                (r.number, hd.slot, hd.author, hd.payload_hash, *h, hd.parent)
            })
            .collect();
        order.sort();
        for (n, _, _, _, h, p) in &order {
            if *n > fin_number && live.contains(p) {
                live.insert(*h);
            }
        }
        let orphaned: Vec<Hash> = order
            .iter()
            .map(|(_, _, _, _, h, _)| *h)
            .filter(|h| !live.contains(h) && !self.final_chain.contains(h))
            .collect();
        for h in orphaned {
            if let Some(r) = self.blocks.remove(&h) {
                let nullifiers = self.workload.nullifiers(&r.msg.payload);
                self.stats.orphaned += 1;
                self.stats.nullifiers_exposed += nullifiers as u64;
                out.push(Output::Event(NodeEvent::Orphaned {
                    slot: r.msg.header.slot,
                    hash: h,
                    author: r.msg.header.author,
                    nullifiers,
                }));
                self.dead.insert(h);
            }
        }
        let roots: Vec<Hash> = live
            .iter()
            .filter_map(|h| self.blocks.get(h).map(|r| r.msg.header.post_state_root))
            .collect();
        if let Err(e) = self.plugins.exec.retain(&roots) {
            self.plugin_error("exec.retain", e, out);
        }
        if !self.persist {
            return;
        }
        match (
            self.plugins.consensus.snapshot(),
            self.plugins.exec.snapshot(),
        ) {
            (Ok(consensus), Ok(exec)) => out.push(Output::StoreFinalized {
                hash,
                justification,
                consensus,
                exec,
            }),
            (Err(e), _) | (_, Err(e)) => self.plugin_error("snapshot", e, out),
        }
    }
}
