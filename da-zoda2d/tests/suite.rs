//! The shared DA contract and property tests, on the rlib, in both security modes.

use da_zoda2d::{Mode, Params, Zoda2d};
use diverge_plugins::testkit::{bytes, da_suite};
use diverge_plugins::{CheckShard, CheckedShard, DataAvailability, ErrorKind};
use proptest::prelude::*;

#[test]
fn contract_certificate_mode() {
    for (v, k) in [(6, 2), (1023, 342), (100, 34), (2, 1), (1, 1)] {
        da_suite(&Zoda2d::new(v, k, Params::certificate()).expect("params"));
    }
}

#[test]
fn contract_standalone_mode() {
    for (v, k) in [(6, 2), (100, 34), (2, 1), (1, 1)] {
        da_suite(&Zoda2d::new(v, k, Params::standalone()).expect("params"));
    }
}

#[test]
fn standalone_at_1023_is_a_config_error_naming_the_ceiling() {
    let err = Zoda2d::new(1023, 342, Params::standalone()).expect_err("infeasible");
    let msg = err.to_string();
    assert!(
        msg.contains("65,535") && msg.contains("certificate"),
        "{msg}"
    );
    // A researcher can lower the target and still run mode A at V = 1023 (m = 65,472 rows,
    // so a spot check rather than the whole suite, which would take minutes).
    let weak = Params {
        security_bits: Some(40.0),
        ..Params::standalone()
    };
    let da = Zoda2d::new(1023, 342, weak).expect("40 bits fit");
    let data = bytes(20_000, 3);
    let enc = da.encode(&data).expect("encode");
    let checked: Vec<CheckedShard> = (681..1023)
        .map(|i| {
            da.check(&enc.commitment, i, enc.shards[i as usize].clone())
                .expect("check")
        })
        .collect();
    assert_eq!(da.decode(&enc.commitment, &checked).expect("decode"), data);
}

#[test]
fn modes_pick_their_own_shapes_and_meet_their_targets() {
    let a = Zoda2d::new(6, 2, Params::standalone()).expect("A");
    let b = Zoda2d::new(6, 2, Params::certificate()).expect("B");
    let sa = a.shape_for(1 << 20).expect("shape");
    let sb = b.shape_for(1 << 20).expect("shape");
    assert_eq!(a.mode(), Mode::Standalone);
    assert!(sa.standalone_bits() >= 126.0, "{sa:?}");
    assert!(sb.certificate_bits(b.committee()) >= 128.0, "{sb:?}");
    assert!(
        sa.rows_per_shard > sb.rows_per_shard,
        "A needs more rows: {sa:?} {sb:?}"
    );
    // Full set, mode B: 3 rows each, ~2 bits per validator, ≥ 128 bits per certificate.
    let full = Zoda2d::new(1023, 342, Params::certificate()).expect("B full");
    let s = full.shape_for(14_000_000).expect("shape");
    assert_eq!(s.rows_per_shard, 3);
    assert!(s.standalone_bits() < 4.0);
}

#[test]
fn a_commitment_of_the_other_mode_or_chain_is_rejected() {
    let a = Zoda2d::new(6, 2, Params::standalone()).expect("A");
    let b = Zoda2d::new(6, 2, Params::certificate()).expect("B");
    let other = Zoda2d::new(9, 3, Params::certificate()).expect("other");
    let enc = a.encode(b"payload").expect("encode");
    let err = b
        .verify_shard(&enc.commitment, 0, &enc.shards[0])
        .expect_err("mode A commitment under mode B");
    assert_eq!(err.kind, ErrorKind::Rejected);
    assert!(err.message.contains("mode 0"), "{err}");
    let enc = other.encode(b"payload").expect("encode");
    let err = b
        .verify_shard(&enc.commitment, 0, &enc.shards[0])
        .expect_err("other chain");
    assert!(err.message.contains("V=9 k=3"), "{err}");
}

#[test]
fn a_weaker_shape_than_the_chain_requires_is_rejected() {
    // The same chain at 40 bits encodes with fewer rows; a 128-bit verifier refuses it.
    let weak = Zoda2d::new(
        100,
        34,
        Params {
            security_bits: Some(40.0),
            ..Params::certificate()
        },
    )
    .expect("weak");
    let strict = Zoda2d::new(100, 34, Params::certificate()).expect("strict");
    let enc = weak.encode(&bytes(50_000, 9)).expect("encode");
    let err = strict
        .verify_shard(&enc.commitment, 0, &enc.shards[0])
        .expect_err("weak shape");
    assert!(err.message.contains("requires 128"), "{err}");
}

