//! Resharing at epoch changes (tiny preset: 12-slot epochs of 1 s here): old holders deal
//! Feldman sub-shares, the dealer set D is fixed by a DEALERS certificate, every node combines
//! over exactly D. Finality goes on across the boundaries, the new shares verify against the
//! genesis Y, a bad sub-share is attributed, and players combining over different dealer sets
//! (the pitfall of ssf.md 3.2) cannot certify.

mod common;

use std::time::Instant;

use common::{engine, finals, SEC};
use consensus_ssf::dkg::{self, Output};
use consensus_ssf::engine::{SsfConsensus, Wire};
use consensus_ssf::keys::{threshold, KeySet};
use consensus_ssf::reshare::{self, Dealing};
use consensus_ssf::vote::{sign, verify_certificate, Certificate, Subject, FINALIZE};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::consensus::Time;
use diverge_plugins::simnet::SimNet;
use diverge_plugins::{Action, Consensus, Event, Hash, Header, PluginError, SealInfo};

/// (group, sharing id -> (y_1..y_V, own share)) from a node's snapshot.
type Sets = std::collections::BTreeMap<u64, (Vec<RistrettoPoint>, Option<Scalar>)>;

fn point(h: &str) -> RistrettoPoint {
    let b: [u8; 32] = hex::decode(h).expect("hex").try_into().expect("32");
    CompressedRistretto(b).decompress().expect("point")
}

