//! Genesis distributed key generation: FROST's DKG (`frost-ristretto255` `keys::dkg`, the
//! Pedersen DKG with proofs of knowledge of Komlo–Goldberg) run in-protocol by the V genesis
//! validators, as a sans-IO state machine the engine feeds with peer messages.
//!
//! Identifiers are 1..=V (validator index + 1), so FROST's signing share of validator i is
//! Shamir share f(i) of the group secret f(0): exactly an OSST share at OSST index i. FROST's
//! `SigningShare` serialises as the canonical little-endian ristretto255 scalar and its
//! `VerifyingShare`/`VerifyingKey` as compressed ristretto points, i.e. curve25519-dalek's
//! `Scalar` and `RistrettoPoint`, the types `osst` signs and verifies with (the tests check that
//! a certificate from DKG shares verifies against the DKG group key).
//!
//! Rounds: (1) every validator broadcasts its round-1 package (Feldman commitment to a random
//! polynomial of degree t-1 plus a Schnorr proof of knowledge of its constant term); (2) with
//! all V-1 others, it sends each peer j its secret share f_i(j) point-to-point, together with the
//! hash of the round-1 transcript it used; (3) with all V-1 shares it checks each against the
//! dealer's commitment and sums them. QUAL is all V validators of the chain spec (a coordinated
//! launch): FROST needs every participant's package.
//!
//! Assumption: point-to-point messages are confidential and authenticated. The node's QUIC
//! transport (TLS 1.3 between validator keys) gives both; the simulator delivers to the
//! addressee only. A share travelling in clear over any other transport leaks the key.
//!
//! Broadcast consistency: FROST assumes a broadcast channel. A dealer that sends different
//! round-1 packages to different validators would leave them with different group keys (and
//! honest votes would look invalid). Each round-2 message therefore carries the sender's
//! transcript hash; a node finishes only if all V-1 transcripts equal its own (an echo check),
//! so an equivocating dealer stalls the launch instead of splitting it.

use std::collections::BTreeMap;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use diverge_plugins::codec::{Decode, Encode};
use diverge_plugins::{blake2b_256, Hash};
use frost_ristretto255::keys::dkg::{self, round1, round2};
use frost_ristretto255::keys::{SigningShare, VerifiableSecretSharingCommitment};
use frost_ristretto255::rand_core::SeedableRng;
use frost_ristretto255::{Error as FrostError, Identifier, Signature};
use rand_chacha::ChaCha20Rng;

/// A round-1 package on the wire: the Feldman commitment (t compressed points) and the proof of
/// knowledge (64-byte Schnorr signature).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Round1 {
    /// g^{a_k} for k = 0..t.
    pub commitment: Vec<[u8; 32]>,
    /// FROST's proof of knowledge of a_0.
    pub proof: [u8; 64],
}

/// Why the genesis DKG cannot go on, or why one message was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DkgError {
    /// A message does not decode as FROST data, or has the wrong shape.
    #[error("validator {0} sent a malformed DKG message: {1}")]
    Malformed(u16, String),
    /// Two different round-1 packages from one validator (broadcast equivocation).
    #[error("validator {0} sent two different round-1 packages")]
    Equivocation(u16),
    /// A round-1 proof of knowledge does not verify.
    #[error("validator {0}'s round-1 proof of knowledge is invalid")]
    BadProof(u16),
    /// A secret share does not match its dealer's commitment.
    #[error("validator {0}'s secret share does not match its commitment")]
    BadShare(u16),
    /// A peer's round-1 transcript differs from this node's: some dealer equivocated (the
    /// peer is not necessarily the culprit).
    #[error("validator {0} saw a different round-1 transcript")]
    Transcript(u16),
    /// The DKG produced another group key than the configured `group_key`.
    #[error("the DKG's group key differs from the configured group_key")]
    GroupKey,
    /// Anything else FROST refused (parameters, counts).
    #[error("frost: {0}")]
    Frost(String),
}

