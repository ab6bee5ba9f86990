//! This node's secrets from its validator seed: the same derivation as `diverge-keys`
//! (JAM's JIP-5), which the host uses to build the genesis set, so a node's keys are its set
//! entry by construction.

use ed25519_dalek::SigningKey;

use crate::seal::SealSecret;

/// One validator's secrets.
pub struct ValidatorSecrets {
    /// Bandersnatch: seals, entropy, tickets.
    pub bandersnatch: SealSecret,
    /// Ed25519: GRANDPA votes.
    pub ed25519: SigningKey,
}

impl std::fmt::Debug for ValidatorSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log.
        f.write_str("ValidatorSecrets(<redacted>)")
    }
}

/// The secrets of the validator with `seed`.
pub fn secrets(seed: &[u8; 32]) -> ValidatorSecrets {
    ValidatorSecrets {
        bandersnatch: SealSecret::from_seed(&diverge_keys::bandersnatch_seed(seed)),
        ed25519: diverge_keys::ed25519_key(seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_the_published_keys() {
        for i in 0..6 {
            let seed = diverge_keys::dev_seed(i);
            let s = secrets(&seed);
            let k = diverge_keys::public_keys(&seed);
            assert_eq!(s.bandersnatch.public(), k.bandersnatch);
            assert_eq!(s.ed25519.verifying_key().to_bytes(), k.ed25519);
        }
    }
}
