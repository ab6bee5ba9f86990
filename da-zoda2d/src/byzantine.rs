//! Malicious encoders (`shared/research/zoda.md` §5), built as real encodings: a commitment and
//! shards exactly as a byzantine author would publish them, checked by the ordinary
//! [`Zoda2d::verify_shard`]. The tests use them, and so does the simulator's byzantine author
//! through `[da.params] adversary` (an adversary knob, never set by a chain config).
//!
//! With each encoding comes the set of validators that must reject it, derived from the rows
//! alone: when the published checksum is the honest `W* = X̃*R` of some data rows `X̃*`, the
//! check row `(GW)_p` is `(GX̃*)_p R`, so row p passes iff it equals row p of the codeword `GX̃*`
//! (except with probability 2^-128 over R). A holder of any other row must reject; the verifier
//! never sees that set, so a test asserting the two agree can fail either way.

use std::collections::BTreeSet;

use diverge_plugins::{Encoded, MaliciousEncoding};

use crate::{extend_checksum, Zoda2d, ZodaError};

/// A malicious encoding and who must catch it.
#[derive(Debug, Clone)]
pub struct Malicious {
    /// What the byzantine author publishes: the commitment (its header) and one shard per
    /// validator.
    pub encoded: Encoded,
    /// Row positions (of the m committed rows) that disagree with the checksum's codeword.
    pub bad_rows: BTreeSet<u32>,
    /// Validators whose shard must fail `verify_shard`, ascending: holders of a bad row, and the
    /// targets of an equivocation.
    pub must_reject: Vec<u32>,
}

/// Which rows of `rows` differ from `codeword`.
fn differing(rows: &[Vec<u8>], codeword: &[Vec<u8>]) -> BTreeSet<u32> {
    rows.iter()
        .zip(codeword)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(p, _)| p as u32)
        .collect()
}

/// The checksum `W` perturbed in one symbol of its first row.
fn forge(mut w: Vec<u8>) -> Vec<u8> {
    if let Some(b) = w.get_mut(3) {
        *b ^= 1;
    }
    w
}

impl Zoda2d {
    /// Encodes `data` the way `kind` cheats (the shape is the honest one for `data.len()`, so
    /// the commitment passes every structural check).
    pub fn encode_malicious(
        &self,
        kind: MaliciousEncoding,
        data: &[u8],
    ) -> Result<Malicious, ZodaError> {
        let data_len = u32::try_from(data.len()).map_err(|_| ZodaError::TooLarge(data.len()))?;
        let shape = self.shape_for(data.len())?;
        let n = shape.data_rows as usize;
        let m = shape.rows as usize;
        let honest = Zoda2d::encode_rows(&shape, data)?;
        let honest_w = |c0: &_| Zoda2d::checksum(&shape, c0, &honest);
        let mut targets = BTreeSet::new();
        let (encoded, bad_rows) = match kind {
            MaliciousEncoding::RandomShards => {
                let bytes = MaliciousEncoding::noise(
                    b"zoda2d/adversary/random",
                    data,
                    m * shape.row_bytes(),
                );
                let rows: Vec<Vec<u8>> = bytes
                    .chunks_exact(shape.row_bytes().max(1))
                    .map(<[u8]>::to_vec)
                    .chain(std::iter::repeat_with(Vec::new))
                    .take(m)
                    .collect();
                // The checksum of the random rows' own first n: the most a random encoding
                // can make pass (its systematic rows).
                let enc = self.assemble(&shape, data_len, &rows)?;
                let mut codeword = rows[..n].to_vec();
                codeword.extend(crate::code::extend(&rows[..n], m)?);
                (enc, differing(&rows, &codeword))
            }
            MaliciousEncoding::CorruptShard => {
                let mut rows = honest.clone();
                if let Some(b) = rows[m - 1].first_mut() {
                    *b ^= 0x40;
                }
                let enc = self.assemble_with(&shape, data_len, &rows, honest_w)?;
                (enc, differing(&rows, &honest))
            }
            MaliciousEncoding::Splice => {
                let other = Zoda2d::encode_rows(&shape, &MaliciousEncoding::other_payload(data))?;
                let rows: Vec<Vec<u8>> = honest[..m / 2]
                    .iter()
                    .chain(&other[m / 2..])
                    .cloned()
                    .collect();
                let enc = self.assemble_with(&shape, data_len, &rows, honest_w)?;
                (enc, differing(&rows, &honest))
            }
            MaliciousEncoding::ForgedChecksum => {
                let mut forged_w = Vec::new();
                let enc = self.assemble_with(&shape, data_len, &honest, |c0| {
                    forged_w = forge(honest_w(c0));
                    forged_w.clone()
                })?;
                // Honest rows, so a row passes iff the forged check row equals the true one.
                let (c, _) = self.commitment(&enc.commitment)?;
                let c0 = self.c0(&c, &shape);
                let truth = extend_checksum(&honest_w(&c0), &shape)?;
                let lie = extend_checksum(&forged_w, &shape)?;
                (enc, differing(&lie, &truth))
            }
            MaliciousEncoding::Equivocation => {
                let mut enc = self.assemble(&shape, data_len, &honest)?;
                let other =
                    self.assemble_with(&shape, data_len, &honest, |c0| forge(honest_w(c0)))?;
                for (v, shard) in enc.shards.iter_mut().enumerate().skip(1).step_by(2) {
                    *shard = other.shards[v].clone();
                    targets.insert(v as u32);
                }
                (enc, BTreeSet::new())
            }
        };
        let (c, _) = self.commitment(&encoded.commitment)?;
        let must_reject = (0..self.committee.validators)
            .filter(|v| {
                targets.contains(v)
                    || Zoda2d::positions(&c, &shape, *v)
                        .iter()
                        .any(|p| bad_rows.contains(p))
            })
            .collect();
        Ok(Malicious {
            encoded,
            bad_rows,
            must_reject,
        })
    }
}
