//! Several GRANDPA voters on an in-memory network in virtual time: continuous finality, one
//! voter offline, two offline (stall, then recovery), an equivocating voter, determinism.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use consensus_safrole::grandpa::messages::{Message, SignedVote, VoteKind};
use consensus_safrole::grandpa::voter::{Output, Time, Voter, VoterConfig};
use diverge_plugins::{blake2b_256, Hash};
use ed25519_dalek::SigningKey;

const SEC: Time = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Block {
        number: u32,
    },
    /// A block off the canonical chain, validated only by the voters listed.
    Side {
        hash: Hash,
        parent: Hash,
        valid_at: Vec<usize>,
    },
    /// Voter `who` validates `hash` (late).
    Validate {
        who: usize,
        hash: Hash,
    },
    Timer {
        who: usize,
    },
    Deliver {
        to: usize,
        msg: Vec<u8>,
    },
}

struct Net {
    voters: Vec<Voter>,
    online: Vec<bool>,
    queue: BinaryHeap<Reverse<(Time, u64, Ev)>>,
    seq: u64,
    delay: Time,
    chain: Vec<Hash>,
    /// (time, voter, number) of every finalization.
    finalized: Vec<(Time, usize, u32)>,
    misbehaviour: Vec<(usize, u16, String)>,
    keys: Vec<SigningKey>,
    strict_chain: bool,
    finalized_hashes: Vec<(usize, u32, Hash)>,
    justifications: Vec<consensus_safrole::grandpa::messages::Justification>,
    /// (voter, name, fields) of every telemetry output.
    telemetry: Vec<(usize, &'static str, serde_json::Value)>,
    /// Each voter's last journal.
    journals: Vec<Vec<SignedVote>>,
}

fn key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&blake2b_256(&[i as u8; 4]).0)
}

impl Net {
    fn new(n: usize, blocks: u32, slot: Time) -> Net {
        let keys: Vec<SigningKey> = (0..n).map(key).collect();
        let cfg = VoterConfig {
            gossip: SEC / 5,
            set_id: 0,
            keys: keys.iter().map(SigningKey::verifying_key).collect(),
        };
        let genesis = blake2b_256(b"genesis");
        let mut chain = vec![genesis];
        for i in 1..=blocks {
            chain.push(blake2b_256(&i.to_le_bytes()));
        }
        let voters = (0..n)
            .map(|i| {
                Voter::new(
                    cfg.clone(),
                    Some((i as u16, keys[i].clone())),
                    genesis,
                    Hash::ZERO,
                    0,
                )
            })
            .collect();
        let mut net = Net {
            voters,
            online: vec![true; n],
            queue: BinaryHeap::new(),
            seq: 0,
            delay: 50_000,
            chain,
            finalized: Vec::new(),
            misbehaviour: Vec::new(),
            keys,
            strict_chain: true,
            finalized_hashes: Vec::new(),
            justifications: Vec::new(),
            telemetry: Vec::new(),
            journals: vec![Vec::new(); n],
        };
        for number in 1..=blocks {
            net.push(Time::from(number) * slot, Ev::Block { number });
        }
        for who in 0..n {
            net.collect(who, 0);
        }
        net
    }

    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn collect(&mut self, who: usize, now: Time) {
        for out in self.voters[who].drain() {
            match out {
                Output::Broadcast(m) => {
                    // Write-ahead: an own vote leaves only after a journal holding it.
                    if let Message::Vote(v) = &m {
                        if usize::from(v.voter) == who {
                            assert!(
                                self.journals[who].contains(v),
                                "voter {who} sent a vote its journal lacks"
                            );
                        }
                    }
                    self.broadcast(who, now, &m)
                }
                Output::Journal(votes) => self.journals[who] = votes,
                Output::SetTimer(at) => self.push(at, Ev::Timer { who }),
                Output::Finalized {
                    number,
                    hash,
                    justification,
                } => {
                    self.justifications.push(justification);
                    if self.strict_chain {
                        assert_eq!(hash, self.chain[number as usize], "finalized off the chain");
                    }
                    self.finalized_hashes.push((who, number, hash));
                    self.finalized.push((now, who, number));
                }
                Output::Misbehaviour {
                    offender,
                    kind,
                    evidence,
                } => {
                    assert!(evidence.verify(&self.keys[usize::from(offender)].verifying_key()));
                    self.misbehaviour.push((who, offender, kind));
                }
                Output::Telemetry(name, fields) => self.telemetry.push((who, name, fields)),
            }
        }
    }

    fn broadcast(&mut self, from: usize, now: Time, m: &Message) {
        if !self.online[from] {
            return;
        }
        let bytes = diverge_plugins::codec::Encode::encode(m);
        for to in 0..self.voters.len() {
            if to != from {
                self.push(
                    now + self.delay,
                    Ev::Deliver {
                        to,
                        msg: bytes.clone(),
                    },
                );
            }
        }
    }

