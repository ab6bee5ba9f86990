//! Prometheus metrics of one node, fed from the core's events and the network's counters, and
//! served as text on `/metrics` by a minimal HTTP responder (one GET, bounded request size).
//! Names follow Substrate where one exists (`substrate_block_height`), so existing dashboards
//! work; the rest are `diverge_*`.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::core::NodeEvent;
use crate::net::NetStats;

/// Every metric of a node.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    height: IntGaugeVec,
    finality: Histogram,
    calls: HistogramVec,
    blocks: IntCounterVec,
    nullifiers: IntGauge,
    net_bytes: IntGaugeVec,
    net_dropped: IntGaugeVec,
    peers: IntGauge,
    observers: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric names and labels below are constants: registration cannot fail at run time, and
    // a failure here is a programming error caught by the tests.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    /// A fresh registry with every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let height = must(IntGaugeVec::new(
            Opts::new("substrate_block_height", "Block height info of the chain"),
            &["status"],
        ));
        // Fine buckets from 50 ms to 60 s: single-slot finality lives below one slot, GRANDPA
        // around a few slots.
        let finality = must(Histogram::with_opts(
            HistogramOpts::new(
                "diverge_finality_latency_seconds",
                "Finalization time minus the block's slot start",
            )
            .buckets(must(prometheus::exponential_buckets(0.05, 1.25, 30))),
        ));
        let calls = must(HistogramVec::new(
            HistogramOpts::new("diverge_plugin_call_seconds", "Plugin call durations")
                .buckets(must(prometheus::exponential_buckets(0.000_01, 2.0, 24))),
            &["call"],
        ));
        let blocks = must(IntCounterVec::new(
            Opts::new(
                "diverge_blocks_total",
                "Blocks by what happened to them here",
            ),
            &["event"],
        ));
        let nullifiers = must(IntGauge::new(
            "diverge_nullifiers_exposed_total",
            "Nullifiers revealed by blocks that were later orphaned",
        ));
        let net_bytes = must(IntGaugeVec::new(
            Opts::new(
                "diverge_network_bytes_total",
                "Bytes by message kind and direction",
            ),
            &["kind", "direction"],
        ));
        let net_dropped = must(IntGaugeVec::new(
            Opts::new("diverge_network_dropped_total", "Frames dropped by reason"),
            &["reason"],
        ));
        let peers = must(IntGauge::new("diverge_peers", "Connected validator peers"));
        let observers = must(IntGauge::new(
            "diverge_observers",
            "Connected read-only observers",
        ));
        for c in [
            Box::new(height.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(finality.clone()),
            Box::new(calls.clone()),
            Box::new(blocks.clone()),
            Box::new(nullifiers.clone()),
            Box::new(net_bytes.clone()),
            Box::new(net_dropped.clone()),
            Box::new(peers.clone()),
            Box::new(observers.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            height,
            finality,
            calls,
            blocks,
            nullifiers,
            net_bytes,
            net_dropped,
            peers,
            observers,
        }
    }

    fn call(&self, name: &str, us: u64) {
        self.calls
            .with_label_values(&[name])
            .observe(us as f64 / 1e6);
    }

    /// Updates from one core event; `numbers` gives (best, finalized) heights after it.
    pub fn on_event(&self, e: &NodeEvent, best: u32, finalized: u32) {
        self.height
            .with_label_values(&["best"])
            .set(i64::from(best));
        self.height
            .with_label_values(&["finalized"])
            .set(i64::from(finalized));
        match e {
            NodeEvent::Proposed {
                execute_us,
                encode_us,
                seal_us,
                ..
            } => {
                self.blocks.with_label_values(&["authored"]).inc();
                self.call("exec.execute", *execute_us);
                self.call("da.encode", *encode_us);
                self.call("consensus.seal", *seal_us);
            }
            NodeEvent::Imported { verify_seal_us, .. } => {
                self.blocks.with_label_values(&["imported"]).inc();
                self.call("consensus.verify_seal", *verify_seal_us);
            }
            NodeEvent::Validated {
                valid, validate_us, ..
            } => {
                if !valid {
                    self.blocks.with_label_values(&["invalid"]).inc();
                }
                if *validate_us > 0 {
                    self.call("exec.validate", *validate_us);
                }
            }
            NodeEvent::Available {
                verify_shard_us, ..
            } if *verify_shard_us > 0 => self.call("da.verify_shard", *verify_shard_us),
            NodeEvent::Finalized { latency_us, .. } => {
                self.blocks.with_label_values(&["finalized"]).inc();
                self.finality.observe(*latency_us as f64 / 1e6);
            }
            NodeEvent::Orphaned { nullifiers, .. } => {
                self.blocks.with_label_values(&["orphaned"]).inc();
                self.nullifiers.add(*nullifiers as i64);
            }
            NodeEvent::Rejected { .. } => self.blocks.with_label_values(&["rejected"]).inc(),
            _ => {}
        }
    }

    /// Copies the network counters in (they are cumulative already).
    pub fn on_net(&self, s: &NetStats) {
        for (kind, k) in &s.per_kind {
            self.net_bytes
                .with_label_values(&[kind, "in"])
                .set(k.bytes_in as i64);
            self.net_bytes
                .with_label_values(&[kind, "out"])
                .set(k.bytes_out as i64);
        }
        let d = &s.dropped;
        for (reason, n) in [
            ("oversized", d.oversized),
            ("malformed", d.malformed),
            ("unknown_kind", d.unknown_kind),
            ("unauthenticated", d.unauthenticated),
            ("inbound_full", d.inbound_full),
            ("rate_limited", d.rate_limited),
            ("partitioned", d.partitioned),
            ("not_connected", d.not_connected),
            ("send_failed", d.send_failed),
            ("observer_refused", d.observer_refused),
        ] {
            self.net_dropped.with_label_values(&[reason]).set(n as i64);
        }
        self.peers.set(s.peers_connected as i64);
        self.observers.set(s.observers_connected as i64);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            // Read the request head, at most 4 KiB, for at most 2 s.
            let head = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if head.is_err() {
                return;
            }
            let ok = buf[..n].starts_with(b"GET /metrics");
            let (status, body) = if ok {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "try /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}
