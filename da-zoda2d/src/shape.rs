//! How many rows, how wide, how many per validator: the shape of one encoding, and the two
//! security rules that decide it (zoda.md §3).
//!
//! An encoding of B bytes is an n × n' matrix of GF(2^16) symbols (n data rows), column-encoded
//! to m = V·S rows; each validator holds a disjoint set of S rows. Constraints:
//! - m ≤ 65,535 and reed-solomon-simd supports (n, m − n);
//! - n ≤ k·S, so any k shards hold at least n distinct rows and decode;
//! - the mode's security rule below.
//!
//! Per-row detection: if the encoded matrix is far from the code (beyond the unique-decoding
//! radius e = ⌊(m−n)/2⌋), at least β·m = ⌈(m−n)/2⌉ rows disagree with the checksum's codeword,
//! so one uniformly placed row exposes it with probability ≥ β and S rows all miss with
//! probability p ≤ (1 − β)^S.
//! - **standalone** (mode A): each validator alone: −log2 p ≥ bits.
//! - **certificate** (mode B): a certificate needs q votes, so at least q − f honest accepts;
//!   with h = V − f honest validators each fooled with probability ≤ p (the partition makes
//!   the passes negatively correlated, so the binomial tail is an upper bound),
//!   −log2 P[Bin(h, p) ≥ q − f] ≥ bits.
//!
//! Floating point only *chooses* a shape; the shape travels in the commitment and the verifier
//! checks the rule again, so a last-ulp difference between machines can make a verifier refuse
//! a borderline shape, never make two honest nodes decode different things.

use crate::gf::CHECK_ROW_BYTES;

/// Rows per validator are capped here: beyond it the bytes per validator only grow, and the
/// search stays cheap.
pub const MAX_ROWS_PER_SHARD: u32 = 1024;

/// rs-simd's GF(2^16) limit on rows.
pub const MAX_ROWS: u32 = 65_535;

/// Who must be fooled for a bad encoding to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A: every validator is individually sure of the encoding.
    Standalone,
    /// B: the availability certificate is the guarantee.
    Certificate,
}

impl Mode {
    /// Codec tag.
    pub fn tag(self) -> u8 {
        match self {
            Mode::Standalone => 0,
            Mode::Certificate => 1,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Certificate => "certificate",
        }
    }
}

/// The validator set as the security rules see it.
#[derive(Debug, Clone)]
pub struct Committee {
    /// V.
    pub validators: u32,
    /// k: shards that decode.
    pub k: u32,
    /// f = ⌊(V−1)/3⌋ Byzantine.
    pub faulty: u32,
    /// h = V − f honest.
    pub honest: u32,
    /// q − f honest accepts behind any certificate of q = V − f votes.
    pub need: u32,
    /// ln(i!) for i ≤ h, for the binomial tail.
    ln_fact: Vec<f64>,
}

impl Committee {
    /// V validators, k of which decode.
    pub fn new(validators: u32, k: u32) -> Committee {
        let faulty = validators.saturating_sub(1) / 3;
        let honest = validators - faulty;
        let quorum = honest;
        let mut ln_fact = Vec::with_capacity(honest as usize + 1);
        let mut acc = 0.0f64;
        ln_fact.push(0.0);
        for i in 1..=honest {
            acc += f64::from(i).ln();
            ln_fact.push(acc);
        }
        Committee {
            validators,
            k,
            faulty,
            honest,
            need: quorum - faulty,
            ln_fact,
        }
    }

    /// −log2 P[Bin(h, p) ≥ need], with `ln_p` = ln p.
    fn tail_bits(&self, ln_p: f64) -> f64 {
        let (h, need) = (self.honest, self.need);
        let p = ln_p.exp();
        if f64::from(need) <= f64::from(h) * p {
            // At or below the mean the tail is at least ~1/2: no security.
            return 0.0;
        }
        let ln_q = (-p).ln_1p();
        let ln_term = |x: u32| {
            self.ln_fact[h as usize] - self.ln_fact[x as usize] - self.ln_fact[(h - x) as usize]
                + f64::from(x) * ln_p
                + f64::from(h - x) * ln_q
        };
        // Above the mean the terms fall geometrically: sum until they are 2^-60 of the first.
        let first = ln_term(need);
        let mut sum = 0.0f64;
        for x in need..=h {
            let t = ln_term(x) - first;
            if t < -42.0 {
                break;
            }
            sum += t.exp();
        }
        -(first + sum.ln()) / std::f64::consts::LN_2
    }
}

