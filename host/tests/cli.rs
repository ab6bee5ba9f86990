//! The `diverge` binary as a user runs it: exit codes, one-line errors, config layering, the DA
//! commands and conformance, all against the built plugin libraries.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn diverge(args: &[&str]) -> Output {
    diverge_env(args, &[])
}

fn diverge_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_diverge"));
    cmd.current_dir(repo()).args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run diverge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error line (logs may precede it on stderr).
fn error_line(o: &Output) -> String {
    stderr(o)
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn plugins_lists_what_loads_and_what_is_missing() {
    let o = diverge(&["plugins", "--config", "configs/polkadot.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for lib in [
        "libda_rs1d.so",
        "libconsensus_safrole.so",
        "libexec_reexec.so",
    ] {
        assert!(out.contains(lib), "{out}");
    }
    assert!(
        out.contains(&format!("abi {}", diverge_plugins::ABI_VERSION)),
        "{out}"
    );
    let strict = diverge(&["plugins", "--config", "configs/polkadot.toml", "--strict"]);
    assert!(strict.status.success(), "{}", stderr(&strict));
    let o = diverge(&["plugins", "--config", "configs/kusama.toml", "--strict"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for lib in ["libconsensus_ssf.so", "libda_zoda2d.so"] {
        assert!(stdout(&o).contains(lib), "{}", stdout(&o));
    }
    // The proof variant of the execution axis loads like any other.
    let o = diverge(&[
        "plugins",
        "--config",
        "configs/kusama.toml",
        "--set",
        "exec.plugin=exec-proof",
        "--strict",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("libexec_proof.so"), "{}", stdout(&o));
    // A plugin name with no library behind it is listed as MISSING and fails --strict.
    let args = [
        "plugins",
        "--config",
        "configs/kusama.toml",
        "--set",
        "exec.plugin=exec-elsewhere",
    ];
    let o = diverge(&args);
    assert!(
        stdout(&o).contains("MISSING  exec plugin \"exec-elsewhere\""),
        "{}",
        stdout(&o)
    );
    let strict = diverge(&[&args[..], &["--strict"]].concat());
    assert!(!strict.status.success());
}

#[test]
fn both_variant_configs_parse() {
    for cfg in ["configs/polkadot.toml", "configs/kusama.toml"] {
        let o = diverge(&["config", "--config", cfg]);
        assert!(o.status.success(), "{cfg}: {}", stderr(&o));
        assert!(stdout(&o).contains("validators = 6"), "{}", stdout(&o));
    }
}

#[test]
fn env_overrides_file_and_set_overrides_env() {
    let env = [("DIVERGE_CHAIN__SLOT_MS", "2500")];
    let o = diverge_env(&["config", "--config", "configs/polkadot.toml"], &env);
    assert!(stdout(&o).contains("slot_ms = 2500"), "{}", stdout(&o));
    let o = diverge_env(
        &[
            "config",
            "--config",
            "configs/polkadot.toml",
            "--set",
            "chain.slot_ms=1200",
        ],
        &env,
    );
    assert!(stdout(&o).contains("slot_ms = 1200"), "{}", stdout(&o));
}

#[test]
fn config_errors_are_one_line_naming_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[chain]\npreset = \"tiny\"\nslot_ms = \"soon\"\n[consensus]\nplugin = \"c\"\n[da]\nplugin = \"da-rs1d\"\n[exec]\nplugin = \"e\"\n",
    )
    .expect("write");
    let o = diverge(&["config", "--config", path.to_str().expect("utf8")]);
    assert!(!o.status.success());
    let line = error_line(&o);
    assert!(line.contains("chain.slot_ms"), "{}", stderr(&o));
    assert!(line.contains("bad.toml"), "{}", stderr(&o));

    let o = diverge(&["config", "--config", "configs/nope.toml"]);
    assert!(!o.status.success());
    assert!(
        error_line(&o).contains("configs/nope.toml: not found"),
        "{}",
        stderr(&o)
    );

    let o = diverge_env(
        &["config", "--config", "configs/polkadot.toml"],
        &[("DIVERGE_CHAIN__SLOTS", "3")],
    );
    assert!(!o.status.success());
    assert!(error_line(&o).contains("slots"), "{}", stderr(&o));
}

#[test]
fn da_roundtrip_on_the_default_config() {
    let o = diverge(&["da", "roundtrip", "--size", "100000", "--seed", "9"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("6 shards, any 2 decode"), "{out}");
    assert!(out.contains("result:  identical"), "{out}");
}

#[test]
fn da_encode_decode_files_with_a_tampered_and_missing_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.bin");
    let shards = dir.path().join("shards");
    let output = dir.path().join("out.bin");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&input, &data).expect("write input");
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let o = diverge(&["da", "encode", "--input", &s(&input), "--out", &s(&shards)]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Lose shards 0..=2, corrupt shard 3: the remaining two (4, 5) still decode.
    for i in 0..3 {
        std::fs::remove_file(shards.join(format!("shard-{i:04}.bin"))).expect("rm");
    }
    let s3 = shards.join("shard-0003.bin");
    let mut b = std::fs::read(&s3).expect("read");
    b[10] ^= 0xff;
    std::fs::write(&s3, b).expect("write");
    let o = diverge(&[
        "da",
        "decode",
        "--dir",
        &s(&shards),
        "--output",
        &s(&output),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("shard 3: rejected"), "{}", stdout(&o));
    assert_eq!(std::fs::read(&output).expect("read output"), data);

    // With only the corrupted one and one good one there is not enough.
    let o = diverge(&[
        "da",
        "decode",
        "--dir",
        &s(&shards),
        "--output",
        &s(&output),
        "--shards",
        "3,4",
    ]);
    assert!(!o.status.success());
    assert!(
        error_line(&o).contains("1 checked shards"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn conformance_command_runs_the_vectors() {
    let dir = diverge_plugins::testkit::vectors_dir(env!("CARGO_MANIFEST_DIR")).join("erasure");
    let o = diverge(&["conformance", "erasure", dir.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("20 passed, 0 failed"), "{}", stdout(&o));

    let empty = tempfile::tempdir().expect("tempdir");
    let o = diverge(&[
        "conformance",
        "erasure",
        empty.path().to_str().expect("utf8"),
    ]);
    assert!(!o.status.success(), "no cases must not pass");
}

#[test]
fn a_mismatched_plugin_is_a_one_line_error() {
    let bad = common::plugin_file("diverge-test-abi-mismatch");
    let o = diverge(&["da", "--plugin", bad.to_str().expect("utf8"), "roundtrip"]);
    assert!(!o.status.success());
    let line = error_line(&o);
    assert!(
        line.contains(&format!(
            "plugin ABI version mismatch: expected {}, found {}",
            diverge_plugins::ABI_VERSION,
            diverge_plugins::ABI_VERSION + 1
        )),
        "{}",
        stderr(&o)
    );
    assert!(line.contains("libdiverge_test_abi_mismatch.so"), "{line}");

    let o = diverge(&["da", "--set", "da.plugin=da-nothing", "roundtrip"]);
    assert!(!o.status.success());
    assert!(
        error_line(&o).contains("libda_nothing.so not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_says_what_is_missing() {
    let o = diverge(&["run", "--config", "configs/polkadot.toml"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--chain"), "{}", stderr(&o));
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("spec.json");
    let o = diverge(&[
        "chain-spec",
        "build",
        "--config",
        "configs/kusama.toml",
        "--out",
        spec.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = diverge(&[
        "run",
        "--config",
        "configs/kusama.toml",
        "--set",
        "exec.plugin=exec-elsewhere",
        "--set",
        "da.plugin=da-missing",
        "--chain",
        spec.to_str().expect("utf8"),
        "--validator-index",
        "0",
        "--dev-key",
        "--base-path",
        dir.path().join("n").to_str().expect("utf8"),
    ]);
    assert!(!o.status.success());
    // One line names every missing plugin.
    let line = error_line(&o);
    assert!(
        line.contains("exec-elsewhere") && line.contains("da-missing"),
        "{}",
        stderr(&o)
    );
}
