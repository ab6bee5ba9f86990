//! The consensus plugin proper: Safrole (or the lottery baseline) decides who seals each slot,
//! GP 19.4 fork choice picks the head, and the GRANDPA voter finalizes, all driven by the
//! host's events as one sans-IO state machine.
//!
//! Per block it keeps the Safrole post-state, so any fork can be extended or checked; states
//! off the finalized chain are dropped at finality. Everything it needs about a header is in the
//! header (the digest carries H_v, the ticket extrinsic and the markers), so a node that only
//! has headers checks seals exactly like a full node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::{
    Action, Consensus, Event, Hash, Header, InitArgs, PluginError, SealInfo, Slot, ValidatorIndex,
    ValidatorKeys,
};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::fork_choice::ForkChoice;
use crate::grandpa::messages::{Justification, Message as GrandpaMessage, SignedVote};
use crate::grandpa::voter::{content_key, Output as VoterOutput, Voter, VoterConfig};
use crate::keys::{secrets, ValidatorSecrets};
use crate::safrole::ring::RingContext;
use crate::safrole::seal::SealKind;
use crate::safrole::stf::Spec;
use crate::safrole::types::{State, B32};
use crate::wire::{SealEquivocation, Wire, WireTicket};
use diverge_safrole::pool::{Proved, Received, TicketContext, TicketPool};
use diverge_safrole::sealing::{self, HeaderError, Rule};
// Moved to `diverge-safrole` (shared with consensus-ssf); re-exported at their old paths.
pub use diverge_safrole::sealing::{
    lottery_input, lottery_wins, slot_context, Sealer, Sealing, SlotContext,
};

/// The timer id of the GRANDPA voter (the only timer this plugin sets).
const GRANDPA_TIMER: u64 = 1;
/// The timer at which the next own ticket is proven.
const TICKET_TIMER: u64 = 2;

/// Finalized headers kept for light-client checks of recent justifications.
const FINALIZED_HISTORY: usize = 4096;

/// `[consensus.params]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Slot assignment.
    #[serde(default)]
    pub sealing: Sealing,
    /// GRANDPA's gossip duration T in ms (Polkadot: 1000).
    #[serde(default = "default_gossip_ms")]
    pub gossip_ms: u64,
    /// Lottery: the probability c that a slot has at least one author (BABE's c).
    #[serde(default = "default_lottery_c")]
    pub lottery_c: f64,
    /// Genesis entropy eta_0..3 as hex; default Blake2b-256 of the genesis header hash.
    #[serde(default)]
    pub genesis_entropy: Option<String>,
}

fn default_gossip_ms() -> u64 {
    1000
}
fn default_lottery_c() -> f64 {
    0.5
}

