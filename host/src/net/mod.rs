//! The host's network layer: authenticated QUIC (quinn + rustls, ring provider) between the
//! validators of one chain.
//!
//! Place in the design: plugins are sans-IO. They hand the node loop encoded messages and are fed
//! the ones that arrive; the host owns every socket. This module is that socket layer, and the
//! node loop (`crate::node`) is its only user: it sends opaque byte payloads tagged with a [`Kind`]
//! and receives [`Inbound`] events on one bounded channel.
//!
//! - **Identity**: a node is its Ed25519 validator key. Its TLS certificate is self-signed with
//!   that key; both sides present one (mutual TLS 1.3) and a peer is accepted only if its key is
//!   in the validator set, which also tells its [`ValidatorIndex`] ([`identity`]).
//! - **Observers**: with `max_observers > 0` a node also accepts *incoming* connections from
//!   keys outside the set (still authenticated: the handshake proves the key), as read-only
//!   peers. Each gets an id above the validator indices ([`Network::is_observer`]) while it is
//!   connected. An observer may send only [`Kind::Sync`] and is sent only sync and block
//!   messages; anything else either way is dropped and counted (`observer_refused`).
//!   [`Network::broadcast`] and [`Network::connected`] are validators only, observers are
//!   reached with [`Network::send`] (answers) and [`Network::send_observers`] (pushes). An
//!   observer is never dialed, its address is not learned, and the node loop gets no
//!   connect/disconnect events for it.
//! - **Connections**: one per peer. Every known address is dialed, with backoff, and re-dialed
//!   when the connection drops; incoming connections teach us the peer's address (one endpoint
//!   both listens and dials, so the source port is the listening port). When both sides dial at
//!   once, the connection dialed by the lower index wins on both sides.
//! - **Framing**: one message per uni stream, one request/response per bi stream, each frame
//!   `kind u8 | length u32 LE | payload`, read with a hard bound ([`frame`]). Anything malformed
//!   is dropped and counted ([`NetStats`]); nothing from the network can panic the node or make it
//!   buffer more than `max_message` per stream.
//! - **Backpressure**: the inbound channel is bounded and never awaited on the message path: when
//!   it is full a message is dropped and counted, so a slow node loop cannot wedge connections.
//!   Outbound sends are bounded by a backlog of in-flight streams.
//! - **Rate limits** ([`RateLimit`]): a token bucket per peer on messages and bytes, checked
//!   before anything is queued, so one flooding peer loses its own excess and cannot crowd the
//!   others' messages out of the shared inbound channel.
//!
//! Messages on distinct streams are not ordered relative to each other; a consumer that needs an
//! order must carry it in the payload (slot numbers, parents).

// Public so the fuzz targets (fuzz/) can drive the header check.
pub mod frame;
mod identity;
mod limit;
pub mod shape;
mod stats;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, VarInt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use frame::HEADER_LEN;
pub use identity::{cert_ed25519_key, public_key};
use limit::Limiter;
pub use limit::RateLimit;
pub use shape::{ShapeSpec, Shaper};
pub use stats::{DropStats, KindStats, NetStats};

use frame::FrameError;
use identity::{KeySet, ValidatorVerifier};
use stats::Counters;

pub type ValidatorIndex = u16;

/// ALPN of the validator protocol; bump on incompatible framing changes.
pub const ALPN: &[u8] = b"diverge/1";
/// The name put in certificates and SNI. Meaningless for authentication (the key is what counts)
/// but TLS needs one.
pub(crate) const SERVER_NAME: &str = "diverge";

/// Inbound channel capacity: a few slots' worth of gossip for a large validator set.
pub const INBOUND_CAPACITY: usize = 4096;
/// In-flight outbound streams across all peers before `send`/`broadcast` start dropping.
const OUTBOUND_BACKLOG: usize = 8192;
/// A stream whose frame has not fully arrived by then is dropped as malformed: it bounds how long
/// a stalling peer can hold a stream slot (and the stream-count limit bounds how many).
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an outbound stream may take (opening included, it waits for stream credit).
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the node loop has to answer a [`Inbound::Request`].
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const DIAL_TICK: Duration = Duration::from_millis(100);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// The higher index waits this long before dialing a lower one, since the lower one's dial is the
/// connection that wins the tiebreak: duplicates (and the messages lost when one is closed)
/// become rare rather than the rule.
const DIAL_GRACE: Duration = Duration::from_millis(800);
/// Two connections to one peer established within this window are a simultaneous dial, settled
/// by the tiebreak. Past it, a new connection from a peer means the peer lost the old one (it
/// only dials when it has none: it crashed and restarted) and replaces it, even if the old one
/// looks alive here until the idle timeout.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3);
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// Milliseconds; a peer silent for this long (killed, partitioned) is disconnected.
const IDLE_TIMEOUT_MS: u32 = 6_000;
const MAX_UNI_STREAMS: u32 = 512;
const MAX_BI_STREAMS: u32 = 128;

