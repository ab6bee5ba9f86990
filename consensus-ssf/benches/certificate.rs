//! Certificate verification at t = 683 of V = 1023: the plain osst crate (`osst::verify`, O(k²)
//! weights, constant-time MSM) against `fastverify` (prefix/suffix products, per-set Lagrange
//! tables, variable-time MSM), in the same run; plus one individual vote check and V = 6.

use std::hint::black_box;

use consensus_ssf::keys::{dealer_shares, key_set};
use consensus_ssf::vote::{
    sign, verify_certificate, verify_certificate_plain, verify_vote, Certificate, Subject, NOTARIZE,
};
use criterion::{criterion_group, criterion_main, Criterion};
use diverge_plugins::Hash;

fn setup(
    v: usize,
) -> (
    Hash,
    consensus_ssf::keys::KeySet,
    Certificate,
    consensus_ssf::vote::Vote,
) {
    let g = Hash([1; 32]);
    let (keys, _) = key_set(b"bench", v, None);
    let (xs, _) = dealer_shares(b"bench", v);
    let s = Subject {
        kind: NOTARIZE,
        slot: 7,
        hash: Hash([7; 32]),
        root: Hash([8; 32]),
    };
    // Signers: every index but the first V - t (a realistic missing set).
    let t = keys.threshold;
    let votes: Vec<_> = (v - t..v)
        .map(|i| sign(s, i as u32 + 1, &xs[i], &g, &keys))
        .collect();
    let cert = Certificate {
        subject: s,
        contributions: votes.iter().map(|v| v.contribution).collect(),
    };
    (g, keys, cert, votes[0].clone())
}

fn bench(c: &mut Criterion) {
    for v in [6usize, 1023] {
        let (g, keys, cert, vote) = setup(v);
        let t = keys.threshold;
        verify_certificate(&cert, &g, &keys).expect("fast accepts");
        verify_certificate_plain(&cert, &g, &keys).expect("plain accepts");
        let mut group = c.benchmark_group(format!("certificate t={t} of {v}"));
        group.sample_size(10);
        group.bench_function("osst::verify (plain crate)", |b| {
            b.iter(|| verify_certificate_plain(black_box(&cert), &g, &keys))
        });
        group.bench_function("fastverify", |b| {
            b.iter(|| verify_certificate(black_box(&cert), &g, &keys))
        });
        group.bench_function("one vote, individual check", |b| {
            b.iter(|| verify_vote(black_box(&vote), &g, &keys))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
