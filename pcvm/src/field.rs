//! The two binary fields of the proof system and the multilinear helpers every layer shares.
//!
//! Committed data lives in GF(2^32) ([`F32`]); every challenge, claim and folded message lives in
//! GF(2^128) ([`F128`]), so Schwartz–Zippel terms are `d / 2^128`. The lift `F128::from(F32)` is
//! the crate's genuine field embedding φ (not a bit copy), so identities over GF(2^32) survive it.
//!
//! Index convention everywhere: variable `j` of a multilinear table is bit `j` of the index
//! (lsb first), matching `ligerito`'s row-contiguous matrices, where binding the low `k`
//! variables is a combination of the `2^k` matrix columns.

use ligerito_binary_fields::BinaryFieldElement;
pub use ligerito_binary_fields::{BinaryElem128 as F128, BinaryElem32 as F32};
use rayon::prelude::*;

/// A `u32` as an element of GF(2^32) (its bits are the polynomial's coefficients).
pub(crate) fn f32(x: u32) -> F32 {
    F32::from_value(x)
}

/// A `u32` lifted into GF(2^128) by the crate's embedding (products are preserved).
pub(crate) fn lift(x: u32) -> F128 {
    F128::from(f32(x))
}

/// The counters' and timestamps' generator of GF(2^32)^* ([`crate::fetch::G`]).
pub(crate) fn g() -> F32 {
    f32(crate::fetch::G)
}

/// `eq(a, b) = Π_j (a_j b_j + (1 + a_j)(1 + b_j))`: 1 on equal boolean points, 0 on others.
pub fn eq_eval(a: &[F128], b: &[F128]) -> F128 {
    debug_assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .fold(F128::one(), |acc, (x, y)| acc.mul(&eq_factor(*x, *y)))
}

/// One coordinate of `eq`: `xy + (1+x)(1+y) = 1 + x + y` in characteristic 2.
pub fn eq_factor(x: F128, y: F128) -> F128 {
    F128::one().add(&x).add(&y)
}

/// `eq(point, i)` for every `i < 2^|point|` (coordinate 0 on the lsb of `i`).
pub fn eq_table(point: &[F128]) -> Vec<F128> {
    ligerito::utils::eq_table_lsb(point)
}

/// The multilinear extension of `poly` (length `2^|point|`) evaluated at `point`.
///
/// This is the value an evaluation claim asserts; the prover uses it to state claims and the
/// tests use it as the reference.
pub fn evaluate_mle(poly: &[F32], point: &[F128]) -> F128 {
    assert_eq!(
        poly.len(),
        1usize << point.len(),
        "poly length must be 2^|point|"
    );
    // Bind the low variables while lifting (one pass over the GF(2^32) data), then the rest.
    let low = point.len().min(10);
    let mut folded = ligerito::utils::partial_eval_lift::<F32, F128>(poly, &point[..low]);
    for &r in &point[low..] {
        folded = ligerito::sumcheck_polys::fold_lsb(&folded, r);
    }
    folded[0]
}

/// The multilinear extension of a GF(2^128) table at `point` (lsb variable first).
pub fn evaluate_mle_f128(table: &[F128], point: &[F128]) -> F128 {
    assert_eq!(
        table.len(),
        1usize << point.len(),
        "table length must be 2^|point|"
    );
    let mut folded = table.to_vec();
    for &r in point {
        folded = ligerito::sumcheck_polys::fold_lsb(&folded, r);
    }
    folded[0]
}

/// `Σ_i table[i] · weights[i]` over GF(2^128), parallel for long tables.
pub fn inner(table: &[F128], weights: &[F128]) -> F128 {
    debug_assert_eq!(table.len(), weights.len());
    table
        .par_chunks(1 << 12)
        .zip(weights.par_chunks(1 << 12))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .fold(F128::zero(), |acc, (x, y)| acc.add(&x.mul(y)))
        })
        .reduce(F128::zero, |x, y| x.add(&y))
}

