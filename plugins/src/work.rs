//! Work a plugin did inside one call that the host cannot see: signature checks of votes and
//! certificates, counted where they happen and handed to the host with the call's reply.
//!
//! The simulator charges CPU time by a cost model (`configs/costs.toml`). Pricing a consensus
//! message by its size charged every received certificate or commit as if it were checked,
//! duplicates included, although the engines drop a certificate they hold before any check:
//! at 1023 validators that was ~32 s of charged time per 6 s slot for an SSF node
//! (`docs/SCALE.md`, change E). So the engines count the checks they really run (a logical
//! check: a memo hit counts the same, so the charge never depends on which simulated node
//! filled a process-wide cache first), and [`crate::ffi`] appends the counts to the reply of
//! `on_event` as one [`Action::Telemetry`] named [`TELEMETRY`], which the host charges and does
//! not log.
//!
//! Counters are thread-local: a plugin call runs on the caller's thread from start to end, and
//! each plugin library links its own copy of this crate, so one plugin's counts never reach
//! another's reply.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::Action;

/// The name of the telemetry action that carries counts (never logged by the host).
pub const TELEMETRY: &str = "work";

/// One vote's signature checked (an Ed25519 prevote or precommit, an OSST contribution).
pub const VOTE_CHECK: &str = "consensus.vote_check";
/// One aggregate certificate check started (its fixed part).
pub const CERTIFICATE_CHECK: &str = "consensus.certificate_check";
/// One contribution inside an aggregate certificate check (its per-signer part).
pub const CONTRIBUTION_CHECK: &str = "consensus.contribution_check";

thread_local! {
    static PENDING: RefCell<BTreeMap<&'static str, u64>> = const { RefCell::new(BTreeMap::new()) };
}

/// Records `n` pieces of work of kind `key` (one of this module's constants).
pub fn add(key: &'static str, n: u64) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let e = p.entry(key).or_insert(0);
        *e = e.saturating_add(n);
    });
}

/// Everything recorded since the last call, as the action the host charges; `None` if nothing.
pub fn take() -> Option<Action> {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if pending.is_empty() {
        return None;
    }
    Some(Action::Telemetry {
        name: TELEMETRY.into(),
        fields_json: serde_json::json!({ "work": pending }).to_string(),
    })
}

/// Forgets what was recorded (a call that failed reports no work).
pub fn clear() {
    PENDING.with(|p| p.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_taken_once_and_cleared() {
        clear();
        assert!(take().is_none());
        add(VOTE_CHECK, 1);
        add(VOTE_CHECK, 2);
        add(CONTRIBUTION_CHECK, 683);
        let Some(Action::Telemetry { name, fields_json }) = take() else {
            panic!("nothing taken")
        };
        assert_eq!(name, TELEMETRY);
        let v: serde_json::Value = serde_json::from_str(&fields_json).expect("json");
        assert_eq!(v["work"][VOTE_CHECK], 3);
        assert_eq!(v["work"][CONTRIBUTION_CHECK], 683);
        assert!(take().is_none(), "taken twice");
        add(VOTE_CHECK, 1);
        clear();
        assert!(take().is_none());
    }
}
