//! Sealing and checking a block header on its parent's Safrole state: who may seal a slot
//! (GP 6.13, 6.23-6.24), the seal and entropy VRFs in the header (6.15-6.17), and the state
//! transition the header's digest must agree with. No finality here: the consensus plugins
//! (GRANDPA in consensus-safrole, OSST certificates in consensus-ssf) share exactly this.
//!
//! Extracted from consensus-safrole's engine; that engine keeps the ticket pool and fork choice.

use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::{Hash, Header, SealInfo, Slot, ValidatorIndex};
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, WireTicket};
use crate::ring::RingContext;
use crate::seal::{self, SealKind, SealSecret};
use crate::sequence::{fallback_keys, outside_in};
use crate::stf::{transition, Spec};
use crate::types::{Bytes, Input, SealKeys, State, TicketBody, TicketEnvelope, ValidatorData, B32};

/// How slots are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sealing {
    /// Safrole: one sealer per slot, by ticket or fallback key (GP 6).
    #[default]
    Safrole,
    /// BABE-style lottery: every validator whose VRF output falls below a threshold may seal,
    /// so a slot has none, one or several authors (the baseline that shows accidental forks).
    Lottery,
}

/// The sealing rule a header is checked under: the mode and, for the lottery, its c.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// The mode.
    pub sealing: Sealing,
    /// Lottery: the probability c that a slot has at least one author.
    pub lottery_c: f64,
    /// Validators in the set (the lottery's per-validator probability depends on it).
    pub validators: usize,
}

/// Who may seal a slot, as the posterior state says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sealer {
    /// The holder of this ticket (anonymous until it seals).
    Ticket(TicketBody),
    /// This Bandersnatch key.
    Key(B32),
}

/// The posterior facts a seal for `slot` on a parent state is checked against. None depends
/// on the block being sealed, so the author and every checker compute them before the seal.
#[derive(Clone, Debug)]
pub struct SlotContext {
    /// The slot is the first of a new epoch.
    pub new_epoch: bool,
    /// gamma'_s entry for the slot.
    pub sealer: Option<Sealer>,
    /// eta'_2: ticket and lottery entropy.
    pub eta2: B32,
    /// eta'_3: seal entropy.
    pub eta3: B32,
    /// kappa': the validators who seal the epoch.
    pub kappa: Vec<ValidatorData>,
}

/// Why a header does not check.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The bytes do not parse (digest, seal length).
    #[error("malformed header: {0}")]
    Malformed(String),
    /// It parses but is not a valid seal or transition.
    #[error("{0}")]
    Rejected(String),
}

fn rejected(what: impl std::fmt::Display) -> HeaderError {
    HeaderError::Rejected(what.to_string())
}

/// gamma'_s, eta'_2, eta'_3 and kappa' for a block in `slot` on `pre` (GP 6.13, 6.23, 6.24),
/// without the ring commitment the full transition also computes.
pub fn slot_context(spec: &Spec, pre: &State, slot: Slot) -> SlotContext {
    let e = spec.epoch_len;
    let (epoch, phase) = (pre.tau / e, pre.tau % e);
    let epoch2 = slot / e;
    let new_epoch = epoch2 > epoch;
    let (eta2, eta3, kappa, sealers) = if new_epoch {
        let kappa = pre.gamma_k.clone();
        let sealers =
            if epoch2 == epoch + 1 && phase >= spec.ticket_end && pre.gamma_a.len() == e as usize {
                SealKeys::Tickets(outside_in(&pre.gamma_a))
            } else {
                let keys: Vec<[u8; 32]> = kappa.iter().map(|k| k.bandersnatch.0).collect();
                SealKeys::Keys(
                    fallback_keys(&Hash(pre.eta[1].0), &keys, e)
                        .into_iter()
                        .map(Bytes)
                        .collect(),
                )
            };
        (pre.eta[1], pre.eta[2], kappa, sealers)
    } else {
        (
            pre.eta[2],
            pre.eta[3],
            pre.kappa.clone(),
            pre.gamma_s.clone(),
        )
    };
    let i = (slot % e) as usize;
    let sealer = match &sealers {
        SealKeys::Tickets(t) => t.get(i).copied().map(Sealer::Ticket),
        SealKeys::Keys(k) => k.get(i).copied().map(Sealer::Key),
    };
    SlotContext {
        new_epoch,
        sealer,
        eta2,
        eta3,
        kappa,
    }
}

