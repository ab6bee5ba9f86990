//! Plugin isolation, end to end: a dev node (`diverge run --dev`) whose DA plugin is the
//! deliberately broken fixture (`plugins/testing/misbehaving`) keeps running to its exit slot
//! whatever the plugin does, and each failure is typed, logged and counted (`summary.json`:
//! `plugin_faults`, `slow_plugin_calls`; `events.jsonl`: `plugin_error`; stderr: `WARN`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A dev chain of 3 slots with the fixture as DA plugin in `mode`.
fn dev_run(mode: &str, base: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diverge"))
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .args([
            "run",
            "--dev",
            "--set",
            "da.plugin=diverge-test-misbehaving",
            "--set",
            &format!("da.params.mode={mode}"),
            "--set",
            "consensus.params.gossip_ms=250",
            "--base-path",
            base.to_str().expect("utf8"),
            "--exit-after-slot",
            "3",
            "--txs",
            "4",
        ])
        .output()
        .expect("run diverge")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn events(base: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(base.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_plugin_that_panics_on_every_block_is_counted_and_the_node_runs_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = dev_run("panic_encode", dir.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the host died: {stderr}");
    let summary = json(&dir.path().join("summary.json"));
    let faults = summary["plugin_faults"].as_u64().expect("plugin_faults");
    // One panic per slot it tried to author (slots 1..=3), nothing authored.
    assert!(faults >= 2, "{summary}");
    assert_eq!(summary["core"]["authored"], 0, "{summary}");
    assert!(
        stderr.contains("plugin fault") && stderr.contains("deliberate panic in encode"),
        "{stderr}"
    );
    let errors: Vec<_> = events(dir.path())
        .into_iter()
        .filter(|e| e["event"] == "plugin_error")
        .collect();
    assert!(!errors.is_empty());
    for e in &errors {
        assert_eq!(e["call"], "da.encode", "{e}");
        assert!(
            e["error"].as_str().unwrap_or("").contains("panicked"),
            "{e}"
        );
    }
}

#[test]
fn a_slow_plugin_is_measured_and_logged_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = dev_run("slow_encode", dir.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the host died: {stderr}");
    let summary = json(&dir.path().join("summary.json"));
    assert!(
        summary["slow_plugin_calls"].as_u64() >= Some(1),
        "{summary}"
    );
    assert!(
        stderr.contains("slow plugin call") && stderr.contains("da.encode"),
        "{stderr}"
    );
    // Slow, not broken: what it did author still imported.
    assert!(summary["core"]["authored"].as_u64() >= Some(1), "{summary}");
}

#[test]
fn a_plugin_returning_shards_that_contradict_its_shape_does_not_stop_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = dev_run("wrong_shard_count", dir.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the host died: {stderr}");
    assert!(dir.path().join("summary.json").is_file());
}