/// One encoding's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// S: rows per validator.
    pub rows_per_shard: u32,
    /// n: data rows.
    pub data_rows: u32,
    /// m = V·S: encoded rows.
    pub rows: u32,
    /// n': symbols per row (a row is 2n' bytes).
    pub row_symbols: u32,
}

impl Shape {
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        2 * self.row_symbols as usize
    }

    /// β = ⌊d/2⌋/m with d = m − n + 1: a far encoding gets more than e = ⌊(d−1)/2⌋ rows
    /// wrong, i.e. at least e + 1 ≥ ⌊d/2⌋ (the bound zoda-calc/opt.py uses).
    pub fn beta(&self) -> f64 {
        // ⌊(m − n + 1)/2⌋ = ⌈(m − n)/2⌉.
        f64::from((self.rows - self.data_rows).div_ceil(2)) / f64::from(self.rows)
    }

    /// One validator's soundness in bits: −log2 (1−β)^S.
    pub fn standalone_bits(&self) -> f64 {
        -f64::from(self.rows_per_shard) * (1.0 - self.beta()).log2()
    }

    /// Collective soundness of a certificate in bits.
    pub fn certificate_bits(&self, c: &Committee) -> f64 {
        c.tail_bits(f64::from(self.rows_per_shard) * (1.0 - self.beta()).ln())
    }

    /// The security of this shape under `mode`.
    pub fn bits(&self, mode: Mode, c: &Committee) -> f64 {
        match mode {
            Mode::Standalone => self.standalone_bits(),
            Mode::Certificate => self.certificate_bits(c),
        }
    }

    /// Estimated bytes one validator receives: its rows, the checksum, the multiproof
    /// (≈ S·log2(m/S) hashes). The search minimises this.
    pub fn estimated_shard_bytes(&self) -> u64 {
        let s = u64::from(self.rows_per_shard);
        let depth = u64::from(
            (self.rows / self.rows_per_shard)
                .next_power_of_two()
                .trailing_zeros(),
        );
        s * self.row_bytes() as u64
            + CHECK_ROW_BYTES as u64 * u64::from(self.data_rows)
            + 32 * s * depth.max(1)
    }

    /// Why this shape is not a valid encoding for the committee (structure only, not security).
    pub fn structural_error(&self, c: &Committee) -> Option<String> {
        let (s, n, m) = (self.rows_per_shard, self.data_rows, self.rows);
        if s == 0 || n == 0 || self.row_symbols == 0 {
            return Some("zero rows or columns".into());
        }
        if s > MAX_ROWS_PER_SHARD {
            return Some(format!("{s} rows per shard (at most {MAX_ROWS_PER_SHARD})"));
        }
        if u64::from(m) != u64::from(c.validators) * u64::from(s) || m > MAX_ROWS {
            return Some(format!("{m} rows for {} validators × {s}", c.validators));
        }
        if n >= m || u64::from(n) > u64::from(c.k) * u64::from(s) {
            return Some(format!(
                "{n} data rows: need n < m = {m} and n ≤ k·S = {}",
                u64::from(c.k) * u64::from(s)
            ));
        }
        if !reed_solomon_simd::ReedSolomonEncoder::supports(n as usize, (m - n) as usize) {
            return Some(format!("reed-solomon-simd does not support {n} of {m}"));
        }
        None
    }
}

/// Symbols per row for `data_len` bytes in `n` rows (at least 1: rs-simd shards are non-empty).
pub fn row_symbols(data_len: u64, n: u32) -> u64 {
    data_len.div_ceil(2).div_ceil(u64::from(n)).max(1)
}

