//! Chain types shared by every plugin combination and the host.

use std::fmt;

use abi_stable::StableAbi;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

use crate::codec::{Decode, Encode};

/// A slot number: time since genesis in units of the slot length.
pub type Slot = u32;
/// Index of a validator in the current validator set.
pub type ValidatorIndex = u16;

/// Blake2b-256, JAM's hash function (GP section 3.8).
pub fn blake2b_256(data: &[u8]) -> Hash {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// A 32-byte Blake2b-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used as the parent of genesis.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Lowercase hex with `0x`, the form JSON and logs use.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parses `0x`-prefixed or bare hex of exactly 32 bytes.
    pub fn from_hex(s: &str) -> Result<Hash, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)?;
        Ok(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits identify a block in logs; full hashes go to JSON.
        write!(f, "0x{}…", hex::encode(&self.0[..4]))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// The block header every plugin combination shares.
///
/// The host understands every field but `digest` and `seal`, which belong to the consensus
/// plugin (markers, VRF outputs, tickets; the seal signature). Finality proofs travel beside the
/// header, never in it, so a header is final-or-not without changing its hash.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct Header {
    /// Hash of the parent header ([`Hash::ZERO`] for the first block after genesis).
    pub parent: Hash,
    /// Slot the block was authored in.
    pub slot: Slot,
    /// Validator index of the author.
    pub author: ValidatorIndex,
    /// Blake2b-256 of the block payload (the transactions the exec plugin runs).
    pub payload_hash: Hash,
    /// The DA plugin's commitment to the erasure-coded payload, opaque to everyone else.
    pub da_commitment: Vec<u8>,
    /// The exec plugin's state root after applying the payload.
    pub post_state_root: Hash,
    /// Consensus-plugin data (VRF output, epoch and ticket markers, ...).
    pub digest: Vec<u8>,
    /// The author's seal over everything above.
    pub seal: Vec<u8>,
}

impl Header {
    /// The header's identity: Blake2b-256 of its full encoding, seal included.
    pub fn hash(&self) -> Hash {
        blake2b_256(&self.encode())
    }

    /// The bytes a seal signs: the encoding with an empty seal.
    pub fn unsealed_bytes(&self) -> Vec<u8> {
        let mut unsealed = self.clone();
        unsealed.seal.clear();
        unsealed.encode()
    }
}

/// One validator's public keys, laid out like JAM's validator data (GP eq. 6.8: 336 bytes).
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorKeys {
    /// Bandersnatch key: Safrole tickets and seals.
    pub bandersnatch: [u8; 32],
    /// Ed25519 key: votes and network identity.
    pub ed25519: [u8; 32],
    /// BLS key (JAM reserves it for BEEFY; plugins may use it for their own schemes).
    pub bls: [u8; 144],
    /// Opaque metadata (JAM: network address hints).
    pub metadata: [u8; 128],
}

impl fmt::Debug for ValidatorKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ValidatorKeys(ed25519=0x{}…)",
            hex::encode(&self.ed25519[..4])
        )
    }
}

/// The secret a validator's keys derive from, handed only to its own node's plugins.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorSecret {
    /// This validator's index in the genesis set.
    pub index: ValidatorIndex,
    /// 32-byte seed; each plugin derives the keys it needs (JAM's dev keys use the same scheme).
    pub seed: [u8; 32],
}

impl fmt::Debug for ValidatorSecret {
    // A secret must never reach a log, so Debug shows only the index.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidatorSecret(index={}, seed=<redacted>)", self.index)
    }
}

/// Chain-wide protocol parameters (JAM's "tiny" and "full" presets, or custom).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct ChainParams {
    /// Preset name this was derived from (`tiny`, `full` or `custom`).
    pub preset: String,
    /// V: number of validators.
    pub validators: u16,
    /// E: slots per epoch.
    pub epoch_len: u32,
    /// Y: slot after which tickets are no longer accepted in an epoch.
    pub ticket_end: u32,
    /// N: ticket entries per validator.
    pub tickets_per_validator: u8,
    /// K: maximum tickets per block extrinsic.
    pub max_tickets_per_block: u16,
    /// Slot length in milliseconds.
    pub slot_ms: u64,
    /// Erasure coding: data shards k out of V (JAM: 342 of 1023, 2 of 6).
    pub erasure_k: u16,
}

