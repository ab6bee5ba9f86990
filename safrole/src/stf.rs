//! The Safrole state transition (GP 6.1-6.35): slot, entropy, epoch rotation, sealer sequence,
//! ticket verification and accumulation, header markers. Pure: the pre-state is untouched and
//! an error means the block is invalid.

use diverge_plugins::blake2b_256;

use super::ring::RingContext;
use super::sequence::{fallback_keys, outside_in};
use super::types::{
    Bytes, EpochMark, EpochMarkValidator, ErrorCode, Input, Output, SealKeys, State, TicketBody,
    ValidatorData, B32,
};

/// The chain constants Safrole depends on (never the tiny numbers baked in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// E: slots per epoch.
    pub epoch_len: u32,
    /// Y: tickets accepted while the slot-in-epoch is below this.
    pub ticket_end: u32,
    /// N: ticket entries per validator.
    pub tickets_per_validator: u8,
    /// K: tickets per extrinsic at most.
    pub max_tickets_per_block: usize,
}

impl Spec {
    /// JAM tiny.
    pub const TINY: Spec = Spec {
        epoch_len: 12,
        ticket_end: 10,
        tickets_per_validator: 3,
        max_tickets_per_block: 3,
    };
    /// JAM full.
    pub const FULL: Spec = Spec {
        epoch_len: 600,
        ticket_end: 500,
        tickets_per_validator: 2,
        max_tickets_per_block: 16,
    };
}

impl From<&diverge_plugins::ChainParams> for Spec {
    /// The Safrole constants of a chain config (presets or custom V/E/Y).
    fn from(p: &diverge_plugins::ChainParams) -> Spec {
        Spec {
            epoch_len: p.epoch_len,
            ticket_end: p.ticket_end,
            tickets_per_validator: p.tickets_per_validator,
            max_tickets_per_block: usize::from(p.max_tickets_per_block),
        }
    }
}

/// Φ (GP 6.14): offenders' keys are replaced by zeroes, so they can neither seal nor submit
/// tickets in the epoch the keys are for.
fn without_offenders(keys: &[ValidatorData], offenders: &[B32]) -> Vec<ValidatorData> {
    keys.iter()
        .map(|k| {
            if offenders.contains(&k.ed25519) {
                ValidatorData::default()
            } else {
                k.clone()
            }
        })
        .collect()
}

/// Applies one block's Safrole input.
pub fn transition(
    spec: &Spec,
    ring: &RingContext,
    pre: &State,
    input: &Input,
) -> Result<(State, Output), ErrorCode> {
    if input.slot <= pre.tau {
        return Err(ErrorCode::BadSlot);
    }
    let e_len = spec.epoch_len;
    let (epoch, phase) = (pre.tau / e_len, pre.tau % e_len);
    let (epoch2, phase2) = (input.slot / e_len, input.slot % e_len);
    let new_epoch = epoch2 > epoch;

    if !input.extrinsic.is_empty() && phase2 >= spec.ticket_end {
        return Err(ErrorCode::UnexpectedTicket);
    }
    if input.extrinsic.len() > spec.max_tickets_per_block {
        return Err(ErrorCode::UnexpectedTicket);
    }
    if input
        .extrinsic
        .iter()
        .any(|t| t.attempt >= spec.tickets_per_validator)
    {
        return Err(ErrorCode::BadTicketAttempt);
    }

    let mut post = pre.clone();
    post.tau = input.slot;

    // Entropy: accumulate the author's VRF output; rotate the history at an epoch change.
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&pre.eta[0].0);
    buf[32..].copy_from_slice(&input.entropy.0);
    post.eta[0] = Bytes(blake2b_256(&buf).0);
    if new_epoch {
        post.eta[1] = pre.eta[0];
        post.eta[2] = pre.eta[1];
        post.eta[3] = pre.eta[2];
    }

    // Keys: next becomes current, queued (minus offenders) becomes next, with its ring root.
    if new_epoch {
        post.gamma_k = without_offenders(&pre.iota, &pre.post_offenders);
        post.kappa = pre.gamma_k.clone();
        post.lambda = pre.kappa.clone();
        let keys: Vec<B32> = post.gamma_k.iter().map(|k| k.bandersnatch).collect();
        post.gamma_z = ring.commitment(&keys).map_err(|_| ErrorCode::Reserved)?;
    }

    // Sealers: tickets if the previous epoch closed its submission with a full accumulator and
    // this is the very next epoch; fallback keys otherwise.
    if new_epoch {
        post.gamma_s = if epoch2 == epoch + 1
            && phase >= spec.ticket_end
            && pre.gamma_a.len() == e_len as usize
        {
            SealKeys::Tickets(outside_in(&pre.gamma_a))
        } else {
            let keys: Vec<[u8; 32]> = post.kappa.iter().map(|k| k.bandersnatch.0).collect();
            SealKeys::Keys(
                fallback_keys(&diverge_plugins::Hash(post.eta[2].0), &keys, e_len)
                    .into_iter()
                    .map(Bytes)
                    .collect(),
            )
        };
    }

    // Tickets: each proof verified against the posterior ring and entropy; ids strictly
    // ascending, none already held.
    let mut new_tickets = Vec::with_capacity(input.extrinsic.len());
    for t in &input.extrinsic {
        let id = ring
            .verify_ticket(&post.gamma_z, &post.eta[2], t.attempt, &t.signature)
            .map_err(|_| ErrorCode::BadTicketProof)?;
        new_tickets.push(TicketBody {
            id,
            attempt: t.attempt,
        });
    }
    if new_tickets.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(ErrorCode::BadTicketOrder);
    }
    let mut acc = if new_epoch {
        Vec::new()
    } else {
        pre.gamma_a.clone()
    };
    if new_tickets.iter().any(|t| acc.iter().any(|a| a.id == t.id)) {
        return Err(ErrorCode::DuplicateTicket);
    }
    acc.extend(new_tickets);
    acc.sort_by_key(|t| t.id);
    acc.truncate(e_len as usize);
    post.gamma_a = acc;

    let epoch_mark = new_epoch.then(|| EpochMark {
        entropy: pre.eta[0],
        tickets_entropy: pre.eta[1],
        validators: post
            .gamma_k
            .iter()
            .map(|k| EpochMarkValidator {
                bandersnatch: k.bandersnatch,
                ed25519: k.ed25519,
            })
            .collect(),
    });
    let tickets_mark = (!new_epoch
        && phase < spec.ticket_end
        && spec.ticket_end <= phase2
        && post.gamma_a.len() == e_len as usize)
        .then(|| outside_in(&post.gamma_a));
    Ok((
        post,
        Output {
            epoch_mark,
            tickets_mark,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_chain_params() {
        assert_eq!(
            Spec::from(&diverge_plugins::ChainParams::tiny()),
            Spec::TINY
        );
        assert_eq!(
            Spec::from(&diverge_plugins::ChainParams::full()),
            Spec::FULL
        );
    }
}
