//! What nodes say to each other, in the JAM codec: blocks, shards, availability, sync.
//! Consensus messages are the plugin's own bytes and travel unchanged.

use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::{Hash, Header};

/// A block as the author distributes it: the header and everything a validator needs to check
/// it (the payload for re-execution; the receipt and the proof for proof checking).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockMsg {
    /// The sealed header.
    pub header: Header,
    /// The exec plugin's payload (the transactions).
    pub payload: Vec<u8>,
    /// The author's receipt.
    pub receipt: Vec<u8>,
    /// The author's proof of execution (empty for re-execution).
    pub proof: Vec<u8>,
}

/// Validator `index`'s erasure-coded piece of a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ShardMsg {
    /// The block.
    pub block: Hash,
    /// The shard's index (the receiving validator's).
    pub index: u32,
    /// The shard as the DA plugin made it.
    pub shard: Vec<u8>,
}

/// A validator checked its shard of `block` against the commitment.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AvailabilityMsg {
    /// The block.
    pub block: Hash,
    /// The shard index that checked.
    pub index: u32,
}

/// Catching up: a node that restarted or fell behind asks for heads and blocks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncMsg {
    /// "What are your best and finalized blocks?"
    GetHead,
    /// The answer: best block, finalized block and its justification.
    Head {
        /// Fork-choice head.
        best: Hash,
        /// Last finalized block.
        finalized: Hash,
        /// Its justification (consensus plugin encoding).
        justification: Vec<u8>,
    },
    /// "Send me this block" (answered with a [`BlockMsg`] on the block channel).
    GetBlock(Hash),
    /// "Send me this block's shard for my index" (answered with a [`ShardMsg`]).
    GetShard(Hash),
}
