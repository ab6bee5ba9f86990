//! Grand products and multiset equality, by a layered (GKR-style) product circuit: no extra
//! commitment, one sumcheck per layer.
//!
//! Layer 0 is the leaf table, layer `i + 1` multiplies adjacent pairs of layer `i`
//! (`L_{i+1}[x] = L_i[2x]·L_i[2x+1]`, the pairing bit is the lsb variable), and the single
//! entry of layer `n` is the product. Going down, a claim `L̃_{i+1}(r) = c` becomes
//! `c = Σ_x eq(r, x)·L̃_i(0, x)·L̃_i(1, x)` (degree-3 sumcheck, `eq` discharged by the verifier),
//! whose end values `e_0 = L̃_i(0, r')`, `e_1 = L̃_i(1, r')` merge into one claim
//! `L̃_i(ρ, r') = e_0 + ρ(e_0 + e_1)` at a fresh `ρ`. The last claim is on the leaves' MLE; the
//! caller discharges it (for leaves `γ + a(x)`: `ã(r) = c + γ`, a PCS claim on `a`).
//!
//! Multiset equality `{a(x)} = {b(x)}`: with `γ` drawn after `a` and `b` are committed,
//! `Π (γ + a(x)) = Π (γ + b(x))`. Different multisets give different polynomials
//! `Π (X + a_i) ≠ Π (X + b_i)` of degree `2^n`, equal at `γ` with probability `≤ 2^n/2^128`.
//! This counts multiplicities exactly; a logarithmic-derivative sum (LogUp) would count them
//! mod 2 in characteristic 2, so a value taken twice could pass for a value taken zero times.

use crate::error::EngineError;
use crate::field::{eq_eval, eq_table, F128};
use crate::sumcheck::{self, Composition, Product, SumcheckProof};
use crate::transcript::Transcript;
use ligerito_binary_fields::BinaryFieldElement;

/// The claimed product and one sumcheck per layer (top layer first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrandProductProof {
    pub product: F128,
    pub layers: Vec<SumcheckProof>,
}

const PRODUCT: &[u8] = b"pcvm/grand-product/v1/product";
const MERGE: &[u8] = b"pcvm/grand-product/v1/merge";

/// Prove the product of `leaves` (a power-of-two table). Returns the proof, the point `r` and
/// the value `c` of the leaves' MLE there, which the caller must discharge.
pub fn prove(leaves: Vec<F128>, t: &mut Transcript) -> (GrandProductProof, Vec<F128>, F128) {
    assert!(
        leaves.len().is_power_of_two(),
        "leaves must be a power of two"
    );
    let n = leaves.len().trailing_zeros() as usize;
    let mut layers = vec![leaves];
    for _ in 0..n {
        let prev = &layers[layers.len() - 1];
        let next: Vec<F128> = prev.chunks_exact(2).map(|p| p[0].mul(&p[1])).collect();
        layers.push(next);
    }
    let product = layers[n][0];
    t.absorb_f128s(PRODUCT, &[product]);
    let mut point: Vec<F128> = Vec::new();
    let mut claim = product;
    let mut proofs = Vec::with_capacity(n);
    for i in (0..n).rev() {
        let layer = &layers[i];
        let even: Vec<F128> = layer.iter().step_by(2).copied().collect();
        let odd: Vec<F128> = layer.iter().skip(1).step_by(2).copied().collect();
        let (proof, rp) = sumcheck::prove(vec![eq_table(&point), even, odd], &Product(3), t);
        let (e0, e1) = (proof.evals[1], proof.evals[2]);
        let rho = t.challenge_f128(MERGE);
        claim = e0.add(&rho.mul(&e0.add(&e1)));
        point = std::iter::once(rho).chain(rp).collect();
        proofs.push(proof);
    }
    (
        GrandProductProof {
            product,
            layers: proofs,
        },
        point,
        claim,
    )
}

/// Verify a grand product over `2^num_vars` leaves. Returns the proven product, and the point
/// and value the caller must discharge on the leaves' MLE.
pub fn verify(
    num_vars: usize,
    proof: &GrandProductProof,
    t: &mut Transcript,
) -> Result<(F128, Vec<F128>, F128), EngineError> {
    if proof.layers.len() != num_vars {
        return Err(EngineError::Shape("grand product layers"));
    }
    t.absorb_f128s(PRODUCT, &[proof.product]);
    let mut point: Vec<F128> = Vec::new();
    let mut claim = proof.product;
    for layer in &proof.layers {
        let rp = sumcheck::verify(point.len(), &Product(3), claim, layer, t)?;
        if layer.evals[0] != eq_eval(&point, &rp) {
            return Err(EngineError::FinalEvaluation("grand product eq(r, r')"));
        }
        let (e0, e1) = (layer.evals[1], layer.evals[2]);
        let rho = t.challenge_f128(MERGE);
        claim = e0.add(&rho.mul(&e0.add(&e1)));
        point = std::iter::once(rho).chain(rp).collect();
    }
    Ok((proof.product, point, claim))
}

