//! Certificate verification at t = 683 of V = 1023: the plain osst crate (`osst::verify`, O(k²)
//! weights, constant-time MSM) against `fastverify` (prefix/suffix products, per-set Lagrange
//! tables, variable-time MSM), in the same run; plus one individual vote check and V = 6.
//! At V = 1023 also fastverify's three phases (decompressing the 683 points, the field work,
//! the MSM) and a scattered missing set (the weights cost depends only on |M|, not on its shape).
//! And what a certificate or vote message costs on its way in, before any check.

use std::hint::black_box;

use consensus_ssf::engine::Wire;
use consensus_ssf::fastverify::{check, parse, weights, Parsed};
use consensus_ssf::keys::{dealer_shares, key_set};
use consensus_ssf::vote::{
    sign, verify_certificate, verify_certificate_plain, verify_vote, verify_vote_uncached,
    Certificate, Subject, NOTARIZE,
};
use criterion::{criterion_group, criterion_main, Criterion};
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::{Event, Hash};

fn setup(
    v: usize,
    scattered: bool,
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
    // Signers: every index but the first V - t, or (scattered) every index but a deterministic
    // pseudo-random V - t.
    let t = keys.threshold;
    let signers: Vec<usize> = if scattered {
        let mut order: Vec<usize> = (0..v).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..v).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut chosen = order[..t].to_vec();
        chosen.sort_unstable();
        chosen
    } else {
        (v - t..v).collect()
    };
    let votes: Vec<_> = signers
        .iter()
        .map(|&i| sign(s, i as u32 + 1, &xs[i], &g, &keys))
        .collect();
    let cert = Certificate {
        subject: s,
        contributions: votes.iter().map(|v| v.contribution).collect(),
    };
    (g, keys, cert, votes[0].clone())
}

fn bench(c: &mut Criterion) {
    for v in [6usize, 1023] {
        let (g, keys, cert, vote) = setup(v, false);
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
        // The real check, not the process-wide memo (which `verify_vote` hits after the first).
        group.bench_function("one vote, individual check", |b| {
            b.iter(|| verify_vote_uncached(black_box(&vote), &g, &keys))
        });
        group.bench_function("one vote, remembered (memo hit)", |b| {
            b.iter(|| verify_vote(black_box(&vote), &g, &keys))
        });
        // What a received message costs before any check (the cost model's
        // `consensus.message`): the host encodes the event, the plugin's FFI layer decodes
        // it, the engine decodes its wire message. A certificate is the largest message.
        for (what, wire) in [
            ("certificate", Wire::Cert(cert.clone()).encode()),
            ("vote", Wire::Votes(vec![vote.clone()]).encode()),
        ] {
            group.bench_function(format!("{what} message in ({} B)", wire.len()), |b| {
                b.iter(|| {
                    let event = Event::Message {
                        from: 1,
                        bytes: black_box(&wire).clone(),
                    }
                    .encode();
                    let Ok(Event::Message { bytes, .. }) = decode_exact::<Event>(&event) else {
                        unreachable!("bench setup")
                    };
                    decode_exact::<Wire>(&bytes).expect("bench setup")
                })
            });
        }
        if v == 1023 {
            let payload = cert.subject.payload(&g, &keys.group);
            let parsed: Vec<Parsed> = cert
                .contributions
                .iter()
                .map(|b| parse(b).expect("canonical"))
                .collect();
            let w = weights(&parsed, t, &payload, &keys.tables).expect("weights");
            group.bench_function("fastverify phase: parse (decompress)", |b| {
                b.iter(|| {
                    black_box(&cert)
                        .contributions
                        .iter()
                        .map(parse)
                        .collect::<Option<Vec<_>>>()
                })
            });
            group.bench_function("fastverify phase: weights", |b| {
                b.iter(|| weights(black_box(&parsed), t, &payload, &keys.tables))
            });
            group.bench_function("fastverify phase: MSM", |b| {
                b.iter(|| check(&keys.group, black_box(&parsed), &w))
            });
            let (g2, keys2, cert2, _) = setup(v, true);
            verify_certificate(&cert2, &g2, &keys2).expect("fast accepts scattered");
            group.bench_function("fastverify, scattered missing set", |b| {
                b.iter(|| verify_certificate(black_box(&cert2), &g2, &keys2))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
