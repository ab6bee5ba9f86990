//! GRANDPA finality (Stewart & Kokoris-Kogia 2020), sans-IO.
//!
//! [`votes`] holds the vote arithmetic (supermajority, GHOST, estimate, completability) over the
//! plugin's block tree. The round state machine (primary proposal, prevote/precommit timers
//! from the gossip duration T, commit messages, catch-up, Ed25519-signed votes over
//! (header hash, post-state root), equivocation evidence) builds on it.

pub mod votes;