/// The multiset fingerprint leaves `γ + values`.
pub fn fingerprint(values: &[F128], gamma: F128) -> Vec<F128> {
    values.iter().map(|v| gamma.add(v)).collect()
}

/// A multiset-equality argument for two committed tables: two grand products of fingerprints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultisetProof {
    pub left: GrandProductProof,
    pub right: GrandProductProof,
}

/// Draw `γ`; call only after both tables' commitments are absorbed.
pub fn draw_gamma(t: &mut Transcript) -> F128 {
    t.challenge_f128(b"pcvm/multiset/v1/gamma")
}

/// Prove `{left} = {right}` as multisets. Returns, per side, the point `r` at which the caller
/// must open the table, and the value `ṽ(r) = c + γ` the opening must show.
pub fn prove_multiset(
    left: &[F128],
    right: &[F128],
    gamma: F128,
    t: &mut Transcript,
) -> (MultisetProof, [(Vec<F128>, F128); 2]) {
    let (l, rl, cl) = prove(fingerprint(left, gamma), t);
    let (r, rr, cr) = prove(fingerprint(right, gamma), t);
    (
        MultisetProof { left: l, right: r },
        [(rl, cl.add(&gamma)), (rr, cr.add(&gamma))],
    )
}

/// Verify `{left} = {right}` over `2^num_vars` entries each; returns the openings the caller
/// must check (point, value of the table's MLE), left then right.
pub fn verify_multiset(
    num_vars: usize,
    proof: &MultisetProof,
    gamma: F128,
    t: &mut Transcript,
) -> Result<[(Vec<F128>, F128); 2], EngineError> {
    let (pl, rl, cl) = verify(num_vars, &proof.left, t)?;
    let (pr, rr, cr) = verify(num_vars, &proof.right, t)?;
    if pl != pr {
        return Err(EngineError::FinalEvaluation("multiset products differ"));
    }
    Ok([(rl, cl.add(&gamma)), (rr, cr.add(&gamma))])
}

/// Several grand products over tables of one size, proven together: one sumcheck per layer
/// for all circuits, so they all end at one point (one set of openings for the caller).
///
/// Per layer the claims `c_k = L̃_{k,i+1}(r)` are batched by fresh `λ_k` drawn after them:
/// `Σ_k λ_k c_k = Σ_x eq(r, x)·Σ_k λ_k L̃_{k,i}(0, x)·L̃_{k,i}(1, x)`. A false `c_k` makes the
/// batched claim false except with probability `1/|F|` (`λ` independent, drawn after every
/// `c_k` is fixed), and the sumcheck then fails as in [`prove`]. The merge at `ρ` is shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProductProof {
    /// One product per table.
    pub products: Vec<F128>,
    /// One sumcheck per layer (top layer first), over `1 + 2·tables` inputs.
    pub layers: Vec<SumcheckProof>,
}

const BATCH: &[u8] = b"pcvm/grand-product/v1/batch";

/// `eq · Σ_k λ_k · even_k · odd_k` on the inputs `[eq, even_0, odd_0, even_1, odd_1, …]`.
struct BatchedLayer {
    lambda: Vec<F128>,
}

impl Composition for BatchedLayer {
    fn num_inputs(&self) -> usize {
        1 + 2 * self.lambda.len()
    }
    fn degree(&self) -> usize {
        3
    }
    fn eval(&self, x: &[F128]) -> F128 {
        let sum = self
            .lambda
            .iter()
            .enumerate()
            .fold(F128::zero(), |acc, (k, l)| {
                acc.add(&l.mul(&x[1 + 2 * k].mul(&x[2 + 2 * k])))
            });
        x[0].mul(&sum)
    }
}

