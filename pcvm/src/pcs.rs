//! Polynomial commitment: commit to a multilinear polynomial over GF(2^32), prove and verify its
//! evaluations at arbitrary GF(2^128) points.
//!
//! # What `ligerito` provides and what is ours
//!
//! `ligerito` 0.8 can only open a commitment at boolean points with GF(2^32) values
//! (`EvalClaim { index, value }`); its claim-less `prove` binds no value at all. pcvm needs
//! claims `P̃(z) = v` with `z ∈ GF(2^128)^n` (every sumcheck ends in one). We use the crate's
//! public building blocks unchanged — the commitment (`ligero::ligero_commit`: Reed–Solomon
//! rate 1/4 over the columns of the row-major `2^d × 2^k` matrix, Merkle tree over rows), its
//! configurations and Reed–Solomon codes, `induce_sumcheck_poly` (the batched Ligero row
//! check), the sumcheck helpers, `hash_row` and `ligerito_merkle::verify` — and drive our own
//! protocol (Ligerito, eprint 2025/1187, with an evaluation sumcheck in front) on our own
//! [`Transcript`].
//!
//! # Protocol (transcript order; the verifier replays it)
//!
//! Write `n = d + k`, `P` as the matrix `M[i][c] = P[i·2^k + c]` (low `k` index bits = column),
//! and split each claim point `z_j = (lo_j, hi_j)`, `|lo_j| = k`.
//!
//! 1. Absorb parameters, the commitment root, the claims `(z_j, v_j)`; draw independent `α_j`.
//!    Claimed sum `S = Σ α_j v_j`.
//! 2. Evaluation sumcheck over the `k` column variables of
//!    `Σ_x P(x)·Q(x)`, `Q = Σ α_j eq(z_j, ·)`. Because `eq(z_j,·) = eq(lo_j,·) ⊗ eq(hi_j,·)`, it
//!    is a sumcheck over `2^k`-entry tables: `w_j[c] = Σ_i eq(hi_j, i) M[i][c]` against
//!    `α_j eq(lo_j, c)`. Each degree-2 round message is absorbed before its challenge; the
//!    challenges are `ρ_0`. Residual claim: `⟨v_1, q⟩ = S'` with `v_1 = P(ρ_0, ·)` and
//!    `q = Σ_j α_j eq(lo_j, ρ_0) · eq(hi_j, ·)`.
//! 3. Commit `v_1` (root absorbed). Draw the queries on the level-0 code, absorb the opened
//!    rows' hashes, draw `α`; the opened rows give the Ligero check
//!    `⟨v_1, b_0⟩ = s_0` (`b_0` = α-batched generator rows). Absorb `s_0`, draw `β`, glue:
//!    `⟨v_1, q + β b_0⟩ = S' + β s_0`.
//! 4. Ligerito recursion: per level, `k_i` product-sumcheck rounds fold the message; commit the
//!    folded message, open the previous level at fresh queries, glue its row check with a fresh
//!    `β`. The last folded message `yr` is sent in the clear, absorbed, and checked against the
//!    last commitment's opened rows and against the folded claim.
//!
//! # Soundness (what each check prevents)
//!
//! Every prover message is absorbed before the next challenge: roots, claims, round
//! polynomials, the hashes of opened rows, row sums, the final message. Merkle siblings are not
//! absorbed: given the absorbed root, they can only confirm or refute the absorbed row hashes.
//!
//! * Shape checks first: every length is fixed by the parameters, so no index or length in a
//!   proof can make the verifier index out of bounds, and a proof for other parameters fails.
//! * If some `P̃(z_j) ≠ v_j`, then `S ≠ Σ α_j P̃(z_j)` except with probability `1/|F|` (the `α_j`
//!   are independent and drawn after the claims: equal errors cannot cancel, as they would with
//!   unweighted sums in characteristic 2).
//! * Each evaluation round is checked `s(0) + s(1) =` running claim; a false claim survives a
//!   degree-2 round with probability `2/|F|`, so the residual claim on `P(ρ_0,·)` is false.
//! * Merkle openings (root absorbed before any challenge) pin the opened rows; the Ligero row
//!   check with queries drawn *after* `v_1` is committed forces the committed `v_1` to be the
//!   decoding of `P`'s rows combined by `eq(ρ_0)` (query term `(1−δ/2)^Q`, plus the proximity
//!   gap term for the random tensor combination `ρ_0`). So a false residual claim is a false
//!   claim about the committed `v_1`; gluing with `β` drawn after both claims are fixed keeps it
//!   false (`1/|F|`), and the recursion is Ligerito's (every level: queries, row batching,
//!   sumcheck, glue, as accounted in `ligerito::security`).
//! * The final check `⟨yr, B⟩ = claim` closes the sumcheck chain; the per-row check
//!   `⟨row_q, eq(rs)⟩ = Enc(yr)[q]` ties `yr` to the last commitment.
//!
//! # Security level
//!
//! See [`security_bits`] and [`DEFAULT_QUERIES`]: we choose **100 bits** of interactive
//! soundness (union bound over every term, including ours) for every size up to 2^28, which needs
//! 152 queries per level instead of the crate's 148. The crate's 148 make *one* level's query
//! term 100.35 bits, but there are two or more levels and other terms, so its total is 99.35 bits
//! at 2^20 and 98.2 at 2^28; with 152: 102.1 (2^12..2^20), 101.4 (2^24), 100.2 (2^28), and 99.5 at
//! 2^30 (the proximity gap dominates there). 128 bits is out of reach of
//! this accounting at these sizes whatever the query count: the proximity-gap term
//! `k·4·2^d / 2^128` is ≈2^-105 at 2^24 and ≈2^-101 at 2^28; it would need challenges for `ρ_0`
//! from a larger field. Fiat–Shamir: the transcript absorbs every prover message before the
//! challenge that follows it, so a cheating prover must find a transcript on which a
//! ≤2^-100-probability event happens; `t` hash evaluations give success ≤ `t·2^-100` (no
//! proof-of-work grinding is added). Not zero-knowledge (no masking): the proof reveals
//! combinations of `P`.

