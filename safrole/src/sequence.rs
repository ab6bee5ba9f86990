//! Who seals each slot of an epoch.
//!
//! With a full ticket accumulator the slots go to the tickets in outside-in order Z (eq. 6.25):
//! lowest id, highest id, second lowest, second highest, ... so the order of ids (all anyone sees
//! before a ticket is used) says little about which slots a validator holds. Otherwise every
//! slot falls back to a key picked by F (eq. 6.26) from the epoch's entropy: predictable, which is
//! why fork choice (19.4) prefers ticketed chains.

use diverge_plugins::{blake2b_256, Hash};

/// Z: `[s0, s_{n-1}, s1, s_{n-2}, ...]`.
pub fn outside_in<T: Clone>(s: &[T]) -> Vec<T> {
    let n = s.len();
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                s[i / 2].clone()
            } else {
                s[n - 1 - i / 2].clone()
            }
        })
        .collect()
}

/// F(r, k): for slot i of the epoch, the key `k[E_4^-1(H(r ++ E_4(i))[..4]) mod |k|]`.
/// Empty when `keys` is empty.
pub fn fallback_keys(entropy: &Hash, keys: &[[u8; 32]], epoch_len: u32) -> Vec<[u8; 32]> {
    if keys.is_empty() {
        return Vec::new();
    }
    (0..epoch_len)
        .map(|i| {
            let mut buf = [0u8; 36];
            buf[..32].copy_from_slice(&entropy.0);
            buf[32..].copy_from_slice(&i.to_le_bytes());
            let h = blake2b_256(&buf);
            let idx = u32::from_le_bytes([h.0[0], h.0[1], h.0[2], h.0[3]]) as usize % keys.len();
            keys[idx]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_in_order() {
        assert_eq!(outside_in(&[1, 2, 3, 4, 5, 6]), vec![1, 6, 2, 5, 3, 4]);
        assert_eq!(outside_in(&[1, 2, 3]), vec![1, 3, 2]);
        assert!(outside_in::<u8>(&[]).is_empty());
    }
}
