//! Votes and certificates: the individual Schnorr check, the aggregate check (against the
//! plain osst crate), and the refusals.

use consensus_ssf::keys::{dealer_shares, key_set, threshold};
use consensus_ssf::vote::{
    decode, sign, verify_certificate, verify_certificate_plain, verify_vote, verify_vote_uncached,
    Certificate, Subject, VoteError, NOTARIZE,
};
use diverge_plugins::Hash;

fn subject(slot: u32) -> Subject {
    Subject {
        kind: NOTARIZE,
        slot,
        hash: Hash([slot as u8; 32]),
        root: Hash([9; 32]),
    }
}

#[test]
fn thresholds() {
    assert_eq!(threshold(6), 5);
    assert_eq!(threshold(7), 5);
    assert_eq!(threshold(1023), 683);
}

#[test]
fn votes_verify_individually_and_aggregate_like_the_crate() {
    let g = Hash([1; 32]);
    let (keys, _) = key_set(b"seed", 10, None);
    let (xs, _) = dealer_shares(b"seed", 10);
    let s = subject(3);
    let votes: Vec<_> = (0..10)
        .map(|i| sign(s, i as u32 + 1, &xs[i], &g, &keys))
        .collect();
    for v in &votes {
        verify_vote(v, &g, &keys).expect("valid vote");
    }
    // Same subject, same secret: the same (deterministic-nonce) vote.
    assert_eq!(votes[0], sign(s, 1, &xs[0], &g, &keys));
    let t = keys.threshold;
    let cert = Certificate {
        subject: s,
        contributions: votes
            .iter()
            .skip(2)
            .take(t)
            .map(|v| v.contribution)
            .collect(),
    };
    verify_certificate(&cert, &g, &keys).expect("valid certificate");
    verify_certificate_plain(&cert, &g, &keys).expect("valid for the plain crate");
    // Every subset size and position: the fast check agrees with the crate's.
    for skip in 0..=(10 - t) {
        for len in t..=(10 - skip) {
            let c = Certificate {
                subject: s,
                contributions: votes
                    .iter()
                    .skip(skip)
                    .take(len)
                    .map(|v| v.contribution)
                    .collect(),
            };
            assert_eq!(
                verify_certificate(&c, &g, &keys),
                Ok(()),
                "skip {skip} len {len}"
            );
            let mut bad = c.clone();
            bad.contributions[len - 1][40] ^= 1;
            let fast = verify_certificate(&bad, &g, &keys).is_ok();
            let plain = verify_certificate_plain(&bad, &g, &keys).is_ok();
            assert!(!fast && !plain, "skip {skip} len {len}");
        }
    }
    let cs: Vec<_> = cert
        .contributions
        .iter()
        .map(|b| decode(b, 10).expect("decodes"))
        .collect();
    let payload = s.payload(&g, &keys.group);
    assert_eq!(
        osst::verify(&keys.group, &cs, t as u32, &payload).ok(),
        Some(true)
    );
    // Another slot's payload, another chain, too few, duplicates: refused.
    let other = Certificate {
        subject: subject(4),
        ..cert.clone()
    };
    assert_eq!(
        verify_certificate(&other, &g, &keys),
        Err(VoteError::Aggregate)
    );
    assert_eq!(
        verify_certificate(&cert, &Hash([2; 32]), &keys),
        Err(VoteError::Aggregate)
    );
    let few = Certificate {
        contributions: cert.contributions[..t - 1].to_vec(),
        ..cert.clone()
    };
    assert!(matches!(
        verify_certificate(&few, &g, &keys),
        Err(VoteError::TooFew { .. })
    ));
    let mut dup = cert.clone();
    dup.contributions[1] = dup.contributions[0];
    assert!(verify_certificate(&dup, &g, &keys).is_err());
}

#[test]
fn bad_votes_are_refused_and_name_their_index() {
    let g = Hash([1; 32]);
    let (keys, _) = key_set(b"seed", 6, None);
    let (xs, _) = dealer_shares(b"seed", 6);
    let v = sign(subject(1), 2, &xs[1], &g, &keys);
    // Wrong share for the claimed index.
    let forged = sign(subject(1), 3, &xs[1], &g, &keys);
    assert_eq!(verify_vote(&forged, &g, &keys), Err(VoteError::Invalid(3)));
    // Flipped response bit.
    let mut bad = v.clone();
    bad.contribution[36] ^= 1;
    assert_eq!(verify_vote(&bad, &g, &keys), Err(VoteError::Invalid(2)));
    // Moved to another subject.
    let mut moved = v.clone();
    moved.subject = subject(2);
    assert!(verify_vote(&moved, &g, &keys).is_err());
    // Index 0 and out of range; garbage point; SKIP naming a block.
    for i in [0u32, 7, u32::MAX] {
        let mut w = v.clone();
        w.contribution[..4].copy_from_slice(&i.to_le_bytes());
        assert_eq!(verify_vote(&w, &g, &keys), Err(VoteError::Index(i)));
    }
    let mut w = v.clone();
    w.contribution[4..36].copy_from_slice(&[0xff; 32]);
    assert_eq!(verify_vote(&w, &g, &keys), Err(VoteError::Encoding));
    let mut w = v;
    w.subject.kind = consensus_ssf::vote::SKIP;
    assert_eq!(verify_vote(&w, &g, &keys), Err(VoteError::Subject));
}

