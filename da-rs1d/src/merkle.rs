//! A binary Merkle tree over the shards, so each validator checks its own shard against the
//! header's commitment on receipt with log2(n) hashes.
//!
//! Leaves and nodes are domain-separated and leaves bind their index, so a node cannot pass
//! for a leaf and a shard cannot be replayed at another index. The leaf count is padded to a
//! power of two with zero hashes.

use diverge_plugins::{blake2b_256, Hash};
use rayon::prelude::*;

fn leaf(index: u32, chunk: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(8 + chunk.len());
    buf.extend_from_slice(b"leaf");
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(chunk);
    blake2b_256(&buf)
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 68];
    buf[..4].copy_from_slice(b"node");
    buf[4..36].copy_from_slice(&left.0);
    buf[36..].copy_from_slice(&right.0);
    blake2b_256(&buf)
}

/// Proof length for `n` leaves.
pub fn depth(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

/// All levels, leaves first, each padded to even length; the last holds the root.
fn levels(chunks: &[Vec<u8>]) -> Vec<Vec<Hash>> {
    let width = chunks.len().next_power_of_two();
    // Hashing every chunk is the bulk of the commitment's cost (42 MB at 14 MB / 1023 shards):
    // spread it over the cores; the order of the result is the order of the chunks.
    let mut level: Vec<Hash> = chunks
        .par_iter()
        .enumerate()
        .map(|(i, c)| leaf(i as u32, c))
        .collect();
    level.resize(width, Hash::ZERO);
    let mut out = vec![level];
    while out.last().is_some_and(|l| l.len() > 1) {
        let prev = out.last().map(Vec::as_slice).unwrap_or_default();
        let next = prev.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
        out.push(next);
    }
    out
}

/// The root and, for every chunk, its sibling path.
pub fn build(chunks: &[Vec<u8>]) -> (Hash, Vec<Vec<Hash>>) {
    let levels = levels(chunks);
    let root = levels
        .last()
        .and_then(|l| l.first())
        .copied()
        .unwrap_or(Hash::ZERO);
    let proofs = (0..chunks.len())
        .map(|i| {
            let mut idx = i;
            let mut path = Vec::with_capacity(levels.len().saturating_sub(1));
            for level in &levels[..levels.len() - 1] {
                path.push(level[idx ^ 1]);
                idx >>= 1;
            }
            path
        })
        .collect();
    (root, proofs)
}

/// Whether `chunk` at `index` with `path` hashes to `root`.
pub fn verify(root: &Hash, index: u32, chunk: &[u8], path: &[Hash]) -> bool {
    let mut acc = leaf(index, chunk);
    let mut idx = index;
    for sibling in path {
        acc = if idx & 1 == 0 {
            node(&acc, sibling)
        } else {
            node(sibling, &acc)
        };
        idx >>= 1;
    }
    idx == 0 && acc == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proof_verifies_and_binds_index() {
        for n in [1usize, 2, 3, 6, 7, 8, 33] {
            let chunks: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 5]).collect();
            let (root, proofs) = build(&chunks);
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.len(), depth(n));
                assert!(verify(&root, i as u32, &chunks[i], p));
                assert!(!verify(&root, i as u32, b"other", p));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(!verify(&root, j as u32, &chunks[i], p), "n={n} i={i}");
                }
            }
        }
    }
}
