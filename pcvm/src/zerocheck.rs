//! Zerocheck: prove `F(g(x)) = 0` for every `x ∈ {0,1}^n`.
//!
//! Reduced to the sumcheck `Σ_x eq(τ, x)·F(g(x)) = 0` with `τ ∈ GF(2^128)^n` drawn *after* the
//! tables are committed. The left side is the multilinear extension of `C(x) = F(g(x))` (as a
//! function on the cube) evaluated at `τ`; if any `C(x) ≠ 0` that extension is a nonzero
//! multilinear polynomial in `τ`, which vanishes with probability `≤ n/2^128`. Without the
//! `eq(τ, ·)` weights, `Σ_x C(x) = 0` would accept any `C` whose nonzero values cancel — in
//! characteristic 2 already two equal bad rows. The verifier discharges the `eq` table itself.

use crate::error::EngineError;
use crate::field::{eq_eval, eq_table, F128};
use crate::sumcheck::{self, Composition, SumcheckProof};
use crate::transcript::Transcript;
use ligerito_binary_fields::BinaryFieldElement;

/// `eq(τ, x) · F(inputs)`: input 0 is the `eq(τ, ·)` table.
#[derive(Debug)]
pub struct EqWeighted<'a, C: ?Sized>(pub &'a C);

impl<C: Composition + ?Sized> Composition for EqWeighted<'_, C> {
    fn num_inputs(&self) -> usize {
        1 + self.0.num_inputs()
    }
    fn degree(&self) -> usize {
        1 + self.0.degree()
    }
    fn eval(&self, x: &[F128]) -> F128 {
        x[0].mul(&self.0.eval(&x[1..]))
    }
}

/// Draw the zerocheck point; call only after the tables' commitment is absorbed.
pub fn draw_tau(t: &mut Transcript, num_vars: usize) -> Vec<F128> {
    t.challenge_f128s(b"pcvm/zerocheck/v1/tau", num_vars)
}

/// Prove that `comp` vanishes on every row of `tables`. `proof.evals[0]` is `eq(τ, r)`,
/// `proof.evals[1..]` the tables at the final point `r` (to be discharged by the caller).
pub fn prove<C: Composition + ?Sized>(
    tables: Vec<Vec<F128>>,
    comp: &C,
    tau: &[F128],
    t: &mut Transcript,
) -> (SumcheckProof, Vec<F128>) {
    let mut all = Vec::with_capacity(tables.len() + 1);
    all.push(eq_table(tau));
    all.extend(tables);
    sumcheck::prove(all, &EqWeighted(comp), t)
}

/// Verify a zerocheck over `τ.len()` variables; returns the final point and the claimed values
/// of the caller's tables there (every one must be discharged).
pub fn verify<'p, C: Composition + ?Sized>(
    comp: &C,
    tau: &[F128],
    proof: &'p SumcheckProof,
    t: &mut Transcript,
) -> Result<(Vec<F128>, &'p [F128]), EngineError> {
    let point = sumcheck::verify(tau.len(), &EqWeighted(comp), F128::zero(), proof, t)?;
    if proof.evals[0] != eq_eval(tau, &point) {
        return Err(EngineError::FinalEvaluation("zerocheck eq(tau, r)"));
    }
    Ok((point, &proof.evals[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `F(a, b, c) = a·b + c`: zero on a row iff `c = a·b`.
    struct MulGate;
    impl Composition for MulGate {
        fn num_inputs(&self) -> usize {
            3
        }
        fn degree(&self) -> usize {
            2
        }
        fn eval(&self, x: &[F128]) -> F128 {
            x[0].mul(&x[1]).add(&x[2])
        }
    }

    fn tables(rng: &mut ChaCha8Rng, n: usize) -> Vec<Vec<F128>> {
        let a: Vec<F128> = (0..1 << n).map(|_| F128::from_value(rng.gen())).collect();
        let b: Vec<F128> = (0..1 << n).map(|_| F128::from_value(rng.gen())).collect();
        let c = a.iter().zip(&b).map(|(x, y)| x.mul(y)).collect();
        vec![a, b, c]
    }

    fn run(tables: Vec<Vec<F128>>) -> Result<(), EngineError> {
        let n = tables[0].len().trailing_zeros() as usize;
        let mut pt = Transcript::new(b"z");
        let tau = draw_tau(&mut pt, n);
        let (proof, _) = prove(tables.clone(), &MulGate, &tau, &mut pt);
        let mut vt = Transcript::new(b"z");
        let tau = draw_tau(&mut vt, n);
        let (r, evals) = verify(&MulGate, &tau, &proof, &mut vt)?;
        // discharge the tables here directly (a real protocol opens a commitment)
        for (table, e) in tables.iter().zip(evals) {
            if crate::field::evaluate_mle_f128(table, &r) != *e {
                return Err(EngineError::FinalEvaluation("table"));
            }
        }
        Ok(())
    }

    #[test]
    fn satisfied_rows_verify() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        assert_eq!(run(tables(&mut rng, 6)), Ok(()));
    }

    #[test]
    fn one_bad_row_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut t = tables(&mut rng, 6);
        t[2][17] = t[2][17].add(&F128::one());
        assert!(run(t).is_err());
    }

    /// Two rows with the same nonzero constraint value cancel in an unweighted sum over a
    /// field of characteristic 2; the eq weighting must still catch them.
    #[test]
    fn two_equal_bad_rows_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut t = tables(&mut rng, 6);
        let delta = F128::from_value(0x1234);
        t[2][3] = t[2][3].add(&delta);
        t[2][40] = t[2][40].add(&delta);
        let unweighted = (0..64).fold(F128::zero(), |acc, i| {
            acc.add(&MulGate.eval(&[t[0][i], t[1][i], t[2][i]]))
        });
        assert_eq!(
            unweighted,
            F128::zero(),
            "the bad rows do cancel without weights"
        );
        assert!(run(t).is_err());
    }
}
