//! Shift argument: claims about "next row" columns `s(x) = c(x + 1)` reduced to claims about
//! the committed columns `c`, so next-row constraints need no extra commitment.
//!
//! Rows are numbered by their index bits (lsb = variable 0); `x + 1` is integer successor and
//! the last row has no successor (`s(2^n − 1) = 0`: transition constraints carry a
//! "not last row" selector). Then `s̃(r) = Σ_y c(y)·Ŝ(r, y)` with the successor indicator
//! `Ŝ(a, b) = Σ_{x < 2^n−1} eq(a, x)·eq(b, x + 1)`, a degree-2 sumcheck whose final claim needs
//! `c̃(r')` (a new opening) and `Ŝ(r, r')`, which the verifier computes in `O(n)`:
//! `x + 1` turns the lowest `k` ones of `x` into zeros and the zero above them into a one, so
//! `Ŝ(a, b) = Σ_k [Π_{i<k} a_i (1 + b_i)] · (1 + a_k) b_k · Π_{i>k} eq(a_i, b_i)`.
//! Several shifted columns are batched with independent `μ_j` drawn after their claims.

use crate::error::EngineError;
use crate::field::{eq_factor, eq_table, evaluate_mle_f128, F128};
use crate::sumcheck::{self, Product, SumcheckProof};
use crate::transcript::Transcript;
use ligerito_binary_fields::BinaryFieldElement;

/// `Ŝ(a, b)` for `|a| = |b| = n`, in `O(n)`.
pub fn successor_eval(a: &[F128], b: &[F128]) -> F128 {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    let mut suffix = vec![F128::one(); n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1].mul(&eq_factor(a[i], b[i]));
    }
    let one = F128::one();
    let mut prefix = F128::one();
    let mut acc = F128::zero();
    for k in 0..n {
        let carry = one.add(&a[k]).mul(&b[k]);
        acc = acc.add(&prefix.mul(&carry).mul(&suffix[k + 1]));
        prefix = prefix.mul(&a[k].mul(&one.add(&b[k])));
    }
    acc
}

/// `Ŝ(a, y)` for every row `y`: `eq(a, y − 1)` for `y ≥ 1`, and 0 for `y = 0`.
pub fn successor_table(a: &[F128]) -> Vec<F128> {
    let eq = eq_table(a);
    let mut t = vec![F128::zero(); eq.len()];
    t[1..].copy_from_slice(&eq[..eq.len() - 1]);
    t
}

/// The next-row column: `s[x] = c[x + 1]`, `s[last] = 0`.
pub fn next_rows<E: Copy + Default>(c: &[E]) -> Vec<E> {
    let mut s = c[1..].to_vec();
    s.push(E::default());
    s
}

/// The shift sumcheck and the committed columns' values at its final point `r'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftProof {
    pub sumcheck: SumcheckProof,
    pub column_evals: Vec<F128>,
}

const CLAIMS: &[u8] = b"pcvm/shift/v1/claims";
const BATCH: &[u8] = b"pcvm/shift/v1/batch";
const COLUMN_EVALS: &[u8] = b"pcvm/shift/v1/column-evals";

/// Prove `s̃_j(r) = claims[j]` for the next-row columns of `columns`; returns `r'`, where the
/// caller must open every `c̃_j(r') = column_evals[j]`.
pub fn prove(
    columns: &[Vec<F128>],
    r: &[F128],
    claims: &[F128],
    t: &mut Transcript,
) -> (ShiftProof, Vec<F128>) {
    t.absorb_f128s(CLAIMS, claims);
    let mu = t.challenge_f128s(BATCH, columns.len());
    let mut combined = vec![F128::zero(); 1 << r.len()];
    for (c, m) in columns.iter().zip(&mu) {
        for (x, y) in combined.iter_mut().zip(c) {
            *x = x.add(&m.mul(y));
        }
    }
    let (sumcheck, point) = sumcheck::prove(vec![combined, successor_table(r)], &Product(2), t);
    let column_evals: Vec<F128> = columns
        .iter()
        .map(|c| evaluate_mle_f128(c, &point))
        .collect();
    t.absorb_f128s(COLUMN_EVALS, &column_evals);
    (
        ShiftProof {
            sumcheck,
            column_evals,
        },
        point,
    )
}

