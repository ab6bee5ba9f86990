//! Resharing at an epoch change (research/ssf.md 3.2): the holders of the current shares x_i
//! deal Feldman sub-shares of x_i to the next set, and every player combines the sub-shares of
//! one agreed dealer set D, so the group key Y stays and every share is re-randomised.
//!
//! Dealer i picks g_i of degree t_new - 1 with g_i(0) = x_i, publishes C_{i,k} = g^{a_{i,k}} and
//! sends σ_ij = g_i(j) to player j. Player j checks g^{σ_ij} = Π_k C_{i,k}^{j^k} and
//! C_{i,0} = y_i (the dealer's published verification share). With λ_i the Lagrange
//! coefficients at 0 for the index set D, the new share is x'_j = Σ_{i∈D} λ_i σ_ij and the new
//! public polynomial C'_k = Σ_{i∈D} λ_i C_{i,k}; C'_0 = Σ λ_i y_i = Y, and y'_j = C'(j).
//!
//! **Pitfall** (ssf.md 3.2; the osst crate does not enforce it): x'_j lies on the polynomial
//! Σ_{i∈D} λ_i^D g_i, which depends on D. Players that combine over different dealer sets (say
//! "the first t to arrive") hold shares of different polynomials: each set's constant term is
//! still Y, but t shares mixed from two sets interpolate to something else and certificates
//! fail. So D must be one agreed set; the engine fixes it by a DEALERS certificate.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use rand_chacha::ChaCha20Rng;

/// Why a dealing or a combination is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ReshareError {
    /// Wrong number of commitments, or bytes that are not points.
    #[error("dealer {0}: malformed commitment")]
    Commitment(u32),
    /// C_{i,0} differs from the dealer's verification share y_i.
    #[error("dealer {0}: constant commitment is not its verification share")]
    Constant(u32),
    /// g^{σ_ij} differs from C_i(j).
    #[error("dealer {0}: sub-share does not match its commitment")]
    SubShare(u32),
    /// Fewer than t_old dealers, or an index twice, or an index that is not a holder.
    #[error("dealer set: {0}")]
    DealerSet(String),
    /// Π C_{i,0}^{λ_i} ≠ Y: the dealers' constant terms do not interpolate to the group key.
    #[error("the dealers' constant terms do not interpolate to the group key")]
    Group,
    /// The combined share does not match the combined public polynomial.
    #[error("combined share does not match the combined public polynomial")]
    Combined,
}

/// One dealer's output: commitments and the sub-shares for players 1..=n.
#[derive(Clone)]
pub struct Dealing {
    /// C_{i,k}, k = 0..t_new.
    pub commitment: Vec<RistrettoPoint>,
    /// σ_ij for j = 1..=n (index 0 is player 1).
    pub subshares: Vec<Scalar>,
}

impl std::fmt::Debug for Dealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dealing(t={}, n={})",
            self.commitment.len(),
            self.subshares.len()
        )
    }
}

/// Deals `secret` (x_i) to players 1..=n with threshold `t`; the other coefficients come from
/// `rng` (hedged by the caller from the secret and the epoch).
pub fn deal(secret: &Scalar, t: usize, n: usize, rng: &mut ChaCha20Rng) -> Dealing {
    let mut coeffs = vec![*secret];
    coeffs.extend((1..t).map(|_| Scalar::random(rng)));
    let commitment = coeffs.iter().map(RistrettoPoint::mul_base).collect();
    let subshares = (1..=n as u64)
        .map(|j| {
            let x = Scalar::from(j);
            coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
        })
        .collect();
    Dealing {
        commitment,
        subshares,
    }
}

/// Compressed commitments for the wire.
pub fn compress(commitment: &[RistrettoPoint]) -> Vec<[u8; 32]> {
    commitment.iter().map(|c| c.compress().to_bytes()).collect()
}

/// Parses a commitment of exactly `t` points from dealer `dealer`.
pub fn decompress(
    dealer: u32,
    bytes: &[[u8; 32]],
    t: usize,
) -> Result<Vec<RistrettoPoint>, ReshareError> {
    if bytes.len() != t {
        return Err(ReshareError::Commitment(dealer));
    }
    bytes
        .iter()
        .map(|b| {
            CompressedRistretto(*b)
                .decompress()
                .ok_or(ReshareError::Commitment(dealer))
        })
        .collect()
}

