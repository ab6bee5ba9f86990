//! Anonymous Safrole authorship under SSF: validators prove and gossip ring-VRF tickets in
//! epoch e's submission window, blocks carry them, and from epoch 1 on every slot is sealed
//! by a ticket (its author unknown until it seals) and still final within the slot.

mod common;

use common::{boxed, SEC};
use diverge_plugins::simnet::SimNet;
use diverge_plugins::Event;

#[test]
fn from_epoch_one_every_slot_is_ticket_sealed_and_final() {
    let mut net = SimNet::new((0..6).map(boxed).collect(), SEC, 50_000);
    // E = 12: epoch 0 is slots 1..=11, epoch 1 12..=23, epoch 2 24..=35.
    net.run_until(36 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(net.log.rejected.is_empty(), "{:?}", net.log.rejected);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    net.assert_safe();
    let tickets_made = net.log.telemetry.get("consensus.ssf.ticket").copied();
    assert!(tickets_made >= Some(18), "{:?}", net.log.telemetry);
    assert_eq!(
        net.log.telemetry.get("consensus.ssf.bad_ticket"),
        None,
        "{:?}",
        net.log.telemetry
    );
    // Every slot has one block, final at every node within its slot.
    assert_eq!(net.log.authored.len(), 35, "{:?}", net.log.authored);
    for i in 0..6 {
        let slots: Vec<u32> = net
            .log
            .finalized
            .iter()
            .filter(|f| f.1 == i)
            .map(|f| f.3)
            .collect();
        assert_eq!(slots, (1..=35).collect::<Vec<_>>(), "node {i}");
        assert!(net
            .log
            .finalized
            .iter()
            .filter(|f| f.1 == i)
            .all(|f| f.0 - u64::from(f.3) * SEC < SEC));
    }
    // The seal kind, as a fresh node replaying the chain checks it: fallback in epoch 0 (no
    // tickets yet), a ticket from epoch 1 on.
    let mut replay = boxed(0);
    let mut authored = net.log.authored.clone();
    authored.sort_unstable();
    for (slot, author, hash) in authored {
        let header = net.headers[&hash].clone();
        let info = replay.verify_seal(&header).expect("seal checks");
        assert_eq!(info.ticketed, slot >= 12, "slot {slot} by {author}");
        replay
            .on_event(0, Event::BlockImported { header })
            .expect("imports");
    }
    let mut ticketed = net.log.ticketed.clone();
    ticketed.sort_unstable();
    assert_eq!(ticketed, (12..=35).collect::<Vec<_>>());
}

/// A validator restarted in epoch 3 still seals the slots its tickets (proven in epoch 2, under
/// another entropy than epoch 3's) won: its own tickets come back from the snapshot, since the
/// host does not replay the finalized blocks through the plugin. (In epoch 1 the entropy is
/// still genesis's, the same as epoch 0's, so a restarted node would re-prove the same
/// tickets; epoch 3 is the first where nothing but the snapshot can bring them back.)
#[test]
fn a_restarted_validator_still_seals_its_ticket_slots() {
    let mut reference = SimNet::new((0..6).map(boxed).collect(), SEC, 50_000);
    reference.run_until(48 * SEC - 1);
    let author_of = |slot: u32| {
        reference
            .log
            .authored
            .iter()
            .find(|a| a.0 == slot)
            .map(|a| a.1)
    };
    // One that authors a ticket slot of epoch 3 after the restart, and none during it.
    let victim = (0..6usize)
        .find(|v| {
            author_of(39) != Some(*v)
                && author_of(40) != Some(*v)
                && (41..48).any(|s| author_of(s) == Some(*v))
        })
        .expect("some validator authors in 41..48 only");
    let mut net = SimNet::new((0..6).map(boxed).collect(), SEC, 50_000);
    net.run_until(39 * SEC + SEC / 2);
    net.restart(victim, boxed(victim as u16), 39 * SEC + SEC / 2, true);
    net.run_until(48 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    net.assert_safe();
    let mut slots: Vec<u32> = net.log.authored.iter().map(|a| a.0).collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots, (1..48).collect::<Vec<_>>(), "victim {victim}");
    let mut ticketed = net.log.ticketed.clone();
    ticketed.sort_unstable();
    assert_eq!(ticketed, (12..48).collect::<Vec<_>>());
}
