//! A faster check of the OSST aggregate equation `g^{Σ μ_i s_i} = Y^{c̄} · Π u_i^{μ_i}`,
//! μ_i = λ_i · Π_{j≠i} c_j, for signer indices in 1..=n (research/ssf.md section 4). The same
//! equation as `osst::verify`, computed in near-linear time instead of O(k²):
//!
//! - Π_{j≠i} c_j from prefix and suffix products (3k multiplications, no inversion).
//! - λ_i = ξ · Π_{m∈M}(m - i) / (i · F_i) with ξ = Π_{j∈Q} j, M the non-signers and
//!   F_i = Π_{j∈[1,n], j≠i}(j - i) = (-1)^{i-1}(i-1)!(n-i)!, whose inverses (times 1/i) are a
//!   per-validator-set table: no inversion at verify time. The small factors |m - i| < n are
//!   multiplied natively, several per u128, before each field multiplication.
//! - One variable-time multi-scalar multiplication (all inputs are public).
//! - Challenges hash the received point bytes instead of recompressing decoded points.
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

/// Multiplies signed small integers into a scalar, packing several per u128 (|x| < 2^20).
struct SmallProduct {
    acc: Scalar,
    word: u128,
    bits: u32,
    negative: bool,
}

impl SmallProduct {
    fn new() -> Self {
        SmallProduct {
            acc: Scalar::ONE,
            word: 1,
            bits: 0,
            negative: false,
        }
    }

    fn mul(&mut self, x: i64) {
        let a = x.unsigned_abs() as u128;
        self.negative ^= x < 0;
        let b = 128 - a.leading_zeros();
        if self.bits + b > 127 {
            self.flush();
        }
        self.word *= a;
        self.bits += b;
    }

    fn flush(&mut self) {
        self.acc *= Scalar::from(self.word);
        self.word = 1;
        self.bits = 0;
    }

    fn done(mut self) -> Scalar {
        self.flush();
        if self.negative {
            -self.acc
        } else {
            self.acc
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
    let k = cs.len();
    if k < threshold || k == 0 {
        return false;
    }
    let n = tables.n as usize;
    let mut signer = vec![false; n + 1];
    for c in cs {
        let i = c.index as usize;
        if i == 0 || i > n || signer[i] {
            return false;
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
        return false;
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
    let mut scalars = Vec::with_capacity(k + 2);
    let mut points = Vec::with_capacity(k + 2);
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
        scalars.push(mu);
        points.push(c.u);
    }
    scalars.push(cbar);
    points.push(*group);
    scalars.push(-s_agg);
    points.push(RISTRETTO_BASEPOINT_POINT);
    RistrettoPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}