    fn run_until(&mut self, end: Time) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > end {
                break;
            }
            let Some(Reverse((now, _, ev))) = self.queue.pop() else {
                break;
            };
            match ev {
                Ev::Block { number } => {
                    let (hash, parent) =
                        (self.chain[number as usize], self.chain[number as usize - 1]);
                    for who in 0..self.voters.len() {
                        // Offline voters miss nothing of the chain: block sync is the host's job.
                        self.voters[who].import_block(now, hash, parent, Hash::ZERO);
                        self.voters[who].block_validated(now, hash, true);
                        self.collect(who, now);
                    }
                }
                Ev::Side {
                    hash,
                    parent,
                    valid_at,
                } => {
                    for who in 0..self.voters.len() {
                        self.voters[who].import_block(now, hash, parent, Hash::ZERO);
                        if valid_at.contains(&who) {
                            self.voters[who].block_validated(now, hash, true);
                        }
                        self.collect(who, now);
                    }
                }
                Ev::Validate { who, hash } => {
                    self.voters[who].block_validated(now, hash, true);
                    self.collect(who, now);
                }
                Ev::Timer { who } => {
                    if self.online[who] {
                        self.voters[who].on_timer(now);
                        self.collect(who, now);
                    } else {
                        // Keep its clock alive so it resumes when back.
                        self.push(now + SEC / 5, Ev::Timer { who });
                    }
                }
                Ev::Deliver { to, msg } => {
                    if self.online[to] {
                        let m: Message =
                            diverge_plugins::codec::decode_exact(&msg).expect("decode");
                        self.voters[to]
                            .on_message(now, m)
                            .expect("honest message accepted");
                        self.collect(to, now);
                    }
                }
            }
        }
    }

    fn best_final(&self, who: usize) -> u32 {
        self.voters[who].finalized().1
    }
}

#[test]
fn a_lone_voter_finalizes_by_itself() {
    // `diverge run --dev`: one voter is its own supermajority; a round still waits for its
    // 2T and 4T timers (T = 200 ms here), so finality trails the 1 s blocks by about a round.
    let mut net = Net::new(1, 10, SEC);
    net.run_until(11 * SEC);
    assert!(net.best_final(0) >= 9, "finalized {}", net.best_final(0));
    assert!(net.misbehaviour.is_empty());
}

#[test]
fn each_own_vote_is_reported_with_its_round_and_target() {
    let mut net = Net::new(4, 6, SEC);
    net.run_until(8 * SEC);
    for who in 0..4 {
        for step in ["consensus.grandpa.prevote", "consensus.grandpa.precommit"] {
            let votes: Vec<&serde_json::Value> = net
                .telemetry
                .iter()
                .filter(|(w, n, _)| *w == who && *n == step)
                .map(|(_, _, f)| f)
                .collect();
            assert!(votes.len() >= 2, "voter {who}: {} {step}", votes.len());
            // Rounds strictly increase (one vote per step and round), each names a chain block.
            for pair in votes.windows(2) {
                assert!(pair[0]["round"].as_u64() < pair[1]["round"].as_u64());
            }
            for v in &votes {
                assert_eq!(v["voter"].as_u64(), Some(who as u64));
                let number = v["number"].as_u64().expect("number") as usize;
                assert_eq!(v["target"], net.chain[number].to_hex(), "{v}");
            }
        }
    }
}

#[test]
fn six_voters_finalize_continuously() {
    let mut net = Net::new(6, 20, SEC);
    net.run_until(22 * SEC);
    for who in 0..6 {
        assert!(
            net.best_final(who) >= 19,
            "voter {who} finalized only {}",
            net.best_final(who)
        );
    }
    // Finality keeps up with the chain: every block is final within 2 s of being produced
    // (T = 200 ms, 50 ms links, 1 s blocks).
    let mut lags = Vec::new();
    for number in 1..=19u32 {
        let first = net
            .finalized
            .iter()
            .filter(|(_, _, n)| *n >= number)
            .map(|(t, _, _)| *t)
            .min();
        let t = first.expect("finalized");
        let lag = t - Time::from(number) * SEC;
        assert!(
            lag <= 2 * SEC,
            "block {number} final {lag} us after production"
        );
        lags.push(lag);
    }
    lags.sort_unstable();
    eprintln!(
        "finality lag (first voter): p50 {} ms, max {} ms",
        lags[lags.len() / 2] / 1000,
        lags[lags.len() - 1] / 1000
    );
}

