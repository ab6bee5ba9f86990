//! Block sealing (GP 0.7.2 section 6.4, eqs 6.15-6.20) with the Bandersnatch IETF VRF of
//! ark-vrf 0.1.0.
//!
//! A header carries two VRF signatures by its author:
//!
//! - the seal H_s over the unsealed header E_U(H), with input
//!   `"jam_ticket_seal" ++ eta'_3 ++ attempt` when the slot belongs to a ticket (6.15; the seal's
//!   output must then equal the ticket id) or `"jam_fallback_seal" ++ eta'_3` when it belongs to a
//!   fallback key (6.16);
//! - the entropy source H_v with input `"jam_entropy" ++ Y(H_s)` and no auxiliary data (6.17),
//!   whose output feeds eta'_0 (6.22). Deriving it from the seal's output means an author cannot
//!   grind the entropy: both are fixed once the header is.
//!
//! A signature is 96 bytes: the compressed VRF output point (32) then the IETF proof, challenge c
//! (32, little-endian) and response s (32). Y(sig) is the first 32 bytes of the output point's
//! 64-byte RFC 9381 hash. The Gray Paper writes the contexts with a `$` that is not part of the
//! bytes; the JAM vectors and clients use the bare ASCII strings.

use ark_vrf::ietf::{Prover as _, Verifier as _};
use ark_vrf::reexports::ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_vrf::suites::bandersnatch::{AffinePoint, IetfProof, Input, Output, Public, Secret};

/// Why a VRF signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The public key is not a compressed Bandersnatch point.
    #[error("public key is not a Bandersnatch point")]
    BadPublic,
    /// The signature's first 32 bytes are not a compressed Bandersnatch point.
    #[error("VRF output is not a Bandersnatch point")]
    BadOutput,
    /// The proof scalars do not deserialize.
    #[error("malformed VRF proof")]
    BadProof,
    /// The input does not hash to the curve (never observed; hash-to-curve is total in practice).
    #[error("VRF input does not map to the curve")]
    BadInput,
    /// Well-formed, but not a signature by this key on this input and auxiliary data.
    #[error("VRF signature does not verify")]
    Invalid,
    /// A ticketed seal whose output is not the ticket id of its slot (GP 6.15).
    #[error("seal output does not match the slot's ticket id")]
    TicketMismatch,
}

/// A Bandersnatch secret key for seals, entropy and tickets.
pub struct SealSecret(pub(crate) Secret);

impl std::fmt::Debug for SealSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log.
        write!(f, "SealSecret(public=0x{})", hex::encode(self.public()))
    }
}

impl SealSecret {
    /// The secret of a 32-byte Bandersnatch secret seed: ark-vrf's `Secret::from_seed`, i.e. the
    /// scalar `LE(SHA-512(seed)) mod r` (1 if that is zero). This is the last step of JIP-5: a
    /// validator's Bandersnatch seed is `blake2b_256("jam_val_key_bandersnatch" ++ seed)` of its
    /// validator seed (see `crate::keys`), and the JAM dev keys use JIP-5's trivial seeds.
    pub fn from_seed(seed: &[u8; 32]) -> SealSecret {
        SealSecret(Secret::from_seed(seed))
    }

    /// The compressed public key (the `bandersnatch` field of validator data).
    pub fn public(&self) -> [u8; 32] {
        point_bytes(&self.0.public().0)
    }
}

/// Which seal a slot takes (GP 6.15/6.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealKind {
    /// The slot is sealed by the owner of the ticket with this attempt index.
    Ticket {
        /// The ticket's entry index.
        attempt: u8,
    },
    /// The slot is sealed by its fallback key.
    Fallback,
}

/// The seal's VRF input: `"jam_ticket_seal" ++ eta'_3 ++ attempt` or
/// `"jam_fallback_seal" ++ eta'_3` (X_T, X_F in GP 6.19/6.20).
pub fn seal_input(kind: SealKind, eta3: &[u8; 32]) -> Vec<u8> {
    let mut v = match kind {
        SealKind::Ticket { .. } => b"jam_ticket_seal".to_vec(),
        SealKind::Fallback => b"jam_fallback_seal".to_vec(),
    };
    v.extend_from_slice(eta3);
    if let SealKind::Ticket { attempt } = kind {
        v.push(attempt);
    }
    v
}

/// The entropy VRF input: `"jam_entropy" ++ Y(H_s)` (X_E, GP 6.17/6.18).
pub fn entropy_input(seal_output: &[u8; 32]) -> Vec<u8> {
    let mut v = b"jam_entropy".to_vec();
    v.extend_from_slice(seal_output);
    v
}

fn point_bytes(p: &AffinePoint) -> [u8; 32] {
    let mut out = [0u8; 32];
    // A compressed Bandersnatch point is always 32 bytes, so writing into the array cannot fail.
    let _ = p.serialize_compressed(&mut out[..]);
    out
}

/// Y: the first 32 bytes of the output point's hash.
fn output_hash(output: &Output) -> [u8; 32] {
    let h = output.hash();
    let mut y = [0u8; 32];
    y.copy_from_slice(&h[..32]);
    y
}

/// Y(sig) of a signature without verifying it: the output point's hash. Errs if the first 32
/// bytes are not a point.
pub fn vrf_output(sig: &[u8; 96]) -> Result<[u8; 32], SealError> {
    let point =
        AffinePoint::deserialize_compressed(&sig[..32]).map_err(|_| SealError::BadOutput)?;
    Ok(output_hash(&Output::from(point)))
}

