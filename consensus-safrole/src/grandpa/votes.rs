//! GRANDPA's vote arithmetic over a block tree: supermajority, GHOST, "possible" supermajority,
//! round estimate and completability (Stewart & Kokoris-Kogia, "GRANDPA: a Byzantine finality
//! gadget", section 3; Gray Paper 19.x takes GRANDPA as given).
//!
//! Why not `finality-grandpa`: its synchronous `Round` keeps `import_prevote`/`import_precommit`
//! crate-private (0.16.3), so only its async voter can feed it votes, and an async voter does not
//! fit the sans-IO rule. These functions are the counting part, written from the paper, over an
//! explicit tree the plugin already keeps; the round state machine sits on top.
//!
//! Definitions (n voters of weight 1, threshold t = floor(2n/3)+1):
//! - a voter *supports* B in a vote set S if it voted for B or a descendant of B, or it
//!   equivocated in S (an equivocator counts for every block: safety must hold whatever it meant);
//! - S has a *supermajority* for B if at least t voters support B;
//! - g(S) is the highest block with a supermajority (the GHOST);
//! - a supermajority for B is *possible* in a superset of S if fewer than n - t + 1 voters have
//!   voted, without equivocating, for blocks that are not B or its descendants.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diverge_plugins::{Hash, ValidatorIndex};

/// The blocks votes can target: a tree rooted at the round's base (the last finalized block).
#[derive(Debug, Clone)]
pub struct BlockTree {
    base: Hash,
    base_number: u32,
    parent: HashMap<Hash, Hash>,
    number: HashMap<Hash, u32>,
    children: HashMap<Hash, Vec<Hash>>,
    /// Tie-break keys ([`BlockTree::set_rank`]); a block without one ranks by its hash.
    rank: HashMap<Hash, Hash>,
}

/// Why a block cannot join the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Its parent is not in the tree.
    #[error("parent {parent:?} of {block:?} is unknown")]
    UnknownParent {
        /// The block.
        block: Hash,
        /// Its parent.
        parent: Hash,
    },
}

impl BlockTree {
    /// A tree holding only `base` (number `base_number`).
    pub fn new(base: Hash, base_number: u32) -> BlockTree {
        let mut number = HashMap::new();
        number.insert(base, base_number);
        BlockTree {
            base,
            base_number,
            parent: HashMap::new(),
            number,
            children: HashMap::new(),
            rank: HashMap::new(),
        }
    }

    /// Orders `block` among equally supported siblings by `key` (lower first) instead of by
    /// its hash. A block hash carries ring-proof randomness (the tickets in its digest), so
    /// two equivocating blocks would otherwise be ordered differently in every run of the same
    /// simulation; a key from what the protocol decided keeps runs replayable while every
    /// node still picks the same block.
    pub fn set_rank(&mut self, block: Hash, key: Hash) {
        self.rank.insert(block, key);
    }

    /// The tie-break key of `block` (its hash unless [`BlockTree::set_rank`] gave one).
    pub fn rank(&self, block: &Hash) -> Hash {
        self.rank.get(block).copied().unwrap_or(*block)
    }

    /// The root.
    pub fn base(&self) -> (Hash, u32) {
        (self.base, self.base_number)
    }

    /// Adds `block` under `parent`; adding a known block again is a no-op.
    pub fn insert(&mut self, block: Hash, parent: Hash) -> Result<(), TreeError> {
        if self.number.contains_key(&block) {
            return Ok(());
        }
        let Some(&pn) = self.number.get(&parent) else {
            return Err(TreeError::UnknownParent { block, parent });
        };
        self.parent.insert(block, parent);
        self.number.insert(block, pn + 1);
        let kids = self.children.entry(parent).or_default();
        kids.push(block);
        // Deterministic order, whatever the import order was.
        kids.sort();
        Ok(())
    }

    /// Whether `block` is in the tree.
    pub fn contains(&self, block: &Hash) -> bool {
        self.number.contains_key(block)
    }

