//! Evaluation proofs: completeness, and rejection of every kind of tampering (never a panic).

use diverge_pcvm::field::{column_point, evaluate_mle, pack_columns};
use diverge_pcvm::pcs::ProverData;
use diverge_pcvm::{
    codec, commit, prove, verify, Claim, EvalProof, Params, PcsError, Rejection, Transcript, F128,
    F32,
};
use ligerito_binary_fields::BinaryFieldElement;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DOMAIN: &[u8] = b"pcvm-test";

fn random_poly(rng: &mut ChaCha8Rng, n: usize) -> Vec<F32> {
    (0..1usize << n)
        .map(|_| F32::from_value(rng.gen()))
        .collect()
}

fn random_point(rng: &mut ChaCha8Rng, n: usize) -> Vec<F128> {
    (0..n).map(|_| F128::from_value(rng.gen())).collect()
}

fn true_claim(poly: &[F32], point: Vec<F128>) -> Claim {
    let value = evaluate_mle(poly, &point);
    Claim { point, value }
}

struct Fixture {
    params: Params,
    data: ProverData,
    claims: Vec<Claim>,
    proof: EvalProof,
}

fn fixture(params: Params, seed: u64, num_claims: usize) -> Fixture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = params.log_size();
    let poly = random_poly(&mut rng, n);
    let claims: Vec<Claim> = (0..num_claims)
        .map(|_| true_claim(&poly, random_point(&mut rng, n)))
        .collect();
    let (_, data) = commit(&params, poly).expect("commit");
    let proof = prove(&params, &data, &claims, &mut Transcript::new(DOMAIN)).expect("prove");
    Fixture {
        params,
        data,
        claims,
        proof,
    }
}

fn check(f: &Fixture, claims: &[Claim], proof: &EvalProof) -> Result<(), PcsError> {
    verify(
        &f.params,
        &f.data.commitment(),
        claims,
        proof,
        &mut Transcript::new(DOMAIN),
    )
}

fn small() -> Fixture {
    fixture(Params::new(12).expect("params"), 7, 2)
}

/// Two recursive levels at a small size, so the intermediate openings exist and are tampered.
fn two_levels() -> Fixture {
    let params = Params::with_shape(8, 4, &[(6, 2), (4, 2)], diverge_pcvm::pcs::DEFAULT_QUERIES)
        .expect("params");
    fixture(params, 11, 1)
}

#[test]
fn honest_proofs_verify() {
    for f in [
        small(),
        two_levels(),
        fixture(Params::new(9).expect("params"), 3, 4),
    ] {
        assert_eq!(check(&f, &f.claims, &f.proof), Ok(()));
        let bytes = codec::encode(&f.proof);
        assert_eq!(codec::decode(&bytes).as_ref(), Ok(&f.proof));
    }
}

#[test]
fn packed_columns_open_at_column_points() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let log_rows = 9;
    let cols: Vec<Vec<F32>> = (0..7).map(|_| random_poly(&mut rng, log_rows)).collect();
    let poly = pack_columns(&cols, log_rows);
    let params = Params::new(12).expect("params");
    let r = random_point(&mut rng, log_rows);
    let claims: Vec<Claim> = cols
        .iter()
        .enumerate()
        .map(|(c, col)| Claim {
            point: column_point(c, 3, &r),
            value: evaluate_mle(col, &r),
        })
        .collect();
    let (cm, data) = commit(&params, poly).expect("commit");
    let proof = prove(&params, &data, &claims, &mut Transcript::new(DOMAIN)).expect("prove");
    assert_eq!(
        verify(&params, &cm, &claims, &proof, &mut Transcript::new(DOMAIN)),
        Ok(())
    );
    // column 2's value claimed for column 3
    let mut swapped = claims.clone();
    swapped[3].value = claims[2].value;
    assert!(verify(&params, &cm, &swapped, &proof, &mut Transcript::new(DOMAIN)).is_err());
    // a boolean-point claim is an ordinary cell opening
    let cell = Claim {
        point: column_point(5 * 512 + 17, 12, &[]),
        value: F128::from(cols[5][17]),
    };
    let proof = prove(
        &params,
        &data,
        std::slice::from_ref(&cell),
        &mut Transcript::new(DOMAIN),
    )
    .expect("prove");
    assert_eq!(
        verify(&params, &cm, &[cell], &proof, &mut Transcript::new(DOMAIN)),
        Ok(())
    );
}

