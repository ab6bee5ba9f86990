//! Malicious encoders (zoda.md §5): encodings whose shards each carry a valid Merkle proof but
//! whose rows are not one codeword, or whose checksum lies. da-rs1d would accept every such
//! shard (its check is the Merkle path alone); here the holder of a bad row rejects on receipt,
//! the error names the shard and the row, and whatever is accepted decodes to one answer.

mod common;

use common::{holders, verdicts};
use da_zoda2d::{Params, Shape, Zoda2d};
use diverge_plugins::testkit::bytes;
use diverge_plugins::{CheckShard, CheckedShard, DataAvailability};

fn setups() -> Vec<(&'static str, Zoda2d, usize)> {
    common::setups(1023)
}

fn random_row(shape: &Shape, seed: u64) -> Vec<u8> {
    bytes(shape.row_bytes(), seed)
}

/// q = V − f votes certify; fewer accepts than that can never become a certificate.
fn quorum(da: &Zoda2d) -> usize {
    (da.committee().validators - da.committee().faulty) as usize
}

#[test]
fn random_rows_under_a_valid_root_are_rejected() {
    for (name, da, len) in setups() {
        let shape = da.shape_for(len).expect("shape");
        let rows: Vec<Vec<u8>> = (0..shape.rows)
            .map(|i| random_row(&shape, u64::from(i) + 1))
            .collect();
        let enc = da.assemble(&shape, len as u32, &rows).expect("assemble");
        let (ok, bad) = verdicts(&da, &enc);
        // The checksum is honest for the first n rows, so only a validator holding nothing but
        // systematic rows could pass: (n/m)^S, never at these shapes.
        assert!(ok.is_empty(), "{name}: accepted {ok:?}");
        assert!(
            bad.iter().all(|(_, m)| m.contains("inconsistent encoding")),
            "{name}"
        );
    }
}

#[test]
fn one_corrupted_row_is_caught_by_exactly_its_holder() {
    for (name, da, len) in setups() {
        let data = bytes(len, 3);
        let shape = da.shape_for(len).expect("shape");
        let honest = Zoda2d::encode_rows(&shape, &data).expect("rows");
        // A parity row and a systematic row; the checksum is the honest one of the data, as an
        // encoder that claims `data` must publish.
        for p in [shape.rows - 1, 0] {
            let mut rows = honest.clone();
            rows[p as usize][5] ^= 0x40;
            let enc = da
                .assemble_with(&shape, len as u32, &rows, |c0| {
                    Zoda2d::checksum(&shape, c0, &honest)
                })
                .expect("assemble");
            let (ok, bad) = verdicts(&da, &enc);
            let holder = holders(&da, &enc, &[p]);
            assert_eq!(holder.len(), 1);
            assert_eq!(bad.len(), 1, "{name} p={p}: {bad:?}");
            assert!(
                bad[0].1.contains(&format!("shard {}:", holder[0]))
                    && bad[0].1.contains(&format!("position {p}")),
                "{name}: {}",
                bad[0].1
            );
            // Every k-subset of accepted shards decodes to the committed data.
            let k = da.committee().k as usize;
            for start in [0usize, ok.len() - k, ok.len() / 3] {
                let start = start.min(ok.len() - k);
                let checked: Vec<CheckedShard> = ok[start..start + k]
                    .iter()
                    .map(|&i| {
                        da.check(&enc.commitment, i, enc.shards[i as usize].clone())
                            .expect("check")
                    })
                    .collect();
                assert_eq!(
                    da.decode(&enc.commitment, &checked).expect("decode"),
                    data,
                    "{name} p={p}"
                );
            }
        }
    }
}

#[test]
fn corruption_below_half_the_distance_never_splits_the_decoders() {
    // e rows wrong, e < d/2: accepted shards are all from the one nearest codeword.
    let da = Zoda2d::new(100, 34, Params::certificate()).expect("B");
    let len = 60_000;
    let data = bytes(len, 5);
    let shape = da.shape_for(len).expect("shape");
    let honest = Zoda2d::encode_rows(&shape, &data).expect("rows");
    let e = ((shape.rows - shape.data_rows) / 2 - 1).min(40);
    let bad_positions: Vec<u32> = (0..e).map(|i| (i * 7919 + 3) % shape.rows).collect();
    let mut rows = honest.clone();
    for &p in &bad_positions {
        rows[p as usize] = random_row(&shape, u64::from(p) + 99);
    }
    let enc = da
        .assemble_with(&shape, len as u32, &rows, |c0| {
            Zoda2d::checksum(&shape, c0, &honest)
        })
        .expect("assemble");
    let (ok, _) = verdicts(&da, &enc);
    let mut bad_holders = holders(&da, &enc, &bad_positions);
    bad_holders.sort_unstable();
    let rejected: Vec<u32> = (0..100).filter(|i| !ok.contains(i)).collect();
    assert_eq!(rejected, bad_holders);
    let k = 34;
    for w in ok.chunks(k).filter(|w| w.len() == k) {
        let checked: Vec<CheckedShard> = w
            .iter()
            .map(|&i| {
                da.check(&enc.commitment, i, enc.shards[i as usize].clone())
                    .expect("check")
            })
            .collect();
        assert_eq!(da.decode(&enc.commitment, &checked).expect("decode"), data);
    }
}

