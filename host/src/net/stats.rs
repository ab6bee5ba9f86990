//! Counters of the network layer: lock-free atomics bumped on the IO paths, snapshotted into a
//! serialisable [`NetStats`] for metrics and reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use super::Kind;

/// Traffic of one message kind. Bytes count whole frames (5-byte header plus payload), requests
/// and responses included: it is what crossed the wire at stream level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindStats {
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
}

/// Frames or messages that were not delivered, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropStats {
    /// Length header above the bound for its kind (the stream is stopped unread).
    pub oversized: u64,
    /// Truncated header or payload, trailing bytes, or a stream that stalled past the timeout.
    pub malformed: u64,
    /// Kind byte that is not a [`Kind`].
    pub unknown_kind: u64,
    /// TLS peers refused: certificate not an Ed25519 validator key, bad signatures, wrong index.
    pub unauthenticated: u64,
    /// Inbound channel full: the node loop was not keeping up.
    pub inbound_full: u64,
    /// Inbound messages above their sender's rate limit ([`super::RateLimit`]).
    pub rate_limited: u64,
    /// Outbound messages to a peer that is not connected.
    pub not_connected: u64,
    /// Outbound messages and requests a scenario's link shaping cut (a partition or an offline
    /// node, [`super::shape`]), as the simulator's partition mask drops them.
    pub partitioned: u64,
    /// Outbound messages too large to send, whose stream failed or timed out (connection lost
    /// mid-send), that found the outbound backlog full, or replies too large or unwritable.
    pub send_failed: u64,
    /// Observer traffic outside what an observer may do (it may send only sync messages and
    /// receive only sync and block messages), and observers refused because all slots are taken.
    pub observer_refused: u64,
}

/// Snapshot of the network counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    /// Keyed by the kind's name (`block`, `consensus`, ...).
    pub per_kind: BTreeMap<&'static str, KindStats>,
    pub dropped: DropStats,
    /// Validators with a live connection.
    pub peers_connected: usize,
    /// Read-only observers with a live connection.
    pub observers_connected: usize,
    /// Authenticated connections established over the lifetime (reconnects included).
    pub connections_established: u64,
}

impl NetStats {
    /// Traffic of one kind (zero if none yet).
    pub fn kind(&self, kind: Kind) -> KindStats {
        self.per_kind.get(kind.name()).copied().unwrap_or_default()
    }

    /// Sum of all kinds.
    pub fn total(&self) -> KindStats {
        self.per_kind
            .values()
            .fold(KindStats::default(), |a, k| KindStats {
                messages_in: a.messages_in + k.messages_in,
                bytes_in: a.bytes_in + k.bytes_in,
                messages_out: a.messages_out + k.messages_out,
                bytes_out: a.bytes_out + k.bytes_out,
            })
    }
}

#[derive(Debug, Default)]
struct KindCounters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

/// The live counters, shared by every task of one [`super::Network`].
#[derive(Debug, Default)]
pub struct Counters {
    kinds: [KindCounters; Kind::ALL.len()],
    oversized: AtomicU64,
    malformed: AtomicU64,
    unknown_kind: AtomicU64,
    unauthenticated: AtomicU64,
    inbound_full: AtomicU64,
    rate_limited: AtomicU64,
    not_connected: AtomicU64,
    partitioned: AtomicU64,
    send_failed: AtomicU64,
    observer_refused: AtomicU64,
    connections: AtomicU64,
}

impl Counters {
    pub fn inbound(&self, kind: Kind, bytes: usize) {
        let k = &self.kinds[kind.slot()];
        k.messages_in.fetch_add(1, Relaxed);
        k.bytes_in.fetch_add(bytes as u64, Relaxed);
    }
    pub fn outbound(&self, kind: Kind, bytes: usize) {
        let k = &self.kinds[kind.slot()];
        k.messages_out.fetch_add(1, Relaxed);
        k.bytes_out.fetch_add(bytes as u64, Relaxed);
    }
    pub fn oversized(&self) {
        self.oversized.fetch_add(1, Relaxed);
    }
    pub fn malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }
    pub fn unknown_kind(&self) {
        self.unknown_kind.fetch_add(1, Relaxed);
    }
    pub fn unauthenticated(&self) {
        self.unauthenticated.fetch_add(1, Relaxed);
    }
    pub fn inbound_full(&self) {
        self.inbound_full.fetch_add(1, Relaxed);
    }
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }
    pub fn partitioned(&self) {
        self.partitioned.fetch_add(1, Relaxed);
    }
    pub fn not_connected(&self) {
        self.not_connected.fetch_add(1, Relaxed);
    }
    pub fn send_failed(&self) {
        self.send_failed.fetch_add(1, Relaxed);
    }
    pub fn observer_refused(&self) {
        self.observer_refused.fetch_add(1, Relaxed);
    }
    pub fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self, peers_connected: usize, observers_connected: usize) -> NetStats {
        let per_kind = Kind::ALL
            .iter()
            .map(|kind| {
                let k = &self.kinds[kind.slot()];
                (
                    kind.name(),
                    KindStats {
                        messages_in: k.messages_in.load(Relaxed),
                        bytes_in: k.bytes_in.load(Relaxed),
                        messages_out: k.messages_out.load(Relaxed),
                        bytes_out: k.bytes_out.load(Relaxed),
                    },
                )
            })
            .collect();
        NetStats {
            per_kind,
            dropped: DropStats {
                oversized: self.oversized.load(Relaxed),
                malformed: self.malformed.load(Relaxed),
                unknown_kind: self.unknown_kind.load(Relaxed),
                unauthenticated: self.unauthenticated.load(Relaxed),
                inbound_full: self.inbound_full.load(Relaxed),
                rate_limited: self.rate_limited.load(Relaxed),
                partitioned: self.partitioned.load(Relaxed),
                not_connected: self.not_connected.load(Relaxed),
                send_failed: self.send_failed.load(Relaxed),
                observer_refused: self.observer_refused.load(Relaxed),
            },
            peers_connected,
            observers_connected,
            connections_established: self.connections.load(Relaxed),
        }
    }
}