/// Verify `s̃_j(r) = claims[j]`; returns `r'` (the caller discharges `proof.column_evals`).
pub fn verify(
    r: &[F128],
    claims: &[F128],
    proof: &ShiftProof,
    t: &mut Transcript,
) -> Result<Vec<F128>, EngineError> {
    if proof.column_evals.len() != claims.len() {
        return Err(EngineError::Shape("shift column evaluations"));
    }
    t.absorb_f128s(CLAIMS, claims);
    let mu = t.challenge_f128s(BATCH, claims.len());
    let claim = claims
        .iter()
        .zip(&mu)
        .fold(F128::zero(), |acc, (c, m)| acc.add(&m.mul(c)));
    let point = sumcheck::verify(r.len(), &Product(2), claim, &proof.sumcheck, t)?;
    t.absorb_f128s(COLUMN_EVALS, &proof.column_evals);
    if proof.sumcheck.evals[1] != successor_eval(r, &point) {
        return Err(EngineError::FinalEvaluation("shift successor indicator"));
    }
    let combined = proof
        .column_evals
        .iter()
        .zip(&mu)
        .fold(F128::zero(), |acc, (c, m)| acc.add(&m.mul(c)));
    if proof.sumcheck.evals[0] != combined {
        return Err(EngineError::FinalEvaluation("shift column combination"));
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{column_point, eq_eval};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<F128> {
        (0..n).map(|_| F128::from_value(rng.gen())).collect()
    }

    #[test]
    fn successor_eval_matches_its_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in 1..6 {
            let (a, b) = (rand_vec(&mut rng, n), rand_vec(&mut rng, n));
            let brute = (0..(1usize << n) - 1).fold(F128::zero(), |acc, x| {
                acc.add(
                    &eq_eval(&a, &column_point(x, n, &[]))
                        .mul(&eq_eval(&b, &column_point(x + 1, n, &[]))),
                )
            });
            assert_eq!(successor_eval(&a, &b), brute, "n={n}");
            let table = successor_table(&a);
            for (y, &ty) in table.iter().enumerate() {
                assert_eq!(ty, successor_eval(&a, &column_point(y, n, &[])));
            }
        }
    }

    fn run(columns: &[Vec<F128>], claims: &[F128], r: &[F128]) -> Result<(), EngineError> {
        let (proof, _) = prove(columns, r, claims, &mut Transcript::new(b"s"));
        let rp = verify(r, claims, &proof, &mut Transcript::new(b"s"))?;
        for (c, e) in columns.iter().zip(&proof.column_evals) {
            if evaluate_mle_f128(c, &rp) != *e {
                return Err(EngineError::FinalEvaluation("column"));
            }
        }
        Ok(())
    }

    #[test]
    fn next_row_claims_reduce_to_column_claims() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let n = 6;
        let cols: Vec<Vec<F128>> = (0..3).map(|_| rand_vec(&mut rng, 1 << n)).collect();
        let r = rand_vec(&mut rng, n);
        let claims: Vec<F128> = cols
            .iter()
            .map(|c| evaluate_mle_f128(&next_rows(c), &r))
            .collect();
        assert_eq!(run(&cols, &claims, &r), Ok(()));
        // the unshifted value, or a cyclic shift's, is not the next-row value
        let mut wrong = claims.clone();
        wrong[1] = evaluate_mle_f128(&cols[1], &r);
        assert!(run(&cols, &wrong, &r).is_err());
        let mut cyclic = cols[2][1..].to_vec();
        cyclic.push(cols[2][0]);
        let mut wrong = claims;
        wrong[2] = evaluate_mle_f128(&cyclic, &r);
        assert!(run(&cols, &wrong, &r).is_err());
    }
}
