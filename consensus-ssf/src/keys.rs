//! OSST key material: each validator's share x_i, the published verification shares
//! y_i = g^{x_i} and the group key Y = g^{f(0)}.
//!
//! **Research shortcut: trusted dealer, not secure.** Every node derives the dealer polynomial
//! f (degree t-1) from `dealer_seed`, a value in the chain's config, so every node knows every
//! share and anyone who reads the config can forge certificates. It stands in for a DKG
//! (frost-ristretto255's DKG or a Feldman/Pedersen DKG, research/ssf.md 3.1) so the protocol,
//! its messages and its costs can be measured now; the shares have exactly the shape a DKG
//! gives (Shamir shares on one polynomial, indices 1..=V), so nothing else changes when one
//! lands.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest as _, Sha512};

/// One sharing of the group key: Y (the same in every sharing, see the crate docs' key
/// policy) and the verification shares y_i of one polynomial.
#[derive(Clone)]
pub struct KeySet {
    /// Which sharing: 0 at genesis, e for the reshare that takes over in epoch e.
    pub id: u32,
    /// The group key Y.
    pub group: RistrettoPoint,
    /// y_i for validator index i (0-based; the OSST index is i + 1).
    pub shares: Vec<RistrettoPoint>,
    /// t = floor(2V/3) + 1.
    pub threshold: usize,
    /// Lagrange tables for the fast certificate check.
    pub tables: crate::fastverify::Tables,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySet(id={}, V={}, t={})",
            self.id,
            self.shares.len(),
            self.threshold
        )
    }
}

impl KeySet {
    /// Sharing 0 (genesis) from the group key and the verification shares y_1..y_V.
    pub fn new(group: RistrettoPoint, shares: Vec<RistrettoPoint>, threshold: usize) -> KeySet {
        let n = shares.len() as u32;
        KeySet {
            id: 0,
            group,
            shares,
            threshold,
            tables: crate::fastverify::Tables::new(n),
        }
    }
}

impl KeySet {
    /// Only the group key, for a node that checks certificates and no vote (an observer given
    /// Y by its operator): no verification shares, so every vote fails the index check.
    pub fn public(group: RistrettoPoint, validators: usize, threshold: usize) -> KeySet {
        KeySet {
            id: 0,
            group,
            shares: Vec::new(),
            threshold,
            tables: crate::fastverify::Tables::new(validators as u32),
        }
    }

    /// V (the indices a certificate may name are 1..=V).
    pub fn validators(&self) -> usize {
        self.tables.n() as usize
    }
}

/// t = floor(2V/3) + 1: any two t-sets of V share more than V/3 members.
pub fn threshold(validators: usize) -> usize {
    2 * validators / 3 + 1
}

fn coefficient(seed: &[u8], k: usize) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"diverge-ssf/insecure-trusted-dealer/v1");
    h.update(seed);
    h.update((k as u64).to_le_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// The dealer's shares: x_i = f(i) for i = 1..=V, with f's t coefficients from `seed`.
/// Research shortcut (see the module docs): every caller learns every share.
pub fn dealer_shares(seed: &[u8], validators: usize) -> (Vec<Scalar>, Scalar) {
    let t = threshold(validators);
    let coeffs: Vec<Scalar> = (0..t).map(|k| coefficient(seed, k)).collect();
    let eval = |x: u64| {
        // Horner's rule.
        let x = Scalar::from(x);
        coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
    };
    let shares = (1..=validators as u64).map(eval).collect();
    (shares, coeffs[0])
}

/// The public key set and this node's share (if it has an index) from the dealer seed.
pub fn key_set(seed: &[u8], validators: usize, me: Option<usize>) -> (KeySet, Option<Scalar>) {
    let (xs, secret) = dealer_shares(seed, validators);
    let shares = xs.iter().map(|x| x * RISTRETTO_BASEPOINT_TABLE).collect();
    let mine = me.and_then(|i| xs.get(i).copied());
    (
        KeySet {
            id: 0,
            group: &secret * RISTRETTO_BASEPOINT_TABLE,
            shares,
            threshold: threshold(validators),
            tables: crate::fastverify::Tables::new(validators as u32),
        },
        mine,
    )
}
