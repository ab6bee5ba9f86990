//! A binary Merkle tree over the m encoded rows, with multiproofs for the S rows a validator
//! holds.
//!
//! A validator's rows sit at random positions (the shuffle is only known after the tree is
//! built, because it depends on the checksum, which depends on the root), so one multiproof
//! per shard shares the upper path nodes instead of S separate paths.
//!
//! Leaves and nodes are domain-separated and leaves bind their position, so a node cannot pass
//! for a leaf and a row cannot be replayed at another position. The width is padded to a power
//! of two with zero hashes; the leaf count itself is bound by the transcript (c0 holds m).

use diverge_plugins::{blake2b_256, Hash};
use rayon::prelude::*;

fn leaf(position: u32, row: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(16 + row.len());
    buf.extend_from_slice(b"zoda2d/leaf");
    buf.extend_from_slice(&position.to_le_bytes());
    buf.extend_from_slice(row);
    blake2b_256(&buf)
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 75];
    buf[..11].copy_from_slice(b"zoda2d/node");
    buf[11..43].copy_from_slice(&left.0);
    buf[43..].copy_from_slice(&right.0);
    blake2b_256(&buf)
}

/// Every level of the tree, leaves first; the last level is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Hashes every row (in parallel: at 14 MB this is ~40 MB of input) and builds the levels.
    pub fn build(rows: &[Vec<u8>]) -> Tree {
        let width = rows.len().next_power_of_two();
        let mut level: Vec<Hash> = rows
            .par_iter()
            .enumerate()
            .map(|(i, r)| leaf(i as u32, r))
            .collect();
        level.resize(width, Hash::ZERO);
        let mut levels = vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let prev = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next = prev.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
            levels.push(next);
        }
        Tree { levels }
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(Hash::ZERO)
    }

    /// The sibling hashes needed to recompute the root from the leaves at `positions`
    /// (distinct, any order), in the order [`verify`] consumes them.
    pub fn multiproof(&self, positions: &[u32]) -> Vec<Hash> {
        let mut known: Vec<usize> = positions.iter().map(|&p| p as usize).collect();
        known.sort_unstable();
        known.dedup();
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            let mut next = Vec::with_capacity(known.len());
            let mut i = 0;
            while i < known.len() {
                let a = known[i];
                if a % 2 == 0 && known.get(i + 1) == Some(&(a + 1)) {
                    i += 2;
                } else {
                    proof.push(level[a ^ 1]);
                    i += 1;
                }
                next.push(a / 2);
            }
            known = next;
        }
        proof
    }
}

/// Tree depth for `leaves` leaves.
pub fn depth(leaves: usize) -> usize {
    leaves.next_power_of_two().trailing_zeros() as usize
}

/// Whether `rows` (pairs of position and row bytes, distinct positions `< leaves`) and `proof`
/// recompute `root`. Consumes the whole proof: extra or missing hashes fail.
pub fn verify(root: &Hash, leaves: usize, rows: &[(u32, &[u8])], proof: &[Hash]) -> bool {
    let mut known: Vec<(usize, Hash)> = rows
        .iter()
        .map(|&(p, r)| (p as usize, leaf(p, r)))
        .collect();
    known.sort_unstable_by_key(|k| k.0);
    if known.is_empty()
        || known.windows(2).any(|w| w[0].0 == w[1].0)
        || known.iter().any(|k| k.0 >= leaves)
    {
        return false;
    }
    let mut proof = proof.iter();
    for _ in 0..depth(leaves) {
        let mut next = Vec::with_capacity(known.len());
        let mut i = 0;
        while i < known.len() {
            let (a, ha) = known[i];
            let parent = match known.get(i + 1) {
                Some(&(b, hb)) if a % 2 == 0 && b == a + 1 => {
                    i += 2;
                    node(&ha, &hb)
                }
                _ => {
                    i += 1;
                    let Some(sib) = proof.next() else {
                        return false;
                    };
                    if a % 2 == 0 {
                        node(&ha, sib)
                    } else {
                        node(sib, &ha)
                    }
                }
            };
            next.push((a / 2, parent));
        }
        known = next;
    }
    proof.next().is_none() && known.len() == 1 && known[0] == (0, *root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiproofs_verify_and_bind_positions() {
        for m in [2usize, 3, 6, 17, 64, 100] {
            let rows: Vec<Vec<u8>> = (0..m).map(|i| vec![i as u8; 7]).collect();
            let tree = Tree::build(&rows);
            let root = tree.root();
            for set in [vec![0u32], vec![1, 0], vec![(m - 1) as u32, 2 % m as u32]] {
                let mut set = set;
                set.dedup();
                let proof = tree.multiproof(&set);
                let given: Vec<(u32, &[u8])> = set
                    .iter()
                    .map(|&p| (p, rows[p as usize].as_slice()))
                    .collect();
                assert!(verify(&root, m, &given, &proof), "m={m} {set:?}");
                let mut longer = proof.clone();
                longer.push(Hash::ZERO);
                assert!(!verify(&root, m, &given, &longer));
                if !proof.is_empty() {
                    assert!(!verify(&root, m, &given, &proof[1..]));
                }
                let wrong: Vec<(u32, &[u8])> = given.iter().map(|&(p, _)| (p, &b"x"[..])).collect();
                assert!(!verify(&root, m, &wrong, &proof));
            }
            // All leaves: no siblings needed.
            let all: Vec<u32> = (0..m as u32).collect();
            let proof = tree.multiproof(&all);
            let given: Vec<(u32, &[u8])> = all
                .iter()
                .map(|&p| (p, rows[p as usize].as_slice()))
                .collect();
            assert!(verify(&root, m, &given, &proof));
        }
    }
}
