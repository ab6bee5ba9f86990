//! The consensus plugin's part of a header (`Header::digest`): Safrole's entropy VRF, the
//! ticket extrinsic and the markers, in wire form. Shared by every plugin that seals with
//! Safrole, so their headers decode alike.

use jam_codec::{Decode, Encode};

use crate::types::{Bytes, EpochMark, EpochMarkValidator, Output, TicketBody, TicketEnvelope};

/// A ticket submission: attempt and ring VRF signature (784 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WireTicket {
    /// Entry index below N.
    pub attempt: u8,
    /// Output point (32 bytes) + ring proof.
    pub signature: Vec<u8>,
}

impl From<&WireTicket> for TicketEnvelope {
    fn from(t: &WireTicket) -> TicketEnvelope {
        TicketEnvelope {
            attempt: t.attempt,
            signature: t.signature.clone(),
        }
    }
}

/// H_e in wire form: eta'_1, eta'_2 and the next epoch's (Bandersnatch, Ed25519) keys.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WireEpochMark {
    /// eta'_1.
    pub entropy: [u8; 32],
    /// eta'_2.
    pub tickets_entropy: [u8; 32],
    /// gamma'_k.
    pub validators: Vec<([u8; 32], [u8; 32])>,
}

/// H_w in wire form: the winning tickets' (id, attempt), outside-in.
pub type WireTicketsMark = Vec<([u8; 32], u8)>;

/// The consensus plugin's part of a header (`Header::digest`), JAM's H_v, E_T, H_e and H_w.
///
/// Tickets ride in the digest rather than a block body because the host treats the body as the
/// exec plugin's payload; the seal covers them all the same.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Digest {
    /// H_v: the author's entropy VRF signature over Y(H_s).
    pub entropy_vrf: [u8; 96],
    /// E_T: tickets for the next epoch.
    pub tickets: Vec<WireTicket>,
    /// H_e, at the first block of an epoch.
    pub epoch_mark: Option<WireEpochMark>,
    /// H_w, once the submission period closes with a full accumulator: (id, attempt).
    pub tickets_mark: Option<WireTicketsMark>,
}

impl Digest {
    /// Markers in wire form from the state transition's output.
    pub fn markers(out: &Output) -> (Option<WireEpochMark>, Option<WireTicketsMark>) {
        let epoch = out.epoch_mark.as_ref().map(|m| WireEpochMark {
            entropy: m.entropy.0,
            tickets_entropy: m.tickets_entropy.0,
            validators: m
                .validators
                .iter()
                .map(|v| (v.bandersnatch.0, v.ed25519.0))
                .collect(),
        });
        let tickets = out
            .tickets_mark
            .as_ref()
            .map(|t| t.iter().map(|b| (b.id.0, b.attempt)).collect());
        (epoch, tickets)
    }

    /// The markers as the state transition's types (for comparisons in tests and tools).
    pub fn output(&self) -> Output {
        Output {
            epoch_mark: self.epoch_mark.as_ref().map(|m| EpochMark {
                entropy: Bytes(m.entropy),
                tickets_entropy: Bytes(m.tickets_entropy),
                validators: m
                    .validators
                    .iter()
                    .map(|(b, e)| EpochMarkValidator {
                        bandersnatch: Bytes(*b),
                        ed25519: Bytes(*e),
                    })
                    .collect(),
            }),
            tickets_mark: self.tickets_mark.as_ref().map(|t| {
                t.iter()
                    .map(|(id, attempt)| TicketBody {
                        id: Bytes(*id),
                        attempt: *attempt,
                    })
                    .collect()
            }),
        }
    }
}