use crate::error::{PcsError, Rejection};
use crate::field::{eq_eval, eq_table, F128, F32};
use crate::transcript::Transcript;
use ligerito::data_structures::RecursiveLigeroWitness;
use ligerito::sumcheck_polys::{
    eval_round_poly, fold_lsb, induce_sumcheck_poly_parallel, precompute_alpha_powers,
    product_round_coeffs, tensorized_dot_product,
};
use ligerito::utils::{eval_sk_at_vks, hash_row, partial_eval_lift};
use ligerito::{ProverConfig, VerifierConfig};
use ligerito_binary_fields::BinaryFieldElement;
use ligerito_merkle::{BatchedMerkleProof, Hash, MerkleRoot};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Smallest supported polynomial: `2^8` coefficients.
pub const MIN_LOG_SIZE: usize = 8;
/// Largest supported polynomial: `2^30` coefficients (the crate's largest shape).
pub const MAX_LOG_SIZE: usize = 30;
/// Opened rows per level: the smallest count giving ≥ 100 bits (union bound, all terms) for
/// every supported size up to 2^28 (`security_meets_target` asserts both halves). Each query adds
/// `−log2(1 − δ/2) ≈ 0.678` bits per level at rate 1/4 (`δ = 3/4`).
pub const DEFAULT_QUERIES: usize = 152;
/// Reed–Solomon rate 1/4 at every level (the crate's codes).
const LOG_INV_RATE: usize = ligerito::security::LOG_INV_RATE;

/// Domain labels: each absorbed message and each challenge has its own.
mod label {
    pub const PARAMS: &[u8] = b"pcvm/pcs/v1/params";
    pub const ROOT: &[u8] = b"pcvm/pcs/v1/root";
    pub const NUM_CLAIMS: &[u8] = b"pcvm/pcs/v1/num-claims";
    pub const CLAIM_POINT: &[u8] = b"pcvm/pcs/v1/claim-point";
    pub const CLAIM_VALUE: &[u8] = b"pcvm/pcs/v1/claim-value";
    pub const CLAIM_BATCH: &[u8] = b"pcvm/pcs/v1/claim-batch";
    pub const EVAL_ROUND: &[u8] = b"pcvm/pcs/v1/eval-round";
    pub const EVAL_CHALLENGE: &[u8] = b"pcvm/pcs/v1/eval-challenge";
    pub const LEVEL_ROOT: &[u8] = b"pcvm/pcs/v1/level-root";
    pub const QUERIES: &[u8] = b"pcvm/pcs/v1/queries";
    pub const OPENED_ROWS: &[u8] = b"pcvm/pcs/v1/opened-rows";
    pub const ROW_BATCH: &[u8] = b"pcvm/pcs/v1/row-batch";
    pub const ROW_SUM: &[u8] = b"pcvm/pcs/v1/row-sum";
    pub const GLUE: &[u8] = b"pcvm/pcs/v1/glue";
    pub const ROUND: &[u8] = b"pcvm/pcs/v1/round";
    pub const ROUND_CHALLENGE: &[u8] = b"pcvm/pcs/v1/round-challenge";
    pub const FINAL_MESSAGE: &[u8] = b"pcvm/pcs/v1/final-message";
}

/// Shape of the code levels plus the query count; prover and verifier must agree on it.
pub struct Params {
    verifier: VerifierConfig,
    // Reed–Solomon codes (FFT twiddles) only the prover needs: built on first use, so a verifier
    // never pays for them.
    prover: OnceLock<ProverConfig<F32, F128>>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params")
            .field("verifier", &self.verifier)
            .finish()
    }
}

