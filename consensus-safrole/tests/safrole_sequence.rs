//! The slot-sealer sequences Z and F against the public JAM Safrole vectors: wherever a vector
//! enters a new epoch, its posterior gamma_s must be Z(gamma_a) (tickets) or F(eta'_2, kappa')
//! (fallback keys), computed from the vector's own values.

use consensus_safrole::safrole::sequence::{fallback_keys, outside_in};
use diverge_plugins::testkit::vectors_dir;
use diverge_plugins::Hash;
use serde_json::Value;

const EPOCH_LEN: u64 = 12; // tiny

fn bytes32(v: &Value) -> [u8; 32] {
    let s = v.as_str().expect("hex string");
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim_start_matches("0x"), &mut out).expect("32 bytes");
    out
}

#[test]
fn epoch_changes_in_the_vectors_follow_z_and_f() {
    let dir = vectors_dir(env!("CARGO_MANIFEST_DIR")).join("safrole/tiny");
    let (mut z_checked, mut f_checked) = (0, 0);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("vector dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 21, "expected the 21 tiny Safrole cases");
    for path in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        if v["output"].get("ok").is_none() {
            continue; // error cases leave the state unchanged
        }
        let (pre, post) = (&v["pre_state"], &v["post_state"]);
        let pre_epoch = pre["tau"].as_u64().expect("tau") / EPOCH_LEN;
        let post_epoch = post["tau"].as_u64().expect("tau") / EPOCH_LEN;
        if post_epoch == pre_epoch {
            continue;
        }
        if let Some(keys) = post["gamma_s"].get("keys") {
            let kappa: Vec<[u8; 32]> = post["kappa"]
                .as_array()
                .expect("kappa")
                .iter()
                .map(|k| bytes32(&k["bandersnatch"]))
                .collect();
            let eta2 = Hash(bytes32(&post["eta"][2]));
            let expected: Vec<[u8; 32]> =
                keys.as_array().expect("keys").iter().map(bytes32).collect();
            assert_eq!(
                fallback_keys(&eta2, &kappa, EPOCH_LEN as u32),
                expected,
                "{}",
                path.display()
            );
            f_checked += 1;
        } else if let Some(tickets) = post["gamma_s"].get("tickets") {
            let acc: Vec<Value> = pre["gamma_a"].as_array().expect("gamma_a").clone();
            let expected: Vec<Value> = tickets.as_array().expect("tickets").clone();
            assert_eq!(outside_in(&acc), expected, "{}", path.display());
            z_checked += 1;
        }
    }
    eprintln!("checked F on {f_checked} epoch changes, Z on {z_checked}");
    assert!(
        f_checked >= 3,
        "only {f_checked} fallback epoch changes found"
    );
}
