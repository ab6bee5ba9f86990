//! Link shaping for the process backend: the simulator's link model ([`crate::sim::links`])
//! applied to real QUIC sends, so a scenario's regions, jitter, loss, bandwidth and partitions
//! mean the same thing on both backends (`diverge compare --backend processes`).
//!
//! Applied by the sender, which is the only place a process can apply it without root (`tc
//! netem` needs `CAP_NET_ADMIN` and shapes a whole interface, not one validator pair on
//! loopback): each outbound message waits until the model says it arrives, then crosses
//! loopback (~0.1 ms), so the receiver sees the modelled one-way delay. The sender models its
//! own uplink queue and per-peer FIFO order exactly as the simulator does; the receiver's
//! downlink queue only per sender, because a sender cannot see the others' traffic (this
//! matters only where `bandwidth` is limited). Loss is what the simulator makes of it: QUIC
//! never loses a message, so a lost packet costs a retransmission delay.
//!
//! A cut (a partition, or an offline node cut from everyone) drops messages and fails block
//! requests between its sides, counted as `partitioned`, and reports the peers on the far side
//! as disconnected for its duration: when it heals they are reported connected again, which is
//! what makes the node re-sync, as a reconnection would.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diverge_plugins::Slot;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::sim::links::{LinkModel, Links};

/// Why a shaping file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// Unreadable.
    #[error("shaping file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not the format.
    #[error("shaping file {path}: {source}")]
    Parse {
        /// File.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// Inconsistent with itself or with the chain.
    #[error("shaping: {0}")]
    Invalid(String),
}

/// A window in which validators talk only within their group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cut {
    /// From the start of this slot.
    pub from_slot: Slot,
    /// Until the start of this slot.
    pub to_slot: Slot,
    /// Group of each validator.
    pub groups: Vec<u32>,
}

/// The shaping a process applies (`diverge run --shape FILE`, JSON): the same for every node
/// of a testnet, each applying its own row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeSpec {
    /// Region of each validator (an index into `one_way_us`).
    pub region_of: Vec<usize>,
    /// One-way latency between regions (µs), row = from.
    pub one_way_us: Vec<Vec<u64>>,
    /// Standard deviation of the Normal jitter per message (µs).
    #[serde(default)]
    pub jitter_us: f64,
    /// Packet loss probability, paid as QUIC retransmission delay.
    #[serde(default)]
    pub loss: f64,
    /// Uplink of every node in bytes per µs (= MB/s); 0: unlimited.
    #[serde(default)]
    pub bytes_per_us: f64,
    /// Partitions and offline windows.
    #[serde(default)]
    pub cuts: Vec<Cut>,
    /// Seed of the jitter and loss draws (mixed with the node's index).
    #[serde(default)]
    pub seed: u64,
}

impl ShapeSpec {
    /// Reads a shaping file.
    pub fn load(path: &Path) -> Result<ShapeSpec, ShapeError> {
        let p = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ShapeError::Io {
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| ShapeError::Parse { path: p, source })
    }

    /// Checks the spec covers `validators` nodes and every number is usable.
    pub fn validate(&self, validators: usize) -> Result<(), ShapeError> {
        let bad = |m: String| Err(ShapeError::Invalid(m));
        if self.region_of.len() != validators {
            return bad(format!(
                "region_of lists {} validators, the chain has {validators}",
                self.region_of.len()
            ));
        }
        let r = self.one_way_us.len();
        if self.one_way_us.iter().any(|row| row.len() != r) {
            return bad("one_way_us must be a square matrix".into());
        }
        if let Some(i) = self.region_of.iter().find(|i| **i >= r) {
            return bad(format!("region {i} is outside the {r}x{r} latency matrix"));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return bad(format!("loss {} must be in [0, 1)", self.loss));
        }
        if !self.jitter_us.is_finite() || self.jitter_us < 0.0 {
            return bad(format!("jitter_us {} must be >= 0", self.jitter_us));
        }
        if !self.bytes_per_us.is_finite() || self.bytes_per_us < 0.0 {
            return bad(format!("bytes_per_us {} must be >= 0", self.bytes_per_us));
        }
        for c in &self.cuts {
            if c.groups.len() != validators || c.to_slot <= c.from_slot {
                return bad(format!(
                    "cut {c:?}: needs one group per validator and from_slot < to_slot"
                ));
            }
        }
        Ok(())
    }

    /// Whether validators `a` and `b` can talk in `slot`: in one group in every cut open then.
    pub fn connected(&self, slot: Slot, a: usize, b: usize) -> bool {
        self.cuts
            .iter()
            .filter(|c| (c.from_slot..c.to_slot).contains(&slot))
            .all(|c| c.groups.get(a) == c.groups.get(b))
    }

