//! The whole plugin (Safrole or lottery sealing, tickets, fork choice, GRANDPA) on six nodes in
//! virtual time: what a chain run through the host relies on.

use consensus_safrole::engine::SafroleConsensus;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{ChainParams, Consensus, Header, InitArgs, ValidatorSecret};

const SEC: u64 = 1_000_000;

fn args(i: u16, params: &str) -> InitArgs {
    InitArgs {
        chain: ChainParams {
            slot_ms: 1000,
            ..ChainParams::tiny()
        },
        params_json: params.to_string(),
        validators: diverge_keys::dev_validators(6),
        identity: Some(ValidatorSecret {
            index: i,
            seed: diverge_keys::dev_seed(u32::from(i)),
        }),
        genesis: Vec::new(),
    }
}

fn net(params: &str) -> SimNet {
    let nodes: Vec<Box<dyn Consensus>> = (0..6)
        .map(|i| Box::new(SafroleConsensus::new(&args(i, params)).expect("engine")) as _)
        .collect();
    SimNet::new(nodes, SEC, 50_000)
}

const SAFROLE: &str = r#"{"sealing": "safrole", "gossip_ms": 100}"#;
const LOTTERY: &str = r#"{"sealing": "lottery", "gossip_ms": 100}"#;

#[test]
fn safrole_chain_seals_with_tickets_from_epoch_one_and_finalizes_every_slot() {
    let mut net = net(SAFROLE);
    // Three 12-slot epochs: epoch 0 by fallback keys, epochs 1 and 2 by tickets gossiped and
    // included during the epoch before.
    net.run_until(37 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(net.log.rejected.is_empty(), "{:?}", net.log.rejected);
    // One author per slot, every slot.
    assert_eq!(net.log.authored.len(), 36, "{:?}", net.log.authored);
    assert_eq!(net.multi_author_slots(), 0);
    let ticketed: Vec<u32> = net.log.ticketed.clone();
    assert!(
        (12..=36).all(|s| ticketed.contains(&s)),
        "slots 12..=36 (epochs 1 and 2) should be ticket-sealed, ticketed: {ticketed:?}"
    );
    assert!(
        ticketed.iter().all(|s| *s >= 12),
        "epoch 0 (slots 1..=11) has no tickets"
    );
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 34,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
    // Finality latency: every block of slots 2..=34 is final at node 0 within 1 s of its slot.
    let mut lag = Vec::new();
    for (t, who, _, slot) in &net.log.finalized {
        if *who == 0 {
            lag.push(t - u64::from(*slot) * SEC);
        }
    }
    assert!(lag.iter().all(|l| *l < SEC), "{lag:?}");
}

#[test]
fn two_offline_stall_finality_safely_then_recover() {
    let mut net = net(SAFROLE);
    net.run_until(4 * SEC);
    net.set_online(4, false, 4 * SEC);
    net.set_online(5, false, 4 * SEC);
    net.run_until(12 * SEC);
    let stalled: Vec<u32> = (0..4).map(|i| net.finalized_slot(i)).collect();
    net.run_until(16 * SEC);
    let still: Vec<u32> = (0..4).map(|i| net.finalized_slot(i)).collect();
    assert_eq!(stalled, still, "4 of 6 is below the 5-vote threshold");
    net.set_online(5, true, 16 * SEC);
    net.run_until(24 * SEC);
    net.assert_safe();
    for i in [0, 1, 2, 3, 5] {
        assert!(
            net.finalized_slot(i) >= 20,
            "node {i}: {}",
            net.finalized_slot(i)
        );
    }
}

#[test]
fn a_block_that_fails_validation_is_never_finalized_and_its_slot_is_routed_around() {
    let mut net = net(SAFROLE);
    net.invalid_slots.insert(5);
    net.run_until(12 * SEC);
    net.assert_safe();
    let bad = net
        .log
        .authored
        .iter()
        .find(|a| a.0 == 5)
        .map(|a| a.2)
        .expect("slot 5 authored");
    assert!(net.log.finalized.iter().all(|f| f.2 != bad));
    // Later blocks build on slot 4's block, not the invalid one, and become final.
    assert!(net.finalized_slot(0) >= 9);
    for (_, _, h) in net.log.authored.iter().filter(|a| a.0 > 5) {
        assert!(!net.is_ancestor(&bad, h), "built on the invalid block");
    }
}

#[test]
fn an_equivocating_author_is_reported_by_every_honest_node() {
    let mut net = net(SAFROLE);
    net.equivocators.insert(2);
    net.run_until(13 * SEC);
    net.assert_safe();
    let reporters: std::collections::HashSet<usize> = net
        .log
        .misbehaviour
        .iter()
        .filter(|m| m.1 == 2 && m.2 == "safrole.seal.equivocation")
        .map(|m| m.0)
        .collect();
    assert!(reporters.len() >= 5, "{:?}", net.log.misbehaviour);
}

#[test]
fn lottery_sealing_gives_empty_and_contended_slots_yet_stays_safe_and_final() {
    let mut net = net(LOTTERY);
    net.run_until(41 * SEC);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    let slots: std::collections::HashSet<u32> = net.log.authored.iter().map(|a| a.0).collect();
    // c = 0.5: about half the slots have an author, and some have several (forks).
    assert!(slots.len() < 36, "no empty slot in 40: {}", slots.len());
    assert!(net.multi_author_slots() >= 1, "no contended slot in 40");
    assert!(net.log.ticketed.is_empty());
    net.assert_safe();
    assert!(net.finalized_slot(0) >= 30, "{}", net.finalized_slot(0));
}

#[test]
fn same_inputs_give_the_same_history() {
    // Ring proofs are blinded with fresh randomness (zero knowledge), so a block carrying tickets
    // has a new hash each run; who seals which slot, which tickets win and when each node
    // finalizes what are fixed by the keys and the schedule.
    let run = || {
        let mut n = net(SAFROLE);
        n.run_until(15 * SEC);
        let authored: Vec<(u32, usize)> = n.log.authored.iter().map(|a| (a.0, a.1)).collect();
        let finalized: Vec<(u64, usize, u32)> =
            n.log.finalized.iter().map(|f| (f.0, f.1, f.3)).collect();
        (authored, finalized, n.log.ticketed.clone())
    };
    assert_eq!(run(), run());
}

#[test]
fn forged_and_garbage_headers_are_rejected_not_panics() {
    let mut c = SafroleConsensus::new(&args(0, SAFROLE)).expect("engine");
    let mut net = net(SAFROLE);
    net.run_until(2 * SEC);
    let (_, _, h) = net.log.authored[0];
    let good: Header = net.headers[&h].clone();
    assert!(c.verify_seal(&good).is_ok());
    let mut flipped = good.clone();
    flipped.seal[40] ^= 1;
    assert!(c.verify_seal(&flipped).is_err());
    let mut other_author = good.clone();
    other_author.author = (good.author + 1) % 6;
    assert!(c.verify_seal(&other_author).is_err());
    let mut payload = good.clone();
    payload.payload_hash.0[0] ^= 1;
    assert!(
        c.verify_seal(&payload).is_err(),
        "seal covers the payload hash"
    );
    let mut junk = good.clone();
    junk.digest = vec![1, 2, 3];
    assert!(c.verify_seal(&junk).is_err());
    assert!(c
        .on_event(
            0,
            diverge_plugins::Event::Message {
                from: 1,
                bytes: vec![0xff; 7]
            }
        )
        .is_err());
}

#[test]
fn snapshot_restores_into_a_fresh_engine_that_keeps_following() {
    let mut net = net(SAFROLE);
    net.run_until(10 * SEC);
    let snap = net.nodes[3].snapshot().expect("snapshot");
    let mut fresh: Box<dyn Consensus> =
        Box::new(SafroleConsensus::new(&args(3, SAFROLE)).expect("engine"));
    fresh.restore(&snap).expect("restore");
    assert_eq!(fresh.snapshot().expect("again"), snap);
    net.nodes[3] = fresh;
    net.run_until(20 * SEC);
    net.assert_safe();
    assert!(net.finalized_slot(3) >= 17, "{}", net.finalized_slot(3));
    let mut wrong = SafroleConsensus::new(&InitArgs {
        genesis: diverge_plugins::codec::Encode::encode(&Header {
            slot: 9,
            ..Header::default()
        }),
        ..args(3, SAFROLE)
    })
    .expect("engine");
    assert!(wrong.restore(&snap).is_err(), "another chain's snapshot");
    assert!(wrong.restore(b"{").is_err());
}

/// Kills two validators at once, again and again, each time just after some vote went out,
/// and restarts them as a host would: the snapshot of their last finalization, then their
/// journal. With the journal they never sign a second, different vote for a round and step
/// (nobody reports them), and finality goes on once they are back.
fn restart_loop(journal: bool) -> SimNet {
    let mut net = net(SAFROLE);
    for k in 0..8u64 {
        let t = 3 * SEC + k * 770_000;
        net.run_until(t);
        for i in [(k % 6) as u16, ((k + 1) % 6) as u16] {
            let fresh = Box::new(SafroleConsensus::new(&args(i, SAFROLE)).expect("engine"));
            net.restart(usize::from(i), fresh, t, journal);
        }
    }
    net.run_until(16 * SEC);
    net
}

#[test]
fn restarted_voters_keep_their_votes_and_finality_resumes() {
    let net = restart_loop(true);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(
        net.log.misbehaviour.is_empty(),
        "a restarted voter signed a second vote: {:?}",
        net.log.misbehaviour
    );
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 13,
            "node {i} final at slot {}",
            net.finalized_slot(i)
        );
    }
    // Every one of the 16 restarts found its votes.
    assert_eq!(
        net.log.telemetry.get("consensus.grandpa.recovered"),
        Some(&16)
    );
}