const CLOSE_SHUTDOWN: VarInt = VarInt::from_u32(0);
const CLOSE_DUPLICATE: VarInt = VarInt::from_u32(10);
const CLOSE_UNAUTHENTICATED: VarInt = VarInt::from_u32(11);

/// What a message is, for routing, size bounds and per-kind byte counters. The wire carries the
/// `u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    Block = 1,
    Consensus = 2,
    Shard = 3,
    Availability = 4,
    Sync = 5,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Block,
        Kind::Consensus,
        Kind::Shard,
        Kind::Availability,
        Kind::Sync,
    ];

    pub fn from_u8(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// Lower-case name, for metrics labels and stats keys.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Consensus => "consensus",
            Kind::Shard => "shard",
            Kind::Availability => "availability",
            Kind::Sync => "sync",
        }
    }

    fn slot(self) -> usize {
        self as usize - 1
    }
}

#[derive(Clone)]
pub struct NetConfig {
    /// `127.0.0.1:0` picks an ephemeral port; see [`Network::local_addr`].
    pub listen: SocketAddr,
    /// This node's index in `validators`. An index outside the set (e.g. `u16::MAX`) starts an
    /// outsider: it runs and dials; validators that take observers accept it as one, the
    /// others refuse its key.
    pub me: ValidatorIndex,
    /// Ed25519 secret key bytes of this node (`ed25519_dalek::SigningKey::from_bytes`).
    pub secret_seed: [u8; 32],
    /// Ed25519 public keys by validator index: the only peers accepted.
    pub validators: Vec<[u8; 32]>,
    /// Bootnodes / known addresses to dial.
    pub peers: Vec<(ValidatorIndex, SocketAddr)>,
    /// Bytes of payload; larger frames are dropped and counted.
    pub max_message: usize,
    /// Read-only observers (keys outside the set) accepted at once; 0 refuses every outsider.
    pub max_observers: usize,
    /// Each peer's inbound budget; what is above it is dropped and counted (`rate_limited`).
    pub rate_limit: RateLimit,
    /// A scenario's link model applied to this node's sends ([`shape`]); none: unshaped.
    pub shaping: Option<Arc<Shaper>>,
}

impl std::fmt::Debug for NetConfig {
    // Never print the secret seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetConfig")
            .field("listen", &self.listen)
            .field("me", &self.me)
            .field("validators", &self.validators.len())
            .field("peers", &self.peers)
            .field("max_message", &self.max_message)
            .field("max_observers", &self.max_observers)
            .field("rate_limit", &self.rate_limit)
            .field("shaping", &self.shaping.is_some())
            .finish_non_exhaustive()
    }
}

/// What the network hands the node loop.
#[derive(Debug)]
pub enum Inbound {
    Message {
        from: ValidatorIndex,
        kind: Kind,
        bytes: Vec<u8>,
    },
    /// Answer through `reply` within 30 s; dropping it makes the requester's call fail with
    /// [`NetError::Refused`].
    Request {
        from: ValidatorIndex,
        kind: Kind,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// Delivered once per peer when it first connects (a replaced duplicate or reconnection
    /// before the old connection was noticed dead emits nothing).
    PeerConnected(ValidatorIndex),
    PeerDisconnected(ValidatorIndex),
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid network config: {0}")]
    Config(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("validator {0} is not connected")]
    NotConnected(ValidatorIndex),
    #[error("validator {0} is cut off by the scenario's link shaping")]
    Partitioned(ValidatorIndex),
    #[error("request to validator {0} timed out")]
    Timeout(ValidatorIndex),
    #[error("message of {size} bytes exceeds the {max}-byte bound")]
    TooLarge { size: usize, max: usize },
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("stream failed: {0}")]
    Stream(String),
    #[error("validator {0} gave no reply")]
    Refused(ValidatorIndex),
    #[error("bad response from validator {from}: {reason}")]
    BadResponse {
        from: ValidatorIndex,
        reason: String,
    },
    #[error("the network is shut down")]
    Shutdown,
}

impl From<rustls::Error> for NetError {
    fn from(e: rustls::Error) -> Self {
        NetError::Tls(e.to_string())
    }
}

struct PeerConn {
    conn: Connection,
    outgoing: bool,
    since: Instant,
}

struct DialState {
    next: Instant,
    backoff: Duration,
    dialing: bool,
    was_connected: bool,
}

