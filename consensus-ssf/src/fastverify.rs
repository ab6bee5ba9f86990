//! A faster check of the OSST aggregate equation `g^{Σ μ_i s_i} = Y^{c̄} · Π u_i^{μ_i}`,
//! μ_i = λ_i · Π_{j≠i} c_j, for signer indices in 1..=n (research/ssf.md section 4). The same
//! equation as `osst::verify`, computed in near-linear time instead of O(k²):
//!
//! - Π_{j≠i} c_j from prefix and suffix products (3k multiplications, no inversion).
//! - λ_i = ξ · Π_{m∈M}(m - i) / (i · F_i) with ξ = Π_{j∈Q} j, M the non-signers and
//!   F_i = Π_{j∈[1,n], j≠i}(j - i) = (-1)^{i-1}(i-1)!(n-i)!, whose inverses (times 1/i) are a
//!   per-validator-set table: no inversion at verify time. The small factors |m - i| < n are
//!   packed natively into u64 words and multiplied into a 4-limb integer reduced mod l by hand
//!   (2^252 ≡ -δ), with no `Scalar` operation per word.
//! - One variable-time multi-scalar multiplication (all inputs are public).
//! - Challenges hash the received point bytes instead of recompressing decoded points.
//!
//! Where the time goes at t = 683 of 1023 (`benches/certificate.rs` runs the phases apart):
//! decompressing the 683 points (one inverse square root each, serial field arithmetic) and
//! the MSM (curve25519-dalek 4's AVX2 Pippenger, picked at run time) are about 0.4 each, the
//! field work the rest. Neither group part shrinks here: the points must be decoded to be
//! checked, and the MSM scalars are full width.
//!
//! Self-contained (curve25519-dalek and sha2 only), so it could be offered upstream.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest as _, Sha512};

/// Per validator-set tables: 1 / (i · F_i) for i = 1..=n.
#[derive(Clone, Debug)]
pub struct Tables {
    n: u32,
    inv_i_f: Vec<Scalar>,
}

impl Tables {
    /// Tables for indices 1..=n (one batch inversion).
    pub fn new(n: u32) -> Tables {
        let n_us = n as usize;
        let mut fact = Vec::with_capacity(n_us + 1);
        fact.push(Scalar::ONE);
        for k in 1..=n_us {
            let prev = fact[k - 1];
            fact.push(prev * Scalar::from(k as u64));
        }
        let mut d: Vec<Scalar> = (1..=n_us)
            .map(|i| {
                let f = fact[i - 1] * fact[n_us - i] * Scalar::from(i as u64);
                if (i - 1) % 2 == 1 {
                    -f
                } else {
                    f
                }
            })
            .collect();
        if !d.is_empty() {
            Scalar::batch_invert(&mut d);
        }
        Tables { n, inv_i_f: d }
    }

    /// The largest index covered.
    pub fn n(&self) -> u32 {
        self.n
    }
}

/// One parsed contribution: index (1-based), the point's wire bytes, the point, the response.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// 1-based index.
    pub index: u32,
    /// u_i as received (hashed as is).
    pub u_bytes: [u8; 32],
    /// u_i.
    pub u: RistrettoPoint,
    /// s_i.
    pub s: Scalar,
}

/// Parses a 68-byte contribution (u32 LE index ‖ u ‖ s); None if the point or scalar is not
/// canonical.
pub fn parse(bytes: &[u8; 68]) -> Option<Parsed> {
    let mut i = [0u8; 4];
    i.copy_from_slice(&bytes[..4]);
    let mut u_bytes = [0u8; 32];
    u_bytes.copy_from_slice(&bytes[4..36]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&bytes[36..68]);
    let u = CompressedRistretto(u_bytes).decompress()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))?;
    Some(Parsed {
        index: u32::from_le_bytes(i),
        u_bytes,
        u,
        s,
    })
}

/// l = 2^252 + δ, the ristretto255 group order, as little-endian u64 limbs.
const ELL: [u64; 4] = [
    0x5812_631a_5cf5_d3ed,
    0x14de_f9de_a2f7_9cd6,
    0,
    0x1000_0000_0000_0000,
];

