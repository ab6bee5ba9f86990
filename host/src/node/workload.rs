//! The workload a node authors: the host generator's block sequence (`crate::workload`), one
//! block per slot, so every node proposing in slot s proposes the same transactions whichever
//! fork it builds on. That is what makes orphaned blocks comparable across variants: the same
//! nullifiers are at stake in the same slot.

use std::collections::BTreeMap;

use diverge_plugins::codec::{Compact, Decode};
use diverge_plugins::Slot;

use super::core::Workload;
use crate::workload::{Generator, WorkloadConfig};

/// Slot-indexed batches from one seeded generator.
#[derive(Debug)]
pub struct NodeWorkload {
    seed: u64,
    txs: usize,
    gen: Generator,
    next: Slot,
    cache: BTreeMap<Slot, Vec<u8>>,
}

/// Batches kept for slots already generated (enough for any fork a node would extend).
const KEEP: usize = 64;

impl NodeWorkload {
    /// `txs` transactions per block from `seed`.
    pub fn new(seed: u64, txs: usize) -> NodeWorkload {
        NodeWorkload {
            seed,
            txs,
            gen: Generator::new(WorkloadConfig {
                seed,
                ..WorkloadConfig::default()
            }),
            next: 1,
            cache: BTreeMap::new(),
        }
    }
}

impl Workload for NodeWorkload {
    fn payload(&mut self, slot: Slot) -> Vec<u8> {
        if let Some(p) = self.cache.get(&slot) {
            return p.clone();
        }
        if slot < self.next {
            // Older than the cache: replay the sequence from the start.
            *self = NodeWorkload::new(self.seed, self.txs);
        }
        while self.next <= slot {
            let b = self.gen.block(self.txs);
            self.cache.insert(self.next, b.payload);
            self.next += 1;
            while self.cache.len() > KEEP {
                self.cache.pop_first();
            }
        }
        self.cache.get(&slot).cloned().unwrap_or_default()
    }

    fn nullifiers(&self, payload: &[u8]) -> usize {
        count_nullifiers(payload).unwrap_or(0)
    }
}

/// Nullifiers revealed by a payload in the format of `exec-reexec/src/tx.rs`; `None` if it does
/// not parse.
pub fn count_nullifiers(mut p: &[u8]) -> Option<usize> {
    let input = &mut p;
    let Compact(n) = Compact::<u64>::decode(input).ok()?;
    let mut total = 0;
    for _ in 0..n {
        let tag = u8::decode(input).ok()?;
        match tag {
            0 => {
                let nf = Vec::<[u8; 32]>::decode(input).ok()?;
                let _cm = Vec::<[u8; 32]>::decode(input).ok()?;
                let _fee = u64::decode(input).ok()?;
                total += nf.len();
            }
            1 => {
                let _cm = Vec::<[u8; 32]>::decode(input).ok()?;
                let _value = u64::decode(input).ok()?;
                let _from = <[u8; 32]>::decode(input).ok()?;
            }
            2 => {
                let nf = Vec::<[u8; 32]>::decode(input).ok()?;
                let _cm = Vec::<[u8; 32]>::decode(input).ok()?;
                let _value = u64::decode(input).ok()?;
                let _to = <[u8; 32]>::decode(input).ok()?;
                total += nf.len();
            }
            _ => return None,
        }
    }
    input.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_get_the_same_batch_on_every_node_in_any_order() {
        let mut a = NodeWorkload::new(7, 20);
        let mut b = NodeWorkload::new(7, 20);
        let a5 = a.payload(5);
        assert_eq!(a.payload(3), b.payload(3));
        assert_eq!(b.payload(5), a5);
        assert_ne!(a.payload(4), a5);
        // Later batches spend earlier notes: nullifiers appear.
        let n: usize = (6..12)
            .map(|s| {
                let p = a.payload(s);
                a.nullifiers(&p)
            })
            .sum();
        assert!(n > 0);
        assert_eq!(count_nullifiers(&[1, 9]), None);
    }
}