#[test]
fn wrong_value_rejected() {
    let f = small();
    for i in 0..f.claims.len() {
        let mut claims = f.claims.clone();
        claims[i].value = claims[i].value.add(&F128::one());
        assert!(check(&f, &claims, &f.proof).is_err(), "claim {i}");
    }
}

#[test]
fn false_claim_cannot_be_proven() {
    let f = small();
    let mut claims = f.claims.clone();
    claims[0].value = claims[0].value.add(&F128::from_value(1 << 77));
    let proof = prove(&f.params, &f.data, &claims, &mut Transcript::new(DOMAIN)).expect("prove");
    assert!(matches!(
        check(&f, &claims, &proof),
        Err(PcsError::Rejected(_))
    ));
}

#[test]
fn equal_errors_do_not_cancel() {
    // In characteristic 2 an unweighted sum of two equal errors is zero: the claims are batched
    // with independent challenges, so two identically wrong claims are still rejected.
    let f = small();
    let delta = F128::from_value(0xdead_beef);
    let point = f.claims[0].point.clone();
    let truth = f.claims[0].value;
    let wrong = Claim {
        point,
        value: truth.add(&delta),
    };
    let claims = vec![wrong.clone(), wrong];
    let proof = prove(&f.params, &f.data, &claims, &mut Transcript::new(DOMAIN)).expect("prove");
    assert!(check(&f, &claims, &proof).is_err());
    let mut two = f.claims.clone();
    two[0].value = two[0].value.add(&delta);
    two[1].value = two[1].value.add(&delta);
    let proof = prove(&f.params, &f.data, &two, &mut Transcript::new(DOMAIN)).expect("prove");
    assert!(check(&f, &two, &proof).is_err());
}

#[test]
fn wrong_point_rejected() {
    let f = small();
    for j in [0, 3, f.params.log_size() - 1] {
        let mut claims = f.claims.clone();
        claims[0].point[j] = claims[0].point[j].add(&F128::one());
        assert!(check(&f, &claims, &f.proof).is_err(), "coordinate {j}");
    }
    let mut reordered = f.claims.clone();
    reordered.swap(0, 1);
    assert!(check(&f, &reordered, &f.proof).is_err());
    assert!(check(&f, &f.claims[..1], &f.proof).is_err());
}

#[test]
fn root_of_another_polynomial_rejected() {
    let f = small();
    let other = fixture(Params::new(12).expect("params"), 8, 2);
    let r = verify(
        &f.params,
        &other.data.commitment(),
        &f.claims,
        &f.proof,
        &mut Transcript::new(DOMAIN),
    );
    assert!(matches!(r, Err(PcsError::Rejected(_))));
    // the other polynomial's true values at our points, with its root: still our proof
    let claims: Vec<Claim> = f
        .claims
        .iter()
        .map(|c| true_claim(other.data.poly(), c.point.clone()))
        .collect();
    let r = verify(
        &f.params,
        &other.data.commitment(),
        &claims,
        &f.proof,
        &mut Transcript::new(DOMAIN),
    );
    assert!(r.is_err());
}

#[test]
fn transcript_state_is_bound() {
    let f = small();
    let r = verify(
        &f.params,
        &f.data.commitment(),
        &f.claims,
        &f.proof,
        &mut Transcript::new(b"other"),
    );
    assert!(r.is_err());
    let mut t = Transcript::new(DOMAIN);
    t.absorb_bytes(b"outer-protocol", b"x");
    assert!(verify(&f.params, &f.data.commitment(), &f.claims, &f.proof, &mut t).is_err());
}