/// What the DKG produced: this node's share and the public key set.
#[derive(Clone)]
pub struct Output {
    /// x_i.
    pub share: Scalar,
    /// Y.
    pub group: RistrettoPoint,
    /// y_j for j = 1..=V (index 0 is validator 0).
    pub shares: Vec<RistrettoPoint>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dkg::Output(V={}, share=<redacted>)", self.shares.len())
    }
}

/// The FROST identifier of validator `index` (0-based): index + 1.
pub fn identifier(index: u16) -> Result<Identifier, DkgError> {
    Identifier::try_from(index.wrapping_add(1)).map_err(|e| DkgError::Frost(e.to_string()))
}

/// The hedged RNG of one node's DKG: secret (from its identity seed) and bound to the chain, so
/// a restarted node regenerates the very same round-1 package and shares (nothing to persist
/// before the key exists, and the run replays deterministically).
pub fn rng(identity_seed: &[u8; 32], genesis: &Hash, context: &[u8]) -> ChaCha20Rng {
    let mut v = b"diverge-ssf/dkg-rng/v1".to_vec();
    v.extend_from_slice(identity_seed);
    v.extend_from_slice(&genesis.0);
    v.extend_from_slice(context);
    ChaCha20Rng::from_seed(blake2b_256(&v).0)
}

fn frost_err(e: FrostError) -> DkgError {
    DkgError::Frost(e.to_string())
}

fn to_wire(p: &round1::Package) -> Result<Round1, DkgError> {
    let commitment = p
        .commitment()
        .serialize()
        .map_err(frost_err)?
        .into_iter()
        .map(|c| <[u8; 32]>::try_from(c.as_slice()).map_err(|_| DkgError::Frost("point".into())))
        .collect::<Result<_, _>>()?;
    let sig = p.proof_of_knowledge().serialize().map_err(frost_err)?;
    let proof = <[u8; 64]>::try_from(sig.as_slice())
        .map_err(|_| DkgError::Frost("signature length".into()))?;
    Ok(Round1 { commitment, proof })
}

fn from_wire(from: u16, w: &Round1, t: usize) -> Result<round1::Package, DkgError> {
    if w.commitment.len() != t {
        return Err(DkgError::Malformed(
            from,
            format!("{} commitments, need {t}", w.commitment.len()),
        ));
    }
    let commitment = VerifiableSecretSharingCommitment::deserialize(w.commitment.clone())
        .map_err(|e| DkgError::Malformed(from, e.to_string()))?;
    let proof =
        Signature::deserialize(&w.proof).map_err(|e| DkgError::Malformed(from, e.to_string()))?;
    Ok(round1::Package::new(commitment, proof))
}

/// One node's genesis DKG.
pub struct GenesisDkg {
    me: u16,
    validators: usize,
    threshold: usize,
    secret1: round1::SecretPackage,
    mine: Round1,
    round1: BTreeMap<u16, (Round1, round1::Package)>,
    secret2: Option<round2::SecretPackage>,
    transcript: Option<Hash>,
    /// The shares this node deals, by recipient.
    outgoing: BTreeMap<u16, [u8; 32]>,
    round2: BTreeMap<u16, ([u8; 32], Hash)>,
}

impl std::fmt::Debug for GenesisDkg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesisDkg")
            .field("me", &self.me)
            .field("round1", &self.round1.len())
            .field("round2", &self.round2.len())
            .finish_non_exhaustive()
    }
}

impl GenesisDkg {
    /// Starts the DKG of `validators` participants with threshold `threshold` as validator `me`.
    pub fn new(
        me: u16,
        validators: usize,
        threshold: usize,
        rng: ChaCha20Rng,
    ) -> Result<GenesisDkg, DkgError> {
        let n = u16::try_from(validators).map_err(|_| DkgError::Frost("V > 65535".into()))?;
        let t = u16::try_from(threshold).map_err(|_| DkgError::Frost("t > 65535".into()))?;
        let (secret1, package) = dkg::part1(identifier(me)?, n, t, rng).map_err(frost_err)?;
        let mine = to_wire(&package)?;
        Ok(GenesisDkg {
            me,
            validators,
            threshold,
            secret1,
            mine,
            round1: BTreeMap::new(),
            secret2: None,
            transcript: None,
            outgoing: BTreeMap::new(),
            round2: BTreeMap::new(),
        })
    }

