//! Twins: two instances run with validator 5's key. They sign conflicting payloads (each
//! notarizes the block it sealed itself, or the two sides of a partition see different
//! blocks); the honest validators report `ssf.vote.equivocation` naming index 5 with evidence
//! that verifies on its own, and no two conflicting blocks are finalized.

mod common;

use std::sync::{Arc, Mutex};

use common::{args, SEC};
use consensus_ssf::engine::{SsfConsensus, VoteEquivocation};
use consensus_ssf::keys::KeySet;
use consensus_ssf::vote::{verify_vote, FINALIZE, NOTARIZE, SKIP};
use diverge_plugins::codec::decode_exact;
use diverge_plugins::consensus::Time;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{Action, Consensus, Event, Hash, Header, PluginError, SealInfo};

const TWIN_OF: u16 = 5;

/// One report as a third party receives it: the evidence, and the public keys of the sharing
/// its votes name (on chain in a real deployment; here read from the reporter).
#[derive(Clone)]
struct Report {
    reporter: u16,
    offender: u16,
    evidence: VoteEquivocation,
    genesis: Hash,
    keys: KeySet,
}

/// An honest node that keeps every vote-equivocation report it emits.
struct Recorder {
    me: u16,
    inner: SsfConsensus,
    reports: Arc<Mutex<Vec<Report>>>,
}

impl Consensus for Recorder {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let out = self.inner.on_event(now, event)?;
        for a in &out {
            if let Action::Misbehaviour {
                offender,
                kind,
                evidence,
            } = a
            {
                if kind != "ssf.vote.equivocation" {
                    continue;
                }
                let ev: VoteEquivocation =
                    decode_exact(evidence).expect("vote equivocation evidence decodes");
                let keys = self
                    .inner
                    .sharing(ev.first.sharing)
                    .expect("the reporter holds the sharing it checked the votes under")
                    .clone();
                self.reports.lock().expect("lock").push(Report {
                    reporter: self.me,
                    offender: *offender,
                    evidence: ev,
                    genesis: self.inner.genesis(),
                    keys,
                });
            }
        }
        Ok(out)
    }
    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        self.inner.seal(now, header)
    }
    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        self.inner.verify_seal(header)
    }
    fn verify_justification(&mut self, hash: &Hash, j: &[u8]) -> Result<(), PluginError> {
        self.inner.verify_justification(hash, j)
    }
    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, s: &[u8]) -> Result<(), PluginError> {
        self.inner.restore(s)
    }
}

/// Validators 0..=5 (0..=4 recorded) and validator 5's twin at position 6.
fn net(reports: &Arc<Mutex<Vec<Report>>>) -> SimNet {
    let nodes: Vec<Box<dyn Consensus>> = (0..6u16)
        .map(|i| {
            let inner = SsfConsensus::new(&args(i)).expect("engine");
            if i == TWIN_OF {
                Box::new(inner) as Box<dyn Consensus>
            } else {
                Box::new(Recorder {
                    me: i,
                    inner,
                    reports: reports.clone(),
                })
            }
        })
        .collect();
    let mut net = SimNet::new(nodes, SEC, 50_000);
    let twin = SsfConsensus::new(&args(TWIN_OF)).expect("twin engine");
    assert_eq!(net.add_twin(Box::new(twin), TWIN_OF), 6);
    net
}

/// The evidence checks with nothing but the public keys: both votes verify against y_5, are
/// of one slot and conflict (two NOTARIZE or two FINALIZE on different blocks, or a FINALIZE
/// and a SKIP).
fn check(r: &Report) {
    eprintln!(
        "reporter {}: slot {} kinds {}/{} blocks {:?}/{:?}",
        r.reporter,
        r.evidence.first.subject.slot,
        r.evidence.first.subject.kind,
        r.evidence.second.subject.kind,
        &r.evidence.first.subject.hash.0[..4],
        &r.evidence.second.subject.hash.0[..4]
    );
    assert_eq!(r.offender, TWIN_OF, "reporter {}", r.reporter);
    let (a, b) = (&r.evidence.first, &r.evidence.second);
    assert_eq!(a.index(), u32::from(TWIN_OF) + 1);
    assert_eq!(b.index(), u32::from(TWIN_OF) + 1);
    verify_vote(a, &r.genesis, &r.keys).expect("first vote verifies");
    verify_vote(b, &r.genesis, &r.keys).expect("second vote verifies");
    assert_eq!(a.subject.slot, b.subject.slot);
    assert_ne!(a.subject, b.subject);
    let same_kind_other_block = a.subject.kind == b.subject.kind
        && matches!(a.subject.kind, NOTARIZE | FINALIZE)
        && a.subject.hash != b.subject.hash;
    let kinds = [a.subject.kind, b.subject.kind];
    let finalize_and_skip = kinds.contains(&FINALIZE) && kinds.contains(&SKIP);
    assert!(
        same_kind_other_block || finalize_and_skip,
        "not conflicting: {:?} / {:?}",
        a.subject,
        b.subject
    );
    // Tampering with either vote breaks the evidence.
    let mut bad = a.clone();
    bad.contribution[40] ^= 1;
    assert!(verify_vote(&bad, &r.genesis, &r.keys).is_err());
}

