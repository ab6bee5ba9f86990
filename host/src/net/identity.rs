//! Node identity on the wire: a self-signed X.509 certificate carrying the node's Ed25519
//! validator key, and the rustls verifiers that accept a peer only when the key in its
//! certificate is one of the validator set.
//!
//! No CA is involved: the validator set *is* the trust store. A certificate proves nothing by
//! itself (anyone can self-sign one for any key); what authenticates the peer is the TLS 1.3
//! CertificateVerify signature over the handshake transcript, which rustls asks us to check with
//! the certificate's key (`verify_tls13_signature`). The self-signature is checked as well, so a
//! certificate that is not internally consistent is refused before the handshake goes further.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::stats::Counters;
use super::{NetError, ValidatorIndex};

/// DER of `AlgorithmIdentifier { id-Ed25519 }` (RFC 8410): OID 1.3.101.112, no parameters.
const ED25519_ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The public key of a secret seed, as the validator set lists it.
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// PKCS#8 v2 (RFC 5958 OneAsymmetricKey with the public key), the layout ring itself emits, so
/// both rcgen and rustls' ring signer accept it without the "maybe unchecked" v1 path.
fn pkcs8_v2(seed: &[u8; 32]) -> Vec<u8> {
    let public = public_key(seed);
    let mut der = Vec::with_capacity(85);
    der.extend_from_slice(&[
        0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ]);
    der.extend_from_slice(seed);
    der.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
    der.extend_from_slice(&public);
    der
}

/// This node's certificate and the private key that signs its handshakes.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    // The key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// A self-signed certificate for the Ed25519 key of `seed`.
pub fn make_identity(seed: &[u8; 32]) -> Result<Identity, NetError> {
    let key = PrivatePkcs8KeyDer::from(pkcs8_v2(seed));
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key, &rcgen::PKCS_ED25519)?;
    let params = rcgen::CertificateParams::new(vec![super::SERVER_NAME.to_string()])?;
    let cert = params.self_signed(&key_pair)?;
    Ok(Identity {
        cert: cert.der().clone(),
        key,
    })
}

/// One DER TLV at the start of `input`: (tag, contents, total encoded length). Definite lengths
/// up to 4 length bytes only; anything else is refused. Never indexes out of bounds.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *input.first()?;
    let l0 = *input.get(1)?;
    let (len, header) = if l0 < 0x80 {
        (usize::from(l0), 2usize)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, end))
}

/// The Ed25519 key of a self-signed certificate whose signature verifies under that same key;
/// `None` for anything else (other algorithms, bad encoding, bad self-signature).
///
/// A minimal walk of RFC 5280 `Certificate` instead of a full X.509 parser: we only need the
/// SubjectPublicKeyInfo and the signature, and the fewer bytes an attacker's input touches the
/// better. rustls/webpki parse the certificate again, fully, when checking handshake signatures.
pub fn cert_ed25519_key(der: &[u8]) -> Option<[u8; 32]> {
    let (0x30, cert, total) = tlv(der)? else {
        return None;
    };
    if total != der.len() {
        return None;
    }
    let (0x30, tbs, tbs_len) = tlv(cert)? else {
        return None;
    };
    let tbs_der = cert.get(..tbs_len)?;
    let rest = cert.get(tbs_len..)?;
    let (0x30, _, alg_len) = tlv(rest)? else {
        return None;
    };
    if rest.get(..alg_len)? != ED25519_ALG {
        return None;
    }
    let rest = rest.get(alg_len..)?;
    let (0x03, sig_bits, sig_len) = tlv(rest)? else {
        return None;
    };
    if sig_len != rest.len() || sig_bits.len() != 65 || sig_bits[0] != 0 {
        return None;
    }
    let sig: [u8; 64] = sig_bits.get(1..)?.try_into().ok()?;

    // TBSCertificate: [0] version?, serialNumber, signature, issuer, validity, subject, spki.
    let mut r = tbs;
    if r.first() == Some(&0xa0) {
        let (_, _, n) = tlv(r)?;
        r = r.get(n..)?;
    }
    let (0x02, _, n) = tlv(r)? else { return None };
    r = r.get(n..)?;
    let (0x30, _, n) = tlv(r)? else { return None };
    if r.get(..n)? != ED25519_ALG {
        return None;
    }
    r = r.get(n..)?;
    for _ in 0..3 {
        // issuer, validity, subject
        let (0x30, _, n) = tlv(r)? else { return None };
        r = r.get(n..)?;
    }
    let (0x30, _, n) = tlv(r)? else { return None };
    let spki = r.get(..n)?;
    if spki.len() != ED25519_SPKI_PREFIX.len() + 32 || spki[..12] != ED25519_SPKI_PREFIX {
        return None;
    }
    let key: [u8; 32] = spki.get(12..)?.try_into().ok()?;
    let vk = VerifyingKey::from_bytes(&key).ok()?;
    vk.verify_strict(tbs_der, &Signature::from_bytes(&sig))
        .ok()?;
    Some(key)
}

