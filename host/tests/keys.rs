//! Validator key files as a user handles them: created 0600, refused when group or others can
//! read them, and the secret seed never printed or logged: a one-validator chain runs from a
//! generated key at debug log level, and every byte it wrote (stdout, stderr, event log,
//! summary, database) is searched for the seed.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn diverge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diverge"))
        .current_dir(repo())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run diverge")
}

fn seed_of(key: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(key).expect("key")).expect("json");
    v["seed"].as_str().expect("seed").to_string()
}

/// Every file under `dir` (recursively), except `skip`.
fn files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, skip, out);
        } else if p != skip {
            out.push(p);
        }
    }
}

/// The seed in any form it could leak: hex either case, or the raw 32 bytes.
fn leaks(haystack: &[u8], seed_hex: &str) -> bool {
    let raw = hex::decode(seed_hex).expect("hex");
    let text = String::from_utf8_lossy(haystack).to_lowercase();
    text.contains(seed_hex) || haystack.windows(raw.len()).any(|w| w == raw.as_slice())
}

#[test]
fn key_files_are_private_and_the_seed_never_appears_in_output_or_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("v0.key");
    let key_s = key.to_str().expect("utf8");
    let generated = diverge(&["key", "generate", "--out", key_s]);
    assert!(generated.status.success(), "{generated:?}");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let seed = seed_of(&key);
    assert_eq!(seed.len(), 64);
    let mut outputs: Vec<(String, Vec<u8>)> = vec![
        ("key generate stdout".into(), generated.stdout),
        ("key generate stderr".into(), generated.stderr),
    ];

    // A one-validator chain of that key, starting in 2 s.
    let spec = dir.path().join("spec.json");
    let genesis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 2000;
    let built = diverge(&[
        "chain-spec",
        "build",
        "--config",
        "configs/polkadot.toml",
        "--set",
        "chain.slot_ms=1000",
        "--key",
        key_s,
        "--genesis-unix-ms",
        &genesis.to_string(),
        "--out",
        spec.to_str().expect("utf8"),
    ]);
    assert!(built.status.success(), "{built:?}");
    outputs.push(("chain-spec build stdout".into(), built.stdout));
    outputs.push(("chain-spec build stderr".into(), built.stderr));

    // Readable by group or others: refused with an error naming the file and the fix.
    let loose = dir.path().join("loose.key");
    std::fs::copy(&key, &loose).expect("copy");
    for mode in [0o640, 0o604, 0o644] {
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let refused = diverge(&[
            "run",
            "--config",
            "configs/polkadot.toml",
            "--chain",
            spec.to_str().expect("utf8"),
            "--validator-index",
            "0",
            "--key",
            loose.to_str().expect("utf8"),
            "--base-path",
            dir.path().join("refused").to_str().expect("utf8"),
            "--exit-after-slot",
            "1",
        ]);
        assert!(!refused.status.success(), "mode {mode:o} accepted");
        let err = String::from_utf8_lossy(&refused.stderr).into_owned();
        assert!(
            err.contains("loose.key") && err.contains("chmod 600"),
            "mode {mode:o}: {err}"
        );
        assert!(
            err.contains(&format!("mode {mode:03o}")),
            "mode {mode:o}: {err}"
        );
        outputs.push((format!("refused run (mode {mode:o})"), refused.stderr));
    }

    // The real run, at debug level so every plugin call span and consensus step is logged.
    let base = dir.path().join("node");
    let ran = diverge(&[
        "--log",
        "debug",
        "run",
        "--config",
        "configs/polkadot.toml",
        "--set",
        "chain.slot_ms=1000",
        "--set",
        "consensus.params.gossip_ms=250",
        "--chain",
        spec.to_str().expect("utf8"),
        "--validator-index",
        "0",
        "--key",
        key_s,
        "--base-path",
        base.to_str().expect("utf8"),
        "--listen",
        "127.0.0.1:0",
        "--exit-after-slot",
        "4",
        "--txs",
        "4",
    ]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let log = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert!(log.contains("DEBUG"), "debug logging was on: {log}");
    outputs.push(("run stdout".into(), ran.stdout));
    outputs.push(("run stderr".into(), ran.stderr));
    let mut written = Vec::new();
    files(dir.path(), &key, &mut written);
    // The copy made for the refusal test holds the seed by design.
    written.retain(|p| p != &loose);
    assert!(
        written.iter().any(|p| p.ends_with("events.jsonl")),
        "{written:?}"
    );
    for p in written {
        outputs.push((p.display().to_string(), std::fs::read(&p).expect("read")));
    }
    for (what, bytes) in &outputs {
        assert!(!leaks(bytes, &seed), "the seed appears in {what}");
    }
}
