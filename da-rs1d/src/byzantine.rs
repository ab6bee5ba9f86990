//! Malicious encoders (`shared/research/zoda.md` §5), the same constructions da-zoda2d's
//! `byzantine` module builds, here against JAM's 1D code: chunks committed under a valid Merkle
//! root that are not the encoding of the payload. [`Rs1d::verify_shard`] checks only the Merkle
//! path, so every shard passes; what the decoder returns then depends on which k shards it
//! had. The tests use them, and so does the simulator's byzantine author through
//! `[da.params] adversary` (an adversary knob, never set by a chain config).

use diverge_plugins::{Encoded, MaliciousEncoding, PluginError};

use crate::{erasure, erasure_err, Rs1d};

/// A malicious encoding and where it lies.
#[derive(Debug, Clone)]
pub struct Malicious {
    /// What the byzantine author publishes: the commitment (its header) and one shard per
    /// validator, each with a valid Merkle path.
    pub encoded: Encoded,
    /// Chunks that differ from the honest encoding of the payload, ascending. Nothing on
    /// receipt tells their holders.
    pub tampered: Vec<u32>,
}

impl Rs1d {
    /// Encodes `data` the way `kind` cheats. The commitment names `data.len()`, as the honest
    /// one would; da-rs1d has no checksum, so [`MaliciousEncoding::ForgedChecksum`] forges the
    /// redundancy (the parity chunks, from other data) under honest data chunks.
    pub fn encode_malicious(
        &self,
        kind: MaliciousEncoding,
        data: &[u8],
    ) -> Result<Malicious, PluginError> {
        let (k, n) = (self.code.k, self.code.n);
        let honest = erasure::encode(&self.code, data).map_err(erasure_err)?;
        let other = || {
            erasure::encode(&self.code, &MaliciousEncoding::other_payload(data))
                .map_err(erasure_err)
        };
        let chunks: Vec<Vec<u8>> = match kind {
            MaliciousEncoding::RandomShards => {
                let len = erasure::chunk_len(&self.code, data.len());
                let noise = MaliciousEncoding::noise(b"rs1d/adversary/random", data, n * len);
                (0..n)
                    .map(|i| noise[i * len..(i + 1) * len].to_vec())
                    .collect()
            }
            MaliciousEncoding::CorruptShard => {
                let mut c = honest.clone();
                if let Some(b) = c[n - 1].first_mut() {
                    *b ^= 0x40;
                }
                c
            }
            MaliciousEncoding::Splice => {
                let o = other()?;
                honest[..n / 2].iter().chain(&o[n / 2..]).cloned().collect()
            }
            MaliciousEncoding::ForgedChecksum => {
                let o = other()?;
                honest[..k].iter().chain(&o[k..]).cloned().collect()
            }
            MaliciousEncoding::Equivocation => {
                let o = other()?;
                (0..n)
                    .map(|i| {
                        if i % 2 == 1 {
                            o[i].clone()
                        } else {
                            honest[i].clone()
                        }
                    })
                    .collect()
            }
        };
        let tampered = chunks
            .iter()
            .zip(&honest)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i as u32)
            .collect();
        Ok(Malicious {
            encoded: self.commit(data.len(), chunks)?,
            tampered,
        })
    }
}
