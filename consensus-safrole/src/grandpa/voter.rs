//! The GRANDPA voter as a sans-IO state machine: blocks, validation verdicts, messages and the
//! time go in; broadcasts, finalizations, misbehaviour reports and timer requests come out.
//!
//! Round r (paper, section 3.3, with Substrate's timing): it starts at time s_r. The primary
//! (voter r mod n) proposes E_{r-1} when it is above the finalized block. Each voter prevotes at
//! s_r + 2T (or earlier if the round is already completable) for the best *validated* chain
//! containing the primary's proposal or E_{r-1}; it precommits g(prevotes) once that is at or
//! above E_{r-1}, at s_r + 4T or once the round is completable. When round r is completable and
//! this voter has precommitted, round r+1 starts with E_r. Any round whose precommit GHOST is
//! above the finalized block finalizes it, with a justification of precommits anyone can check.
//!
//! Votes only target blocks this node has imported, and a voter only votes for blocks it has
//! validated (the audit gate): a block the exec plugin rejected never gathers this node's vote.
//! Own votes of the open round and the one before are re-broadcast every 4T, so a voter that
//! was offline picks the round up again (the gossip layer's catch-up); a round that gossip
//! shows completable ahead of ours is jumped to. Every own vote is journaled before it is sent
//! ([`Output::Journal`], [`Voter::recover`]): a restarted voter never signs a second vote for a
//! round and step.

use std::collections::{BTreeMap, HashMap, HashSet};

use diverge_plugins::{blake2b_256, Hash, Header, ValidatorIndex};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::messages::{EquivocationProof, Justification, Message, SignedVote, VoteKind};
use super::votes::{round_view, threshold, Added, BlockTree, RoundView, VoteSet};

/// A block's tie-break key ([`Voter::note_block`]): what its author decided (slot, author,
/// payload, post-state, DA commitment), without the parent's hash, the digest or the seal,
/// which carry ring-proof randomness (tickets) through the chain.
pub fn content_key(header: &Header) -> Hash {
    let mut b = Vec::with_capacity(160);
    b.extend_from_slice(b"diverge-grandpa-tie");
    b.extend_from_slice(&header.slot.to_le_bytes());
    b.extend_from_slice(&header.author.to_le_bytes());
    b.extend_from_slice(&header.payload_hash.0);
    b.extend_from_slice(&header.post_state_root.0);
    b.extend_from_slice(&header.da_commitment);
    blake2b_256(&b)
}

/// Host time in microseconds.
pub type Time = u64;

/// Rounds ahead of ours whose votes are kept (enough to jump forward, bounded against spam).
const FUTURE_ROUNDS: u64 = 8;
/// Votes for not-yet-imported blocks kept for later, at most.
const MAX_PENDING: usize = 4096;

/// Voter-set parameters.
#[derive(Clone, Debug)]
pub struct VoterConfig {
    /// GRANDPA's gossip duration T.
    pub gossip: Time,
    /// Voter set id.
    pub set_id: u64,
    /// The voters' Ed25519 keys, by index.
    pub keys: Vec<VerifyingKey>,
}

/// What the voter asks the host to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send to every voter.
    Broadcast(Message),
    /// A block became final.
    Finalized {
        /// The block.
        hash: Hash,
        /// Its height.
        number: u32,
        /// The proof.
        justification: Justification,
    },
    /// A voter signed two different votes in one round and step.
    Misbehaviour {
        /// The offender.
        offender: ValidatorIndex,
        /// e.g. `grandpa.prevote.equivocation`.
        kind: String,
        /// The two votes.
        evidence: EquivocationProof,
    },
    /// Call [`Voter::on_timer`] at this time.
    SetTimer(Time),
    /// Persist these own votes (the open round's and the one before) before the broadcast
    /// that follows; handed back through [`Voter::recover`] after a restart.
    Journal(Vec<SignedVote>),
    /// A structured event (name, JSON fields).
    Telemetry(&'static str, serde_json::Value),
}