impl Default for Params {
    fn default() -> Self {
        Params {
            sealing: Sealing::Safrole,
            gossip_ms: default_gossip_ms(),
            lottery_c: default_lottery_c(),
            genesis_entropy: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Block {
    #[serde(with = "diverge_safrole::sealing::header_hex")]
    header: Header,
    number: u32,
    /// The Safrole post-state; `None` for a final block below the final one (see `finalize`).
    state: Option<Arc<State>>,
    available: bool,
    valid: Option<bool>,
    ticketed: bool,
}

/// What a snapshot holds: enough to rebuild fork choice and the voter.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    genesis: Hash,
    finalized: Hash,
    blocks: Vec<Block>,
    pool: Vec<(B32, u8, String)>,
    /// This node's tickets (older snapshots have none).
    #[serde(default)]
    own_tickets: Vec<(TicketContext, B32, u8)>,
}

/// Counters a researcher reads from telemetry.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    /// Blocks this node sealed.
    pub authored: u64,
    /// Headers whose seal or Safrole transition was rejected.
    pub rejected_headers: u64,
    /// Gossip messages that did not decode or verify.
    pub rejected_messages: u64,
    /// Tickets this node proved.
    pub tickets_made: u64,
    /// Valid tickets received.
    pub tickets_received: u64,
}

/// The Safrole + GRANDPA consensus engine of one node.
pub struct SafroleConsensus {
    spec: Spec,
    params: Params,
    ring: Arc<RingContext>,
    keys: Vec<ValidatorKeys>,
    ed_keys: Vec<VerifyingKey>,
    me: Option<(ValidatorIndex, ValidatorSecrets)>,
    genesis: Hash,
    blocks: HashMap<Hash, Block>,
    /// Headers that passed `verify_seal`, with the post-state their transition gave.
    checked: HashMap<Hash, (Arc<State>, SealInfo)>,
    fork: ForkChoice,
    voter: Option<Voter>,
    best: Hash,
    finalized: Hash,
    finalized_chain: Vec<Hash>,
    /// Own and received tickets (the shared Safrole pool).
    tickets: TicketPool,
    by_slot: HashMap<(Slot, ValidatorIndex), Hash>,
    counters: Counters,
    slot_us: Time,
}

impl std::fmt::Debug for SafroleConsensus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafroleConsensus")
            .field("validators", &self.keys.len())
            .field("me", &self.me.as_ref().map(|m| m.0))
            .field("blocks", &self.blocks.len())
            .field("best", &self.best)
            .field("finalized", &self.finalized)
            .finish()
    }
}

fn rejected(what: impl std::fmt::Display) -> PluginError {
    PluginError::rejected(what.to_string())
}

fn header_error(e: HeaderError) -> PluginError {
    match e {
        HeaderError::Malformed(m) => PluginError::invalid_input(m),
        HeaderError::Rejected(m) => PluginError::rejected(m),
    }
}