impl Params {
    /// [`Params::new`], built once per process and shared: the prover's Reed–Solomon codes take
    /// seconds at 2^24 and do not depend on the statement, and every argument on a commitment of
    /// the same size needs the same ones. Only sizes [`Params::new`] accepts are cached, at most
    /// one per size up to [`MAX_LOG_SIZE`], so leaking them is bounded.
    pub fn cached(log_size: usize) -> Result<&'static Self, PcsError> {
        static CACHE: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashMap<usize, &'static Params>>,
        > = std::sync::OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&log_size) {
            return Ok(p);
        }
        let p: &'static Params = Box::leak(Box::new(Params::new(log_size)?));
        cache.insert(log_size, p);
        Ok(p)
    }

    /// Parameters for `2^log_size` coefficients with [`DEFAULT_QUERIES`].
    ///
    /// Shapes: the crate's tuned ones for 2^12, 2^16 and 2^20..=2^30; otherwise `k = 4` columns
    /// at level 0 and one recursive level.
    pub fn new(log_size: usize) -> Result<Self, PcsError> {
        Self::with_queries(log_size, DEFAULT_QUERIES)
    }

    /// [`Params::new`] with another query count (≥ the crate's 148; used to compare with it).
    pub fn with_queries(log_size: usize, num_queries: usize) -> Result<Self, PcsError> {
        let shape = shape_for(log_size)?;
        let levels: Vec<(usize, usize)> = shape
            .log_dims
            .iter()
            .copied()
            .zip(shape.ks.iter().copied())
            .collect();
        Self::with_shape(shape.initial_dim, shape.initial_k, &levels, num_queries)
    }

    /// Explicit shape: level 0 is a `2^initial_dim × 2^initial_k` matrix, each recursive level
    /// `(log_dim, k)` folds `k` variables of the previous message into a `2^log_dim`-row matrix.
    pub fn with_shape(
        initial_dim: usize,
        initial_k: usize,
        levels: &[(usize, usize)],
        num_queries: usize,
    ) -> Result<Self, PcsError> {
        let bad = |why: &str| PcsError::InvalidParams(why.to_string());
        if levels.is_empty()
            || initial_dim + initial_k > MAX_LOG_SIZE
            || initial_dim < 2
            || initial_k == 0
        {
            return Err(bad(
                "need at least one recursive level, k >= 1 and at most 2^30 coefficients",
            ));
        }
        let mut prev = initial_dim;
        for &(d, k) in levels {
            if d + k != prev || d < 1 || k == 0 {
                return Err(bad(
                    "each level's log_dim + k (k >= 1) must equal the previous log_dim",
                ));
            }
            prev = d;
        }
        let verifier = VerifierConfig {
            recursive_steps: levels.len(),
            initial_dim,
            log_dims: levels.iter().map(|&(d, _)| d).collect(),
            initial_k,
            ks: levels.iter().map(|&(_, k)| k).collect(),
            num_queries,
        };
        // The crate's own check: consistent shape, queries ≥ its 100-bit minimum.
        if !verifier.is_well_formed() {
            return Err(bad("not well formed for ligerito (queries below 148?)"));
        }
        Ok(Self {
            verifier,
            prover: OnceLock::new(),
        })
    }

    /// The prover configuration (the same shape with its Reed–Solomon codes); also for running
    /// raw `ligerito` on the same shape (benchmarks).
    pub fn prover_config(&self) -> Result<&ProverConfig<F32, F128>, PcsError> {
        if let Some(p) = self.prover.get() {
            return Ok(p);
        }
        let v = &self.verifier;
        let code = |d: usize| (1usize << d, 1usize << (d + LOG_INV_RATE));
        let (m0, n0) = code(v.initial_dim);
        let built = ProverConfig {
            recursive_steps: v.recursive_steps,
            initial_dims: (m0, 1 << v.initial_k),
            dims: v
                .log_dims
                .iter()
                .zip(&v.ks)
                .map(|(&d, &k)| (1 << d, 1 << k))
                .collect(),
            initial_k: v.initial_k,
            ks: v.ks.clone(),
            initial_reed_solomon: ligerito_reed_solomon::reed_solomon::<F32>(m0, n0),
            reed_solomon_codes: v
                .log_dims
                .iter()
                .map(|&d| {
                    let (m, n) = code(d);
                    ligerito_reed_solomon::reed_solomon::<F128>(m, n)
                })
                .collect(),
            num_queries: v.num_queries,
        };
        // The crate's full validation, including the codes' lengths and rate.
        built
            .validate()
            .map_err(|e| PcsError::InvalidParams(e.to_string()))?;
        Ok(self.prover.get_or_init(|| built))
    }

    /// `n`: the polynomial has `2^n` coefficients and claim points `n` coordinates.
    pub fn log_size(&self) -> usize {
        self.verifier.poly_log_size()
    }

    pub fn num_queries(&self) -> usize {
        self.verifier.num_queries
    }

    /// The configuration in the crate's terms (shape and queries).
    pub fn verifier_config(&self) -> &VerifierConfig {
        &self.verifier
    }

    /// `-log2` of the soundness error of one opening (see [`security_bits`]).
    pub fn security_bits(&self) -> f64 {
        security_bits(&self.verifier)
    }

    fn header(&self) -> Vec<u8> {
        let v = &self.verifier;
        [v.initial_dim, v.initial_k, v.recursive_steps, v.num_queries]
            .into_iter()
            .chain(v.log_dims.iter().copied())
            .chain(v.ks.iter().copied())
            .flat_map(|x| (x as u32).to_le_bytes())
            .collect()
    }

    fn rows_opened(&self, log_dim: usize) -> usize {
        self.verifier.num_queries.min(1 << (log_dim + LOG_INV_RATE))
    }
}

/// The level shapes [`Params::new`] uses for `2^log_size` (queries left 0): the crate's tuned
/// ones for 2^12, 2^16 and 2^20..=2^30; otherwise `k = 4` columns and one recursive level.
pub fn shape_for(log_size: usize) -> Result<VerifierConfig, PcsError> {
    if !(MIN_LOG_SIZE..=MAX_LOG_SIZE).contains(&log_size) {
        return Err(PcsError::UnsupportedSize(log_size));
    }
    let mut shape = match log_size {
        12 => ligerito::hardcoded_config_12_verifier(),
        16 => ligerito::hardcoded_config_16_verifier(),
        20.. => ligerito::verifier_config_for_log_size(log_size as u32),
        _ => {
            let d = log_size - 4;
            let k1 = (d / 2).min(4);
            VerifierConfig {
                recursive_steps: 1,
                initial_dim: d,
                log_dims: vec![d - k1],
                initial_k: 4,
                ks: vec![k1],
                num_queries: 0,
            }
        }
    };
    shape.num_queries = 0;
    Ok(shape)
}

/// `-log2` of the soundness error of one opening of `config` (union bound): the crate's
/// per-level accounting (`ligerito::security`: queries `(1−δ/2)^Q`, proximity gap `k·n/|F|`,
/// row batching `(Q−1)/|F|`, sumcheck `2k/|F|`, glue `1/|F|`) plus our evaluation layer: claim
/// batching `1/|F|` (independent `α_j`, so it does not grow with the number of claims), `k`
/// degree-2 rounds `2k/|F|`, and the glue of the residual claim `1/|F|`.
pub fn security_bits(config: &VerifierConfig) -> f64 {
    let report = ligerito::security::analyze(config);
    let ours = (2.0 + 2.0 * config.initial_k as f64) * (-128f64).exp2();
    -((-report.total_bits()).exp2() + ours).log2()
}

/// A commitment: the Merkle root of the encoded level-0 matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub root: [u8; 32],
}

/// What the prover keeps after committing: the polynomial and its encoded, hashed matrix.
pub struct ProverData {
    poly: Vec<F32>,
    witness: RecursiveLigeroWitness<F32>,
    commitment: Commitment,
}

impl std::fmt::Debug for ProverData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverData")
            .field("len", &self.poly.len())
            .field("commitment", &self.commitment)
            .finish()
    }
}

impl ProverData {
    pub fn poly(&self) -> &[F32] {
        &self.poly
    }

    pub fn commitment(&self) -> Commitment {
        self.commitment
    }
}

/// The claim `P̃(point) = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub point: Vec<F128>,
    pub value: F128,
}

/// Rows of one level's encoded matrix at the queried positions, with their Merkle proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening<E> {
    pub rows: Vec<Vec<E>>,
    pub siblings: Vec<[u8; 32]>,
}

