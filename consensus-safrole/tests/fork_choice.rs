//! GP 19.4 fork choice: most ticket-sealed blocks wins among acceptable blocks.

use consensus_safrole::fork_choice::ForkChoice;
use diverge_plugins::{blake2b_256, Hash};
use proptest::prelude::*;

fn h(name: &str) -> Hash {
    blake2b_256(name.as_bytes())
}

fn add(fc: &mut ForkChoice, b: &str, p: &str, slot: u32, ticketed: bool) {
    let parent = if p == "g" { h("g") } else { h(p) };
    fc.insert(h(b), parent, slot, ticketed).expect("insert");
    fc.set_audited(&h(b), true);
}

#[test]
fn more_ticketed_blocks_beat_a_longer_fallback_chain() {
    let mut fc = ForkChoice::new(h("g"));
    add(&mut fc, "a1", "g", 1, true);
    add(&mut fc, "a2", "a1", 2, true);
    // A longer branch sealed by fallback keys.
    add(&mut fc, "b1", "g", 3, false);
    add(&mut fc, "b2", "b1", 4, false);
    add(&mut fc, "b3", "b2", 5, true);
    assert_eq!(fc.best(), h("a2"));
    assert_eq!(fc.score(&h("a2")), Some(2));
    assert_eq!(fc.score(&h("b3")), Some(1));
}

#[test]
fn unaudited_blocks_are_not_best() {
    let mut fc = ForkChoice::new(h("g"));
    add(&mut fc, "a1", "g", 1, true);
    fc.insert(h("a2"), h("a1"), 2, true).expect("insert");
    assert_eq!(fc.best(), h("a1"));
    fc.set_audited(&h("a2"), true);
    assert_eq!(fc.best(), h("a2"));
    fc.set_audited(&h("a2"), false);
    assert_eq!(fc.best(), h("a1"));
}

#[test]
fn an_equivocated_slot_disqualifies_both_blocks_and_their_descendants() {
    let mut fc = ForkChoice::new(h("g"));
    add(&mut fc, "a1", "g", 1, true);
    add(&mut fc, "x", "a1", 2, true);
    add(&mut fc, "y", "a1", 2, true);
    add(&mut fc, "x3", "x", 3, true);
    assert_eq!(fc.equivocated_slots(), vec![2]);
    assert_eq!(fc.best(), h("a1"));
}

#[test]
fn only_descendants_of_the_finalized_block_count() {
    let mut fc = ForkChoice::new(h("g"));
    add(&mut fc, "a1", "g", 1, true);
    add(&mut fc, "a2", "a1", 2, true);
    add(&mut fc, "a3", "a2", 3, true);
    add(&mut fc, "b2", "a1", 4, false);
    fc.set_finalized(h("b2"));
    assert_eq!(fc.best(), h("b2"));
    add(&mut fc, "b3", "b2", 5, false);
    assert_eq!(fc.best(), h("b3"));
    assert!(!fc.acceptable(&h("a3")));
}

#[test]
fn unknown_parent_and_time_travel_are_errors() {
    let mut fc = ForkChoice::new(h("g"));
    assert!(fc.insert(h("z"), h("nope"), 1, true).is_err());
    add(&mut fc, "a1", "g", 5, true);
    assert!(fc.insert(h("a2"), h("a1"), 5, true).is_err());
}

proptest! {
    /// The best block is acceptable, descends from the finalized block, and no acceptable block
    /// has more ticket-sealed ancestors.
    #[test]
    fn best_is_acceptable_and_maximal(
        spec in proptest::collection::vec((any::<usize>(), any::<bool>(), any::<bool>(), 0u32..3), 1..40),
        final_pick in any::<usize>(),
    ) {
        let mut fc = ForkChoice::new(h("g"));
        let mut blocks = vec![(h("g"), 0u32)];
        for (i, (parent, ticketed, audited, gap)) in spec.iter().enumerate() {
            let (p, pslot) = blocks[parent % blocks.len()];
            let b = h(&format!("b{i}"));
            let slot = pslot + 1 + gap;
            fc.insert(b, p, slot, *ticketed).expect("insert");
            fc.set_audited(&b, *audited);
            blocks.push((b, slot));
        }
        let (f, _) = blocks[final_pick % blocks.len()];
        if fc.acceptable(&f) {
            fc.set_finalized(f);
        }
        let best = fc.best();
        prop_assert!(best == fc.finalized() || fc.acceptable(&best));
        let best_score = fc.score(&best).expect("known");
        for (b, _) in &blocks {
            if fc.acceptable(b) {
                prop_assert!(fc.score(b).expect("known") <= best_score);
            }
        }
    }
}
