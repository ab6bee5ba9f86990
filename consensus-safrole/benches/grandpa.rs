//! GRANDPA vote processing at 6 and 1023 voters: a whole round's prevotes and precommits through
//! a voter (signature checks included), against the raw cost of verifying the same signatures
//! alone in the same run, so the ratio shows what the vote arithmetic adds.

use consensus_safrole::grandpa::messages::{clear_vote_cache, Message, SignedVote, VoteKind};
use consensus_safrole::grandpa::voter::{Voter, VoterConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diverge_plugins::{blake2b_256, Hash};
use ed25519_dalek::SigningKey;

fn bench(c: &mut Criterion) {
    for n in [6usize, 1023] {
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| SigningKey::from_bytes(&blake2b_256(&(i as u32).to_le_bytes()).0))
            .collect();
        let cfg = VoterConfig {
            gossip: 1_000_000,
            set_id: 0,
            keys: keys.iter().map(SigningKey::verifying_key).collect(),
        };
        let genesis = blake2b_256(b"genesis");
        let chain: Vec<Hash> = (1..=8u32).map(|i| blake2b_256(&i.to_le_bytes())).collect();
        let t = 2 * n / 3 + 1;
        let votes: Vec<Message> = [VoteKind::Prevote, VoteKind::Precommit]
            .into_iter()
            .flat_map(|kind| {
                let (keys, chain) = (&keys, &chain);
                (0..t).map(move |i| {
                    // Voters' views differ by a block or two, as on a real network.
                    let h = 7 - (i % 3);
                    Message::Vote(SignedVote::sign(
                        &keys[i],
                        i as u16,
                        0,
                        1,
                        kind,
                        chain[h],
                        h as u32 + 1,
                        Hash::ZERO,
                    ))
                })
            })
            .collect();
        let fresh = || {
            let mut v = Voter::new(cfg.clone(), None, genesis, Hash::ZERO, 0);
            let mut parent = genesis;
            for h in &chain {
                v.import_block(0, *h, parent, Hash::ZERO);
                v.block_validated(0, *h, true);
                parent = *h;
            }
            v
        };
        let mut g = c.benchmark_group(format!("grandpa::round/voters={n}"));
        g.sample_size(10);
        g.bench_function(BenchmarkId::from_parameter("voter_import_all"), |b| {
            b.iter_batched(
                // The real checks each time, not the process-wide memo of verified votes.
                || {
                    clear_vote_cache();
                    fresh()
                },
                |mut v| {
                    for m in &votes {
                        v.on_message(1, m.clone()).expect("valid vote");
                    }
                    assert!(v.finalized().1 >= 6);
                    v
                },
                criterion::BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::from_parameter("signatures_only"), |b| {
            b.iter(|| {
                votes
                    .iter()
                    .filter(|m| match m {
                        Message::Vote(v) => v.verify_uncached(&cfg.keys[usize::from(v.voter)]),
                        Message::Commit(_) => false,
                    })
                    .count()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
