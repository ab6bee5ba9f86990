//! Per-peer inbound rate limits: a token bucket on messages and one on bytes for every
//! authenticated peer (validators and observers alike).
//!
//! Why per peer: every inbound message goes through one bounded channel to the node loop. Without
//! a per-peer budget one flooding peer (a buggy or hostile validator: its key is in the chain
//! spec, so authentication lets it in) fills that channel and the honest peers' votes are the
//! ones dropped. With it, a peer above its budget loses its own excess (counted as
//! `rate_limited`) and the others are untouched. The defaults sit far above what an honest
//! peer sends (a few messages per slot, plus bursts of blocks when it serves our sync), so they
//! bite only on floods.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::ValidatorIndex;

/// One peer's inbound budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained messages per second (requests included).
    pub messages_per_s: f64,
    /// Messages accepted at once after a quiet spell.
    pub burst_messages: f64,
    /// Sustained payload bytes per second.
    pub bytes_per_s: f64,
    /// Bytes accepted at once after a quiet spell (at least one largest message).
    pub burst_bytes: f64,
}

impl Default for RateLimit {
    /// 1,000 messages/s (bursts of 2,000) and 64 MiB/s (bursts of 128 MiB) per peer: far above
    /// honest traffic, which in the 6-validator simulations of `docs/EXPERIMENTS.md` (6 s slots)
    /// is about one message per second from one peer to another (4.6k deliveries in 24 slots
    /// for polkadot, 3.3k for kusama). What a peer at the limit costs depends on what it sends:
    /// undecodable bytes are refused in ~4 us (the `consensus_safrole` fuzz target runs ~245k
    /// inputs/s), a well-formed vote with a bad signature costs one check (30-75 us), so
    /// 1,000/s is 0.4-8 % of a core. Not yet measured at 1023 validators, where honest vote
    /// traffic per peer is higher.
    fn default() -> RateLimit {
        RateLimit {
            messages_per_s: 1_000.0,
            burst_messages: 2_000.0,
            bytes_per_s: 64.0 * 1024.0 * 1024.0,
            burst_bytes: 128.0 * 1024.0 * 1024.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    messages: f64,
    bytes: f64,
    at: Instant,
}

/// The buckets of every peer.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<ValidatorIndex, Bucket>>,
}

impl Limiter {
    /// Every peer starts with a full bucket.
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one message of `bytes` from `peer` fits its budget now (and takes it if so).
    pub fn admit(&self, peer: ValidatorIndex, bytes: usize) -> bool {
        self.admit_at(peer, bytes, Instant::now())
    }

    fn admit_at(&self, peer: ValidatorIndex, bytes: usize, now: Instant) -> bool {
        let l = self.limit;
        let mut buckets = super::lock(&self.buckets);
        let b = buckets.entry(peer).or_insert(Bucket {
            messages: l.burst_messages,
            bytes: l.burst_bytes,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.at = now;
        b.messages = (b.messages + dt * l.messages_per_s).min(l.burst_messages);
        b.bytes = (b.bytes + dt * l.bytes_per_s).min(l.burst_bytes);
        let size = bytes as f64;
        if b.messages >= 1.0 && b.bytes >= size {
            b.messages -= 1.0;
            b.bytes -= size;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn small() -> RateLimit {
        RateLimit {
            messages_per_s: 10.0,
            burst_messages: 5.0,
            bytes_per_s: 1_000.0,
            burst_bytes: 2_000.0,
        }
    }

    #[test]
    fn a_burst_passes_then_the_sustained_rate_and_peers_are_independent() {
        let l = Limiter::new(small());
        let t0 = Instant::now();
        let admitted = (0..20).filter(|_| l.admit_at(1, 10, t0)).count();
        assert_eq!(admitted, 5, "the burst");
        // Another peer's budget is its own.
        assert!(l.admit_at(2, 10, t0));
        // One second later: 10 more (the sustained rate), capped by the burst size of 5.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..20).filter(|_| l.admit_at(1, 10, t1)).count(), 5);
        // 100 ms later: one message's worth.
        let t2 = t1 + Duration::from_millis(100);
        assert_eq!((0..20).filter(|_| l.admit_at(1, 10, t2)).count(), 1);
    }

    #[test]
    fn bytes_are_limited_too() {
        let l = Limiter::new(small());
        let t0 = Instant::now();
        assert!(l.admit_at(1, 1_500, t0));
        assert!(!l.admit_at(1, 1_000, t0), "500 bytes left");
        assert!(l.admit_at(1, 1_000, t0 + Duration::from_millis(500)));
    }
}