/// Prove the products of `tables` (equal powers of two, at least one). Returns the proof, the
/// common point and each table's MLE value there, which the caller must discharge.
pub fn prove_batch(
    tables: Vec<Vec<F128>>,
    t: &mut Transcript,
) -> (BatchProductProof, Vec<F128>, Vec<F128>) {
    assert!(!tables.is_empty(), "at least one table");
    let len = tables[0].len();
    assert!(
        len.is_power_of_two() && tables.iter().all(|x| x.len() == len),
        "tables must be equal powers of two"
    );
    let n = len.trailing_zeros() as usize;
    let circuits: Vec<Vec<Vec<F128>>> = tables
        .into_iter()
        .map(|leaves| {
            let mut layers = vec![leaves];
            for _ in 0..n {
                let prev = &layers[layers.len() - 1];
                let next: Vec<F128> = prev.chunks_exact(2).map(|p| p[0].mul(&p[1])).collect();
                layers.push(next);
            }
            layers
        })
        .collect();
    let products: Vec<F128> = circuits.iter().map(|c| c[n][0]).collect();
    t.absorb_f128s(PRODUCT, &products);
    let mut point: Vec<F128> = Vec::new();
    let mut claims = products.clone();
    let mut layers = Vec::with_capacity(n);
    for i in (0..n).rev() {
        let lambda = t.challenge_f128s(BATCH, circuits.len());
        let mut inputs = vec![eq_table(&point)];
        for c in &circuits {
            inputs.push(c[i].iter().step_by(2).copied().collect());
            inputs.push(c[i].iter().skip(1).step_by(2).copied().collect());
        }
        let (proof, rp) = sumcheck::prove(inputs, &BatchedLayer { lambda }, t);
        let rho = t.challenge_f128(MERGE);
        for (k, claim) in claims.iter_mut().enumerate() {
            let (e0, e1) = (proof.evals[1 + 2 * k], proof.evals[2 + 2 * k]);
            *claim = e0.add(&rho.mul(&e0.add(&e1)));
        }
        point = std::iter::once(rho).chain(rp).collect();
        layers.push(proof);
    }
    (BatchProductProof { products, layers }, point, claims)
}

/// What a verified batch leaves: the proven products, and the common point with each table's
/// claimed MLE value there (every one to be discharged by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    pub products: Vec<F128>,
    pub point: Vec<F128>,
    pub claims: Vec<F128>,
}

