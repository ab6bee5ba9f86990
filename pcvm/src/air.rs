//! A toy AIR proven end to end with every engine piece: one commitment to a packed two-column
//! trace, a zerocheck of the row constraints, the shift argument for the next-row columns, and
//! one batched PCS opening that discharges every claimed column value. A second toy statement
//! ([`prove_permutation`]) does the same for the multiset layer: a committed column is a
//! permutation of another, by grand products whose leaf claims the PCS opening discharges.
//!
//! Statement: for public `(a_0, b_0, out)` and `2^log_rows` rows over GF(2^32),
//! `a_{i+1} = b_i`, `b_{i+1} = a_i·b_i + a_i` for every `i < last`, and `b_last = out`.
//!
//! Transcript order: domain, `log_rows`, public inputs → trace root → `λ_0, λ_1` (constraint
//! batching) and `τ` → zerocheck rounds, values at `r` → shift claims, `μ`, shift rounds,
//! column values at `r'` → PCS opening of `a, b` at `r` and `r'` and of the boundary cells.

use crate::error::EngineError;
use crate::field::{column_point, pack_columns, F128, F32};
use crate::pcs::{self, Claim, Commitment, EvalProof, Params};
use crate::shift::{self, next_rows, ShiftProof};
use crate::sumcheck::{Composition, SumcheckProof};
use crate::transcript::Transcript;
use crate::zerocheck;
use ligerito_binary_fields::BinaryFieldElement;

/// Public inputs of the toy statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicInputs {
    pub a0: F32,
    pub b0: F32,
    pub out: F32,
}

/// The trace columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub a: Vec<F32>,
    pub b: Vec<F32>,
}

/// The honest trace for `(a_0, b_0)` and its public inputs.
pub fn generate(log_rows: usize, a0: F32, b0: F32) -> (Trace, PublicInputs) {
    let rows = 1usize << log_rows;
    let (mut a, mut b) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let (mut x, mut y) = (a0, b0);
    for _ in 0..rows {
        a.push(x);
        b.push(y);
        (x, y) = (y, x.mul(&y).add(&x));
    }
    let out = b[rows - 1];
    (Trace { a, b }, PublicInputs { a0, b0, out })
}

/// Where a trace violates the statement: the native constraint checker's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    Shape,
    Boundary,
    Transition(usize),
}

/// The debug oracle: checks the statement directly on the trace, row by row, without any
/// polynomial machinery. The prover uses it to refuse unsatisfiable traces early; tests use it
/// to check that the constraint polynomial says the same thing.
pub fn check(log_rows: usize, trace: &Trace, public: &PublicInputs) -> Result<(), Violation> {
    let rows = 1usize << log_rows;
    if trace.a.len() != rows || trace.b.len() != rows {
        return Err(Violation::Shape);
    }
    if trace.a[0] != public.a0 || trace.b[0] != public.b0 || trace.b[rows - 1] != public.out {
        return Err(Violation::Boundary);
    }
    for i in 0..rows - 1 {
        let (a, b) = (trace.a[i], trace.b[i]);
        if trace.a[i + 1] != b || trace.b[i + 1] != a.mul(&b).add(&a) {
            return Err(Violation::Transition(i));
        }
    }
    Ok(())
}

/// The row constraints `notlast · (λ_0 (a' + b) + λ_1 (b' + a·b + a))` on the inputs
/// `[notlast, a, b, a', b']` (degree 3). Independent `λ`s keep one constraint from cancelling
/// the other.
#[derive(Clone, Copy, Debug)]
pub struct Constraints {
    pub lambda: [F128; 2],
}

impl Composition for Constraints {
    fn num_inputs(&self) -> usize {
        5
    }
    fn degree(&self) -> usize {
        3
    }
    fn eval(&self, x: &[F128]) -> F128 {
        let [notlast, a, b, an, bn] = [x[0], x[1], x[2], x[3], x[4]];
        let copy = an.add(&b);
        let step = bn.add(&a.mul(&b)).add(&a);
        notlast.mul(&self.lambda[0].mul(&copy).add(&self.lambda[1].mul(&step)))
    }
}

/// A proof of the toy statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AirProof {
    pub commitment: Commitment,
    pub zerocheck: SumcheckProof,
    pub shift: ShiftProof,
    pub opening: EvalProof,
}

const DOMAIN: &[u8] = b"pcvm/toy-air/v1";