    /// The block's height.
    pub fn number(&self, block: &Hash) -> Option<u32> {
        self.number.get(block).copied()
    }

    /// The parent (none for the base).
    pub fn parent(&self, block: &Hash) -> Option<Hash> {
        self.parent.get(block).copied()
    }

    /// Children in hash order.
    pub fn children(&self, block: &Hash) -> &[Hash] {
        self.children.get(block).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `a` is `b` or an ancestor of `b`.
    pub fn is_ancestor_or_equal(&self, a: &Hash, b: &Hash) -> bool {
        let (Some(na), Some(mut nb)) = (self.number(a), self.number(b)) else {
            return false;
        };
        let mut cur = *b;
        while nb > na {
            match self.parent(&cur) {
                Some(p) => {
                    cur = p;
                    nb -= 1;
                }
                None => return false,
            }
        }
        cur == *a
    }

    /// `block` and its ancestors down to the base, highest first.
    fn path_to_base(&self, block: &Hash) -> Vec<Hash> {
        let mut out = Vec::new();
        let mut cur = *block;
        if !self.contains(&cur) {
            return out;
        }
        loop {
            out.push(cur);
            match self.parent(&cur) {
                Some(p) => cur = p,
                None => break,
            }
        }
        out
    }
}

/// The votes of one kind (prevotes or precommits) in one round, with support counts kept up to
/// date as votes arrive (recounting per vote would be quadratic in the voter count: measured
/// 2.2 s per round at 1023 voters before, see `benches/grandpa.rs`).
#[derive(Debug, Clone, Default)]
pub struct VoteSet {
    votes: BTreeMap<ValidatorIndex, Vec<Hash>>,
    /// Non-equivocating voters supporting each block (voted for it or a descendant).
    honest_support: HashMap<Hash, usize>,
    honest: usize,
    equivocators: usize,
}

/// What adding a vote did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A first vote from this voter.
    New,
    /// The same vote again.
    Duplicate,
    /// A second, different vote: the voter equivocated; `first` is its earlier target.
    Equivocation {
        /// The vote it contradicts.
        first: Hash,
    },
}

impl VoteSet {
    /// Records `voter`'s vote for `target` (which should be in `tree`; a vote for an unknown
    /// block supports nothing). Only the first two distinct targets are kept: two are enough to
    /// prove equivocation and to count the voter everywhere.
    pub fn add(&mut self, tree: &BlockTree, voter: ValidatorIndex, target: Hash) -> Added {
        let entry = self.votes.entry(voter).or_default();
        if entry.contains(&target) {
            return Added::Duplicate;
        }
        if entry.len() >= 2 {
            // Already an equivocator, already counted everywhere.
            return Added::Equivocation { first: entry[0] };
        }
        entry.push(target);
        if entry.len() == 1 {
            self.honest += 1;
            for b in tree.path_to_base(&target) {
                *self.honest_support.entry(b).or_default() += 1;
            }
            Added::New
        } else {
            let first = entry[0];
            self.honest -= 1;
            self.equivocators += 1;
            for b in tree.path_to_base(&first) {
                if let Some(c) = self.honest_support.get_mut(&b) {
                    *c = c.saturating_sub(1);
                }
            }
            Added::Equivocation { first }
        }
    }

    /// Recounts support after the tree changed shape (re-rooting at a new final block).
    pub fn recount(&mut self, tree: &BlockTree) {
        self.honest_support.clear();
        for targets in self.votes.values() {
            if let [one] = targets.as_slice() {
                for b in tree.path_to_base(one) {
                    *self.honest_support.entry(b).or_default() += 1;
                }
            }
        }
    }

    /// Voters that voted at all.
    pub fn participants(&self) -> usize {
        self.votes.len()
    }

