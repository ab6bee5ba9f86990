//! Whole chains of `diverge` processes over real QUIC on 127.0.0.1: continuous finality, a node
//! killed with SIGKILL and restarted, a peer that sends garbage, and (ignored: minutes)
//! validation by proof.
//!
//! Slots are 1 s and GRANDPA's T is 200 ms so a run of 20+ blocks takes about half a minute.
//! The tests take a lock so that only one chain runs at a time on a small machine. They live in
//! `realtime`: `scripts/test` runs that module's tests beside the CPU-bound rest of the suite,
//! whose wall time they would otherwise add to while their processes mostly wait for slots.

mod realtime {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Mutex, MutexGuard};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use diverge::chainspec::ChainSpec;
    use diverge::net::{Kind, NetConfig, Network};
    use diverge_plugins::ChainParams;

    static ONE_CHAIN_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// Held for a test's whole chain; a test that panicked still releases it to the next.
    fn one_chain_at_a_time() -> MutexGuard<'static, ()> {
        ONE_CHAIN_AT_A_TIME
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    const FAST: [&str; 4] = [
        "--set",
        "chain.slot_ms=1000",
        "--set",
        "consensus.params.gossip_ms=200",
    ];

    fn exe() -> &'static str {
        env!("CARGO_BIN_EXE_diverge")
    }

    fn config() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/polkadot.toml")
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
    }

    fn free_ports(n: usize) -> Vec<u16> {
        let socks: Vec<_> = (0..n)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"))
            .collect();
        socks
            .iter()
            .map(|s| s.local_addr().expect("addr").port())
            .collect()
    }

    struct Chain {
        dir: tempfile::TempDir,
        spec: PathBuf,
        ports: Vec<u16>,
        genesis: u64,
    }

    impl Chain {
        fn new(nodes: u16, start_in_ms: u64) -> Chain {
            let dir = tempfile::tempdir().expect("tempdir");
            let ports = free_ports(usize::from(nodes));
            let chain = ChainParams {
                validators: nodes,
                slot_ms: 1000,
                preset: "custom".into(),
                erasure_k: ChainParams::default_erasure_k(nodes),
                ..ChainParams::tiny()
            };
            let genesis = now_ms() + start_in_ms;
            let mut spec = ChainSpec::dev("test", chain, genesis);
            for (v, p) in spec.validators.iter_mut().zip(&ports) {
                v.address = Some(format!("127.0.0.1:{p}"));
            }
            let path = dir.path().join("spec.json");
            spec.save(&path).expect("spec");
            Chain {
                dir,
                spec: path,
                ports,
                genesis,
            }
        }

        fn node_dir(&self, i: u16) -> PathBuf {
            self.dir.path().join(format!("node-{i}"))
        }

        fn start(&self, i: u16, exit_after: u32) -> Child {
            self.start_with(i, exit_after, &[])
        }

        fn start_with(&self, i: u16, exit_after: u32, extra: &[String]) -> Child {
            let fast: Vec<String> = FAST.iter().map(|s| s.to_string()).collect();
            self.start_config(i, exit_after, &config(), &fast, extra)
        }

        /// Node `i` of this chain with another config file and its own overrides.
        fn start_config(
            &self,
            i: u16,
            exit_after: u32,
            config: &Path,
            sets: &[String],
            extra: &[String],
        ) -> Child {
            let dir = self.node_dir(i);
            std::fs::create_dir_all(&dir).expect("dir");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("node.log"))
                .expect("log");
            Command::new(exe())
                .arg("run")
                .arg("--config")
                .arg(config)
                .args(sets)
                .arg("--chain")
                .arg(&self.spec)
                .args(["--validator-index", &i.to_string(), "--dev-key"])
                .arg("--base-path")
                .arg(&dir)
                .args([
                    "--listen",
                    &format!("127.0.0.1:{}", self.ports[usize::from(i)]),
                ])
                .args(["--exit-after-slot", &exit_after.to_string(), "--txs", "16"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn diverge run")
        }

        /// An observer (no validator index): data in `node_dir(id)`, listening on a free port,
        /// finding the validators through the spec's addresses.
        fn start_observer(&self, id: u16, exit_after: u32) -> Child {
            let dir = self.node_dir(id);
            std::fs::create_dir_all(&dir).expect("dir");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("node.log"))
                .expect("log");
            let port = free_ports(1)[0];
            Command::new(exe())
                .arg("run")
                .arg("--config")
                .arg(config())
                .args(FAST)
                .arg("--chain")
                .arg(&self.spec)
                .arg("--base-path")
                .arg(&dir)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--exit-after-slot", &exit_after.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn diverge run (observer)")
        }

        /// Waits until `slot` has started.
        fn wait_slot(&self, slot: u64) {
            let at = self.genesis + slot * 1000;
            let now = now_ms();
            if at > now {
                std::thread::sleep(Duration::from_millis(at - now));
            }
        }

        fn events(&self, i: u16) -> Vec<serde_json::Value> {
            std::fs::read_to_string(self.node_dir(i).join("events.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        }

        /// (slot, hash) of every block node `i` finalized.
        fn finalized(&self, i: u16) -> Vec<(u64, String)> {
            self.events(i)
                .iter()
                .filter(|e| e["event"] == "finalized")
                .map(|e| {
                    (
                        e["number"].as_u64().unwrap_or(0),
                        e["hash"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        }

        fn summary(&self, i: u16) -> serde_json::Value {
            let path = self.node_dir(i).join("summary.json");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }

        fn log(&self, i: u16) -> String {
            std::fs::read_to_string(self.node_dir(i).join("node.log")).unwrap_or_default()
        }
    }

    fn wait_all(children: Vec<Child>, limit: Duration, chain: &Chain) {
        let deadline = Instant::now() + limit;
        for (i, mut c) in children.into_iter().enumerate() {
            loop {
                match c.try_wait().expect("wait") {
                    Some(status) => {
                        assert!(
                            status.success(),
                            "node {i} failed:\n{}",
                            chain.log(i as u16)
                        );
                        break;
                    }
                    None if Instant::now() > deadline => {
                        let _ = c.kill();
                        panic!("node {i} did not stop:\n{}", chain.log(i as u16));
                    }
                    None => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
    }

    /// Checks every node finalized the same blocks at the same heights.
    fn assert_agree(chain: &Chain, nodes: &[u16]) {
        let mut by_number = std::collections::HashMap::new();
        for &i in nodes {
            for (n, h) in chain.finalized(i) {
                let prev = by_number.entry(n).or_insert_with(|| h.clone());
                assert_eq!(*prev, h, "node {i} finalized another block at height {n}");
            }
        }
    }

    /// One HTTP/1.1 request to 127.0.0.1:`port`; returns the body.
    fn http(port: u16, request: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or(out)
    }

    fn rpc(port: u16, method: &str, params: serde_json::Value) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                .to_string();
        let req = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
        let text = http(port, &req);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: {e}: {text}"))
    }

    #[test]
    fn four_nodes_finalize_twenty_blocks_over_quic() {
        let _one = one_chain_at_a_time();
        let chain = Chain::new(4, 4000);
        let ports = free_ports(2);
        let (rpc_port, metrics_port) = (ports[0], ports[1]);
        let node0 = [
            "--rpc".to_string(),
            format!("127.0.0.1:{rpc_port}"),
            "--metrics".to_string(),
            format!("127.0.0.1:{metrics_port}"),
        ];
        let mut children: Vec<Child> = vec![chain.start_with(0, 26, &node0)];
        children.extend((1..4).map(|i| chain.start(i, 26)));
        chain.wait_slot(16);
        // While it runs: JSON-RPC and Prometheus answer with live numbers.
        let fin = rpc(rpc_port, "chain_getFinalizedHead", serde_json::json!([]));
        let fin_hash = fin["result"].as_str().expect("finalized head").to_string();
        let header = rpc(rpc_port, "chain_getHeader", serde_json::json!([fin_hash]));
        let number = u64::from_str_radix(
            header["result"]["number"]
                .as_str()
                .expect("number")
                .trim_start_matches("0x"),
            16,
        )
        .expect("hex");
        assert!(
            number >= 5,
            "finalized height {number} at slot 16: {header}"
        );
        let by_number = rpc(rpc_port, "chain_getBlockHash", serde_json::json!([number]));
        assert_eq!(by_number["result"], fin_hash);
        let status = rpc(rpc_port, "diverge_status", serde_json::json!([]));
        assert_eq!(
            status["result"]["plugins"][0]["plugin"], "consensus-safrole",
            "{status}"
        );
        assert_eq!(status["result"]["peers"], 3, "{status}");
        let health = rpc(rpc_port, "system_health", serde_json::json!([]));
        assert_eq!(health["result"]["peers"], 3, "{health}");
        let metrics = http(
            metrics_port,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert!(
            metrics.contains("substrate_block_height{status=\"finalized\"}"),
            "{metrics}"
        );
        assert!(
            metrics.contains("diverge_finality_latency_seconds_bucket"),
            "{metrics}"
        );
        assert!(metrics.contains("diverge_plugin_call_seconds"), "{metrics}");
        wait_all(children, Duration::from_secs(90), &chain);
        assert_agree(&chain, &[0, 1, 2, 3]);
        for i in 0..4 {
            let fin = chain.finalized(i);
            assert!(
                fin.len() >= 20,
                "node {i} finalized {}:\n{}",
                fin.len(),
                chain.log(i)
            );
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(chain.node_dir(i).join("summary.json")).expect("summary"),
            )
            .expect("json");
            assert_eq!(summary["net"]["dropped"]["malformed"], 0);
        }
    }

    #[test]
    fn a_node_killed_with_sigkill_restarts_from_disk_and_catches_up() {
        let _one = one_chain_at_a_time();
        let chain = Chain::new(4, 4000);
        let mut children: Vec<Child> = (0..4).map(|i| chain.start(i, 30)).collect();
        chain.wait_slot(10);
        let mut victim = children.pop().expect("node 3");
        victim.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
        let _ = victim.wait();
        let before = chain.finalized(3);
        assert!(
            !before.is_empty(),
            "node 3 finalized nothing before the kill"
        );
        chain.wait_slot(14);
        children.push(chain.start(3, 30));
        wait_all(children, Duration::from_secs(90), &chain);
        let log = chain.log(3);
        assert!(log.contains("restored from disk"), "{log}");
        assert_agree(&chain, &[0, 1, 2, 3]);
        let after = chain.finalized(3);
        // Nothing finalized before the kill was lost or contradicted, and it kept finalizing.
        for b in &before {
            assert!(after.contains(b));
        }
        let top = after.iter().map(|f| f.0).max().unwrap_or(0);
        assert!(
            top >= 22,
            "node 3 reached finalized height {top} only:\n{log}"
        );
    }

    #[test]
    fn garbage_from_a_validator_key_is_dropped_and_counted_while_the_rest_finalize() {
        let _one = one_chain_at_a_time();
        let chain = Chain::new(4, 4000);
        // Nodes 0-2 are honest processes (3 of 4 is the supermajority); the test holds node 3's
        // key and speaks garbage with it.
        let children: Vec<Child> = (0..3).map(|i| chain.start(i, 20)).collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let keys: Vec<[u8; 32]> = (0..4)
                .map(|i| diverge_keys::public_keys(&diverge_keys::dev_seed(i)).ed25519)
                .collect();
            let (net, _inbound) = Network::start(NetConfig {
                listen: format!("127.0.0.1:{}", chain.ports[3])
                    .parse()
                    .expect("addr"),
                me: 3,
                secret_seed: diverge_keys::ed25519_seed(&diverge_keys::dev_seed(3)),
                validators: keys,
                peers: (0..3)
                    .map(|i| {
                        (
                            i,
                            format!("127.0.0.1:{}", chain.ports[usize::from(i)])
                                .parse()
                                .expect("addr"),
                        )
                    })
                    .collect(),
                max_message: 1 << 20,
                max_observers: 0,
                rate_limit: diverge::net::RateLimit::default(),
                shaping: None,
            })
            .await
            .expect("garbage peer network");
            let end = chain.genesis + 20 * 1000;
            let mut n = 0u64;
            while now_ms() < end {
                n += 1;
                let junk: Vec<u8> = (0..(n % 700) as usize)
                    .map(|i| (i as u64 * n) as u8)
                    .collect();
                for kind in [
                    Kind::Block,
                    Kind::Consensus,
                    Kind::Shard,
                    Kind::Sync,
                    Kind::Availability,
                ] {
                    net.broadcast(kind, junk.clone());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            net.shutdown().await;
        });
        wait_all(children, Duration::from_secs(60), &chain);
        assert_agree(&chain, &[0, 1, 2]);
        for i in 0..3 {
            let fin = chain.finalized(i);
            assert!(
                fin.len() >= 12,
                "node {i} finalized {}:\n{}",
                fin.len(),
                chain.log(i)
            );
            let rejected = chain
                .events(i)
                .iter()
                .filter(|e| e["event"] == "rejected")
                .count();
            assert!(rejected > 50, "node {i} counted {rejected} rejections");
        }
    }

    #[test]
    fn compare_writes_a_side_by_side_report_of_two_variants() {
        let _one = one_chain_at_a_time();
        let dir = tempfile::tempdir().expect("tempdir");
        let scenario = dir.path().join("s.toml");
        std::fs::write(
            &scenario,
            "name = \"t\"\nnodes = 4\nslots = 10\nslot_ms = 1000\ntxs = 8\n",
        )
        .expect("scenario");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = dir.path().join("report");
        let o = Command::new(exe())
            .current_dir(&root)
            .args([
                "compare",
                "configs/polkadot.toml",
                "configs/polkadot-lottery.toml",
            ])
            .arg("--scenario")
            .arg(&scenario)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .output()
            .expect("compare");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("| metric | polkadot | polkadot-lottery |"),
            "{stdout}"
        );
        let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
        assert!(md.contains("finality latency p50 ms"), "{md}");
        let csv = std::fs::read_to_string(out.join("finality.csv")).expect("csv");
        assert!(csv.lines().any(|l| l.starts_with("polkadot,")), "{csv}");
        let svg = std::fs::read_to_string(out.join("finality_cdf.svg")).expect("svg");
        assert_eq!(svg.matches("<polyline").count(), 2);
    }

    /// Validation by proof in the node: three processes on `configs/kusama-proof.toml` (SSF,
    /// ZODA, exec-proof; 90 s slots), one transaction per block. Every block is proven by its
    /// author and verified by the others without re-executing, and all of them finalize the
    /// same chain. About 5 minutes (each proof ~60 s on 2 cores), so ignored by default:
    /// `cargo test -p diverge --test node -- --ignored proof`.
    #[test]
    #[ignore = "three 60 s proofs in 90 s slots: ~5 minutes"]
    fn three_nodes_finalize_proven_blocks() {
        let _one = one_chain_at_a_time();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let o = Command::new(exe())
            .current_dir(&root)
            .args(["testnet", "--config", "configs/kusama-proof.toml"])
            .args(["--nodes", "3", "--slots", "3", "--txs", "1", "--quiet"])
            .arg("--base-path")
            .arg(dir.path())
            .output()
            .expect("testnet");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let events = |i: u16| -> Vec<serde_json::Value> {
            std::fs::read_to_string(dir.path().join(format!("node-{i}/events.jsonl")))
                .expect("events")
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        let of = |ev: &[serde_json::Value], kind: &str| -> Vec<serde_json::Value> {
            ev.iter().filter(|e| e["event"] == kind).cloned().collect()
        };
        let mut finals = Vec::new();
        for i in 0..3 {
            let ev = events(i);
            let proposed = of(&ev, "proposed");
            // Validation of a peer's block: a proof check, well under a second.
            for v in of(&ev, "validated") {
                assert_eq!(v["valid"], true, "node {i}: {v}");
                assert!(v["validate_us"].as_u64().unwrap_or(0) < 1_000_000, "{v}");
            }
            for p in &proposed {
                assert!(
                    p["execute_us"].as_u64().unwrap_or(0) > 1_000_000,
                    "proving: {p}"
                );
            }
            let fin: Vec<String> = of(&ev, "finalized")
                .iter()
                .map(|f| f["hash"].as_str().unwrap_or("").to_string())
                .collect();
            assert!(fin.len() >= 2, "node {i} finalized {fin:?}");
            finals.push(fin);
        }
        let shortest = finals.iter().map(Vec::len).min().unwrap_or(0);
        assert!(
            finals
                .iter()
                .all(|f| f[..shortest] == finals[0][..shortest]),
            "the nodes finalized different chains: {finals:?}"
        );
    }

    /// Runs `diverge run --dev ARGS` (always with `--exit-after-slot`, so it stops) from the
    /// repository root; kills it after `limit`. Returns (stdout, stderr).
    fn dev_run(args: &[&str], limit: Duration) -> (String, String) {
        assert!(
            args.contains(&"--exit-after-slot"),
            "a dev node without --exit-after-slot runs forever"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        let mut child = Command::new(exe())
            .current_dir(&root)
            .args(["--log-format", "json", "run", "--dev"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("spawn diverge run --dev");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "diverge run --dev {args:?} did not stop:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let (out, err) = (
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default(),
        );
        assert!(status.success(), "{args:?}: {status}\n{out}\n{err}");
        (out, err)
    }

    /// The `N` of `finalized N (height H)` in the line `diverge run` prints when it stops.
    fn finalized_in(stdout: &str) -> u64 {
        stdout
            .split_once("finalized ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no finalized count in {stdout:?}"))
    }

    #[test]
    fn dev_chains_of_one_validator_finalize_on_their_own() {
        let _one = one_chain_at_a_time();
        // The default config (polkadot.toml: Safrole + GRANDPA with one voter, da-rs1d at k = n = 1)
        // and the privacy-first one (SSF with t = 1, ZODA at V = 1), each in a temp base path.
        // A lone GRANDPA voter still waits out its round timers (prevote at 2T, precommit at 4T,
        // T = 1 s here), so it finalizes in batches at about 5 s and 9 s; SSF finalizes every slot.
        // The consensus telemetry reaches the process's log as `tracing` events of that name.
        for (config, least, event) in [
            ("configs/polkadot.toml", 4, "consensus.grandpa.precommit"),
            ("configs/kusama.toml", 8, "consensus.ssf.certificate"),
        ] {
            let (out, err) = dev_run(
                &["--config", config, "--exit-after-slot", "10"],
                Duration::from_secs(60),
            );
            let fin = finalized_in(&out);
            assert!(
                fin >= least,
                "{config}: finalized {fin} of 10 slots\n{out}\n{err}"
            );
            assert!(
                err.contains(&format!("\"target\":\"{event}\"")),
                "{config}: no {event} event in the log\n{err}"
            );
            // The temp base path is gone once the node stops.
            let base = err
                .split("\"base_path\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("no base_path logged:\n{err}"));
            assert!(base.contains("diverge-dev-"), "{base}");
            assert!(!Path::new(base).exists(), "{base} left behind");
        }
    }

    #[test]
    fn a_dev_chain_with_a_base_path_continues_after_a_restart() {
        let _one = one_chain_at_a_time();
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("dev");
        let base = base.to_str().expect("utf-8 path");
        let (out, _) = dev_run(
            &["--base-path", base, "--exit-after-slot", "5"],
            Duration::from_secs(60),
        );
        let first = finalized_in(&out);
        assert!(first >= 1, "{out}");
        let spec = std::fs::read_to_string(Path::new(base).join("spec.json")).expect("spec kept");
        // Same spec (genesis) again, so slot numbers go on from where the first run stopped.
        let (out, err) = dev_run(
            &["--base-path", base, "--exit-after-slot", "10"],
            Duration::from_secs(60),
        );
        assert_eq!(
            std::fs::read_to_string(Path::new(base).join("spec.json")).expect("spec"),
            spec
        );
        assert!(err.contains("restored from disk"), "{err}");
        let heights: Vec<u64> = std::fs::read_to_string(Path::new(base).join("events.jsonl"))
            .expect("events")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == "finalized")
            .filter_map(|v| v["number"].as_u64())
            .collect();
        let top = heights.iter().copied().max().unwrap_or(0);
        assert!(
            top > first,
            "height {top} after the restart, {first} before\n{out}"
        );
    }

    #[test]
    fn an_observer_started_late_follows_the_finalized_chain_read_only() {
        let _one = one_chain_at_a_time();
        const OBSERVER: u16 = 100;
        let chain = Chain::new(4, 4000);
        let metrics_port = free_ports(1)[0];
        let node0 = ["--metrics".to_string(), format!("127.0.0.1:{metrics_port}")];
        let mut children: Vec<Child> = vec![chain.start_with(0, 20, &node0)];
        children.extend((1..4).map(|i| chain.start(i, 20)));
        // It joins at slot 6 and must first fetch what was finalized before it came.
        chain.wait_slot(6);
        children.push(chain.start_observer(OBSERVER, 20));
        let observer_dir = chain.node_dir(OBSERVER);
        chain.wait_slot(14);
        let metrics = http(
            metrics_port,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert!(metrics.contains("diverge_observers 1"), "{metrics}");
        assert!(metrics.contains("diverge_peers 3"), "{metrics}");
        wait_all(children, Duration::from_secs(90), &chain);
        let seen = chain.finalized(OBSERVER);
        let validators = chain.finalized(0);
        assert!(
            seen.len() >= 10,
            "observer finalized {} (validator 0: {}):\n{}",
            seen.len(),
            validators.len(),
            chain.log(OBSERVER)
        );
        // Its finalized chain is the validators' (same block at every height) and reaches within
        // a few blocks of theirs.
        assert_agree(&chain, &[0, 1, 2, 3, OBSERVER]);
        let top = |f: &[(u64, String)]| f.iter().map(|(n, _)| *n).max().unwrap_or(0);
        assert!(
            top(&seen) + 3 >= top(&validators),
            "observer at {}, validators at {}",
            top(&seen),
            top(&validators)
        );
        let events = chain.events(OBSERVER);
        assert!(!events.iter().any(|e| e["event"] == "proposed"));
        // Its network key is its own, kept private, and not a validator's.
        let key = observer_dir.join("node.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key)
                .expect("node.key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The validators served it as an observer, not as a peer: their peer counts never
        // included it, and nothing but sync traffic from it was let through.
        for i in 0..4 {
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(chain.node_dir(i).join("summary.json")).expect("summary"),
            )
            .expect("json");
            assert!(
                summary["net"]["peers_connected"].as_u64() <= Some(3),
                "{summary}"
            );
            assert_eq!(
                summary["net"]["dropped"]["observer_refused"], 0,
                "{summary}"
            );
        }
        let own: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(observer_dir.join("summary.json")).expect("summary"),
        )
        .expect("json");
        for kind in ["consensus", "block", "shard", "availability"] {
            assert_eq!(
                own["net"]["per_kind"][kind]["bytes_out"], 0,
                "{kind}: {own}"
            );
        }
        assert!(
            own["net"]["per_kind"]["block"]["bytes_in"].as_u64() > Some(0),
            "{own}"
        );
    }

    /// Finality latency (ms) of the blocks of slots `from..to` that node `i` finalized.
    fn latencies(chain: &Chain, i: u16, from: u64, to: u64) -> Vec<f64> {
        let mut l: Vec<f64> = chain
            .events(i)
            .iter()
            .filter(|e| e["event"] == "finalized")
            .filter(|e| (from..to).contains(&e["slot"].as_u64().unwrap_or(0)))
            .map(|e| e["latency_us"].as_f64().unwrap_or(f64::NAN) / 1000.0)
            .collect();
        l.sort_by(f64::total_cmp);
        l
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::INFINITY;
        }
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }

    /// Issue 9's transport bound at the level that matters: one validator (its key is in the spec,
    /// so authentication admits it) floods the three others far above their per-peer rate limit
    /// (`diverge run --spam`, 5,000 garbage messages per 1 s slot to each) from slot 8 to 16,
    /// while also voting honestly. The others keep finalizing, and the blocks of the flooded slots
    /// finalize within a bound of those outside the flood, measured in the same run.
    #[test]
    fn a_flooding_validator_delays_the_others_finality_only_within_a_bound() {
        let _one = one_chain_at_a_time();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (config, sets) in [
            ("configs/polkadot.toml", FAST.to_vec()),
            ("configs/kusama.toml", vec!["--set", "chain.slot_ms=1000"]),
        ] {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            let chain = Chain::new(4, 4000);
            let children: Vec<Child> = (0..4)
                .map(|i| {
                    let spam = if i == 3 {
                        vec!["--spam".to_string(), "8:16:5000".to_string()]
                    } else {
                        Vec::new()
                    };
                    chain.start_config(i, 24, &root.join(config), &sets, &spam)
                })
                .collect();
            wait_all(children, Duration::from_secs(90), &chain);
            assert_agree(&chain, &[0, 1, 2, 3]);
            let flooder = chain.summary(3)["net"].clone();
            eprintln!(
                "{config} flooder: consensus messages out {}, send_failed {}",
                flooder["per_kind"]["consensus"]["messages_out"], flooder["dropped"]["send_failed"]
            );
            for i in 0..3 {
                // The baseline: blocks before the flood and after it (GRANDPA's first blocks wait
                // for its first rounds, so "before" alone would flatter the flood).
                let mut before = latencies(&chain, i, 2, 8);
                before.extend(latencies(&chain, i, 17, 22));
                before.sort_by(f64::total_cmp);
                let during = latencies(&chain, i, 8, 16);
                let net = chain.summary(i)["net"].clone();
                let limited = net["dropped"]["rate_limited"].as_u64().unwrap_or(0);
                eprintln!(
                    "{config} node {i}: unflooded p50/p90/max {:.0}/{:.0}/{:.0} ms ({} blocks), \
                 flooded {:.0}/{:.0}/{:.0} ms ({} blocks), rate_limited {limited}",
                    quantile(&before, 0.5),
                    quantile(&before, 0.9),
                    quantile(&before, 1.0),
                    before.len(),
                    quantile(&during, 0.5),
                    quantile(&during, 0.9),
                    quantile(&during, 1.0),
                    during.len(),
                );
                assert!(
                    limited > 1000,
                    "{config} node {i}: the flood never hit the limit: {net}"
                );
                assert!(
                    during.len() >= 6,
                    "{config} node {i} finalized {} of the 8 flooded slots' blocks:\n{}",
                    during.len(),
                    chain.log(i)
                );
                // Measured (2-core machine, other builds running): p90 1.15 s flooded vs 1.2-3.8 s
                // unflooded for GRANDPA, 112-114 ms vs 99-105 ms for SSF; each honest node dropped
                // ~30,000 of the 40,000 junk messages at the limit. The bound leaves room for a
                // loaded CI machine while still failing if the flood reached the node loops.
                let bound = quantile(&before, 0.9) * 2.0 + 500.0;
                assert!(
                    quantile(&during, 0.9) <= bound,
                    "{config} node {i}: p90 finality {:.0} ms under the flood, bound {bound:.0}",
                    quantile(&during, 0.9)
                );
            }
        }
    }
}