    /// This node's round-1 package (broadcast, and re-broadcast until the key exists).
    pub fn round1(&self) -> &Round1 {
        &self.mine
    }

    /// The shares this node deals, with its transcript hash, once round 1 is complete.
    pub fn outgoing(&self) -> Option<(Hash, &BTreeMap<u16, [u8; 32]>)> {
        self.transcript.map(|h| (h, &self.outgoing))
    }

    /// Round-1 packages held, this node's included.
    pub fn round1_count(&self) -> usize {
        self.round1.len() + 1
    }

    /// A peer's round-1 package. A repeat of the same package is a no-op.
    pub fn on_round1(&mut self, from: u16, w: Round1) -> Result<(), DkgError> {
        if from == self.me || usize::from(from) >= self.validators {
            return Err(DkgError::Malformed(from, "not a peer index".into()));
        }
        if let Some((prev, _)) = self.round1.get(&from) {
            return if *prev == w {
                Ok(())
            } else {
                Err(DkgError::Equivocation(from))
            };
        }
        let p = from_wire(from, &w, self.threshold)?;
        self.round1.insert(from, (w, p));
        if self.round1.len() == self.validators - 1 {
            self.part2()?;
        }
        Ok(())
    }

    fn packages(&self) -> Result<BTreeMap<Identifier, round1::Package>, DkgError> {
        self.round1
            .iter()
            .map(|(i, (_, p))| Ok((identifier(*i)?, p.clone())))
            .collect()
    }

    fn culprit(&self, id: Identifier) -> u16 {
        (0..self.validators as u16)
            .find(|i| identifier(*i).ok() == Some(id))
            .unwrap_or(u16::MAX)
    }

    fn part2(&mut self) -> Result<(), DkgError> {
        let packages = self.packages()?;
        let (secret2, out) = dkg::part2(self.secret1.clone(), &packages).map_err(|e| match e {
            FrostError::InvalidProofOfKnowledge { culprit } => {
                DkgError::BadProof(self.culprit(culprit))
            }
            e => frost_err(e),
        })?;
        let mut outgoing = BTreeMap::new();
        for (id, p) in out {
            let bytes = p.signing_share().serialize();
            let share = <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| DkgError::Frost("share length".into()))?;
            outgoing.insert(self.culprit(id), share);
        }
        // The transcript: every round-1 package in index order, this node's included.
        let mut all: BTreeMap<u16, &Round1> =
            self.round1.iter().map(|(i, (w, _))| (*i, w)).collect();
        all.insert(self.me, &self.mine);
        let mut bytes = b"diverge-ssf/dkg-transcript/v1".to_vec();
        for (i, w) in all {
            bytes.extend_from_slice(&i.to_le_bytes());
            bytes.extend_from_slice(&w.encode());
        }
        self.transcript = Some(blake2b_256(&bytes));
        self.secret2 = Some(secret2);
        self.outgoing = outgoing;
        Ok(())
    }

    /// A peer's secret share for this node with the peer's transcript hash. A repeat is a
    /// no-op; a different share from the same dealer replaces nothing (the first counts).
    pub fn on_round2(
        &mut self,
        from: u16,
        share: [u8; 32],
        transcript: Hash,
    ) -> Result<(), DkgError> {
        if from == self.me || usize::from(from) >= self.validators {
            return Err(DkgError::Malformed(from, "not a peer index".into()));
        }
        self.round2.entry(from).or_insert((share, transcript));
        Ok(())
    }

    /// The key, once every package is in: checks the transcripts, then every share against its
    /// dealer's commitment (FROST part 3).
    pub fn finish(&self) -> Option<Result<Output, DkgError>> {
        let (secret2, mine) = (self.secret2.as_ref()?, self.transcript?);
        if self.round2.len() < self.validators - 1 {
            return None;
        }
        Some(self.part3(secret2, mine))
    }

    fn part3(&self, secret2: &round2::SecretPackage, mine: Hash) -> Result<Output, DkgError> {
        if let Some((i, _)) = self.round2.iter().find(|(_, (_, h))| *h != mine) {
            return Err(DkgError::Transcript(*i));
        }
        let mut r2 = BTreeMap::new();
        for (i, (s, _)) in &self.round2 {
            let share = SigningShare::deserialize(s).map_err(|_| DkgError::BadShare(*i))?;
            r2.insert(identifier(*i)?, round2::Package::new(share));
        }
        let (key, public) = dkg::part3(secret2, &self.packages()?, &r2).map_err(|e| match e {
            FrostError::InvalidSecretShare {
                culprit: Some(culprit),
            } => DkgError::BadShare(self.culprit(culprit)),
            e => frost_err(e),
        })?;
        let share = scalar(&key.signing_share().serialize())?;
        let group = point(&public.verifying_key().serialize().map_err(frost_err)?)?;
        let shares = (0..self.validators as u16)
            .map(|i| {
                let v = public
                    .verifying_shares()
                    .get(&identifier(i)?)
                    .ok_or_else(|| DkgError::Frost(format!("no verifying share for {i}")))?;
                point(&v.serialize().map_err(frost_err)?)
            })
            .collect::<Result<_, _>>()?;
        Ok(Output {
            share,
            group,
            shares,
        })
    }
}

