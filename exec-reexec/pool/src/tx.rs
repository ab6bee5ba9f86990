//! The payload and receipt encodings, and the layout the guest reads.
//!
//! # Payload format (JAM codec; `natural` is GP eq. C.6's variable-length integer)
//!
//! ```text
//! payload  = natural(n) ++ tx{n}
//! tx       = 0u8 ++ transfer | 1u8 ++ deposit | 2u8 ++ withdraw
//! transfer = natural(k) ++ nullifier{k} ++ natural(m) ++ commitment{m} ++ le64(fee)
//! deposit  = natural(m) ++ commitment{m} ++ le64(value) ++ from[32]
//! withdraw = natural(k) ++ nullifier{k} ++ natural(m) ++ commitment{m} ++ le64(value) ++ to[32]
//! ```
//!
//! Nullifiers and commitments are 32 bytes each; a transaction has at most
//! [`MAX_NULLIFIERS`] of one and [`MAX_COMMITMENTS`] of the other. The host's workload generator
//! (`host/src/workload.rs`) writes this format without linking this crate, so this comment is
//! the one spec both follow.
//!
//! # Receipt format
//!
//! `natural(n) ++ result_u8{n} ++ le64(gas_used)`, one [`TxResult`] code per transaction.

use diverge_plugins::codec::{decode_exact, Decode, Encode};

/// Most nullifiers one transaction may reveal (the guest's buffer holds this many).
pub const MAX_NULLIFIERS: usize = 16;
/// Most commitments one transaction may create.
pub const MAX_COMMITMENTS: usize = 16;

/// A 32-byte nullifier or note commitment.
pub type Bytes32 = [u8; 32];

/// One transaction.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Tx {
    /// Spends notes and creates notes inside the pool; `fee` leaves the pool.
    Transfer {
        /// Nullifiers of the spent notes.
        nullifiers: Vec<Bytes32>,
        /// Commitments of the new notes.
        commitments: Vec<Bytes32>,
        /// Fee, paid out of the pool's value.
        fee: u64,
    },
    /// Moves transparent value into the pool as new notes.
    Deposit {
        /// Commitments of the new notes.
        commitments: Vec<Bytes32>,
        /// Value added to the pool.
        value: u64,
        /// Transparent sender (carried, not checked: accounts are out of scope).
        from: Bytes32,
    },
    /// Spends notes and moves `value` out of the pool to a transparent recipient.
    Withdraw {
        /// Nullifiers of the spent notes.
        nullifiers: Vec<Bytes32>,
        /// Commitments of change notes.
        commitments: Vec<Bytes32>,
        /// Value taken out of the pool.
        value: u64,
        /// Transparent recipient.
        to: Bytes32,
    },
}

impl Tx {
    /// The nullifiers this transaction reveals.
    pub fn nullifiers(&self) -> &[Bytes32] {
        match self {
            Tx::Transfer { nullifiers, .. } | Tx::Withdraw { nullifiers, .. } => nullifiers,
            Tx::Deposit { .. } => &[],
        }
    }

    /// The commitments this transaction creates.
    pub fn commitments(&self) -> &[Bytes32] {
        match self {
            Tx::Transfer { commitments, .. }
            | Tx::Deposit { commitments, .. }
            | Tx::Withdraw { commitments, .. } => commitments,
        }
    }
}

/// Why a payload does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// Not the codec's format.
    #[error("payload does not decode: {0}")]
    Codec(String),
    /// A transaction over the per-transaction limits.
    #[error("transaction {index} has {nullifiers} nullifiers and {commitments} commitments (limits {MAX_NULLIFIERS}, {MAX_COMMITMENTS})")]
    TooLarge {
        /// Position in the payload.
        index: usize,
        /// Nullifier count.
        nullifiers: usize,
        /// Commitment count.
        commitments: usize,
    },
}

/// Encodes a batch as a payload.
pub fn encode_payload(txs: &[Tx]) -> Vec<u8> {
    txs.to_vec().encode()
}