struct Inner {
    me: ValidatorIndex,
    /// Validators in the set: ids below are validators, ids from here up are observers.
    validators: usize,
    max_observers: usize,
    /// Connected observers' keys and the ids they were given.
    observers: Mutex<HashMap<[u8; 32], ValidatorIndex>>,
    max_message: usize,
    local_addr: SocketAddr,
    /// Taken at shutdown so the UDP socket is released once the tasks are gone.
    endpoint: Mutex<Option<Endpoint>>,
    keys: Arc<KeySet>,
    counters: Arc<Counters>,
    limiter: Limiter,
    peers: Mutex<HashMap<ValidatorIndex, PeerConn>>,
    addrs: Mutex<HashMap<ValidatorIndex, SocketAddr>>,
    dial: Mutex<HashMap<ValidatorIndex, DialState>>,
    inbound: mpsc::Sender<Inbound>,
    /// Peer events go through one ordered queue (pushed under the `peers` lock) so a
    /// Connected/Disconnected pair can never arrive swapped.
    events: mpsc::UnboundedSender<Inbound>,
    rt: tokio::runtime::Handle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    out_permits: Arc<Semaphore>,
    closed: AtomicBool,
    shaper: Option<Arc<Shaper>>,
}

/// A poisoned lock only means another task panicked mid-update of plain maps; the data is still
/// usable, and the network must not cascade a panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Cheap clone handle on a running network.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("me", &self.inner.me)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS));
    t.max_concurrent_bidi_streams(VarInt::from_u32(MAX_BI_STREAMS));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_idle_timeout(Some(VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    t
}

/// QUIC server and client configs for the identity of `seed`, accepting exactly the keys of
/// `keys` (counted in `counters` when refused).
fn quic_configs(
    seed: &[u8; 32],
    keys: Arc<KeySet>,
    counters: Arc<Counters>,
    observers: bool,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig), NetError> {
    let id = identity::make_identity(seed)?;
    let verifier = Arc::new(ValidatorVerifier::new(keys, counters, observers));
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let mut server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(
            vec![id.cert.clone()],
            PrivateKeyDer::Pkcs8(id.key.clone_key()),
        )?;
    server_tls.alpn_protocols = vec![ALPN.to_vec()];
    // No resumption: every connection proves the key afresh (handshakes are ~ms on loopback),
    // and there is no ticket state to reason about.
    server_tls.send_tls13_tickets = 0;

    let mut client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![id.cert], PrivateKeyDer::Pkcs8(id.key))?;
    client_tls.alpn_protocols = vec![ALPN.to_vec()];
    client_tls.resumption = rustls::client::Resumption::disabled();

    let transport = Arc::new(transport_config());
    let quic_server =
        QuicServerConfig::try_from(server_tls).map_err(|e| NetError::Tls(e.to_string()))?;
    let mut server_cfg = quinn::ServerConfig::with_crypto(Arc::new(quic_server));
    server_cfg.transport_config(transport.clone());
    let quic_client =
        QuicClientConfig::try_from(client_tls).map_err(|e| NetError::Tls(e.to_string()))?;
    let mut client_cfg = quinn::ClientConfig::new(Arc::new(quic_client));
    client_cfg.transport_config(transport);
    Ok((server_cfg, client_cfg))
}

/// A bare client endpoint on `127.0.0.1:0` with the identity of `seed`, for tests and tools
/// that must speak raw QUIC to validators (e.g. a misbehaving peer writing garbage frames). It
/// verifies servers against `validators` like a node does. Connect with
/// `endpoint.connect(addr, "diverge")`.
pub fn raw_endpoint(seed: &[u8; 32], validators: &[[u8; 32]]) -> Result<Endpoint, NetError> {
    let keys = Arc::new(KeySet::new(validators));
    let (_, client_cfg) = quic_configs(seed, keys, Arc::new(Counters::default()), false)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut endpoint = Endpoint::client(addr).map_err(|source| NetError::Bind { addr, source })?;
    endpoint.set_default_client_config(client_cfg);
    Ok(endpoint)
}

/// The name to pass to `Endpoint::connect` (any name works; it is not checked).
pub const TLS_SERVER_NAME: &str = SERVER_NAME;

/// Encode one frame (`kind | length u32 LE | payload`) exactly as the network does.
pub fn encode_frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
    frame::encode(kind, payload)
}

