//! Two valid votes of one index on conflicting subjects are reported with both votes as
//! evidence; the evidence verifies on its own.

use consensus_ssf::engine::{SsfConsensus, VoteEquivocation, Wire};
use consensus_ssf::keys::dealer_shares;
use consensus_ssf::vote::{sign, verify_vote, Certificate, Subject, FINALIZE, NOTARIZE};
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::{Action, ChainParams, Consensus, Event, Hash, InitArgs, ValidatorSecret};

fn node() -> SsfConsensus {
    SsfConsensus::new(&InitArgs {
        chain: ChainParams {
            slot_ms: 1000,
            ..ChainParams::tiny()
        },
        params_json: r#"{"keys": "dealer", "dealer_seed": "00ff"}"#.into(),
        validators: diverge_keys::dev_validators(6),
        identity: Some(ValidatorSecret {
            index: 0,
            seed: diverge_keys::dev_seed(0),
        }),
        genesis: Vec::new(),
    })
    .expect("engine")
}

fn reports(out: &[Action]) -> Vec<(u16, String, Vec<u8>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Misbehaviour {
                offender,
                kind,
                evidence,
            } => Some((*offender, kind.clone(), evidence.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn double_notarize_and_finalize_plus_skip_are_evidence() {
    let mut n = node();
    let (xs, _) = dealer_shares(&[0x00, 0xff], 6);
    let g = n.genesis();
    let keys = n.keys().expect("dealer keys exist at once").clone();
    let a = Subject {
        kind: NOTARIZE,
        slot: 3,
        hash: Hash([1; 32]),
        root: Hash([2; 32]),
    };
    let b = Subject {
        hash: Hash([3; 32]),
        ..a
    };
    let send = |n: &mut SsfConsensus, s: Subject| {
        let v = sign(s, 3, &xs[2], &g, &keys);
        n.on_event(
            10,
            Event::Message {
                from: 2,
                bytes: Wire::Votes(vec![v]).encode(),
            },
        )
        .expect("message")
    };
    assert!(reports(&send(&mut n, a)).is_empty());
    let r = reports(&send(&mut n, b));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].0, r[0].1.as_str()), (2, "ssf.vote.equivocation"));
    let ev: VoteEquivocation = decode_exact(&r[0].2).expect("evidence decodes");
    verify_vote(&ev.first, &g, &keys).expect("first verifies");
    verify_vote(&ev.second, &g, &keys).expect("second verifies");
    assert_ne!(ev.first.subject, ev.second.subject);
    // FINALIZE(s) then SKIP(s) from one index.
    let f = Subject {
        kind: FINALIZE,
        ..a
    };
    assert!(reports(&send(&mut n, f)).is_empty());
    let r = reports(&send(&mut n, Subject::skip(3)));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ssf.vote.equivocation");
    // Garbage bytes are an error, not a panic; a vote claiming another index is invalid.
    assert!(n
        .on_event(
            11,
            Event::Message {
                from: 1,
                bytes: vec![0, 1, 2, 200]
            }
        )
        .is_err());
    let v = sign(Subject::skip(4), 3, &xs[2], &g, &keys);
    let out = n
        .on_event(
            12,
            Event::Message {
                from: 1,
                bytes: Wire::Votes(vec![v]).encode(),
            },
        )
        .expect("message");
    let r = reports(&out);
    assert_eq!((r[0].0, r[0].1.as_str()), (1, "ssf.vote.invalid"));
}

fn requests(out: &[Action]) -> Vec<(Hash, u16)> {
    out.iter()
        .filter_map(|a| match a {
            Action::RequestBlock { hash, from } => Some((*hash, *from)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_checked_vote_or_certificate_for_a_missing_block_asks_its_sender_once() {
    let mut n = node();
    let (xs, _) = dealer_shares(&[0x00, 0xff], 6);
    let g = n.genesis();
    let keys = n.keys().expect("dealer keys exist at once").clone();
    let s = Subject {
        kind: NOTARIZE,
        slot: 3,
        hash: Hash([9; 32]),
        root: Hash([2; 32]),
    };
    let send = |n: &mut SsfConsensus, from: u16, w: Wire| {
        n.on_event(
            10,
            Event::Message {
                from,
                bytes: w.encode(),
            },
        )
        .expect("message")
    };
    // Slot 3 is running: its block may be in flight, so a vote for it asks for nothing yet.
    n.on_event(3_000_000, Event::Tick { slot: 3 })
        .expect("tick");
    let v = sign(s, 3, &xs[2], &g, &keys);
    assert!(requests(&send(&mut n, 2, Wire::Votes(vec![v]))).is_empty());
    n.on_event(5_000_000, Event::Tick { slot: 5 })
        .expect("tick");
    // An invalid vote (wrong response) asks for nothing; a SKIP names no block.
    let mut bad = sign(s, 3, &xs[2], &g, &keys);
    bad.contribution[36] ^= 1;
    assert!(requests(&send(&mut n, 2, Wire::Votes(vec![bad]))).is_empty());
    let skip = sign(Subject::skip(3), 3, &xs[2], &g, &keys);
    assert!(requests(&send(&mut n, 2, Wire::Votes(vec![skip]))).is_empty());
    // A valid NOTARIZE for an unknown block: ask its sender; a second vote for it: no more.
    let v = sign(s, 3, &xs[2], &g, &keys);
    assert_eq!(
        requests(&send(&mut n, 2, Wire::Votes(vec![v]))),
        vec![(s.hash, 2)]
    );
    let v = sign(s, 4, &xs[3], &g, &keys);
    assert!(requests(&send(&mut n, 3, Wire::Votes(vec![v]))).is_empty());
    // A FINALIZE certificate for another unknown block, forwarded by validator 4.
    let f = Subject {
        kind: FINALIZE,
        slot: 4,
        hash: Hash([11; 32]),
        root: Hash([2; 32]),
    };
    let cert = Certificate {
        subject: f,
        contributions: (0..keys.threshold)
            .map(|i| sign(f, i as u32 + 1, &xs[i], &g, &keys).contribution)
            .collect(),
    };
    assert_eq!(
        requests(&send(&mut n, 4, Wire::Cert(cert))),
        vec![(f.hash, 4)]
    );
}
