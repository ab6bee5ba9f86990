//! Best-block selection (Gray Paper 19.1-19.4): among *acceptable* blocks (descending from the
//! finalized block, audited together with every unfinalized ancestor, and with no unfinalized
//! ancestor at a slot where two valid blocks exist), the best is the one with the most
//! ticket-sealed blocks on its chain. Fallback-sealed blocks count 0, so a chain the anonymous
//! ticket holders built outweighs a longer one built by the predictable fallback keys.

use std::collections::{HashMap, HashSet};

use diverge_plugins::{Hash, Slot};

/// Why a block cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkChoiceError {
    /// Its parent is unknown.
    #[error("parent {parent:?} of {block:?} is unknown")]
    UnknownParent {
        /// The block.
        block: Hash,
        /// Its parent.
        parent: Hash,
    },
    /// A block must come after its parent in time.
    #[error("block {block:?} at slot {slot} does not follow its parent's slot {parent_slot}")]
    SlotNotIncreasing {
        /// The block.
        block: Hash,
        /// Its slot.
        slot: Slot,
        /// The parent's slot.
        parent_slot: Slot,
    },
}

#[derive(Debug, Clone)]
struct Node {
    parent: Option<Hash>,
    slot: Slot,
    audited: bool,
    /// Ticket-sealed blocks from the root to here, inclusive.
    score: u32,
}

/// The block tree as fork choice sees it.
#[derive(Debug, Clone)]
pub struct ForkChoice {
    nodes: HashMap<Hash, Node>,
    by_slot: HashMap<Slot, HashSet<Hash>>,
    finalized: Hash,
}

impl ForkChoice {
    /// A tree whose only block is `genesis` (final, audited).
    pub fn new(genesis: Hash) -> ForkChoice {
        let mut nodes = HashMap::new();
        nodes.insert(
            genesis,
            Node {
                parent: None,
                slot: 0,
                audited: true,
                score: 0,
            },
        );
        ForkChoice {
            nodes,
            by_slot: HashMap::new(),
            finalized: genesis,
        }
    }

    /// Adds a block whose seal verified; `ticketed` is whether a ticket (not the fallback key)
    /// sealed it. It is not audited until [`ForkChoice::set_audited`] says so.
    pub fn insert(
        &mut self,
        block: Hash,
        parent: Hash,
        slot: Slot,
        ticketed: bool,
    ) -> Result<(), ForkChoiceError> {
        if self.nodes.contains_key(&block) {
            return Ok(());
        }
        let Some(p) = self.nodes.get(&parent) else {
            return Err(ForkChoiceError::UnknownParent { block, parent });
        };
        if slot <= p.slot && p.parent.is_some() {
            return Err(ForkChoiceError::SlotNotIncreasing {
                block,
                slot,
                parent_slot: p.slot,
            });
        }
        let score = p.score + u32::from(ticketed);
        self.nodes.insert(
            block,
            Node {
                parent: Some(parent),
                slot,
                audited: false,
                score,
            },
        );
        self.by_slot.entry(slot).or_default().insert(block);
        Ok(())
    }

    /// Records the audit verdict (available and validated) of a block.
    pub fn set_audited(&mut self, block: &Hash, audited: bool) {
        if let Some(n) = self.nodes.get_mut(block) {
            n.audited = audited;
        }
    }

    /// Moves the finalized block (it must be known).
    pub fn set_finalized(&mut self, block: Hash) {
        if self.nodes.contains_key(&block) {
            self.finalized = block;
        }
    }

    /// The finalized block.
    pub fn finalized(&self) -> Hash {
        self.finalized
    }

    /// Slots at which two distinct valid blocks were seen: the author equivocated.
    pub fn equivocated_slots(&self) -> Vec<Slot> {
        let mut v: Vec<Slot> = self
            .by_slot
            .iter()
            .filter(|(_, b)| b.len() > 1)
            .map(|(s, _)| *s)
            .collect();
        v.sort_unstable();
        v
    }

    /// Whether `block` is acceptable (GP 19.1-19.3).
    pub fn acceptable(&self, block: &Hash) -> bool {
        let final_slot = self.nodes.get(&self.finalized).map(|n| n.slot).unwrap_or(0);
        let mut cur = *block;
        loop {
            if cur == self.finalized {
                return true;
            }
            let Some(n) = self.nodes.get(&cur) else {
                return false;
            };
            if !n.audited || n.slot <= final_slot {
                // Unaudited, or below the final block's slot on another branch.
                return false;
            }
            if self.by_slot.get(&n.slot).is_some_and(|b| b.len() > 1) {
                return false;
            }
            match n.parent {
                Some(p) => cur = p,
                None => return false,
            }
        }
    }

    /// The best block: the acceptable block with the most ticket-sealed blocks on its chain;
    /// ties go to the later slot, then the lower hash, so every node picks the same.
    pub fn best(&self) -> Hash {
        let mut best = self.finalized;
        let mut key = self.key(&best);
        for h in self.nodes.keys() {
            if self.acceptable(h) {
                let k = self.key(h);
                if k > key {
                    best = *h;
                    key = k;
                }
            }
        }
        best
    }

    fn key(&self, h: &Hash) -> (u32, Slot, std::cmp::Reverse<Hash>) {
        let n = &self.nodes[h];
        (n.score, n.slot, std::cmp::Reverse(*h))
    }

    /// Ticket-sealed blocks on the chain of `block`.
    pub fn score(&self, block: &Hash) -> Option<u32> {
        self.nodes.get(block).map(|n| n.score)
    }
}
