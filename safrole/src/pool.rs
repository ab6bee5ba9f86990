//! The ticket pool of a Safrole plugin, shared by `consensus-safrole` and `consensus-ssf`: a
//! node's own tickets proven one at a time, tickets received by gossip checked under the
//! right entropy, verified tickets kept per context, and the tickets a block carries. It is
//! sans-IO like the plugins: the caller turns the outcomes into broadcasts, timers and
//! telemetry, and decides which contexts are still live.

use std::collections::{BTreeMap, HashMap, HashSet};

use diverge_plugins::{blake2b_256, Action, Hash, Slot};

use crate::digest::WireTicket;
use crate::ring::RingContext;
use crate::seal::SealSecret;
use crate::sealing::SlotContext;
use crate::stf::Spec;
use crate::tickets::make_ticket;
use crate::types::{Bytes, State, B32};

/// A ticket context: the entropy and ring root a ticket was proven against.
pub type TicketContext = (B32, Bytes<144>);

/// Verified tickets kept per epoch context, at most E times this (the accumulator keeps E; a
/// margin for tickets that arrive before the block that makes them redundant).
const POOL_FACTOR: usize = 2;

/// This node's tickets for one context, being proven one per call.
#[derive(Debug)]
struct Job {
    context: TicketContext,
    ring_keys: Vec<B32>,
    index: usize,
    next: u8,
}

/// What [`TicketPool::prove_next`] did.
#[derive(Debug)]
pub enum Proved {
    /// No job is running.
    Idle,
    /// A ticket was proven and pooled; gossip it.
    Made {
        /// Its attempt number.
        attempt: u8,
        /// The ticket.
        ticket: WireTicket,
        /// Another ticket of the job is left: call again about a slot later.
        more: bool,
    },
    /// The prover failed for this attempt.
    Failed {
        /// Its attempt number.
        attempt: u8,
        /// Why.
        error: String,
        /// Another ticket of the job is left.
        more: bool,
    },
}

/// What [`TicketPool::receive`] made of a gossiped ticket.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Already looked at, an attempt beyond N, or no state to check it on: ignored.
    Ignored,
    /// Verified and pooled; `next_epoch` if under eta_1 (its maker is one epoch ahead).
    Verified {
        /// Checked under eta_1 rather than eta_2.
        next_epoch: bool,
        /// Ring-proof checks it took (1 or 2): the costly part, reported to the host.
        checks: u8,
    },
    /// The ring proof fails under every entropy tried: the sender's fault.
    Bad {
        /// The last check's error.
        error: String,
        /// Ring-proof checks it took.
        checks: u8,
    },
}

/// A telemetry action `{prefix}.{suffix}`: the engines differ only in their prefix, so both
/// report ticket work (the `work` field the host's cost model charges) the same way.
fn report(prefix: &str, suffix: &str, fields: serde_json::Value) -> Action {
    Action::Telemetry {
        name: format!("{prefix}.{suffix}"),
        fields_json: fields.to_string(),
    }
}

impl Proved {
    /// What the host is told: `{prefix}.ticket` or `{prefix}.ticket_error`, each one ring proof
    /// of work. Nothing for [`Proved::Idle`].
    pub fn telemetry(&self, prefix: &str) -> Option<Action> {
        match self {
            Proved::Idle => None,
            Proved::Made { attempt, .. } => Some(report(
                prefix,
                "ticket",
                serde_json::json!({"attempt": attempt, "work": {"consensus.ticket_prove": 1}}),
            )),
            Proved::Failed { attempt, error, .. } => Some(report(
                prefix,
                "ticket_error",
                serde_json::json!({"attempt": attempt, "error": error,
                                   "work": {"consensus.ticket_prove": 1}}),
            )),
        }
    }
}

impl Received {
    /// What the host is told about the ticket of `attempt`: `{prefix}.ticket_verified` or
    /// `{prefix}.bad_ticket` with the ring checks it took (a check is the costliest thing a
    /// receiver does, about 7 ms, so the simulator charges each one). Nothing when ignored.
    pub fn telemetry(&self, prefix: &str, attempt: u8) -> Option<Action> {
        match self {
            Received::Ignored => None,
            Received::Verified { next_epoch, checks } => Some(report(
                prefix,
                "ticket_verified",
                serde_json::json!({"attempt": attempt, "next_epoch": next_epoch,
                                   "work": {"consensus.ticket_verify": checks}}),
            )),
            Received::Bad { error, checks } => Some(report(
                prefix,
                "bad_ticket",
                serde_json::json!({"error": error, "work": {"consensus.ticket_verify": checks}}),
            )),
        }
    }
}

