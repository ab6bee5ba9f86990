//! `consensus-ssf`: the privacy-first consensus plugin: Safrole sealing (from `diverge-safrole`,
//! the same code consensus-safrole seals with) and single-slot finality by OSST threshold
//! certificates, as a sans-IO `diverge_plugins::Consensus` loaded as `libconsensus_ssf.so`.
//!
//! # Protocol (Simplex-style, after `../shared/research/ssf.md` section 2)
//!
//! V validators, t = floor(2V/3) + 1 (5 of 6, 683 of 1023), f = V - t. View = slot; slot s
//! starts at T_s = s * P. Three vote kinds, each one 68-byte OSST contribution
//! (`vote::sign`) on `payload = H("diverge-ssf/v1" ‖ genesis ‖ Y ‖ kind ‖ slot ‖ hash ‖
//! post_state_root)` (SKIP names no block). A certificate is t contributions on one payload:
//! N(s,h) from NOTARIZE, F(s,h) from FINALIZE, K(s) from SKIP.
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
//!    heals a partition: the votes lost while split are sent again.
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
//! Every vote is checked on arrival against the sender's verification share y_i (a Schnorr
//! proof, ~30 µs); votes travel only from their owner (index = sender + 1), so a bad one is
//! attributed to the authenticated sender (`ssf.vote.invalid`). Two valid votes of one index
//! on conflicting subjects (two NOTARIZE in a slot, FINALIZE and SKIP in a slot) are
//! transferable evidence (`ssf.vote.equivocation`, both votes encoded). Certificates received
//! from others are checked in aggregate only (one OSST equation against Y).
//!
//! # Shortcuts (stage 1), stated plainly
//! - **Keys: research shortcut, trusted dealer, not secure** ([`keys`]): shares from a seed in
//!   the config. No DKG, no resharing; one static group key for the chain (so the
//!   "t former validators forge later" risk of a static key is moot: the dealer seed is public).
//! - Sealing uses Safrole's state transition and fallback keys; this plugin submits no tickets
//!   yet, so every epoch is fallback-sealed (the ticket pool is consensus-safrole's).
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