#[test]
fn one_voter_offline_still_finalizes() {
    let mut net = Net::new(6, 15, SEC);
    net.online[5] = false;
    net.run_until(17 * SEC);
    for who in 0..5 {
        assert!(
            net.best_final(who) >= 14,
            "voter {who}: {}",
            net.best_final(who)
        );
    }
}

#[test]
fn two_offline_stall_safely_and_recover_when_one_returns() {
    let mut net = Net::new(6, 30, SEC);
    net.online[4] = false;
    net.online[5] = false;
    net.run_until(10 * SEC);
    for who in 0..4 {
        assert_eq!(net.best_final(who), 0, "finalized with 4 of 6 voters");
    }
    net.online[4] = true;
    net.run_until(32 * SEC);
    for who in 0..5 {
        assert!(
            net.best_final(who) >= 29,
            "voter {who} after recovery: {}",
            net.best_final(who)
        );
    }
}

#[test]
fn a_voter_back_from_a_long_absence_rejoins_the_current_round() {
    // Voter 5 is away while the others run ~40 rounds; then voter 4 leaves and 5 returns: only
    // if 5 catches up to the current round (commits carry it there) does finality resume.
    let mut net = Net::new(6, 40, SEC);
    net.online[5] = false;
    net.run_until(20 * SEC);
    let before = net.best_final(0);
    assert!(before >= 18, "{before}");
    assert!(
        net.voters[0].round() > 20,
        "round {}",
        net.voters[0].round()
    );
    net.online[4] = false;
    net.online[5] = true;
    net.run_until(42 * SEC);
    assert!(
        net.best_final(5) >= 39,
        "returning voter finalized {}",
        net.best_final(5)
    );
    assert!(
        net.best_final(0) >= 39,
        "finality resumed only to {}",
        net.best_final(0)
    );
}

#[test]
fn an_equivocating_voter_is_reported_with_verifiable_evidence() {
    let mut net = Net::new(6, 5, SEC);
    net.run_until(3 * SEC);
    // Voter 0 signs a second, different prevote in the current round of voter 1.
    let round = net.voters[1].round();
    let genesis = net.chain[0];
    let bogus = SignedVote::sign(
        &net.keys[0],
        0,
        0,
        round,
        VoteKind::Prevote,
        genesis,
        0,
        Hash::ZERO,
    );
    let honest_target = net.chain[3];
    let first = SignedVote::sign(
        &net.keys[0],
        0,
        0,
        round,
        VoteKind::Prevote,
        honest_target,
        3,
        Hash::ZERO,
    );
    for m in [first, bogus] {
        let bytes = diverge_plugins::codec::Encode::encode(&Message::Vote(m));
        for to in 1..6 {
            net.push(
                3 * SEC + 1,
                Ev::Deliver {
                    to,
                    msg: bytes.clone(),
                },
            );
        }
    }
    net.run_until(4 * SEC);
    let reporters: Vec<usize> = net
        .misbehaviour
        .iter()
        .filter(|(_, o, k)| *o == 0 && k == "grandpa.prevote.equivocation")
        .map(|(w, _, _)| *w)
        .collect();
    assert!(reporters.len() >= 4, "reported by {reporters:?}");
}

#[test]
fn split_validation_views_never_finalize_conflicting_forks() {
    // Two forks above block 2; half the voters validated only fork A, half only fork B. Neither
    // side has 5 of 6, so nothing above 2 may be final until everyone validates fork A.
    let mut net = Net::new(6, 2, SEC);
    net.strict_chain = false;
    let (mut pa, mut pb) = (net.chain[2], net.chain[2]);
    let mut fork_a = Vec::new();
    for i in 0..5u32 {
        let a = blake2b_256(&[b"a".as_slice(), &i.to_le_bytes()].concat());
        let b = blake2b_256(&[b"b".as_slice(), &i.to_le_bytes()].concat());
        let at = 3 * SEC + Time::from(i) * SEC;
        net.push(
            at,
            Ev::Side {
                hash: a,
                parent: pa,
                valid_at: vec![0, 1, 2],
            },
        );
        net.push(
            at,
            Ev::Side {
                hash: b,
                parent: pb,
                valid_at: vec![3, 4, 5],
            },
        );
        fork_a.push(a);
        (pa, pb) = (a, b);
    }
    net.run_until(10 * SEC);
    for who in 0..6 {
        assert!(
            net.best_final(who) <= 2,
            "voter {who} finalized {} on split views",
            net.best_final(who)
        );
    }
    for who in 3..6 {
        for a in &fork_a {
            net.push(10 * SEC, Ev::Validate { who, hash: *a });
        }
    }
    net.run_until(14 * SEC);
    for who in 0..6 {
        assert_eq!(net.best_final(who), 7, "voter {who}");
    }
    let fork_a: std::collections::HashSet<Hash> = fork_a.into_iter().collect();
    for (who, number, hash) in &net.finalized_hashes {
        assert!(
            *number <= 2 || fork_a.contains(hash),
            "voter {who} finalized {hash:?} off fork A"
        );
    }
}