/// Tickets by context, own tickets, and the job proving them.
#[derive(Debug, Default)]
pub struct TicketPool {
    /// Verified tickets by context, ordered by id.
    pool: HashMap<TicketContext, BTreeMap<B32, WireTicket>>,
    /// Signatures already looked at (so a re-gossiped ticket is not verified twice).
    seen: HashSet<Hash>,
    /// Tickets this node proved, by context: id -> attempt.
    mine: HashMap<TicketContext, BTreeMap<B32, u8>>,
    job: Option<Job>,
}

impl TicketPool {
    /// An empty pool.
    pub fn new() -> TicketPool {
        TicketPool::default()
    }

    /// Tickets for a block in `slot` on `parent`: verified for its context, not held yet,
    /// ascending, at most K, and only ones that survive into the accumulator.
    pub fn tickets_for(
        &self,
        spec: &Spec,
        parent: &State,
        ctx: &SlotContext,
        slot: Slot,
    ) -> Vec<WireTicket> {
        if ctx.new_epoch || slot % spec.epoch_len >= spec.ticket_end {
            return Vec::new();
        }
        let Some(pool) = self.pool.get(&(parent.eta[2], parent.gamma_z)) else {
            return Vec::new();
        };
        let e = spec.epoch_len as usize;
        let held: HashSet<B32> = parent.gamma_a.iter().map(|t| t.id).collect();
        let worst = (parent.gamma_a.len() >= e)
            .then(|| parent.gamma_a.last().map(|t| t.id))
            .flatten();
        pool.iter()
            .filter(|(id, _)| !held.contains(id) && worst.is_none_or(|w| **id < w))
            .take(spec.max_tickets_per_block)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Starts proving this node's N tickets for the epoch after `state`'s, once per context;
    /// true if a job started (the caller schedules [`TicketPool::prove_next`]: a ring proof
    /// takes 0.1-0.6 s, so at mid-slot, not at a slot's start where it would delay blocks and
    /// votes). `me` is this node's Bandersnatch key; not in the ring, nothing to prove.
    pub fn start(&mut self, state: &State, me: &[u8; 32]) -> bool {
        let context = (state.eta[2], state.gamma_z);
        if self.mine.contains_key(&context) {
            return false;
        }
        self.mine.insert(context, BTreeMap::new());
        let ring_keys: Vec<B32> = state.gamma_k.iter().map(|k| k.bandersnatch).collect();
        let Some(index) = ring_keys.iter().position(|k| k.0 == *me) else {
            return false;
        };
        self.job = Some(Job {
            context,
            ring_keys,
            index,
            next: 0,
        });
        true
    }

    /// Proves the next ticket of the running job and pools it.
    pub fn prove_next(&mut self, spec: &Spec, ring: &RingContext, secret: &SealSecret) -> Proved {
        let Some(mut job) = self.job.take() else {
            return Proved::Idle;
        };
        let attempt = job.next;
        let proof = make_ticket(
            ring,
            &job.ring_keys,
            job.index,
            secret,
            &job.context.0,
            attempt,
        );
        job.next += 1;
        let more = job.next < spec.tickets_per_validator;
        let context = job.context;
        if more {
            self.job = Some(job);
        }
        match proof {
            Ok((id, signature)) => {
                self.mine.entry(context).or_default().insert(id, attempt);
                let ticket = WireTicket { attempt, signature };
                self.seen.insert(blake2b_256(&ticket.signature));
                self.insert(spec, context, id, ticket.clone());
                Proved::Made {
                    attempt,
                    ticket,
                    more,
                }
            }
            Err(e) => Proved::Failed {
                attempt,
                error: e.to_string(),
                more,
            },
        }
    }

    /// Pools a verified ticket (the worst ones beyond the cap drop out).
    pub fn insert(&mut self, spec: &Spec, context: TicketContext, id: B32, t: WireTicket) {
        let cap = spec.epoch_len as usize * POOL_FACTOR;
        let pool = self.pool.entry(context).or_default();
        pool.insert(id, t);
        while pool.len() > cap {
            pool.pop_last();
        }
    }

    /// Checks a gossiped ticket on `best` (the receiver's best block state) and pools it.
    pub fn receive(
        &mut self,
        spec: &Spec,
        ring: &RingContext,
        best: &State,
        t: WireTicket,
    ) -> Received {
        if !self.seen.insert(blake2b_256(&t.signature)) {
            return Received::Ignored;
        }
        if t.attempt >= spec.tickets_per_validator {
            return Received::Ignored;
        }
        // A ticket is proven under the maker's eta_2. A peer one epoch ahead of our best block
        // proved it under what is our eta_1 now (it becomes eta_2 at the epoch change, GP 6.23),
        // and so did every peer once our best is past the submission window: checking eta_2
        // alone rejected those honest tickets as bad (seen in scripts/kill-loop), and as they
        // are marked seen they never came back. Same ring: the chain's validator set is fixed.
        let in_window = best.tau % spec.epoch_len < spec.ticket_end;
        let mut contexts = Vec::with_capacity(2);
        if in_window {
            contexts.push(best.eta[2]);
        }
        contexts.push(best.eta[1]);
        let mut last_err = String::new();
        let mut checks = 0;
        for eta in contexts {
            checks += 1;
            match ring.verify_ticket(&best.gamma_z, &eta, t.attempt, &t.signature) {
                Ok(id) => {
                    let next_epoch = eta != best.eta[2];
                    self.insert(spec, (eta, best.gamma_z), id, t);
                    return Received::Verified { next_epoch, checks };
                }
                Err(e) => last_err = e.to_string(),
            }
        }
        Received::Bad {
            error: last_err,
            checks,
        }
    }

    /// Forgets pooled tickets of contexts not in `live`, own tickets whose entropy is not in
    /// `proven`, and (past `seen_cap` entries) the seen set.
    pub fn retain(
        &mut self,
        live: &HashSet<TicketContext>,
        proven: &HashSet<B32>,
        seen_cap: usize,
    ) {
        self.pool.retain(|c, _| live.contains(c));
        self.mine.retain(|c, _| proven.contains(&c.0));
        if self.seen.len() > seen_cap {
            self.seen.clear();
        }
    }

    /// Every pooled ticket with its id (for a snapshot).
    pub fn entries(&self) -> impl Iterator<Item = (&B32, &WireTicket)> {
        self.pool.values().flat_map(|p| p.iter())
    }

    /// Drops every pooled and seen ticket (before a restore re-inserts a snapshot's).
    pub fn clear_received(&mut self) {
        self.pool.clear();
        self.seen.clear();
    }

    /// The attempt of own ticket `id`, if this node proved it (ticket ids are VRF outputs,
    /// unique across contexts, so all of them are looked in).
    pub fn mine(&self, id: &B32) -> Option<u8> {
        self.mine.values().find_map(|m| m.get(id).copied())
    }

    /// This node's own tickets, for a snapshot: (context, id, attempt). Without them a
    /// restarted validator cannot seal the slots its tickets won, for the rest of the epoch
    /// (they were proven in the previous one, whose job never restarts).
    pub fn own(&self) -> Vec<(TicketContext, B32, u8)> {
        let mut own: Vec<(TicketContext, B32, u8)> = self
            .mine
            .iter()
            .flat_map(|(c, m)| m.iter().map(move |(id, a)| (*c, *id, *a)))
            .collect();
        own.sort_by_key(|o| (o.1, o.2));
        own
    }

    /// Puts back the own tickets of a snapshot. A context with fewer than N of them was
    /// being proven at the crash: it is left out, so the next block of its epoch starts the
    /// job again (the ids come out the same: they are VRF outputs of this node's key).
    pub fn restore_own(&mut self, spec: &Spec, own: Vec<(TicketContext, B32, u8)>) {
        let mut by_context: HashMap<TicketContext, BTreeMap<B32, u8>> = HashMap::new();
        for (c, id, attempt) in own {
            by_context.entry(c).or_default().insert(id, attempt);
        }
        for (c, m) in by_context {
            if m.len() >= usize::from(spec.tickets_per_validator) {
                self.mine.insert(c, m);
            }
        }
    }

    /// The tickets pooled for `context`.
    pub fn pooled(&self, context: &TicketContext) -> usize {
        self.pool.get(context).map_or(0, BTreeMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tickets_survive_a_snapshot_unless_their_job_was_cut_short() {
        let spec = Spec::TINY;
        let done: TicketContext = (Bytes([1; 32]), Bytes([0; 144]));
        let cut: TicketContext = (Bytes([2; 32]), Bytes([0; 144]));
        let mut pool = TicketPool::new();
        for a in 0..spec.tickets_per_validator {
            pool.mine
                .entry(done)
                .or_default()
                .insert(Bytes([10 + a; 32]), a);
        }
        pool.mine.entry(cut).or_default().insert(Bytes([20; 32]), 0);
        // Through JSON, as the engines' snapshots carry them.
        let json = serde_json::to_string(&pool.own()).expect("encodes");
        let mut back = TicketPool::new();
        back.restore_own(&spec, serde_json::from_str(&json).expect("decodes"));
        for a in 0..spec.tickets_per_validator {
            assert_eq!(back.mine(&Bytes([10 + a; 32])), Some(a));
        }
        // The cut job is proven again from its first ticket, so its context must stay open.
        assert_eq!(back.mine(&Bytes([20; 32])), None);
        assert!(!back.mine.contains_key(&cut));
    }
}
