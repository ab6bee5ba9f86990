//! `consensus-ssf`: the privacy-first consensus plugin: Safrole sealing (from `diverge-safrole`,
//! the same code consensus-safrole seals with) and single-slot finality by OSST threshold
//! certificates, as a sans-IO `diverge_plugins::Consensus` loaded as `libconsensus_ssf.so`.
//!
//! # Protocol (Simplex-style, after `../shared/research/ssf.md` section 2)
//!
//! V validators, t = floor(2V/3) + 1 (5 of 6, 683 of 1023), f = V - t. View = slot; slot s
//! starts at T_s = s * P. Three vote kinds, each one 68-byte OSST contribution
//! (`vote::sign`) on `payload = H("diverge-ssf/v1" ‖ genesis ‖ Y ‖ kind ‖ slot ‖ hash ‖
//! post_state_root)` (SKIP names no block). A certificate is t contributions on one payload
//! and of one sharing (see Keys): N(s,h) from NOTARIZE, F(s,h) from FINALIZE, K(s) from SKIP.
//!
//! 1. **Parent rule.** A block at slot s on parent p (slot s_p) is *acceptable* if p is genesis,
//!    final, or holds N(s_p, p), and K(j) exists for every s_p < j < s.
//! 2. **Author.** In slot s, the Safrole sealer of s on the acceptable parent with the highest
//!    slot proposes (`Action::Author`). Without an acceptable parent nothing is proposed.
//! 3. **NOTARIZE(s,h)** the first block for slot s whose seal checks, which is acceptable, whose
//!    own DA shard checked (`BlockAvailable`) and which validated (`BlockValidated`), unless this
//!    node already sent NOTARIZE(s,·) or SKIP(s).
//! 4. **FINALIZE(s,h)** on N(s,h) (t NOTARIZE, or a received certificate), if this node has
//!    not sent SKIP(s) and validated h itself (the audit gate: nothing is finalized unchecked).
//! 5. **SKIP(s)** when the slot's timer fires at T_s + `skip_ms` (default P - 2Δ) without N(s,·)
//!    here and without own FINALIZE(s). SKIP after NOTARIZE is allowed (what keeps an
//!    equivocating author from stalling the chain); SKIP after FINALIZE never.
//! 6. **F(s,h)**: h and its ancestors are final (`Action::Finalize`, the F certificate as the
//!    justification). Finality of a notarized block may also come through a descendant's F.
//! 7. **Catch-up.** At every tick, SKIP every elapsed slot above the final one that has neither
//!    N nor K (one batched message). Every `rebroadcast_ms` while finality lags the clock, a
//!    node re-sends its votes and certificates above its final slot and its latest F; a node
//!    that receives a status showing a peer behind answers it with its certificates. This is what
//!    heals a partition: the votes lost while split are sent again. A checked vote or
//!    certificate naming a block of an elapsed slot that is not here asks its sender for it
//!    once (`Action::RequestBlock`): sync follows best heads only.
//!
//! Honest invariants: at most one NOTARIZE per slot; no NOTARIZE or FINALIZE after own SKIP(s);
//! no SKIP(s) after own FINALIZE(s).
//!
//! # Safety sketch (ssf.md 2.4)
//! Two t-quorums intersect in 2t - V >= f + 1 validators, so in an honest one. (a) At most one
//! N per slot: an honest validator would have NOTARIZEd twice. (b) F(s) and K(s) never coexist:
//! an honest validator would have sent FINALIZE(s) and SKIP(s). (c) If F(s,h) exists, any
//! acceptable block at s' > s has its parent chain through slot s: skipping s needs K(s),
//! excluded by (b); a parent at s is h by (a); induct on parents. So all final blocks lie on
//! one chain, in full asynchrony, for f < V/3. A side of a partition with <= 2V/3 validators
//! forms no certificate of any kind, so it proposes nothing acceptable and stalls (no fork, no
//! orphaned block a user saw).
//!
//! # Liveness sketch (ssf.md 2.5)
//! After GST with delay δ < Δ: an honest author's block gets N within 2δ of its proposal and F
//! within 3δ (plus validation), inside the slot when 3δ + execution < P - 2Δ. A missing or
//! equivocating author costs one SKIP timer: every honest node SKIPs (none sent FINALIZE without
//! N), V - f >= t, so K(s) forms. If N(s,h) formed but F(s) never does (some honest SKIPped
//! first), the next author extends h (rule 1 accepts N) and F on the child finalizes h: never
//! wait for F of a parent. After a partition heals, rule 7 re-sends the lost SKIPs and
//! certificates, K fills the idle slots, and the next honest author finalizes ~3δ after.
//!
//! # Accountability
//! Every vote is checked on arrival against the sender's verification share y_i in the sharing
//! the vote names (a Schnorr proof, ~30 µs); votes travel only from their owner
//! (index = sender + 1), so a bad one is attributed to the authenticated sender (`ssf.vote.invalid`). Two valid votes of one index
//! on conflicting subjects (two NOTARIZE in a slot, FINALIZE and SKIP in a slot) are
//! transferable evidence (`ssf.vote.equivocation`, both votes encoded). Certificates received
//! from others are checked in aggregate only (one OSST equation against Y).
//!
//! Twins (two nodes with one key, `tests/twins.rs`) are caught once both sign in one slot
//! where a node still tallies it (both author, or each notarizes another block): every honest
//! node reports them. A vote at or below a node's final slot counts for nothing but is still
//! compared with the first vote of its index held for that slot (kept `evidence_slots` = 32
//! slots below the final one): a twin that SKIPs, on a minority side, the slots the majority
//! finalized with its sibling's FINALIZE is reported by the majority after the heal, once.
//! Not compared: contributions inside certificates, so a node that only received
//! certificates for those slots does not catch it. Safety does not depend on catching them
//! (one final block per slot holds in both tests).
//!
//! # Tickets (anonymous authorship)
//! The same Safrole authorship as consensus-safrole, through the ticket pool of the shared
//! library (`diverge_safrole::pool`): in the submission window (slots 0..Y of an epoch) each
//! validator proves its N ring-VRF tickets for the next epoch, one per timer at mid-slot, and
//! gossips them (`Wire::Ticket`); receivers check them under their best block's eta_2 (eta_1
//! for a maker one epoch ahead) and pool them per context; an author includes up to K pooled
//! tickets that survive into the accumulator. With a full accumulator the next epoch is
//! ticket-sealed, so its authors are unknown until they seal (in SimNet from epoch 1 every
//! slot, still final within the slot). Ring proofs are blinded with OS randomness, so block
//! hashes differ between otherwise identical runs. Own tickets are in the snapshot, so a
//! restarted validator still seals the slots they won (`tests/tickets.rs`, restarted in epoch
//! 3); the pool of others' tickets is not, and comes back by gossip.
//!
//! # Keys (ssf.md section 3)
//!
//! **Genesis: FROST's DKG, in-protocol** ([`dkg`], `keys = "dkg"`, the default). The V
//! validators of the chain spec run `frost-ristretto255`'s `keys::dkg` (Pedersen DKG with
//! proofs of knowledge) with identifiers 1..=V, so FROST's signing shares are OSST shares
//! (same curve25519-dalek scalar and ristretto point types; a test certifies with DKG shares
//! against the DKG group key, with the fast check and with `osst::verify`).
//! - Round 1 is broadcast, round 2 (each secret share) goes point-to-point with `Action::Send`.
//!   **Assumption: the transport is authenticated and confidential** (the node's QUIC with
//!   TLS 1.3 between validator keys; the simulator delivers to the addressee only).
//! - **QUAL = all V** (a coordinated launch; FROST needs every participant's package). Until a
//!   node has the key it casts no vote: blocks may be proposed, nothing is final, elapsed slots
//!   are SKIPped by catch-up once the key exists. In SimNet (50 ms links) the key exists two
//!   hops after the first tick and slot 1 is still final within its slot.
//! - Messages are re-sent every `dkg_resend_ms` while a node has no key (its round-1 package
//!   with `want`, and its shares); a node that finished answers a `want` with its package and
//!   share, so a late or restarted validator joins. The DKG RNG is hedged from the identity
//!   seed and the genesis hash: a restart regenerates the same round-1 package (nothing to
//!   persist before the key), and runs replay. The snapshot keeps the shares once they exist
//!   (so it is as secret as the validator's key file).
//! - Broadcast consistency: each round-2 message carries the sender's round-1 transcript
//!   hash; a node finishes only if all V-1 equal its own (an echo check), so an equivocating
//!   dealer stalls the launch instead of splitting the validators across group keys.
//! - **Faults: attribute and abort here.** A bad proof of knowledge, a share that fails its
//!   dealer's commitment, or two round-1 packages from one dealer are reported
//!   (`Misbehaviour` `ssf.dkg.bad_proof` / `ssf.dkg.bad_share` / `ssf.dkg.equivocation`,
//!   naming the dealer) and stop the DKG at the node that saw them
//!   (`consensus.ssf.dkg_aborted`: no key, no votes). A bad share is private to its victim, so
//!   the others' keys stay consistent and the chain runs if t of them finished; otherwise it
//!   stalls (safe) and the launch is redone with a chain spec without the offender. Not
//!   chosen: restarting without the dealer, which needs every node to agree on the complaint,
//!   i.e. dealer-signed shares (a transferable complaint) or GJKR's public justification round.
//!   The evidence here is the receiver's word (the shares are not signed).
//! - V = 1 (`diverge run --dev`): FROST needs two; the lone validator's own random secret is
//!   the key.
//! - Observers (no validator identity) take no part and learn Y from their operator
//!   (`group_key`, from any validator's `consensus.ssf.dkg_done` event), as a GRANDPA light
//!   client takes its genesis authority set from the chain spec; with static Y that one key
//!   checks every later certificate. A validator given `group_key` checks that its DKG
//!   produced it.
//!
//! **Reshare at every epoch change** ([`reshare`], `reshare = true`). The validator set is
//! the genesis set in every epoch (this plugin does not rotate it), so each epoch re-shares to
//! the same set, which re-randomises every share:
//! 1. At the first tick of epoch e each holder deals g_i (degree t-1, g_i(0) = x_i of the
//!    sharing it signs epoch e with): `Deal` broadcast (Feldman commitment), `SubShare` to each
//!    player point-to-point; both re-sent each rebroadcast period until D is certified.
//! 2. Players check C_{i,0} = y_i (the dealer's verification share) and g^{σ_ij} = C_i(j); a
//!    failure is reported against the sender (`ssf.reshare.bad_commitment`,
//!    `ssf.reshare.bad_subshare`).
//! 3. **D is agreed by a certificate.** At the epoch's anchor slot e·E + E/2 each holder votes
//!    DEALERS on H(e, sharing, D_i), D_i = the dealers whose commitment and own sub-share both
//!    checked (if at least t). t DEALERS votes on one set form a DEALERS certificate: two
//!    t-quorums share an honest validator, and an honest validator votes DEALERS once per
//!    epoch, so at most one D is certified per epoch (the argument that makes F unique). The
//!    certificate travels with its set (`DealerCert`), verifies against Y alone, and is sent in
//!    the catch-up bundle. A DEALERS vote goes to the journal (write-ahead, as every vote):
//!    a restarted node repeats it or casts none, never another set; it asks peers once for a
//!    dealer set its snapshot predates (`NeedDealerCert`), and a restarted dealer answers
//!    `NeedSubShare` with the same (deterministic) dealing. This is the ssf.md 3.2 pitfall
//!    avoided: every player aggregates over exactly D, never "the first t to arrive" (the
//!    negative-control test shows players with different dealer sets cannot certify although
//!    each one's own checks pass).
//! 4. Every node combines over D with Lagrange coefficients for D: x'_j = Σ λ_i σ_ij,
//!    C'_k = Σ λ_i C_{i,k}, checks Π C_{i,0}^{λ_i} = Y and g^{x'_j} = C'(j), and installs sharing
//!    e+1 (y'_l = C'(l) for every l). A player missing a sub-share of D asks its dealer
//!    (`NeedSubShare`); if the dealer never answers (or answers wrongly), that player has no
//!    share for epoch e+1 and casts no votes in it, nothing worse.
//! 5. A vote on a slot of epoch e is signed with the newest sharing ≤ e the signer holds and
//!    names it (`Vote::sharing`); receivers check it against that sharing's y_i, tally votes
//!    per (subject, sharing) and aggregate one sharing per certificate. When a node installs a
//!    sharing late, it re-signs the votes it already cast for the new epoch (same subjects, so
//!    no honest invariant changes), so a late node never leaves a slot split across sharings.
//!    If no D is certified in epoch e, epoch e+1 simply keeps sharing e.
//! 6. Old shares are dropped once two sharings newer exist.
//!
//! **Group-key policy: static Y.** Reshares keep Y, so every certificate of every epoch checks
//! against the genesis key (light clients and `verify_justification` need nothing else, no key
//! chain). The price, stated: any t holders of one past sharing who kept their shares can
//! still rebuild x and forge certificates for any slot. Why accepted here: the validator set
//! never changes in this plugin, so "former holders" are today's validators, who could sign
//! anyway with t; the reshare still gives proactive security (a share stolen in one epoch is
//! useless after the next reshare unless t are stolen in the same epoch). Per-epoch keys (fresh
//! DKG or re-randomised x' = x + δ, each epoch's committee signing a handover certificate on
//! Y_{e+1}) become necessary once the validator set rotates; they cost a key chain for light
//! clients and do not stop long-range forgeries from a colluding old committee either. Not
//! implemented.
//!
//! **`keys = "dealer"`: research shortcut, trusted dealer, not secure** ([`keys`]): every share
//! from a seed in the config (anyone with the config can forge certificates), no reshare; kept
//! for large-V simulation, where the DKG's one-off cost (FROST part 3 checks every share with
//! t point multiplications) would dominate a run. The node says so in its log
//! (`consensus.ssf.insecure_dealer_keys`).
//!
//! # Shortcuts (stage 1), stated plainly
//! - No fast path (at V = 6, n - p = 5 = t; not implemented).
//! - Certificates carry t full contributions (68 B each), not the compact form.

pub mod dkg;
pub mod engine;
pub mod fastverify;
pub mod keys;
pub mod reshare;
pub mod vote;

use diverge_plugins::ffi::Plugin;
use diverge_plugins::{Axis, CaseFormat, CaseOutcome, InitArgs, Instance, PluginError};

/// The plugin's entry points.
#[derive(Debug)]
pub struct SsfPlugin;

impl Plugin for SsfPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Consensus;
    const DESCRIPTION: &'static str =
        "Safrole sealing + single-slot finality by OSST threshold certificates (NOTARIZE/FINALIZE/SKIP)";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Consensus(Box::new(engine::SsfConsensus::new(
            &args,
        )?)))
    }

    fn conformance(
        suite: &str,
        _format: CaseFormat,
        _case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        Err(PluginError::unsupported(format!(
            "consensus-ssf runs no conformance suite (Safrole's are consensus-safrole's), not {suite:?}"
        )))
    }
}

diverge_plugins::export_plugin!(SsfPlugin);