    /// Slots at which some cut opens or closes, ascending.
    pub fn boundaries(&self) -> Vec<Slot> {
        let mut b: Vec<Slot> = self
            .cuts
            .iter()
            .flat_map(|c| [c.from_slot, c.to_slot])
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// One node's shaping state.
#[derive(Debug)]
pub struct Shaper {
    spec: ShapeSpec,
    me: usize,
    genesis_ms: u64,
    slot_ms: u64,
    links: std::sync::Mutex<(Links, ChaCha20Rng)>,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Shaper {
    /// Validator `me`'s shaping on a chain with this genesis time and slot length.
    pub fn new(
        spec: ShapeSpec,
        me: usize,
        genesis_ms: u64,
        slot_ms: u64,
    ) -> Result<Shaper, ShapeError> {
        spec.validate(spec.region_of.len())?;
        if me >= spec.region_of.len() || slot_ms == 0 {
            return Err(ShapeError::Invalid(format!(
                "validator {me} is outside the shaped set of {}",
                spec.region_of.len()
            )));
        }
        let model = LinkModel {
            region_of: spec.region_of.clone(),
            one_way_us: spec.one_way_us.clone(),
            jitter_us: spec.jitter_us,
            loss: spec.loss,
            bytes_per_us: spec.bytes_per_us,
        };
        let rng = ChaCha20Rng::seed_from_u64(spec.seed ^ (me as u64).wrapping_mul(0x9e37_79b9));
        Ok(Shaper {
            spec,
            me,
            genesis_ms,
            slot_ms,
            links: std::sync::Mutex::new((Links::new(model), rng)),
        })
    }

    /// The slot the wall clock is in (slot 0 before genesis).
    pub fn slot_now(&self) -> Slot {
        let ms = unix_us() / 1000;
        (ms.saturating_sub(self.genesis_ms) / self.slot_ms) as Slot
    }

    /// Whether this node reaches validator `to` now (observers and unknown ids always).
    pub fn reaches(&self, to: usize) -> bool {
        to >= self.spec.region_of.len() || self.spec.connected(self.slot_now(), self.me, to)
    }

    /// How long a message of `bytes` to `to` waits before it goes out; `None`: a cut drops it.
    pub fn delay(&self, to: usize, bytes: usize) -> Option<Duration> {
        if to >= self.spec.region_of.len() {
            return Some(Duration::ZERO);
        }
        if !self.reaches(to) {
            return None;
        }
        let now = unix_us();
        let mut g = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let (links, rng) = &mut *g;
        let at = links.send(rng, now, self.me, to, bytes)?;
        Some(Duration::from_micros(at.saturating_sub(now)))
    }

    /// The one-way base latency to `to` (a request's reply travels it back).
    pub fn base(&self, to: usize) -> Duration {
        let r = |i: usize| self.spec.region_of.get(i).copied();
        match (r(self.me), r(to)) {
            (Some(a), Some(b)) => Duration::from_micros(self.spec.one_way_us[a][b]),
            _ => Duration::ZERO,
        }
    }

    /// Wall-clock time until the start of the next cut boundary after now, and the slot.
    pub fn next_boundary(&self) -> Option<(Duration, Slot)> {
        let now_slot = self.slot_now();
        let slot = *self.spec.boundaries().iter().find(|s| **s > now_slot)?;
        let at_ms = self.genesis_ms + u64::from(slot) * self.slot_ms;
        let now_ms = unix_us() / 1000;
        Some((Duration::from_millis(at_ms.saturating_sub(now_ms)), slot))
    }

    /// Validators whose reachability from here differs between slots `a` and `b`:
    /// (validator, reachable in `b`).
    pub fn changes(&self, a: Slot, b: Slot) -> Vec<(usize, bool)> {
        (0..self.spec.region_of.len())
            .filter(|j| *j != self.me)
            .filter_map(|j| {
                let (x, y) = (
                    self.spec.connected(a, self.me, j),
                    self.spec.connected(b, self.me, j),
                );
                (x != y).then_some((j, y))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ShapeSpec {
        ShapeSpec {
            region_of: vec![0, 0, 1, 1],
            one_way_us: vec![vec![1_000, 40_000], vec![40_000, 1_000]],
            jitter_us: 0.0,
            loss: 0.0,
            bytes_per_us: 0.0,
            cuts: vec![
                Cut {
                    from_slot: 4,
                    to_slot: 8,
                    groups: vec![0, 0, 1, 1],
                },
                Cut {
                    from_slot: 6,
                    to_slot: 10,
                    groups: vec![0, 1, 0, 0],
                },
            ],
            seed: 1,
        }
    }

    #[test]
    fn overlapping_cuts_compose_and_heal() {
        let s = spec();
        assert!(s.connected(3, 0, 2));
        assert!(!s.connected(4, 0, 2), "partition");
        assert!(s.connected(5, 0, 1));
        assert!(!s.connected(6, 0, 1), "node 1 offline on top");
        assert!(!s.connected(7, 2, 1));
        assert!(s.connected(8, 0, 2), "the partition healed");
        assert!(!s.connected(9, 0, 1), "node 1 still offline");
        assert!(s.connected(10, 0, 1));
        assert_eq!(s.boundaries(), vec![4, 6, 8, 10]);
    }

    #[test]
    fn delays_follow_the_matrix_and_refuse_bad_specs() {
        // Genesis far in the past: slot ~ millions, outside every cut.
        let sh = Shaper::new(spec(), 0, 0, 1_000).expect("valid");
        assert_eq!(sh.delay(1, 100), Some(Duration::from_micros(1_000)));
        assert_eq!(sh.delay(2, 100), Some(Duration::from_micros(40_000)));
        assert_eq!(
            sh.delay(99, 100),
            Some(Duration::ZERO),
            "observers unshaped"
        );
        // Genesis now: slot 0..., then a cut from slot 0 drops.
        let mut s = spec();
        s.cuts = vec![Cut {
            from_slot: 0,
            to_slot: 1_000,
            groups: vec![0, 0, 1, 1],
        }];
        let now_ms = unix_us() / 1000;
        let sh = Shaper::new(s.clone(), 0, now_ms, 1_000).expect("valid");
        assert_eq!(sh.delay(2, 100), None);
        assert!(sh.delay(1, 100).is_some());
        assert_eq!(sh.changes(0, 1_000), vec![(2, true), (3, true)]);
        let mut bad = s.clone();
        bad.region_of = vec![0, 0, 2, 1];
        assert!(bad.validate(4).is_err());
        let mut bad = s.clone();
        bad.loss = 1.0;
        assert!(bad.validate(4).is_err());
        assert!(s.validate(5).is_err());
        assert!(Shaper::new(s, 4, 0, 1_000).is_err());
    }
}