fn sets_of(node: &dyn Consensus) -> (RistrettoPoint, Sets) {
    let snap: serde_json::Value =
        serde_json::from_slice(&node.snapshot().expect("snapshot")).expect("json");
    let keys = &snap["keys"];
    let group = point(keys["group"].as_str().expect("group"));
    let mut sets = Sets::new();
    for s in keys["sets"].as_array().expect("sets") {
        let ys = s["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(|y| point(y.as_str().expect("hex")))
            .collect();
        let x = s["share"].as_str().map(|h| {
            let b: [u8; 32] = hex::decode(h).expect("hex").try_into().expect("32");
            Scalar::from_canonical_bytes(b).expect("scalar")
        });
        sets.insert(s["id"].as_u64().expect("id"), (ys, x));
    }
    (group, sets)
}

fn subject(slot: u32) -> Subject {
    Subject {
        kind: FINALIZE,
        slot,
        hash: Hash([4; 32]),
        root: Hash([5; 32]),
    }
}

/// A certificate from (OSST index, share) pairs, checked against Y alone.
fn certifies(group: RistrettoPoint, signers: &[(u32, Scalar)], g: &Hash) -> bool {
    let t = threshold(6);
    // The verification shares only matter for individual votes; the certificate check uses Y.
    let keys = KeySet::new(group, vec![group; 6], t);
    let cert = Certificate {
        subject: subject(30),
        contributions: signers
            .iter()
            .map(|(i, x)| sign(subject(30), *i, x, g, &keys).contribution)
            .collect(),
    };
    verify_certificate(&cert, g, &keys).is_ok()
}

#[test]
fn a_reshare_at_every_epoch_keeps_finality_and_the_new_shares_verify_against_y() {
    let mut net = SimNet::new(
        (0..6)
            .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
            .collect(),
        SEC,
        50_000,
    );
    net.run_until(37 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    assert!(
        net.log.misbehaviour.is_empty(),
        "{:?}",
        net.log.misbehaviour
    );
    // Epochs 0, 1, 2 each certified one dealer set and installed the next sharing everywhere.
    assert_eq!(
        net.log.telemetry.get("consensus.ssf.dealers_certified"),
        Some(&18)
    );
    assert_eq!(
        net.log.telemetry.get("consensus.ssf.reshare_done"),
        Some(&18)
    );
    net.assert_safe();
    for i in 0..6 {
        let f = finals(&net, i);
        let slots: Vec<u32> = f.iter().map(|x| x.0).collect();
        assert_eq!(slots, (1..=36).collect::<Vec<_>>(), "node {i}");
        assert!(f.iter().all(|(_, lag)| *lag < SEC), "node {i}: {f:?}");
    }
    // Sharing 3 (from epoch 2's reshare): every node holds the same public set, its own share
    // matches it, the group key is the genesis Y, and the shares are new.
    let all: Vec<(RistrettoPoint, Sets)> = net.nodes.iter().map(|n| sets_of(n.as_ref())).collect();
    let (y, sets0) = &all[0];
    let (ys3, _) = sets0.get(&3).expect("sharing 3");
    let (ys0, _) = sets0.get(&0).expect("sharing 0 (the genesis key) is kept");
    assert_ne!(ys3, ys0, "resharing re-randomised the verification shares");
    let mut new_shares = Vec::new();
    for (i, (g, sets)) in all.iter().enumerate() {
        assert_eq!(g, y);
        let (ys, x) = sets.get(&3).expect("sharing 3");
        assert_eq!(ys, ys3, "node {i}");
        let x = x.expect("own share");
        assert_eq!(RistrettoPoint::mul_base(&x), ys3[i]);
        // Old shares are dropped: nothing below sharing 2 is held.
        assert!(
            sets.iter().all(|(id, (_, s))| *id >= 2 || s.is_none()),
            "node {i}"
        );
        new_shares.push((i as u32 + 1, x));
    }
    let g = Hash([1; 32]);
    assert!(certifies(*y, &new_shares[..5], &g));
    assert!(certifies(*y, &new_shares[1..], &g));
    // A share of the previous sharing mixed in (a holder signing with an old share) does not
    // certify: every certificate comes from one sharing.
    let (_, sets1) = &all[1];
    let old1 = sets1
        .get(&2)
        .and_then(|s| s.1)
        .expect("sharing 2 still held");
    let mut mixed = new_shares[..5].to_vec();
    mixed[1] = (2, old1);
    assert!(!certifies(*y, &mixed, &g));
    // Certificates of the last epoch verify with the genesis key alone (static Y): a fresh
    // node that kept only sharing 0 checks a slot-30 justification.
    let last = net
        .log
        .finalized
        .iter()
        .find(|f| f.3 == 30)
        .expect("slot 30 final");
    let j = net
        .log
        .justifications
        .get(&last.2)
        .expect("justification")
        .clone();
    let snap: serde_json::Value =
        serde_json::from_slice(&net.nodes[1].snapshot().expect("snapshot")).expect("json");
    let mut keys = snap["keys"].clone();
    let genesis_only: Vec<serde_json::Value> = keys["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .filter(|s| s["id"] == 0)
        .cloned()
        .collect();
    assert_eq!(genesis_only.len(), 1);
    keys["sets"] = serde_json::Value::Array(genesis_only);
    let mut fresh = engine(1);
    let s = serde_json::json!({"genesis": snap["genesis"], "keys": keys, "votes": []});
    fresh.restore(s.to_string().as_bytes()).expect("restore");
    fresh
        .verify_justification(&last.2, &j)
        .expect("an epoch-2 certificate verifies against the genesis Y");
    let mut bad = j.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(fresh.verify_justification(&last.2, &bad).is_err());
}

/// The negative control: every player's own checks pass, but players that combined over
/// different dealer sets hold shares of different polynomials, so t of them mixed cannot
/// certify; players that used one D can.
#[test]
fn players_combining_over_different_dealer_sets_cannot_certify() {
    let v = 6;
    let t = threshold(v);
    let genesis: Vec<Output> = dkg::run_local(
        &(0..v as u32)
            .map(diverge_keys::dev_seed)
            .collect::<Vec<_>>(),
        &Hash([7; 32]),
        t,
    )
    .expect("dkg");
    let y = genesis[0].group;
    let old = genesis[0].shares.clone();
    let dealings: Vec<Dealing> = genesis
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut rng = dkg::rng(&o.share.to_bytes(), &Hash([7; 32]), &[i as u8]);
            reshare::deal(&o.share, t, v, &mut rng)
        })
        .collect();
    let combine = |set: &[u32], player: u32| {
        let dealers: Vec<(u32, &[RistrettoPoint], Option<Scalar>)> = set
            .iter()
            .map(|&i| {
                let d = &dealings[i as usize - 1];
                reshare::verify_subshare(
                    i,
                    &d.commitment,
                    player,
                    &d.subshares[player as usize - 1],
                )
                .expect("sub-share");
                (
                    i,
                    d.commitment.as_slice(),
                    Some(d.subshares[player as usize - 1]),
                )
            })
            .collect();
        reshare::combine(&dealers, &old, &y, t, v, Some(player)).expect("each player's checks pass")
    };
    let d1 = [1, 2, 3, 4, 5];
    let d2 = [2, 3, 4, 5, 6];
    let g = Hash([1; 32]);
    // One agreed D: any t players certify against Y.
    let agreed: Vec<(u32, Scalar)> = (1..=6u32)
        .map(|j| (j, combine(&d1, j).share.expect("share")))
        .collect();
    assert!(certifies(y, &agreed[..5], &g));
    assert!(certifies(y, &agreed[1..], &g));
    // Players 1..3 used D1, players 4..6 used D2: no t-subset of them certifies.
    let split: Vec<(u32, Scalar)> = (1..=6u32)
        .map(|j| {
            let set: &[u32] = if j <= 3 { &d1 } else { &d2 };
            (j, combine(set, j).share.expect("share"))
        })
        .collect();
    assert!(!certifies(y, &split[..5], &g));
    assert!(!certifies(y, &split[1..], &g));
    // Their public key sets differ too (invariant I7 catches it).
    assert_ne!(combine(&d1, 1).shares, combine(&d2, 4).shares);
    // A dealer whose constant term is not its verification share is refused by combine.
    let mut forged = dealings[0].commitment.clone();
    forged[0] = RistrettoPoint::mul_base(&Scalar::from(9u64));
    let dealers: Vec<(u32, &[RistrettoPoint], Option<Scalar>)> =
        std::iter::once((1, forged.as_slice(), None))
            .chain(
                d2[..4]
                    .iter()
                    .map(|&i| (i, dealings[i as usize - 1].commitment.as_slice(), None)),
            )
            .collect();
    assert_eq!(
        reshare::combine(&dealers, &old, &y, t, v, None).err(),
        Some(reshare::ReshareError::Constant(1))
    );
    // Fewer than t dealers: refused.
    let few: Vec<(u32, &[RistrettoPoint], Option<Scalar>)> = [1u32, 2, 3, 4]
        .iter()
        .map(|&i| (i, dealings[i as usize - 1].commitment.as_slice(), None))
        .collect();
    assert!(matches!(
        reshare::combine(&few, &old, &y, t, v, None),
        Err(reshare::ReshareError::DealerSet(_))
    ));
}

/// Node 5, with its reshare sub-shares to node 0 replaced by another scalar.
struct BadSubShares(SsfConsensus);

impl Consensus for BadSubShares {
    fn on_event(&mut self, now: Time, event: Event) -> Result<Vec<Action>, PluginError> {
        let actions = self.0.on_event(now, event)?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                Action::Send { to: 0, bytes } => match decode_exact::<Wire>(&bytes) {
                    Ok(Wire::SubShare { epoch, share }) => {
                        let x = Scalar::from_canonical_bytes(share).expect("canonical");
                        Action::Send {
                            to: 0,
                            bytes: Wire::SubShare {
                                epoch,
                                share: (x + Scalar::ONE).to_bytes(),
                            }
                            .encode(),
                        }
                    }
                    _ => Action::Send { to: 0, bytes },
                },
                a => a,
            })
            .collect())
    }
    fn seal(&mut self, now: Time, header: Header) -> Result<Header, PluginError> {
        self.0.seal(now, header)
    }
    fn verify_seal(&mut self, header: &Header) -> Result<SealInfo, PluginError> {
        self.0.verify_seal(header)
    }
    fn verify_justification(&mut self, hash: &Hash, j: &[u8]) -> Result<(), PluginError> {
        self.0.verify_justification(hash, j)
    }
    fn snapshot(&self) -> Result<Vec<u8>, PluginError> {
        self.0.snapshot()
    }
    fn restore(&mut self, s: &[u8]) -> Result<(), PluginError> {
        self.0.restore(s)
    }
}

