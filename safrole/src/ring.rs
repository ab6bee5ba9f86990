//! Bandersnatch ring VRF for tickets (GP 6.29-6.31), on ark-vrf 0.1.0.
//!
//! The ring is the next epoch's Bandersnatch keys, with the padding point (a point of unknown
//! discrete log) in place of any key that is not a valid curve point (offenders' zeroed keys). The
//! KZG parameters come from the Zcash powers-of-tau SRS, which is what JAM's gamma_z commits
//! with.

use ark_vrf::reexports::ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_vrf::ring::Verifier as _;
use ark_vrf::suites::bandersnatch::{
    AffinePoint, Input, Output, PcsParams, Public, RingCommitment, RingProof, RingProofParams,
    RingProver, RingProverKey, RingVerifier,
};
use std::sync::Mutex;

use super::types::{Bytes, B32};

/// Why the ring context or a proof is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The SRS bytes do not deserialize.
    #[error("SRS: {0}")]
    Srs(String),
    /// A ticket signature that is not an output point + ring proof.
    #[error("malformed ticket signature: {0}")]
    Malformed(String),
    /// A gamma_z that does not deserialize.
    #[error("malformed ring commitment")]
    Commitment,
    /// The proof does not verify.
    #[error("ring proof does not verify")]
    Invalid,
}

/// Verdicts and commitments remembered, at most, before the cache starts over.
const CACHE_CAP: usize = 1 << 16;

/// Process-wide memo of pure ring computations, keyed by a hash of all their inputs.
#[derive(Default)]
struct Verdicts {
    tickets: std::collections::HashMap<[u8; 32], Result<B32, RingError>>,
    commitments: std::collections::HashMap<[u8; 32], Bytes<144>>,
}

/// Forgets every remembered verdict and commitment (benchmarks of whole transitions).
pub fn clear_cache() {
    *verdicts().lock().unwrap_or_else(|p| p.into_inner()) = Verdicts::default();
}

fn verdicts() -> &'static Mutex<Verdicts> {
    static V: std::sync::OnceLock<Mutex<Verdicts>> = std::sync::OnceLock::new();
    V.get_or_init(|| Mutex::new(Verdicts::default()))
}

/// Ring parameters for rings of one size.
pub struct RingContext {
    params: RingProofParams,
    ring_size: usize,
    /// The verifier for the last ring seen: a ring is fixed for an epoch, and rebuilding its
    /// verifier costs more than checking a proof.
    verifier: Mutex<Option<(Bytes<144>, RingVerifier)>>,
    /// The prover for the last (ring, own index) a ticket was made for (see `tickets`).
    pub(crate) prover: Mutex<Option<(Vec<B32>, usize, RingProver)>>,
    /// The last ring's prover key, serialized: it indexes the whole ring (82 ms at 1023 keys,
    /// `shared/research/crypto.md`) and is the same for every member, but `RingProver` binds one
    /// member's index and the key type is not `Clone`. Simulated validators share one context,
    /// so without this each of them rebuilt the key for the same ring.
    prover_key: Mutex<Option<(Vec<B32>, Vec<u8>)>>,
}

impl std::fmt::Debug for RingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingContext(ring_size={})", self.ring_size)
    }
}

/// The ticket VRF input: `"jam_ticket_seal" ++ eta'_2 ++ attempt` (GP 6.29, X_T).
pub fn ticket_input(eta2: &B32, attempt: u8) -> Vec<u8> {
    let mut v = b"jam_ticket_seal".to_vec();
    v.extend_from_slice(&eta2.0);
    v.push(attempt);
    v
}

impl RingContext {
    /// From the uncompressed SRS file bytes, for rings of `ring_size` keys.
    pub fn from_srs(srs: &[u8], ring_size: usize) -> Result<RingContext, RingError> {
        let pcs = PcsParams::deserialize_uncompressed_unchecked(srs)
            .map_err(|e| RingError::Srs(e.to_string()))?;
        let params = RingProofParams::from_pcs_params(ring_size, pcs)
            .map_err(|e| RingError::Srs(format!("{e:?}")))?;
        Ok(RingContext {
            params,
            ring_size,
            verifier: Mutex::new(None),
            prover: Mutex::new(None),
            prover_key: Mutex::new(None),
        })
    }

    /// The ring size this context was built for.
    pub fn ring_size(&self) -> usize {
        self.ring_size
    }

    /// The ring proof parameters (for the ticket prover).
    pub(crate) fn params(&self) -> &RingProofParams {
        &self.params
    }