/// The IETF VRF signature of `secret` on `input` with auxiliary data `aux`: output point ++
/// proof, 96 bytes. Deterministic (RFC 9381 nonce).
pub fn vrf_sign(secret: &SealSecret, input: &[u8], aux: &[u8]) -> [u8; 96] {
    let mut sig = [0u8; 96];
    // Hash-to-curve (Elligator 2) is total on Bandersnatch, so a missing point would be a bug in
    // ark-vrf; signing the identity input then gives a signature every verifier refuses.
    let input = Input::new(input).unwrap_or(Input::from(AffinePoint::default()));
    let output = secret.0.output(input);
    let proof = secret.0.prove(input, output, aux);
    sig[..32].copy_from_slice(&point_bytes(&output.0));
    // c and s are 32-byte scalars: the proof always fills the remaining 64 bytes exactly.
    let _ = proof.serialize_compressed(&mut sig[32..]);
    sig
}

/// Verifies an IETF VRF signature by `public` on `input` with `aux`; returns Y(sig).
pub fn vrf_verify(
    public: &[u8; 32],
    input: &[u8],
    aux: &[u8],
    sig: &[u8; 96],
) -> Result<[u8; 32], SealError> {
    let public = AffinePoint::deserialize_compressed(&public[..])
        .map(Public::from)
        .map_err(|_| SealError::BadPublic)?;
    let output = AffinePoint::deserialize_compressed(&sig[..32])
        .map(Output::from)
        .map_err(|_| SealError::BadOutput)?;
    let proof = IetfProof::deserialize_compressed(&sig[32..]).map_err(|_| SealError::BadProof)?;
    let input = Input::new(input).ok_or(SealError::BadInput)?;
    public
        .verify(input, output, aux, &proof)
        .map_err(|_| SealError::Invalid)?;
    Ok(output_hash(&output))
}

/// H_s: the author's seal over the unsealed header encoding E_U(H) (GP 6.15/6.16).
pub fn sign_seal(
    secret: &SealSecret,
    kind: SealKind,
    eta3: &[u8; 32],
    unsealed_header: &[u8],
) -> [u8; 96] {
    vrf_sign(secret, &seal_input(kind, eta3), unsealed_header)
}

/// Verifies a seal by `public`; returns Y(H_s). For a ticketed slot the caller must also check
/// the output against the ticket id ([`verify_ticket_seal`] does both).
pub fn verify_seal(
    public: &[u8; 32],
    kind: SealKind,
    eta3: &[u8; 32],
    unsealed_header: &[u8],
    seal: &[u8; 96],
) -> Result<[u8; 32], SealError> {
    vrf_verify(public, &seal_input(kind, eta3), unsealed_header, seal)
}

/// Verifies a ticketed seal: by `public`, with the ticket's attempt, and with output equal to
/// the ticket id (GP 6.15: i_y = Y(H_s)). Returns Y(H_s).
pub fn verify_ticket_seal(
    public: &[u8; 32],
    ticket_id: &[u8; 32],
    attempt: u8,
    eta3: &[u8; 32],
    unsealed_header: &[u8],
    seal: &[u8; 96],
) -> Result<[u8; 32], SealError> {
    let y = verify_seal(
        public,
        SealKind::Ticket { attempt },
        eta3,
        unsealed_header,
        seal,
    )?;
    if &y != ticket_id {
        return Err(SealError::TicketMismatch);
    }
    Ok(y)
}

/// H_v: the entropy VRF on `"jam_entropy" ++ Y(H_s)`, empty auxiliary data (GP 6.17).
pub fn sign_entropy(secret: &SealSecret, seal_output: &[u8; 32]) -> [u8; 96] {
    vrf_sign(secret, &entropy_input(seal_output), &[])
}

/// Verifies H_v by `public` against Y(H_s); returns Y(H_v), the block's entropy contribution.
pub fn verify_entropy(
    public: &[u8; 32],
    seal_output: &[u8; 32],
    vrf: &[u8; 96],
) -> Result<[u8; 32], SealError> {
    vrf_verify(public, &entropy_input(seal_output), &[], vrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_tamper() {
        let s = SealSecret::from_seed(&[7; 32]);
        let pk = s.public();
        let eta3 = [3u8; 32];
        let header = b"unsealed header bytes";
        for kind in [SealKind::Fallback, SealKind::Ticket { attempt: 2 }] {
            let seal = sign_seal(&s, kind, &eta3, header);
            let y = verify_seal(&pk, kind, &eta3, header, &seal).expect("valid seal");
            assert_eq!(vrf_output(&seal), Ok(y));
            let hv = sign_entropy(&s, &y);
            verify_entropy(&pk, &y, &hv).expect("valid entropy");
            assert!(verify_seal(&pk, kind, &eta3, b"other header", &seal).is_err());
            assert!(verify_entropy(&pk, &[0; 32], &hv).is_err());
        }
        let seal = sign_seal(&s, SealKind::Ticket { attempt: 0 }, &eta3, header);
        assert_eq!(
            verify_seal(&pk, SealKind::Ticket { attempt: 1 }, &eta3, header, &seal),
            Err(SealError::Invalid)
        );
        assert_eq!(
            verify_seal(&pk, SealKind::Fallback, &eta3, header, &seal),
            Err(SealError::Invalid)
        );
        let other = SealSecret::from_seed(&[8; 32]).public();
        assert_eq!(
            verify_seal(
                &other,
                SealKind::Ticket { attempt: 0 },
                &eta3,
                header,
                &seal
            ),
            Err(SealError::Invalid)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let pk = SealSecret::from_seed(&[1; 32]).public();
        for fill in [0u8, 0xff, 0x5a] {
            let sig = [fill; 96];
            assert!(vrf_verify(&pk, b"x", b"", &sig).is_err());
            assert!(vrf_verify(&[fill; 32], b"x", b"", &sig).is_err());
            let _ = vrf_output(&sig);
        }
    }
}
