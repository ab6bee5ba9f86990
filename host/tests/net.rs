//! The network layer over real QUIC on 127.0.0.1 (ephemeral ports). Every test is bounded by a
//! tokio timeout and polls for conditions rather than sleeping for fixed times, so a loaded
//! 2-core machine makes it slower, not flaky.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use diverge::net::{
    encode_frame, public_key, raw_endpoint, Inbound, Kind, NetConfig, NetError, Network, RateLimit,
    ValidatorIndex, TLS_SERVER_NAME,
};
use tokio::sync::mpsc;

const MAX: usize = 64 * 1024;
const TEST_BUDGET: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(30);

fn seed(i: u16) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[0] = 0xd1;
    s[1..3].copy_from_slice(&i.to_le_bytes());
    s
}

fn validators(n: u16) -> Vec<[u8; 32]> {
    (0..n).map(|i| public_key(&seed(i))).collect()
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn config(
    me: u16,
    n: u16,
    listen: SocketAddr,
    peers: Vec<(ValidatorIndex, SocketAddr)>,
) -> NetConfig {
    NetConfig {
        listen,
        me,
        secret_seed: seed(me),
        validators: validators(n),
        peers,
        max_message: MAX,
        max_observers: 0,
        rate_limit: RateLimit::default(),
        shaping: None,
    }
}

/// No budget worth the name: for tests of what happens behind the limiter.
fn unlimited() -> RateLimit {
    RateLimit {
        messages_per_s: 1e12,
        burst_messages: 1e12,
        bytes_per_s: 1e15,
        burst_bytes: 1e15,
    }
}

/// What a node observed, with requests answered automatically (`re:` + request bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Message(ValidatorIndex, Kind, Vec<u8>),
    Request(ValidatorIndex, Kind, Vec<u8>),
    Connected(ValidatorIndex),
    Disconnected(ValidatorIndex),
}

struct Node {
    net: Network,
    seen: mpsc::UnboundedReceiver<Seen>,
}

async fn start(cfg: NetConfig) -> Node {
    let (net, rx) = Network::start(cfg).await.expect("network starts");
    wrap(net, rx)
}

fn wrap(net: Network, mut rx: mpsc::Receiver<Inbound>) -> Node {
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let s = match ev {
                Inbound::Message { from, kind, bytes } => Seen::Message(from, kind, bytes),
                Inbound::Request {
                    from,
                    kind,
                    bytes,
                    reply,
                } => {
                    let mut resp = b"re:".to_vec();
                    resp.extend_from_slice(&bytes);
                    let _ = reply.send(resp);
                    Seen::Request(from, kind, bytes)
                }
                Inbound::PeerConnected(p) => Seen::Connected(p),
                Inbound::PeerDisconnected(p) => Seen::Disconnected(p),
            };
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    Node { net, seen }
}

