//! A generic sumcheck over GF(2^128) for `Σ_{x ∈ {0,1}^n} F(g_1(x), …, g_m(x)) = claim`,
//! with multilinear tables `g_i` and a composition `F` of total degree `d`.
//!
//! Each round sends the univariate round polynomial as its values at the `d + 1` distinct points
//! `0, 1, ω_2, …, ω_d` (`ω_i` = the field element with bit pattern `i`), absorbed before the
//! round's challenge. The verifier checks `g(0) + g(1) =` running claim and moves to `g(r)` by
//! Lagrange interpolation. A false claim survives a round with probability `≤ d/|F|`
//! (Schwartz–Zippel on `g − g_true`, a nonzero polynomial of degree `≤ d`), so `n·d/2^128` in
//! total. At the end the prover states `g_i(r)` for every table (absorbed) and the verifier
//! checks `F(g(r)) =` final claim; the caller must then *discharge* every `g_i(r)` — by a PCS
//! claim, or by evaluating a verifier-known table itself. A sumcheck alone proves nothing about
//! a table whose evaluation is never discharged.

use crate::error::EngineError;
use crate::field::F128;
use crate::transcript::Transcript;
use ligerito::sumcheck_polys::fold_lsb;
use ligerito_binary_fields::BinaryFieldElement;
use rayon::prelude::*;

/// The polynomial `F` combining the tables' values at one point.
pub trait Composition: Sync {
    /// Number of tables `m`.
    fn num_inputs(&self) -> usize;
    /// Total degree of `F` (the round polynomials' degree).
    fn degree(&self) -> usize;
    fn eval(&self, inputs: &[F128]) -> F128;
}

/// Round polynomials (values at [`eval_point`]s) and the tables' values at the final point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumcheckProof {
    pub rounds: Vec<Vec<F128>>,
    pub evals: Vec<F128>,
}

/// The `i`-th interpolation point: distinct for distinct `i` (distinct bit patterns).
pub fn eval_point(i: usize) -> F128 {
    F128::from_value(i as u128)
}

/// `1 / Π_{j≠i} (ω_i + ω_j)` for the `n` points `ω_0..ω_{n-1}`: constants of the Lagrange
/// basis. A verifier interpolates once per sumcheck round and an inversion costs as much as
/// ~100 multiplications in software GF(2^128), so the small sizes every round uses are built
/// once.
fn lagrange_denominators(n: usize) -> Vec<F128> {
    let pts: Vec<F128> = (0..n).map(eval_point).collect();
    (0..n)
        .map(|i| {
            pts.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(F128::one(), |den, (_, &xj)| den.mul(&pts[i].add(&xj)))
                .inv()
        })
        .collect()
}

const CACHED_DENOMINATORS: usize = 9;

/// `g(r)` from `g(eval_point(i)) = values[i]`, `i ≤ d` (Lagrange; the denominators are nonzero
/// because the points are distinct).
pub fn interpolate(values: &[F128], r: F128) -> F128 {
    static CACHE: std::sync::OnceLock<Vec<Vec<F128>>> = std::sync::OnceLock::new();
    let n = values.len();
    let owned;
    let den_inv: &[F128] = if n < CACHED_DENOMINATORS {
        &CACHE.get_or_init(|| {
            (0..CACHED_DENOMINATORS)
                .map(lagrange_denominators)
                .collect()
        })[n]
    } else {
        owned = lagrange_denominators(n);
        &owned
    };
    let pts: Vec<F128> = (0..n).map(eval_point).collect();
    let mut acc = F128::zero();
    for (i, (&v, &d)) in values.iter().zip(den_inv).enumerate() {
        let num = pts
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .fold(F128::one(), |num, (_, &xj)| num.mul(&r.add(&xj)));
        acc = acc.add(&v.mul(&num).mul(&d));
    }
    acc
}

const ROUND: &[u8] = b"pcvm/sumcheck/v1/round";
const CHALLENGE: &[u8] = b"pcvm/sumcheck/v1/challenge";
const EVALS: &[u8] = b"pcvm/sumcheck/v1/evals";