impl Network {
    /// Bind, start accepting and dialing. Must be called inside a tokio runtime; the returned
    /// receiver is the only source of [`Inbound`] events.
    pub async fn start(cfg: NetConfig) -> Result<(Network, mpsc::Receiver<Inbound>), NetError> {
        // `me` outside the set runs the node as an outsider: it may dial, and validators with
        // `max_observers > 0` serve it read-only (it never sees validator gossip). Inside the
        // set, the seed must be that validator's, or every peer would refuse us for a subtler
        // reason.
        if let Some(my_key) = cfg.validators.get(usize::from(cfg.me)) {
            if *my_key != public_key(&cfg.secret_seed) {
                return Err(NetError::Config(format!(
                    "secret_seed is not the key of validator {}",
                    cfg.me
                )));
            }
        }
        if cfg.validators.len() > usize::from(ValidatorIndex::MAX) + 1 {
            return Err(NetError::Config("more validators than indices".into()));
        }
        // Observer ids are validators..validators+max_observers, all below u16::MAX (the
        // index an outsider gives itself).
        if cfg.validators.len() + cfg.max_observers > usize::from(ValidatorIndex::MAX) {
            return Err(NetError::Config(format!(
                "{} validators and {} observers exceed the {} peer ids",
                cfg.validators.len(),
                cfg.max_observers,
                ValidatorIndex::MAX
            )));
        }
        if cfg.max_message == 0 || u32::try_from(cfg.max_message).is_err() {
            return Err(NetError::Config(format!(
                "max_message {} not in 1..=u32::MAX",
                cfg.max_message
            )));
        }

        let counters = Arc::new(Counters::default());
        let keys = Arc::new(KeySet::new(&cfg.validators));
        let (server_cfg, client_cfg) = quic_configs(
            &cfg.secret_seed,
            keys.clone(),
            counters.clone(),
            cfg.max_observers > 0,
        )?;

        let mut endpoint =
            Endpoint::server(server_cfg, cfg.listen).map_err(|source| NetError::Bind {
                addr: cfg.listen,
                source,
            })?;
        endpoint.set_default_client_config(client_cfg);
        let local_addr = endpoint.local_addr().map_err(|source| NetError::Bind {
            addr: cfg.listen,
            source,
        })?;

        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Inbound>();
        let addrs = cfg
            .peers
            .iter()
            .filter(|(i, _)| *i != cfg.me && usize::from(*i) < cfg.validators.len())
            .copied()
            .collect();

        let inner = Arc::new(Inner {
            me: cfg.me,
            validators: cfg.validators.len(),
            max_observers: cfg.max_observers,
            observers: Mutex::new(HashMap::new()),
            max_message: cfg.max_message,
            local_addr,
            endpoint: Mutex::new(Some(endpoint.clone())),
            keys,
            counters,
            limiter: Limiter::new(cfg.rate_limit),
            peers: Mutex::new(HashMap::new()),
            addrs: Mutex::new(addrs),
            dial: Mutex::new(HashMap::new()),
            inbound: inbound_tx.clone(),
            events: events_tx,
            rt: tokio::runtime::Handle::current(),
            tasks: Mutex::new(Vec::new()),
            out_permits: Arc::new(Semaphore::new(OUTBOUND_BACKLOG)),
            closed: AtomicBool::new(false),
            shaper: cfg.shaping.clone(),
        });

        let forwarder = tokio::spawn(async move {
            // Awaiting is fine here: only peer events pass, and order matters more than latency.
            while let Some(ev) = events_rx.recv().await {
                if inbound_tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
        let acceptor = tokio::spawn(accept_loop(inner.clone(), endpoint));
        let dialer = tokio::spawn(dial_loop(inner.clone()));
        lock(&inner.tasks).extend([forwarder, acceptor, dialer]);
        if let Some(sh) = cfg.shaping {
            let cuts = tokio::spawn(cut_loop(inner.clone(), sh));
            lock(&inner.tasks).push(cuts);
        }
        tracing::debug!(me = cfg.me, %local_addr, "network started");
        Ok((Network { inner }, inbound_rx))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn me(&self) -> ValidatorIndex {
        self.inner.me
    }

    /// Teach the dialer an address for a validator (e.g. from a chain spec or a peer's
    /// announcement); it is dialed from the next tick on if not connected.
    pub fn add_peer(&self, index: ValidatorIndex, addr: SocketAddr) {
        if index != self.inner.me && self.inner.keys.len() > usize::from(index) {
            lock(&self.inner.addrs).insert(index, addr);
        }
    }

    /// Fire and forget on a fresh uni stream; counted in `dropped` if the peer is not connected,
    /// the payload is too large or the backlog is full.
    pub fn send(&self, to: ValidatorIndex, kind: Kind, bytes: Vec<u8>) {
        if bytes.len() > self.inner.max_message {
            self.inner.counters.send_failed();
            return;
        }
        if self.inner.is_observer(to) && !for_observers(kind) {
            self.inner.counters.observer_refused();
            return;
        }
        let Some(conn) = self.inner.conn(to) else {
            self.inner.counters.not_connected();
            return;
        };
        let frame: Arc<[u8]> = frame::encode(kind, &bytes).into();
        self.inner.shaped_send(to, conn, kind, frame);
    }

    /// [`Network::send`] to every connected validator (not observers); the frame is encoded once.
    pub fn broadcast(&self, kind: Kind, bytes: Vec<u8>) {
        self.send_where(kind, bytes, |inner, id| !inner.is_observer(id));
    }

    /// [`Network::send`] to every connected observer (sync and block messages only).
    pub fn send_observers(&self, kind: Kind, bytes: Vec<u8>) {
        if !for_observers(kind) {
            self.inner.counters.observer_refused();
            return;
        }
        self.send_where(kind, bytes, |inner, id| inner.is_observer(id));
    }

    /// Whether `id` is an observer's (above the validator indices, below the outsider index).
    pub fn is_observer(&self, id: ValidatorIndex) -> bool {
        self.inner.is_observer(id)
    }

    /// Observers with a live connection, sorted.
    pub fn observers(&self) -> Vec<ValidatorIndex> {
        self.live_ids(true)
    }

    fn live_ids(&self, observers: bool) -> Vec<ValidatorIndex> {
        let mut v: Vec<_> = lock(&self.inner.peers)
            .iter()
            .filter(|(i, p)| {
                p.conn.close_reason().is_none() && self.inner.is_observer(**i) == observers
            })
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    }

    fn send_where(
        &self,
        kind: Kind,
        bytes: Vec<u8>,
        keep: impl Fn(&Inner, ValidatorIndex) -> bool,
    ) {
        if bytes.len() > self.inner.max_message {
            self.inner.counters.send_failed();
            return;
        }
        let conns: Vec<(ValidatorIndex, Connection)> = lock(&self.inner.peers)
            .iter()
            .filter(|(i, p)| p.conn.close_reason().is_none() && keep(&self.inner, **i))
            .map(|(i, p)| (*i, p.conn.clone()))
            .collect();
        let frame: Arc<[u8]> = frame::encode(kind, &bytes).into();
        for (to, conn) in conns {
            self.inner.shaped_send(to, conn, kind, frame.clone());
        }
    }

    /// One request/response on a fresh bi stream; the response is bounded by `max_message`.
    pub async fn request(
        &self,
        to: ValidatorIndex,
        kind: Kind,
        bytes: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, NetError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(NetError::Shutdown);
        }
        if bytes.len() > inner.max_message {
            return Err(NetError::TooLarge {
                size: bytes.len(),
                max: inner.max_message,
            });
        }
        let conn = inner.conn(to).ok_or(NetError::NotConnected(to))?;
        // Shaped: the request waits for the modelled one-way trip, the reply for the way back.
        let (there, back) = match &inner.shaper {
            None => (Duration::ZERO, Duration::ZERO),
            Some(sh) => match sh.delay(usize::from(to), bytes.len() + HEADER_LEN) {
                None => {
                    inner.counters.partitioned();
                    return Err(NetError::Partitioned(to));
                }
                Some(d) => (d, sh.base(usize::from(to))),
            },
        };
        let exchange = async {
            tokio::time::sleep(there).await;
            let (mut send, mut recv) = conn.open_bi().await?;
            let frame = frame::encode(kind, &bytes);
            send.write_all(&frame)
                .await
                .map_err(|e| NetError::Stream(e.to_string()))?;
            let _ = send.finish();
            inner.counters.outbound(kind, frame.len());
            match frame::read_frame(&mut recv, inner.max_message, timeout).await {
                Ok((k, resp)) => {
                    inner.counters.inbound(k, HEADER_LEN + resp.len());
                    if k != kind {
                        return Err(NetError::BadResponse {
                            from: to,
                            reason: format!("asked {kind:?}, answered {k:?}"),
                        });
                    }
                    tokio::time::sleep(back).await;
                    Ok(resp)
                }
                Err(FrameError::Aborted) => Err(NetError::Refused(to)),
                Err(e) => {
                    inner.count_frame_error(&e);
                    Err(NetError::BadResponse {
                        from: to,
                        reason: format!("{e:?}"),
                    })
                }
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| NetError::Timeout(to))?
    }

    /// Validators with a live connection, sorted (observers: [`Network::observers`]).
    pub fn connected(&self) -> Vec<ValidatorIndex> {
        self.live_ids(false)
    }

    pub fn stats(&self) -> NetStats {
        self.inner
            .counters
            .snapshot(self.connected().len(), self.observers().len())
    }

    /// Close every connection and the endpoint, stop all tasks and release the UDP port (a new
    /// `start` on the same address works once this returns). Idempotent.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::SeqCst);
        let tasks: Vec<JoinHandle<()>> = lock(&inner.tasks).drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        let conns: Vec<Connection> = lock(&inner.peers).drain().map(|(_, p)| p.conn).collect();
        for c in conns {
            c.close(CLOSE_SHUTDOWN, b"shutdown");
        }
        let endpoint = lock(&inner.endpoint).take();
        if let Some(ep) = endpoint {
            ep.close(CLOSE_SHUTDOWN, b"shutdown");
            // Lets the close frames go out; bounded in case a peer never acknowledges.
            let _ = tokio::time::timeout(Duration::from_secs(2), ep.wait_idle()).await;
        }
        tracing::debug!(me = inner.me, "network shut down");
    }
}

/// What may pass between a node and an observer: sync requests and answers, and blocks.
fn for_observers(kind: Kind) -> bool {
    matches!(kind, Kind::Sync | Kind::Block)
}

impl Inner {
    fn is_observer(&self, id: ValidatorIndex) -> bool {
        let id = usize::from(id);
        id >= self.validators && id < self.validators + self.max_observers
    }

    /// An id for the observer holding `key`: the one it has if it is connected already (a
    /// reconnection replaces that connection), else the lowest free one; `None` when every
    /// slot is taken or observers are not accepted.
    fn observer_id(&self, key: [u8; 32]) -> Option<ValidatorIndex> {
        let mut obs = lock(&self.observers);
        if let Some(id) = obs.get(&key) {
            return Some(*id);
        }
        let taken: HashSet<ValidatorIndex> = obs.values().copied().collect();
        let id = (self.validators..self.validators + self.max_observers)
            .filter_map(|i| ValidatorIndex::try_from(i).ok())
            .find(|i| !taken.contains(i))?;
        obs.insert(key, id);
        Some(id)
    }

    fn conn(&self, to: ValidatorIndex) -> Option<Connection> {
        lock(&self.peers)
            .get(&to)
            .filter(|p| p.conn.close_reason().is_none())
            .map(|p| p.conn.clone())
    }

    fn endpoint(&self) -> Option<Endpoint> {
        lock(&self.endpoint).clone()
    }

    /// Sends now, or after the shaper's modelled delay; a cut drops the message.
    fn shaped_send(&self, to: ValidatorIndex, conn: Connection, kind: Kind, frame: Arc<[u8]>) {
        let delay = match &self.shaper {
            None => Duration::ZERO,
            Some(sh) => match sh.delay(usize::from(to), frame.len()) {
                Some(d) => d,
                None => {
                    self.counters.partitioned();
                    return;
                }
            },
        };
        self.spawn_send(conn, kind, frame, delay);
    }

    fn spawn_send(&self, conn: Connection, kind: Kind, frame: Arc<[u8]>, delay: Duration) {
        let Ok(permit) = self.out_permits.clone().try_acquire_owned() else {
            self.counters.send_failed();
            return;
        };
        let counters = self.counters.clone();
        self.rt.spawn(async move {
            let _permit = permit;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = tokio::time::timeout(SEND_TIMEOUT, async {
                let mut s = conn.open_uni().await.ok()?;
                s.write_all(&frame).await.ok()?;
                s.finish().ok()
            })
            .await;
            match result {
                Ok(Some(())) => counters.outbound(kind, frame.len()),
                _ => counters.send_failed(),
            }
        });
    }

    fn count_frame_error(&self, e: &FrameError) {
        match e {
            FrameError::UnknownKind(_) => self.counters.unknown_kind(),
            FrameError::Oversized { .. } => self.counters.oversized(),
            FrameError::Malformed(_) => self.counters.malformed(),
            FrameError::Aborted => {}
        }
    }

    fn deliver(&self, ev: Inbound) {
        match self.inbound.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.counters.inbound_full(),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// The connection dialed by the lower index wins a tie.
    fn preferred(&self, peer: ValidatorIndex, outgoing: bool) -> bool {
        if outgoing {
            self.me < peer
        } else {
            peer < self.me
        }
    }

    /// Register an authenticated connection; false if it lost the tiebreak (and was closed).
    fn install(&self, peer: ValidatorIndex, conn: &Connection, outgoing: bool) -> bool {
        let mut peers = lock(&self.peers);
        if self.closed.load(Ordering::SeqCst) {
            conn.close(CLOSE_SHUTDOWN, b"shutdown");
            return false;
        }
        let new = PeerConn {
            conn: conn.clone(),
            outgoing,
            since: Instant::now(),
        };
        match peers.get(&peer) {
            Some(old) if old.conn.close_reason().is_none() => {
                if self.preferred(peer, old.outgoing)
                    && !self.preferred(peer, outgoing)
                    && old.since.elapsed() < DUPLICATE_WINDOW
                {
                    conn.close(CLOSE_DUPLICATE, b"duplicate");
                    return false;
                }
                // The new one wins the tiebreak, or the old one predates any simultaneous dial
                // (the peer restarted before we noticed the old one die): the newer is live.
                if let Some(old) = peers.insert(peer, new) {
                    old.conn.close(CLOSE_DUPLICATE, b"duplicate");
                }
            }
            Some(_) => {
                // The old one is dead but its task has not unregistered it yet: swap silently,
                // the node loop sees an uninterrupted connection.
                peers.insert(peer, new);
            }
            None => {
                peers.insert(peer, new);
                // A peer behind a cut is announced when the cut heals ([`cut_loop`]).
                let cut = self
                    .shaper
                    .as_ref()
                    .is_some_and(|sh| !sh.reaches(usize::from(peer)));
                if !self.is_observer(peer) && !cut {
                    let _ = self.events.send(Inbound::PeerConnected(peer));
                }
            }
        }
        self.counters.connection();
        true
    }

    fn remove(&self, peer: ValidatorIndex, conn: &Connection) {
        let mut peers = lock(&self.peers);
        if peers
            .get(&peer)
            .is_some_and(|p| p.conn.stable_id() == conn.stable_id())
        {
            peers.remove(&peer);
            if self.is_observer(peer) {
                // Its id is free again (it gets one anew if it comes back).
                lock(&self.observers).retain(|_, id| *id != peer);
            } else if !self.closed.load(Ordering::SeqCst) {
                let _ = self.events.send(Inbound::PeerDisconnected(peer));
            }
        }
    }

    fn peer_of(&self, conn: &Connection) -> Option<ValidatorIndex> {
        self.keys.index_of_cert(&peer_cert(conn)?)
    }

    /// The id of an incoming connection whose key is outside the set, if observers are taken.
    fn observer_of(&self, conn: &Connection) -> Option<ValidatorIndex> {
        if self.max_observers == 0 {
            return None;
        }
        let key = cert_ed25519_key(&peer_cert(conn)?)?;
        if self.keys.contains(&key) {
            return None;
        }
        self.observer_id(key)
    }
}

fn peer_cert(conn: &Connection) -> Option<CertificateDer<'static>> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs.first().cloned()
}

/// Authenticate, register and serve one connection until it closes. `expected` is the index
/// that was dialed (outgoing) or `None` (incoming).
async fn serve(inner: Arc<Inner>, conn: Connection, expected: Option<ValidatorIndex>) {
    let peer = match (inner.peer_of(&conn), expected) {
        (Some(p), _) if p != inner.me && expected.is_none_or(|e| e == p) => p,
        // An incoming key outside the set, accepted by the verifier only because observers
        // are: a read-only peer, if a slot is free.
        (None, None) => match inner.observer_of(&conn) {
            Some(id) => id,
            None => {
                if inner.max_observers > 0 {
                    inner.counters.observer_refused();
                } else {
                    inner.counters.unauthenticated();
                }
                conn.close(CLOSE_UNAUTHENTICATED, b"not accepted");
                return;
            }
        },
        // The verifier already accepted the key, so this is a validator dialed at the wrong
        // address, or someone holding our own key: refuse and count.
        _ => {
            inner.counters.unauthenticated();
            conn.close(CLOSE_UNAUTHENTICATED, b"unexpected identity");
            return;
        }
    };
    let observer = inner.is_observer(peer);
    if expected.is_none() && !observer {
        lock(&inner.addrs).insert(peer, conn.remote_address());
    }
    if !inner.install(peer, &conn, expected.is_some()) {
        if observer {
            lock(&inner.observers).retain(|_, id| *id != peer);
        }
        return;
    }
    tracing::debug!(
        me = inner.me,
        peer,
        outgoing = expected.is_some(),
        "peer connected"
    );
    loop {
        tokio::select! {
            uni = conn.accept_uni() => match uni {
                Ok(recv) => { tokio::spawn(handle_uni(inner.clone(), peer, recv)); }
                Err(_) => break,
            },
            bi = conn.accept_bi() => match bi {
                Ok((send, recv)) => { tokio::spawn(handle_bi(inner.clone(), peer, send, recv)); }
                Err(_) => break,
            },
        }
    }
    inner.remove(peer, &conn);
    tracing::debug!(me = inner.me, peer, reason = ?conn.close_reason(), "peer connection closed");
}

async fn handle_uni(inner: Arc<Inner>, from: ValidatorIndex, mut recv: quinn::RecvStream) {
    match frame::read_frame(&mut recv, inner.max_message, STREAM_READ_TIMEOUT).await {
        Ok((kind, _)) if inner.is_observer(from) && kind != Kind::Sync => {
            tracing::debug!(from, ?kind, "observer message refused");
            inner.counters.observer_refused();
        }
        Ok((kind, bytes)) if !inner.limiter.admit(from, bytes.len()) => {
            tracing::debug!(from, ?kind, "inbound message over the peer's rate limit");
            inner.counters.rate_limited();
        }
        Ok((kind, bytes)) => {
            inner.counters.inbound(kind, HEADER_LEN + bytes.len());
            inner.deliver(Inbound::Message { from, kind, bytes });
        }
        Err(e) => {
            tracing::debug!(from, error = ?e, "inbound frame dropped");
            inner.count_frame_error(&e);
        }
    }
}

async fn handle_bi(
    inner: Arc<Inner>,
    from: ValidatorIndex,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let (kind, bytes) =
        match frame::read_frame(&mut recv, inner.max_message, STREAM_READ_TIMEOUT).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(from, error = ?e, "inbound request dropped");
                inner.count_frame_error(&e);
                let _ = send.reset(frame::RESET_NO_REPLY);
                return;
            }
        };
    if inner.is_observer(from) && kind != Kind::Sync {
        tracing::debug!(from, ?kind, "observer request refused");
        inner.counters.observer_refused();
        let _ = send.reset(frame::RESET_NO_REPLY);
        return;
    }
    if !inner.limiter.admit(from, bytes.len()) {
        tracing::debug!(from, ?kind, "inbound request over the peer's rate limit");
        inner.counters.rate_limited();
        let _ = send.reset(frame::RESET_NO_REPLY);
        return;
    }
    inner.counters.inbound(kind, HEADER_LEN + bytes.len());
    let (reply, answer) = oneshot::channel();
    inner.deliver(Inbound::Request {
        from,
        kind,
        bytes,
        reply,
    });
    // If the channel was full the sender is already dropped and this returns at once.
    match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
        Ok(Ok(resp)) if resp.len() <= inner.max_message => {
            let frame = frame::encode(kind, &resp);
            if send.write_all(&frame).await.is_ok() && send.finish().is_ok() {
                inner.counters.outbound(kind, frame.len());
            } else {
                inner.counters.send_failed();
            }
        }
        Ok(Ok(_)) => {
            inner.counters.send_failed();
            let _ = send.reset(frame::RESET_NO_REPLY);
        }
        _ => {
            let _ = send.reset(frame::RESET_NO_REPLY);
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, endpoint: Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            // A refused certificate fails here; the verifier has counted it.
            if let Ok(Ok(conn)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
                serve(inner, conn, None).await;
            }
        });
    }
}

