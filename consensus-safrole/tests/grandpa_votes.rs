//! GRANDPA vote arithmetic: worked examples from the paper's definitions, and the safety lemma
//! as a property test.

use consensus_safrole::grandpa::votes::{round_view, threshold, Added, BlockTree, VoteSet};
use diverge_plugins::Hash;
use proptest::prelude::*;

fn h(i: u32) -> Hash {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&i.to_le_bytes());
    b[4] = 0xaa;
    Hash(b)
}

/// A chain base=h(0) <- h(1) <- ... <- h(len).
fn chain(len: u32) -> BlockTree {
    let mut t = BlockTree::new(h(0), 0);
    for i in 1..=len {
        t.insert(h(i), h(i - 1)).expect("parent known");
    }
    t
}

#[test]
fn threshold_is_more_than_two_thirds() {
    assert_eq!(threshold(6), 5);
    assert_eq!(threshold(4), 3);
    assert_eq!(threshold(1023), 683);
    assert_eq!(threshold(7), 5);
}

#[test]
fn ghost_is_highest_block_five_of_six_support() {
    // Voters' best blocks 20, 17, 14, 11, 8, 5: five of six support block 8.
    let t = chain(20);
    let mut s = VoteSet::default();
    for (v, height) in [20u32, 17, 14, 11, 8, 5].into_iter().enumerate() {
        assert_eq!(s.add(&t, v as u16, h(height)), Added::New);
    }
    assert_eq!(s.ghost(&t, 5), Some(h(8)));
    assert_eq!(s.ghost(&t, 6), Some(h(5)));
}

#[test]
fn split_votes_stop_at_the_fork() {
    let mut t = chain(3);
    t.insert(h(100), h(3)).expect("fork a");
    t.insert(h(200), h(3)).expect("fork b");
    let mut s = VoteSet::default();
    for v in 0..3 {
        s.add(&t, v, h(100));
    }
    for v in 3..6 {
        s.add(&t, v, h(200));
    }
    assert_eq!(s.ghost(&t, 5), Some(h(3)));
}

#[test]
fn an_equivocator_counts_for_every_block_and_is_reported() {
    let mut t = chain(3);
    t.insert(h(100), h(3)).expect("fork");
    let mut s = VoteSet::default();
    for v in 0..4 {
        s.add(&t, v, h(3));
    }
    assert_eq!(s.add(&t, 4, h(3)), Added::New);
    assert_eq!(s.add(&t, 4, h(3)), Added::Duplicate);
    assert_eq!(s.add(&t, 4, h(100)), Added::Equivocation { first: h(3) });
    assert_eq!(s.equivocators().into_iter().collect::<Vec<_>>(), vec![4]);
    // 4 honest + 1 equivocator = 5 support h(3); h(100) has only the equivocator.
    assert_eq!(s.ghost(&t, 5), Some(h(3)));
}

#[test]
fn no_ghost_without_a_supermajority_of_participants() {
    let t = chain(5);
    let mut s = VoteSet::default();
    for v in 0..4 {
        s.add(&t, v, h(5));
    }
    assert_eq!(s.ghost(&t, 5), None);
}

#[test]
fn round_completes_and_finalizes() {
    let t = chain(4);
    let mut pv = VoteSet::default();
    let mut pc = VoteSet::default();
    for v in 0..6 {
        pv.add(&t, v, h(4));
    }
    for v in 0..5 {
        pc.add(&t, v, h(4));
    }
    let view = round_view(&t, &pv, &pc, 6, 5);
    assert_eq!(view.prevote_ghost, Some(h(4)));
    assert_eq!(view.finalized, Some(h(4)));
    assert_eq!(view.estimate, Some(h(4)));
    assert!(view.completable);
}

#[test]
fn estimate_drops_below_ghost_when_precommits_rule_it_out() {
    let t = chain(4);
    let mut pv = VoteSet::default();
    let mut pc = VoteSet::default();
    for v in 0..6 {
        pv.add(&t, v, h(4));
    }
    for v in 0..3 {
        pc.add(&t, v, h(4));
    }
    for v in 3..5 {
        pc.add(&t, v, h(3));
    }
    let view = round_view(&t, &pv, &pc, 6, 5);
    // Two voters precommitted below h(4): at most 4 can support it, so E_r = h(3) < g.
    assert_eq!(view.estimate, Some(h(3)));
    assert!(view.completable);
    assert_eq!(view.finalized, Some(h(3)));
}