#[test]
fn justifications_verify_with_headers_only_and_tampering_fails() {
    let mut net = Net::new(6, 6, SEC);
    net.run_until(8 * SEC);
    let j = net
        .justifications
        .last()
        .expect("something finalized")
        .clone();
    let keys: Vec<_> = net.keys.iter().map(SigningKey::verifying_key).collect();
    // A light client's view: just (parent, number) per header.
    let chain = net.chain.clone();
    let header = move |h: &Hash| {
        chain
            .iter()
            .position(|c| c == h)
            .filter(|&i| i > 0)
            .map(|i| (chain[i - 1], i as u32))
    };
    j.verify(0, &keys, &header, true)
        .expect("valid justification");
    assert!(
        j.verify(1, &keys, &header, true).is_err(),
        "wrong set accepted"
    );
    let mut few = j.clone();
    few.precommits.truncate(4);
    assert!(
        few.verify(0, &keys, &header, true).is_err(),
        "4 of 6 accepted"
    );
    let mut forged = j.clone();
    forged.precommits[0].signature[0] ^= 1;
    assert!(
        forged.verify(0, &keys, &header, true).is_err(),
        "bad signature accepted"
    );
    let mut higher = j.clone();
    higher.target = net.chain[6];
    higher.number = 6;
    if j.number < 6 {
        assert!(
            higher.verify(0, &keys, &header, true).is_err(),
            "claimed a later block"
        );
    }
}

#[test]
fn forged_and_foreign_votes_are_rejected() {
    let mut net = Net::new(6, 2, SEC);
    let genesis = net.chain[0];
    let mut v = SignedVote::sign(
        &net.keys[2],
        2,
        0,
        1,
        VoteKind::Prevote,
        genesis,
        0,
        Hash::ZERO,
    );
    v.voter = 3; // claims to be someone else
    assert!(net.voters[0].on_message(0, Message::Vote(v)).is_err());
    let other_set = SignedVote::sign(
        &net.keys[2],
        2,
        7,
        1,
        VoteKind::Prevote,
        genesis,
        0,
        Hash::ZERO,
    );
    assert!(net.voters[0]
        .on_message(0, Message::Vote(other_set))
        .is_err());
    let stranger = SignedVote::sign(
        &key(99),
        40,
        0,
        1,
        VoteKind::Prevote,
        genesis,
        0,
        Hash::ZERO,
    );
    assert!(net.voters[0]
        .on_message(0, Message::Vote(stranger))
        .is_err());
}

#[test]
fn same_inputs_same_history() {
    let run = || {
        let mut net = Net::new(6, 10, SEC);
        net.online[2] = false;
        net.run_until(12 * SEC);
        net.finalized
    };
    let a = run();
    assert!(!a.is_empty());
    assert_eq!(a, run());
}

#[test]
fn a_remembered_signature_verdict_equals_the_real_one_and_tampering_is_still_refused() {
    let target = Hash([3; 32]);
    let v = SignedVote::sign(
        &key(1),
        1,
        0,
        4,
        VoteKind::Precommit,
        target,
        2,
        Hash([4; 32]),
    );
    let (k1, k2) = (key(1).verifying_key(), key(2).verifying_key());
    // The first check fills the memo, the second hits it: both agree with the real check.
    assert!(v.verify_uncached(&k1));
    assert!(v.verify(&k1));
    assert!(v.verify(&k1));
    // Another voter's key is another input: no hit, the real (failing) verdict.
    assert!(!v.verify(&k2));
    let mut tampered = Vec::new();
    let mut t = v.clone();
    t.signature[10] ^= 1;
    tampered.push(t);
    let mut t = v.clone();
    t.round += 1;
    tampered.push(t);
    let mut t = v.clone();
    t.kind = VoteKind::Prevote;
    tampered.push(t);
    let mut t = v.clone();
    t.state_root = Hash([5; 32]);
    tampered.push(t);
    let mut t = v.clone();
    t.number += 1;
    tampered.push(t);
    for t in &tampered {
        assert!(!t.verify_uncached(&k1), "{t:?}");
        assert!(!t.verify(&k1), "tampered vote accepted: {t:?}");
        assert!(!t.verify(&k1), "a failure is never remembered: {t:?}");
    }
    // The voter index is not signed: the caller picks the key by it (attribution), so a
    // relabelled copy checks against the claimed voter's key and fails.
    let mut relabelled = v.clone();
    relabelled.voter = 2;
    assert!(!relabelled.verify(&k2));
    consensus_safrole::grandpa::messages::clear_vote_cache();
    assert!(v.verify(&k1));
}
