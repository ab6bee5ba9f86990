//! Typed errors. Everything a verifier can learn about a bad proof is a [`Rejection`]; it
//! never panics on proof bytes.

/// Why an operation on the commitment scheme failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcsError {
    #[error("unsupported polynomial size 2^{0} (supported: 2^{min}..=2^{max})", min = crate::pcs::MIN_LOG_SIZE, max = crate::pcs::MAX_LOG_SIZE)]
    UnsupportedSize(usize),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("polynomial has {got} coefficients, the parameters expect {expected}")]
    PolyLength { got: usize, expected: usize },
    #[error("an evaluation proof needs at least one claim")]
    NoClaims,
    #[error("claim {claim}: the point has {got} coordinates, the parameters expect {expected}")]
    PointLength {
        claim: usize,
        got: usize,
        expected: usize,
    },
    #[error("proof bytes do not decode: {0}")]
    Decode(&'static str),
    #[error("proof rejected: {0}")]
    Rejected(#[from] Rejection),
}

/// The check a rejected evaluation proof failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("proof shape does not match the parameters: {0}")]
    Shape(&'static str),
    #[error("evaluation sumcheck round {0} does not sum to the running claim")]
    EvalRound(usize),
    #[error("Merkle opening of level {0} does not match its root")]
    Merkle(usize),
    #[error("sumcheck round {0} does not sum to the running claim")]
    Round(usize),
    #[error("the final message does not satisfy the folded claim")]
    FinalClaim,
    #[error("the final message disagrees with opened row {0}")]
    FinalRow(usize),
}

/// Why a proof of the sumcheck engine (sumcheck, zerocheck, shift, AIR) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("proof shape does not match the statement: {0}")]
    Shape(&'static str),
    #[error("sumcheck round {0} does not sum to the running claim")]
    SumcheckRound(usize),
    #[error("final evaluation check failed: {0}")]
    FinalEvaluation(&'static str),
    #[error("polynomial commitment: {0}")]
    Pcs(#[from] PcsError),
}