/// The point at which the MLE of a packed polynomial equals column `col`'s MLE at `row_point`.
///
/// Columns are packed by index bits (`index = col · 2^|row_point| + row`), so the row variables
/// are the low coordinates and the column number's bits, as 0/1, the high ones.
pub fn column_point(col: usize, log_cols: usize, row_point: &[F128]) -> Vec<F128> {
    let mut z = row_point.to_vec();
    z.extend((0..log_cols).map(|j| {
        if (col >> j) & 1 == 1 {
            F128::one()
        } else {
            F128::zero()
        }
    }));
    z
}

/// Pack `columns` (each `2^log_rows` long) into one polynomial, column number in the high index
/// bits; the column count is padded with zero columns to a power of two.
pub fn pack_columns(columns: &[Vec<F32>], log_rows: usize) -> Vec<F32> {
    let rows = 1usize << log_rows;
    let width = columns.len().max(1).next_power_of_two();
    let mut out = vec![F32::zero(); width * rows];
    for (c, col) in columns.iter().enumerate() {
        assert_eq!(col.len(), rows, "column {c} must have 2^log_rows entries");
        out[c * rows..(c + 1) * rows].copy_from_slice(col);
    }
    out
}

pub(crate) fn f128_to_bytes(x: F128) -> [u8; 16] {
    x.poly().value().to_le_bytes()
}

pub(crate) fn f32_to_bytes(x: F32) -> [u8; 4] {
    x.poly().value().to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Definition of the MLE, term by term: `Σ_x P[x] · eq(z, bits(x))`.
    fn mle_by_definition(poly: &[F32], z: &[F128]) -> F128 {
        poly.iter().enumerate().fold(F128::zero(), |acc, (x, &p)| {
            let w = z.iter().enumerate().fold(F128::one(), |w, (j, &zj)| {
                w.mul(&if (x >> j) & 1 == 1 {
                    zj
                } else {
                    F128::one().add(&zj)
                })
            });
            acc.add(&F128::from(p).mul(&w))
        })
    }

    #[test]
    fn mle_matches_definition_and_cube_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [0usize, 1, 5, 11, 12] {
            let poly: Vec<F32> = (0..1 << n).map(|_| F32::from_value(rng.gen())).collect();
            let z: Vec<F128> = (0..n).map(|_| F128::from_value(rng.gen())).collect();
            assert_eq!(
                evaluate_mle(&poly, &z),
                mle_by_definition(&poly, &z),
                "n={n}"
            );
            let x = rng.gen_range(0..1usize << n);
            let bits = column_point(x, n, &[]);
            assert_eq!(evaluate_mle(&poly, &bits), F128::from(poly[x]));
        }
    }

    #[test]
    fn eq_table_agrees_with_eq_eval() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let a: Vec<F128> = (0..6).map(|_| F128::from_value(rng.gen())).collect();
        let t = eq_table(&a);
        for (i, &ti) in t.iter().enumerate() {
            assert_eq!(ti, eq_eval(&a, &column_point(i, 6, &[])));
        }
    }

    #[test]
    fn packed_column_opens_to_its_own_mle() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let cols: Vec<Vec<F32>> = (0..3)
            .map(|_| (0..1 << 5).map(|_| F32::from_value(rng.gen())).collect())
            .collect();
        let packed = pack_columns(&cols, 5);
        assert_eq!(packed.len(), 4 << 5);
        let r: Vec<F128> = (0..5).map(|_| F128::from_value(rng.gen())).collect();
        for (c, col) in cols.iter().enumerate() {
            assert_eq!(
                evaluate_mle(&packed, &column_point(c, 2, &r)),
                evaluate_mle(col, &r)
            );
        }
        assert_eq!(evaluate_mle(&packed, &column_point(3, 2, &r)), F128::zero());
    }
}