fn scalar(b: &[u8]) -> Result<Scalar, DkgError> {
    let a = <[u8; 32]>::try_from(b).map_err(|_| DkgError::Frost("scalar length".into()))?;
    Option::from(Scalar::from_canonical_bytes(a)).ok_or_else(|| DkgError::Frost("scalar".into()))
}

fn point(b: &[u8]) -> Result<RistrettoPoint, DkgError> {
    CompressedRistretto::from_slice(b)
        .ok()
        .and_then(|c| c.decompress())
        .ok_or_else(|| DkgError::Frost("point".into()))
}

/// The "DKG" of a one-validator chain (FROST needs at least two): the validator's own random
/// secret, so `diverge run --dev` has a key nobody else derived.
pub fn single(rng: &ChaCha20Rng) -> Output {
    let mut rng = rng.clone();
    let share = Scalar::random(&mut rng);
    let group = RistrettoPoint::mul_base(&share);
    Output {
        share,
        group,
        shares: vec![group],
    }
}

/// Runs the whole DKG for `seeds.len()` validators in one process (tests, benchmarks): the
/// same code path as the protocol, with messages handed over directly.
pub fn run_local(
    seeds: &[[u8; 32]],
    genesis: &Hash,
    threshold: usize,
) -> Result<Vec<Output>, DkgError> {
    let v = seeds.len();
    let mut nodes: Vec<GenesisDkg> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| GenesisDkg::new(i as u16, v, threshold, rng(s, genesis, b"genesis")))
        .collect::<Result<_, _>>()?;
    let r1: Vec<Round1> = nodes.iter().map(|n| n.round1().clone()).collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        for (j, w) in r1.iter().enumerate() {
            if i != j {
                node.on_round1(j as u16, w.clone())?;
            }
        }
    }
    let mut deliveries = Vec::new();
    for (j, node) in nodes.iter().enumerate() {
        if let Some((h, out)) = node.outgoing() {
            for (to, s) in out {
                deliveries.push((*to, j as u16, *s, h));
            }
        }
    }
    for (to, from, s, h) in deliveries {
        nodes[usize::from(to)].on_round2(from, s, h)?;
    }
    nodes
        .iter()
        .map(|n| {
            n.finish()
                .unwrap_or_else(|| Err(DkgError::Frost("incomplete".into())))
        })
        .collect()
}