/// Verify `tables` grand products over `2^num_vars` leaves each.
pub fn verify_batch(
    num_vars: usize,
    tables: usize,
    proof: &BatchProductProof,
    t: &mut Transcript,
) -> Result<BatchOutcome, EngineError> {
    if tables == 0 || proof.products.len() != tables || proof.layers.len() != num_vars {
        return Err(EngineError::Shape("batched grand product"));
    }
    t.absorb_f128s(PRODUCT, &proof.products);
    let mut point: Vec<F128> = Vec::new();
    let mut claims = proof.products.clone();
    for layer in &proof.layers {
        let lambda = t.challenge_f128s(BATCH, tables);
        let claim = claims
            .iter()
            .zip(&lambda)
            .fold(F128::zero(), |acc, (c, l)| acc.add(&c.mul(l)));
        let comp = BatchedLayer { lambda };
        let rp = sumcheck::verify(point.len(), &comp, claim, layer, t)?;
        if layer.evals[0] != eq_eval(&point, &rp) {
            return Err(EngineError::FinalEvaluation(
                "batched grand product eq(r, r')",
            ));
        }
        let rho = t.challenge_f128(MERGE);
        for (k, claim) in claims.iter_mut().enumerate() {
            let (e0, e1) = (layer.evals[1 + 2 * k], layer.evals[2 + 2 * k]);
            *claim = e0.add(&rho.mul(&e0.add(&e1)));
        }
        point = std::iter::once(rho).chain(rp).collect();
    }
    Ok(BatchOutcome {
        products: proof.products.clone(),
        point,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::evaluate_mle_f128;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<F128> {
        (0..n).map(|_| F128::from_value(rng.gen())).collect()
    }

    #[test]
    fn product_proof_verifies_and_binds_the_leaves() {
        let mut rng = ChaCha8Rng::seed_from_u64(20);
        for n in [0usize, 1, 5] {
            let leaves = rand_vec(&mut rng, 1 << n);
            let product = leaves.iter().fold(F128::one(), |a, b| a.mul(b));
            let (proof, point, claim) = prove(leaves.clone(), &mut Transcript::new(b"g"));
            assert_eq!(proof.product, product);
            let (p, vpoint, vclaim) =
                verify(n, &proof, &mut Transcript::new(b"g")).expect("verify");
            assert_eq!((p, &vpoint, vclaim), (product, &point, claim));
            assert_eq!(evaluate_mle_f128(&leaves, &point), claim, "n={n}");
        }
    }

    #[test]
    fn wrong_product_or_tampered_layers_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let leaves = rand_vec(&mut rng, 16);
        let (proof, _, _) = prove(leaves, &mut Transcript::new(b"g"));
        let v = |p: &GrandProductProof| verify(4, p, &mut Transcript::new(b"g"));
        let mut p = proof.clone();
        p.product = p.product.add(&F128::one());
        assert!(v(&p).is_err());
        for l in 0..4 {
            for e in 0..3 {
                let mut p = proof.clone();
                p.layers[l].evals[e] = p.layers[l].evals[e].add(&F128::one());
                assert!(v(&p).is_err(), "layer {l} eval {e}");
            }
        }
        let mut p = proof;
        p.layers.pop();
        assert_eq!(v(&p), Err(EngineError::Shape("grand product layers")));
    }

    fn multiset_run(left: &[F128], right: &[F128]) -> Result<(), EngineError> {
        let n = left.len().trailing_zeros() as usize;
        let mut pt = Transcript::new(b"m");
        let gamma = draw_gamma(&mut pt);
        let (proof, _) = prove_multiset(left, right, gamma, &mut pt);
        let mut vt = Transcript::new(b"m");
        let gamma = draw_gamma(&mut vt);
        let opens = verify_multiset(n, &proof, gamma, &mut vt)?;
        // discharge directly (a protocol opens the committed tables instead)
        for ((point, value), table) in opens.iter().zip([left, right]) {
            if evaluate_mle_f128(table, point) != *value {
                return Err(EngineError::FinalEvaluation("table opening"));
            }
        }
        Ok(())
    }

    #[test]
    fn permutations_pass_and_other_multisets_fail() {
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let left = rand_vec(&mut rng, 32);
        let mut right = left.clone();
        right.reverse();
        right.swap(3, 17);
        assert_eq!(multiset_run(&left, &right), Ok(()));
        let mut other = right.clone();
        other[5] = other[5].add(&F128::one());
        assert!(multiset_run(&left, &other).is_err());
    }

    /// `{x, x, z, …}` against `{y, y, z, …}`: equal under mod-2 multiplicities (a LogUp sum
    /// `1/(γ+x) + 1/(γ+x) = 0 = 1/(γ+y) + 1/(γ+y)` in characteristic 2), not as multisets.
    #[test]
    fn doubled_values_are_counted_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let mut left = rand_vec(&mut rng, 16);
        let mut right = left.clone();
        let (x, y) = (F128::from_value(7), F128::from_value(9));
        left[0] = x;
        left[1] = x;
        right[0] = y;
        right[1] = y;
        let gamma = F128::from_value(rng.gen());
        let logup = |v: &[F128]| {
            v.iter()
                .fold(F128::zero(), |a, e| a.add(&gamma.add(e).inv()))
        };
        assert_eq!(logup(&left), logup(&right), "LogUp cannot tell them apart");
        assert!(multiset_run(&left, &right).is_err());
    }

    #[test]
    fn batched_products_verify_and_bind_each_table() {
        let mut rng = ChaCha8Rng::seed_from_u64(24);
        for n in [0usize, 1, 6] {
            let tables: Vec<Vec<F128>> = (0..3).map(|_| rand_vec(&mut rng, 1 << n)).collect();
            let (proof, point, claims) = prove_batch(tables.clone(), &mut Transcript::new(b"b"));
            let out = verify_batch(n, 3, &proof, &mut Transcript::new(b"b")).expect("verify");
            assert_eq!((&out.point, &out.claims), (&point, &claims));
            let products = out.products;
            for (k, table) in tables.iter().enumerate() {
                let p = table.iter().fold(F128::one(), |a, b| a.mul(b));
                assert_eq!(products[k], p, "n={n} table {k}");
                assert_eq!(
                    evaluate_mle_f128(table, &point),
                    claims[k],
                    "n={n} table {k}"
                );
            }
        }
        let tables: Vec<Vec<F128>> = (0..2).map(|_| rand_vec(&mut rng, 16)).collect();
        let (proof, _, _) = prove_batch(tables, &mut Transcript::new(b"b"));
        let v = |p: &BatchProductProof| verify_batch(4, 2, p, &mut Transcript::new(b"b"));
        assert!(v(&proof).is_ok());
        for k in 0..2 {
            let mut p = proof.clone();
            p.products[k] = p.products[k].add(&F128::one());
            assert!(v(&p).is_err(), "product {k}");
        }
        for l in 0..4 {
            for e in 0..5 {
                let mut p = proof.clone();
                p.layers[l].evals[e] = p.layers[l].evals[e].add(&F128::one());
                assert!(v(&p).is_err(), "layer {l} eval {e}");
            }
        }
        assert!(verify_batch(4, 3, &proof, &mut Transcript::new(b"b")).is_err());
        let mut p = proof;
        p.layers.pop();
        assert_eq!(v(&p), Err(EngineError::Shape("batched grand product")));
    }
}