#[test]
fn two_encodings_spliced_never_reach_a_certificate() {
    for (name, da, len) in setups() {
        let shape = da.shape_for(len).expect("shape");
        let one = Zoda2d::encode_rows(&shape, &bytes(len, 1)).expect("rows");
        let two = Zoda2d::encode_rows(&shape, &bytes(len, 2)).expect("rows");
        let n = shape.data_rows as usize;
        let half = shape.rows as usize / 2;
        // Half and half; and D1's data rows with D2's parity.
        let spliced_half: Vec<Vec<u8>> = one[..half].iter().chain(&two[half..]).cloned().collect();
        let spliced_parity: Vec<Vec<u8>> = one[..n].iter().chain(&two[n..]).cloned().collect();
        for rows in [spliced_half, spliced_parity] {
            let enc = da.assemble(&shape, len as u32, &rows).expect("assemble");
            let (ok, _) = verdicts(&da, &enc);
            assert!(
                ok.len() < quorum(&da) - da.committee().faulty as usize,
                "{name}: {} honest accepts could certify",
                ok.len()
            );
        }
    }
}

#[test]
fn a_forged_checksum_is_rejected() {
    for (name, da, len) in setups() {
        let data = bytes(len, 4);
        let shape = da.shape_for(len).expect("shape");
        let rows = Zoda2d::encode_rows(&shape, &data).expect("rows");
        // W' = W + Δ in one row: GW' leaves the code's image of X on ≥ m − n + 1 rows.
        let enc = da
            .assemble_with(&shape, len as u32, &rows, |c0| {
                let mut w = Zoda2d::checksum(&shape, c0, &rows);
                w[3] ^= 1;
                w
            })
            .expect("assemble");
        let (ok, _) = verdicts(&da, &enc);
        assert!(
            ok.len() < quorum(&da) - da.committee().faulty as usize,
            "{name}: {ok:?}"
        );
    }
}

#[test]
fn a_checksum_swapped_per_validator_is_equivocation_and_refused() {
    let da = Zoda2d::new(6, 2, Params::certificate()).expect("B");
    let len = 5000;
    let shape = da.shape_for(len).expect("shape");
    let rows = Zoda2d::encode_rows(&shape, &bytes(len, 8)).expect("rows");
    let honest = da.assemble(&shape, len as u32, &rows).expect("honest");
    // The leader hands validator 2 a shard cut for a different checksum.
    let other = da
        .assemble_with(&shape, len as u32, &rows, |c0| {
            let mut w = Zoda2d::checksum(&shape, c0, &rows);
            w[0] ^= 1;
            w
        })
        .expect("other");
    assert_ne!(
        honest.commitment, other.commitment,
        "a different W is a different c1"
    );
    let err = da
        .verify_shard(&honest.commitment, 2, &other.shards[2])
        .expect_err("shard of another checksum");
    assert!(err.message.contains("checksum does not hash"), "{err}");
    // And a shard of another block altogether.
    let elsewhere = da.encode(&bytes(len, 9)).expect("encode");
    assert!(da
        .verify_shard(&honest.commitment, 2, &elsewhere.shards[2])
        .is_err());
}

#[test]
fn a_valid_shard_presented_with_the_wrong_rows_order_is_rejected() {
    let da = Zoda2d::new(6, 2, Params::certificate()).expect("B");
    let enc = da.encode(&bytes(4000, 1)).expect("encode");
    let mut s: da_zoda2d::Shard =
        diverge_plugins::codec::decode_exact(&enc.shards[1]).expect("shard");
    s.rows.swap(0, 1);
    let err = da
        .verify_shard(&enc.commitment, 1, &jam_codec::Encode::encode(&s))
        .expect_err("swapped rows");
    assert!(err.message.contains("multiproof"), "{err}");
}

#[test]
fn decode_refuses_shards_checked_against_another_commitment() {
    // An equivocating leader's two versions of one block: each shard checks under its own
    // commitment, but decode under the first refuses a shard of the second.
    let da = Zoda2d::new(6, 2, Params::certificate()).expect("B");
    let len = 5000;
    let shape = da.shape_for(len).expect("shape");
    let rows = Zoda2d::encode_rows(&shape, &bytes(len, 8)).expect("rows");
    let one = da.assemble(&shape, len as u32, &rows).expect("one");
    let mut other_rows = rows.clone();
    other_rows[0][0] ^= 1;
    let other_rows = {
        // A consistent second encoding of slightly different data.
        let data: Vec<u8> = other_rows[..shape.data_rows as usize].concat();
        Zoda2d::encode_rows(&shape, &data[..len]).expect("rows")
    };
    let two = da.assemble(&shape, len as u32, &other_rows).expect("two");
    let a = da
        .check(&one.commitment, 0, one.shards[0].clone())
        .expect("check one");
    let b = da
        .check(&two.commitment, 1, two.shards[1].clone())
        .expect("check two");
    let err = da.decode(&one.commitment, &[a, b]).expect_err("mixed");
    assert!(err.message.contains("shard 1"), "{err}");
}
