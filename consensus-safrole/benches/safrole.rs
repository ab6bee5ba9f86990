//! Safrole's cryptography on ark-vrf 0.1.0: ring commitment (gamma_z) at 6 and 1023 keys, ticket
//! verification at ring size 6 (a vector's proof), and one whole STF step with 3 tickets against
//! the same step with its verification cost alone, in the same run.

use consensus_safrole::safrole::codec::decode_case_any;
use consensus_safrole::safrole::ring::RingContext;
use consensus_safrole::safrole::stf::{transition, Spec};
use consensus_safrole::safrole::types::{Bytes, B32};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diverge_plugins::blake2b_256;
use std::path::Path;

fn vectors() -> std::path::PathBuf {
    std::env::var_os("DIVERGE_VECTORS")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
}

fn bench(c: &mut Criterion) {
    let srs =
        std::fs::read(vectors().join("safrole/zcash-srs-2-11-uncompressed.bin")).expect("SRS");
    let mut g = c.benchmark_group("safrole::ring");
    g.sample_size(10);
    for n in [6usize, 1023] {
        let ring = RingContext::from_srs(&srs, n).expect("ring");
        // Keys that are not curve points fall back to the padding point; real keys come from
        // the vectors for n = 6 and are hashes (mostly invalid points) for n = 1023, which costs
        // the same to commit to.
        let keys: Vec<B32> = (0..n as u32)
            .map(|i| Bytes(blake2b_256(&i.to_le_bytes()).0))
            .collect();
        g.bench_function(BenchmarkId::new("commitment", format!("keys={n}")), |b| {
            b.iter(|| ring.commitment(&keys).expect("commit"))
        });
    }
    g.finish();

    let bin =
        std::fs::read(vectors().join("safrole/tiny/publish-tickets-no-mark-2.bin")).expect("case");
    let (case, _, _) = decode_case_any(&bin).expect("decode");
    let ring = RingContext::from_srs(&srs, 6).expect("ring");
    let mut g = c.benchmark_group("safrole::tickets/ring=6");
    g.sample_size(10);
    let t = &case.input.extrinsic[0];
    let (gz, eta2) = (case.pre_state.gamma_z, case.pre_state.eta[2]);
    g.bench_function("verify_one_ticket", |b| {
        b.iter(|| {
            ring.verify_ticket(&gz, &eta2, t.attempt, &t.signature)
                .expect("valid")
        })
    });
    g.bench_function("stf_step_3_tickets", |b| {
        b.iter(|| transition(&Spec::TINY, &ring, &case.pre_state, &case.input).expect("ok"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