/// Why an incoming message was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// For another voter set.
    #[error("vote for set {got}, ours is {ours}")]
    WrongSet {
        /// Its set id.
        got: u64,
        /// Ours.
        ours: u64,
    },
    /// Voter index out of range.
    #[error("voter index {0} is not in the set")]
    UnknownVoter(ValidatorIndex),
    /// Bad signature.
    #[error("bad signature from voter {0}")]
    BadSignature(ValidatorIndex),
    /// Justification does not prove finality.
    #[error("justification: {0}")]
    BadJustification(String),
}

#[derive(Debug, Default)]
struct RoundState {
    start: Time,
    prevotes: VoteSet,
    precommits: VoteSet,
    /// First signed vote per (voter, step): the evidence when a second one contradicts it.
    first: HashMap<(ValidatorIndex, VoteKind), SignedVote>,
    /// Every accepted signed precommit, for justifications.
    signed_precommits: Vec<SignedVote>,
    own: Vec<SignedVote>,
    primary: Option<Hash>,
    prevoted: bool,
    precommitted: bool,
    reported: HashSet<(ValidatorIndex, VoteKind)>,
}

#[derive(Debug, Clone, Copy)]
struct BlockInfo {
    state_root: Hash,
    validated: bool,
}

/// One node's GRANDPA voter (or observer, without a key).
#[derive(Debug)]
pub struct Voter {
    cfg: VoterConfig,
    me: Option<(ValidatorIndex, SigningKey)>,
    tree: BlockTree,
    info: HashMap<Hash, BlockInfo>,
    order: HashMap<Hash, (u32, ValidatorIndex, Hash)>,
    finalized: (Hash, u32),
    last_estimate: Hash,
    current: u64,
    rounds: BTreeMap<u64, RoundState>,
    pending: Vec<SignedVote>,
    last_commit: Option<Justification>,
    next_rebroadcast: Time,
    timer: Option<Time>,
    out: Vec<Output>,
}

impl Voter {
    /// A voter starting at round 1 on `genesis` (final by definition) at time `now`.
    pub fn new(
        cfg: VoterConfig,
        me: Option<(ValidatorIndex, SigningKey)>,
        genesis: Hash,
        genesis_state_root: Hash,
        now: Time,
    ) -> Voter {
        Self::resume(cfg, me, (genesis, 0), genesis_state_root, now)
    }

    /// A voter whose last final block is `finalized` (hash, height), e.g. after a restart from
    /// a snapshot. It opens round 1 and learns the live round from the next commit it sees
    /// (the catch-up rule), so round numbers need not be persisted.
    pub fn resume(
        cfg: VoterConfig,
        me: Option<(ValidatorIndex, SigningKey)>,
        finalized: (Hash, u32),
        state_root: Hash,
        now: Time,
    ) -> Voter {
        let genesis = finalized.0;
        let genesis_state_root = state_root;
        let mut info = HashMap::new();
        info.insert(
            genesis,
            BlockInfo {
                state_root: genesis_state_root,
                validated: true,
            },
        );
        let mut v = Voter {
            next_rebroadcast: now + 4 * cfg.gossip,
            cfg,
            me,
            tree: BlockTree::new(genesis, finalized.1),
            info,
            order: HashMap::new(),
            finalized,
            last_estimate: genesis,
            current: 0,
            rounds: BTreeMap::new(),
            pending: Vec::new(),
            last_commit: None,
            timer: None,
            out: Vec::new(),
        };
        v.start_round(1, now);
        v.step(now);
        v
    }

    /// Takes the outputs produced so far.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// The last finalized block and its height.
    pub fn finalized(&self) -> (Hash, u32) {
        self.finalized
    }

    /// The open round.
    pub fn round(&self) -> u64 {
        self.current
    }

