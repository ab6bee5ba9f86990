//! Ticket generation: the prover side of the ring VRF (GP 6.29). A validator of the next
//! epoch's set proves, without revealing which member it is, that it holds a key of the ring
//! gamma_k; the VRF output of `"jam_ticket_seal" ++ eta'_2 ++ attempt` is the ticket id, so a
//! ticket's score is fixed by the key and entropy and cannot be ground.

use ark_vrf::reexports::ark_serialize::CanonicalSerialize;
use ark_vrf::ring::Prover as _;
use ark_vrf::suites::bandersnatch::Input;

use super::codec::TICKET_SIGNATURE_LEN;
use super::ring::{ticket_input, RingContext, RingError};
use super::seal::SealSecret;
use super::types::{Bytes, B32};

/// Makes ticket `attempt` of the validator at `my_index` of `ring_keys` (gamma'_k's Bandersnatch
/// keys, in order) for ticket entropy `eta2`: the id Y(proof) and the 784-byte signature
/// (output point ++ ring proof) that [`RingContext::verify_ticket`] accepts against the ring's
/// commitment.
pub fn make_ticket(
    ctx: &RingContext,
    ring_keys: &[B32],
    my_index: usize,
    secret: &SealSecret,
    eta2: &B32,
    attempt: u8,
) -> Result<(B32, Vec<u8>), RingError> {
    if ring_keys.len() != ctx.ring_size() {
        return Err(RingError::Malformed(format!(
            "ring of {} keys for a context of {}",
            ring_keys.len(),
            ctx.ring_size()
        )));
    }
    // A proof for a ring position whose key is not ours would never verify: refuse it here,
    // where the cause is clear.
    if ring_keys.get(my_index).map(|k| k.0) != Some(secret.public()) {
        return Err(RingError::Malformed(format!(
            "ring key {my_index} is not this secret's public key"
        )));
    }
    let input = Input::new(&ticket_input(eta2, attempt))
        .ok_or_else(|| RingError::Malformed("input does not map to the curve".into()))?;
    let output = secret.0.output(input);

    // A poisoned lock only means another thread panicked mid-update: rebuild the cache.
    let mut cache = ctx.prover.lock().unwrap_or_else(|p| p.into_inner());
    if cache
        .as_ref()
        .is_none_or(|(keys, idx, _)| keys != ring_keys || *idx != my_index)
    {
        let pk = ctx.prover_key(ring_keys)?;
        *cache = Some((
            ring_keys.to_vec(),
            my_index,
            ctx.params().prover(pk, my_index),
        ));
    }
    let Some((_, _, prover)) = cache.as_ref() else {
        return Err(RingError::Invalid);
    };
    let proof = secret.0.prove(input, output, b"", prover);
    drop(cache);

    let mut sig = Vec::with_capacity(TICKET_SIGNATURE_LEN);
    output
        .0
        .serialize_compressed(&mut sig)
        .map_err(|e| RingError::Malformed(e.to_string()))?;
    proof
        .serialize_compressed(&mut sig)
        .map_err(|e| RingError::Malformed(e.to_string()))?;
    if sig.len() != TICKET_SIGNATURE_LEN {
        return Err(RingError::Malformed(format!(
            "{} byte signature",
            sig.len()
        )));
    }
    let hash = output.hash();
    let mut id = [0u8; 32];
    id.copy_from_slice(&hash[..32]);
    Ok((Bytes(id), sig))
}
