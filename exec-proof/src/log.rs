//! The host-call log a proof makes public: every answer the host gave the guest that is not
//! bound otherwise, in call order, exactly the bytes `prove_block` hashes into its output
//! (`exec-reexec/guest/pool.c`). A validator replays it against the nullifier set it keeps,
//! so a lying host (a spent nullifier answered "unspent") is caught without the payload.
//!
//! Records: `1 ++ nf ++ le64(answer)` (`nf_contains`), `2 ++ nf` (`nf_insert`),
//! `3 ++ le64(code)` (`tx_result`).

use std::collections::HashSet;

use diverge_pool::state::NullifierSet;
use diverge_pool::tx::{Bytes32, TxResult};

/// One host call the log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `nf_contains(nf)` answered `answer`.
    Contains {
        /// The nullifier asked about.
        nf: Bytes32,
        /// 0 unspent, 1 spent before the block, 2 spent earlier in it.
        answer: u64,
    },
    /// `nf_insert(nf)`: the block spends `nf`.
    Insert {
        /// The spent nullifier.
        nf: Bytes32,
    },
    /// `tx_result(code)`: the next transaction's result.
    Result {
        /// Its result code.
        code: u64,
    },
}

const CONTAINS: u8 = 1;
const INSERT: u8 = 2;
const RESULT: u8 = 3;

/// Why a log is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The bytes end inside a record.
    #[error("log truncated in the record at byte {at}")]
    Truncated {
        /// Offset of the record.
        at: usize,
    },
    /// A record tag the guest never writes.
    #[error("unknown log record tag {tag} at byte {at}")]
    UnknownTag {
        /// Offset of the record.
        at: usize,
        /// The tag.
        tag: u8,
    },
    /// The host's answer is not the honest one for the validator's nullifier set.
    #[error("record {index}: nf_contains answered {claimed}, the nullifier set says {honest}")]
    WrongAnswer {
        /// Record index.
        index: usize,
        /// What the log says.
        claimed: u64,
        /// What the set says.
        honest: u64,
    },
    /// A nullifier spent twice (the honest host faults the guest).
    #[error("record {index}: inserts a nullifier that is already spent")]
    DoubleSpend {
        /// Record index.
        index: usize,
    },
    /// A result code the guest does not report.
    #[error("record {index}: unknown result code {code}")]
    UnknownResult {
        /// Record index.
        index: usize,
        /// The code.
        code: u64,
    },
}

/// The log's bytes.
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 41);
    for r in records {
        match r {
            Record::Contains { nf, answer } => {
                out.push(CONTAINS);
                out.extend_from_slice(nf);
                out.extend_from_slice(&answer.to_le_bytes());
            }
            Record::Insert { nf } => {
                out.push(INSERT);
                out.extend_from_slice(nf);
            }
            Record::Result { code } => {
                out.push(RESULT);
                out.extend_from_slice(&code.to_le_bytes());
            }
        }
    }
    out
}

/// Parses untrusted log bytes; `encode(parse(b)?) == b`.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, LogError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag = bytes[at];
        let len = match tag {
            CONTAINS => 41,
            INSERT => 33,
            RESULT => 9,
            _ => return Err(LogError::UnknownTag { at, tag }),
        };
        let rec = bytes.get(at..at + len).ok_or(LogError::Truncated { at })?;
        let nf = || -> Bytes32 { rec[1..33].try_into().expect("32 bytes") };
        let word = |from: usize| u64::from_le_bytes(rec[from..from + 8].try_into().expect("8"));
        out.push(match tag {
            CONTAINS => Record::Contains {
                nf: nf(),
                answer: word(33),
            },
            INSERT => Record::Insert { nf: nf() },
            _ => Record::Result { code: word(1) },
        });
        at += len;
    }
    Ok(out)
}

/// What a checked log does to the state: the block's results and its spent nullifiers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// One result code per transaction.
    pub results: Vec<u8>,
    /// The nullifiers the block spends.
    pub spent: HashSet<Bytes32>,
}

/// Replays the log against `before` (the parent's spent set) as the honest host
/// (`diverge_pool::host::PoolHost`) would have answered it.
pub fn replay(records: &[Record], before: &NullifierSet) -> Result<Effects, LogError> {
    let mut fx = Effects::default();
    for (index, r) in records.iter().enumerate() {
        match *r {
            Record::Contains { nf, answer } => {
                let honest = if before.contains(&nf) {
                    1
                } else if fx.spent.contains(&nf) {
                    2
                } else {
                    0
                };
                if answer != honest {
                    return Err(LogError::WrongAnswer {
                        index,
                        claimed: answer,
                        honest,
                    });
                }
            }
            Record::Insert { nf } => {
                if before.contains(&nf) || !fx.spent.insert(nf) {
                    return Err(LogError::DoubleSpend { index });
                }
            }
            Record::Result { code } => {
                let r = TxResult::from_code(code).ok_or(LogError::UnknownResult { index, code })?;
                fx.results.push(r as u8);
            }
        }
    }
    Ok(fx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            (any::<[u8; 32]>(), 0u64..4).prop_map(|(nf, answer)| Record::Contains { nf, answer }),
            any::<[u8; 32]>().prop_map(|nf| Record::Insert { nf }),
            (0u64..9).prop_map(|code| Record::Result { code }),
        ]
    }

    proptest! {
        #[test]
        fn logs_round_trip(records in proptest::collection::vec(record(), 0..20)) {
            prop_assert_eq!(parse(&encode(&records)), Ok(records));
        }

        #[test]
        fn garbage_is_an_error_or_a_log(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(records) = parse(&bytes) {
                prop_assert_eq!(encode(&records), bytes);
            }
        }
    }

    #[test]
    fn answers_are_checked_against_the_set() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let before = NullifierSet::from_items([a]);
        let ok = [
            Record::Contains { nf: a, answer: 1 },
            Record::Result { code: 1 },
            Record::Contains { nf: b, answer: 0 },
            Record::Insert { nf: b },
            Record::Result { code: 0 },
            Record::Contains { nf: b, answer: 2 },
            Record::Result { code: 2 },
        ];
        let fx = replay(&ok, &before).expect("honest");
        assert_eq!(fx.results, vec![1, 0, 2]);
        assert_eq!(fx.spent, HashSet::from([b]));
        // A spent nullifier answered unspent: the double spend a lying prover would hide.
        let mut lie = ok;
        lie[0] = Record::Contains { nf: a, answer: 0 };
        assert!(matches!(
            replay(&lie, &before),
            Err(LogError::WrongAnswer { index: 0, .. })
        ));
        let twice = [Record::Insert { nf: b }, Record::Insert { nf: b }];
        assert_eq!(
            replay(&twice, &before),
            Err(LogError::DoubleSpend { index: 1 })
        );
        assert_eq!(
            replay(&[Record::Insert { nf: a }], &before),
            Err(LogError::DoubleSpend { index: 0 })
        );
        assert!(replay(&[Record::Result { code: 99 }], &before).is_err());
    }
}
