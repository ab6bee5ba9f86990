//! The 21 public JAM Safrole STF vectors (tiny): output or error code, and posterior state,
//! exactly.

use consensus_safrole::safrole::codec::{decode_case, decode_case_any};
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

#[test]
fn binary_and_json_forms_agree_and_garbage_is_an_error() {
    let dir = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("safrole/tiny");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let bin = std::fs::read(&path).expect("bin");
        let (case, v, e) = decode_case_any(&bin).expect("decodes");
        assert_eq!((v, e), (6, 12), "{}", path.display());
        let json: Case =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).expect("json"))
                .expect("parse json");
        assert_eq!(case.input, json.input, "{}", path.display());
        assert_eq!(case.pre_state, json.pre_state, "{}", path.display());
        assert_eq!(case.post_state, json.post_state, "{}", path.display());
        match (&case.output, &json.output) {
            (Ok(a), Outcome::Ok(b)) => assert_eq!(a, b),
            (Err(a), Outcome::Err(b)) => assert_eq!(a, b),
            _ => panic!("{}: outputs differ", path.display()),
        }
        // Truncated or extended files are errors, never panics.
        assert!(decode_case(&bin[..bin.len() - 1], 6, 12).is_err());
        let mut longer = bin.clone();
        longer.push(0);
        assert!(decode_case(&longer, 6, 12).is_err());
        checked += 1;
    }
    assert_eq!(checked, 21);
}