#[test]
fn a_bad_sub_share_is_attributed_and_costs_only_its_victims_vote() {
    let mut nodes: Vec<Box<dyn Consensus>> = (0..5)
        .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
        .collect();
    nodes.push(Box::new(BadSubShares(engine(5))));
    let mut net = SimNet::new(nodes, SEC, 50_000);
    net.run_until(20 * SEC - 1);
    assert!(net.log.errors.is_empty(), "{:?}", net.log.errors);
    let reports: Vec<_> = net.log.misbehaviour.iter().collect();
    assert!(!reports.is_empty());
    assert!(
        reports
            .iter()
            .all(|m| (m.0, m.1, m.2.as_str()) == (0, 5, "ssf.reshare.bad_subshare")),
        "{reports:?}"
    );
    net.assert_safe();
    // D (certified by the other five, node 5 included) leaves node 0 without a share of
    // sharing 1; the other five are t and finalize epoch 1, and node 0 follows through
    // certificates.
    let (_, sets) = sets_of(net.nodes[0].as_ref());
    assert!(
        sets.get(&1).is_some_and(|(_, x)| x.is_none()),
        "{:?}",
        sets.keys()
    );
    for i in 0..6 {
        assert!(
            net.finalized_slot(i) >= 18,
            "node {i}: {:?}",
            finals(&net, i)
        );
    }
}