/// At most one block finalized per slot, by anyone, and all finalized blocks on one chain.
fn assert_one_final_per_slot(net: &SimNet) {
    net.assert_safe();
    let mut by_slot: std::collections::HashMap<u32, std::collections::HashSet<Hash>> =
        Default::default();
    for f in &net.log.finalized {
        by_slot.entry(f.3).or_default().insert(f.2);
    }
    for (s, blocks) in by_slot {
        assert_eq!(blocks.len(), 1, "slot {s}: {blocks:?}");
    }
}

fn slots_authored_by_both_twins(net: &SimNet) -> Vec<u32> {
    let mut a: Vec<u32> = net
        .log
        .authored
        .iter()
        .filter(|x| x.1 == usize::from(TWIN_OF))
        .map(|x| x.0)
        .collect();
    let b: Vec<u32> = net
        .log
        .authored
        .iter()
        .filter(|x| x.1 == 6)
        .map(|x| x.0)
        .collect();
    a.retain(|s| b.contains(s));
    a
}

#[test]
fn twins_that_both_author_are_caught_and_one_block_at_most_is_final() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let mut net = net(&reports);
    net.run_until(12 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    let both = slots_authored_by_both_twins(&net);
    assert!(!both.is_empty(), "validator 5 authored no slot in 11");
    let reports = reports.lock().expect("lock").clone();
    let reporters: std::collections::BTreeSet<u16> = reports.iter().map(|r| r.reporter).collect();
    assert_eq!(
        reporters,
        (0..5).collect(),
        "every honest validator reports the twins"
    );
    for r in &reports {
        check(r);
        assert!(both.contains(&r.evidence.first.subject.slot));
    }
    // No honest validator is ever named.
    assert!(
        net.log
            .misbehaviour
            .iter()
            .all(|m| m.1 == TWIN_OF || usize::from(m.1) >= 6),
        "{:?}",
        net.log.misbehaviour
    );
    assert_one_final_per_slot(&net);
    // The twins cost at most their own slots: the honest validators keep finalizing.
    for i in 0..5 {
        assert!(
            net.finalized_slot(i) >= 10,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
}

#[test]
fn twins_on_both_sides_of_a_partition_are_caught_after_the_heal() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let mut net = net(&reports);
    net.run_until(3 * SEC - 1);
    assert_eq!(net.finalized_slot(0), 2);
    // 0, 1, 2, 3 and validator 5 against 4 and the twin: the twin's key gives the big side
    // its t = 5 and also votes on the small one, where nothing can be certified: the small
    // side SKIPs the slots the big side finalizes.
    net.set_groups(Some(vec![0, 0, 0, 0, 1, 0, 1]), 3 * SEC - 1);
    net.run_until(9 * SEC - 1);
    let small_side = net
        .log
        .finalized
        .iter()
        .filter(|f| f.0 >= 3 * SEC && (f.1 == 4 || f.1 == 6))
        .count();
    assert_eq!(small_side, 0, "the small side finalized");
    assert!(net.finalized_slot(0) >= 7, "the big side stalled");
    // Nothing is caught while split: each side sees one twin only.
    assert!(reports.lock().expect("lock").is_empty());
    net.set_groups(None, 9 * SEC - 1);
    net.run_until(15 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    // The small side's SKIPs of slots the big side finalized arrive after the heal (the twin
    // re-sends its votes while its finality lags). Those slots are final on the big side, so
    // the votes count for nothing, but each big-side node still holds the sibling's FINALIZE
    // and reports the pair. Node 4 only gets certificates for those slots; it catches the
    // twins when both next author (slot 11).
    let reports = reports.lock().expect("lock").clone();
    let reporters: std::collections::BTreeSet<u16> = reports.iter().map(|r| r.reporter).collect();
    assert_eq!(reporters, (0..5).collect(), "{:?}", net.log.misbehaviour);
    for r in &reports {
        check(r);
    }
    let late: std::collections::BTreeSet<u16> = reports
        .iter()
        .filter(|r| {
            let (a, b) = (&r.evidence.first.subject, &r.evidence.second.subject);
            a.slot < 9 && a.kind == FINALIZE && b.kind == SKIP
        })
        .map(|r| r.reporter)
        .collect();
    assert_eq!(
        late,
        (0..4).collect(),
        "the big side reports the SKIPs signed during the partition"
    );
    // Each is reported once, though the twin re-sends its SKIPs every slot until it is final.
    let mut seen = std::collections::BTreeSet::new();
    for r in &reports {
        let key = (
            r.reporter,
            r.evidence.second.subject.slot,
            r.evidence.second.subject.kind,
        );
        assert!(seen.insert(key), "reported twice: {key:?}");
    }
    assert_one_final_per_slot(&net);
    for i in 0..5 {
        assert!(
            net.finalized_slot(i) >= 12,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
}