/// The negative control: the same restarts without the journal. The restarted voters sign
/// fresh votes in rounds they had already voted in, and their peers report them.
#[test]
fn without_the_journal_restarted_voters_equivocate() {
    let net = restart_loop(false);
    let equivocators: std::collections::BTreeSet<u16> = net
        .log
        .misbehaviour
        .iter()
        .map(|(_, who, _)| *who)
        .collect();
    assert!(
        equivocators.len() >= 3,
        "expected restarted voters to be reported: {:?}",
        net.log.misbehaviour
    );
    net.assert_safe();
}

/// A ticket proven one epoch ahead of the receiver (under what is the receiver's eta_1, the
/// maker's eta_2) is honest: it is accepted and kept for the next epoch, not counted as bad. A
/// ticket under neither entropy still is.
#[test]
fn a_ticket_from_a_peer_one_epoch_ahead_is_accepted_for_the_next_epoch() {
    use consensus_safrole::safrole::tickets::make_ticket;
    use consensus_safrole::wire::{Wire, WireTicket};
    use diverge_plugins::codec::Encode;
    use diverge_plugins::{Action, Event};

    // Run into epoch 1 (slots 12..24), where eta_1 and eta_2 differ.
    let mut net = net(SAFROLE);
    net.run_until(14 * SEC);
    let mut node = SafroleConsensus::new(&args(0, SAFROLE)).expect("engine");
    for &(_, _, h) in &net.log.authored {
        let header = net.headers[&h].clone();
        node.on_event(0, Event::BlockImported { header })
            .expect("import");
        node.on_event(0, Event::BlockAvailable { hash: h })
            .expect("available");
        node.on_event(
            0,
            Event::BlockValidated {
                hash: h,
                valid: true,
            },
        )
        .expect("valid");
    }
    let state = node.state_of(&node.best()).expect("best state").clone();
    assert_eq!(state.tau / 12, 1, "in epoch 1 at slot {}", state.tau);
    assert_ne!(state.eta[1], state.eta[2]);
    let ring = consensus_safrole::srs::ring_context(6).expect("ring");
    let ring_keys: Vec<_> = state.gamma_k.iter().map(|k| k.bandersnatch).collect();
    let maker = consensus_safrole::keys::secrets(&diverge_keys::dev_seed(3));
    let send = |node: &mut SafroleConsensus, eta, attempt: u8| -> Vec<String> {
        let (_, signature) =
            make_ticket(&ring, &ring_keys, 3, &maker.bandersnatch, &eta, attempt).expect("prove");
        let bytes = Wire::Ticket(WireTicket { attempt, signature }).encode();
        node.on_event(0, Event::Message { from: 3, bytes })
            .expect("handled")
            .into_iter()
            .filter_map(|a| match a {
                Action::Telemetry { name, fields_json } => Some(format!("{name} {fields_json}")),
                _ => None,
            })
            .collect()
    };
    let ahead = send(&mut node, state.eta[1], 0);
    assert!(
        ahead
            .iter()
            .any(|t| t.contains("ticket_verified") && t.contains("\"next_epoch\":true")),
        "{ahead:?}"
    );
    let current = send(&mut node, state.eta[2], 1);
    assert!(
        current
            .iter()
            .any(|t| t.contains("ticket_verified") && t.contains("\"next_epoch\":false")),
        "{current:?}"
    );
    // Not an entropy of this chain (in epoch 1, eta_3 still equals eta_2: both genesis's).
    let mut other = state.eta[1];
    other.0[0] ^= 1;
    let stale = send(&mut node, other, 2);
    assert!(stale.iter().any(|t| t.contains("bad_ticket")), "{stale:?}");
}