    fn n(&self) -> usize {
        self.cfg.keys.len()
    }

    fn t(&self) -> usize {
        threshold(self.n())
    }

    /// A block whose seal verified was imported (not yet validated).
    pub fn import_block(&mut self, now: Time, hash: Hash, parent: Hash, state_root: Hash) {
        if self.tree.insert(hash, parent).is_ok() {
            if let Some((_, _, content)) = self.order.get(&hash) {
                self.tree.set_rank(hash, *content);
            }
            self.info.entry(hash).or_insert(BlockInfo {
                state_root,
                validated: false,
            });
            let pending = std::mem::take(&mut self.pending);
            for vote in pending {
                self.import_vote(vote);
            }
        }
        self.step(now);
    }

    /// The exec plugin's verdict on a block.
    pub fn block_validated(&mut self, now: Time, hash: Hash, valid: bool) {
        if let Some(i) = self.info.get_mut(&hash) {
            i.validated = valid;
        }
        self.step(now);
    }

    /// A timer set through [`Output::SetTimer`] fired.
    pub fn on_timer(&mut self, now: Time) {
        self.timer = None;
        if now >= self.next_rebroadcast {
            self.next_rebroadcast = now + 4 * self.cfg.gossip;
            // The round before too: a voter that missed it (restarted, or its connections
            // came back after the votes went out) cannot complete it without them, and the
            // others, already a round on, would otherwise never send them again. Seen in
            // scripts/kill-loop: two voters stuck one round behind two others, forever.
            for v in self.own_votes() {
                self.out.push(Output::Broadcast(Message::Vote(v)));
            }
            if let Some(j) = self.last_commit.clone() {
                self.out.push(Output::Broadcast(Message::Commit(j)));
            }
        }
        self.step(now);
    }

    /// A message from the network.
    pub fn on_message(&mut self, now: Time, message: Message) -> Result<(), Rejected> {
        let r = match message {
            // Checked only if it could count: a vote outside the kept rounds is ignored anyway,
            // and one held byte for byte (a re-broadcast) was checked when it first came. With
            // V voters re-broadcasting every 4T, re-checks were most of GRANDPA's CPU at large
            // V (docs/SCALE.md).
            Message::Vote(v) if self.ignorable(&v) => Ok(()),
            Message::Vote(v) => self.check_vote(&v).map(|()| self.import_vote(v)),
            Message::Commit(j) => self.on_commit(now, &j),
        };
        self.step(now);
        r
    }

    fn ignorable(&self, v: &SignedVote) -> bool {
        v.round + 1 < self.current
            || v.round > self.current + FUTURE_ROUNDS
            || self
                .rounds
                .get(&v.round)
                .and_then(|r| r.first.get(&(v.voter, v.kind)))
                == Some(v)
    }

    fn check_vote(&self, v: &SignedVote) -> Result<(), Rejected> {
        if v.set_id != self.cfg.set_id {
            return Err(Rejected::WrongSet {
                got: v.set_id,
                ours: self.cfg.set_id,
            });
        }
        let key = self
            .cfg
            .keys
            .get(usize::from(v.voter))
            .ok_or(Rejected::UnknownVoter(v.voter))?;
        if !v.verify(key) {
            return Err(Rejected::BadSignature(v.voter));
        }
        Ok(())
    }