#[test]
fn same_seed_same_reshare() {
    let run = || {
        let mut net = SimNet::new(
            (0..6)
                .map(|i| Box::new(engine(i)) as Box<dyn Consensus>)
                .collect(),
            SEC,
            50_000,
        );
        net.run_until(14 * SEC);
        let (y, sets) = sets_of(net.nodes[2].as_ref());
        // Block hashes are left out: tickets' ring proofs are blinded with OS randomness.
        (
            y,
            sets.get(&1).map(|s| s.0.clone()),
            net.log
                .finalized
                .iter()
                .map(|f| (f.0, f.1, f.3))
                .collect::<Vec<_>>(),
        )
    };
    let a = run();
    assert!(a.1.is_some());
    assert_eq!(a, run());
}

/// Cost of the genesis DKG and of one reshare per node, at V = 6 and (with
/// `DIVERGE_KEY_BENCH_V`, default "6,64,256") larger V; above `DIVERGE_KEY_BENCH_DKG_MAX`
/// (default 256) only the reshare (the full DKG simulation runs every node's part 2). Run:
/// `cargo test -p consensus-ssf --test reshare --release -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: prints timings"]
fn cost_of_dkg_and_reshare() {
    let sizes: Vec<usize> = std::env::var("DIVERGE_KEY_BENCH_V")
        .unwrap_or_else(|_| "6,64,256".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dkg_max: usize = std::env::var("DIVERGE_KEY_BENCH_DKG_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    for v in sizes {
        let t = threshold(v);
        let genesis_hash = Hash([3; 32]);
        let (dkg_line, share) = if v <= dkg_max {
            dkg_cost(v, t, &genesis_hash)
        } else {
            ("DKG not run".to_string(), Scalar::from(7u64))
        };
        reshare_cost(v, t, &genesis_hash, share, &dkg_line);
    }
}

fn dkg_cost(v: usize, t: usize, genesis_hash: &Hash) -> (String, Scalar) {
    {
        let seeds: Vec<[u8; 32]> = (0..v as u32).map(diverge_keys::dev_seed).collect();
        // DKG, per node: part 1 for one node, then part 2 and part 3 at node 0 (every node's
        // part 2 runs too, to deal node 0's shares; its time is reported for node 0 only).
        let c = Instant::now();
        let mut nodes: Vec<dkg::GenesisDkg> = seeds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                dkg::GenesisDkg::new(i as u16, v, t, dkg::rng(s, genesis_hash, b"genesis"))
                    .expect("part1")
            })
            .collect();
        let part1 = c.elapsed().as_secs_f64() * 1e3 / v as f64;
        let r1: Vec<_> = nodes.iter().map(|n| n.round1().clone()).collect();
        let mut part2 = 0.0;
        for (i, node) in nodes.iter_mut().enumerate() {
            let c = Instant::now();
            for (j, w) in r1.iter().enumerate() {
                if i != j {
                    node.on_round1(j as u16, w.clone()).expect("round1");
                }
            }
            if i == 0 {
                part2 = c.elapsed().as_secs_f64() * 1e3;
            }
        }
        let mut to0 = Vec::new();
        for (j, node) in nodes.iter().enumerate().skip(1) {
            let (h, out) = node.outgoing().expect("dealt");
            to0.push((j as u16, out[&0], h));
        }
        for (j, s, h) in to0 {
            nodes[0].on_round2(j, s, h).expect("round2");
        }
        let c = Instant::now();
        let out0 = nodes[0].finish().expect("complete").expect("part3");
        let part3 = c.elapsed().as_secs_f64() * 1e3;
        (
            format!("DKG per node part1 {part1:.2} ms, part2 {part2:.1} ms, part3 {part3:.1} ms"),
            out0.share,
        )
    }
}