fn begin(
    log_rows: usize,
    public: &PublicInputs,
    cm: &Commitment,
) -> (Transcript, Constraints, Vec<F128>) {
    let mut t = Transcript::new(DOMAIN);
    t.absorb_u64(b"log-rows", log_rows as u64);
    t.absorb_f32s(b"public", &[public.a0, public.b0, public.out]);
    t.absorb_bytes(b"trace-root", &cm.root);
    let l = t.challenge_f128s(b"constraint-batch", 2);
    let tau = zerocheck::draw_tau(&mut t, log_rows);
    (
        t,
        Constraints {
            lambda: [l[0], l[1]],
        },
        tau,
    )
}

/// The PCS claims discharging every value the zerocheck and the shift left open, plus the
/// boundary cells (boolean points: the lifted cell values).
fn claims(
    log_rows: usize,
    public: &PublicInputs,
    r: &[F128],
    ab_r: [F128; 2],
    rp: &[F128],
    ab_rp: [F128; 2],
) -> Vec<Claim> {
    let rows = 1usize << log_rows;
    let n = log_rows + 1;
    let cell = |col: usize, row: usize, v: F32| Claim {
        point: column_point(col * rows + row, n, &[]),
        value: F128::from(v),
    };
    vec![
        Claim {
            point: column_point(0, 1, r),
            value: ab_r[0],
        },
        Claim {
            point: column_point(1, 1, r),
            value: ab_r[1],
        },
        Claim {
            point: column_point(0, 1, rp),
            value: ab_rp[0],
        },
        Claim {
            point: column_point(1, 1, rp),
            value: ab_rp[1],
        },
        cell(0, 0, public.a0),
        cell(1, 0, public.b0),
        cell(1, rows - 1, public.out),
    ]
}

fn params_for(log_rows: usize) -> Result<Params, EngineError> {
    Ok(Params::new(log_rows + 1)?)
}

/// Prove the statement for `trace`. The native checker runs first: a violating trace is
/// refused with its violation (proving it would only produce a rejected proof).
pub fn prove(
    log_rows: usize,
    trace: &Trace,
    public: &PublicInputs,
) -> Result<AirProof, Result<Violation, EngineError>> {
    check(log_rows, trace, public).map_err(Ok)?;
    prove_unchecked(log_rows, trace, public).map_err(Err)
}

/// [`prove`] without the native check: what a malicious prover runs (tests use it to show the
/// verifier rejects bad traces on its own).
pub fn prove_unchecked(
    log_rows: usize,
    trace: &Trace,
    public: &PublicInputs,
) -> Result<AirProof, EngineError> {
    let params = params_for(log_rows)?;
    let rows = 1usize << log_rows;
    if trace.a.len() != rows || trace.b.len() != rows {
        return Err(EngineError::Shape("trace"));
    }
    let (commitment, data) = pcs::commit(
        &params,
        pack_columns(&[trace.a.clone(), trace.b.clone()], log_rows),
    )?;
    let (mut t, comp, tau) = begin(log_rows, public, &commitment);

    let lift = |c: &[F32]| -> Vec<F128> { c.iter().map(|&x| F128::from(x)).collect() };
    let (a, b) = (lift(&trace.a), lift(&trace.b));
    let mut notlast = vec![F128::one(); rows];
    notlast[rows - 1] = F128::zero();
    let tables = vec![notlast, a.clone(), b.clone(), next_rows(&a), next_rows(&b)];
    let (zerocheck, r) = zerocheck::prove(tables, &comp, &tau, &mut t);
    let e = &zerocheck.evals;
    let (shift, rp) = shift::prove(&[a, b], &r, &[e[4], e[5]], &mut t);
    let c = claims(
        log_rows,
        public,
        &r,
        [e[2], e[3]],
        &rp,
        [shift.column_evals[0], shift.column_evals[1]],
    );
    let opening = pcs::prove(&params, &data, &c, &mut t)?;
    Ok(AirProof {
        commitment,
        zerocheck,
        shift,
        opening,
    })
}

/// Verify a proof of the statement for `public`.
pub fn verify(log_rows: usize, public: &PublicInputs, proof: &AirProof) -> Result<(), EngineError> {
    let params = params_for(log_rows)?;
    let (mut t, comp, tau) = begin(log_rows, public, &proof.commitment);
    let (r, evals) = zerocheck::verify(&comp, &tau, &proof.zerocheck, &mut t)?;
    // [notlast, a, b, a', b'] at r: notlast is verifier-known, 1 + Π r_i
    let last = r.iter().fold(F128::one(), |acc, x| acc.mul(x));
    if evals[0] != F128::one().add(&last) {
        return Err(EngineError::FinalEvaluation("not-last selector"));
    }
    let rp = shift::verify(&r, &[evals[3], evals[4]], &proof.shift, &mut t)?;
    let ce = &proof.shift.column_evals;
    let c = claims(
        log_rows,
        public,
        &r,
        [evals[1], evals[2]],
        &rp,
        [ce[0], ce[1]],
    );
    pcs::verify(&params, &proof.commitment, &c, &proof.opening, &mut t)?;
    Ok(())
}

