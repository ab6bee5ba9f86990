//! Votes (one OSST contribution each), their payloads and certificates.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::{blake2b_256, Hash, Slot};
use osst::Contribution;
use sha2::{Digest as _, Sha512};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::keys::KeySet;

/// NOTARIZE: the proposal for the slot checked (seal, parent rule, shard, execution).
pub const NOTARIZE: u8 = 0;
/// FINALIZE: the slot's block is notarized and this node has not skipped the slot.
pub const FINALIZE: u8 = 1;
/// SKIP: the slot timed out without a notarization here.
pub const SKIP: u8 = 2;
/// DEALERS: the dealer set of an epoch's reshare (hash of the set; slot = the epoch's anchor).
pub const DEALERS: u8 = 3;

/// What a vote is on. SKIP names no block: hash and root are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Subject {
    /// NOTARIZE, FINALIZE or SKIP.
    pub kind: u8,
    /// The slot.
    pub slot: Slot,
    /// The block (zero for SKIP).
    pub hash: Hash,
    /// Its post-state root (binds execution, as JAM's GRANDPA votes do; zero for SKIP).
    pub root: Hash,
}

impl Subject {
    /// A SKIP subject.
    pub fn skip(slot: Slot) -> Subject {
        Subject {
            kind: SKIP,
            slot,
            hash: Hash::default(),
            root: Hash::default(),
        }
    }

    /// Whether the fields are consistent (a known kind; SKIP names no block).
    pub fn well_formed(&self) -> bool {
        match self.kind {
            NOTARIZE | FINALIZE => true,
            SKIP => self.hash == Hash::default() && self.root == Hash::default(),
            DEALERS => self.root == Hash::default(),
            _ => false,
        }
    }

    /// The signed payload. OSST's challenge H(u_i || payload) hashes neither the key nor the
    /// index, so every bit of domain separation (chain, key set, kind, slot) is in here.
    pub fn payload(&self, genesis: &Hash, group: &RistrettoPoint) -> [u8; 32] {
        self.payload_compressed(genesis, group.compress().as_bytes())
    }

    /// [`Subject::payload`] with Y already compressed (a vote check needs its bytes twice).
    fn payload_compressed(&self, genesis: &Hash, group: &[u8; 32]) -> [u8; 32] {
        let mut v = b"diverge-ssf/v1".to_vec();
        v.extend_from_slice(&genesis.0);
        v.extend_from_slice(group);
        v.push(self.kind);
        v.extend_from_slice(&self.slot.to_le_bytes());
        v.extend_from_slice(&self.hash.0);
        v.extend_from_slice(&self.root.0);
        blake2b_256(&v).0
    }
}

/// One validator's vote: the subject, the sharing it signs with and its 68-byte OSST
/// contribution (u32 LE index ‖ u ‖ s).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vote {
    /// What it is on.
    pub subject: Subject,
    /// The sharing ([`KeySet::id`]) of the signer's share: a receiver checks the vote against
    /// that sharing's y_i, and only votes of one sharing are aggregated into a certificate.
    /// The payload does not include it: a certificate checks against Y alone, the same in
    /// every sharing.
    pub sharing: u32,
    /// The contribution bytes.
    pub contribution: [u8; 68],
}

impl Vote {
    /// The OSST index (1-based) the contribution claims.
    pub fn index(&self) -> u32 {
        let mut i = [0u8; 4];
        i.copy_from_slice(&self.contribution[..4]);
        u32::from_le_bytes(i)
    }
}

/// t contributions on one subject: verified against the group key alone.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Certificate {
    /// What it certifies.
    pub subject: Subject,
    /// At least t contributions with distinct indices.
    pub contributions: Vec<[u8; 68]>,
}

/// Why a vote or certificate does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VoteError {
    /// Unknown kind, or a SKIP naming a block.
    #[error("malformed subject")]
    Subject,
    /// The vote names another sharing than the key set it is checked against.
    #[error("vote of sharing {0} checked against another sharing")]
    Sharing(u32),
    /// The index is not 1..=V.
    #[error("index {0} is not a validator")]
    Index(u32),
    /// Point or scalar bytes do not decode.
    #[error("contribution does not decode")]
    Encoding,
    /// The Schnorr equation g^s = u * y_i^c fails.
    #[error("contribution {0} does not verify against its verification share")]
    Invalid(u32),
    /// Fewer than t distinct contributions.
    #[error("{got} distinct contributions, need {need}")]
    TooFew {
        /// Distinct contributions.
        got: usize,
        /// t.
        need: usize,
    },
    /// The aggregate OSST equation fails.
    #[error("certificate does not verify against the group key")]
    Aggregate,
}

