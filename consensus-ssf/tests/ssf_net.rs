//! Six SSF nodes in virtual time (SimNet): finality within the slot, an offline validator,
//! 3/3 and 4/2 partitions and their heal, an invalid-contribution sender, determinism.

mod common;

use common::{args, boxed, finals, net, SEC};
use consensus_ssf::engine::{SsfConsensus, Wire};
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{
    Action, ChainParams, Consensus, Event, Hash, Header, InitArgs, PluginError, SealInfo,
};

#[test]
fn six_validators_finalize_every_slot_within_the_slot() {
    let mut net = net();
    net.run_until(25 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(net.log.rejected.is_empty(), "{:?}", net.log.rejected);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    assert_eq!(net.log.authored.len(), 24, "{:?}", net.log.authored);
    net.assert_safe();
    for i in 0..6 {
        let f = finals(&net, i);
        let slots: Vec<u32> = f.iter().map(|x| x.0).collect();
        assert_eq!(slots, (1..=24).collect::<Vec<_>>(), "node {i}");
        // Proposal at the slot start, then 3 hops of 50 ms: final 150 ms into the slot.
        assert!(f.iter().all(|(_, lag)| *lag < SEC), "node {i}: {f:?}");
        if i == 0 {
            eprintln!("finality latency from slot start at node 0 (us): {f:?}");
        }
    }
}

#[test]
fn a_single_validator_chain_certifies_alone_every_slot() {
    // `diverge run --dev`: V = 1, so t = floor(2/3) + 1 = 1 and its own votes are certificates.
    let lone = InitArgs {
        chain: ChainParams {
            validators: 1,
            erasure_k: 1,
            preset: "custom".into(),
            ..args(0).chain
        },
        validators: diverge_keys::dev_validators(1),
        ..args(0)
    };
    let engine: Box<dyn Consensus> = Box::new(SsfConsensus::new(&lone).expect("engine at V = 1"));
    let mut net = SimNet::new(vec![engine], SEC, 50_000);
    net.run_until(10 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    net.assert_safe();
    let slots: Vec<u32> = finals(&net, 0).iter().map(|x| x.0).collect();
    assert_eq!(slots, (1..=9).collect::<Vec<_>>());
}

#[test]
fn one_offline_still_finalizes() {
    let mut net = net();
    // Genesis is a coordinated launch (the DKG needs all six); node 5 drops out after it.
    net.run_until(SEC + 500_000);
    net.set_online(5, false, SEC + 500_000);
    net.run_until(25 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    net.assert_safe();
    // Node 5's fallback slots get a skip certificate; every other slot is final at once.
    let authored_by_5 = net
        .log
        .authored
        .iter()
        .filter(|a| a.1 == 5 && a.0 > 1)
        .count();
    assert_eq!(authored_by_5, 0);
    for i in 0..5 {
        let f = finals(&net, i);
        assert!(f.len() >= 12, "node {i}: {f:?}");
        assert!(f.iter().all(|(_, lag)| *lag < SEC), "node {i}: {f:?}");
        assert!(net.finalized_slot(i) >= 22, "node {i}: {f:?}");
    }
    // Back online: it catches up from certificates and headers.
    net.set_online(5, true, 25 * SEC);
    net.run_until(30 * SEC - 1);
    net.assert_safe();
    assert!(net.finalized_slot(5) >= 27, "{:?}", finals(&net, 5));
}

fn partition_then_heal(groups: Vec<usize>) {
    let mut net = net();
    net.run_until(3 * SEC - 1);
    let before = net.log.finalized.len();
    assert_eq!(net.finalized_slot(0), 2);
    net.set_groups(Some(groups), 3 * SEC - 1);
    net.run_until(10 * SEC - 1);
    // No side has t = 5: no certificate of any kind, so nothing new is final anywhere.
    let during: Vec<_> = net.log.finalized[before..].to_vec();
    assert!(during.is_empty(), "finalized while split: {during:?}");
    net.assert_safe();
    net.set_groups(None, 10 * SEC - 1);
    net.run_until(16 * SEC - 1);
    net.assert_safe();
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 13,
            "node {i} after heal: {:?}",
            finals(&net, i)
        );
    }
}

#[test]
fn partition_3_3_stalls_without_certificates_and_resumes_after_heal() {
    partition_then_heal(vec![0, 0, 0, 1, 1, 1]);
}

#[test]
fn partition_4_2_stalls_without_certificates_and_resumes_after_heal() {
    partition_then_heal(vec![0, 0, 0, 0, 1, 1]);
}

/// A node whose outgoing votes carry a corrupted response scalar.
struct Corrupt(Box<dyn Consensus>);

impl Consensus for Corrupt {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let actions = self.0.on_event(now, event)?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                Action::Broadcast { bytes } => match decode_exact::<Wire>(&bytes) {
                    Ok(Wire::Votes(mut votes)) => {
                        for v in &mut votes {
                            // Flip a low bit of s: still a canonical scalar, wrong proof.
                            v.contribution[36] ^= 1;
                        }
                        Action::Broadcast {
                            bytes: Wire::Votes(votes).encode(),
                        }
                    }
                    _ => Action::Broadcast { bytes },
                },
                a => a,
            })
            .collect())
    }
    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        self.0.seal(now, header)
    }
    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        self.0.verify_seal(header)
    }
    fn verify_justification(&mut self, hash: &Hash, j: &[u8]) -> Result<(), PluginError> {
        self.0.verify_justification(hash, j)
    }
    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        self.0.snapshot()
    }
    fn restore(&mut self, s: &[u8]) -> Result<(), PluginError> {
        self.0.restore(s)
    }
}

