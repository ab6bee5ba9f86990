//! Each malicious encoder of zoda.md §5, built by `da_rs1d::byzantine` (the encodings the
//! simulator's byzantine author publishes): every shard's Merkle path verifies, and k-subsets
//! decode to data that is not the payload the header's payload hash names, or that differs
//! between subsets. da-zoda2d's `tests/byzantine.rs` runs the same constructions, which it
//! rejects on receipt.

use da_rs1d::Rs1d;
use diverge_plugins::testkit::bytes;
use diverge_plugins::{CheckShard, CheckedShard, DataAvailability, MaliciousEncoding};

/// A k-subset's decode, by name.
fn decode_subsets(
    rs: &Rs1d,
    enc: &diverge_plugins::Encoded,
    k: usize,
    v: usize,
) -> Vec<(&'static str, Vec<u8>)> {
    let subsets: Vec<(&'static str, Vec<u32>)> = vec![
        ("first k", (0..k as u32).collect()),
        ("last k", (v - k..v).map(|i| i as u32).collect()),
        ("even", (0..v as u32).step_by(2).take(k).collect()),
        ("odd", (1..v as u32).step_by(2).take(k).collect()),
    ];
    subsets
        .into_iter()
        .map(|(name, idx)| {
            let checked: Vec<CheckedShard> = idx
                .iter()
                .map(|&i| {
                    rs.check(&enc.commitment, i, enc.shards[i as usize].clone())
                        .expect("rs1d accepts every shard")
                })
                .collect();
            (
                name,
                rs.decode(&enc.commitment, &checked).expect("rs1d decodes"),
            )
        })
        .collect()
}

#[test]
fn rs1d_accepts_every_shard_and_decodes_what_the_header_does_not_commit_to() {
    for (v, k) in [(6usize, 2usize), (100, 34)] {
        let rs = Rs1d::new(k, v, da_rs1d::Params::default()).expect("rs1d");
        let data = bytes(20_000, 11);
        let other = MaliciousEncoding::other_payload(&data);
        assert_ne!(other, data);
        for kind in MaliciousEncoding::ALL {
            let mal = rs.encode_malicious(kind, &data).expect("malicious encode");
            assert!(!mal.tampered.is_empty(), "V={v} {kind:?}: nothing tampered");
            let enc = &mal.encoded;
            for i in 0..v as u32 {
                rs.verify_shard(&enc.commitment, i, &enc.shards[i as usize])
                    .unwrap_or_else(|e| panic!("V={v} {kind:?}: shard {i} refused: {e}"));
            }
            let outs: std::collections::BTreeMap<&str, Vec<u8>> =
                decode_subsets(&rs, enc, k, v).into_iter().collect();
            let is = |s: &str, want: &[u8]| outs[s] == want;
            let why = format!("V={v} {kind:?}");
            match kind {
                MaliciousEncoding::RandomShards => {
                    assert!(outs.values().all(|o| *o != data), "{why}");
                    assert_ne!(outs["first k"], outs["last k"], "{why}");
                    assert_ne!(outs["even"], outs["odd"], "{why}");
                }
                MaliciousEncoding::CorruptShard => {
                    assert_eq!(mal.tampered, vec![v as u32 - 1], "{why}");
                    assert!(is("first k", &data), "{why}");
                    assert!(
                        !is("last k", &data),
                        "{why}: the corrupt chunk went unnoticed"
                    );
                }
                MaliciousEncoding::Splice => {
                    assert!(is("first k", &data), "{why}");
                    assert!(is("last k", &other), "{why}");
                }
                MaliciousEncoding::ForgedChecksum => {
                    assert!(is("first k", &data), "{why}");
                    assert!(is("last k", &other), "{why}");
                    // k of them data chunks, the rest forged parity: neither payload.
                    assert!(!is("odd", &data) && !is("odd", &other), "{why}");
                }
                MaliciousEncoding::Equivocation => {
                    assert!(is("even", &data), "{why}");
                    assert!(is("odd", &other), "{why}");
                }
            }
        }
    }
}