/// An evaluation proof for one or more claims on one commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalProof {
    /// The `k` evaluation-sumcheck rounds `(s(0), s(1), X² coefficient)`.
    pub eval_rounds: Vec<[F128; 3]>,
    /// Roots of the committed folded messages `v_1, …, v_L`.
    pub level_roots: Vec<[u8; 32]>,
    /// Opened rows of the polynomial's own commitment.
    pub initial: Opening<F32>,
    /// Opened rows of `v_1 … v_{L-1}`.
    pub recursive: Vec<Opening<F128>>,
    /// The Ligerito sumcheck rounds, all levels in order.
    pub rounds: Vec<[F128; 3]>,
    /// The last folded message, in the clear.
    pub final_message: Vec<F128>,
    /// Opened rows of `v_L`.
    pub last: Opening<F128>,
}

/// Commit to `poly` (`2^log_size` coefficients).
pub fn commit(params: &Params, poly: Vec<F32>) -> Result<(Commitment, ProverData), PcsError> {
    let expected = 1usize << params.log_size();
    if poly.len() != expected {
        return Err(PcsError::PolyLength {
            got: poly.len(),
            expected,
        });
    }
    let p = params.prover_config()?;
    let witness = ligerito::ligero::ligero_commit(
        &poly,
        p.initial_dims.0,
        p.initial_dims.1,
        &p.initial_reed_solomon,
    );
    let commitment = Commitment {
        root: root_of(&witness),
    };
    Ok((
        commitment,
        ProverData {
            poly,
            witness,
            commitment,
        },
    ))
}

fn root_of<E: BinaryFieldElement>(w: &RecursiveLigeroWitness<E>) -> [u8; 32] {
    // A non-empty tree always has a root; ligero_commit never builds an empty one.
    w.tree.get_root().root.unwrap_or_default()
}

fn check_claims(params: &Params, claims: &[Claim]) -> Result<(), PcsError> {
    if claims.is_empty() {
        return Err(PcsError::NoClaims);
    }
    let n = params.log_size();
    for (i, c) in claims.iter().enumerate() {
        if c.point.len() != n {
            return Err(PcsError::PointLength {
                claim: i,
                got: c.point.len(),
                expected: n,
            });
        }
    }
    Ok(())
}

fn absorb_statement(t: &mut Transcript, params: &Params, cm: &Commitment, claims: &[Claim]) {
    t.absorb_bytes(label::PARAMS, &params.header());
    t.absorb_bytes(label::ROOT, &cm.root);
    t.absorb_u64(label::NUM_CLAIMS, claims.len() as u64);
    for c in claims {
        t.absorb_f128s(label::CLAIM_POINT, &c.point);
        t.absorb_f128s(label::CLAIM_VALUE, &[c.value]);
    }
}

fn absorb_round(t: &mut Transcript, l: &[u8], s: [F128; 3]) {
    t.absorb_f128s(l, &s);
}

fn absorb_leaf_hashes(t: &mut Transcript, hashes: &[Hash]) {
    t.absorb_bytes(label::OPENED_ROWS, &hashes.concat());
}

/// `w[c] = Σ_i weights[i] · M[i][c]` for the row-major matrix `poly` of rows `width` long.
fn contract_rows(poly: &[F32], weights: &[F128], width: usize) -> Vec<F128> {
    const ROWS: usize = 64;
    poly.par_chunks(width * ROWS)
        .zip(weights.par_chunks(ROWS))
        .map(|(block, ws)| {
            let mut acc = vec![F128::zero(); width];
            for (row, w) in block.chunks_exact(width).zip(ws) {
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a = a.add(&w.mul(&F128::from(x)));
                }
            }
            acc
        })
        .reduce(
            || vec![F128::zero(); width],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x = x.add(y);
                }
                a
            },
        )
}

/// Open `witness` (message rows `2^log_dim`) at fresh queries and reduce the row checks to
/// `⟨next message, b⟩ = s` by the α-batched generator rows.
fn open_level<E>(
    t: &mut Transcript,
    params: &Params,
    witness: &RecursiveLigeroWitness<E>,
    log_dim: usize,
    rs: &[F128],
) -> (Opening<E>, Vec<F128>, F128)
where
    E: BinaryFieldElement + Send + Sync,
    F128: From<E>,
{
    let queries = t.distinct_indices(label::QUERIES, log_dim + LOG_INV_RATE, params.num_queries());
    let rows: Vec<Vec<E>> = queries.iter().map(|&q| witness.row(q)).collect();
    let hashes: Vec<Hash> = rows.iter().map(|r| hash_row(r)).collect();
    absorb_leaf_hashes(t, &hashes);
    let alpha = t.challenge_f128(label::ROW_BATCH);
    let sks_vks: Vec<E> = eval_sk_at_vks(1 << log_dim);
    let (b, s) = induce_sumcheck_poly_parallel(log_dim, &sks_vks, &rows, rs, &queries, alpha);
    t.absorb_f128s(label::ROW_SUM, &[s]);
    let BatchedMerkleProof { siblings } = witness.tree.prove(&queries);
    (Opening { rows, siblings }, b, s)
}

/// How the prover deviates from the protocol. Only tests deviate: each mode is the cheapest
/// attack that one verifier check, and only that check, exists to stop.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
enum Cheat {
    Honest,
    /// Make every evaluation round sum to the (possibly false) running claim by moving `s(0)`;
    /// later rounds honest. Stopped by the Ligerito round checks.
    LieInEvalRounds,
    /// The same through every round, so the chain ends in a false claim. Stopped only by the
    /// final `⟨yr, B⟩ = claim` check.
    LieInAllRounds,
    /// Send `yr + e` with `⟨e, B⟩ = 0`: the sumcheck chain still closes. Stopped only by the
    /// final row checks against the last commitment.
    FinalMessageInKernel,
}

/// Absorb a round message, draw its challenge, return it with the claim the verifier holds next.
fn send_round(t: &mut Transcript, l: &[u8], cl: &[u8], s: [F128; 3]) -> (F128, F128) {
    absorb_round(t, l, s);
    let r = t.challenge_f128(cl);
    (r, eval_round_poly((s[0], s[1], s[2]), r))
}