#[test]
fn invalid_contributions_are_detected_and_attributed() {
    let mut nodes: Vec<Box<dyn Consensus>> = (0..5).map(boxed).collect();
    nodes.push(Box::new(Corrupt(boxed(5))));
    let mut net = SimNet::new(nodes, SEC, 50_000);
    net.run_until(13 * SEC - 1);
    net.assert_safe();
    let reports: Vec<_> = net
        .log
        .misbehaviour
        .iter()
        .filter(|m| m.2 == "ssf.vote.invalid")
        .collect();
    assert!(!reports.is_empty());
    assert!(reports.iter().all(|m| m.1 == 5), "{reports:?}");
    for i in 0..5 {
        assert!(reports.iter().any(|m| m.0 == i), "node {i} did not report");
        // The five honest votes are t: every slot still finalizes.
        assert!(
            net.finalized_slot(i) >= 11,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }
    assert!(net
        .log
        .misbehaviour
        .iter()
        .all(|m| m.1 == 5 && m.2 == "ssf.vote.invalid"));
}

#[test]
fn same_seed_same_result() {
    let run = || {
        let mut net = net();
        net.set_online(2, false, 0);
        net.run_until(4 * SEC);
        net.set_groups(Some(vec![0, 0, 0, 0, 1, 1]), 4 * SEC);
        net.run_until(7 * SEC);
        net.set_groups(None, 7 * SEC);
        net.set_online(2, true, 7 * SEC);
        net.run_until(12 * SEC);
        // Block hashes differ between runs: a block carries Safrole tickets, whose ring proofs
        // are zero-knowledge blinded with OS randomness (w3f-plonk-common). Everything else is
        // the same: who sealed and finalized which slot, when.
        let finalized: Vec<_> = net.log.finalized.iter().map(|f| (f.0, f.1, f.3)).collect();
        let authored: Vec<_> = net.log.authored.iter().map(|a| (a.0, a.1)).collect();
        (finalized, authored, net.log.misbehaviour.clone())
    };
    let a = run();
    assert!(!a.0.is_empty());
    assert_eq!(a, run());
}

#[test]
fn justifications_verify_with_headers_only_and_garbage_is_refused() {
    let mut net = net();
    net.run_until(4 * SEC - 1);
    let f = net.log.finalized.iter().find(|f| f.1 == 1).expect("final");
    let (hash, slot) = (f.2, f.3);
    let j = net
        .log
        .justifications
        .get(&hash)
        .expect("justification")
        .clone();
    // A fresh node that has seen no block but kept its key (the DKG's output, as a snapshot
    // stores it) checks the F certificate against the group key.
    let mut fresh = boxed(0);
    assert!(
        fresh.verify_justification(&hash, &j).is_err(),
        "no key yet: nothing verifies"
    );
    let snap: serde_json::Value =
        serde_json::from_slice(&net.nodes[0].snapshot().expect("snapshot")).expect("json");
    let keys_only =
        serde_json::json!({"genesis": snap["genesis"], "keys": snap["keys"], "votes": []});
    fresh
        .restore(keys_only.to_string().as_bytes())
        .expect("restore the key");
    fresh
        .verify_justification(&hash, &j)
        .expect("valid certificate");
    assert!(fresh.verify_justification(&Hash([7; 32]), &j).is_err());
    let mut bad = j.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(fresh.verify_justification(&hash, &bad).is_err());
    assert!(fresh.verify_justification(&hash, b"garbage").is_err());
    assert!(fresh.verify_justification(&hash, &[]).is_err());
    assert!(slot >= 1);
    // Applied as a sync Justification, it finalizes the block once its header is known.
    let header = net.headers.get(&hash).expect("header").clone();
    let mut chain = vec![header];
    while let Some(p) = net.headers.get(&chain[chain.len() - 1].parent) {
        chain.push(p.clone());
    }
    for h in chain.into_iter().rev() {
        fresh.verify_seal(&h).expect("seal");
        fresh
            .on_event(0, Event::BlockImported { header: h })
            .expect("import");
    }
    let out = fresh
        .on_event(0, Event::Justification { hash, bytes: j })
        .expect("justification");
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Finalize { hash: h, .. } if *h == hash)));
}