#[test]
fn other_parameters_rejected() {
    let f = small();
    for params in [
        Params::with_queries(12, 160).expect("params"),
        Params::with_shape(8, 4, &[(4, 4)], diverge_pcvm::pcs::DEFAULT_QUERIES).expect("params"),
    ] {
        let r = verify(
            &params,
            &f.data.commitment(),
            &f.claims,
            &f.proof,
            &mut Transcript::new(DOMAIN),
        );
        assert!(r.is_err());
    }
}

#[test]
fn prover_input_errors_are_typed() {
    let f = small();
    let mut t = Transcript::new(DOMAIN);
    assert_eq!(
        prove(&f.params, &f.data, &[], &mut t).err(),
        Some(PcsError::NoClaims)
    );
    let short = Claim {
        point: vec![F128::one(); 11],
        value: F128::zero(),
    };
    assert!(matches!(
        prove(&f.params, &f.data, std::slice::from_ref(&short), &mut t),
        Err(PcsError::PointLength { .. })
    ));
    let cm = f.data.commitment();
    assert!(matches!(
        verify(&f.params, &cm, &[short], &f.proof, &mut t),
        Err(PcsError::PointLength { .. })
    ));
    assert_eq!(
        verify(&f.params, &cm, &[], &f.proof, &mut t),
        Err(PcsError::NoClaims)
    );
    assert!(matches!(
        commit(&f.params, vec![F32::zero(); 100]),
        Err(PcsError::PolyLength { .. })
    ));
    assert_eq!(Params::new(31).err(), Some(PcsError::UnsupportedSize(31)));
    assert!(Params::with_queries(12, 100).is_err());
}

fn flip128(x: &mut F128, bit: u32) {
    *x = x.add(&F128::from_value(1u128 << (bit % 128)));
}

fn flip32(x: &mut F32, bit: u32) {
    *x = x.add(&F32::from_value(1u32 << (bit % 32)));
}

/// Every proof field, every element position (rows: one element per row): one flipped bit
/// must be rejected.
fn tamper_every_field(f: &Fixture) {
    // Opened rows and siblings are caught by the Merkle check of their own level, not only by
    // some later check (each level's Merkle check is load-bearing on its own).
    let merkle = |p: &EvalProof, level: usize, what: &str| {
        assert_eq!(
            check(f, &f.claims, p),
            Err(PcsError::Rejected(Rejection::Merkle(level))),
            "tampered {what}"
        );
    };
    let reject = |p: &EvalProof, what: &str| {
        assert!(check(f, &f.claims, p).is_err(), "tampered {what} accepted");
    };
    let base = &f.proof;
    for i in 0..base.eval_rounds.len() {
        for j in 0..3 {
            let mut p = base.clone();
            flip128(&mut p.eval_rounds[i][j], 5 + i as u32);
            reject(&p, "eval round");
        }
    }
    for i in 0..base.rounds.len() {
        for j in 0..3 {
            let mut p = base.clone();
            flip128(&mut p.rounds[i][j], 100 + i as u32);
            reject(&p, "sumcheck round");
        }
    }
    for i in 0..base.level_roots.len() {
        let mut p = base.clone();
        p.level_roots[i][i % 32] ^= 1;
        reject(&p, "level root");
    }
    for i in 0..base.final_message.len() {
        let mut p = base.clone();
        flip128(&mut p.final_message[i], i as u32);
        reject(&p, "final message");
    }
    for i in 0..base.initial.rows.len() {
        let mut p = base.clone();
        let w = p.initial.rows[i].len();
        flip32(&mut p.initial.rows[i][i % w], i as u32);
        merkle(&p, 0, "initial row");
    }
    for i in 0..base.initial.siblings.len() {
        let mut p = base.clone();
        p.initial.siblings[i][i % 32] ^= 0x80;
        merkle(&p, 0, "initial sibling");
    }
    for (l, o) in base.recursive.iter().enumerate() {
        for i in 0..o.rows.len() {
            let mut p = base.clone();
            let w = o.rows[i].len();
            flip128(&mut p.recursive[l].rows[i][i % w], i as u32);
            merkle(&p, l + 1, "recursive row");
        }
        for i in 0..o.siblings.len() {
            let mut p = base.clone();
            p.recursive[l].siblings[i][0] ^= 1;
            merkle(&p, l + 1, "recursive sibling");
        }
    }
    for i in 0..base.last.rows.len() {
        let mut p = base.clone();
        let w = p.last.rows[i].len();
        flip128(&mut p.last.rows[i][i % w], 3 * i as u32);
        merkle(&p, base.level_roots.len(), "last row");
    }
    for i in 0..base.last.siblings.len() {
        let mut p = base.clone();
        p.last.siblings[i][31] ^= 2;
        merkle(&p, base.level_roots.len(), "last sibling");
    }
    // structural edits: drop or add an element of every vector
    let edits: [fn(&mut EvalProof); 9] = [
        |p| {
            p.eval_rounds.pop();
        },
        |p| p.rounds.push([F128::zero(); 3]),
        |p| {
            p.level_roots.pop();
        },
        |p| {
            p.final_message.pop();
        },
        |p| {
            p.initial.rows.pop();
        },
        |p| p.initial.siblings.push([0; 32]),
        |p| {
            p.last.rows[0].pop();
        },
        |p| {
            p.last.siblings.pop();
        },
        |p| p.recursive.push(p.last.clone()),
    ];
    for (i, e) in edits.iter().enumerate() {
        let mut p = base.clone();
        e(&mut p);
        // popping an empty vector (no siblings when every row is opened) is no edit
        if p != *base {
            assert!(
                check(f, &f.claims, &p).is_err(),
                "structural edit {i} accepted"
            );
        }
    }
    // sum-preserving tamper of a round (s0 and s1 shifted together): only the chain catches it
    let mut p = base.clone();
    let d = F128::from_value(42);
    p.rounds[0][0] = p.rounds[0][0].add(&d);
    p.rounds[0][1] = p.rounds[0][1].add(&d);
    reject(&p, "sum-preserving round");
    let mut p = base.clone();
    p.eval_rounds[1][0] = p.eval_rounds[1][0].add(&d);
    p.eval_rounds[1][1] = p.eval_rounds[1][1].add(&d);
    reject(&p, "sum-preserving eval round");
}