    fn import_vote(&mut self, v: SignedVote) {
        if v.round + 1 < self.current || v.round > self.current + FUTURE_ROUNDS {
            return;
        }
        if !self.tree.contains(&v.target) {
            // Unknown now, maybe imported soon; a target below finality never will be.
            if v.number > self.finalized.1 && self.pending.len() < MAX_PENDING {
                self.pending.push(v);
            }
            return;
        }
        // Our header hash commits to the post-state root, so a vote pairing the hash with another
        // root is not a vote for this block (GP 19: a vote is header plus posterior state root).
        if self
            .info
            .get(&v.target)
            .is_some_and(|i| i.state_root != v.state_root)
        {
            return;
        }
        let n = self.n();
        let round = self.rounds.entry(v.round).or_default();
        if v.kind == VoteKind::PrimaryPropose {
            if usize::from(v.voter) == (v.round as usize) % n {
                round.primary = Some(v.target);
            }
            return;
        }
        let set = match v.kind {
            VoteKind::Prevote => &mut round.prevotes,
            _ => &mut round.precommits,
        };
        match set.add(&self.tree, v.voter, v.target) {
            Added::Duplicate => {}
            Added::New => {
                round.first.insert((v.voter, v.kind), v.clone());
                if v.kind == VoteKind::Precommit {
                    round.signed_precommits.push(v);
                }
            }
            Added::Equivocation { .. } => {
                if v.kind == VoteKind::Precommit {
                    round.signed_precommits.push(v.clone());
                }
                if round.reported.insert((v.voter, v.kind)) {
                    if let Some(first) = round.first.get(&(v.voter, v.kind)).cloned() {
                        self.out.push(Output::Misbehaviour {
                            offender: v.voter,
                            kind: format!("grandpa.{}.equivocation", v.kind.as_str()),
                            evidence: EquivocationProof { first, second: v },
                        });
                    }
                }
            }
        }
    }

    fn start_round(&mut self, number: u64, now: Time) {
        self.current = number;
        self.rounds.entry(number).or_default().start = now;
        // Keep the previous round for late precommits that may still finalize more.
        self.rounds.retain(|r, _| *r + 1 >= number);
        let primary = (number as usize) % self.n().max(1);
        self.out.push(Output::Telemetry(
            "consensus.grandpa.round",
            serde_json::json!({"round": number, "primary": primary, "start_us": now}),
        ));
        let proposed = self
            .rounds
            .get(&number)
            .is_some_and(|r| r.own.iter().any(|v| v.kind == VoteKind::PrimaryPropose));
        if let Some((me, _)) = &self.me {
            if usize::from(*me) == primary && !proposed {
                let est = self.last_estimate;
                if self.tree.number(&est).unwrap_or(0) > self.finalized.1 {
                    self.cast(VoteKind::PrimaryPropose, est);
                }
            }
        }
    }

    fn cast(&mut self, kind: VoteKind, target: Hash) {
        let Some((me, key)) = &self.me else { return };
        let number = self.tree.number(&target).unwrap_or(0);
        let state_root = self
            .info
            .get(&target)
            .map(|i| i.state_root)
            .unwrap_or_default();
        let vote = SignedVote::sign(
            key,
            *me,
            self.cfg.set_id,
            self.current,
            kind,
            target,
            number,
            state_root,
        );
        if let Some(r) = self.rounds.get_mut(&self.current) {
            r.own.push(vote.clone());
        }
        // Write-ahead: the vote is on disk before it leaves, so a restart cannot sign another
        // one for this round and step.
        self.out.push(Output::Journal(self.own_votes()));
        // One event per own vote (the host turns it into a `tracing` event of this name), so a
        // round can be followed step by step: what this voter chose, in which round.
        self.out.push(Output::Telemetry(
            match kind {
                VoteKind::PrimaryPropose => "consensus.grandpa.primary_propose",
                VoteKind::Prevote => "consensus.grandpa.prevote",
                VoteKind::Precommit => "consensus.grandpa.precommit",
            },
            serde_json::json!({"round": self.current, "voter": me, "target": target.to_hex(),
                               "number": number}),
        ));
        self.out
            .push(Output::Broadcast(Message::Vote(vote.clone())));
        self.import_vote(vote);
    }

    /// Own votes of the retained rounds (the open one and the one before), oldest first.
    fn own_votes(&self) -> Vec<SignedVote> {
        self.rounds
            .values()
            .flat_map(|r| r.own.iter().cloned())
            .collect()
    }