/// C(j) = Π_k C_k^{j^k} (variable time: all inputs are public).
pub fn evaluate(commitment: &[RistrettoPoint], j: u32) -> RistrettoPoint {
    let x = Scalar::from(u64::from(j));
    let mut p = Scalar::ONE;
    let powers: Vec<Scalar> = commitment
        .iter()
        .map(|_| {
            let q = p;
            p *= x;
            q
        })
        .collect();
    RistrettoPoint::vartime_multiscalar_mul(&powers, commitment)
}

/// Player `j`'s check of dealer `dealer`'s sub-share.
pub fn verify_subshare(
    dealer: u32,
    commitment: &[RistrettoPoint],
    j: u32,
    s: &Scalar,
) -> Result<(), ReshareError> {
    if RistrettoPoint::mul_base(s) == evaluate(commitment, j) {
        Ok(())
    } else {
        Err(ReshareError::SubShare(dealer))
    }
}

/// Lagrange coefficients at 0 for the distinct nonzero indices `set`.
pub fn lagrange_at_zero(set: &[u32]) -> Vec<Scalar> {
    let mut den: Vec<Scalar> = set
        .iter()
        .map(|&i| {
            set.iter()
                .filter(|&&m| m != i)
                .fold(Scalar::ONE, |acc, &m| {
                    acc * (Scalar::from(u64::from(m)) - Scalar::from(u64::from(i)))
                })
        })
        .collect();
    Scalar::batch_invert(&mut den);
    set.iter()
        .zip(den)
        .map(|(&i, d)| {
            set.iter()
                .filter(|&&m| m != i)
                .fold(d, |acc, &m| acc * Scalar::from(u64::from(m)))
        })
        .collect()
}

/// The new public key set and (if the player has every sub-share) its new share.
#[derive(Clone)]
pub struct Combined {
    /// y'_j for j = 1..=n.
    pub shares: Vec<RistrettoPoint>,
    /// x'_me.
    pub share: Option<Scalar>,
}

impl std::fmt::Debug for Combined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Combined(n={}, share={})",
            self.shares.len(),
            self.share.is_some()
        )
    }
}

/// Combines the dealings of exactly the dealer set D (`dealers`: 1-based index, commitment,
/// and this player's verified sub-share if it has one) into the next key set for players
/// 1..=n. Checks C_{i,0} = y_i^old, Π C_{i,0}^{λ_i} = Y and the player's new share against the
/// new public polynomial.
pub fn combine(
    dealers: &[(u32, &[RistrettoPoint], Option<Scalar>)],
    old_shares: &[RistrettoPoint],
    group: &RistrettoPoint,
    t_old: usize,
    n: usize,
    me: Option<u32>,
) -> Result<Combined, ReshareError> {
    let set: Vec<u32> = dealers.iter().map(|d| d.0).collect();
    let mut sorted = set.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != set.len() || set.len() < t_old {
        return Err(ReshareError::DealerSet(format!(
            "{} distinct of {} dealers, need {t_old}",
            sorted.len(),
            set.len()
        )));
    }
    if set.iter().any(|&i| i == 0 || i as usize > old_shares.len()) {
        return Err(ReshareError::DealerSet("index is not a holder".into()));
    }
    let t_new = dealers[0].1.len();
    for (i, c, _) in dealers {
        if c.len() != t_new {
            return Err(ReshareError::Commitment(*i));
        }
        if c[0] != old_shares[*i as usize - 1] {
            return Err(ReshareError::Constant(*i));
        }
    }
    let lambda = lagrange_at_zero(&set);
    let constants: Vec<RistrettoPoint> = dealers.iter().map(|d| d.1[0]).collect();
    if RistrettoPoint::vartime_multiscalar_mul(&lambda, &constants) != *group {
        return Err(ReshareError::Group);
    }
    let combined: Vec<RistrettoPoint> = (0..t_new)
        .map(|k| {
            let col: Vec<RistrettoPoint> = dealers.iter().map(|d| d.1[k]).collect();
            RistrettoPoint::vartime_multiscalar_mul(&lambda, &col)
        })
        .collect();
    let shares: Vec<RistrettoPoint> = (1..=n as u32).map(|j| evaluate(&combined, j)).collect();
    let share = match me {
        Some(j) if dealers.iter().all(|d| d.2.is_some()) => {
            let x: Scalar = dealers
                .iter()
                .zip(&lambda)
                .map(|(d, l)| l * d.2.unwrap_or(Scalar::ZERO))
                .sum();
            if RistrettoPoint::mul_base(&x) != shares[j as usize - 1] {
                return Err(ReshareError::Combined);
            }
            Some(x)
        }
        _ => None,
    };
    Ok(Combined { shares, share })
}