/// The lottery's VRF input for `slot`: `"diverge_lottery" ++ eta'_2 ++ slot` (LE).
pub fn lottery_input(eta2: &B32, slot: Slot) -> Vec<u8> {
    let mut v = b"diverge_lottery".to_vec();
    v.extend_from_slice(&eta2.0);
    v.extend_from_slice(&slot.to_le_bytes());
    v
}

/// Whether a lottery VRF output wins: each of V validators wins with p = 1 - (1 - c)^(1/V), so
/// a slot has at least one author with probability c (BABE's rule).
pub fn lottery_wins(output: &[u8; 32], c: f64, validators: usize) -> bool {
    let p = 1.0 - (1.0 - c).powf(1.0 / validators.max(1) as f64);
    let mut x = [0u8; 8];
    x.copy_from_slice(&output[..8]);
    let draw = u64::from_le_bytes(x) as f64 / (u64::MAX as f64 + 1.0);
    draw < p
}

/// Y of an IETF VRF evaluation without an aux message.
pub fn vrf_output(secret: &SealSecret, input: &[u8]) -> Option<[u8; 32]> {
    // The output point depends on the secret and input only, so any aux gives the same Y.
    seal::vrf_output(&seal::vrf_sign(secret, input, b"")).ok()
}

/// How the validator with `secret` at `index` may seal `slot` on `parent` (None: it may not).
/// `held_ticket(id)` answers which attempt of an own ticket has that id, if any.
pub fn my_seal_kind(
    spec: &Spec,
    rule: &Rule,
    parent: &State,
    slot: Slot,
    index: ValidatorIndex,
    secret: &SealSecret,
    held_ticket: impl Fn(&B32) -> Option<u8>,
) -> Option<(SealKind, SlotContext)> {
    let ctx = slot_context(spec, parent, slot);
    let my = ctx.kappa.get(usize::from(index))?.bandersnatch;
    if my != Bytes(secret.public()) {
        // An offender's zeroed key: it may not seal this epoch.
        return None;
    }
    match rule.sealing {
        Sealing::Safrole => match &ctx.sealer {
            Some(Sealer::Key(k)) if *k == my => Some((SealKind::Fallback, ctx)),
            Some(Sealer::Ticket(t)) => match held_ticket(&t.id) {
                Some(a) if a == t.attempt => Some((SealKind::Ticket { attempt: t.attempt }, ctx)),
                _ => None,
            },
            _ => None,
        },
        Sealing::Lottery => {
            let input = lottery_input(&ctx.eta2, slot);
            let out = vrf_output(secret, &input)?;
            lottery_wins(&out, rule.lottery_c, rule.validators).then_some((SealKind::Fallback, ctx))
        }
    }
}