    /// Forgets the serialized prover key (benchmarks of the uncached path).
    pub fn forget_prover_key(&self) {
        *self.prover_key.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The prover key of the ring `keys`, from its serialized copy when the ring is the last
    /// one indexed.
    pub(crate) fn prover_key(&self, keys: &[B32]) -> Result<RingProverKey, RingError> {
        // A poisoned lock only means another thread panicked mid-update: rebuild the copy.
        let mut cached = self.prover_key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((ring, bytes)) = cached.as_ref() {
            if ring == keys {
                // Our own serialization of a key this context built: no point checks needed.
                return RingProverKey::deserialize_uncompressed_unchecked(&bytes[..])
                    .map_err(|e| RingError::Malformed(format!("cached prover key: {e}")));
            }
        }
        let pk = self.params.prover_key(&Self::points(keys));
        let mut bytes = Vec::new();
        pk.serialize_uncompressed(&mut bytes)
            .map_err(|e| RingError::Malformed(format!("prover key: {e}")))?;
        *cached = Some((keys.to_vec(), bytes));
        Ok(pk)
    }

    pub(crate) fn points(keys: &[B32]) -> Vec<AffinePoint> {
        keys.iter()
            .map(|k| {
                AffinePoint::deserialize_compressed(&k.0[..])
                    .unwrap_or(RingProofParams::padding_point())
            })
            .collect()
    }

    /// gamma_z for `keys`.
    pub fn commitment(&self, keys: &[B32]) -> Result<Bytes<144>, RingError> {
        let mut k = Vec::with_capacity(8 + 32 * keys.len());
        k.extend_from_slice(b"ring");
        k.extend_from_slice(&(self.ring_size as u32).to_le_bytes());
        for key in keys {
            k.extend_from_slice(&key.0);
        }
        let key = diverge_plugins::blake2b_256(&k).0;
        if let Some(c) = verdicts()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .commitments
            .get(&key)
        {
            return Ok(*c);
        }
        let c = self.commitment_uncached(keys)?;
        let mut v = verdicts().lock().unwrap_or_else(|p| p.into_inner());
        if v.commitments.len() >= CACHE_CAP {
            v.commitments.clear();
        }
        v.commitments.insert(key, c);
        Ok(c)
    }

    /// [`RingContext::commitment`] without the memo: the computation itself (benchmarks).
    pub fn commitment_uncached(&self, keys: &[B32]) -> Result<Bytes<144>, RingError> {
        let vk = self.params.verifier_key(&Self::points(keys));
        let mut out = Vec::with_capacity(144);
        vk.commitment()
            .serialize_compressed(&mut out)
            .map_err(|_| RingError::Commitment)?;
        let arr: [u8; 144] = out.try_into().map_err(|_| RingError::Commitment)?;
        Ok(Bytes(arr))
    }

    /// Verifies a ticket signature against ring commitment `gamma_z`; returns the ticket id.
    ///
    /// The verdict is a pure function of its inputs, so it is remembered process-wide: a node
    /// checks each gossiped ticket again when a block carries it, and the simulator runs
    /// hundreds of nodes that all check the same tickets (each is still charged the full
    /// cost by the host's cost model).
    pub fn verify_ticket(
        &self,
        gamma_z: &Bytes<144>,
        eta2: &B32,
        attempt: u8,
        signature: &[u8],
    ) -> Result<B32, RingError> {
        let mut k = Vec::with_capacity(200 + signature.len());
        k.extend_from_slice(b"ticket");
        k.extend_from_slice(&(self.ring_size as u32).to_le_bytes());
        k.extend_from_slice(&gamma_z.0);
        k.extend_from_slice(&eta2.0);
        k.push(attempt);
        k.extend_from_slice(signature);
        let key = diverge_plugins::blake2b_256(&k).0;
        if let Some(r) = verdicts()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tickets
            .get(&key)
        {
            return r.clone();
        }
        let r = self.verify_ticket_uncached(gamma_z, eta2, attempt, signature);
        let mut v = verdicts().lock().unwrap_or_else(|p| p.into_inner());
        if v.tickets.len() >= CACHE_CAP {
            v.tickets.clear();
        }
        v.tickets.insert(key, r.clone());
        r
    }

    /// [`RingContext::verify_ticket`] without the memo: the check itself (benchmarks).
    pub fn verify_ticket_uncached(
        &self,
        gamma_z: &Bytes<144>,
        eta2: &B32,
        attempt: u8,
        signature: &[u8],
    ) -> Result<B32, RingError> {
        if signature.len() < 32 {
            return Err(RingError::Malformed(format!("{} bytes", signature.len())));
        }
        let output_point = AffinePoint::deserialize_compressed(&signature[..32])
            .map_err(|e| RingError::Malformed(format!("output point: {e}")))?;
        let proof = RingProof::deserialize_compressed(&signature[32..])
            .map_err(|e| RingError::Malformed(format!("proof: {e}")))?;
        let input = Input::new(&ticket_input(eta2, attempt))
            .ok_or_else(|| RingError::Malformed("input does not map to the curve".into()))?;
        let output = Output::from(output_point);
        // A poisoned lock only means another thread panicked mid-update: rebuild the cache.
        let mut cache = self.verifier.lock().unwrap_or_else(|p| p.into_inner());
        if cache.as_ref().is_none_or(|(z, _)| z != gamma_z) {
            let commitment = RingCommitment::deserialize_compressed(&gamma_z.0[..])
                .map_err(|_| RingError::Commitment)?;
            let vk = self.params.verifier_key_from_commitment(commitment);
            *cache = Some((*gamma_z, self.params.verifier(vk)));
        }
        let Some((_, verifier)) = cache.as_ref() else {
            return Err(RingError::Commitment);
        };
        Public::verify(input, output, b"", &proof, verifier).map_err(|_| RingError::Invalid)?;
        let hash = output.hash();
        let mut id = [0u8; 32];
        id.copy_from_slice(&hash[..32]);
        Ok(Bytes(id))
    }
}
