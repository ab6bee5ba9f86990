//! The genesis DKG (FROST over ristretto255) in virtual time: six validators generate the
//! key in-protocol and then finalize every slot; DKG shares are OSST shares; a late validator
//! joins through the resends; a bad secret share is detected and attributed; a restarted
//! validator keeps its share; same seed, same result.

mod common;

use common::{args_with, finals, SEC};
use consensus_ssf::dkg::{self, Output};
use consensus_ssf::engine::{SsfConsensus, Wire};
use consensus_ssf::keys::{threshold, KeySet};
use consensus_ssf::vote::{
    sign, verify_certificate, verify_certificate_plain, Certificate, Subject, NOTARIZE,
};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{Action, Consensus, Event, Hash, Header, InitArgs, PluginError, SealInfo};

fn args(i: u16) -> InitArgs {
    args_with(i, r#"{"delta_ms": 100, "keys": "dkg"}"#)
}

fn engine(i: u16) -> SsfConsensus {
    SsfConsensus::new(&args(i)).expect("engine")
}

fn net_of(nodes: Vec<Box<dyn Consensus>>) -> SimNet {
    SimNet::new(nodes, SEC, 50_000)
}

/// The group key a node's snapshot stores (the DKG's output), if it has one.
fn group_of(node: &dyn Consensus) -> Option<String> {
    let snap: serde_json::Value =
        serde_json::from_slice(&node.snapshot().expect("snapshot")).expect("json");
    snap["keys"]["group"].as_str().map(str::to_string)
}

#[test]
fn six_validators_run_the_genesis_dkg_then_finalize_every_slot() {
    let mut net = net_of(
        (0..6)
            .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
            .collect(),
    );
    net.run_until(25 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_done"), Some(&6));
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_aborted"), None);
    let groups: Vec<_> = net.nodes.iter().map(|n| group_of(n.as_ref())).collect();
    assert!(groups[0].is_some());
    assert!(groups.iter().all(|g| *g == groups[0]), "{groups:?}");
    net.assert_safe();
    for i in 0..6 {
        let f = finals(&net, i);
        let slots: Vec<u32> = f.iter().map(|x| x.0).collect();
        assert_eq!(slots, (1..=24).collect::<Vec<_>>(), "node {i}");
        // Slot 1 waits for the key (two hops after the first tick), and is still final in it.
        assert!(f.iter().all(|(_, lag)| *lag < SEC), "node {i}: {f:?}");
    }
}

fn local(v: usize) -> Vec<Output> {
    let seeds: Vec<[u8; 32]> = (0..v as u32).map(diverge_keys::dev_seed).collect();
    dkg::run_local(&seeds, &Hash([9; 32]), threshold(v)).expect("dkg")
}

#[test]
fn dkg_shares_are_osst_shares_and_certify_against_the_dkg_group_key() {
    let out = local(6);
    let t = threshold(6);
    let keys = KeySet::new(out[0].group, out[0].shares.clone(), t);
    for (i, o) in out.iter().enumerate() {
        // Every node computed the same public key set, and y_i = g^{x_i}.
        assert_eq!(o.group, keys.group);
        assert_eq!(o.shares, keys.shares);
        assert_eq!(RistrettoPoint::mul_base(&o.share), keys.shares[i]);
    }
    let g = Hash([1; 32]);
    let subject = Subject {
        kind: NOTARIZE,
        slot: 7,
        hash: Hash([2; 32]),
        root: Hash([3; 32]),
    };
    // Two different t-subsets of DKG shares both certify against Y, with the fast check and
    // with osst's own verify.
    for signers in [
        vec![0usize, 1, 2, 3, 4],
        vec![1, 2, 3, 4, 5],
        vec![0, 2, 3, 4, 5],
    ] {
        let cert = Certificate {
            subject,
            contributions: signers
                .iter()
                .map(|&i| sign(subject, i as u32 + 1, &out[i].share, &g, &keys).contribution)
                .collect(),
        };
        verify_certificate(&cert, &g, &keys).expect("fast check");
        verify_certificate_plain(&cert, &g, &keys).expect("osst::verify");
    }
    // Shares of another DKG run (another chain) do not certify against this Y.
    let other = dkg::run_local(
        &(10..16).map(diverge_keys::dev_seed).collect::<Vec<_>>(),
        &Hash([9; 32]),
        t,
    )
    .expect("dkg");
    let cert = Certificate {
        subject,
        contributions: (0..5)
            .map(|i| sign(subject, i as u32 + 1, &other[i].share, &g, &keys).contribution)
            .collect(),
    };
    assert!(verify_certificate(&cert, &g, &keys).is_err());
}

#[test]
fn nothing_is_final_until_every_genesis_validator_joined_then_the_chain_runs() {
    let mut net = net_of(
        (0..6)
            .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
            .collect(),
    );
    net.set_online(5, false, 0);
    net.run_until(4 * SEC - 1);
    // QUAL is all six: without node 5 there is no key, so no vote and nothing final.
    assert!(net.log.finalized.is_empty(), "{:?}", net.log.finalized);
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_done"), None);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    // It comes online late; the others' resends (every 500 ms) bring it in.
    net.set_online(5, true, 4 * SEC - 1);
    net.run_until(12 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_done"), Some(&6));
    net.assert_safe();
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 11,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }
}

/// Node 5, with its outgoing DKG shares to `victims` replaced by another scalar.
struct BadDealer {
    inner: SsfConsensus,
    victims: Vec<u16>,
}

impl Consensus for BadDealer {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let actions = self.inner.on_event(now, event)?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                Action::Send { to, bytes } if self.victims.contains(&to) => {
                    match decode_exact::<Wire>(&bytes) {
                        Ok(Wire::DkgRound2 { share, transcript }) => {
                            let x = Scalar::from_canonical_bytes(share).expect("canonical");
                            let bad = (x + Scalar::ONE).to_bytes();
                            Action::Send {
                                to,
                                bytes: Wire::DkgRound2 {
                                    share: bad,
                                    transcript,
                                }
                                .encode(),
                            }
                        }
                        _ => Action::Send { to, bytes },
                    }
                }
                a => a,
            })
            .collect())
    }
    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        self.inner.seal(now, header)
    }
    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        self.inner.verify_seal(header)
    }
    fn verify_justification(&mut self, hash: &Hash, j: &[u8]) -> Result<(), PluginError> {
        self.inner.verify_justification(hash, j)
    }
    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, s: &[u8]) -> Result<(), PluginError> {
        self.inner.restore(s)
    }
}