#[test]
fn every_field_tamper_rejected_one_level() {
    tamper_every_field(&small());
}

#[test]
fn every_field_tamper_rejected_two_levels() {
    let f = two_levels();
    assert_eq!(f.proof.recursive.len(), 1);
    tamper_every_field(&f);
}

#[test]
fn rejections_name_the_failed_check() {
    let f = small();
    let mut p = f.proof.clone();
    flip128(&mut p.eval_rounds[0][0], 0);
    assert_eq!(
        check(&f, &f.claims, &p),
        Err(PcsError::Rejected(Rejection::EvalRound(0)))
    );
    let mut p = f.proof.clone();
    flip32(&mut p.initial.rows[0][0], 0);
    assert_eq!(
        check(&f, &f.claims, &p),
        Err(PcsError::Rejected(Rejection::Merkle(0)))
    );
    let mut p = f.proof.clone();
    p.final_message.pop();
    assert!(matches!(
        check(&f, &f.claims, &p),
        Err(PcsError::Rejected(Rejection::Shape(_)))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any change to the canonical bytes is a decode error or a rejection, never a panic.
    #[test]
    fn mutated_bytes_rejected(pos in any::<prop::sample::Index>(), xor in 1u8..=255, extra in 0usize..4) {
        let f = two_levels_cached();
        let mut bytes = codec::encode(&f.proof);
        let i = pos.index(bytes.len());
        bytes[i] ^= xor;
        bytes.extend(std::iter::repeat_n(0u8, extra));
        if let Ok(p) = codec::decode(&bytes) {
            prop_assert!(check(f, &f.claims, &p).is_err());
        }
    }

    #[test]
    fn truncated_or_random_bytes_never_panic(cut in any::<prop::sample::Index>(), noise in prop::collection::vec(any::<u8>(), 0..600)) {
        let f = two_levels_cached();
        let bytes = codec::encode(&f.proof);
        let cut = cut.index(bytes.len());
        prop_assert!(codec::decode(&bytes[..cut]).is_err());
        let mut forged = bytes[..cut].to_vec();
        forged.extend(&noise);
        if let Ok(p) = codec::decode(&forged) {
            prop_assert!(check(f, &f.claims, &p).is_err());
        }
    }
}

fn two_levels_cached() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(two_levels)
}

fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Real sizes with the default parameters: completeness, a wrong value, and the numbers.
/// `cargo test -p diverge-pcvm --release -- --ignored --nocapture`
#[test]
#[ignore = "heavy: 2^20 and 2^24 coefficients"]
fn large_sizes_end_to_end() {
    for n in [20usize, 24] {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let params = Params::new(n).expect("params");
        let poly = random_poly(&mut rng, n);
        let claims: Vec<Claim> = (0..2)
            .map(|_| true_claim(&poly, random_point(&mut rng, n)))
            .collect();
        let start = std::time::Instant::now();
        let (cm, data) = commit(&params, poly).expect("commit");
        let commit_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = std::time::Instant::now();
        let proof = prove(&params, &data, &claims, &mut Transcript::new(DOMAIN)).expect("prove");
        let prove_ms = start.elapsed().as_secs_f64() * 1e3;
        let verify_ms = best_of(5, || {
            assert_eq!(
                verify(&params, &cm, &claims, &proof, &mut Transcript::new(DOMAIN)),
                Ok(())
            );
        });
        // raw ligerito on the same polynomial and shape (148 queries, no claim), same run
        let raw_params = Params::with_queries(n, 148).expect("params");
        let raw_cfg = raw_params.prover_config().expect("config");
        let start = std::time::Instant::now();
        let raw = ligerito::prove_with_transcript(
            raw_cfg,
            data.poly(),
            ligerito::FiatShamir::new_sha256(0),
        )
        .expect("raw prove");
        let raw_prove_ms = start.elapsed().as_secs_f64() * 1e3;
        let raw_verify_ms = best_of(5, || {
            let ok = ligerito::verify_with_transcript(
                raw_params.verifier_config(),
                &raw,
                ligerito::FiatShamir::new_sha256(0),
            );
            assert!(matches!(ok, Ok(true)));
        });
        eprintln!("2^{n}: raw ligerito prove (incl. commit) {raw_prove_ms:.0} ms, verify {raw_verify_ms:.1} ms (best of 5), {} bytes", raw.size_of());
        let mut wrong = claims.clone();
        wrong[1].value = wrong[1].value.add(&F128::one());
        assert!(verify(&params, &cm, &wrong, &proof, &mut Transcript::new(DOMAIN)).is_err());
        eprintln!(
            "2^{n}: commit {commit_ms:.0} ms, prove {prove_ms:.0} ms, verify {verify_ms:.1} ms (best of 5), {} bytes, {:.2} bits",
            codec::encode(&proof).len(),
            params.security_bits()
        );
    }
}

#[test]
fn every_small_size_round_trips() {
    for n in diverge_pcvm::pcs::MIN_LOG_SIZE..=17 {
        let f = fixture(Params::new(n).expect("params"), n as u64, 1);
        assert_eq!(check(&f, &f.claims, &f.proof), Ok(()), "2^{n}");
        let mut wrong = f.claims.clone();
        wrong[0].value = wrong[0].value.add(&F128::one());
        assert!(check(&f, &wrong, &f.proof).is_err(), "2^{n}");
    }
}

/// Every argument on a commitment of one size shares one parameter set (the Reed–Solomon codes
/// take seconds to build at 2^24); a size `Params::new` refuses is refused, not cached.
#[test]
fn cached_params_are_built_once_per_size() {
    let a = diverge_pcvm::Params::cached(12).expect("2^12 params");
    let b = diverge_pcvm::Params::cached(12).expect("2^12 params");
    assert!(std::ptr::eq(a, b));
    assert!(diverge_pcvm::Params::cached(diverge_pcvm::pcs::MAX_LOG_SIZE + 1).is_err());
    assert!(diverge_pcvm::Params::cached(diverge_pcvm::pcs::MAX_LOG_SIZE + 1).is_err());
}