/// One round polynomial's values: `Σ_b F(g(t, b))` for `t` at the interpolation points.
fn round_values<C: Composition + ?Sized>(tables: &[Vec<F128>], comp: &C) -> Vec<F128> {
    let d = comp.degree();
    let half = tables[0].len() / 2;
    let pts: Vec<F128> = (0..=d).map(eval_point).collect();
    (0..half)
        .into_par_iter()
        .fold(
            || (vec![F128::zero(); d + 1], vec![F128::zero(); tables.len()]),
            |(mut acc, mut scratch), b| {
                for (t, &pt) in pts.iter().enumerate() {
                    for (s, table) in scratch.iter_mut().zip(tables) {
                        let (lo, hi) = (table[2 * b], table[2 * b + 1]);
                        *s = lo.add(&pt.mul(&hi.add(&lo)));
                    }
                    acc[t] = acc[t].add(&comp.eval(&scratch));
                }
                (acc, scratch)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(
            || vec![F128::zero(); d + 1],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x = x.add(y);
                }
                a
            },
        )
}

/// Prove `Σ_x F(g(x))` (the prover need not know the sum; a wrong one fails verification).
/// Returns the proof and the final point `r` (lsb variable first).
///
/// Panics if the tables are not `m` equal powers of two (a prover-side programming error).
pub fn prove<C: Composition + ?Sized>(
    mut tables: Vec<Vec<F128>>,
    comp: &C,
    t: &mut Transcript,
) -> (SumcheckProof, Vec<F128>) {
    assert_eq!(
        tables.len(),
        comp.num_inputs(),
        "one table per composition input"
    );
    let len = tables[0].len();
    assert!(len.is_power_of_two() && tables.iter().all(|x| x.len() == len));
    let n = len.trailing_zeros() as usize;
    let mut rounds = Vec::with_capacity(n);
    let mut point = Vec::with_capacity(n);
    for _ in 0..n {
        let values = round_values(&tables, comp);
        t.absorb_f128s(ROUND, &values);
        let r = t.challenge_f128(CHALLENGE);
        tables = tables.into_par_iter().map(|x| fold_lsb(&x, r)).collect();
        rounds.push(values);
        point.push(r);
    }
    let evals: Vec<F128> = tables.iter().map(|x| x[0]).collect();
    t.absorb_f128s(EVALS, &evals);
    (SumcheckProof { rounds, evals }, point)
}

/// Verify a proof of `Σ_x F(g(x)) = claim` over `num_vars` variables; returns the final point.
/// The caller must discharge every `proof.evals[i] = g̃_i(point)`.
pub fn verify<C: Composition + ?Sized>(
    num_vars: usize,
    comp: &C,
    claim: F128,
    proof: &SumcheckProof,
    t: &mut Transcript,
) -> Result<Vec<F128>, EngineError> {
    let d = comp.degree();
    if proof.rounds.len() != num_vars
        || proof.rounds.iter().any(|r| r.len() != d + 1)
        || proof.evals.len() != comp.num_inputs()
    {
        return Err(EngineError::Shape("sumcheck proof"));
    }
    let mut claim = claim;
    let mut point = Vec::with_capacity(num_vars);
    for (i, values) in proof.rounds.iter().enumerate() {
        if values[0].add(&values[1]) != claim {
            return Err(EngineError::SumcheckRound(i));
        }
        t.absorb_f128s(ROUND, values);
        let r = t.challenge_f128(CHALLENGE);
        claim = interpolate(values, r);
        point.push(r);
    }
    t.absorb_f128s(EVALS, &proof.evals);
    if comp.eval(&proof.evals) != claim {
        return Err(EngineError::FinalEvaluation("sumcheck"));
    }
    Ok(point)
}

/// `F = Π inputs` (degree = number of inputs), the common case.
#[derive(Clone, Copy, Debug)]
pub struct Product(pub usize);

impl Composition for Product {
    fn num_inputs(&self) -> usize {
        self.0
    }
    fn degree(&self) -> usize {
        self.0
    }
    fn eval(&self, x: &[F128]) -> F128 {
        x.iter().fold(F128::one(), |a, b| a.mul(b))
    }
}

