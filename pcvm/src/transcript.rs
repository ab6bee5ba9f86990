//! The one Fiat–Shamir transcript of a pcvm proof.
//!
//! A BLAKE2b-256 hash chain. Every absorb folds `(label, length, data)` into the state, and every
//! challenge is derived from the state *and then ratchets it*, so each challenge depends on
//! everything absorbed before it and on every earlier challenge, and two challenges never repeat.
//! Labels and lengths are framed, so no two different absorb sequences hash the same bytes
//! (domain separation between messages, not only between protocols).
//!
//! Soundness rests on this: a prover who could predict a challenge before fixing the message it
//! must bind could choose the message to fit it. So the protocols here absorb every
//! prover message (roots, claims, round polynomials, opened-row hashes) before drawing the
//! challenge that follows it; the verifier replays the same sequence.

use crate::field::{f128_to_bytes, f32_to_bytes, F128, F32};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

type Hasher = Blake2b<U32>;

const ABSORB: &[u8] = b"diverge-pcvm/transcript/absorb";
const SQUEEZE: &[u8] = b"diverge-pcvm/transcript/squeeze";
const OUTPUT: &[u8] = b"diverge-pcvm/transcript/output";

/// A Fiat–Shamir transcript; prover and verifier create it with the same domain and feed it
/// the same sequence.
#[derive(Clone, Debug)]
pub struct Transcript {
    state: [u8; 32],
}

fn framed(h: &mut Hasher, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

impl Transcript {
    /// A transcript for one protocol instance; `domain` names the protocol and its version.
    pub fn new(domain: &[u8]) -> Self {
        let mut h = Hasher::new();
        framed(&mut h, b"diverge-pcvm/transcript/v1");
        framed(&mut h, domain);
        Self {
            state: h.finalize().into(),
        }
    }

    /// Absorb `data` under `label`.
    pub fn absorb_bytes(&mut self, label: &[u8], data: &[u8]) {
        let mut h = Hasher::new();
        framed(&mut h, ABSORB);
        h.update(self.state);
        framed(&mut h, label);
        framed(&mut h, data);
        self.state = h.finalize().into();
    }

    pub fn absorb_u64(&mut self, label: &[u8], v: u64) {
        self.absorb_bytes(label, &v.to_le_bytes());
    }

    pub fn absorb_f128s(&mut self, label: &[u8], xs: &[F128]) {
        let bytes: Vec<u8> = xs.iter().flat_map(|&x| f128_to_bytes(x)).collect();
        self.absorb_bytes(label, &bytes);
    }

    pub fn absorb_f32s(&mut self, label: &[u8], xs: &[F32]) {
        let bytes: Vec<u8> = xs.iter().flat_map(|&x| f32_to_bytes(x)).collect();
        self.absorb_bytes(label, &bytes);
    }

    /// 32 fresh pseudo-random bytes bound to the whole history and to `label`.
    fn squeeze(&mut self, label: &[u8]) -> [u8; 32] {
        let mut h = Hasher::new();
        framed(&mut h, SQUEEZE);
        h.update(self.state);
        framed(&mut h, label);
        self.state = h.finalize().into();
        let mut o = Hasher::new();
        framed(&mut o, OUTPUT);
        o.update(self.state);
        o.finalize().into()
    }

    /// A uniform GF(2^128) challenge (all 128 bits come from the hash: every bit pattern is a
    /// field element, so there is no bias).
    pub fn challenge_f128(&mut self, label: &[u8]) -> F128 {
        let out = self.squeeze(label);
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        F128::from_value(u128::from_le_bytes(b))
    }

    pub fn challenge_f128s(&mut self, label: &[u8], n: usize) -> Vec<F128> {
        (0..n).map(|_| self.challenge_f128(label)).collect()
    }

    /// `min(count, 2^log_max)` distinct uniform indices below `2^log_max`, sorted ascending (the
    /// order the Merkle batch proofs use). Sampling without replacement only helps the query
    /// bound; masking a power-of-two range keeps every index equally likely.
    pub fn distinct_indices(&mut self, label: &[u8], log_max: usize, count: usize) -> Vec<usize> {
        let max = 1usize << log_max;
        let want = count.min(max);
        // A set of the drawn indices, not a bitmap of the range: codeword lengths reach 2^32,
        // and the verifier must not allocate in proportion to them.
        let mut out = std::collections::BTreeSet::new();
        while out.len() < want {
            let bytes = self.squeeze(label);
            for chunk in bytes.chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                if out.len() < want {
                    out.insert((u64::from_le_bytes(b) as usize) & (max - 1));
                }
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_history_same_challenges() {
        let mut a = Transcript::new(b"t");
        let mut b = Transcript::new(b"t");
        a.absorb_bytes(b"x", b"123");
        b.absorb_bytes(b"x", b"123");
        assert_eq!(a.challenge_f128(b"c"), b.challenge_f128(b"c"));
        assert_eq!(a.challenge_f128(b"c"), b.challenge_f128(b"c"));
    }

    #[test]
    fn every_input_changes_the_challenge() {
        let base = {
            let mut t = Transcript::new(b"t");
            t.absorb_bytes(b"x", b"123");
            t.challenge_f128(b"c")
        };
        let variants: [fn(&mut Transcript); 5] = [
            |t| t.absorb_bytes(b"x", b"124"),
            |t| t.absorb_bytes(b"y", b"123"),
            // framing: moving a byte between label and data is a different history
            |t| t.absorb_bytes(b"x1", b"23"),
            |t| {
                t.absorb_bytes(b"x", b"12");
                t.absorb_bytes(b"", b"3");
            },
            |t| {
                t.absorb_bytes(b"x", b"123");
                t.absorb_bytes(b"x", b"");
            },
        ];
        for (i, v) in variants.iter().enumerate() {
            let mut t = Transcript::new(b"t");
            v(&mut t);
            assert_ne!(t.challenge_f128(b"c"), base, "variant {i}");
        }
        let mut other_domain = Transcript::new(b"u");
        other_domain.absorb_bytes(b"x", b"123");
        assert_ne!(other_domain.challenge_f128(b"c"), base);
        let mut other_label = Transcript::new(b"t");
        other_label.absorb_bytes(b"x", b"123");
        assert_ne!(other_label.challenge_f128(b"d"), base);
    }

    #[test]
    fn consecutive_challenges_differ() {
        let mut t = Transcript::new(b"t");
        let xs = t.challenge_f128s(b"c", 16);
        for i in 0..xs.len() {
            for j in 0..i {
                assert_ne!(xs[i], xs[j]);
            }
        }
    }

    #[test]
    fn indices_distinct_sorted_in_range() {
        let mut t = Transcript::new(b"t");
        for (log_max, count) in [(10usize, 148usize), (4, 148), (8, 256), (0, 3)] {
            let q = t.distinct_indices(b"q", log_max, count);
            assert_eq!(q.len(), count.min(1 << log_max));
            assert!(q.windows(2).all(|w| w[0] < w[1]));
            assert!(q.iter().all(|&i| i < 1 << log_max));
        }
    }
}