#[test]
fn an_invalid_block_is_never_finalized_and_its_slot_is_skipped() {
    let mut net = net();
    net.invalid_slots.insert(3);
    net.run_until(8 * SEC - 1);
    net.assert_safe();
    let bad: Vec<_> = net
        .log
        .authored
        .iter()
        .filter(|a| a.0 == 3)
        .map(|a| a.2)
        .collect();
    assert_eq!(bad.len(), 1);
    assert!(net.log.finalized.iter().all(|f| f.2 != bad[0] && f.3 != 3));
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 7,
            "node {i}: {:?}",
            finals(&net, i)
        );
        // Slot 4's block skips over slot 3 (K(3)) and is final within its slot.
        assert!(finals(&net, i).iter().any(|(s, lag)| *s == 4 && *lag < SEC));
    }
}

#[test]
fn an_equivocating_author_is_reported_and_one_block_at_most_is_final() {
    let mut net = net();
    net.equivocators.insert(2);
    net.run_until(13 * SEC - 1);
    net.assert_safe();
    let slots: Vec<u32> = net
        .log
        .authored
        .iter()
        .filter(|a| a.1 == 2)
        .map(|a| a.0)
        .collect();
    assert!(!slots.is_empty(), "node 2 authored nothing in 12 slots");
    assert!(net
        .log
        .misbehaviour
        .iter()
        .any(|m| m.1 == 2 && m.2 == "safrole.seal.equivocation"));
    for s in slots {
        let finals_at_s: std::collections::HashSet<_> = net
            .log
            .finalized
            .iter()
            .filter(|f| f.3 == s)
            .map(|f| f.2)
            .collect();
        assert!(finals_at_s.len() <= 1, "slot {s}: {finals_at_s:?}");
    }
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 11,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }
}

/// Two validators killed at once, eight times, and restarted as a host does (snapshot of the
/// last finalization, then the journal): their votes since that finalization come back from
/// the journal, so none signs the opposite of what it sent (no equivocation report; SKIP after
/// FINALIZE would break safety), and finality goes on.
#[test]
fn restarted_validators_keep_their_votes_and_finality_resumes() {
    let mut net = net();
    for k in 0..8u64 {
        let t = 3 * SEC + k * 770_000;
        net.run_until(t);
        for i in [(k % 6) as u16, ((k + 1) % 6) as u16] {
            net.restart(usize::from(i), boxed(i), t, true);
        }
    }
    net.run_until(16 * SEC);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 14,
            "node {i} final at slot {}",
            net.finalized_slot(i)
        );
    }
    assert_eq!(net.log.telemetry.get("consensus.ssf.recovered"), Some(&16));
}