/// The cheapest shape (by [`Shape::estimated_shard_bytes`]) that meets `bits` under `mode`,
/// or `None` when none exists (mode A at V = 1023 in GF(2^16)).
pub fn design(c: &Committee, mode: Mode, bits: f64, data_len: u64) -> Option<Shape> {
    let max_s = (MAX_ROWS / c.validators.max(1)).min(MAX_ROWS_PER_SHARD);
    let mut best: Option<(u64, Shape)> = None;
    let sym = data_len.div_ceil(2);
    for s in 1..=max_s {
        let m = c.validators * s;
        let hi = (c.k * s).min(m - 1);
        let shape_for = |n: u32| Shape {
            rows_per_shard: s,
            data_rows: n,
            rows: m,
            row_symbols: u32::try_from(row_symbols(data_len, n)).unwrap_or(u32::MAX),
        };
        if hi == 0 || shape_for(1).bits(mode, c) < bits {
            continue;
        }
        // Security only falls as n grows (fewer parity rows): binary search the largest n.
        let (mut lo, mut up) = (1u32, hi);
        while lo < up {
            let mid = lo + (up - lo).div_ceil(2);
            if shape_for(mid).bits(mode, c) >= bits {
                lo = mid;
            } else {
                up = mid - 1;
            }
        }
        let n_max = lo;
        // Bytes ≈ S·2·⌈B/2n⌉ + 16n is smallest near n* = √(S·B/16).
        let n_star = ((f64::from(s) * sym as f64 / 8.0).sqrt()) as u32;
        let mut candidates = vec![n_max, 1];
        for d in 0..3 {
            candidates.push(n_star.saturating_sub(d).clamp(1, n_max));
            candidates.push((n_star + d).clamp(1, n_max));
        }
        for n in candidates {
            let shape = shape_for(n);
            if shape.row_symbols == u32::MAX || shape.structural_error(c).is_some() {
                continue;
            }
            let cost = shape.estimated_shard_bytes();
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, shape));
            }
        }
    }
    best.map(|(_, s)| s)
}

/// The most bits mode A can reach for this committee (n = 1, the largest S the row limit allows).
pub fn standalone_ceiling(c: &Committee) -> f64 {
    let s = (MAX_ROWS / c.validators.max(1)).min(MAX_ROWS_PER_SHARD);
    Shape {
        rows_per_shard: s,
        data_rows: 1,
        rows: c.validators * s,
        row_symbols: 1,
    }
    .standalone_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_note_within_reason() {
        // zoda-calc/opt.py with m = V·S (its default mfactor = 1; the note's table used
        // mfactor = 2): mode B V=1023 14 MB: S=3 n=872; V=100 1 MiB: S=10 n=340; mode A V=6: S≈163.
        let full = Committee::new(1023, 342);
        let b = design(&full, Mode::Certificate, 128.0, 14_000_000).expect("shape");
        assert_eq!(b.rows_per_shard, 3, "{b:?}");
        assert!(b.certificate_bits(&full) >= 128.0);
        assert!(design(&full, Mode::Standalone, 126.0, 1 << 20).is_none());
        assert!(standalone_ceiling(&full) < 126.0);
        let tiny = Committee::new(6, 2);
        let a = design(&tiny, Mode::Standalone, 126.0, 1 << 20).expect("shape");
        assert!(a.standalone_bits() >= 126.0, "{a:?}");
        let hundred = Committee::new(100, 34);
        let b = design(&hundred, Mode::Certificate, 128.0, 1 << 20).expect("shape");
        assert_eq!((b.rows_per_shard, b.data_rows), (10, 340), "{b:?}");
    }

    #[test]
    fn tail_bits_agree_with_a_direct_sum() {
        let c = Committee::new(100, 34);
        for &p in &[0.01f64, 0.1, 0.3] {
            let direct: f64 = (c.need..=c.honest)
                .map(|x| {
                    let ln_c = c.ln_fact[c.honest as usize]
                        - c.ln_fact[x as usize]
                        - c.ln_fact[(c.honest - x) as usize];
                    (ln_c + f64::from(x) * p.ln() + f64::from(c.honest - x) * (1.0 - p).ln()).exp()
                })
                .sum();
            let ours = c.tail_bits(p.ln());
            assert!(
                (ours + direct.log2()).abs() < 1e-6,
                "p={p}: {ours} vs {}",
                -direct.log2()
            );
        }
    }
}