fn with_bad_dealer(victims: Vec<u16>) -> SimNet {
    let mut nodes: Vec<Box<dyn Consensus>> = (0..5)
        .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
        .collect();
    nodes.push(Box::new(BadDealer {
        inner: engine(5),
        victims,
    }));
    net_of(nodes)
}

#[test]
fn a_bad_secret_share_is_detected_and_attributed_to_its_dealer() {
    // Node 5 deals a bad share to node 0 only: node 0 names it and stops its DKG (no key, no
    // votes); the other five hold consistent shares of one key, five is t, the chain runs.
    let mut net = with_bad_dealer(vec![0]);
    net.run_until(13 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert_eq!(
        net.log.misbehaviour,
        vec![(0, 5, "ssf.dkg.bad_share".to_string())],
        "exactly node 0 reports node 5"
    );
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_aborted"), Some(&1));
    assert_eq!(group_of(net.nodes[0].as_ref()), None);
    net.assert_safe();
    for i in 1..6 {
        assert!(
            net.finalized_slot(i) >= 11,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }

    // Bad shares to every peer: every honest node reports node 5, nobody has a key, nothing is
    // ever final (a stall, never a fork).
    let mut net = with_bad_dealer(vec![0, 1, 2, 3, 4]);
    net.run_until(8 * SEC - 1);
    let mut reporters: Vec<usize> = net
        .log
        .misbehaviour
        .iter()
        .map(|m| {
            assert_eq!((m.1, m.2.as_str()), (5, "ssf.dkg.bad_share"));
            m.0
        })
        .collect();
    reporters.sort();
    assert_eq!(reporters, vec![0, 1, 2, 3, 4]);
    assert!(net.log.finalized.is_empty());
}

#[test]
fn a_restarted_validator_keeps_its_dkg_share() {
    let mut net = net_of(
        (0..6)
            .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
            .collect(),
    );
    net.run_until(5 * SEC - 1);
    let before = group_of(net.nodes[2].as_ref()).expect("key after the DKG");
    // Node 2 restarts from its snapshot: a fresh instance, restored.
    let snap = net.nodes[2].snapshot().expect("snapshot");
    let mut restarted = engine(2);
    restarted.restore(&snap).expect("restore");
    assert_eq!(group_of(&restarted), Some(before));
    net.nodes[2] = Box::new(restarted);
    // With node 5 offline, t = 5 needs node 2's votes: finality goes on only if it signs
    // with the restored share.
    net.set_online(5, false, 5 * SEC - 1);
    net.run_until(12 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    net.assert_safe();
    // Node 5's own slots are skipped; every other slot after the restart is final.
    for i in [0, 2] {
        let after: Vec<u32> = finals(&net, i)
            .iter()
            .map(|f| f.0)
            .filter(|s| *s > 5)
            .collect();
        assert!(
            after.len() >= 4 && net.finalized_slot(i) >= 10,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }
}

#[test]
fn same_seed_same_dkg_and_same_chain() {
    let run = || {
        let mut net = net_of(
            (0..6)
                .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
                .collect(),
        );
        net.set_online(3, false, 0);
        net.run_until(2 * SEC);
        net.set_online(3, true, 2 * SEC);
        net.run_until(8 * SEC);
        // Not the block hashes: the tickets blocks carry are ring proofs blinded with OS
        // randomness, so hashes differ between runs; who sealed and finalized what does not.
        (
            group_of(net.nodes[0].as_ref()),
            net.log
                .finalized
                .iter()
                .map(|f| (f.0, f.1, f.3))
                .collect::<Vec<_>>(),
            net.log
                .authored
                .iter()
                .map(|a| (a.0, a.1))
                .collect::<Vec<_>>(),
        )
    };
    let a = run();
    assert!(a.0.is_some() && !a.1.is_empty());
    assert_eq!(a, run());
}

#[test]
fn dealer_keys_are_opt_in_and_dealer_seed_without_them_is_a_config_error() {
    let mut a = args(0);
    a.params_json = r#"{"dealer_seed": "00ff"}"#.into();
    assert!(SsfConsensus::new(&a).is_err());
    a.params_json = r#"{"keys": "dealer", "dealer_seed": "00ff"}"#.into();
    let n = SsfConsensus::new(&a).expect("dealer");
    assert!(n.keys().is_some(), "dealer keys exist before any message");
    a.params_json = r#"{"keys": "frost"}"#.into();
    assert!(SsfConsensus::new(&a).is_err());
    assert!(
        engine(0).keys().is_none(),
        "DKG keys do not exist before the DKG"
    );
}

#[test]
fn malformed_dkg_messages_are_attributed_and_do_not_stop_the_dkg() {
    let mut n = engine(0);
    let other = dkg::GenesisDkg::new(1, 6, threshold(6), dkg::rng(&[1; 32], &Hash([0; 32]), b"x"))
        .expect("part1");
    // Too few commitments: the sender is named, the DKG goes on (a resend may be good).
    let mut short = other.round1().clone();
    short.commitment.pop();
    let out = n
        .on_event(
            1,
            Event::Message {
                from: 1,
                bytes: Wire::DkgRound1 {
                    package: short,
                    want: true,
                }
                .encode(),
            },
        )
        .expect("handled");
    assert!(out.iter().any(|a| matches!(a,
        Action::Misbehaviour { offender: 1, kind, .. } if kind == "ssf.dkg.malformed")));
    assert!(n.dkg_failure().is_none());
    // A proof that does not decode: also malformed.
    let mut bad = other.round1().clone();
    bad.proof = [0xff; 64];
    let out = n
        .on_event(
            2,
            Event::Message {
                from: 1,
                bytes: Wire::DkgRound1 {
                    package: bad,
                    want: true,
                }
                .encode(),
            },
        )
        .expect("handled");
    assert!(out.iter().any(|a| matches!(a,
        Action::Misbehaviour { offender: 1, kind, .. } if kind == "ssf.dkg.malformed")));
    // The good package is then accepted, and a different one after it is equivocation,
    // which does stop the DKG here.
    let out = n
        .on_event(
            3,
            Event::Message {
                from: 1,
                bytes: Wire::DkgRound1 {
                    package: other.round1().clone(),
                    want: true,
                }
                .encode(),
            },
        )
        .expect("handled");
    assert!(!out.iter().any(|a| matches!(a, Action::Misbehaviour { .. })));
    let second = dkg::GenesisDkg::new(1, 6, threshold(6), dkg::rng(&[2; 32], &Hash([0; 32]), b"x"))
        .expect("part1");
    let out = n
        .on_event(
            4,
            Event::Message {
                from: 1,
                bytes: Wire::DkgRound1 {
                    package: second.round1().clone(),
                    want: true,
                }
                .encode(),
            },
        )
        .expect("handled");
    assert!(out.iter().any(|a| matches!(a,
        Action::Misbehaviour { offender: 1, kind, .. } if kind == "ssf.dkg.equivocation")));
    assert!(n.dkg_failure().is_some());
    // A round-2 share from a non-validator index, garbage bytes: no panic.
    assert!(n
        .on_event(
            5,
            Event::Message {
                from: 1,
                bytes: vec![9, 9, 9]
            }
        )
        .is_err());
}

#[test]
fn an_observer_given_the_group_key_checks_certificates_and_a_wrong_key_is_caught() {
    let mut nodes: Vec<Box<dyn Consensus>> = (0..5)
        .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
        .collect();
    // Validator 5 is configured with a group key the DKG cannot produce: it notices.
    let mut wrong = args(5);
    let not_y = hex::encode(
        RistrettoPoint::mul_base(&Scalar::from(5u64))
            .compress()
            .as_bytes(),
    );
    wrong.params_json = format!(r#"{{"delta_ms": 100, "group_key": "{not_y}"}}"#);
    nodes.push(Box::new(SsfConsensus::new(&wrong).expect("engine")));
    let mut net = net_of(nodes);
    net.run_until(4 * SEC - 1);
    assert_eq!(net.log.telemetry.get("consensus.ssf.dkg_aborted"), Some(&1));
    assert_eq!(group_of(net.nodes[5].as_ref()), None);
    let y = group_of(net.nodes[0].as_ref()).expect("Y");
    // The other five are t: slots finalize; an observer with Y checks their certificates.
    let f = *net.log.finalized.iter().find(|f| f.1 == 0).expect("final");
    let j = net
        .log
        .justifications
        .get(&f.2)
        .expect("justification")
        .clone();
    let observer = |key: &str| {
        let mut a = args(0);
        a.identity = None;
        a.params_json = format!(r#"{{"group_key": "{key}"}}"#);
        SsfConsensus::new(&a).expect("observer")
    };
    observer(&y)
        .verify_justification(&f.2, &j)
        .expect("checks against Y");
    assert!(observer(&not_y).verify_justification(&f.2, &j).is_err());
    let mut a = args(0);
    a.identity = None;
    assert!(
        SsfConsensus::new(&a)
            .expect("observer")
            .verify_justification(&f.2, &j)
            .is_err(),
        "an observer without Y checks nothing"
    );
    a.params_json = r#"{"group_key": "00"}"#.into();
    assert!(
        SsfConsensus::new(&a).is_err(),
        "group_key that is not a point"
    );
}