/// A lying round message: `g + δ(1 + X)` with `δ` chosen so that `g(0) + g(1)` equals `claim`
/// (adding `δ` to both `g(0)` and `g(1)` would cancel in characteristic 2).
fn shifted_to(s: [F128; 3], claim: F128) -> [F128; 3] {
    [claim.add(&s[1]), s[1], s[2]]
}

/// Prove `P̃(z_j) = v_j` for every claim, on `t` (which may already hold the caller's
/// protocol; the statement is absorbed again here, so the opening binds it on its own).
///
/// The prover does not check the claims: a false claim yields a proof that fails to verify.
pub fn prove(
    params: &Params,
    data: &ProverData,
    claims: &[Claim],
    t: &mut Transcript,
) -> Result<EvalProof, PcsError> {
    prove_inner(params, data, claims, t, Cheat::Honest)
}

fn prove_inner(
    params: &Params,
    data: &ProverData,
    claims: &[Claim],
    t: &mut Transcript,
    cheat: Cheat,
) -> Result<EvalProof, PcsError> {
    check_claims(params, claims)?;
    if data.poly.len() != 1 << params.log_size() {
        return Err(PcsError::PolyLength {
            got: data.poly.len(),
            expected: 1 << params.log_size(),
        });
    }
    let p = params.prover_config()?;
    let k0 = p.initial_k;
    absorb_statement(t, params, &data.commitment, claims);
    let alphas = t.challenge_f128s(label::CLAIM_BATCH, claims.len());
    // The verifier's running claim; an honest prover's messages always match it.
    let mut claim = claims
        .iter()
        .zip(&alphas)
        .fold(F128::zero(), |acc, (c, a)| acc.add(&a.mul(&c.value)));
    let lie_eval = matches!(cheat, Cheat::LieInEvalRounds | Cheat::LieInAllRounds);
    let lie_main = cheat == Cheat::LieInAllRounds;

    // Step 2: the evaluation sumcheck on 2^k-entry tables, one pair per claim.
    let mut hi_tables = Vec::with_capacity(claims.len());
    let mut pairs: Vec<(Vec<F128>, Vec<F128>)> = Vec::with_capacity(claims.len());
    for (c, &a) in claims.iter().zip(&alphas) {
        let (lo, hi) = c.point.split_at(k0);
        let e_hi = eq_table(hi);
        let w = contract_rows(&data.poly, &e_hi, 1 << k0);
        let g: Vec<F128> = eq_table(lo).iter().map(|e| e.mul(&a)).collect();
        hi_tables.push(e_hi);
        pairs.push((w, g));
    }
    let mut eval_rounds = Vec::with_capacity(k0);
    let mut rho_0 = Vec::with_capacity(k0);
    for _ in 0..k0 {
        let mut s = pairs.iter().fold([F128::zero(); 3], |acc, (f, g)| {
            let (a, b, c) = product_round_coeffs(f, g);
            [acc[0].add(&a), acc[1].add(&b), acc[2].add(&c)]
        });
        if lie_eval {
            s = shifted_to(s, claim);
        }
        let (r, next) = send_round(t, label::EVAL_ROUND, label::EVAL_CHALLENGE, s);
        claim = next;
        for (f, g) in &mut pairs {
            *f = fold_lsb(f, r);
            *g = fold_lsb(g, r);
        }
        eval_rounds.push(s);
        rho_0.push(r);
    }

    // The residual claim's weight vector q = Σ_j α_j eq(lo_j, ρ_0) eq(hi_j, ·).
    let mut basis = vec![F128::zero(); 1 << params.verifier.initial_dim];
    for ((_, g), e_hi) in pairs.iter().zip(&hi_tables) {
        let wj = g[0];
        basis
            .par_iter_mut()
            .zip(e_hi)
            .for_each(|(b, e)| *b = b.add(&wj.mul(e)));
    }
    drop(hi_tables);

    // Step 3: commit v_1 = P(ρ_0, ·), open level 0, glue.
    let mut v: Vec<F128> = partial_eval_lift(&data.poly, &rho_0);
    let mut wtns_prev =
        ligerito::ligero::ligero_commit(&v, p.dims[0].0, p.dims[0].1, &p.reed_solomon_codes[0]);
    let mut level_roots = vec![root_of(&wtns_prev)];
    t.absorb_bytes(label::LEVEL_ROOT, &level_roots[0]);
    let (initial, b0, s0) = open_level(
        t,
        params,
        &data.witness,
        params.verifier.initial_dim,
        &rho_0,
    );
    let beta = t.challenge_f128(label::GLUE);
    claim = claim.add(&beta.mul(&s0));
    basis
        .par_iter_mut()
        .zip(&b0)
        .for_each(|(x, b)| *x = x.add(&beta.mul(b)));
    drop(b0);

    // Step 4: the recursion.
    let steps = p.recursive_steps;
    let mut rounds = Vec::with_capacity(p.ks.iter().sum());
    let mut recursive = Vec::with_capacity(steps - 1);
    for i in 0..steps {
        let mut rs = Vec::with_capacity(p.ks[i]);
        for _ in 0..p.ks[i] {
            let (s0, s1, s2) = product_round_coeffs(&v, &basis);
            let mut s = [s0, s1, s2];
            if lie_main {
                s = shifted_to(s, claim);
            }
            let (r, next) = send_round(t, label::ROUND, label::ROUND_CHALLENGE, s);
            claim = next;
            v = fold_lsb(&v, r);
            basis = fold_lsb(&basis, r);
            rounds.push(s);
            rs.push(r);
        }
        let log_dim = params.verifier.log_dims[i];
        if i == steps - 1 {
            if cheat == Cheat::FinalMessageInKernel {
                v[0] = v[0].add(&basis[1]);
                v[1] = v[1].add(&basis[0]);
            }
            t.absorb_f128s(label::FINAL_MESSAGE, &v);
            let queries =
                t.distinct_indices(label::QUERIES, log_dim + LOG_INV_RATE, params.num_queries());
            let rows = queries.iter().map(|&q| wtns_prev.row(q)).collect();
            let BatchedMerkleProof { siblings } = wtns_prev.tree.prove(&queries);
            return Ok(EvalProof {
                eval_rounds,
                level_roots,
                initial,
                recursive,
                rounds,
                final_message: v,
                last: Opening { rows, siblings },
            });
        }
        let wtns_next = ligerito::ligero::ligero_commit(
            &v,
            p.dims[i + 1].0,
            p.dims[i + 1].1,
            &p.reed_solomon_codes[i + 1],
        );
        let root = root_of(&wtns_next);
        t.absorb_bytes(label::LEVEL_ROOT, &root);
        level_roots.push(root);
        let (opening, b, s) = open_level(t, params, &wtns_prev, log_dim, &rs);
        let beta = t.challenge_f128(label::GLUE);
        claim = claim.add(&beta.mul(&s));
        basis
            .par_iter_mut()
            .zip(&b)
            .for_each(|(x, y)| *x = x.add(&beta.mul(y)));
        recursive.push(opening);
        wtns_prev = wtns_next;
    }
    Err(PcsError::InvalidParams("no recursive level".into()))
}