#[test]
fn a_round_is_not_completable_while_the_ghost_may_still_rise() {
    let mut t = chain(2);
    t.insert(h(3), h(2)).expect("child");
    let mut pv = VoteSet::default();
    let mut pc = VoteSet::default();
    for v in 0..5 {
        pv.add(&t, v, h(2));
    }
    pv.add(&t, 5, h(3));
    for v in 0..5 {
        pc.add(&t, v, h(2));
    }
    // g = h(2); a child h(3) could still reach 5 only if the 5 precommitters hadn't voted lower:
    // they did, so the round is completable.
    assert!(round_view(&t, &pv, &pc, 6, 5).completable);
    // With only 5 precommits of which 3 for h(2)... not enough participation yet for others:
    let mut few = VoteSet::default();
    for v in 0..4 {
        few.add(&t, v, h(2));
    }
    assert!(!round_view(&t, &pv, &few, 6, 5).completable);
}

#[test]
fn unknown_parent_is_an_error() {
    let mut t = chain(1);
    assert!(t.insert(h(9), h(8)).is_err());
}

/// A random tree of `len` blocks: block i's parent is a pseudo-random earlier block.
fn random_tree(parents: &[usize]) -> BlockTree {
    let mut t = BlockTree::new(h(0), 0);
    for (i, p) in parents.iter().enumerate() {
        let id = i as u32 + 1;
        t.insert(h(id), h((*p % (i + 1)) as u32))
            .expect("parent exists");
    }
    t
}

proptest! {
    /// GRANDPA's safety lemma: two vote sets over the same honest votes, plus at most f
    /// byzantine voters that may vote differently in each, have GHOSTs on one chain.
    #[test]
    fn ghosts_of_overlapping_sets_are_on_one_chain(
        // Small trees, so that random votes pile up on competing forks often enough for the
        // property to bite (checked: with threshold 5 instead of 7 it finds conflicts).
        parents in proptest::collection::vec(any::<usize>(), 1..8),
        honest in proptest::collection::vec(any::<usize>(), 7),
        byz_a in any::<usize>(),
        byz_b in any::<usize>(),
        drop_a in proptest::collection::vec(any::<bool>(), 7),
        drop_b in proptest::collection::vec(any::<bool>(), 7),
    ) {
        // n = 10, f = 3, t = 7.
        let t = random_tree(&parents);
        let blocks = parents.len() + 1;
        let (mut a, mut b) = (VoteSet::default(), VoteSet::default());
        for (v, target) in honest.iter().enumerate() {
            if !drop_a[v] { a.add(&t, v as u16, h((target % blocks) as u32)); }
            if !drop_b[v] { b.add(&t, v as u16, h((target % blocks) as u32)); }
        }
        // The f byzantine voters collude: all for one block in a, all for another in b.
        for i in 0..3u16 {
            a.add(&t, 7 + i, h((byz_a % blocks) as u32));
            b.add(&t, 7 + i, h((byz_b % blocks) as u32));
        }
        if let (Some(ga), Some(gb)) = (a.ghost(&t, threshold(10)), b.ghost(&t, threshold(10))) {
            prop_assert!(t.is_ancestor_or_equal(&ga, &gb) || t.is_ancestor_or_equal(&gb, &ga),
                "GHOSTs {ga:?} and {gb:?} conflict");
        }
    }

    /// Adding votes never moves the GHOST to another branch, and it always has t supporters.
    #[test]
    fn ghost_is_monotone_under_more_votes(
        parents in proptest::collection::vec(any::<usize>(), 1..30),
        targets in proptest::collection::vec(any::<usize>(), 10),
        split in 0usize..10,
    ) {
        let t = random_tree(&parents);
        let blocks = parents.len() + 1;
        let (mut small, mut big) = (VoteSet::default(), VoteSet::default());
        for (v, target) in targets.iter().enumerate() {
            let b = h((target % blocks) as u32);
            if v < split { small.add(&t, v as u16, b); }
            big.add(&t, v as u16, b);
        }
        if let Some(gs) = small.ghost(&t, threshold(10)) {
            let gb = big.ghost(&t, threshold(10)).expect("superset keeps a GHOST");
            prop_assert!(t.is_ancestor_or_equal(&gs, &gb));
        }
        if let Some(g) = big.ghost(&t, threshold(10)) {
            prop_assert!(big.support(&t).get(&g).copied().unwrap_or(0) >= threshold(10));
        }
    }
}