    /// After a restart: the own votes the journal held. The voter moves to the latest round
    /// it voted in and treats those votes as cast (never signing another for that round and
    /// step), and re-broadcasts them as usual. Votes that are not this voter's, or do not
    /// verify under its key, are ignored: the journal is our own disk, but a torn or foreign
    /// file must not make us adopt someone else's votes.
    pub fn recover(&mut self, now: Time, votes: Vec<SignedVote>) -> usize {
        let Some((me, key)) = &self.me else { return 0 };
        let (me, public) = (*me, key.verifying_key());
        let mine: Vec<SignedVote> = votes
            .into_iter()
            .filter(|v| v.voter == me && v.set_id == self.cfg.set_id && v.verify(&public))
            .collect();
        let Some(top) = mine.iter().map(|v| v.round).max() else {
            return 0;
        };
        if top > self.current {
            self.current = top;
            self.rounds.entry(top).or_default().start = now;
            self.rounds.retain(|r, _| *r + 1 >= top);
        }
        let mut kept = 0;
        for v in mine {
            if v.round + 1 < self.current {
                continue;
            }
            let r = self.rounds.entry(v.round).or_default();
            if r.own.contains(&v) {
                continue;
            }
            match v.kind {
                VoteKind::Prevote => r.prevoted = true,
                VoteKind::Precommit => r.precommitted = true,
                VoteKind::PrimaryPropose => {}
            }
            r.own.push(v.clone());
            self.import_vote(v);
            kept += 1;
        }
        self.out.push(Output::Telemetry(
            "consensus.grandpa.recovered",
            serde_json::json!({"round": self.current, "votes": kept}),
        ));
        self.step(now);
        kept
    }

    /// Slot, author and content key of a block, so ties between equally deep branches or
    /// equally supported blocks are broken by what the protocol decided (the later slot, then
    /// the lower author, then the content: [`content_key`]) rather than by hash values, which
    /// carry ring-proof randomness; every node still picks the same block. Twins (one author,
    /// one slot, two payloads) differ only in content.
    pub fn note_block(&mut self, hash: Hash, slot: u32, author: ValidatorIndex, content: Hash) {
        self.order.insert(hash, (slot, author, content));
        if self.tree.contains(&hash) {
            self.tree.set_rank(hash, content);
        }
    }

    /// The deepest validated block reachable from `from` through validated blocks (ties: later
    /// slot, lower author, lower hash): the chain this voter is willing to vote for.
    fn tie(&self, h: &Hash) -> (std::cmp::Reverse<u32>, ValidatorIndex, Hash) {
        let (slot, author, content) = self.order.get(h).copied().unwrap_or((0, 0, *h));
        (std::cmp::Reverse(slot), author, content)
    }

    fn best_validated_from(&self, from: Hash) -> Hash {
        let mut best = (self.tree.number(&from).unwrap_or(0), from);
        let mut stack = vec![from];
        while let Some(b) = stack.pop() {
            for c in self.tree.children(&b) {
                if self.info.get(c).is_some_and(|i| i.validated) {
                    let n = self.tree.number(c).unwrap_or(0);
                    if n > best.0 || (n == best.0 && self.tie(c) < self.tie(&best.1)) {
                        best = (n, *c);
                    }
                    stack.push(*c);
                }
            }
        }
        best.1
    }

    fn view(&self, round: u64) -> Option<RoundView> {
        let r = self.rounds.get(&round)?;
        Some(round_view(
            &self.tree,
            &r.prevotes,
            &r.precommits,
            self.n(),
            self.t(),
        ))
    }

    fn step(&mut self, now: Time) {
        // Bounded: each pass either stops or opens a new round.
        for _ in 0..(FUTURE_ROUNDS + 2) {
            self.vote_if_due(now);
            self.finalize_from_rounds();
            if !self.advance(now) {
                break;
            }
        }
        self.request_timer(now);
    }