/// Decodes a payload, enforcing the per-transaction limits.
pub fn decode_payload(bytes: &[u8]) -> Result<Vec<Tx>, PayloadError> {
    let txs: Vec<Tx> = decode_exact(bytes).map_err(|e| PayloadError::Codec(e.to_string()))?;
    for (index, tx) in txs.iter().enumerate() {
        let (nullifiers, commitments) = (tx.nullifiers().len(), tx.commitments().len());
        if nullifiers > MAX_NULLIFIERS || commitments > MAX_COMMITMENTS {
            return Err(PayloadError::TooLarge {
                index,
                nullifiers,
                commitments,
            });
        }
    }
    Ok(txs)
}

/// Lays the batch out as the guest reads it (`guest/pool.c`): per transaction
/// `kind u8, n_nullifiers u8, n_commitments u8, 0u8, le64(value), nullifiers, commitments`.
/// Fixed-width records keep the guest's parser a dozen lines; the codec stays on the host side.
pub fn guest_input(txs: &[Tx]) -> Vec<u8> {
    let mut out = Vec::with_capacity(txs.len() * (12 + 4 * 32));
    for tx in txs {
        let (kind, value) = match tx {
            Tx::Transfer { fee, .. } => (0u8, *fee),
            Tx::Deposit { value, .. } => (1, *value),
            Tx::Withdraw { value, .. } => (2, *value),
        };
        // decode_payload bounds both counts by 16, so they fit a byte.
        out.extend_from_slice(&[
            kind,
            tx.nullifiers().len() as u8,
            tx.commitments().len() as u8,
            0,
        ]);
        out.extend_from_slice(&value.to_le_bytes());
        for n in tx.nullifiers() {
            out.extend_from_slice(n);
        }
        for c in tx.commitments() {
            out.extend_from_slice(c);
        }
    }
    out
}

/// The outcome of one transaction, as the guest reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum TxResult {
    /// Applied.
    Ok = 0,
    /// A nullifier was spent in an earlier block (a cross-block double spend).
    NullifierSpent = 1,
    /// A nullifier was spent by an earlier transaction of the same block.
    NullifierRepeatedInBlock = 2,
    /// The transaction reveals one nullifier twice.
    NullifierRepeatedInTx = 3,
    /// Fee or withdrawal exceeds the pool's value.
    PoolInsufficient = 4,
    /// A deposit would overflow the pool's value.
    PoolOverflow = 5,
    /// The commitment tree (2^32 leaves) is full.
    TreeFull = 6,
    /// The transaction's shape is invalid (e.g. a transfer without inputs).
    BadShape = 7,
}

impl TxResult {
    /// The code as the guest reports it, or `None` for a code this version does not know.
    pub fn from_code(code: u64) -> Option<TxResult> {
        Some(match code {
            0 => TxResult::Ok,
            1 => TxResult::NullifierSpent,
            2 => TxResult::NullifierRepeatedInBlock,
            3 => TxResult::NullifierRepeatedInTx,
            4 => TxResult::PoolInsufficient,
            5 => TxResult::PoolOverflow,
            6 => TxResult::TreeFull,
            7 => TxResult::BadShape,
            _ => return None,
        })
    }

    /// Whether the transaction was applied.
    pub fn is_ok(self) -> bool {
        self == TxResult::Ok
    }
}

/// What the block's author claims (and validators recompute): results and gas.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Receipt {
    /// One [`TxResult`] code per transaction.
    pub results: Vec<u8>,
    /// Gas the block used.
    pub gas_used: u64,
}

impl Receipt {
    /// Decodes a receipt from untrusted bytes.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Receipt, PayloadError> {
        decode_exact(bytes).map_err(|e| PayloadError::Codec(e.to_string()))
    }

    /// How many transactions were applied.
    pub fn accepted(&self) -> usize {
        self.results
            .iter()
            .filter(|&&r| r == TxResult::Ok as u8)
            .count()
    }
}