#[test]
fn fast_check_agrees_with_the_crate_on_scattered_signer_sets() {
    let g = Hash([3; 32]);
    let n = 100;
    let (keys, _) = key_set(b"scatter", n, None);
    let (xs, _) = dealer_shares(b"scatter", n);
    let s = subject(5);
    let t = keys.threshold;
    for step in [1usize, 3, 7] {
        // Indices spread over 1..=n by a stride, so the missing set is scattered.
        let mut idx: Vec<usize> = (0..n).map(|k| (k * step) % n).collect();
        idx.dedup();
        let chosen: Vec<usize> = idx.into_iter().take(t + step % 3).collect();
        let cert = Certificate {
            subject: s,
            contributions: chosen
                .iter()
                .map(|&i| sign(s, i as u32 + 1, &xs[i], &g, &keys).contribution)
                .collect(),
        };
        assert_eq!(
            verify_certificate(&cert, &g, &keys),
            Ok(()),
            "stride {step}"
        );
        assert_eq!(
            verify_certificate_plain(&cert, &g, &keys),
            Ok(()),
            "stride {step}"
        );
        let mut bad = cert.clone();
        bad.contributions.swap(0, 1);
        bad.contributions[0][..4].copy_from_slice(&(chosen[0] as u32 + 1).to_le_bytes());
        assert!(verify_certificate(&bad, &g, &keys).is_err());
        assert!(verify_certificate_plain(&bad, &g, &keys).is_err());
    }
}

#[test]
fn a_vote_is_checked_only_against_the_sharing_it_names() {
    let g = Hash([1; 32]);
    let (keys, _) = key_set(b"seed", 6, None);
    let (xs, _) = dealer_shares(b"seed", 6);
    let v = sign(subject(3), 2, &xs[1], &g, &keys);
    assert_eq!(v.sharing, keys.id);
    verify_vote(&v, &g, &keys).expect("its own sharing");
    let mut other = v.clone();
    other.sharing = keys.id + 1;
    assert_eq!(
        verify_vote(&other, &g, &keys),
        Err(VoteError::Sharing(keys.id + 1))
    );
    // Under another sharing's key set with the same id the Schnorr check fails: y_i differs.
    let (mut next, _) = key_set(b"next", 6, None);
    next.id = keys.id;
    assert_eq!(verify_vote(&v, &g, &next), Err(VoteError::Invalid(2)));
}

#[test]
fn a_remembered_verdict_equals_the_real_one_and_tampering_is_still_refused() {
    let g = Hash([7; 32]);
    let (keys, _) = key_set(b"memo", 7, None);
    let (xs, _) = dealer_shares(b"memo", 7);
    let vote = sign(subject(5), 2, &xs[1], &g, &keys);
    // The first check fills the memo, the second hits it: both agree with the real check.
    assert_eq!(verify_vote_uncached(&vote, &g, &keys), Ok(()));
    assert_eq!(verify_vote(&vote, &g, &keys), Ok(()));
    assert_eq!(verify_vote(&vote, &g, &keys), Ok(()));
    // Every field of the vote is in the key: each tampered copy gets the real verdict.
    let mut tampered = Vec::new();
    for byte in [4, 20, 36, 50, 67] {
        let mut v = vote.clone();
        v.contribution[byte] ^= 1;
        tampered.push(v);
    }
    let mut v = vote.clone();
    v.subject.slot += 1;
    tampered.push(v);
    let mut v = vote.clone();
    v.subject.root = Hash([8; 32]);
    tampered.push(v);
    let mut v = vote.clone();
    v.sharing = 1;
    tampered.push(v);
    for v in &tampered {
        let real = verify_vote_uncached(v, &g, &keys);
        assert!(real.is_err(), "{v:?}");
        assert_eq!(verify_vote(v, &g, &keys), real);
        assert_eq!(
            verify_vote(v, &g, &keys),
            real,
            "a failure is never remembered"
        );
    }
    // The same bytes under another chain, group key or verification share: not a hit.
    assert!(verify_vote(&vote, &Hash([6; 32]), &keys).is_err());
    let (other, _) = key_set(b"other", 7, None);
    assert!(verify_vote(&vote, &g, &other).is_err());
    let mut swapped = keys.clone();
    swapped.shares.swap(1, 2);
    assert_eq!(verify_vote(&vote, &g, &swapped), Err(VoteError::Invalid(2)));
    // Still remembered for the right inputs, and the memo can be emptied.
    assert_eq!(verify_vote(&vote, &g, &keys), Ok(()));
    consensus_ssf::vote::clear_vote_cache();
    assert_eq!(verify_vote(&vote, &g, &keys), Ok(()));
}
