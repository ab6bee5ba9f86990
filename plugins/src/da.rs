//! The data-availability axis: erasure-code a block payload into one shard per validator, check
//! each shard against the commitment on receipt, rebuild the payload from enough checked shards.
//!
//! # Guarantees a scheme must give
//! - **Determinism**: `encode` of the same bytes gives the same commitment and shards.
//! - **Binding**: a shard that passes [`DataAvailability::verify_shard`] for a commitment is the
//!   one the encoder committed to at that index.
//! - **Recovery**: any [`DaShape::min_shards`] distinct checked shards of an honest encoding
//!   decode to the encoded bytes.
//!
//! Whether shards that each check also decode *consistently* under a malicious encoder is what
//! separates the schemes (1D Reed-Solomon with a Merkle root does not guarantee it, ZODA does);
//! that is measured, not assumed.
//!
//! Typestate: [`CheckedShard`] can only be made by [`CheckShard::check`], and `decode` takes only
//! checked shards, so unverified bytes from the network never reach the decoder.

use crate::error::PluginError;

/// The malicious encoders of `shared/research/zoda.md` §5, named once so a scenario, the
/// simulator and every DA plugin mean the same construction. A plugin builds them from its
/// `[da.params] adversary` key, an adversary knob that only the simulator's byzantine author
/// sets (never a chain config); the commitment and shards it returns are what a real verifier
/// sees, so the plugin's ordinary `verify_shard` and `decode` are what is tested.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaliciousEncoding {
    /// Random shards under a valid root: nothing is a codeword.
    RandomShards,
    /// The honest encoding with one shard (a parity one) corrupted before it is committed.
    CorruptShard,
    /// The first half of the shards from the payload, the second half from other data.
    Splice,
    /// Honest data under a check that lies: ZODA's checksum `W` perturbed; da-rs1d has no
    /// checksum, its redundancy (the parity chunks) is forged instead.
    ForgedChecksum,
    /// Every odd-indexed validator gets a shard of another version of the block under the
    /// one commitment in the header.
    Equivocation,
}

impl MaliciousEncoding {
    /// Every construction, in the note's order.
    pub const ALL: [MaliciousEncoding; 5] = [
        MaliciousEncoding::RandomShards,
        MaliciousEncoding::CorruptShard,
        MaliciousEncoding::Splice,
        MaliciousEncoding::ForgedChecksum,
        MaliciousEncoding::Equivocation,
    ];

    /// The config spelling (`random_shards`, ...): serde's, so it cannot drift from what a
    /// scenario file deserializes.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            // A unit variant under rename_all always serializes to a string.
            _ => format!("{self:?}"),
        }
    }

    /// `len` bytes of a Blake2b counter stream keyed by `tag` and `data`: the adversary's
    /// "random" bytes, reproducible so a run replays from its seed.
    pub fn noise(tag: &[u8], data: &[u8], len: usize) -> Vec<u8> {
        let key = crate::blake2b_256(data);
        let mut out = Vec::with_capacity(len + 32);
        let mut counter = 0u64;
        let mut buf = Vec::with_capacity(tag.len() + 40);
        while out.len() < len {
            buf.clear();
            buf.extend_from_slice(tag);
            buf.extend_from_slice(&key.0);
            buf.extend_from_slice(&counter.to_le_bytes());
            counter += 1;
            out.extend_from_slice(&crate::blake2b_256(&buf).0);
        }
        out.truncate(len);
        out
    }

    /// The "other data" of a splice or an equivocation: `data` with every byte changed, of the
    /// same length (so it fits the same commitment shape).
    pub fn other_payload(data: &[u8]) -> Vec<u8> {
        MaliciousEncoding::noise(b"diverge/adversary/other", data, data.len())
            .into_iter()
            .zip(data)
            .map(|(n, d)| d ^ (n | 1))
            .collect()
    }
}

/// Sizes of a scheme instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DaShape {
    /// Shards produced: one per validator.
    pub shards: u32,
    /// Distinct checked shards needed to decode.
    pub min_shards: u32,
}

/// The output of encoding a payload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Encoded {
    /// The commitment that goes in the header.
    pub commitment: Vec<u8>,
    /// One shard per validator, index = validator index.
    pub shards: Vec<Vec<u8>>,
}

/// A shard that passed [`DataAvailability::verify_shard`] for some commitment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CheckedShard {
    index: u32,
    bytes: Vec<u8>,
}

impl CheckedShard {
    /// The shard's index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The shard's bytes, as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes it into its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Only the ABI layer may rebuild a checked shard: the host side of the boundary made it
    /// through `check`, so the plugin side may trust it without re-verifying.
    pub(crate) fn from_host(index: u32, bytes: Vec<u8>) -> CheckedShard {
        CheckedShard { index, bytes }
    }
}

/// A data-availability scheme (JAM 1D Reed-Solomon, 2D ZODA, ...).
pub trait DataAvailability: Send + Sync {
    /// Shard counts of this instance.
    fn shape(&self) -> DaShape;

    /// Erasure-codes `data` and commits to the shards.
    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError>;

    /// Checks shard `index` against `commitment`; `Rejected` names what failed.
    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError>;

    /// Rebuilds the payload from at least [`DaShape::min_shards`] distinct checked shards.
    fn decode(&self, commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError>;

    /// Shard indices a light client with `seed` should fetch and check. `Unsupported` when the
    /// scheme has no sampling story.
    fn sample(&self, commitment: &[u8], seed: &[u8; 32]) -> Result<Vec<u32>, PluginError> {
        let _ = (commitment, seed);
        Err(PluginError::unsupported(
            "this DA scheme offers no light-client sampling",
        ))
    }
}

/// The only way to obtain a [`CheckedShard`].
pub trait CheckShard {
    /// Verifies the shard and wraps it.
    fn check(
        &self,
        commitment: &[u8],
        index: u32,
        shard: Vec<u8>,
    ) -> Result<CheckedShard, PluginError>;
}

impl<T: DataAvailability + ?Sized> CheckShard for T {
    fn check(
        &self,
        commitment: &[u8],
        index: u32,
        shard: Vec<u8>,
    ) -> Result<CheckedShard, PluginError> {
        self.verify_shard(commitment, index, &shard)?;
        Ok(CheckedShard {
            index,
            bytes: shard,
        })
    }
}