/// Announces cuts as disconnections and heals as connections: the node loop reacts to a
/// partition the way it reacts to a lost link (and re-syncs when it heals).
async fn cut_loop(inner: Arc<Inner>, sh: Arc<Shaper>) {
    while let Some((wait, slot)) = sh.next_boundary() {
        tokio::time::sleep(wait).await;
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let peers = lock(&inner.peers);
        for (j, reachable) in sh.changes(slot.saturating_sub(1), slot) {
            let Ok(id) = ValidatorIndex::try_from(j) else {
                continue;
            };
            if peers
                .get(&id)
                .is_some_and(|p| p.conn.close_reason().is_none())
            {
                let _ = inner.events.send(if reachable {
                    Inbound::PeerConnected(id)
                } else {
                    Inbound::PeerDisconnected(id)
                });
            }
        }
    }
}

async fn dial_loop(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(DIAL_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let targets: Vec<(ValidatorIndex, SocketAddr)> =
            lock(&inner.addrs).iter().map(|(i, a)| (*i, *a)).collect();
        let connected: HashSet<ValidatorIndex> = lock(&inner.peers)
            .iter()
            .filter(|(_, p)| p.conn.close_reason().is_none())
            .map(|(i, _)| *i)
            .collect();
        let now = Instant::now();
        for (peer, addr) in targets {
            let first_wait = if inner.me < peer {
                Duration::ZERO
            } else {
                DIAL_GRACE
            };
            {
                let mut dial = lock(&inner.dial);
                let st = dial.entry(peer).or_insert_with(|| DialState {
                    next: now + first_wait,
                    backoff: BACKOFF_MIN,
                    dialing: false,
                    was_connected: false,
                });
                if connected.contains(&peer) {
                    st.was_connected = true;
                    st.backoff = BACKOFF_MIN;
                    continue;
                }
                if st.was_connected {
                    // Just dropped: give the peer (the tiebreak winner if lower) first go.
                    st.was_connected = false;
                    st.next = now + first_wait.max(BACKOFF_MIN);
                }
                if st.dialing || now < st.next {
                    continue;
                }
                st.dialing = true;
            }
            tokio::spawn(dial_one(inner.clone(), peer, addr));
        }
    }
}

async fn dial_one(inner: Arc<Inner>, peer: ValidatorIndex, addr: SocketAddr) {
    let result = match inner.endpoint() {
        None => None,
        Some(ep) => match ep.connect(addr, SERVER_NAME) {
            Ok(connecting) => tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        },
    };
    {
        let mut dial = lock(&inner.dial);
        if let Some(st) = dial.get_mut(&peer) {
            st.dialing = false;
            if result.is_some() {
                st.backoff = BACKOFF_MIN;
            } else {
                // Spread retries a little by index so a restarted node is not hit in lockstep.
                let spread = Duration::from_millis(u64::from(inner.me % 16) * 7);
                st.next = Instant::now() + st.backoff + spread;
                st.backoff = (st.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    if let Some(conn) = result {
        serve(inner, conn, Some(peer)).await;
    }
}
