//! GRANDPA wire messages and their signatures.
//!
//! A vote signs (set id, round, kind, target hash, target number, target post-state root) under
//! a domain tag, so a vote cannot be replayed in another round, set or role, and it commits to
//! the state the voter validated, not only the header.

use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::{Hash, ValidatorIndex};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Domain separation for every GRANDPA signature of this plugin.
const DOMAIN: &[u8] = b"diverge/grandpa/v1";

/// Which step a vote belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum VoteKind {
    /// The round's primary suggests a block to prevote on.
    PrimaryPropose,
    /// First vote of a round.
    Prevote,
    /// Second vote of a round.
    Precommit,
}

impl VoteKind {
    /// Dotted name for telemetry and misbehaviour kinds.
    pub fn as_str(self) -> &'static str {
        match self {
            VoteKind::PrimaryPropose => "primary_propose",
            VoteKind::Prevote => "prevote",
            VoteKind::Precommit => "precommit",
        }
    }
}

/// A signed vote.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedVote {
    /// Voter set id (changes with the validator set).
    pub set_id: u64,
    /// Round number.
    pub round: u64,
    /// Step.
    pub kind: VoteKind,
    /// Voted block.
    pub target: Hash,
    /// Its height.
    pub number: u32,
    /// Its post-state root, as the voter validated it.
    pub state_root: Hash,
    /// Voter index in the set.
    pub voter: ValidatorIndex,
    /// Ed25519 signature over [`SignedVote::payload`].
    pub signature: [u8; 64],
}

impl SignedVote {
    /// The bytes signed.
    pub fn payload(
        set_id: u64,
        round: u64,
        kind: VoteKind,
        target: &Hash,
        number: u32,
        state_root: &Hash,
    ) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        (set_id, round, kind, *target, number, *state_root).encode_to(&mut out);
        out
    }

    /// Signs a vote.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        key: &SigningKey,
        voter: ValidatorIndex,
        set_id: u64,
        round: u64,
        kind: VoteKind,
        target: Hash,
        number: u32,
        state_root: Hash,
    ) -> SignedVote {
        let sig = key.sign(&Self::payload(
            set_id,
            round,
            kind,
            &target,
            number,
            &state_root,
        ));
        SignedVote {
            set_id,
            round,
            kind,
            target,
            number,
            state_root,
            voter,
            signature: sig.to_bytes(),
        }
    }

    /// Checks the signature against the voter's key.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let payload = Self::payload(
            self.set_id,
            self.round,
            self.kind,
            &self.target,
            self.number,
            &self.state_root,
        );
        key.verify(&payload, &Signature::from_bytes(&self.signature))
            .is_ok()
    }
}

/// Proof that a block is final: precommits of one round from more than two thirds of the set
/// for the block or its descendants. A node holding only headers can check it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Justification {
    /// Set id.
    pub set_id: u64,
    /// The round that finalized.
    pub round: u64,
    /// Finalized block.
    pub target: Hash,
    /// Its height.
    pub number: u32,
    /// The precommits.
    pub precommits: Vec<SignedVote>,
}

/// Two conflicting signed votes of one voter in one round and step: transferable evidence.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EquivocationProof {
    /// The earlier vote.
    pub first: SignedVote,
    /// The conflicting one.
    pub second: SignedVote,
}

impl EquivocationProof {
    /// Whether this is real evidence under `key`: same voter, set, round and step, different
    /// targets, both signatures valid.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let (a, b) = (&self.first, &self.second);
        a.voter == b.voter
            && a.set_id == b.set_id
            && a.round == b.round
            && a.kind == b.kind
            && a.target != b.target
            && a.verify(key)
            && b.verify(key)
    }
}

/// What GRANDPA voters gossip.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// A vote.
    Vote(SignedVote),
    /// A finality proof, for voters that fell behind.
    Commit(Justification),
}