/// One summand of the verifier's weight vector `B`, kept factored:
/// `coeff · ⊗_{j ≥ off} (u_j, v_j)` (entry at index `x` is `coeff · Π_j (x_j ? v_j : u_j)`).
/// Generator rows of the code are `⊗ (1, s_j(ω_q))`; `eq(h, ·)` is `⊗ (1 + h_j, h_j)`.
/// Binding the lowest remaining variable to `r` multiplies `coeff` by `u + r(u + v)`, so the
/// verifier never materialises a vector of message length.
struct Term {
    coeff: F128,
    factors: Vec<(F128, F128)>,
    off: usize,
}

impl Term {
    fn fold(&mut self, r: F128) {
        let (u, v) = self.factors[self.off];
        self.coeff = self.coeff.mul(&u.add(&r.mul(&u.add(&v))));
        self.off += 1;
    }

    /// `⟨y, this term⟩` for `|y| = 2^(remaining variables)`.
    fn inner(&self, y: &[F128]) -> F128 {
        let f = &self.factors[self.off..];
        debug_assert_eq!(y.len(), 1 << f.len());
        let Some((&(u, v), rest)) = f.split_first() else {
            return self.coeff.mul(&y[0]);
        };
        // Generator rows have u = 1 in every factor: one multiplication per pair, not two.
        let step = |u: F128, v: F128, p: &[F128]| {
            if u == F128::one() {
                p[0].add(&v.mul(&p[1]))
            } else {
                u.mul(&p[0]).add(&v.mul(&p[1]))
            }
        };
        let mut cur: Vec<F128> = y.chunks_exact(2).map(|p| step(u, v, p)).collect();
        for &(u, v) in rest {
            let half = cur.len() / 2;
            for i in 0..half {
                cur[i] = step(u, v, &cur[2 * i..2 * i + 2]);
            }
            cur.truncate(half);
        }
        self.coeff.mul(&cur[0])
    }
}

/// `s_j(ω_q)` for `j < log_dim`: the factors of generator row `q` of the non-systematic
/// Reed–Solomon code the crate encodes with (`Enc(v)[q] = Σ_i v_i Π_{j ∈ bits(i)} s_j(ω_q)`),
/// computed in the code's field and lifted.
fn generator_factors<E>(q: usize, log_dim: usize, sks_vks: &[E]) -> Vec<(F128, F128)>
where
    E: BinaryFieldElement,
    F128: From<E>,
{
    let mut out = Vec::with_capacity(log_dim);
    let mut s = E::from_bits(q as u64);
    for j in 0..log_dim {
        if j > 0 {
            s = s.mul(&s).add(&sks_vks[j - 1].mul(&s));
        }
        out.push((F128::one(), F128::from(s)));
    }
    out
}

/// Check one level's Merkle opening at the transcript's queries; absorb the leaf hashes (as the
/// prover did) when the level feeds a later challenge.
fn check_opening<E>(
    t: &mut Transcript,
    params: &Params,
    root: &[u8; 32],
    opening: &Opening<E>,
    log_dim: usize,
    level: usize,
    absorb: bool,
) -> Result<Vec<usize>, Rejection>
where
    E: BinaryFieldElement,
{
    let queries = t.distinct_indices(label::QUERIES, log_dim + LOG_INV_RATE, params.num_queries());
    let hashes: Vec<Hash> = opening.rows.iter().map(|r| hash_row(r)).collect();
    let proof = BatchedMerkleProof {
        siblings: opening.siblings.clone(),
    };
    let root = MerkleRoot { root: Some(*root) };
    if !ligerito_merkle::verify(&root, &proof, log_dim + LOG_INV_RATE, &hashes, &queries) {
        return Err(Rejection::Merkle(level));
    }
    if absorb {
        absorb_leaf_hashes(t, &hashes);
    }
    Ok(queries)
}

/// Add the α-batched generator rows of the opened queries (scaled by `scale`) and return the
/// batched row sum `Σ α^k ⟨row_k, eq(rs)⟩` they must match.
fn add_row_terms<E>(
    terms: &mut Vec<Term>,
    opening: &Opening<E>,
    queries: &[usize],
    log_dim: usize,
    rs: &[F128],
    alpha: F128,
) -> F128
where
    E: BinaryFieldElement,
    F128: From<E>,
{
    let sks_vks: Vec<E> = eval_sk_at_vks(1 << log_dim);
    let pows = precompute_alpha_powers(alpha, queries.len());
    let mut sum = F128::zero();
    for ((row, &q), &a) in opening.rows.iter().zip(queries).zip(&pows) {
        sum = sum.add(&a.mul(&tensorized_dot_product(row, rs)));
        terms.push(Term {
            coeff: a,
            factors: generator_factors(q, log_dim, &sks_vks),
            off: 0,
        });
    }
    sum
}

fn rows_have_shape<E>(rows: &[Vec<E>], count: usize, width: usize) -> bool {
    rows.len() == count && rows.iter().all(|r| r.len() == width)
}