/// A second toy statement, for the multiset layer end to end: "committed column `c` is a
/// permutation of committed column `a`" (both `2^log_rows` long, packed as `[a, c]`).
/// Transcript: domain, `log_rows`, root → `γ` → both grand products → one PCS opening of `a`
/// and `c` at the points the grand products end in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationProof {
    pub commitment: Commitment,
    pub multiset: crate::grand_product::MultisetProof,
    pub opening: EvalProof,
}

const PERMUTATION_DOMAIN: &[u8] = b"pcvm/toy-permutation/v1";

fn permutation_begin(log_rows: usize, cm: &Commitment) -> (Transcript, F128) {
    let mut t = Transcript::new(PERMUTATION_DOMAIN);
    t.absorb_u64(b"log-rows", log_rows as u64);
    t.absorb_bytes(b"root", &cm.root);
    let gamma = crate::grand_product::draw_gamma(&mut t);
    (t, gamma)
}

fn permutation_claims(opens: &[(Vec<F128>, F128); 2]) -> Vec<Claim> {
    opens
        .iter()
        .enumerate()
        .map(|(col, (r, v))| Claim {
            point: column_point(col, 1, r),
            value: *v,
        })
        .collect()
}

/// Prove that `c` is a permutation of `a` (no native pre-check: a wrong `c` yields a proof the
/// verifier rejects).
pub fn prove_permutation(
    log_rows: usize,
    a: &[F32],
    c: &[F32],
) -> Result<PermutationProof, EngineError> {
    let rows = 1usize << log_rows;
    if a.len() != rows || c.len() != rows {
        return Err(EngineError::Shape("columns"));
    }
    let params = params_for(log_rows)?;
    let (commitment, data) =
        pcs::commit(&params, pack_columns(&[a.to_vec(), c.to_vec()], log_rows))?;
    let (mut t, gamma) = permutation_begin(log_rows, &commitment);
    let lift = |x: &[F32]| -> Vec<F128> { x.iter().map(|&v| F128::from(v)).collect() };
    let (multiset, opens) = crate::grand_product::prove_multiset(&lift(a), &lift(c), gamma, &mut t);
    let opening = pcs::prove(&params, &data, &permutation_claims(&opens), &mut t)?;
    Ok(PermutationProof {
        commitment,
        multiset,
        opening,
    })
}

