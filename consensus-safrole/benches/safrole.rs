//! Safrole's cryptography on ark-vrf 0.1.0: ring commitment (gamma_z) at 6 and 1023 keys, ticket
//! verification at ring size 6 (a vector's proof), and one whole STF step with 3 tickets against
//! the same step with its verification cost alone, in the same run. Then sealing: IETF VRF seal
//! and entropy sign/verify, ticket proof generation at ring sizes 6 and 1023 (prover cached, as
//! a validator makes all its tickets for one ring), ticket verification at 1023, and importing
//! one block of the JAM `traces/safrole` trace (decode, STF, seal and entropy verification),
//! cycling through its 100 blocks so the mean covers fallback, ticketed and epoch-change blocks.

use consensus_safrole::safrole::codec::decode_case_any;
use consensus_safrole::safrole::ring::RingContext;
use consensus_safrole::safrole::seal::{self, SealKind, SealSecret};
use consensus_safrole::safrole::stf::{transition, Spec};
use consensus_safrole::safrole::tickets::make_ticket;
use consensus_safrole::safrole::trace::{decode_step, import_block, step_files, TraceParams};
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
            b.iter(|| ring.commitment_uncached(&keys).expect("commit"))
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
            ring.verify_ticket_uncached(&gz, &eta2, t.attempt, &t.signature)
                .expect("valid")
        })
    });
    g.bench_function("stf_step_3_tickets", |b| {
        // Cold: the process-wide ticket memo would otherwise answer every check after the first.
        b.iter_batched(
            consensus_safrole::safrole::ring::clear_cache,
            |()| transition(&Spec::TINY, &ring, &case.pre_state, &case.input).expect("ok"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_sealing(c: &mut Criterion) {
    let secret = SealSecret::from_seed(&[1; 32]);
    let public = secret.public();
    let eta3 = [3u8; 32];
    // A tiny header's unsealed encoding is ~200 bytes; the VRF hashes it once.
    let header = [0x42u8; 200];
    let kind = SealKind::Ticket { attempt: 1 };
    let sealed = seal::sign_seal(&secret, kind, &eta3, &header);
    let y = seal::verify_seal(&public, kind, &eta3, &header, &sealed).expect("valid");
    let hv = seal::sign_entropy(&secret, &y);
    let mut g = c.benchmark_group("safrole::seal");
    g.bench_function("sign_seal", |b| {
        b.iter(|| seal::sign_seal(&secret, kind, &eta3, &header))
    });
    g.bench_function("verify_seal", |b| {
        b.iter(|| seal::verify_seal(&public, kind, &eta3, &header, &sealed).expect("valid"))
    });
    g.bench_function("sign_entropy", |b| {
        b.iter(|| seal::sign_entropy(&secret, &y))
    });
    g.bench_function("verify_entropy", |b| {
        b.iter(|| seal::verify_entropy(&public, &y, &hv).expect("valid"))
    });
    g.finish();

    let srs =
        std::fs::read(vectors().join("safrole/zcash-srs-2-11-uncompressed.bin")).expect("SRS");
    let eta2 = Bytes([2u8; 32]);
    let mut g = c.benchmark_group("safrole::ticket_prover");
    g.sample_size(10);
    for n in [6usize, 1023] {
        let ring = RingContext::from_srs(&srs, n).expect("ring");
        // The prover's own key is real; the others are hashes (mostly not curve points, so the
        // padding point), which costs the same to index and prove against.
        let mut keys: Vec<B32> = (0..n as u32)
            .map(|i| Bytes(blake2b_256(&i.to_le_bytes()).0))
            .collect();
        keys[0] = Bytes(public);
        let t0 = std::time::Instant::now();
        let (_, sig) = make_ticket(&ring, &keys, 0, &secret, &eta2, 0).expect("ticket");
        eprintln!(
            "ring={n}: first ticket incl. prover key: {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        );
        g.bench_function(BenchmarkId::new("make_ticket", format!("ring={n}")), |b| {
            b.iter(|| make_ticket(&ring, &keys, 0, &secret, &eta2, 1).expect("ticket"))
        });
        // Members taking turns on one ring, as simulated validators sharing this context do:
        // each ticket needs a prover for another index, from the serialized prover key (now)
        // or from a key rebuilt over the whole ring (before; `forget_prover_key`).
        let other = SealSecret::from_seed(&[9u8; 32]);
        let mut two = keys.clone();
        two[1] = Bytes(other.public());
        let members = [(0usize, &secret), (1usize, &other)];
        for (name, forget) in [("member_turns", false), ("member_turns_rebuilt_key", true)] {
            let mut turn = 0usize;
            g.bench_function(BenchmarkId::new(name, format!("ring={n}")), |b| {
                b.iter(|| {
                    turn += 1;
                    let (i, s) = members[turn % 2];
                    if forget {
                        ring.forget_prover_key();
                    }
                    make_ticket(&ring, &two, i, s, &eta2, 1).expect("ticket")
                })
            });
        }
        if n == 1023 {
            let gz = ring.commitment(&keys).expect("commit");
            ring.verify_ticket(&gz, &eta2, 0, &sig).expect("valid");
            g.bench_function("verify_ticket/ring=1023", |b| {
                b.iter(|| {
                    ring.verify_ticket_uncached(&gz, &eta2, 0, &sig)
                        .expect("valid")
                })
            });
        }
    }
    g.finish();

    let p = TraceParams::TINY;
    let ring = RingContext::from_srs(&srs, p.validators).expect("ring");
    let steps: Vec<Vec<u8>> = step_files(&vectors().join("traces/safrole"))
        .expect("trace")
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    let mut g = c.benchmark_group("safrole::trace");
    let mut i = 0usize;
    g.bench_function("import_one_block", |b| {
        // Each block as a node first sees it: no remembered ticket verdicts or commitments.
        b.iter(|| {
            consensus_safrole::safrole::ring::clear_cache();
            let bytes = &steps[i % steps.len()];
            i += 1;
            let step = decode_step(bytes, &p).expect("decode");
            let pre = step.pre_state.safrole(&p).expect("pre-state");
            import_block(&p, &ring, &pre, &step.block).expect("imports")
        })
    });
    // The mean's parts: a block with no tickets and no epoch change (seal and entropy VRFs,
    // STF bookkeeping), and decoding alone (the step's raw states dominate its bytes).
    let plain = &steps[1];
    g.bench_function("import_plain_block", |b| {
        b.iter(|| {
            let step = decode_step(plain, &p).expect("decode");
            let pre = step.pre_state.safrole(&p).expect("pre-state");
            import_block(&p, &ring, &pre, &step.block).expect("imports")
        })
    });
    g.bench_function("decode_step_and_state", |b| {
        b.iter(|| {
            let step = decode_step(plain, &p).expect("decode");
            step.pre_state.safrole(&p).expect("pre-state")
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_sealing);
criterion_main!(benches);
