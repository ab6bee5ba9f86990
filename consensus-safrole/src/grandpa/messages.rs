//! GRANDPA wire messages and their signatures.
//!
//! A vote signs (set id, round, kind, target hash, target number, target post-state root) under
//! a domain tag, so a vote cannot be replayed in another round, set or role, and it commits to
//! the state the voter validated, not only the header.

use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::{Hash, ValidatorIndex};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

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
    ///
    /// The verdict is a pure function of the key, the signed payload and the signature, and
    /// every simulated voter checks the same votes (as votes, then again inside commits), so
    /// a success is remembered process-wide, keyed by exactly those bytes; a failure is always
    /// re-checked. Which key to check against (attribution) is the caller's choice, outside
    /// the memo. Every call is counted as one check ([`diverge_plugins::work`]), hit or not, so
    /// the simulator charges a node the same either way.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        diverge_plugins::work::add(diverge_plugins::work::VOTE_CHECK, 1);
        let payload = self.signed_payload();
        let mut k = Vec::with_capacity(64 + payload.len() + 64);
        k.extend_from_slice(b"diverge/grandpa/vote-verdict/v1");
        k.extend_from_slice(key.as_bytes());
        k.extend_from_slice(&payload);
        k.extend_from_slice(&self.signature);
        let k = diverge_plugins::blake2b_256(&k).0;
        if verified()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&k)
        {
            return true;
        }
        if !Self::check(key, &payload, &self.signature) {
            return false;
        }
        let mut memo = verified().lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= VERIFIED_CAP {
            // Bounded memory: start over (a cleared memo only costs real checks again).
            memo.clear();
        }
        memo.insert(k);
        true
    }

    /// [`SignedVote::verify`] without the memo: the signature check itself (benchmarks, tests).
    pub fn verify_uncached(&self, key: &VerifyingKey) -> bool {
        Self::check(key, &self.signed_payload(), &self.signature)
    }

    fn signed_payload(&self) -> Vec<u8> {
        Self::payload(
            self.set_id,
            self.round,
            self.kind,
            &self.target,
            self.number,
            &self.state_root,
        )
    }

    fn check(key: &VerifyingKey, payload: &[u8], signature: &[u8; 64]) -> bool {
        key.verify(payload, &Signature::from_bytes(signature))
            .is_ok()
    }
}

/// Signatures remembered, at most, before the memo starts over (32 bytes each: ~2 MB).
const VERIFIED_CAP: usize = 1 << 16;

/// Process-wide memo of vote signatures that verified (see [`SignedVote::verify`]).
fn verified() -> &'static Mutex<HashSet<[u8; 32]>> {
    static V: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Forgets every remembered signature verdict (benchmarks of the real check; tests).
pub fn clear_vote_cache() {
    verified().lock().unwrap_or_else(|p| p.into_inner()).clear();
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

/// Why a justification does not prove finality.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JustificationError {
    /// For another voter set.
    #[error("justification for set {got}, expected {expected}")]
    WrongSet {
        /// Its set id.
        got: u64,
        /// The expected one.
        expected: u64,
    },
    /// A vote that is not a precommit of the justification's round and set.
    #[error("vote of voter {0} is not a precommit of this round and set")]
    NotAPrecommit(ValidatorIndex),
    /// A voter index outside the set.
    #[error("voter {0} is not in the set")]
    UnknownVoter(ValidatorIndex),
    /// A bad signature.
    #[error("bad signature from voter {0}")]
    BadSignature(ValidatorIndex),
    /// A precommit for a block that is not the target or its descendant (or unknown).
    #[error("precommit of voter {0} is not for the target or a known descendant")]
    NotDescendant(ValidatorIndex),
    /// Too few distinct voters.
    #[error("{have} distinct voters, {need} needed")]
    TooFewVoters {
        /// Distinct valid voters.
        have: usize,
        /// Threshold.
        need: usize,
    },
}

impl Justification {
    /// Checks the proof with nothing but headers: `header(h)` gives a known block's parent and
    /// height. Every precommit must be a correctly signed precommit of this round and set for
    /// the target or a descendant, from more than two thirds of `keys`.
    pub fn verify(
        &self,
        set_id: u64,
        keys: &[VerifyingKey],
        header: &dyn Fn(&Hash) -> Option<(Hash, u32)>,
        check_signatures: bool,
    ) -> Result<(), JustificationError> {
        if self.set_id != set_id {
            return Err(JustificationError::WrongSet {
                got: self.set_id,
                expected: set_id,
            });
        }
        let mut voters = std::collections::BTreeSet::new();
        for v in &self.precommits {
            if v.kind != VoteKind::Precommit || v.round != self.round || v.set_id != self.set_id {
                return Err(JustificationError::NotAPrecommit(v.voter));
            }
            let key = keys
                .get(usize::from(v.voter))
                .ok_or(JustificationError::UnknownVoter(v.voter))?;
            if check_signatures && !v.verify(key) {
                return Err(JustificationError::BadSignature(v.voter));
            }
            if !descends(header, &self.target, self.number, &v.target) {
                return Err(JustificationError::NotDescendant(v.voter));
            }
            voters.insert(v.voter);
        }
        let need = 2 * keys.len() / 3 + 1;
        if voters.len() < need {
            return Err(JustificationError::TooFewVoters {
                have: voters.len(),
                need,
            });
        }
        Ok(())
    }
}

/// Whether `block` is `target` (at height `number`) or descends from it, walking headers.
fn descends(
    header: &dyn Fn(&Hash) -> Option<(Hash, u32)>,
    target: &Hash,
    number: u32,
    block: &Hash,
) -> bool {
    let mut cur = *block;
    loop {
        if cur == *target {
            return true;
        }
        match header(&cur) {
            Some((parent, n)) if n > number => cur = parent,
            _ => return false,
        }
    }
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