    fn vote_if_due(&mut self, now: Time) {
        if self.me.is_none() {
            return;
        }
        let t2 = 2 * self.cfg.gossip;
        let Some(view) = self.view(self.current) else {
            return;
        };
        let Some(r) = self.rounds.get(&self.current) else {
            return;
        };
        let (start, prevoted, precommitted, primary) =
            (r.start, r.prevoted, r.precommitted, r.primary);
        if !prevoted && (now >= start + t2 || view.completable) {
            let est = self.last_estimate;
            let base = match primary {
                Some(p)
                    if self.tree.is_ancestor_or_equal(&est, &p)
                        && self.info.get(&p).is_some_and(|i| i.validated) =>
                {
                    p
                }
                _ => est,
            };
            let target = self.best_validated_from(base);
            if let Some(r) = self.rounds.get_mut(&self.current) {
                r.prevoted = true;
            }
            self.cast(VoteKind::Prevote, target);
        }
        let Some(view) = self.view(self.current) else {
            return;
        };
        let prevoted = self.rounds.get(&self.current).is_some_and(|r| r.prevoted);
        if prevoted && !precommitted && (now >= start + 2 * t2 || view.completable) {
            if let Some(g) = view.prevote_ghost {
                if self.tree.is_ancestor_or_equal(&self.last_estimate, &g) {
                    if let Some(r) = self.rounds.get_mut(&self.current) {
                        r.precommitted = true;
                    }
                    // g is the prevote-GHOST (a supermajority prevoted for it or a
                    // descendant); the precommit telemetry `cast` sends lets reports tell an
                    // orphaned block that had a vote majority from one that had nothing.
                    self.cast(VoteKind::Precommit, g);
                }
            }
        }
    }

    /// Opens the next round when the current one is completable (and we precommitted), or
    /// jumps to a round ahead that gossip shows completable. Returns whether a round opened.
    fn advance(&mut self, now: Time) -> bool {
        let ahead: Vec<u64> = self
            .rounds
            .keys()
            .copied()
            .filter(|r| *r > self.current)
            .collect();
        for r in ahead.into_iter().rev() {
            if let Some(view) = self.view(r) {
                if view.completable {
                    if let Some(e) = view.estimate {
                        self.last_estimate = e;
                        self.start_round(r + 1, now);
                        return true;
                    }
                }
            }
        }
        let Some(view) = self.view(self.current) else {
            return false;
        };
        let done_voting = self.me.is_none()
            || self
                .rounds
                .get(&self.current)
                .is_some_and(|r| r.precommitted);
        if view.completable && done_voting {
            if let Some(e) = view.estimate {
                let r = &self.rounds[&self.current];
                self.out.push(Output::Telemetry(
                    "consensus.grandpa.completed",
                    serde_json::json!({
                        "round": self.current,
                        "prevotes": r.prevotes.participants(),
                        "precommits": r.precommits.participants(),
                        "estimate": e.to_hex(),
                        "duration_us": now.saturating_sub(r.start),
                    }),
                ));
                self.last_estimate = e;
                self.start_round(self.current + 1, now);
                return true;
            }
        }
        false
    }

    fn finalize_from_rounds(&mut self) {
        let rounds: Vec<u64> = self.rounds.keys().copied().collect();
        for r in rounds {
            let Some(view) = self.view(r) else { continue };
            let Some(f) = view.finalized else { continue };
            let number = self.tree.number(&f).unwrap_or(0);
            if number <= self.finalized.1 {
                continue;
            }
            let precommits: Vec<SignedVote> = self.rounds[&r]
                .signed_precommits
                .iter()
                .filter(|v| self.tree.is_ancestor_or_equal(&f, &v.target))
                .cloned()
                .collect();
            let justification = Justification {
                set_id: self.cfg.set_id,
                round: r,
                target: f,
                number,
                precommits,
            };
            // Finalize only what the proof shows on its own (equivocators' weight is not
            // provable to a light client). Signatures were checked when the votes arrived.
            if self.check_justification_with(&justification, false).is_ok() {
                self.apply_finality(justification);
            }
        }
    }