    /// Voters with two different votes.
    pub fn equivocators(&self) -> BTreeSet<ValidatorIndex> {
        self.votes
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(i, _)| *i)
            .collect()
    }

    /// The single vote of a voter that did not equivocate.
    pub fn vote_of(&self, voter: ValidatorIndex) -> Option<Hash> {
        match self.votes.get(&voter).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        }
    }

    /// Voters supporting `block`: its honest supporters plus every equivocator.
    pub fn support_of(&self, block: &Hash) -> usize {
        self.honest_support.get(block).copied().unwrap_or(0) + self.equivocators
    }

    /// Support of every block of `tree` (see the module docs).
    pub fn support(&self, tree: &BlockTree) -> HashMap<Hash, usize> {
        tree.number
            .keys()
            .map(|b| (*b, self.support_of(b)))
            .collect()
    }

    /// g(S): the highest block with at least `threshold` support, descending from the base
    /// through the best-supported child (ties by [`BlockTree::rank`], so every node picks the
    /// same).
    pub fn ghost(&self, tree: &BlockTree, threshold: usize) -> Option<Hash> {
        let (base, _) = tree.base();
        if self.support_of(&base) < threshold {
            return None;
        }
        let mut cur = base;
        loop {
            let next = tree
                .children(&cur)
                .iter()
                .filter(|c| self.support_of(c) >= threshold)
                .max_by(|a, b| {
                    self.support_of(a)
                        .cmp(&self.support_of(b))
                        .then(tree.rank(b).cmp(&tree.rank(a)))
                });
            match next {
                Some(c) => cur = *c,
                None => return Some(cur),
            }
        }
    }

    /// Whether some superset of these votes could reach `threshold` support for `block`, with
    /// `voters` voters in all: fewer than `voters - threshold + 1` voters voted, without
    /// equivocating, for blocks not at or above `block`.
    pub fn possible(
        &self,
        tree: &BlockTree,
        block: &Hash,
        voters: usize,
        threshold: usize,
    ) -> bool {
        let _ = tree;
        let against = self.honest
            - self
                .honest_support
                .get(block)
                .copied()
                .unwrap_or(0)
                .min(self.honest);
        voters - against.min(voters) >= threshold
    }
}

/// A round's derived state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundView {
    /// g(prevotes).
    pub prevote_ghost: Option<Hash>,
    /// E_r: the highest ancestor-or-equal of the prevote GHOST that precommits could still
    /// give a supermajority.
    pub estimate: Option<Hash>,
    /// g(precommits): finalized by this round.
    pub finalized: Option<Hash>,
    /// Whether the round can be closed: its estimate can no longer move up.
    pub completable: bool,
}

/// Derives the round view from its prevotes and precommits.
pub fn round_view(
    tree: &BlockTree,
    prevotes: &VoteSet,
    precommits: &VoteSet,
    voters: usize,
    threshold: usize,
) -> RoundView {
    let prevote_ghost = prevotes.ghost(tree, threshold);
    let finalized = precommits.ghost(tree, threshold);
    let Some(g) = prevote_ghost else {
        return RoundView {
            prevote_ghost,
            estimate: None,
            finalized,
            completable: false,
        };
    };
    // Walk down from g until precommits could still reach a supermajority.
    let mut estimate = None;
    let mut cur = Some(g);
    while let Some(b) = cur {
        if precommits.possible(tree, &b, voters, threshold) {
            estimate = Some(b);
            break;
        }
        cur = tree.parent(&b);
    }
    let completable = precommits.participants() >= threshold
        && match estimate {
            Some(e) if e != g => true,
            // E_r = g: complete once no child of g can still get a supermajority.
            Some(_) => tree
                .children(&g)
                .iter()
                .all(|c| !precommits.possible(tree, c, voters, threshold)),
            None => false,
        };
    RoundView {
        prevote_ghost,
        estimate,
        finalized,
        completable,
    }
}

/// floor(2n/3) + 1: more than two thirds of `voters`.
pub fn threshold(voters: usize) -> usize {
    2 * voters / 3 + 1
}
