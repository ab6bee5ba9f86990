//! The 21 public JAM Safrole STF vectors (tiny): output or error code, and posterior state,
//! exactly.

use consensus_safrole::safrole::ring::RingContext;
use consensus_safrole::safrole::stf::{transition, Spec};
use consensus_safrole::safrole::types::{ErrorCode, Input, Output, State};
use diverge_plugins::testkit::vectors_dir;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok(Output),
    Err(ErrorCode),
}

#[derive(Deserialize)]
struct Case {
    input: Input,
    pre_state: State,
    output: Outcome,
    post_state: State,
}

#[test]
fn all_tiny_safrole_vectors_pass() {
    let root = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("safrole");
    let srs = std::fs::read(root.join("zcash-srs-2-11-uncompressed.bin")).expect("SRS");
    let ring = RingContext::from_srs(&srs, 6).expect("ring context");
    let mut files: Vec<_> = std::fs::read_dir(root.join("tiny"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in &files {
        let case: Case =
            serde_json::from_slice(&std::fs::read(path).expect("read")).expect("parse case");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let got = transition(&Spec::TINY, &ring, &case.pre_state, &case.input);
        let ok = match (&got, &case.output) {
            (Ok((post, out)), Outcome::Ok(expected)) => {
                if out != expected {
                    failures.push(format!("{name}: output {out:?} != {expected:?}"));
                }
                if *post != case.post_state {
                    failures.push(format!("{name}: post state differs"));
                }
                true
            }
            (Err(e), Outcome::Err(expected)) => {
                if e != expected {
                    failures.push(format!("{name}: error {e} != {expected}"));
                }
                assert_eq!(
                    case.pre_state, case.post_state,
                    "{name}: error cases keep the state"
                );
                true
            }
            (Ok(_), Outcome::Err(expected)) => {
                failures.push(format!("{name}: ok, expected {expected}"));
                false
            }
            (Err(e), Outcome::Ok(_)) => {
                failures.push(format!("{name}: {e}, expected ok"));
                false
            }
        };
        eprintln!("{} {name}", if ok { "ran " } else { "FAIL" });
    }
    assert_eq!(files.len(), 21, "expected 21 cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