/// Checks `header` against its parent's state (`parent_slot` is the parent header's slot);
/// returns the seal facts and the Safrole post-state.
pub fn check_header(
    spec: &Spec,
    ring: &RingContext,
    rule: &Rule,
    parent: &State,
    parent_slot: Slot,
    header: &Header,
) -> Result<(SealInfo, State), HeaderError> {
    if header.slot <= parent_slot {
        return Err(rejected(format!(
            "slot {} is not after the parent's {}",
            header.slot, parent_slot
        )));
    }
    let digest: Digest =
        decode_exact(&header.digest).map_err(|e| HeaderError::Malformed(format!("digest: {e}")))?;
    let seal: [u8; 96] = header.seal.as_slice().try_into().map_err(|_| {
        HeaderError::Malformed(format!("seal of {} bytes, expected 96", header.seal.len()))
    })?;
    let ctx = slot_context(spec, parent, header.slot);
    let author = ctx
        .kappa
        .get(usize::from(header.author))
        .ok_or_else(|| rejected(format!("author {} is not a validator", header.author)))?
        .bandersnatch;
    let unsealed = header.unsealed_bytes();
    let (seal_out, ticketed) = match rule.sealing {
        Sealing::Safrole => match &ctx.sealer {
            Some(Sealer::Ticket(t)) => {
                let kind = SealKind::Ticket { attempt: t.attempt };
                let y = seal::verify_seal(&author.0, kind, &ctx.eta3.0, &unsealed, &seal)
                    .map_err(|e| rejected(format!("ticket seal: {e}")))?;
                if y != t.id.0 {
                    return Err(rejected(format!(
                        "seal output is not the slot's ticket id (slot {})",
                        header.slot
                    )));
                }
                (y, true)
            }
            Some(Sealer::Key(k)) => {
                if *k != author {
                    return Err(rejected(format!(
                        "validator {} is not the fallback sealer of slot {}",
                        header.author, header.slot
                    )));
                }
                let y =
                    seal::verify_seal(&author.0, SealKind::Fallback, &ctx.eta3.0, &unsealed, &seal)
                        .map_err(|e| rejected(format!("fallback seal: {e}")))?;
                (y, false)
            }
            None => return Err(rejected("no sealer for the slot")),
        },
        Sealing::Lottery => {
            let input = lottery_input(&ctx.eta2, header.slot);
            let y = seal::vrf_verify(&author.0, &input, &unsealed, &seal)
                .map_err(|e| rejected(format!("lottery seal: {e}")))?;
            if !lottery_wins(&y, rule.lottery_c, rule.validators) {
                return Err(rejected(format!(
                    "validator {} did not win slot {}",
                    header.author, header.slot
                )));
            }
            (y, false)
        }
    };
    let entropy = seal::verify_entropy(&author.0, &seal_out, &digest.entropy_vrf)
        .map_err(|e| rejected(format!("entropy VRF: {e}")))?;
    if rule.sealing == Sealing::Lottery && !digest.tickets.is_empty() {
        return Err(rejected("tickets in a lottery-sealed block"));
    }
    let input = Input {
        slot: header.slot,
        entropy: Bytes(entropy),
        extrinsic: digest.tickets.iter().map(TicketEnvelope::from).collect(),
    };
    let (post, out) =
        transition(spec, ring, parent, &input).map_err(|e| rejected(format!("safrole: {e}")))?;
    let (epoch_mark, tickets_mark) = Digest::markers(&out);
    if digest.epoch_mark != epoch_mark || digest.tickets_mark != tickets_mark {
        return Err(rejected(
            "header markers differ from the state transition's",
        ));
    }
    Ok((
        SealInfo {
            author: header.author,
            ticketed,
        },
        post,
    ))
}

