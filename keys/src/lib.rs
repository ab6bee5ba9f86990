//! `diverge-keys`: validator keys from a 32-byte seed, JAM's development-key scheme (JIP-5).
//!
//! Each key's secret seed is Blake2b-256 of a key-specific tag and the validator seed, so one
//! seed gives the Bandersnatch key (Safrole seals, entropy, tickets) and the Ed25519 key
//! (GRANDPA and OSST votes, network identity). The host derives a testnet's genesis validator
//! set with it and each consensus plugin derives its node's secrets from the same seed, so both
//! agree without the host linking a plugin. It is not a plugin; it sits beside the ABI crate.

use ark_vrf::reexports::ark_serialize::CanonicalSerialize;
use ark_vrf::suites::bandersnatch::Secret;
use diverge_plugins::{blake2b_256, ValidatorKeys};
use ed25519_dalek::SigningKey;

fn tagged(tag: &[u8], seed: &[u8; 32]) -> [u8; 32] {
    let mut buf = tag.to_vec();
    buf.extend_from_slice(seed);
    blake2b_256(&buf).0
}

/// The Bandersnatch secret seed of a validator seed (`"jam_val_key_bandersnatch" ++ seed`).
pub fn bandersnatch_seed(seed: &[u8; 32]) -> [u8; 32] {
    tagged(b"jam_val_key_bandersnatch", seed)
}

/// The Ed25519 secret key bytes of a validator seed (`"jam_val_key_ed25519" ++ seed`).
pub fn ed25519_seed(seed: &[u8; 32]) -> [u8; 32] {
    tagged(b"jam_val_key_ed25519", seed)
}

/// The Ed25519 signing key of a validator seed.
pub fn ed25519_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&ed25519_seed(seed))
}

/// The compressed Bandersnatch public key of a validator seed (ark-vrf 0.1.0's
/// `Secret::from_seed`, the same derivation the Safrole plugin signs with).
pub fn bandersnatch_public(seed: &[u8; 32]) -> [u8; 32] {
    let secret = Secret::from_seed(&bandersnatch_seed(seed));
    let mut out = Vec::with_capacity(32);
    // Serializing a valid point into a Vec cannot fail; an empty key would be caught by every
    // verifier as "not a point" rather than panic here.
    let _ = secret.public().0.serialize_compressed(&mut out);
    let mut key = [0u8; 32];
    if out.len() == 32 {
        key.copy_from_slice(&out);
    }
    key
}

/// The public keys of the validator with `seed` (BLS and metadata left zero: no plugin uses them).
pub fn public_keys(seed: &[u8; 32]) -> ValidatorKeys {
    ValidatorKeys {
        bandersnatch: bandersnatch_public(seed),
        ed25519: ed25519_key(seed).verifying_key().to_bytes(),
        bls: [0; 144],
        metadata: [0; 128],
    }
}

/// The development seed of validator `i`: its index as 4 little-endian bytes repeated 8 times
/// (JIP-5's trivial seeds), so every tool derives the same testnet keys.
pub fn dev_seed(i: u32) -> [u8; 32] {
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_exact_mut(4) {
        chunk.copy_from_slice(&i.to_le_bytes());
    }
    seed
}

/// The genesis set of `n` development validators.
pub fn dev_validators(n: u16) -> Vec<ValidatorKeys> {
    (0..u32::from(n))
        .map(|i| public_keys(&dev_seed(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_jip5_trivial_seeds() {
        assert_eq!(dev_seed(0), [0; 32]);
        assert_eq!(&dev_seed(1)[..8], &[1, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn keys_differ_per_validator_and_are_stable() {
        let a = public_keys(&dev_seed(0));
        let b = public_keys(&dev_seed(1));
        assert_ne!(a.bandersnatch, b.bandersnatch);
        assert_ne!(a.ed25519, b.ed25519);
        assert_eq!(a, public_keys(&dev_seed(0)));
        assert_ne!(a.bandersnatch, [0; 32]);
    }
}
