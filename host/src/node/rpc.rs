//! JSON-RPC (jsonrpsee, HTTP and WebSocket on one port) over a read-only view of the chain the
//! core thread keeps current: Substrate's `chain_*` and `system_health` names so existing
//! tooling works, plus `diverge_status`.
//!
//! The view is copied out of the core after each input (heads, recent headers), so a slow or
//! hostile RPC client can never stall the block pipeline; finalized headers are pushed to
//! subscribers through a bounded broadcast channel (a lagging subscriber loses old heads, not the
//! node's time).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use diverge_plugins::{Hash, Header, Slot, ValidatorIndex};
use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Headers kept for `chain_getHeader` and `chain_getBlockHash`.
const KEEP_HEADERS: usize = 4096;

/// What RPC can see.
#[derive(Debug, Default)]
pub struct View {
    /// This node's validator index.
    pub node: Option<ValidatorIndex>,
    /// Plugin names by axis.
    pub plugins: Vec<(String, String)>,
    /// The current slot.
    pub slot: Slot,
    /// Best block and height.
    pub best: (Hash, u32),
    /// Finalized block and height.
    pub finalized: (Hash, u32),
    /// Recent headers with heights.
    pub headers: HashMap<Hash, (Header, u32)>,
    order: VecDeque<Hash>,
    /// Connected peers.
    pub peers: usize,
}

impl View {
    /// Remembers a header.
    pub fn add_header(&mut self, header: Header, number: u32) {
        let h = header.hash();
        if self.headers.insert(h, (header, number)).is_none() {
            self.order.push_back(h);
            while self.order.len() > KEEP_HEADERS {
                if let Some(old) = self.order.pop_front() {
                    self.headers.remove(&old);
                }
            }
        }
    }
}

/// The shared view and the finalized-heads channel.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The view.
    pub view: Arc<RwLock<View>>,
    /// Finalized headers as they happen.
    pub finalized: broadcast::Sender<Value>,
}

impl Shared {
    /// An empty view.
    pub fn new() -> Shared {
        Shared {
            view: Arc::new(RwLock::new(View::default())),
            finalized: broadcast::channel(256).0,
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// A header in the JSON shape Substrate tools read (number as hex), plus our fields.
pub fn header_json(h: &Header, number: u32) -> Value {
    json!({
        "parentHash": h.parent.to_hex(),
        "number": format!("0x{number:x}"),
        "stateRoot": h.post_state_root.to_hex(),
        "extrinsicsRoot": h.payload_hash.to_hex(),
        "slot": h.slot,
        "author": h.author,
        "hash": h.hash().to_hex(),
        "digest": {"logs": [format!("0x{}", hex::encode(&h.digest))]},
    })
}

fn bad(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, msg.into(), None::<()>)
}

fn read(s: &Shared) -> std::sync::RwLockReadGuard<'_, View> {
    // A writer that panicked leaves a usable view (plain data): keep serving it.
    s.view.read().unwrap_or_else(|p| p.into_inner())
}

/// Builds the module (exposed for tests that call methods without a socket).
pub fn module(shared: Shared) -> Result<RpcModule<Shared>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(shared);
    m.register_method("chain_getFinalizedHead", |_, s, _| {
        read(s).finalized.0.to_hex()
    })?;
    m.register_method("chain_getHeader", |params, s, _| {
        let v = read(s);
        let hash = match params.sequence().optional_next::<String>() {
            Ok(Some(h)) => Hash::from_hex(&h).map_err(|e| bad(format!("hash: {e}")))?,
            Ok(None) => v.best.0,
            Err(e) => return Err(bad(e.to_string())),
        };
        Ok::<_, ErrorObjectOwned>(v.headers.get(&hash).map(|(h, n)| header_json(h, *n)))
    })?;
    m.register_method("chain_getBlockHash", |params, s, _| {
        let v = read(s);
        let n = match params.sequence().optional_next::<u32>() {
            Ok(Some(n)) => n,
            Ok(None) => return Ok::<_, ErrorObjectOwned>(Some(v.best.0.to_hex())),
            Err(e) => return Err(bad(e.to_string())),
        };
        // Walk back from the best block.
        let mut cur = v.best.0;
        loop {
            match v.headers.get(&cur) {
                Some((_, num)) if *num == n => return Ok(Some(cur.to_hex())),
                Some((h, num)) if *num > n => cur = h.parent,
                _ => return Ok(None),
            }
        }
    })?;
    m.register_method("system_health", |_, s, _| {
        let v = read(s);
        json!({"peers": v.peers, "isSyncing": v.best.1 + 2 < v.slot.saturating_sub(1) && v.peers == 0, "shouldHavePeers": true})
    })?;
    m.register_method("diverge_status", |_, s, _| {
        let v = read(s);
        json!({
            "node": v.node,
            "plugins": v.plugins.iter().map(|(a, p)| json!({"axis": a, "plugin": p})).collect::<Vec<_>>(),
            "slot": v.slot,
            "best": {"hash": v.best.0.to_hex(), "number": v.best.1},
            "finalized": {"hash": v.finalized.0.to_hex(), "number": v.finalized.1},
            "peers": v.peers,
        })
    })?;
    m.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, s, _| async move {
            let mut rx = s.finalized.subscribe();
            let sink = pending.accept().await?;
            loop {
                match rx.recv().await {
                    Ok(v) => {
                        let msg = serde_json::value::to_raw_value(&v)?;
                        if sink.send(msg).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        },
    )?;
    Ok(m)
}

/// Serves the module on `addr`.
pub async fn serve(addr: SocketAddr, shared: Shared) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder().build(addr).await?;
    let local = server.local_addr()?;
    let handle = server.start(module(shared)?);
    Ok((local, handle))
}