/// Fills `header`'s author, digest and seal for validator `index` sealing as `kind` in the
/// context `ctx` on `parent`, including `tickets` (dropped if the transition refuses them, so a
/// bad pooled ticket never costs the slot). Returns the sealed header, the post-state and the
/// seal facts.
#[allow(clippy::too_many_arguments)]
pub fn seal_header(
    spec: &Spec,
    ring: &RingContext,
    rule: &Rule,
    parent: &State,
    index: ValidatorIndex,
    secret: &SealSecret,
    (kind, ctx): (SealKind, SlotContext),
    mut tickets: Vec<WireTicket>,
    mut header: Header,
) -> Result<(Header, State, SealInfo), HeaderError> {
    let seal_input = match rule.sealing {
        Sealing::Safrole => seal::seal_input(kind, &ctx.eta3.0),
        Sealing::Lottery => lottery_input(&ctx.eta2, header.slot),
    };
    let y_seal = vrf_output(secret, &seal_input)
        .ok_or_else(|| rejected("own VRF output does not verify"))?;
    let entropy_vrf = seal::sign_entropy(secret, &y_seal);
    let entropy = seal::verify_entropy(&secret.public(), &y_seal, &entropy_vrf)
        .map_err(|e| rejected(format!("own entropy VRF: {e}")))?;
    let run = |tickets: &[WireTicket]| {
        transition(
            spec,
            ring,
            parent,
            &Input {
                slot: header.slot,
                entropy: Bytes(entropy),
                extrinsic: tickets.iter().map(TicketEnvelope::from).collect(),
            },
        )
    };
    let (post, out) = match run(&tickets) {
        Ok(r) => r,
        Err(_) => {
            tickets.clear();
            run(&tickets).map_err(|e| rejected(format!("safrole: {e}")))?
        }
    };
    let (epoch_mark, tickets_mark) = Digest::markers(&out);
    header.author = index;
    header.digest = Digest {
        entropy_vrf,
        tickets,
        epoch_mark,
        tickets_mark,
    }
    .encode();
    header.seal.clear();
    let unsealed = header.unsealed_bytes();
    header.seal = match rule.sealing {
        Sealing::Safrole => seal::sign_seal(secret, kind, &ctx.eta3.0, &unsealed).to_vec(),
        Sealing::Lottery => seal::vrf_sign(secret, &seal_input, &unsealed).to_vec(),
    };
    let info = SealInfo {
        author: index,
        ticketed: matches!(kind, SealKind::Ticket { .. }) && rule.sealing == Sealing::Safrole,
    };
    Ok((header, post, info))
}

/// The Safrole state of a chain's genesis: every key set is the genesis validator set, entropy
/// is `genesis_entropy` (hex) or Blake2b-256 of the genesis hash, the ring root commits to the
/// set, and epoch 0 is sealed by fallback keys. Every consensus plugin that seals with Safrole
/// starts here, so two variants of one chain agree on who seals each slot of epoch 0.
pub fn genesis_state(
    spec: &Spec,
    ring: &RingContext,
    validators: &[diverge_plugins::ValidatorKeys],
    genesis: &Header,
    genesis_entropy: Option<&str>,
) -> Result<State, String> {
    let eta = match genesis_entropy {
        Some(h) => Bytes(
            Hash::from_hex(h)
                .map_err(|e| format!("genesis_entropy: {e}"))?
                .0,
        ),
        None => Bytes(diverge_plugins::blake2b_256(&genesis.hash().0).0),
    };
    let set: Vec<ValidatorData> = validators
        .iter()
        .map(|k| ValidatorData {
            bandersnatch: Bytes(k.bandersnatch),
            ed25519: Bytes(k.ed25519),
            bls: Bytes(k.bls),
            metadata: Bytes(k.metadata),
        })
        .collect();
    let keys: Vec<[u8; 32]> = set.iter().map(|k| k.bandersnatch.0).collect();
    let ring_keys: Vec<B32> = keys.iter().copied().map(Bytes).collect();
    let gamma_z = ring
        .commitment(&ring_keys)
        .map_err(|e| format!("genesis ring commitment: {e}"))?;
    let fallback = fallback_keys(&Hash(eta.0), &keys, spec.epoch_len)
        .into_iter()
        .map(Bytes)
        .collect();
    Ok(State {
        tau: genesis.slot,
        eta: [eta; 4],
        lambda: set.clone(),
        kappa: set.clone(),
        gamma_k: set.clone(),
        iota: set,
        gamma_a: Vec::new(),
        gamma_s: SealKeys::Keys(fallback),
        gamma_z,
        post_offenders: Vec::new(),
    })
}

/// Serde for a [`Header`] as hex of its codec bytes, for the plugins' JSON snapshots.
pub mod header_hex {
    use diverge_plugins::codec::{decode_exact, Encode};
    use diverge_plugins::Header;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Hex of the encoded header.
    pub fn serialize<S: Serializer>(h: &Header, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h.encode()))
    }

    /// The header back from its hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Header, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s).map_err(serde::de::Error::custom)?;
        decode_exact(&bytes).map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}
