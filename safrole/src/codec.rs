//! The JAM-codec (`.bin`) form of the Safrole vectors.
//!
//! JAM encodes sequences whose length the schema fixes (validator sets of V, sealer series of
//! E) without a length prefix, so decoding needs the chain's V and E; [`decode_case_any`] tries
//! the tiny and full specs and keeps the one that consumes the file exactly.

use diverge_plugins::codec::read_natural;

use super::types::{
    Bytes, EpochMark, EpochMarkValidator, ErrorCode, Input, Output, SealKeys, State, TicketBody,
    TicketEnvelope, ValidatorData,
};

/// Ring VRF ticket signature size: 32-byte output point + 752-byte proof.
pub const TICKET_SIGNATURE_LEN: usize = 784;

/// Why bytes are not a Safrole case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Ran out of bytes.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// A choice or option tag that is not 0 or 1.
    #[error("bad tag {tag} for {what}")]
    BadTag {
        /// The field.
        what: &'static str,
        /// The byte.
        tag: u8,
    },
    /// A length prefix beyond what the schema or the input allows.
    #[error("bad length {len} for {what}")]
    BadLength {
        /// The field.
        what: &'static str,
        /// The decoded length.
        len: u64,
    },
    /// Bytes left after the case.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// A decoded vector case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The block input.
    pub input: Input,
    /// The state before.
    pub pre_state: State,
    /// Output or error.
    pub output: Result<Output, ErrorCode>,
    /// The state after.
    pub post_state: State,
}

struct Reader<'a> {
    b: &'a [u8],
    v: usize,
    e: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<Bytes<N>, DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(Bytes(out))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn len(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = read_natural(&mut self.b).map_err(|_| DecodeError::Truncated(what))?;
        usize::try_from(n)
            .ok()
            .filter(|&l| l <= max)
            .ok_or(DecodeError::BadLength { what, len: n })
    }

    fn tag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { what, tag }),
        }
    }

    fn validators(&mut self) -> Result<Vec<ValidatorData>, DecodeError> {
        (0..self.v)
            .map(|_| {
                Ok(ValidatorData {
                    bandersnatch: self.bytes("bandersnatch")?,
                    ed25519: self.bytes("ed25519")?,
                    bls: self.bytes("bls")?,
                    metadata: self.bytes("metadata")?,
                })
            })
            .collect()
    }

    fn ticket(&mut self) -> Result<TicketBody, DecodeError> {
        Ok(TicketBody {
            id: self.bytes("ticket id")?,
            attempt: self.u8("ticket attempt")?,
        })
    }

    fn tickets(&mut self, n: usize) -> Result<Vec<TicketBody>, DecodeError> {
        (0..n).map(|_| self.ticket()).collect()
    }

    fn state(&mut self) -> Result<State, DecodeError> {
        let tau = self.u32("tau")?;
        let eta = [
            self.bytes("eta")?,
            self.bytes("eta")?,
            self.bytes("eta")?,
            self.bytes("eta")?,
        ];
        let lambda = self.validators()?;
        let kappa = self.validators()?;
        let gamma_k = self.validators()?;
        let iota = self.validators()?;
        let n = self.len("gamma_a", self.e)?;
        let gamma_a = self.tickets(n)?;
        let gamma_s = if self.tag("gamma_s")? {
            SealKeys::Keys(
                (0..self.e)
                    .map(|_| self.bytes("key"))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            SealKeys::Tickets(self.tickets(self.e)?)
        };
        let gamma_z = self.bytes("gamma_z")?;
        let n = self.len("post_offenders", self.b.len() / 32)?;
        let post_offenders = (0..n)
            .map(|_| self.bytes("offender"))
            .collect::<Result<_, _>>()?;
        Ok(State {
            tau,
            eta,
            lambda,
            kappa,
            gamma_k,
            iota,
            gamma_a,
            gamma_s,
            gamma_z,
            post_offenders,
        })
    }

    fn input(&mut self) -> Result<Input, DecodeError> {
        let slot = self.u32("slot")?;
        let entropy = self.bytes("entropy")?;
        let n = self.len("extrinsic", self.b.len() / TICKET_SIGNATURE_LEN)?;
        let extrinsic = (0..n)
            .map(|_| {
                Ok(TicketEnvelope {
                    attempt: self.u8("attempt")?,
                    signature: self.take(TICKET_SIGNATURE_LEN, "signature")?.to_vec(),
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Input {
            slot,
            entropy,
            extrinsic,
        })
    }

    fn output(&mut self) -> Result<Result<Output, ErrorCode>, DecodeError> {
        if self.tag("output")? {
            let code = match self.u8("error code")? {
                0 => ErrorCode::BadSlot,
                1 => ErrorCode::UnexpectedTicket,
                2 => ErrorCode::BadTicketOrder,
                3 => ErrorCode::BadTicketProof,
                4 => ErrorCode::BadTicketAttempt,
                5 => ErrorCode::Reserved,
                6 => ErrorCode::DuplicateTicket,
                tag => {
                    return Err(DecodeError::BadTag {
                        what: "error code",
                        tag,
                    })
                }
            };
            return Ok(Err(code));
        }
        let epoch_mark = if self.tag("epoch_mark")? {
            Some(EpochMark {
                entropy: self.bytes("entropy")?,
                tickets_entropy: self.bytes("tickets_entropy")?,
                validators: (0..self.v)
                    .map(|_| {
                        Ok(EpochMarkValidator {
                            bandersnatch: self.bytes("bandersnatch")?,
                            ed25519: self.bytes("ed25519")?,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?,
            })
        } else {
            None
        };
        let tickets_mark = if self.tag("tickets_mark")? {
            Some(self.tickets(self.e)?)
        } else {
            None
        };
        Ok(Ok(Output {
            epoch_mark,
            tickets_mark,
        }))
    }
}

/// Decodes a case for a chain of `validators` validators and `epoch_len`-slot epochs.
pub fn decode_case(bytes: &[u8], validators: usize, epoch_len: usize) -> Result<Case, DecodeError> {
    let mut r = Reader {
        b: bytes,
        v: validators,
        e: epoch_len,
    };
    let case = Case {
        input: r.input()?,
        pre_state: r.state()?,
        output: r.output()?,
        post_state: r.state()?,
    };
    if !r.b.is_empty() {
        return Err(DecodeError::Trailing(r.b.len()));
    }
    Ok(case)
}

/// Decodes with the tiny spec, else the full one; returns the case and (V, E).
pub fn decode_case_any(bytes: &[u8]) -> Result<(Case, usize, usize), DecodeError> {
    match decode_case(bytes, 6, 12) {
        Ok(c) => Ok((c, 6, 12)),
        Err(tiny_err) => decode_case(bytes, 1023, 600)
            .map(|c| (c, 1023, 600))
            .map_err(|_| tiny_err),
    }
}
