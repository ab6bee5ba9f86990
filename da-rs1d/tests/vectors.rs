//! Every public JAM erasure vector (tiny and full, JSON and binary) through the rlib. The host's
//! tests run the same files through the loaded `.so`.

use da_rs1d::ErasureCase;
use diverge_plugins::testkit::vectors_dir;
use diverge_plugins::CaseFormat;

#[test]
fn all_jam_erasure_vectors_pass() {
    let root = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("erasure");
    let mut passed = 0;
    for preset in ["tiny", "full"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(preset))
            .expect("erasure vector dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let Some(format) = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(CaseFormat::from_extension)
            else {
                continue;
            };
            let bytes = std::fs::read(&path).expect("read vector");
            let case = ErasureCase::parse(format, &bytes).expect("parse vector");
            let outcome = case.judge().expect("judge");
            assert!(outcome.passed(), "{}: {outcome:?}", path.display());
            passed += 1;
        }
    }
    // 6 tiny + 4 full cases, each as .json and .bin.
    assert_eq!(passed, 20, "expected all 20 JAM erasure vector files");
}

#[test]
fn json_and_binary_forms_agree() {
    let root = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("erasure/tiny");
    for name in ["ec-3", "ec-4104"] {
        let json = std::fs::read(root.join(format!("{name}.json"))).expect("json");
        let bin = std::fs::read(root.join(format!("{name}.bin"))).expect("bin");
        assert_eq!(
            ErasureCase::parse(CaseFormat::Json, &json).expect("parse json"),
            ErasureCase::parse(CaseFormat::Binary, &bin).expect("parse bin")
        );
    }
}

#[test]
fn malformed_cases_are_errors_not_panics() {
    for bytes in [&b""[..], b"\xff\xff\xff", b"{\"data\": 5}", b"\x05abc"] {
        for format in [CaseFormat::Json, CaseFormat::Binary] {
            assert!(ErasureCase::parse(format, bytes).is_err(), "{bytes:?}");
        }
    }
}