fn check_shape(params: &Params, proof: &EvalProof) -> Result<(), Rejection> {
    let v = &params.verifier;
    let steps = v.recursive_steps;
    let shape = |ok: bool, what| {
        if ok {
            Ok(())
        } else {
            Err(Rejection::Shape(what))
        }
    };
    shape(proof.eval_rounds.len() == v.initial_k, "evaluation rounds")?;
    shape(proof.level_roots.len() == steps, "level roots")?;
    shape(proof.recursive.len() == steps - 1, "recursive openings")?;
    shape(
        proof.rounds.len() == v.ks.iter().sum::<usize>(),
        "sumcheck rounds",
    )?;
    shape(
        proof.final_message.len() == 1 << v.log_dims[steps - 1],
        "final message",
    )?;
    let initial_rows = params.rows_opened(v.initial_dim);
    shape(
        rows_have_shape(&proof.initial.rows, initial_rows, 1 << v.initial_k),
        "initial opening",
    )?;
    // Opening i is of v_{i+1}: a 2^log_dims[i] x 2^ks[i] message matrix.
    for (i, o) in proof.recursive.iter().enumerate() {
        let rows = params.rows_opened(v.log_dims[i]);
        shape(
            rows_have_shape(&o.rows, rows, 1 << v.ks[i]),
            "recursive opening",
        )?;
    }
    let last_rows = params.rows_opened(v.log_dims[steps - 1]);
    shape(
        rows_have_shape(&proof.last.rows, last_rows, 1 << v.ks[steps - 1]),
        "last opening",
    )
}