pub fn verify_permutation(log_rows: usize, proof: &PermutationProof) -> Result<(), EngineError> {
    let params = params_for(log_rows)?;
    let (mut t, gamma) = permutation_begin(log_rows, &proof.commitment);
    let opens = crate::grand_product::verify_multiset(log_rows, &proof.multiset, gamma, &mut t)?;
    pcs::verify(
        &params,
        &proof.commitment,
        &permutation_claims(&opens),
        &proof.opening,
        &mut t,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG_ROWS: usize = 8;

    fn honest() -> (Trace, PublicInputs) {
        generate(LOG_ROWS, F32::from_value(3), F32::from_value(0x9e37_79b9))
    }

    #[test]
    fn honest_trace_proves_and_verifies() {
        let (trace, public) = honest();
        assert_eq!(check(LOG_ROWS, &trace, &public), Ok(()));
        let proof = prove(LOG_ROWS, &trace, &public).expect("prove");
        assert_eq!(verify(LOG_ROWS, &public, &proof), Ok(()));
    }

    #[test]
    fn wrong_public_inputs_rejected() {
        let (trace, public) = honest();
        let proof = prove(LOG_ROWS, &trace, &public).expect("prove");
        for p in [
            PublicInputs {
                out: public.out.add(&F32::one()),
                ..public
            },
            PublicInputs {
                a0: public.a0.add(&F32::one()),
                ..public
            },
            PublicInputs {
                b0: public.b0.add(&F32::one()),
                ..public
            },
        ] {
            assert!(verify(LOG_ROWS, &p, &proof).is_err());
        }
        assert!(verify(LOG_ROWS + 1, &public, &proof).is_err());
    }

    /// The constraint polynomial (with either λ switched off) vanishes on exactly the rows the
    /// native checker accepts.
    #[test]
    fn constraints_agree_with_the_native_checker() {
        let (mut trace, public) = honest();
        trace.b[77] = trace.b[77].add(&F32::from_value(5));
        let bad = check(LOG_ROWS, &trace, &public);
        assert_eq!(bad, Err(Violation::Transition(76)));
        let rows = 1 << LOG_ROWS;
        for lambda in [[F128::one(), F128::zero()], [F128::zero(), F128::one()]] {
            let comp = Constraints { lambda };
            for i in 0..rows {
                let at = |c: &[F32], j: usize| c.get(j).map_or(F128::zero(), |&x| F128::from(x));
                let notlast = if i == rows - 1 {
                    F128::zero()
                } else {
                    F128::one()
                };
                let v = comp.eval(&[
                    notlast,
                    at(&trace.a, i),
                    at(&trace.b, i),
                    at(&trace.a, i + 1),
                    at(&trace.b, i + 1),
                ]);
                let native_ok = i == rows - 1
                    || (trace.a[i + 1] == trace.b[i]
                        && trace.b[i + 1] == trace.a[i].mul(&trace.b[i]).add(&trace.a[i]));
                if native_ok {
                    assert_eq!(v, F128::zero(), "row {i}");
                }
            }
        }
        // each bad row is caught by at least one of the two constraints
        let comp_sum = |i: usize| {
            let at = |c: &[F32], j: usize| F128::from(c[j]);
            Constraints {
                lambda: [F128::one(), F128::from_value(2)],
            }
            .eval(&[
                F128::one(),
                at(&trace.a, i),
                at(&trace.b, i),
                at(&trace.a, i + 1),
                at(&trace.b, i + 1),
            ])
        };
        assert_ne!(comp_sum(76), F128::zero());
        assert_ne!(comp_sum(77), F128::zero());
    }

    /// A malicious prover skipping the native check: every kind of bad trace is rejected by the
    /// verifier alone.
    #[test]
    fn bad_traces_rejected_by_the_verifier() {
        let (trace, public) = honest();
        let delta = F32::from_value(0x40);
        let mut cases = Vec::new();
        let mut t = trace.clone();
        t.b[100] = t.b[100].add(&delta);
        cases.push(t);
        let mut t = trace.clone();
        t.a[200] = t.a[200].add(&delta);
        cases.push(t);
        // the same wrong value at two rows (cancels in an unweighted char-2 sum)
        let mut t = trace.clone();
        t.a[10] = t.a[10].add(&delta);
        t.a[11] = t.a[11].add(&delta);
        cases.push(t);
        // last row edited without changing `out`: the boundary claim catches it
        let mut t = trace.clone();
        t.b[255] = t.b[255].add(&delta);
        cases.push(t);
        for (i, t) in cases.iter().enumerate() {
            assert!(check(LOG_ROWS, t, &public).is_err(), "case {i} is bad");
            assert!(
                matches!(prove(LOG_ROWS, t, &public), Err(Ok(_))),
                "case {i} refused"
            );
            let proof = prove_unchecked(LOG_ROWS, t, &public).expect("prove");
            assert!(
                verify(LOG_ROWS, &public, &proof).is_err(),
                "case {i} accepted"
            );
        }
    }

    /// A larger trace: 2^16 rows (a 2^17-coefficient commitment).
    /// `cargo test -p diverge-pcvm -- --ignored --nocapture`
    #[test]
    #[ignore = "heavy: 2^16 rows"]
    fn large_trace_end_to_end() {
        let log_rows = 16;
        let (trace, public) = generate(log_rows, F32::from_value(5), F32::from_value(7));
        let start = std::time::Instant::now();
        let proof = prove(log_rows, &trace, &public).expect("prove");
        let prove_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = std::time::Instant::now();
        assert_eq!(verify(log_rows, &public, &proof), Ok(()));
        let verify_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut bad = trace;
        bad.a[40_000] = bad.a[40_000].add(&F32::one());
        let forged = prove_unchecked(log_rows, &bad, &public).expect("prove");
        assert!(verify(log_rows, &public, &forged).is_err());
        eprintln!("toy AIR 2^{log_rows} rows: prove {prove_ms:.0} ms, verify {verify_ms:.1} ms");
    }

    fn honest_proof_cached() -> &'static (AirProof, PublicInputs) {
        static P: std::sync::OnceLock<(AirProof, PublicInputs)> = std::sync::OnceLock::new();
        P.get_or_init(|| {
            let (trace, public) = honest();
            (prove(LOG_ROWS, &trace, &public).expect("prove"), public)
        })
    }

    fn flip(x: &mut F128, bit: u32) {
        *x = x.add(&F128::from_value(1u128 << (bit % 128)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Random edits anywhere in an AIR proof (values, lengths, opening bytes) are rejected
        /// with an error, never a panic.
        #[test]
        fn random_edits_rejected(op in 0usize..8, i in proptest::prelude::any::<proptest::sample::Index>(), j in proptest::prelude::any::<proptest::sample::Index>(), bit in 0u32..128) {
            let (proof, public) = honest_proof_cached();
            let mut p = proof.clone();
            match op {
                0 => {
                    let r = i.index(p.zerocheck.rounds.len());
                    let k = j.index(p.zerocheck.rounds[r].len());
                    flip(&mut p.zerocheck.rounds[r][k], bit);
                }
                1 => {
                    let r = i.index(p.zerocheck.rounds.len());
                    p.zerocheck.rounds[r].pop();
                }
                2 => {
                    let k = i.index(p.zerocheck.evals.len());
                    flip(&mut p.zerocheck.evals[k], bit);
                }
                3 => p.zerocheck.evals.truncate(i.index(p.zerocheck.evals.len())),
                4 => {
                    let r = i.index(p.shift.sumcheck.rounds.len());
                    let k = j.index(p.shift.sumcheck.rounds[r].len());
                    flip(&mut p.shift.sumcheck.rounds[r][k], bit);
                }
                5 => {
                    let k = i.index(p.shift.column_evals.len());
                    flip(&mut p.shift.column_evals[k], bit);
                }
                6 => p.shift.column_evals.truncate(i.index(p.shift.column_evals.len())),
                _ => {
                    let mut bytes = crate::codec::encode(&p.opening);
                    let k = i.index(bytes.len());
                    bytes[k] ^= 1 << (bit % 8);
                    match crate::codec::decode(&bytes) {
                        Ok(o) => p.opening = o,
                        Err(_) => return Ok(()),
                    }
                }
            }
            proptest::prop_assert!(verify(LOG_ROWS, public, &p).is_err());
        }
    }

    #[test]
    fn permutation_statement_end_to_end() {
        let (trace, _) = honest();
        let a = trace.a;
        let mut c = a.clone();
        c.reverse();
        c.swap(1, 200);
        let proof = prove_permutation(LOG_ROWS, &a, &c).expect("prove");
        assert_eq!(verify_permutation(LOG_ROWS, &proof), Ok(()));
        // one entry replaced, or one entry duplicated over another: not a permutation
        let mut d = c.clone();
        d[9] = d[9].add(&F32::one());
        let bad = prove_permutation(LOG_ROWS, &a, &d).expect("prove");
        assert!(verify_permutation(LOG_ROWS, &bad).is_err());
        let mut d = c.clone();
        d[10] = d[11];
        let bad = prove_permutation(LOG_ROWS, &a, &d).expect("prove");
        assert!(verify_permutation(LOG_ROWS, &bad).is_err());
        // the honest proof with a tampered product, layer value or opening
        let mut p = proof.clone();
        p.multiset.right.product = p.multiset.right.product.add(&F128::one());
        assert!(verify_permutation(LOG_ROWS, &p).is_err());
        let mut p = proof.clone();
        p.multiset.left.layers[3].evals[1] = p.multiset.left.layers[3].evals[1].add(&F128::one());
        assert!(verify_permutation(LOG_ROWS, &p).is_err());
        let mut p = proof;
        p.opening.final_message[1] = p.opening.final_message[1].add(&F128::one());
        assert!(verify_permutation(LOG_ROWS, &p).is_err());
    }

    #[test]
    fn tampered_engine_proofs_rejected() {
        let (trace, public) = honest();
        let proof = prove(LOG_ROWS, &trace, &public).expect("prove");
        let edits: [fn(&mut AirProof); 9] = [
            |p| p.commitment.root[0] ^= 1,
            |p| p.zerocheck.rounds[3][2] = p.zerocheck.rounds[3][2].add(&F128::one()),
            |p| p.zerocheck.evals[1] = p.zerocheck.evals[1].add(&F128::one()),
            |p| p.zerocheck.evals[4] = p.zerocheck.evals[4].add(&F128::one()),
            |p| p.shift.sumcheck.rounds[0][0] = p.shift.sumcheck.rounds[0][0].add(&F128::one()),
            |p| p.shift.sumcheck.evals[0] = p.shift.sumcheck.evals[0].add(&F128::one()),
            |p| p.shift.column_evals[1] = p.shift.column_evals[1].add(&F128::one()),
            |p| p.opening.final_message[0] = p.opening.final_message[0].add(&F128::one()),
            |p| {
                p.zerocheck.rounds.pop();
            },
        ];
        for (i, e) in edits.iter().enumerate() {
            let mut p = proof.clone();
            e(&mut p);
            assert!(verify(LOG_ROWS, &public, &p).is_err(), "edit {i} accepted");
        }
    }
}