/// Multiplies signed small integers (|x| < 2^20) into a scalar. Factors are packed natively
/// into a u64 word, and each full word is multiplied into a 4-limb accumulator reduced with
/// 2^252 ≡ -δ (mod l): about six integer multiplications per word of five or six ten-bit
/// factors, where a curve25519-dalek `Scalar` multiplication per word (it unpacks, does two
/// Montgomery reductions and repacks) cost more than the factors themselves.
struct SmallProduct {
    /// Congruent mod l to the product of the words so far; always < 2^254.
    acc: [u64; 4],
    word: u64,
    word_bits: u32,
    negative: bool,
}

impl SmallProduct {
    fn new() -> Self {
        SmallProduct {
            acc: [1, 0, 0, 0],
            word: 1,
            word_bits: 0,
            negative: false,
        }
    }

    #[inline]
    fn mul(&mut self, x: i64) {
        let a = x.unsigned_abs();
        self.negative ^= x < 0;
        // A bit length bound: len(a·b) <= len(a) + len(b).
        let b = 64 - a.leading_zeros();
        if self.word_bits + b > 64 {
            self.push_word();
        }
        self.word *= a;
        self.word_bits += b;
    }

    /// acc ← acc · word mod l (not fully reduced, < 2^254).
    #[inline]
    fn push_word(&mut self) {
        let w = u128::from(self.word);
        // x = acc · w < 2^318, five limbs.
        let mut x = [0u64; 5];
        let mut carry = 0u128;
        for (xj, aj) in x.iter_mut().zip(self.acc) {
            let t = u128::from(aj) * w + carry;
            *xj = t as u64;
            carry = t >> 64;
        }
        x[4] = carry as u64;
        // x = lo + hi·2^252 ≡ lo - hi·δ, hi < 2^66, hi·δ < 2^191 < l.
        let hi = (u128::from(x[4]) << 4) | u128::from(x[3] >> 60);
        let lo = [x[0], x[1], x[2], x[3] & ((1 << 60) - 1)];
        let (h0, h1) = (hi as u64, (hi >> 64) as u64);
        let (d0, d1) = (ELL[0], ELL[1]);
        let mut hd = [0u64; 4];
        let p00 = u128::from(h0) * u128::from(d0);
        let p01 = u128::from(h0) * u128::from(d1);
        let p10 = u128::from(h1) * u128::from(d0);
        let p11 = u128::from(h1) * u128::from(d1);
        hd[0] = p00 as u64;
        let mid = (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
        hd[1] = mid as u64;
        let top = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + p11;
        hd[2] = top as u64;
        hd[3] = (top >> 64) as u64;
        // lo - hi·δ, plus l if that borrowed: the result is in [0, 2^252 + l) < 2^254.
        let mut r = [0u64; 4];
        let mut borrow = false;
        for j in 0..4 {
            let (d, b1) = lo[j].overflowing_sub(hd[j]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            r[j] = d;
            borrow = b1 || b2;
        }
        if borrow {
            let mut c = false;
            for j in 0..4 {
                let (s, c1) = r[j].overflowing_add(ELL[j]);
                let (s, c2) = s.overflowing_add(u64::from(c));
                r[j] = s;
                c = c1 || c2;
            }
        }
        self.acc = r;
        self.word = 1;
        self.word_bits = 0;
    }

    fn done(mut self) -> Scalar {
        self.push_word();
        let mut bytes = [0u8; 32];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(self.acc) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        let s = Scalar::from_bytes_mod_order(bytes);
        if self.negative {
            -s
        } else {
            s
        }
    }
}

/// Whether `cs` (distinct indices in 1..=tables.n, at least `threshold`) satisfy the OSST
/// equation for `payload` under `group`.
pub fn verify(
    group: &RistrettoPoint,
    cs: &[Parsed],
    threshold: usize,
    payload: &[u8],
    tables: &Tables,
) -> bool {
    weights(cs, threshold, payload, tables).is_some_and(|w| check(group, cs, &w))
}

/// The scalars of the equation: μ_i per contribution (in `cs` order), c̄ and Σ μ_i s_i.
#[derive(Clone, Debug)]
pub struct Weights {
    /// μ_i = λ_i · Π_{j≠i} c_j.
    pub mu: Vec<Scalar>,
    /// c̄ = Π c_j.
    pub cbar: Scalar,
    /// Σ μ_i s_i.
    pub s_agg: Scalar,
}

/// The field part of [`verify`] (challenges, Lagrange coefficients, weights); None if the
/// indices are out of range, repeated or too few, or a challenge is zero.
pub fn weights(
    cs: &[Parsed],
    threshold: usize,
    payload: &[u8],
    tables: &Tables,
) -> Option<Weights> {
    let k = cs.len();
    if k < threshold || k == 0 {
        return None;
    }
    let n = tables.n as usize;
    let mut signer = vec![false; n + 1];
    for c in cs {
        let i = c.index as usize;
        if i == 0 || i > n || signer[i] {
            return None;
        }
        signer[i] = true;
    }
    // Challenges from the wire bytes.
    let ch: Vec<Scalar> = cs
        .iter()
        .map(|c| {
            let mut h = Sha512::new();
            h.update(c.u_bytes);
            h.update(payload);
            Scalar::from_bytes_mod_order_wide(&h.finalize().into())
        })
        .collect();
    if ch.contains(&Scalar::ZERO) {
        return None;
    }
    // Prefix / suffix products: Π_{j≠i} c_j = P_i · S_i.
    let mut prefix = Vec::with_capacity(k);
    let mut acc = Scalar::ONE;
    for c in &ch {
        prefix.push(acc);
        acc *= c;
    }
    let cbar = acc;
    let mut suffix = vec![Scalar::ONE; k];
    let mut acc = Scalar::ONE;
    for i in (0..k).rev() {
        suffix[i] = acc;
        acc *= ch[i];
    }
    // ξ = Π_{j∈Q} j.
    let mut xi = SmallProduct::new();
    for c in cs {
        xi.mul(i64::from(c.index));
    }
    let xi = xi.done();
    let missing: Vec<i64> = (1..=n as i64).filter(|m| !signer[*m as usize]).collect();
    let mut mus = Vec::with_capacity(k);
    let mut s_agg = Scalar::ZERO;
    for (x, c) in cs.iter().enumerate() {
        let i = i64::from(c.index);
        let mut p = SmallProduct::new();
        for m in &missing {
            p.mul(m - i);
        }
        let lambda = xi * p.done() * tables.inv_i_f[c.index as usize - 1];
        let mu = lambda * prefix[x] * suffix[x];
        s_agg += mu * c.s;
        mus.push(mu);
    }
    Some(Weights {
        mu: mus,
        cbar,
        s_agg,
    })
}

/// The group part of [`verify`]: one variable-time MSM, Σ μ_i u_i + c̄ Y - (Σ μ_i s_i) g = 0.
pub fn check(group: &RistrettoPoint, cs: &[Parsed], w: &Weights) -> bool {
    if w.mu.len() != cs.len() {
        return false;
    }
    let scalars = w.mu.iter().copied().chain([w.cbar, -w.s_agg]);
    let points = cs
        .iter()
        .map(|c| c.u)
        .chain([*group, RISTRETTO_BASEPOINT_POINT]);
    RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed product equals the field product one factor at a time, across many word and
    /// 512-bit flushes, with signs and factor sizes up to 2^20.
    #[test]
    fn small_product_matches_the_field_product() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 5, 63, 340, 2000] {
            let mut packed = SmallProduct::new();
            let mut plain = Scalar::ONE;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bits = 1 + (x % 20) as u32;
                let mut f = ((x >> 8) % (1 << bits)) as i64 + 1;
                if x & 1 == 1 {
                    f = -f;
                }
                packed.mul(f);
                let s = Scalar::from(f.unsigned_abs());
                plain *= if f < 0 { -s } else { s };
            }
            assert_eq!(packed.done(), plain, "len {len}");
        }
    }
}