fn nonce(secret: &Scalar, payload: &[u8]) -> Scalar {
    // Deterministic nonce r = H(x ‖ payload): the crate draws r from an RNG, but a plugin has
    // none that replays; r depends on the secret and the whole payload, so two payloads never
    // share a nonce (a reused r across payloads would leak x).
    let mut h = Sha512::new();
    h.update(b"diverge-ssf/nonce");
    h.update(secret.as_bytes());
    h.update(payload);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// This node's vote on `subject` (index is 1-based).
pub fn sign(subject: Subject, index: u32, secret: &Scalar, genesis: &Hash, keys: &KeySet) -> Vote {
    let payload = subject.payload(genesis, &keys.group);
    let r = nonce(secret, &payload);
    let u = &r * RISTRETTO_BASEPOINT_TABLE;
    let c: Scalar = osst::hash_to_challenge(&u, &payload);
    let c = Contribution::new(index, u, r + c * secret);
    Vote {
        subject,
        sharing: keys.id,
        contribution: c.to_bytes(),
    }
}

/// Decodes a contribution; the index must be a validator's.
pub fn decode(
    bytes: &[u8; 68],
    validators: usize,
) -> Result<Contribution<RistrettoPoint>, VoteError> {
    let c = Contribution::<RistrettoPoint>::from_bytes(bytes).map_err(|_| VoteError::Encoding)?;
    if c.index == 0 || c.index as usize > validators {
        return Err(VoteError::Index(c.index));
    }
    Ok(c)
}

/// Vote keys remembered, at most, before the memo starts over (32 bytes each: ~2 MB).
const VERIFIED_CAP: usize = 1 << 16;

/// Process-wide memo of votes whose check succeeded, by [`verdict_key`].
fn verified() -> &'static Mutex<HashSet<[u8; 32]>> {
    static V: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Forgets every remembered vote verdict (benchmarks of the real check; tests).
pub fn clear_vote_cache() {
    verified().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The memo key: Blake2b-256 of every input the check reads, as exact bytes (genesis, Y, the
/// sharing id and its size, the signer's y_i, the whole encoded vote). Never the sender:
/// attribution is the caller's (the engine checks the sender owns the index).
fn verdict_key(
    vote: &Vote,
    genesis: &Hash,
    group: &[u8; 32],
    keys: &KeySet,
    y: &RistrettoPoint,
) -> [u8; 32] {
    let mut k = Vec::with_capacity(256);
    k.extend_from_slice(b"diverge-ssf/vote-verdict/v1");
    k.extend_from_slice(&genesis.0);
    k.extend_from_slice(group);
    k.extend_from_slice(&keys.id.to_le_bytes());
    k.extend_from_slice(&(keys.shares.len() as u64).to_le_bytes());
    k.extend_from_slice(y.compress().as_bytes());
    vote.encode_to(&mut k);
    blake2b_256(&k).0
}

/// Checks one vote against its verification share: g^s = u * y_i^c, an ordinary Schnorr proof
/// (research/ssf.md 2.8), so a failure names the culprit, unlike the aggregate check.
///
/// The verdict is a pure function of its inputs, and every simulated node checks the same vote
/// bytes (V^2 checks per step at V validators), so a success is remembered process-wide,
/// keyed by all of those inputs; a failure is always re-checked. Every call is counted as one
/// check ([`diverge_plugins::work`]), hit or not, so the simulator's schedule does not depend
/// on it.
pub fn verify_vote(vote: &Vote, genesis: &Hash, keys: &KeySet) -> Result<(), VoteError> {
    // Counted before the memo: the simulator's charge must not depend on a hit.
    diverge_plugins::work::add(diverge_plugins::work::VOTE_CHECK, 1);
    let group = keys.group.compress().to_bytes();
    let index = vote.index();
    let Some(y) = (index as usize)
        .checked_sub(1)
        .and_then(|i| keys.shares.get(i))
    else {
        // Out of range: the real check names why (no memo for failures).
        return check_vote(vote, genesis, &group, keys);
    };
    let key = verdict_key(vote, genesis, &group, keys, y);
    if verified()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    check_vote(vote, genesis, &group, keys)?;
    let mut memo = verified().lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= VERIFIED_CAP {
        // Bounded memory: start over (a cleared memo only costs real checks again).
        memo.clear();
    }
    memo.insert(key);
    Ok(())
}

/// [`verify_vote`] without the memo: the check itself (benchmarks, tests).
pub fn verify_vote_uncached(vote: &Vote, genesis: &Hash, keys: &KeySet) -> Result<(), VoteError> {
    check_vote(vote, genesis, &keys.group.compress().to_bytes(), keys)
}

fn check_vote(
    vote: &Vote,
    genesis: &Hash,
    group: &[u8; 32],
    keys: &KeySet,
) -> Result<(), VoteError> {
    if !vote.subject.well_formed() {
        return Err(VoteError::Subject);
    }
    if vote.sharing != keys.id {
        return Err(VoteError::Sharing(vote.sharing));
    }
    let index = vote.index();
    if index == 0 || index as usize > keys.shares.len() {
        return Err(VoteError::Index(index));
    }
    let y = keys
        .shares
        .get(index as usize - 1)
        .ok_or(VoteError::Index(index))?;
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&vote.contribution[36..68]);
    let response =
        Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(VoteError::Encoding)?;
    let payload = vote.subject.payload_compressed(genesis, group);
    // The challenge hashes the received point bytes, as osst::hash_to_challenge does after
    // recompressing (ristretto encodings are canonical, so both agree).
    let mut h = Sha512::new();
    h.update(&vote.contribution[4..36]);
    h.update(payload);
    let ch = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    // g^s - y^c must encode to exactly the received u bytes (variable time: all inputs are
    // public). Comparing encodings skips decompressing u; a non-canonical or invalid u can
    // never equal a canonical encoding, so it is refused here too.
    let rhs = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-ch, y, &response);
    if rhs.compress().as_bytes()[..] == vote.contribution[4..36] {
        Ok(())
    } else if CompressedRistretto::from_slice(&vote.contribution[4..36])
        .ok()
        .and_then(|c| c.decompress())
        .is_none()
    {
        Err(VoteError::Encoding)
    } else {
        Err(VoteError::Invalid(index))
    }
}

/// Checks a certificate: at least t distinct validator indices and the aggregate OSST equation
/// against the group key, with [`crate::fastverify`] (the same equation as `osst::verify`,
/// near-linear). Needs no votes and no validator state beyond the keys.
pub fn verify_certificate(
    cert: &Certificate,
    genesis: &Hash,
    keys: &KeySet,
) -> Result<(), VoteError> {
    diverge_plugins::work::add(diverge_plugins::work::CERTIFICATE_CHECK, 1);
    let (cs, payload) = parse_certificate(cert, genesis, keys)?;
    diverge_plugins::work::add(diverge_plugins::work::CONTRIBUTION_CHECK, cs.len() as u64);
    let parsed: Vec<_> = cs
        .iter()
        .map(|b| crate::fastverify::parse(b).ok_or(VoteError::Encoding))
        .collect::<Result<_, _>>()?;
    if crate::fastverify::verify(&keys.group, &parsed, keys.threshold, &payload, &keys.tables) {
        Ok(())
    } else {
        Err(VoteError::Aggregate)
    }
}

/// [`verify_certificate`] with the plain crate's `osst::verify` (the baseline the benchmark
/// and tests compare against).
pub fn verify_certificate_plain(
    cert: &Certificate,
    genesis: &Hash,
    keys: &KeySet,
) -> Result<(), VoteError> {
    let (cs, payload) = parse_certificate(cert, genesis, keys)?;
    let cs: Vec<_> = cs
        .iter()
        .map(|b| decode(b, keys.validators()))
        .collect::<Result<_, _>>()?;
    match osst::verify(&keys.group, &cs, keys.threshold as u32, &payload) {
        Ok(true) => Ok(()),
        _ => Err(VoteError::Aggregate),
    }
}

/// The structural checks: subject, indices in range and distinct, at least t; the payload.
fn parse_certificate<'a>(
    cert: &'a Certificate,
    genesis: &Hash,
    keys: &KeySet,
) -> Result<(&'a [[u8; 68]], [u8; 32]), VoteError> {
    if !cert.subject.well_formed() {
        return Err(VoteError::Subject);
    }
    let mut seen = std::collections::BTreeSet::new();
    for b in &cert.contributions {
        let mut i = [0u8; 4];
        i.copy_from_slice(&b[..4]);
        let i = u32::from_le_bytes(i);
        if i == 0 || i as usize > keys.validators() {
            return Err(VoteError::Index(i));
        }
        seen.insert(i);
    }
    if seen.len() < keys.threshold || seen.len() != cert.contributions.len() {
        return Err(VoteError::TooFew {
            got: seen.len(),
            need: keys.threshold,
        });
    }
    Ok((
        &cert.contributions,
        cert.subject.payload(genesis, &keys.group),
    ))
}