/// Bytes of sumcheck proofs (16 per field element), for size reports.
pub fn proof_bytes(proofs: &[SumcheckProof]) -> usize {
    proofs
        .iter()
        .map(|l| 16 * (l.rounds.iter().map(Vec::len).sum::<usize>() + l.evals.len()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::evaluate_mle_f128;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_table(rng: &mut ChaCha8Rng, n: usize) -> Vec<F128> {
        (0..1 << n).map(|_| F128::from_value(rng.gen())).collect()
    }

    /// `F(a, b, c) = a·b·c + a + c²`: degree 3, not a product, has a square.
    struct Mixed;
    impl Composition for Mixed {
        fn num_inputs(&self) -> usize {
            3
        }
        fn degree(&self) -> usize {
            3
        }
        fn eval(&self, x: &[F128]) -> F128 {
            x[0].mul(&x[1]).mul(&x[2]).add(&x[0]).add(&x[2].mul(&x[2]))
        }
    }

    fn brute_sum<C: Composition>(tables: &[Vec<F128>], comp: &C) -> F128 {
        (0..tables[0].len()).fold(F128::zero(), |acc, i| {
            let row: Vec<F128> = tables.iter().map(|t| t[i]).collect();
            acc.add(&comp.eval(&row))
        })
    }

    #[test]
    fn interpolation_recovers_polynomials() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let coeffs: Vec<F128> = (0..5).map(|_| F128::from_value(rng.gen())).collect();
        let p = |x: F128| {
            coeffs
                .iter()
                .rev()
                .fold(F128::zero(), |a, c| a.mul(&x).add(c))
        };
        let values: Vec<F128> = (0..5).map(|i| p(eval_point(i))).collect();
        let r = F128::from_value(rng.gen());
        assert_eq!(interpolate(&values, r), p(r));
    }

    #[test]
    fn honest_sumcheck_verifies_and_evals_are_the_tables_at_the_point() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let tables: Vec<Vec<F128>> = (0..3).map(|_| rand_table(&mut rng, 6)).collect();
        let claim = brute_sum(&tables, &Mixed);
        let (proof, point) = prove(tables.clone(), &Mixed, &mut Transcript::new(b"s"));
        let vpoint = verify(6, &Mixed, claim, &proof, &mut Transcript::new(b"s")).expect("verify");
        assert_eq!(point, vpoint);
        for (table, e) in tables.iter().zip(&proof.evals) {
            assert_eq!(evaluate_mle_f128(table, &point), *e);
        }
    }

    #[test]
    fn wrong_claim_or_tampered_proof_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let tables: Vec<Vec<F128>> = (0..2).map(|_| rand_table(&mut rng, 5)).collect();
        let comp = Product(2);
        let claim = brute_sum(&tables, &comp);
        let (proof, _) = prove(tables, &comp, &mut Transcript::new(b"s"));
        let v = |c: F128, p: &SumcheckProof| verify(5, &comp, c, p, &mut Transcript::new(b"s"));
        assert!(v(claim, &proof).is_ok());
        assert_eq!(
            v(claim.add(&F128::one()), &proof),
            Err(EngineError::SumcheckRound(0))
        );
        for i in 0..proof.rounds.len() {
            for j in 0..3 {
                let mut p = proof.clone();
                p.rounds[i][j] = p.rounds[i][j].add(&F128::one());
                assert!(v(claim, &p).is_err(), "round {i} value {j}");
            }
        }
        for i in 0..2 {
            let mut p = proof.clone();
            p.evals[i] = p.evals[i].add(&F128::one());
            assert_eq!(v(claim, &p), Err(EngineError::FinalEvaluation("sumcheck")));
        }
        let mut p = proof.clone();
        p.rounds.pop();
        assert_eq!(v(claim, &p), Err(EngineError::Shape("sumcheck proof")));
        let mut p = proof;
        p.rounds[2].push(F128::zero());
        assert_eq!(v(claim, &p), Err(EngineError::Shape("sumcheck proof")));
    }
}