/// Verify `proof` for `claims` on `commitment`; `t` must be in the state the prover's was.
pub fn verify(
    params: &Params,
    commitment: &Commitment,
    claims: &[Claim],
    proof: &EvalProof,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    check_claims(params, claims)?;
    check_shape(params, proof)?;
    let v = &params.verifier;
    let k0 = v.initial_k;
    absorb_statement(t, params, commitment, claims);
    let alphas = t.challenge_f128s(label::CLAIM_BATCH, claims.len());

    let mut claim = claims
        .iter()
        .zip(&alphas)
        .fold(F128::zero(), |acc, (c, a)| acc.add(&a.mul(&c.value)));
    let mut rho_0 = Vec::with_capacity(k0);
    for (i, &s) in proof.eval_rounds.iter().enumerate() {
        if s[0].add(&s[1]) != claim {
            return Err(Rejection::EvalRound(i).into());
        }
        absorb_round(t, label::EVAL_ROUND, s);
        let r = t.challenge_f128(label::EVAL_CHALLENGE);
        claim = eval_round_poly((s[0], s[1], s[2]), r);
        rho_0.push(r);
    }

    t.absorb_bytes(label::LEVEL_ROOT, &proof.level_roots[0]);
    let queries = check_opening(
        t,
        params,
        &commitment.root,
        &proof.initial,
        v.initial_dim,
        0,
        true,
    )?;
    let alpha = t.challenge_f128(label::ROW_BATCH);
    let mut terms = Vec::with_capacity(claims.len() + v.num_queries * v.recursive_steps);
    let s0 = add_row_terms(
        &mut terms,
        &proof.initial,
        &queries,
        v.initial_dim,
        &rho_0,
        alpha,
    );
    t.absorb_f128s(label::ROW_SUM, &[s0]);
    let beta = t.challenge_f128(label::GLUE);
    for term in &mut terms {
        term.coeff = term.coeff.mul(&beta);
    }
    claim = claim.add(&beta.mul(&s0));
    for (c, &a) in claims.iter().zip(&alphas) {
        let (lo, hi) = c.point.split_at(k0);
        terms.push(Term {
            coeff: a.mul(&eq_eval(lo, &rho_0)),
            factors: hi.iter().map(|&h| (F128::one().add(&h), h)).collect(),
            off: 0,
        });
    }

    let steps = v.recursive_steps;
    let mut rounds = proof.rounds.iter().enumerate();
    for i in 0..steps {
        let mut rs = Vec::with_capacity(v.ks[i]);
        for _ in 0..v.ks[i] {
            let Some((idx, &s)) = rounds.next() else {
                return Err(Rejection::Shape("sumcheck rounds").into());
            };
            if s[0].add(&s[1]) != claim {
                return Err(Rejection::Round(idx).into());
            }
            absorb_round(t, label::ROUND, s);
            let r = t.challenge_f128(label::ROUND_CHALLENGE);
            claim = eval_round_poly((s[0], s[1], s[2]), r);
            for term in &mut terms {
                term.fold(r);
            }
            rs.push(r);
        }
        let log_dim = v.log_dims[i];
        let root = &proof.level_roots[i];
        if i == steps - 1 {
            let y = &proof.final_message;
            t.absorb_f128s(label::FINAL_MESSAGE, y);
            let queries = check_opening(t, params, root, &proof.last, log_dim, i + 1, false)?;
            let folded = terms
                .par_iter()
                .map(|term| term.inner(y))
                .reduce(F128::zero, |a, b| a.add(&b));
            if folded != claim {
                return Err(Rejection::FinalClaim.into());
            }
            let sks_vks: Vec<F128> = eval_sk_at_vks(1 << log_dim);
            let bad = queries
                .par_iter()
                .zip(&proof.last.rows)
                .position_first(|(&q, row)| {
                    let generator = Term {
                        coeff: F128::one(),
                        factors: generator_factors(q, log_dim, &sks_vks),
                        off: 0,
                    };
                    tensorized_dot_product(row, &rs) != generator.inner(y)
                });
            return match bad {
                Some(j) => Err(Rejection::FinalRow(j).into()),
                None => Ok(()),
            };
        }
        t.absorb_bytes(label::LEVEL_ROOT, &proof.level_roots[i + 1]);
        let opening = &proof.recursive[i];
        let queries = check_opening(t, params, root, opening, log_dim, i + 1, true)?;
        let alpha = t.challenge_f128(label::ROW_BATCH);
        let start = terms.len();
        let s = add_row_terms(&mut terms, opening, &queries, log_dim, &rs, alpha);
        t.absorb_f128s(label::ROW_SUM, &[s]);
        let beta = t.challenge_f128(label::GLUE);
        for term in &mut terms[start..] {
            term.coeff = term.coeff.mul(&beta);
        }
        claim = claim.add(&beta.mul(&s));
    }
    Err(Rejection::Shape("no recursive level").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The verifier's factored generator rows must be the code the crate encodes with;
    /// otherwise honest proofs fail (or, worse, the row check tests something else).
    #[test]
    fn generator_factors_reproduce_the_encoding() {
        fn check<E>(log_dim: usize, rng: &mut ChaCha8Rng, elem: impl Fn(u128) -> E)
        where
            E: BinaryFieldElement + 'static,
            F128: From<E>,
        {
            let m = 1usize << log_dim;
            let rs = ligerito_reed_solomon::reed_solomon::<E>(m, m << LOG_INV_RATE);
            let msg: Vec<E> = (0..m).map(|_| elem(rng.gen())).collect();
            let mut code = msg.clone();
            code.resize(m << LOG_INV_RATE, E::zero());
            ligerito_reed_solomon::encode_non_systematic(&rs, &mut code);
            let lifted: Vec<F128> = msg.iter().map(|&x| F128::from(x)).collect();
            let sks_vks: Vec<E> = eval_sk_at_vks(m);
            for (q, &c) in code.iter().enumerate() {
                let g = Term {
                    coeff: F128::one(),
                    factors: generator_factors(q, log_dim, &sks_vks),
                    off: 0,
                };
                assert_eq!(g.inner(&lifted), F128::from(c), "log_dim {log_dim} q {q}");
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for d in [1, 4, 6] {
            check::<F32>(d, &mut rng, |x| F32::from_value(x as u32));
            check::<F128>(d, &mut rng, F128::from_value);
        }
    }

    fn cheat_fixture(seed: u64) -> (Params, ProverData, Vec<Claim>) {
        let params = Params::with_shape(8, 4, &[(6, 2), (4, 2)], DEFAULT_QUERIES).expect("params");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let poly: Vec<F32> = (0..1 << 12).map(|_| F32::from_value(rng.gen())).collect();
        let point: Vec<F128> = (0..12).map(|_| F128::from_value(rng.gen())).collect();
        let value = crate::field::evaluate_mle(&poly, &point);
        let (_, data) = commit(&params, poly).expect("commit");
        (params, data, vec![Claim { point, value }])
    }

    fn run(
        params: &Params,
        data: &ProverData,
        claims: &[Claim],
        cheat: Cheat,
    ) -> Result<(), PcsError> {
        let proof =
            prove_inner(params, data, claims, &mut Transcript::new(b"t"), cheat).expect("prove");
        verify(
            params,
            &data.commitment(),
            claims,
            &proof,
            &mut Transcript::new(b"t"),
        )
    }

    /// Each cheating strategy passes every check but the one it targets, which must catch it:
    /// removing that check would make the tests below fail.
    #[test]
    fn each_check_stops_its_attack() {
        let (params, data, claims) = cheat_fixture(12);
        for cheat in [Cheat::Honest, Cheat::LieInEvalRounds, Cheat::LieInAllRounds] {
            // with a true claim, the lies are no-ops: the shifts are zero
            assert_eq!(run(&params, &data, &claims, cheat), Ok(()), "{cheat:?}");
        }
        let mut false_claims = claims.clone();
        false_claims[0].value = false_claims[0].value.add(&F128::one());
        let rejected = |cheat, r: Rejection| {
            assert_eq!(
                run(&params, &data, &false_claims, cheat),
                Err(PcsError::Rejected(r)),
                "{cheat:?}"
            );
        };
        rejected(Cheat::Honest, Rejection::EvalRound(0));
        rejected(Cheat::LieInEvalRounds, Rejection::Round(0));
        rejected(Cheat::LieInAllRounds, Rejection::FinalClaim);
        assert!(matches!(
            run(&params, &data, &claims, Cheat::FinalMessageInKernel),
            Err(PcsError::Rejected(Rejection::FinalRow(_)))
        ));
    }

    /// Folding a factored term variable by variable equals folding its dense table.
    #[test]
    fn term_fold_matches_dense_fold() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let h: Vec<F128> = (0..5).map(|_| F128::from_value(rng.gen())).collect();
        let mut term = Term {
            coeff: F128::from_value(rng.gen()),
            factors: h.iter().map(|&x| (F128::one().add(&x), x)).collect(),
            off: 0,
        };
        let mut dense: Vec<F128> = eq_table(&h).iter().map(|e| e.mul(&term.coeff)).collect();
        for _ in 0..2 {
            let r = F128::from_value(rng.gen());
            term.fold(r);
            dense = fold_lsb(&dense, r);
        }
        let y: Vec<F128> = (0..8).map(|_| F128::from_value(rng.gen())).collect();
        assert_eq!(term.inner(&y), crate::field::inner(&y, &dense));
    }

    /// The chosen query count meets the 100-bit target at every size up to 2^28, and the
    /// crate's 148 does not (so the choice is the reason, not slack in the accounting).
    #[test]
    fn security_meets_target() {
        let bits = |n: usize, q: usize| {
            let mut c = shape_for(n).expect("shape");
            c.num_queries = q;
            security_bits(&c)
        };
        let worst = |q: usize| {
            (MIN_LOG_SIZE..=28)
                .map(|n| bits(n, q))
                .fold(f64::INFINITY, f64::min)
        };
        assert!(
            worst(DEFAULT_QUERIES) >= 100.0,
            "{}",
            worst(DEFAULT_QUERIES)
        );
        assert!(
            worst(DEFAULT_QUERIES - 1) < 100.0,
            "{}",
            worst(DEFAULT_QUERIES - 1)
        );
        assert!(bits(20, 148) < 100.0);
        for n in [12, 16, 20, 24, 28, 30] {
            eprintln!(
                "2^{n}: {:.2} bits with {DEFAULT_QUERIES} queries, {:.2} with 148",
                bits(n, DEFAULT_QUERIES),
                bits(n, 148)
            );
        }
        let small = Params::new(12).expect("params");
        assert_eq!(small.security_bits(), bits(12, DEFAULT_QUERIES));
    }
}