fn reshare_cost(v: usize, t: usize, genesis_hash: &Hash, share: Scalar, dkg_line: &str) {
    {
        // Reshare, per node: one dealing; a player's checks of t sub-shares; combining.
        let c = Instant::now();
        let mut rng = dkg::rng(&share.to_bytes(), genesis_hash, b"bench");
        let d = reshare::deal(&share, t, v, &mut rng);
        let deal_ms = c.elapsed().as_secs_f64() * 1e3;
        // t dealers; their shares need only be valid for the check, so synthesise x_i = i (the
        // cost does not depend on the values) with the matching public set.
        let xs: Vec<Scalar> = (1..=v as u64).map(Scalar::from).collect();
        let ys: Vec<RistrettoPoint> = xs.iter().map(RistrettoPoint::mul_base).collect();
        let dealings: Vec<Dealing> = xs[..t]
            .iter()
            .map(|x| reshare::deal(x, t, v, &mut rng))
            .collect();
        let set: Vec<u32> = (1..=t as u32).collect();
        let lambda = reshare::lagrange_at_zero(&set);
        let group: RistrettoPoint = set
            .iter()
            .zip(&lambda)
            .map(|(i, l)| ys[*i as usize - 1] * l)
            .sum();
        let c = Instant::now();
        for (i, dl) in dealings.iter().enumerate() {
            reshare::verify_subshare(i as u32 + 1, &dl.commitment, 1, &dl.subshares[0])
                .expect("ok");
        }
        let check_ms = c.elapsed().as_secs_f64() * 1e3;
        let dealers: Vec<(u32, &[RistrettoPoint], Option<Scalar>)> = dealings
            .iter()
            .enumerate()
            .map(|(i, dl)| {
                (
                    i as u32 + 1,
                    dl.commitment.as_slice(),
                    Some(dl.subshares[0]),
                )
            })
            .collect();
        let c = Instant::now();
        let comb = reshare::combine(&dealers, &ys, &group, t, v, Some(1)).expect("combine");
        let combine_ms = c.elapsed().as_secs_f64() * 1e3;
        assert!(comb.share.is_some());
        assert_eq!(d.commitment.len(), t);
        println!(
            "V={v} t={t}: {dkg_line}; reshare deal {deal_ms:.1} ms, check {t} sub-shares \
             {check_ms:.1} ms, combine {combine_ms:.1} ms"
        );
    }
}
