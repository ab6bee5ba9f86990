//! GRANDPA finality (Stewart & Kokoris-Kogia 2020), sans-IO.
//!
//! - [`votes`]: the vote arithmetic (supermajority, GHOST, estimate, completability) over the
//!   block tree.
//! - [`messages`]: signed votes (Ed25519 over set id, round, step, target and its post-state
//!   root), justifications, equivocation evidence.
//! - [`voter`]: the round state machine: primary proposal, prevote and precommit timing from
//!   the gossip duration T, the audit gate (only validated blocks get votes), finality with
//!   justifications, commit messages and re-broadcast for voters that fell behind.

pub mod messages;
pub mod voter;
pub mod votes;
