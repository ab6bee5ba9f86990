//! Each malicious encoder of zoda.md §5, built by `da_zoda2d::byzantine` (the encodings the
//! simulator's byzantine author publishes): exactly the validators the construction predicts
//! reject on receipt, each error names its shard (and the row, for a corrupted one), and what
//! is accepted decodes to the payload from any k of it. da-rs1d's `tests/byzantine.rs` runs the
//! same constructions against the 1D code, which accepts them all; `host/tests/byzantine_da.rs`
//! runs both through the loaded `.so` files side by side.

mod common;

use diverge_plugins::testkit::bytes;
use diverge_plugins::{CheckShard, CheckedShard, DataAvailability, MaliciousEncoding};

#[test]
fn zoda2d_rejects_exactly_the_predicted_shards_and_names_them() {
    for kind in MaliciousEncoding::ALL {
        for (name, da, len) in common::setups(100) {
            let data = bytes(len, 11);
            let mal = da.encode_malicious(kind, &data).expect("malicious encode");
            let enc = &mal.encoded;
            let v = da.committee().validators;
            let (k, f) = (da.committee().k as usize, da.committee().faulty as usize);
            let (accepted, rejected) = common::verdicts(&da, enc);
            let rejected_idx: Vec<u32> = rejected.iter().map(|r| r.0).collect();
            assert_eq!(rejected_idx, mal.must_reject, "{name} {kind:?}");
            let (_, shape) = da.commitment(&enc.commitment).expect("commitment");
            let m = shape.rows;
            match kind {
                MaliciousEncoding::RandomShards => {
                    assert_eq!(accepted, Vec::<u32>::new(), "{name}: random rows passed");
                }
                MaliciousEncoding::CorruptShard => {
                    let holder = common::holders(&da, enc, &[m - 1]);
                    assert_eq!(
                        rejected_idx, holder,
                        "{name}: exactly the corrupt row's holder"
                    );
                    assert!(
                        rejected[0].1.contains(&format!("position {}", m - 1)),
                        "{name}: {}",
                        rejected[0].1
                    );
                }
                MaliciousEncoding::Splice | MaliciousEncoding::ForgedChecksum => {
                    // q = V − f votes certify and up to f of them may be byzantine.
                    assert!(
                        accepted.len() < v as usize - 2 * f,
                        "{name} {kind:?}: {} honest accepts could certify",
                        accepted.len()
                    );
                }
                MaliciousEncoding::Equivocation => {
                    let odd: Vec<u32> = (0..v).filter(|i| i % 2 == 1).collect();
                    assert_eq!(rejected_idx, odd, "{name}");
                    assert!(rejected
                        .iter()
                        .all(|r| r.1.contains("checksum does not hash")));
                }
            }
            if !matches!(
                kind,
                MaliciousEncoding::RandomShards | MaliciousEncoding::Equivocation
            ) {
                assert!(
                    rejected
                        .iter()
                        .all(|r| r.1.contains("inconsistent encoding")),
                    "{name} {kind:?}: {rejected:?}"
                );
            }
            // Whatever was accepted decodes to one answer from any k of it: the payload itself
            // wherever the data rows are honest.
            if accepted.len() >= k {
                let mut outs = Vec::new();
                for start in [0, accepted.len() - k, (accepted.len() - k) / 2] {
                    let checked: Vec<CheckedShard> = accepted[start..start + k]
                        .iter()
                        .map(|&i| {
                            da.check(&enc.commitment, i, enc.shards[i as usize].clone())
                                .expect("accepted once, accepted again")
                        })
                        .collect();
                    outs.push(da.decode(&enc.commitment, &checked).expect("decode"));
                }
                assert!(outs.iter().all(|o| *o == data), "{name} {kind:?}");
            }
        }
    }
}
