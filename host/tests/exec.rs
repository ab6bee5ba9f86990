//! exec-reexec through the loader: the host's generated payloads decode in the plugin, blocks
//! execute and validate through the `.so`, tampering is caught, and `diverge exec run` works.

mod common;

use common::plugin_file;
use diverge::commands::exec;
use diverge::workload::{receipt_results, Generator, TxKind, WorkloadConfig};
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{blake2b_256, Axis, ChainParams, Header, InitArgs, ValidateRequest, Verdict};

fn open(params: &str) -> Box<dyn diverge_plugins::Executor> {
    let lib = PluginLibrary::open(&plugin_file("exec-reexec")).expect("load exec-reexec");
    assert_eq!(lib.meta().axis, Axis::Exec);
    lib.exec(&InitArgs::new(ChainParams::tiny(), params))
        .expect("instantiate")
}

#[test]
fn loaded_exec_reexec_executes_and_validates_host_workloads() {
    for backend in ["compiler", "interpreter"] {
        let mut ex = open(&format!(r#"{{"backend": "{backend}"}}"#));
        let mut g = Generator::new(WorkloadConfig::default());
        let mut pre = ex.genesis_state_root().expect("genesis");
        for _ in 0..3 {
            let block = g.block(300);
            let out = ex.execute(&pre, &block.payload).expect("execute");
            let results = receipt_results(&out.receipt).expect("receipt");
            // Every planted double spend is rejected and every honest transaction applies:
            // the plugin decoded the host's encoding exactly.
            for (kind, r) in block.kinds.iter().zip(&results) {
                assert_eq!(*kind == TxKind::DoubleSpend, *r != 0, "{kind:?} gave {r}");
            }
            let mut header = Header {
                payload_hash: blake2b_256(&block.payload),
                post_state_root: out.post_state_root,
                ..Header::default()
            };
            let req = |header: Header| ValidateRequest {
                pre_state_root: pre,
                header,
                payload: Some(block.payload.clone()),
                receipt: out.receipt.clone(),
                proof: Vec::new(),
            };
            assert_eq!(
                ex.validate(req(header.clone())).expect("validate"),
                Verdict::Valid
            );
            header.post_state_root.0[31] ^= 1;
            match ex.validate(req(header)).expect("validate") {
                Verdict::Invalid { code, .. } => assert_eq!(code, "post_state_root_mismatch"),
                Verdict::Valid => panic!("tampered root accepted"),
            }
            pre = out.post_state_root;
        }
        let snap = ex.snapshot().expect("snapshot");
        let mut other = open(&format!(r#"{{"backend": "{backend}"}}"#));
        other.restore(&snap).expect("restore");
        let block = g.block(50);
        assert_eq!(
            ex.execute(&pre, &block.payload).expect("a"),
            other.execute(&pre, &block.payload).expect("b")
        );
        assert!(ex.execute(&pre, b"\xff\xff garbage").is_err());
    }
}

#[test]
fn bad_exec_params_are_config_errors() {
    let lib = PluginLibrary::open(&plugin_file("exec-reexec")).expect("load");
    let err = lib
        .exec(&InitArgs::new(ChainParams::tiny(), r#"{"backend": "jit"}"#))
        .err()
        .expect("unknown backend");
    assert_eq!(err.kind, diverge_plugins::ErrorKind::Config);
}

#[test]
fn exec_run_command_reports_and_validates() {
    let mut ex = open("{}");
    let mut out = Vec::new();
    let r = exec::run(ex.as_mut(), 200, 2, 7, &mut out).expect("run");
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(r.blocks, 2);
    assert_eq!(r.invalid, 0);
    assert_eq!(r.accepted + r.rejected, 400);
    assert_eq!(r.rejected, r.double_spends, "{text}");
    assert!(text.contains("total: 2 blocks"), "{text}");
}

/// exec-proof through its `.so`: the author proves a block (one deposit from genesis, ~2^19
/// rows, about a minute on 2 cores), a second instance validates it without the payload, and
/// a tampered header, receipt or proof is invalid, never an error or a panic; the post-state
/// survives a snapshot. The log-level lies (a false nullifier answer) are exec-proof's own
/// tests (`exec-proof/tests/proof.rs`).
#[test]
fn loaded_exec_proof_validates_without_the_payload() {
    let open = || {
        let lib = PluginLibrary::open(&plugin_file("exec-proof")).expect("load exec-proof");
        assert_eq!(lib.meta().axis, Axis::Exec);
        lib.exec(&InitArgs::new(ChainParams::tiny(), ""))
            .expect("instantiate")
    };
    let (mut author, mut validator) = (open(), open());
    let pre = author.genesis_state_root().expect("genesis");
    assert_eq!(validator.genesis_state_root().expect("genesis"), pre);
    let block = Generator::new(WorkloadConfig::default()).block(1);
    let start = std::time::Instant::now();
    let out = author.execute(&pre, &block.payload).expect("prove");
    println!(
        "proved a 1-tx block through the .so in {:.1} s: {} proof bytes",
        start.elapsed().as_secs_f64(),
        out.proof.len()
    );
    assert!(!out.proof.is_empty());
    let header = Header {
        payload_hash: blake2b_256(&block.payload),
        post_state_root: out.post_state_root,
        ..Header::default()
    };
    let req = |header: &Header, receipt: &[u8], proof: &[u8]| ValidateRequest {
        pre_state_root: pre,
        header: header.clone(),
        payload: None,
        receipt: receipt.to_vec(),
        proof: proof.to_vec(),
    };
    let verdict = |ex: &mut Box<dyn diverge_plugins::Executor>, r: ValidateRequest| match ex
        .validate(r)
        .expect("validation runs")
    {
        Verdict::Valid => "valid".to_string(),
        Verdict::Invalid { code, .. } => code,
    };
    let start = std::time::Instant::now();
    assert_eq!(
        verdict(&mut validator, req(&header, &out.receipt, &out.proof)),
        "valid"
    );
    println!("validated in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    let mut h = header.clone();
    h.post_state_root.0[3] ^= 1;
    assert_eq!(
        verdict(&mut validator, req(&h, &out.receipt, &out.proof)),
        "post_state_mismatch"
    );
    let mut h = header.clone();
    h.payload_hash.0[0] ^= 1;
    assert_eq!(
        verdict(&mut validator, req(&h, &out.receipt, &out.proof)),
        "proof_rejected"
    );
    assert_eq!(
        verdict(&mut validator, req(&header, &out.receipt, &[])),
        "missing_proof"
    );
    assert_eq!(
        verdict(&mut validator, req(&header, b"\x07", &out.proof)),
        "bad_receipt"
    );
    for at in [
        0,
        1,
        40,
        out.proof.len() / 3,
        out.proof.len() / 2,
        out.proof.len() - 1,
    ] {
        let mut p = out.proof.clone();
        p[at] ^= 0x41;
        assert_ne!(
            verdict(&mut validator, req(&header, &out.receipt, &p)),
            "valid",
            "proof byte {at} flipped"
        );
    }
    assert_ne!(
        verdict(
            &mut validator,
            req(&header, &out.receipt, &out.proof[..out.proof.len() / 2])
        ),
        "valid"
    );
    // The validator can build on what it validated, and keeps it across a restart.
    let snap = validator.snapshot().expect("snapshot");
    let mut restarted = open();
    restarted.restore(&snap).expect("restore");
    assert_eq!(
        verdict(&mut restarted, req(&header, &out.receipt, &out.proof)),
        "valid"
    );
    assert!(restarted.restore(b"\x01\x02").is_err(), "garbage snapshot");
    assert!(author.execute(&pre, b"\xff\xff garbage").is_err());
}