#[test]
fn duplicate_and_too_few_shards_are_refused() {
    let da = Zoda2d::new(6, 2, Params::certificate()).expect("tiny");
    let enc = da.encode(&bytes(3000, 1)).expect("encode");
    let c = |i: usize| {
        da.check(&enc.commitment, i as u32, enc.shards[i].clone())
            .expect("check")
    };
    let err = da
        .decode(&enc.commitment, &[c(1), c(1)])
        .expect_err("duplicate");
    assert!(err.message.contains("duplicate"), "{err}");
    assert!(da.decode(&enc.commitment, &[c(3)]).is_err());
    assert_eq!(
        da.decode(&enc.commitment, &[c(5), c(3), c(4)])
            .expect("3 of 6"),
        bytes(3000, 1)
    );
}

#[test]
fn sampling_is_distinct_deterministic_seeded_and_checks() {
    let da = Zoda2d::new(1023, 342, Params::certificate()).expect("full");
    let enc = da.encode(&bytes(5000, 1)).expect("encode");
    let a = da.sample(&enc.commitment, &[1; 32]).expect("sample");
    let b = da.sample(&enc.commitment, &[1; 32]).expect("sample");
    let c = da.sample(&enc.commitment, &[2; 32]).expect("sample");
    assert_eq!(a, b);
    assert_ne!(a, c);
    // 40 bits at (k-1)/V = 341/1023 served: ⌈40 / log2 3⌉ = 26.
    assert_eq!(a.len(), 26);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), a.len());
    for i in a {
        da.check(&enc.commitment, i, enc.shards[i as usize].clone())
            .expect("sampled shard checks");
    }
}

#[test]
fn bad_params_are_config_errors() {
    assert!(Zoda2d::new(6, 0, Params::default()).is_err());
    assert!(Zoda2d::new(6, 6, Params::default()).is_err());
    let typo = serde_json::from_str::<Params>(r#"{"mdoe": "standalone"}"#);
    assert!(typo.is_err());
    let bad_mode = serde_json::from_str::<Params>(r#"{"mode": "both"}"#);
    assert!(bad_mode.is_err());
    let nonsense = Params {
        security_bits: Some(0.0),
        ..Params::default()
    };
    assert_eq!(
        diverge_plugins::PluginError::from(Zoda2d::new(6, 2, nonsense).expect_err("0 bits")).kind,
        ErrorKind::Config
    );
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_k_subset_rebuilds(len in 0usize..40_000, k in 1u16..12, extra in 1u16..20,
                             standalone in any::<bool>(), seed in any::<u64>()) {
        let v = k + extra;
        let params = if standalone { Params::standalone() } else { Params::certificate() };
        let da = Zoda2d::new(v, k, params).expect("params");
        let data = bytes(len, seed);
        let enc = da.encode(&data).expect("encode");
        prop_assert_eq!(enc.shards.len(), v as usize);
        let order = shuffled(v as usize, seed);
        let checked: Vec<CheckedShard> = order[..k as usize]
            .iter()
            .map(|&i| da.check(&enc.commitment, i as u32, enc.shards[i].clone()).expect("check"))
            .collect();
        prop_assert_eq!(da.decode(&enc.commitment, &checked).expect("decode"), data);
    }

    #[test]
    fn verify_shard_never_panics_on_arbitrary_bytes(
        commitment in proptest::collection::vec(any::<u8>(), 0..120),
        shard in proptest::collection::vec(any::<u8>(), 0..800),
        index in any::<u32>(),
    ) {
        let da = Zoda2d::new(6, 2, Params::certificate()).expect("tiny");
        prop_assert!(da.verify_shard(&commitment, index, &shard).is_err());
        prop_assert!(da.sample(&commitment, &[0; 32]).is_err());
    }

    #[test]
    fn mutated_commitments_and_shards_never_panic(
        byte in any::<usize>(), value in any::<u8>(), in_commitment in any::<bool>(),
        index in 0u32..6, len in 0usize..3000,
    ) {
        let da = Zoda2d::new(6, 2, Params::certificate()).expect("tiny");
        let enc = da.encode(&bytes(len, 7)).expect("encode");
        let mut commitment = enc.commitment.clone();
        let mut shard = enc.shards[index as usize].clone();
        let target = if in_commitment { &mut commitment } else { &mut shard };
        let pos = byte % target.len();
        let changed = target[pos] != value;
        target[pos] = value;
        let r = da.verify_shard(&commitment, index, &shard);
        if changed {
            prop_assert!(r.is_err(), "mutation at {} accepted", pos);
        }
    }
}