/// Start on a fixed address, retrying while the old socket of a restarted node lingers.
async fn start_retrying(cfg: NetConfig) -> Node {
    let deadline = Instant::now() + WAIT;
    loop {
        match Network::start(cfg.clone()).await {
            Ok((net, rx)) => return wrap(net, rx),
            Err(NetError::Bind { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("restart failed: {e}"),
        }
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait for an observation matching `pred`, skipping others.
async fn expect_seen(node: &mut Node, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
    let fut = async {
        loop {
            match node.seen.recv().await {
                Some(s) if pred(&s) => return s,
                Some(_) => continue,
                None => panic!("inbound channel closed while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_BUDGET, f)
        .await
        .expect("test exceeded its time budget");
}

async fn all_connected(nodes: &[&Network], n: usize) {
    for (i, net) in nodes.iter().enumerate() {
        wait_until(&format!("node {i} to see {} peers", n - 1), || {
            net.connected().len() == n - 1
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_broadcast_send_request() {
    bounded(async {
        let t0 = Instant::now();
        let mut n0 = start(config(0, 3, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();
        // Node 1 knows only node 0; node 2 knows both; node 0 learns both from their dials.
        let mut n1 = start(config(1, 3, localhost(), vec![(0, a0)])).await;
        let a1 = n1.net.local_addr();
        let mut n2 = start(config(2, 3, localhost(), vec![(0, a0), (1, a1)])).await;
        all_connected(&[&n0.net, &n1.net, &n2.net], 3).await;
        println!("3 nodes fully connected after {:?}", t0.elapsed());

        for node in [&mut n0, &mut n1, &mut n2] {
            let me = node.net.me();
            let mut want: Vec<u16> = (0..3).filter(|p| *p != me).collect();
            while !want.is_empty() {
                if let Seen::Connected(p) =
                    expect_seen(node, "PeerConnected", |s| matches!(s, Seen::Connected(_))).await
                {
                    want.retain(|w| *w != p);
                }
            }
        }

        n0.net.broadcast(Kind::Block, b"block-1".to_vec());
        for node in [&mut n1, &mut n2] {
            let s = expect_seen(node, "broadcast", |s| matches!(s, Seen::Message(..))).await;
            assert_eq!(s, Seen::Message(0, Kind::Block, b"block-1".to_vec()));
        }

        n2.net.send(1, Kind::Consensus, b"vote".to_vec());
        let s = expect_seen(&mut n1, "send", |s| matches!(s, Seen::Message(..))).await;
        assert_eq!(s, Seen::Message(2, Kind::Consensus, b"vote".to_vec()));

        let resp = n1
            .net
            .request(2, Kind::Sync, b"head?".to_vec(), Duration::from_secs(10))
            .await
            .expect("request answered");
        assert_eq!(resp, b"re:head?");
        let s = expect_seen(&mut n2, "request", |s| matches!(s, Seen::Request(..))).await;
        assert_eq!(s, Seen::Request(1, Kind::Sync, b"head?".to_vec()));

        // Empty payloads and payloads at the bound are legal.
        n0.net.send(2, Kind::Shard, Vec::new());
        n0.net.send(2, Kind::Shard, vec![7u8; MAX]);
        let mut sizes = Vec::new();
        for _ in 0..2 {
            if let Seen::Message(0, Kind::Shard, b) = expect_seen(&mut n2, "shard", |s| {
                matches!(s, Seen::Message(0, Kind::Shard, _))
            })
            .await
            {
                sizes.push(b.len());
            }
        }
        sizes.sort_unstable();
        assert_eq!(sizes, vec![0, MAX]);

        // Too large to send: refused locally, counted, nothing on the wire.
        let before = n0.net.stats().dropped.send_failed;
        n0.net.send(2, Kind::Shard, vec![0u8; MAX + 1]);
        assert_eq!(n0.net.stats().dropped.send_failed, before + 1);
        assert!(matches!(
            n0.net
                .request(1, Kind::Sync, vec![0u8; MAX + 1], Duration::from_secs(1))
                .await,
            Err(NetError::TooLarge { .. })
        ));

        let s0 = n0.net.stats();
        assert_eq!(s0.kind(Kind::Block).messages_out, 2);
        assert_eq!(s0.kind(Kind::Block).bytes_out, 2 * (5 + 7));
        assert_eq!(s0.peers_connected, 2);
        let s1 = n1.net.stats();
        assert_eq!(s1.kind(Kind::Block).messages_in, 1);
        assert_eq!(s1.kind(Kind::Consensus).messages_in, 1);
        assert_eq!(s1.kind(Kind::Sync).messages_out, 1);
        assert_eq!(s1.kind(Kind::Sync).messages_in, 1);
        let json = serde_json::to_string(&s1).expect("stats serialise");
        assert!(json.contains("\"consensus\""), "{json}");
        assert_eq!(s1.dropped, Default::default());

        // Not connected: counted, and requests fail fast.
        assert!(matches!(
            n1.net
                .request(9, Kind::Sync, vec![], Duration::from_secs(1))
                .await,
            Err(NetError::NotConnected(9))
        ));

        // Loopback numbers (printed; `--nocapture` shows them).
        let rounds = 200u32;
        let t = Instant::now();
        for _ in 0..rounds {
            n1.net
                .request(2, Kind::Sync, b"ping".to_vec(), Duration::from_secs(10))
                .await
                .expect("ping");
        }
        println!(
            "request round trip (sequential, 4 B): {:?} mean over {rounds}",
            t.elapsed() / rounds
        );
        let count = 2000usize;
        let payload = vec![0xabu8; 16 * 1024];
        let t = Instant::now();
        for _ in 0..count {
            n0.net.send(1, Kind::Shard, payload.clone());
        }
        let mut got = 0;
        while got < count {
            expect_seen(&mut n1, "flood", |s| {
                matches!(s, Seen::Message(0, Kind::Shard, _))
            })
            .await;
            got += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "one-way 16 KiB messages: {:.0} msg/s, {:.1} MB/s",
            count as f64 / secs,
            (count * payload.len()) as f64 / secs / 1e6
        );
        assert_eq!(n1.net.stats().dropped, Default::default());

        for n in [&n0, &n1, &n2] {
            n.net.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_time() {
    bounded(async {
        let n0 = start(config(0, 2, localhost(), vec![])).await;
        let t = Instant::now();
        let n1 = start(config(1, 2, localhost(), vec![(0, n0.net.local_addr())])).await;
        // Node 1 is the higher index, so it dials after the grace period; time node 0 instead
        // by having it learn node 1 only now.
        wait_until("connected", || n1.net.connected() == vec![0]).await;
        println!(
            "start + dial + mutual-TLS handshake (with 800 ms grace): {:?}",
            t.elapsed()
        );
        let n2 = start(config(2, 3, localhost(), vec![])).await;
        let n0b = start(config(0, 3, localhost(), vec![(2, n2.net.local_addr())])).await;
        let t = Instant::now();
        wait_until("connected", || n0b.net.connected() == vec![2]).await;
        println!(
            "dial + mutual-TLS handshake (lower index dials): {:?}",
            t.elapsed()
        );
        for n in [&n0, &n1, &n2, &n0b] {
            n.net.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_cannot_connect() {
    bounded(async {
        let mut n0 = start(config(0, 3, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();
        // The intruder trusts the real validators, but its own key is not among node 0's.
        let mut vals = validators(3);
        let intruder_seed = [0x66u8; 32];
        vals.push(public_key(&intruder_seed));
        let intruder = start(NetConfig {
            listen: localhost(),
            me: 3,
            secret_seed: intruder_seed,
            validators: vals,
            peers: vec![(0, a0)],
            max_message: MAX,
            max_observers: 0,
            rate_limit: RateLimit::default(),
            shaping: None,
        })
        .await;
        wait_until("a refused handshake", || {
            n0.net.stats().dropped.unauthenticated >= 2
        })
        .await;
        assert!(n0.net.connected().is_empty());
        intruder.net.broadcast(Kind::Block, b"let me in".to_vec());
        intruder.net.send(0, Kind::Block, b"let me in".to_vec());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(n0.net.connected().is_empty());
        assert!(
            n0.seen.try_recv().is_err(),
            "nothing may reach the node loop from an unknown key"
        );
        let s = n0.net.stats();
        assert_eq!(s.connections_established, 0);
        assert_eq!(s.total().messages_in, 0);

        // A raw client with an unknown key is refused too.
        let ep = raw_endpoint(&[0x77u8; 32], &validators(3)).expect("raw endpoint");
        let before = n0.net.stats().dropped.unauthenticated;
        let result = async {
            let conn = ep.connect(a0, TLS_SERVER_NAME).ok()?.await.ok()?;
            // TLS 1.3: the client may believe it is connected before the server has checked
            // its certificate; any stream must then fail.
            let mut s = conn.open_uni().await.ok()?;
            s.write_all(&encode_frame(Kind::Block, b"x")).await.ok()?;
            s.finish().ok()?;
            tokio::time::timeout(Duration::from_secs(5), conn.closed())
                .await
                .ok()?;
            Some(())
        }
        .await;
        let _ = result;
        wait_until("raw intruder refused", || {
            n0.net.stats().dropped.unauthenticated > before
        })
        .await;
        assert!(n0.seen.try_recv().is_err());
        ep.close(0u32.into(), b"");

        // An outsider (index outside the set, key not in it) starts, dials and is refused.
        let before = n0.net.stats().dropped.unauthenticated;
        let outsider = start(NetConfig {
            listen: localhost(),
            me: u16::MAX,
            secret_seed: [0x55u8; 32],
            validators: validators(3),
            peers: vec![(0, a0)],
            max_message: MAX,
            max_observers: 0,
            rate_limit: RateLimit::default(),
            shaping: None,
        })
        .await;
        wait_until("outsider refused", || {
            n0.net.stats().dropped.unauthenticated > before
        })
        .await;
        assert!(n0.net.connected().is_empty());
        assert!(n0.seen.try_recv().is_err());
        // A seed that is not the key of the claimed index is a config error, not a silent failure.
        let wrong = Network::start(NetConfig {
            secret_seed: [0x55u8; 32],
            ..config(1, 3, localhost(), vec![])
        })
        .await;
        assert!(matches!(wrong, Err(NetError::Config(_))), "{wrong:?}");
        outsider.net.shutdown().await;
        intruder.net.shutdown().await;
        n0.net.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_dropped_and_counted() {
    bounded(async {
        let mut n0 = start(config(0, 3, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();
        let n1 = start(config(1, 3, localhost(), vec![(0, a0)])).await;
        all_connected(&[&n0.net, &n1.net], 2).await;

        // Validator 2's key, spoken through a raw QUIC client that ignores the framing rules.
        let ep = raw_endpoint(&seed(2), &validators(3)).expect("raw endpoint");
        let conn = ep
            .connect(a0, TLS_SERVER_NAME)
            .expect("connect")
            .await
            .expect("valid key is accepted");
        wait_until("attacker registered", || n0.net.connected() == vec![1, 2]).await;

        let mut oversized = vec![Kind::Block as u8];
        oversized.extend_from_slice(&u32::MAX.to_le_bytes());
        oversized.extend_from_slice(&[0u8; 1000]);
        let mut truncated = vec![Kind::Consensus as u8];
        truncated.extend_from_slice(&100u32.to_le_bytes());
        truncated.extend_from_slice(&[1u8; 10]);
        let mut trailing = encode_frame(Kind::Block, b"abcd");
        trailing.extend_from_slice(b"extra");
        let garbage: Vec<Vec<u8>> = vec![
            vec![99, 3, 0, 0, 0, 1, 2, 3], // unknown kind
            vec![0, 0, 0, 0, 0],           // kind 0 is not a kind
            oversized,
            truncated,
            vec![Kind::Block as u8, 2], // truncated header
            vec![],                     // empty stream
            trailing,
        ];
        for g in &garbage {
            let mut s = conn.open_uni().await.expect("open uni");
            // A stopped stream may fail mid-write; that is the point.
            let _ = s.write_all(g).await;
            let _ = s.finish();
        }
        // Garbage on a request stream: no reply, the stream is reset.
        let (mut send, mut recv) = conn.open_bi().await.expect("open bi");
        let _ = send.write_all(&[42, 1, 0, 0, 0, 0]).await;
        let _ = send.finish();
        let reply = tokio::time::timeout(WAIT, recv.read_to_end(1024))
            .await
            .expect("reply or reset in time");
        assert!(reply.is_err(), "garbage request must not be answered");

        // Valid traffic keeps flowing, from the misbehaving peer and from the honest one.
        let mut s = conn.open_uni().await.expect("open uni");
        s.write_all(&encode_frame(Kind::Shard, b"ok"))
            .await
            .expect("write");
        s.finish().expect("finish");
        expect_seen(&mut n0, "valid frame from raw peer", |s| {
            *s == Seen::Message(2, Kind::Shard, b"ok".to_vec())
        })
        .await;
        n1.net.send(0, Kind::Consensus, b"still here".to_vec());
        expect_seen(&mut n0, "honest message", |s| {
            *s == Seen::Message(1, Kind::Consensus, b"still here".to_vec())
        })
        .await;

        wait_until("all garbage counted", || {
            let d = n0.net.stats().dropped;
            d.unknown_kind >= 3 && d.oversized >= 1 && d.malformed >= 4
        })
        .await;
        let d = n0.net.stats().dropped;
        assert_eq!(
            (d.unknown_kind, d.oversized, d.malformed),
            (3, 1, 4),
            "{d:?}"
        );
        // Only the valid frames were delivered.
        let mut delivered = Vec::new();
        while let Ok(s) = n0.seen.try_recv() {
            if let Seen::Message(from, kind, _) = s {
                delivered.push((from, kind));
            }
        }
        assert!(delivered.is_empty(), "unexpected deliveries: {delivered:?}");
        assert_eq!(n0.net.connected(), vec![1, 2]);

        conn.close(0u32.into(), b"bye");
        ep.close(0u32.into(), b"");
        n1.net.shutdown().await;
        n0.net.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_is_reconnected() {
    bounded(async {
        let mut n0 = start(config(0, 3, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();
        let n1 = start(config(1, 3, localhost(), vec![(0, a0)])).await;
        let a1 = n1.net.local_addr();
        let mut n2 = start(config(2, 3, localhost(), vec![(0, a0), (1, a1)])).await;
        all_connected(&[&n0.net, &n1.net, &n2.net], 3).await;

        n1.net.shutdown().await;
        assert!(n1.net.connected().is_empty());
        for node in [&mut n0, &mut n2] {
            expect_seen(node, "PeerDisconnected(1)", |s| *s == Seen::Disconnected(1)).await;
            assert!(!node.net.connected().contains(&1));
        }

        // Same port, and no addresses: the others must redial it.
        let t = Instant::now();
        let mut n1 = start_retrying(config(1, 3, a1, vec![])).await;
        all_connected(&[&n0.net, &n1.net, &n2.net], 3).await;
        println!("restarted node reconnected to both after {:?}", t.elapsed());
        for node in [&mut n0, &mut n2] {
            expect_seen(node, "PeerConnected(1)", |s| *s == Seen::Connected(1)).await;
        }

        n1.net.send(0, Kind::Block, b"back".to_vec());
        expect_seen(&mut n0, "message from restarted node", |s| {
            *s == Seen::Message(1, Kind::Block, b"back".to_vec())
        })
        .await;
        n2.net.broadcast(Kind::Availability, b"avail".to_vec());
        expect_seen(&mut n1, "broadcast to restarted node", |s| {
            *s == Seen::Message(2, Kind::Availability, b"avail".to_vec())
        })
        .await;
        let resp = n0
            .net
            .request(1, Kind::Sync, b"x".to_vec(), Duration::from_secs(10))
            .await
            .expect("request to restarted node");
        assert_eq!(resp, b"re:x");
        for n in [&n0, &n1, &n2] {
            n.net.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_inbound_channel_drops_and_counts() {
    bounded(async {
        // Node 0's inbound receiver is held but not read: a stalled node loop.
        // Unlimited, so the one sender's burst reaches the channel (the limiter is tested below).
        let (net0, mut rx0) = Network::start(NetConfig {
            rate_limit: unlimited(),
            ..config(0, 2, localhost(), vec![])
        })
        .await
        .expect("start");
        let n1 = start(config(1, 2, localhost(), vec![(0, net0.local_addr())])).await;
        all_connected(&[&net0, &n1.net], 2).await;

        let extra = 500;
        let total = diverge::net::INBOUND_CAPACITY + extra;
        for i in 0..total {
            n1.net
                .send(0, Kind::Consensus, (i as u32).to_le_bytes().to_vec());
        }
        wait_until("every frame received and accounted", || {
            net0.stats().kind(Kind::Consensus).messages_in == total as u64
        })
        .await;
        let full = net0.stats().dropped.inbound_full;
        assert!(full >= extra as u64, "inbound_full = {full}");

        // A request that cannot be delivered is refused promptly, not left hanging.
        let r = n1
            .net
            .request(0, Kind::Sync, b"?".to_vec(), Duration::from_secs(10))
            .await;
        assert!(matches!(r, Err(NetError::Refused(0))), "{r:?}");

        let mut messages = 0u64;
        while let Ok(ev) = rx0.try_recv() {
            if matches!(ev, Inbound::Message { .. }) {
                messages += 1;
            }
        }
        assert_eq!(messages + full, total as u64);

        // Drained: traffic flows again, on the same connection.
        n1.net.send(0, Kind::Block, b"after".to_vec());
        let ev = tokio::time::timeout(WAIT, rx0.recv())
            .await
            .expect("in time")
            .expect("open");
        assert!(
            matches!(ev, Inbound::Message { from: 1, kind: Kind::Block, ref bytes } if bytes == b"after"),
            "{ev:?}"
        );
        assert_eq!(net0.connected(), vec![1]);
        n1.net.shutdown().await;
        net0.shutdown().await;
    })
    .await;
}

/// Node 1 runs on its own runtime, which is then dropped: no CONNECTION_CLOSE is sent, as
/// with a SIGKILL, so node 0 still believes the old connection alive until its idle timeout. The
/// restarted node's dial must replace it well before that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_node_reconnects_before_idle_timeout() {
    bounded(async {
        let mut n0 = start(config(0, 2, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();

        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let crashed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (net, _rx) = Network::start(config(1, 2, localhost(), vec![(0, a0)]))
                    .await
                    .expect("start");
                let _ = addr_tx.send(net.local_addr());
                let _ = kill_rx.await;
            });
            // Dropping the runtime drops every task mid-flight: the crash.
            drop(rt);
        });
        let a1 = addr_rx.await.expect("crashing node started");
        wait_until("connected", || n0.net.connected() == vec![1]).await;
        expect_seen(&mut n0, "PeerConnected(1)", |s| *s == Seen::Connected(1)).await;
        // Age the connection past the simultaneous-dial window.
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let established = n0.net.stats().connections_established;
        let _ = kill_tx.send(());
        tokio::task::spawn_blocking(move || crashed.join())
            .await
            .expect("join")
            .expect("crashed thread");
        let t = Instant::now();

        let mut n1 = start_retrying(config(1, 2, a1, vec![(0, a0)])).await;
        wait_until("replacement connection", || {
            n0.net.stats().connections_established > established
        })
        .await;
        println!(
            "crashed node reconnected after {:?} (node 0 still saw the old connection: {})",
            t.elapsed(),
            n0.net.connected() == vec![1]
        );
        n1.net.send(0, Kind::Block, b"reborn".to_vec());
        expect_seen(&mut n0, "message from the restarted node", |s| {
            *s == Seen::Message(1, Kind::Block, b"reborn".to_vec())
        })
        .await;
        n0.net.send(1, Kind::Block, b"welcome".to_vec());
        expect_seen(&mut n1, "message to the restarted node", |s| {
            *s == Seen::Message(0, Kind::Block, b"welcome".to_vec())
        })
        .await;
        n1.net.shutdown().await;
        n0.net.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_may_only_sync_and_is_sent_only_sync_and_blocks() {
    bounded(async {
        // Validators 0 and 1; 0 takes one observer.
        let mut n0 = start(NetConfig {
            max_observers: 1,
            ..config(0, 2, localhost(), vec![])
        })
        .await;
        let a0 = n0.net.local_addr();
        let n1 = start(config(1, 2, localhost(), vec![(0, a0)])).await;
        all_connected(&[&n0.net, &n1.net], 2).await;
        let outsider = |seed: [u8; 32]| NetConfig {
            listen: localhost(),
            me: u16::MAX,
            secret_seed: seed,
            validators: validators(2),
            peers: vec![(0, a0)],
            max_message: MAX,
            max_observers: 0,
            rate_limit: RateLimit::default(),
            shaping: None,
        };
        let mut obs = start(outsider([0x42; 32])).await;
        wait_until("observer admitted", || n0.net.observers() == vec![2]).await;
        // It is not a validator peer: not in `connected`, no connect event, not counted as one.
        assert_eq!(n0.net.connected(), vec![1]);
        assert!(n0.net.is_observer(2) && !n0.net.is_observer(1));
        assert_eq!(n0.net.stats().observers_connected, 1);
        assert_eq!(obs.net.connected(), vec![0]);

        // Observer -> validator: sync passes (from its observer id), anything else is dropped.
        obs.net
            .send(0, Kind::Block, b"a block from nobody".to_vec());
        obs.net
            .send(0, Kind::Consensus, b"a vote from nobody".to_vec());
        wait_until("observer traffic refused", || {
            n0.net.stats().dropped.observer_refused >= 2
        })
        .await;
        obs.net.send(0, Kind::Sync, b"get head".to_vec());
        let s = expect_seen(&mut n0, "sync from the observer", |s| {
            matches!(s, Seen::Message(_, Kind::Sync, _))
        })
        .await;
        assert_eq!(s, Seen::Message(2, Kind::Sync, b"get head".to_vec()));
        let resp = obs
            .net
            .request(0, Kind::Sync, b"q".to_vec(), WAIT)
            .await
            .expect("sync request answered");
        assert_eq!(resp, b"re:q");
        assert!(obs
            .net
            .request(0, Kind::Shard, b"q".to_vec(), WAIT)
            .await
            .is_err());

        // Validator -> observer: broadcasts are for validators; pushes and answers of sync
        // and block kind reach it, other kinds are refused at the source.
        n0.net.broadcast(Kind::Consensus, b"vote".to_vec());
        n0.net.send_observers(Kind::Consensus, b"vote".to_vec());
        n0.net.send(2, Kind::Shard, b"shard".to_vec());
        n0.net.send_observers(Kind::Sync, b"head".to_vec());
        n0.net.send(2, Kind::Block, b"block".to_vec());
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(expect_seen(&mut obs, "push", |s| matches!(s, Seen::Message(..))).await);
        }
        got.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(
            got,
            vec![
                Seen::Message(0, Kind::Block, b"block".to_vec()),
                Seen::Message(0, Kind::Sync, b"head".to_vec()),
            ]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(obs.seen.try_recv().is_err(), "nothing else reached it");

        // The one slot is taken: a second observer key is refused and counted.
        let before = n0.net.stats().dropped.observer_refused;
        let second = start(outsider([0x43; 32])).await;
        wait_until("second observer refused", || {
            n0.net.stats().dropped.observer_refused > before
        })
        .await;
        assert_eq!(n0.net.observers(), vec![2]);
        // Validator 1 takes no observers at all: an outsider there is unauthenticated.
        let before = n1.net.stats().dropped.unauthenticated;
        let third = start(NetConfig {
            peers: vec![(1, n1.net.local_addr())],
            ..outsider([0x44; 32])
        })
        .await;
        wait_until("outsider refused by a node without observers", || {
            n1.net.stats().dropped.unauthenticated > before
        })
        .await;
        assert!(n1.net.observers().is_empty());
        for n in [&obs.net, &second.net, &third.net, &n1.net, &n0.net] {
            n.shutdown().await;
        }
    })
    .await;
}

/// Delivery latency (ms) of `count` messages node 2 sends node 0, one every 10 ms, each carrying
/// its send time: the honest peer's view while `flood` runs alongside (or not).
async fn honest_latencies(n0: &mut Node, n2: &Network, t0: Instant, count: u32) -> Vec<f64> {
    let mut lat = Vec::new();
    let sender = async {
        for _ in 0..count {
            let at = t0.elapsed().as_micros() as u64;
            n2.send(0, Kind::Consensus, at.to_le_bytes().to_vec());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let receiver = async {
        while lat.len() < count as usize {
            match n0.seen.recv().await {
                Some(Seen::Message(2, Kind::Consensus, b)) if b.len() == 8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&b);
                    let sent = u64::from_le_bytes(a);
                    let now = t0.elapsed().as_micros() as u64;
                    lat.push(now.saturating_sub(sent) as f64 / 1000.0);
                }
                Some(_) => {}
                None => panic!("inbound closed"),
            }
        }
    };
    let ((), done) = tokio::join!(sender, tokio::time::timeout(WAIT, receiver));
    done.expect("honest messages arrive in time");
    lat.sort_by(f64::total_cmp);
    lat
}

fn p99(lat: &[f64]) -> f64 {
    lat.get((lat.len() * 99 / 100).min(lat.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::INFINITY)
}

/// One validator floods another as fast as QUIC lets it while a third sends at an honest pace.
/// The flooder's excess is dropped at its own budget and counted; every honest message still
/// arrives, and its delivery latency stays within a bound of the no-flood baseline measured in
/// the same test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_held_to_its_rate_limit_and_the_others_get_through() {
    bounded(async {
        let limit = RateLimit {
            messages_per_s: 500.0,
            burst_messages: 200.0,
            ..RateLimit::default()
        };
        let mut n0 = start(NetConfig {
            rate_limit: limit,
            ..config(0, 3, localhost(), vec![])
        })
        .await;
        let a0 = n0.net.local_addr();
        let n1 = start(config(1, 3, localhost(), vec![(0, a0)])).await;
        let n2 = start(config(2, 3, localhost(), vec![(0, a0)])).await;
        wait_until("node 0 sees both", || n0.net.connected().len() == 2).await;
        let t0 = Instant::now();

        let baseline = honest_latencies(&mut n0, &n2.net, t0, 100).await;

        let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = flooding.clone();
        let flooder = n1.net.clone();
        let flood = tokio::spawn(async move {
            let mut sent = 0u64;
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..200 {
                    flooder.send(0, Kind::Consensus, vec![0xAB; 100]);
                }
                sent += 200;
                tokio::task::yield_now().await;
            }
            sent
        });
        let flood_start = Instant::now();
        let under = honest_latencies(&mut n0, &n2.net, t0, 100).await;
        flooding.store(false, std::sync::atomic::Ordering::Relaxed);
        let sent = flood.await.expect("flood task");
        let flood_secs = flood_start.elapsed().as_secs_f64();

        // Every flood frame that reached node 0 was either admitted or counted.
        let s = n0.net.stats();
        let from_flooder_admitted = s.kind(Kind::Consensus).messages_in - 200;
        eprintln!(
            "flood: {sent} sent in {flood_secs:.2} s; node 0 admitted {from_flooder_admitted}, \
             rate-limited {}, inbound_full {}; honest p50/p99 ms: baseline {:.2}/{:.2}, \
             under flood {:.2}/{:.2}",
            s.dropped.rate_limited,
            s.dropped.inbound_full,
            baseline[baseline.len() / 2],
            p99(&baseline),
            under[under.len() / 2],
            p99(&under),
        );
        assert_eq!(under.len(), 100, "an honest message was lost");
        assert!(s.dropped.rate_limited > 0, "the flood was never limited");
        assert_eq!(s.dropped.inbound_full, 0, "the shared channel overflowed");
        // The budget: the burst plus the sustained rate over the flood (and slack for frames
        // read just before and after the timing window).
        let budget = 200.0 + 500.0 * (flood_secs + 1.0);
        assert!(
            (from_flooder_admitted as f64) <= budget,
            "admitted {from_flooder_admitted} from the flooder, budget {budget:.0}"
        );
        // The bound on the honest peer: within 250 ms of its baseline p99 (loopback, 2 cores
        // shared with the flooder's own sending).
        assert!(
            p99(&under) <= p99(&baseline) + 250.0,
            "honest p99 {:.1} ms under flood vs {:.1} ms without",
            p99(&under),
            p99(&baseline)
        );
        for n in [&n2.net, &n1.net, &n0.net] {
            n.shutdown().await;
        }
    })
    .await;
}

/// The process backend's link shaping: a cross-region message waits its modelled one-way
/// latency, a partition window drops messages and requests (counted) and reports the far side
/// disconnected, and the heal reports it connected again and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shaped_links_delay_then_cut_then_heal() {
    use diverge::net::shape::Cut;
    use diverge::net::{ShapeSpec, Shaper};
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};

    bounded(async {
        let slot_ms = 1000;
        let genesis_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let (cut_from, cut_to) = (6, 8);
        let spec = ShapeSpec {
            region_of: vec![0, 0, 1],
            one_way_us: vec![vec![1_000, 150_000], vec![150_000, 1_000]],
            jitter_us: 0.0,
            loss: 0.0,
            bytes_per_us: 0.0,
            cuts: vec![Cut {
                from_slot: cut_from,
                to_slot: cut_to,
                groups: vec![0, 0, 1],
            }],
            seed: 3,
        };
        let shaped = |me: u16, listen, peers| {
            let mut c = config(me, 3, listen, peers);
            c.shaping = Some(Arc::new(
                Shaper::new(spec.clone(), usize::from(me), genesis_ms, slot_ms).expect("spec"),
            ));
            c
        };
        let mut n0 = start(shaped(0, localhost(), vec![])).await;
        let a0 = n0.net.local_addr();
        let mut n1 = start(shaped(1, localhost(), vec![(0, a0)])).await;
        let mut n2 = start(shaped(
            2,
            localhost(),
            vec![(0, a0), (1, n1.net.local_addr())],
        ))
        .await;
        all_connected(&[&n0.net, &n1.net, &n2.net], 3).await;
        let sh = Shaper::new(spec.clone(), 0, genesis_ms, slot_ms).expect("spec");
        assert!(
            sh.slot_now() < cut_from,
            "setup took past the cut's start (slot {}): the test needs a faster machine",
            sh.slot_now()
        );

        // Across regions: never faster than the modelled 150 ms one way.
        let sent = Instant::now();
        n0.net.send(2, Kind::Consensus, b"far".to_vec());
        expect_seen(&mut n2, "the shaped message", |s| {
            *s == Seen::Message(0, Kind::Consensus, b"far".to_vec())
        })
        .await;
        let took = sent.elapsed();
        assert!(took >= Duration::from_millis(150), "arrived after {took:?}");
        let resp = n2
            .net
            .request(0, Kind::Sync, b"head?".to_vec(), Duration::from_secs(10))
            .await
            .expect("answered before the cut");
        assert_eq!(resp, b"re:head?");

        // The cut: node 2 alone on its side.
        expect_seen(&mut n0, "node 2 cut off", |s| *s == Seen::Disconnected(2)).await;
        expect_seen(&mut n2, "node 1 cut off", |s| *s == Seen::Disconnected(1)).await;
        assert!(sh.slot_now() >= cut_from);
        let before = n0.net.stats().dropped.partitioned;
        n0.net.send(2, Kind::Consensus, b"lost".to_vec());
        n0.net.broadcast(Kind::Block, b"near".to_vec());
        expect_seen(&mut n1, "a message within the side", |s| {
            *s == Seen::Message(0, Kind::Block, b"near".to_vec())
        })
        .await;
        assert_eq!(n0.net.stats().dropped.partitioned, before + 2, "to 2 twice");
        assert!(matches!(
            n1.net
                .request(2, Kind::Sync, b"x".to_vec(), Duration::from_secs(5))
                .await,
            Err(NetError::Partitioned(2))
        ));

        // The heal: reported as a reconnection, and messages flow again.
        expect_seen(&mut n0, "node 2 back", |s| *s == Seen::Connected(2)).await;
        assert!(sh.slot_now() >= cut_to);
        n0.net.send(2, Kind::Consensus, b"again".to_vec());
        let s = expect_seen(&mut n2, "after the heal", |s| {
            matches!(s, Seen::Message(0, ..))
        })
        .await;
        // What was sent during the cut is gone, as in the simulator; the first through is new.
        assert_eq!(s, Seen::Message(0, Kind::Consensus, b"again".to_vec()));
    })
    .await;
}