/// The validator set as the verifiers see it: public key -> validator index.
#[derive(Debug)]
pub struct KeySet {
    by_key: HashMap<[u8; 32], ValidatorIndex>,
}

impl KeySet {
    pub fn new(validators: &[[u8; 32]]) -> Self {
        let by_key = validators
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((*k, ValidatorIndex::try_from(i).ok()?)))
            .collect();
        KeySet { by_key }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether `key` is a validator's.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.by_key.contains_key(key)
    }

    /// The validator index of a certificate, if it is a well-formed self-signed Ed25519
    /// certificate of a validator key.
    pub fn index_of_cert(&self, der: &[u8]) -> Option<ValidatorIndex> {
        self.by_key.get(&cert_ed25519_key(der)?).copied()
    }
}

/// Both directions' verifier: the server checks client certificates with it, the client
/// checks the server's. Refusals are counted as `unauthenticated`.
#[derive(Debug)]
pub struct ValidatorVerifier {
    keys: Arc<KeySet>,
    counters: Arc<Counters>,
    algs: WebPkiSupportedAlgorithms,
    /// Accept *clients* whose key is not in the set (read-only observers; the connection
    /// layer gives them an observer id and restricts their traffic). Servers are always
    /// checked against the set: nobody dials anything but a validator.
    outsider_clients: bool,
}

impl ValidatorVerifier {
    pub fn new(keys: Arc<KeySet>, counters: Arc<Counters>, outsider_clients: bool) -> Self {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        ValidatorVerifier {
            keys,
            counters,
            algs,
            outsider_clients,
        }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        outsider_ok: bool,
    ) -> Result<(), rustls::Error> {
        if cert_ed25519_key(end_entity).is_none() {
            self.counters.unauthenticated();
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        }
        // The handshake signature is still checked against this key (`tls13`), so an
        // outsider is authenticated as the holder of *its* key, just not as a validator.
        if !outsider_ok && self.keys.index_of_cert(end_entity).is_none() {
            self.counters.unauthenticated();
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        Ok(())
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only Ed25519 is ever offered (supported_verify_schemes), but refuse anything else
        // explicitly rather than trusting the peer to honour the list.
        if dss.scheme != SignatureScheme::ED25519 {
            self.counters.unauthenticated();
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs).inspect_err(|_| {
            self.counters.unauthenticated();
        })
    }
}

impl ServerCertVerifier for ValidatorVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The server name is meaningless here: identity is the key, checked against the set.
        self.check(end_entity, false)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The configs allow TLS 1.3 only; a TLS 1.2 signature means something is wrong.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for ValidatorVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, self.outsider_clients)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_key() {
        let seed = [7u8; 32];
        let id = make_identity(&seed).expect("identity");
        assert_eq!(cert_ed25519_key(&id.cert), Some(public_key(&seed)));
        let set = KeySet::new(&[[1u8; 32], public_key(&seed)]);
        assert_eq!(set.index_of_cert(&id.cert), Some(1));
        assert_eq!(KeySet::new(&[[1u8; 32]]).index_of_cert(&id.cert), None);
    }

    #[test]
    fn tampered_certificate_is_refused() {
        let id = make_identity(&[9u8; 32]).expect("identity");
        let der = id.cert.to_vec();
        // Flip each byte in turn: nothing may panic, and no flip inside the signed part or the
        // signature may still yield the key.
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            let _ = cert_ed25519_key(&bad);
        }
        let mut bad = der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01; // inside the signature
        assert_eq!(cert_ed25519_key(&bad), None);
        for len in 0..der.len() {
            assert_eq!(cert_ed25519_key(&der[..len]), None);
        }
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = cert_ed25519_key(&bytes);
        }
    }
}