impl ChainParams {
    /// JAM "tiny": 6 validators, 12-slot epochs, tickets until slot 10.
    pub fn tiny() -> ChainParams {
        ChainParams {
            preset: "tiny".into(),
            validators: 6,
            epoch_len: 12,
            ticket_end: 10,
            tickets_per_validator: 3,
            max_tickets_per_block: 3,
            slot_ms: 6000,
            erasure_k: 2,
        }
    }

    /// JAM "full": 1023 validators, 600-slot epochs, tickets until slot 500.
    pub fn full() -> ChainParams {
        ChainParams {
            preset: "full".into(),
            validators: 1023,
            epoch_len: 600,
            ticket_end: 500,
            tickets_per_validator: 2,
            max_tickets_per_block: 16,
            slot_ms: 6000,
            erasure_k: 342,
        }
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Option<ChainParams> {
        match name {
            "tiny" => Some(Self::tiny()),
            "full" => Some(Self::full()),
            _ => None,
        }
    }

    /// The data-shard count k for `v` validators: JAM's own where a preset fixes it (2 of 6,
    /// 342 of 1023), otherwise ceil(V/3), so about a third of the shards rebuild the data.
    pub fn default_erasure_k(v: u16) -> u16 {
        match v {
            6 => 2,
            1023 => 342,
            _ => v.div_ceil(3).max(1),
        }
    }

    /// The supermajority threshold floor(2V/3)+1.
    pub fn supermajority(&self) -> u16 {
        (2 * u32::from(self.validators) / 3 + 1) as u16
    }
}

/// Which of the three plugin axes a library implements.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, StableAbi, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Block authorship and finality.
    Consensus,
    /// Data availability: erasure coding and shard checks.
    Da,
    /// Execution: running and validating the block payload.
    Exec,
}

impl Axis {
    /// The config section that names this axis.
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::Consensus => "consensus",
            Axis::Da => "da",
            Axis::Exec => "exec",
        }
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str, so table layouts with {:<9} line up.
        f.pad(self.as_str())
    }
}

/// What a plugin says about itself.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PluginMeta {
    /// Crate name, e.g. `da-rs1d`.
    pub name: String,
    /// Crate version.
    pub version: String,
    /// The axis it implements.
    pub axis: Axis,
    /// [`crate::ABI_VERSION`] it was built against.
    pub abi_version: u32,
    /// One line for `diverge plugins`.
    pub description: String,
}

/// Everything a plugin instance is created from.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct InitArgs {
    /// Chain parameters.
    pub chain: ChainParams,
    /// The plugin-specific config table (`[da.params]` etc.) as JSON; the plugin parses it.
    pub params_json: String,
    /// The genesis validator set.
    pub validators: Vec<ValidatorKeys>,
    /// This node's validator secret, if it validates.
    pub identity: Option<ValidatorSecret>,
    /// Axis-specific genesis data from the chain spec (e.g. threshold-key material), opaque.
    pub genesis: Vec<u8>,
}

impl InitArgs {
    /// Arguments for a plugin that needs only chain parameters and its own params.
    pub fn new(chain: ChainParams, params_json: impl Into<String>) -> InitArgs {
        InitArgs {
            chain,
            params_json: params_json.into(),
            validators: Vec::new(),
            identity: None,
            genesis: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;

    #[test]
    fn blake2b_256_known_answer() {
        // Blake2b-256 of the empty string (RFC 7693 family, 32-byte output).
        assert_eq!(
            blake2b_256(b"").to_hex(),
            "0x0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    #[test]
    fn presets_follow_jam() {
        assert_eq!(ChainParams::default_erasure_k(1023), 342);
        assert_eq!(ChainParams::default_erasure_k(6), 2);
        assert_eq!(ChainParams::default_erasure_k(100), 34);
        assert_eq!(ChainParams::full().supermajority(), 683);
        assert_eq!(ChainParams::tiny().supermajority(), 5);
    }

    #[test]
    fn header_roundtrip_and_seal_excluded_from_unsealed() {
        let h = Header {
            slot: 7,
            author: 3,
            da_commitment: vec![1, 2, 3],
            seal: vec![9; 96],
            ..Header::default()
        };
        let back: Header = decode_exact(&h.encode()).expect("roundtrip");
        assert_eq!(back, h);
        let mut other = h.clone();
        other.seal = vec![8; 96];
        assert_eq!(h.unsealed_bytes(), other.unsealed_bytes());
        assert_ne!(h.hash(), other.hash());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = ValidatorSecret {
            index: 1,
            seed: [0xab; 32],
        };
        assert!(!format!("{s:?}").contains("abab"));
    }
}