impl SafroleConsensus {
    /// An engine from the host's init arguments. `args.genesis` is the encoded genesis header
    /// (empty: `Header::default()`); `args.validators` the genesis set; `args.identity` this
    /// node's seed, whose derived keys must be the set's entry at its index.
    pub fn new(args: &InitArgs) -> Result<SafroleConsensus, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[consensus.params]: {e}")))?
        };
        if !(params.lottery_c > 0.0 && params.lottery_c < 1.0) {
            return Err(PluginError::config(format!(
                "[consensus.params] lottery_c must be in (0, 1), got {}",
                params.lottery_c
            )));
        }
        if params.gossip_ms == 0 {
            return Err(PluginError::config(
                "[consensus.params] gossip_ms must be > 0",
            ));
        }
        let chain = args.chain.clone();
        let v = usize::from(chain.validators);
        if args.validators.len() != v {
            return Err(PluginError::config(format!(
                "chain has {v} validators but the genesis set lists {}",
                args.validators.len()
            )));
        }
        if chain.ticket_end > chain.epoch_len || chain.epoch_len == 0 {
            return Err(PluginError::config(format!(
                "need 0 < Y <= E, got Y={} E={}",
                chain.ticket_end, chain.epoch_len
            )));
        }
        let spec = Spec::from(&chain);
        let ring = crate::srs::ring_context(v)
            .map_err(|e| PluginError::config(format!("ring of {v}: {e}")))?;
        let ed_keys = args
            .validators
            .iter()
            .enumerate()
            .map(|(i, k)| {
                VerifyingKey::from_bytes(&k.ed25519)
                    .map_err(|e| PluginError::config(format!("validator {i} ed25519 key: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let me = match &args.identity {
            None => None,
            Some(id) => {
                let s = secrets(&id.seed);
                let k = args.validators.get(usize::from(id.index)).ok_or_else(|| {
                    PluginError::config(format!("identity index {} out of range", id.index))
                })?;
                if s.bandersnatch.public() != k.bandersnatch
                    || s.ed25519.verifying_key().to_bytes() != k.ed25519
                {
                    return Err(PluginError::config(format!(
                        "identity seed does not derive validator {}'s keys",
                        id.index
                    )));
                }
                Some((id.index, s))
            }
        };
        let genesis_header: Header = if args.genesis.is_empty() {
            Header::default()
        } else {
            decode_exact(&args.genesis)
                .map_err(|e| PluginError::config(format!("genesis header: {e}")))?
        };
        let genesis = genesis_header.hash();
        let state = diverge_safrole::sealing::genesis_state(
            &spec,
            &ring,
            &args.validators,
            &genesis_header,
            params.genesis_entropy.as_deref(),
        )
        .map_err(PluginError::config)?;
        let mut blocks = HashMap::new();
        blocks.insert(
            genesis,
            Block {
                header: genesis_header,
                number: 0,
                state: Some(Arc::new(state)),
                available: true,
                valid: Some(true),
                ticketed: false,
            },
        );
        Ok(SafroleConsensus {
            spec,
            params,
            ring,
            keys: args.validators.clone(),
            ed_keys,
            me,
            genesis,
            blocks,
            checked: HashMap::new(),
            fork: ForkChoice::new(genesis),
            voter: None,
            best: genesis,
            finalized: genesis,
            finalized_chain: vec![genesis],
            tickets: TicketPool::new(),
            by_slot: HashMap::new(),
            counters: Counters::default(),
            slot_us: chain.slot_ms * 1000,
        })
    }

    /// The genesis block's hash.
    pub fn genesis(&self) -> Hash {
        self.genesis
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The fork-choice head.
    pub fn best(&self) -> Hash {
        self.best
    }

    /// The last finalized block.
    pub fn finalized(&self) -> Hash {
        self.finalized
    }

    /// The Safrole post-state of a known block.
    pub fn state_of(&self, block: &Hash) -> Option<&State> {
        self.blocks.get(block).and_then(|b| b.state.as_deref())
    }

    fn voter_config(&self) -> VoterConfig {
        VoterConfig {
            gossip: self.params.gossip_ms * 1000,
            set_id: 0,
            keys: self.ed_keys.clone(),
        }
    }

    fn voter(&mut self, now: Time) -> &mut Voter {
        let voter = match self.voter.take() {
            Some(v) => v,
            None => self.build_voter(now),
        };
        self.voter.insert(voter)
    }

    fn build_voter(&self, now: Time) -> Voter {
        {
            let (hash, number) = (
                self.finalized,
                self.blocks.get(&self.finalized).map_or(0, |b| b.number),
            );
            let root = self
                .blocks
                .get(&hash)
                .map(|b| b.header.post_state_root)
                .unwrap_or_default();
            let me = self.me.as_ref().map(|(i, s)| (*i, s.ed25519.clone()));
            let mut voter = Voter::resume(self.voter_config(), me, (hash, number), root, now);
            // Blocks known before the voter existed (a restore): feed them in height order.
            let mut known: Vec<&Block> =
                self.blocks.values().filter(|b| b.number > number).collect();
            known.sort_by_key(|b| b.number);
            for b in known {
                let h = b.header.hash();
                voter.note_block(h, b.header.slot, b.header.author, content_key(&b.header));
                voter.import_block(now, h, b.header.parent, b.header.post_state_root);
                if b.available && b.valid.is_some() {
                    voter.block_validated(now, h, b.valid == Some(true));
                }
            }
            voter
        }
    }

    fn rule(&self) -> Rule {
        Rule {
            sealing: self.params.sealing,
            lottery_c: self.params.lottery_c,
            validators: self.keys.len(),
        }
    }

    /// Whether this node may seal `slot` on `parent`, and how.
    fn my_seal_kind(&self, parent: &State, slot: Slot) -> Option<(SealKind, SlotContext)> {
        let (index, secret) = self.me.as_ref()?;
        let held = |id: &B32| self.tickets.mine(id);
        sealing::my_seal_kind(
            &self.spec,
            &self.rule(),
            parent,
            slot,
            *index,
            &secret.bandersnatch,
            held,
        )
    }

    /// Checks `header` against its parent's state; returns the seal facts and post-state.
    fn check(&self, header: &Header) -> Result<(SealInfo, State), PluginError> {
        let parent = self
            .blocks
            .get(&header.parent)
            .ok_or_else(|| rejected(format!("unknown parent {}", header.parent)))?;
        sealing::check_header(
            &self.spec,
            &self.ring,
            &self.rule(),
            parent_state(&header.parent, parent)?,
            parent.header.slot,
            header,
        )
        .map_err(header_error)
    }

    /// Starts proving this node's N tickets for the epoch after `state`'s, once per context.
    /// Proofs are made one per timer, at mid-slot: a ring proof takes 0.1-0.6 s, and made at a
    /// slot's start it would delay this node's block and votes by that much.
    fn make_tickets(&mut self, now: Time, state: &State, out: &mut Vec<Action>) {
        let Some((_, secret)) = &self.me else { return };
        if self.params.sealing != Sealing::Safrole {
            return;
        }
        if self.tickets.start(state, &secret.bandersnatch.public()) {
            out.push(Action::SetTimer {
                id: TICKET_TIMER,
                at: now + self.slot_us / 2,
            });
        }
    }

    /// Proves the next ticket of the running job.
    fn prove_ticket(&mut self, now: Time, out: &mut Vec<Action>) {
        let Some((_, secret)) = &self.me else { return };
        let proved = self
            .tickets
            .prove_next(&self.spec, &self.ring, &secret.bandersnatch);
        let report = proved.telemetry("consensus.safrole");
        let more = match proved {
            Proved::Idle => return,
            Proved::Made { ticket, more, .. } => {
                out.push(Action::Broadcast {
                    bytes: Wire::Ticket(ticket).encode(),
                });
                self.counters.tickets_made += 1;
                more
            }
            Proved::Failed { more, .. } => more,
        };
        out.extend(report);
        if more {
            out.push(Action::SetTimer {
                id: TICKET_TIMER,
                at: now + self.slot_us,
            });
        }
    }

    fn on_ticket(&mut self, t: WireTicket, out: &mut Vec<Action>) {
        let Some(best) = self.blocks.get(&self.best) else {
            return;
        };
        let Some(state) = best.state.clone() else {
            return;
        };
        let attempt = t.attempt;
        let received = self.tickets.receive(&self.spec, &self.ring, &state, t);
        match received {
            Received::Ignored => {}
            Received::Verified { .. } => self.counters.tickets_received += 1,
            Received::Bad { .. } => self.counters.rejected_messages += 1,
        }
        out.extend(received.telemetry("consensus.safrole", attempt));
    }

    fn import(
        &mut self,
        now: Time,
        header: Header,
        out: &mut Vec<Action>,
    ) -> Result<(), PluginError> {
        let hash = header.hash();
        if self.blocks.contains_key(&hash) {
            return Ok(());
        }
        let (info, state) = match self.checked.remove(&hash) {
            Some((s, info)) => (info, s),
            None => {
                let (info, s) = self.check(&header)?;
                (info, Arc::new(s))
            }
        };
        let parent_number = self
            .blocks
            .get(&header.parent)
            .map(|b| b.number)
            .ok_or_else(|| rejected("unknown parent"))?;
        // Lottery chains have no tickets: every block counts, i.e. the longest chain.
        let weight = info.ticketed || self.params.sealing == Sealing::Lottery;
        self.fork
            .insert(hash, header.parent, header.slot, weight)
            .map_err(|e| rejected(e.to_string()))?;
        if let Some(other) = self.by_slot.get(&(header.slot, header.author)).copied() {
            if other != hash {
                if let Some(first) = self.blocks.get(&other) {
                    out.push(Action::Misbehaviour {
                        offender: header.author,
                        kind: "safrole.seal.equivocation".into(),
                        evidence: SealEquivocation {
                            first: first.header.clone(),
                            second: header.clone(),
                        }
                        .encode(),
                    });
                }
            }
        } else {
            self.by_slot.insert((header.slot, header.author), hash);
        }
        let voter = self.voter(now);
        voter.note_block(hash, header.slot, header.author, content_key(&header));
        voter.import_block(now, hash, header.parent, header.post_state_root);
        out.push(telemetry(
            "consensus.safrole.imported",
            serde_json::json!({"hash": hash.to_hex(), "slot": header.slot,
                "number": parent_number + 1, "author": header.author,
                "ticketed": info.ticketed}),
        ));
        self.blocks.insert(
            hash,
            Block {
                header,
                number: parent_number + 1,
                state: Some(state.clone()),
                available: false,
                valid: None,
                ticketed: info.ticketed,
            },
        );
        // The first block of an epoch (or the first seen in one) opens ticket submission.
        if state.tau % self.spec.epoch_len < self.spec.ticket_end {
            self.make_tickets(now, &state, out);
        }
        Ok(())
    }

    fn audit(&mut self, now: Time, hash: Hash) {
        let Some(b) = self.blocks.get(&hash) else {
            return;
        };
        let Some(valid) = b.valid else { return };
        if !b.available && valid {
            return;
        }
        let audited = b.available && valid;
        self.fork.set_audited(&hash, audited);
        self.voter(now).block_validated(now, hash, audited);
    }

    fn update_best(&mut self, out: &mut Vec<Action>) {
        let best = self.fork.best();
        if best != self.best {
            self.best = best;
            out.push(Action::BestBlock { hash: best });
        }
    }

    fn drain_voter(&mut self, out: &mut Vec<Action>) {
        let Some(voter) = self.voter.as_mut() else {
            return;
        };
        for o in voter.drain() {
            match o {
                VoterOutput::Broadcast(m) => out.push(Action::Broadcast {
                    bytes: Wire::Grandpa(m).encode(),
                }),
                VoterOutput::Finalized {
                    hash,
                    number: _,
                    justification,
                } => {
                    let slot = self.blocks.get(&hash).map_or(0, |b| b.header.slot);
                    out.push(Action::Finalize {
                        hash,
                        slot,
                        justification: justification.encode(),
                    });
                    self.finalize(hash);
                }
                VoterOutput::Misbehaviour {
                    offender,
                    kind,
                    evidence,
                } => out.push(Action::Misbehaviour {
                    offender,
                    kind,
                    evidence: evidence.encode(),
                }),
                VoterOutput::SetTimer(at) => out.push(Action::SetTimer {
                    id: GRANDPA_TIMER,
                    at,
                }),
                VoterOutput::Telemetry(name, fields) => out.push(telemetry(name, fields)),
                VoterOutput::Journal(votes) => out.push(Action::Journal {
                    bytes: votes.encode(),
                }),
            }
        }
    }

    /// Moves finality to `hash`: blocks not on its chain or below it are forgotten, except
    /// recent finalized headers kept for light-client checks.
    fn finalize(&mut self, hash: Hash) {
        let Some(fin) = self.blocks.get(&hash) else {
            return;
        };
        let (fin_number, fin_slot) = (fin.number, fin.header.slot);
        // The newly final chain, from `hash` down to the previous final block.
        let mut chain = Vec::new();
        let mut cur = hash;
        while cur != self.finalized {
            chain.push(cur);
            match self.blocks.get(&cur) {
                Some(b) if b.number > 0 => cur = b.header.parent,
                _ => break,
            }
        }
        chain.reverse();
        self.finalized_chain.extend(chain);
        self.finalized = hash;
        self.fork.set_finalized(hash);
        let keep_final: HashSet<Hash> = {
            let n = self.finalized_chain.len();
            if n > FINALIZED_HISTORY {
                self.finalized_chain.drain(..n - FINALIZED_HISTORY);
            }
            self.finalized_chain.iter().copied().collect()
        };
        // Keep the final chain and every descendant of the final block.
        let mut descendants: HashSet<Hash> = HashSet::new();
        let mut by_number: Vec<(u32, Hash, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.number > fin_number)
            .map(|(h, b)| (b.number, *h, b.header.parent))
            .collect();
        by_number.sort();
        for (_, h, p) in by_number {
            if p == hash || descendants.contains(&p) {
                descendants.insert(h);
            }
        }
        self.blocks
            .retain(|h, _| keep_final.contains(h) || descendants.contains(h));
        // Old final blocks keep their headers for justifications but not their states' bulk:
        // no reorg reaches below the final block, and a state per final block made every
        // snapshot O(final chain) (docs/SCALE.md F). The final block keeps its state, as every
        // block above it does: those are all a fork choice above finality can extend.
        for b in self.blocks.values_mut() {
            if b.number < fin_number {
                b.state = None;
            }
        }
        self.checked.retain(|_, (s, _)| s.tau > fin_slot);
        self.by_slot.retain(|(s, _), _| *s > fin_slot);
        let live: HashSet<TicketContext> = self
            .blocks
            .values()
            .filter(|b| b.number >= fin_number)
            // eta_1: tickets already checked for the next epoch (see `on_ticket`).
            .filter_map(|b| b.state.as_deref())
            .flat_map(|s| [(s.eta[2], s.gamma_z), (s.eta[1], s.gamma_z)])
            .collect();
        // Own tickets seal the epoch after the one they were proven in, where the proof's
        // entropy has become eta_3.
        let proven: HashSet<B32> = self
            .blocks
            .values()
            .filter(|b| b.number >= fin_number)
            .filter_map(|b| b.state.as_deref())
            .flat_map(|s| [s.eta[2], s.eta[3]])
            .collect();
        let seen_cap = 16 * self.spec.epoch_len as usize * self.keys.len();
        self.tickets.retain(&live, &proven, seen_cap);
    }
}

/// The post-state of `parent` to check or build a child on: a final block below the final one
/// has none any more, and a child of it is a fork below finality, refused.
fn parent_state<'a>(hash: &Hash, parent: &'a Block) -> Result<&'a State, PluginError> {
    parent.state.as_deref().ok_or_else(|| below_final(hash))
}

fn below_final(hash: &Hash) -> PluginError {
    rejected(format!(
        "parent {hash} is below the final block: a fork below finality"
    ))
}

fn telemetry(name: &str, fields: serde_json::Value) -> Action {
    Action::Telemetry {
        name: name.to_string(),
        fields_json: fields.to_string(),
    }
}

impl Consensus for SafroleConsensus {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let mut out = Vec::new();
        // The voter starts at the first event: its round clock is host time.
        self.voter(now);
        let result = match event {
            Event::Tick { slot } => {
                if let Some(state) = self.blocks.get(&self.best).and_then(|b| b.state.clone()) {
                    if self.best == self.genesis {
                        self.make_tickets(now, &state, &mut out);
                    }
                    if slot > state.tau && self.my_seal_kind(&state, slot).is_some() {
                        out.push(Action::Author {
                            slot,
                            parent: self.best,
                        });
                    }
                }
                Ok(())
            }
            Event::Timer { id } => {
                match id {
                    GRANDPA_TIMER => self.voter(now).on_timer(now),
                    TICKET_TIMER => self.prove_ticket(now, &mut out),
                    _ => {}
                }
                Ok(())
            }
            Event::Message { from, bytes } => match decode_exact::<Wire>(&bytes) {
                Ok(Wire::Grandpa(m)) => {
                    let (target, number) = match &m {
                        GrandpaMessage::Vote(v) => (v.target, v.number),
                        GrandpaMessage::Commit(j) => (j.target, j.number),
                    };
                    let final_number = self.blocks.get(&self.finalized).map_or(0, |b| b.number);
                    let unknown = number > final_number && !self.blocks.contains_key(&target);
                    let r = self.voter(now).on_message(now, m);
                    // A checked vote for a block we lack: its sender has it. Sync follows
                    // best heads only, so a branch the others stopped building on would never
                    // reach us, and its votes would never count (seen in scripts/kill-loop:
                    // two voters short of one prevote target, finality stalled for good).
                    if unknown && r.is_ok() {
                        out.push(Action::RequestBlock { hash: target, from });
                    }
                    if let Err(e) = r {
                        self.counters.rejected_messages += 1;
                        out.push(telemetry(
                            "consensus.grandpa.rejected",
                            serde_json::json!({"from": from, "error": e.to_string()}),
                        ));
                    }
                    Ok(())
                }
                Ok(Wire::Ticket(t)) => {
                    self.on_ticket(t, &mut out);
                    Ok(())
                }
                Err(e) => {
                    self.counters.rejected_messages += 1;
                    Err(PluginError::invalid_input(format!(
                        "message from {from}: {e}"
                    )))
                }
            },
            Event::BlockImported { header } => {
                let r = self.import(now, header, &mut out);
                if r.is_err() {
                    self.counters.rejected_headers += 1;
                }
                r
            }
            Event::BlockAvailable { hash } => {
                if let Some(b) = self.blocks.get_mut(&hash) {
                    b.available = true;
                }
                self.audit(now, hash);
                Ok(())
            }
            Event::BlockValidated { hash, valid } => {
                if let Some(b) = self.blocks.get_mut(&hash) {
                    b.valid = Some(valid);
                }
                self.audit(now, hash);
                Ok(())
            }
            Event::Justification { hash, bytes } => {
                let j: Justification = decode_exact(&bytes)
                    .map_err(|e| PluginError::invalid_input(format!("justification: {e}")))?;
                if j.target != hash {
                    return Err(rejected("justification is for another block"));
                }
                self.voter(now)
                    .on_message(now, GrandpaMessage::Commit(j))
                    .map_err(|e| rejected(e.to_string()))
            }
            Event::Journal { bytes } => {
                // Our own disk: an undecodable journal is refused (the host logs it as a plugin
                // error) and the voter carries on as if it had none; it cannot be worse than
                // a crash before the first vote.
                let votes: Vec<SignedVote> = decode_exact(&bytes)
                    .map_err(|e| PluginError::invalid_input(format!("journal: {e}")))?;
                self.voter(now).recover(now, votes);
                Ok(())
            }
        };
        self.drain_voter(&mut out);
        self.update_best(&mut out);
        result.map(|()| out)
    }

    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        let _ = now;
        let (index, _) = self
            .me
            .as_ref()
            .ok_or_else(|| PluginError::unsupported("this node has no validator identity"))?;
        let index = *index;
        let parent = self
            .blocks
            .get(&header.parent)
            .ok_or_else(|| rejected(format!("unknown parent {}", header.parent)))?;
        let state = parent
            .state
            .clone()
            .ok_or_else(|| below_final(&header.parent))?;
        if header.slot <= state.tau {
            return Err(rejected(format!(
                "slot {} is not after the parent's {}",
                header.slot, state.tau
            )));
        }
        let (kind, ctx) = self.my_seal_kind(&state, header.slot).ok_or_else(|| {
            rejected(format!(
                "validator {index} may not seal slot {}",
                header.slot
            ))
        })?;
        let Some((_, secrets)) = self.me.as_ref() else {
            return Err(PluginError::internal("identity vanished"));
        };
        let tickets = match self.params.sealing {
            Sealing::Safrole => self
                .tickets
                .tickets_for(&self.spec, &state, &ctx, header.slot),
            Sealing::Lottery => Vec::new(),
        };
        let (header, post, info) = sealing::seal_header(
            &self.spec,
            &self.ring,
            &self.rule(),
            &state,
            index,
            &secrets.bandersnatch,
            (kind, ctx),
            tickets,
            header,
        )
        .map_err(|e| PluginError::internal(format!("sealing: {e}")))?;
        self.counters.authored += 1;
        self.checked.insert(header.hash(), (Arc::new(post), info));
        Ok(header)
    }

    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        let hash = header.hash();
        if let Some(b) = self.blocks.get(&hash) {
            return Ok(SealInfo {
                author: b.header.author,
                ticketed: b.ticketed,
            });
        }
        if let Some((_, info)) = self.checked.get(&hash) {
            return Ok(*info);
        }
        let (info, post) = self.check(header)?;
        self.checked.insert(hash, (Arc::new(post), info));
        Ok(info)
    }

    fn verify_justification(
        &mut self,
        hash: &Hash,
        justification: &[u8],
    ) -> Result<(), PluginError> {
        let j: Justification = decode_exact(justification)
            .map_err(|e| PluginError::invalid_input(format!("justification: {e}")))?;
        if j.target != *hash {
            return Err(rejected("justification is for another block"));
        }
        let blocks = &self.blocks;
        let header = |h: &Hash| -> Option<(Hash, u32)> {
            blocks.get(h).map(|b| (b.header.parent, b.number))
        };
        j.verify(0, &self.ed_keys, &header, true)
            .map_err(|e| rejected(e.to_string()))
    }

    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        let mut blocks: Vec<Block> = self.blocks.values().cloned().collect();
        blocks.sort_by_key(|b| b.number);
        let pool = self
            .tickets
            .entries()
            .map(|(id, t)| (*id, t.attempt, hex::encode(&t.signature)))
            .collect();
        serde_json::to_vec(&Snapshot {
            genesis: self.genesis,
            finalized: self.finalized,
            blocks,
            pool,
            own_tickets: self.tickets.own(),
        })
        .map_err(|e| PluginError::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), PluginError> {
        let s: Snapshot = serde_json::from_slice(snapshot)
            .map_err(|e| PluginError::invalid_input(format!("snapshot: {e}")))?;
        if s.genesis != self.genesis {
            return Err(PluginError::invalid_input(format!(
                "snapshot of chain {} restored into chain {}",
                s.genesis, self.genesis
            )));
        }
        let mut blocks = HashMap::new();
        for b in s.blocks {
            blocks.insert(b.header.hash(), b);
        }
        let fin = blocks
            .get(&s.finalized)
            .ok_or_else(|| PluginError::invalid_input("snapshot lacks its finalized block"))?;
        let fin_number = fin.number;
        let mut fork = ForkChoice::new(s.finalized);
        let mut live: Vec<&Block> = blocks.values().filter(|b| b.number > fin_number).collect();
        live.sort_by_key(|b| b.number);
        let mut by_slot = HashMap::new();
        for b in &live {
            let h = b.header.hash();
            let weight = b.ticketed || self.params.sealing == Sealing::Lottery;
            fork.insert(h, b.header.parent, b.header.slot, weight)
                .map_err(|e| PluginError::invalid_input(format!("snapshot: {e}")))?;
            if let Some(v) = b.valid {
                fork.set_audited(&h, b.available && v);
            }
            by_slot.insert((b.header.slot, b.header.author), h);
        }
        let mut finalized_chain: Vec<(u32, Hash)> = blocks
            .iter()
            .filter(|(_, b)| b.number <= fin_number)
            .map(|(h, b)| (b.number, *h))
            .collect();
        finalized_chain.sort();
        self.finalized_chain = finalized_chain.into_iter().map(|(_, h)| h).collect();
        self.blocks = blocks;
        self.fork = fork;
        self.finalized = s.finalized;
        self.best = self.fork.best();
        self.by_slot = by_slot;
        self.checked.clear();
        self.voter = None;
        self.tickets.clear_received();
        self.tickets.restore_own(&self.spec, s.own_tickets);
        let best_state = self.blocks.get(&self.best).and_then(|b| b.state.clone());
        for (id, attempt, sig) in s.pool {
            let signature = hex::decode(sig)
                .map_err(|e| PluginError::invalid_input(format!("snapshot ticket: {e}")))?;
            if let Some(st) = &best_state {
                self.tickets.insert(
                    &self.spec,
                    (st.eta[2], st.gamma_z),
                    id,
                    WireTicket { attempt, signature },
                );
            }
        }
        Ok(())
    }
}
