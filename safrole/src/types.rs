//! Safrole state, input and output (GP 6.1-6.35), in the shape of the JAM vectors' schema
//! (`safrole.asn`), with their JSON form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fixed-size bytes as `0x` hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes<const N: usize>(pub [u8; N]);

impl<const N: usize> std::fmt::Debug for Bytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0[..N.min(8)]))
    }
}

impl<const N: usize> Default for Bytes<N> {
    fn default() -> Self {
        Bytes([0; N])
    }
}

impl<const N: usize> Serialize for Bytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(self.0)))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Bytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)
            .map_err(|e| serde::de::Error::custom(format!("expected {N} hex bytes: {e}")))?;
        Ok(Bytes(out))
    }
}

/// A 32-byte hash or key.
pub type B32 = Bytes<32>;

/// One validator's keys (GP 6.8; 336 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorData {
    /// Bandersnatch key.
    pub bandersnatch: B32,
    /// Ed25519 key.
    pub ed25519: B32,
    /// BLS key.
    pub bls: Bytes<144>,
    /// Metadata.
    pub metadata: Bytes<128>,
}

/// A ticket as it sits in the accumulator: its VRF output id and attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    /// Y(proof): the ticket's score (lower is better).
    pub id: B32,
    /// Entry index, below N.
    pub attempt: u8,
}

/// A ticket as submitted: attempt and ring VRF proof (784 bytes: output point + proof).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketEnvelope {
    /// Entry index.
    pub attempt: u8,
    /// Ring VRF signature.
    #[serde(with = "hex_vec")]
    pub signature: Vec<u8>,
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)
    }
}

/// gamma_s: the epoch's slot sealers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKeys {
    /// Tickets in outside-in order (the anonymous path).
    Tickets(Vec<TicketBody>),
    /// Fallback Bandersnatch keys.
    Keys(Vec<B32>),
}

/// The Safrole part of the chain state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// tau: the most recent block's slot.
    pub tau: u32,
    /// eta: the entropy accumulator and three epochs of history.
    pub eta: [B32; 4],
    /// lambda: previous epoch's validators.
    pub lambda: Vec<ValidatorData>,
    /// kappa: current validators.
    pub kappa: Vec<ValidatorData>,
    /// gamma_k: next epoch's validators.
    pub gamma_k: Vec<ValidatorData>,
    /// iota: queued validators.
    pub iota: Vec<ValidatorData>,
    /// gamma_a: the ticket accumulator, sorted by id.
    pub gamma_a: Vec<TicketBody>,
    /// gamma_s: this epoch's sealers.
    pub gamma_s: SealKeys,
    /// gamma_z: Bandersnatch ring commitment of gamma_k.
    pub gamma_z: Bytes<144>,
    /// psi'_o: Ed25519 keys of offenders (from disputes).
    pub post_offenders: Vec<B32>,
}

/// A block's Safrole input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// H_t: the block's slot.
    pub slot: u32,
    /// Y(H_v): the block author's entropy VRF output.
    pub entropy: B32,
    /// E_T: the ticket extrinsic.
    pub extrinsic: Vec<TicketEnvelope>,
}

/// Next epoch's key set, announced at an epoch change (H_e).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMark {
    /// eta'_1.
    pub entropy: B32,
    /// eta'_2.
    pub tickets_entropy: B32,
    /// gamma'_k's Bandersnatch and Ed25519 keys.
    pub validators: Vec<EpochMarkValidator>,
}

/// One validator in an epoch mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMarkValidator {
    /// Bandersnatch key.
    pub bandersnatch: B32,
    /// Ed25519 key.
    pub ed25519: B32,
}

/// Header markers the transition produces.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// H_e.
    pub epoch_mark: Option<EpochMark>,
    /// H_w: the winning tickets, once the submission period closes with a full accumulator.
    pub tickets_mark: Option<Vec<TicketBody>>,
}

/// The vectors' error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Slot not after the previous block's.
    #[error("bad_slot")]
    BadSlot,
    /// Tickets after the submission period.
    #[error("unexpected_ticket")]
    UnexpectedTicket,
    /// Ticket ids not strictly ascending.
    #[error("bad_ticket_order")]
    BadTicketOrder,
    /// A ring proof that does not verify.
    #[error("bad_ticket_proof")]
    BadTicketProof,
    /// Attempt index >= N.
    #[error("bad_ticket_attempt")]
    BadTicketAttempt,
    /// Reserved by the schema.
    #[error("reserved")]
    Reserved,
    /// A ticket already in the accumulator.
    #[error("duplicate_ticket")]
    DuplicateTicket,
}