    /// Checks a justification against this node's tree, signatures included.
    pub fn check_justification(&self, j: &Justification) -> Result<(), Rejected> {
        self.check_justification_with(j, true)
    }

    fn check_justification_with(
        &self,
        j: &Justification,
        signatures: bool,
    ) -> Result<(), Rejected> {
        let tree = &self.tree;
        let header = |h: &Hash| -> Option<(Hash, u32)> { Some((tree.parent(h)?, tree.number(h)?)) };
        j.verify(self.cfg.set_id, &self.cfg.keys, &header, signatures)
            .map_err(|e| Rejected::BadJustification(e.to_string()))
    }

    /// A commit finalizes its target and, when it is from a round at or past ours, moves this
    /// voter to the round after it: how a voter that was away rejoins the current round.
    fn on_commit(&mut self, now: Time, j: &Justification) -> Result<(), Rejected> {
        if !self.tree.contains(&j.target) {
            // Unknown (not imported yet) or below our final block: nothing to learn from it.
            return Ok(());
        }
        if j.number <= self.finalized.1 && j.round < self.current {
            // Our final block again, from a round we have left: it can neither finalize nor
            // move us on, so its ~2V/3 signatures are not checked again. Every node
            // re-broadcasting every commit made this the V^3 term of a large network.
            return Ok(());
        }
        self.check_justification(j)?;
        if j.number > self.finalized.1 {
            self.apply_finality(j.clone());
        }
        if j.round >= self.current {
            self.last_estimate = j.target;
            self.start_round(j.round + 1, now);
        }
        Ok(())
    }

    fn apply_finality(&mut self, j: Justification) {
        let (hash, number) = (j.target, j.number);
        self.finalized = (hash, number);
        // Re-root the tree at the new final block: branches off it can never be voted again.
        let mut tree = BlockTree::new(hash, number);
        let mut stack = vec![hash];
        while let Some(b) = stack.pop() {
            for c in self.tree.children(&b).to_vec() {
                let _ = tree.insert(c, b);
                tree.set_rank(c, self.tree.rank(&c));
                stack.push(c);
            }
        }
        self.tree = tree;
        self.info.retain(|h, _| self.tree.contains(h));
        for r in self.rounds.values_mut() {
            r.prevotes.recount(&self.tree);
            r.precommits.recount(&self.tree);
        }
        if !self.tree.contains(&self.last_estimate) {
            self.last_estimate = hash;
        }
        self.out.push(Output::Telemetry(
            "consensus.grandpa.finalized",
            serde_json::json!({"round": j.round, "number": number, "hash": hash.to_hex(),
                               "precommits": j.precommits.len()}),
        ));
        self.out.push(Output::Broadcast(Message::Commit(j.clone())));
        self.out.push(Output::Finalized {
            hash,
            number,
            justification: j.clone(),
        });
        self.last_commit = Some(j);
    }

    fn request_timer(&mut self, now: Time) {
        // Only deadlines still ahead: a passed one whose condition is unmet (e.g. no prevote
        // GHOST yet) waits for votes, not for the clock.
        let t2 = 2 * self.cfg.gossip;
        let mut candidates = vec![self.next_rebroadcast];
        if let Some(r) = self.rounds.get(&self.current) {
            if !r.prevoted {
                candidates.push(r.start + t2);
            }
            if !r.precommitted {
                candidates.push(r.start + 2 * t2);
            }
        }
        let next = candidates
            .into_iter()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(now + 4 * self.cfg.gossip);
        if self.timer != Some(next) {
            self.timer = Some(next);
            self.out.push(Output::SetTimer(next));
        }
    }
}
