//! JAM erasure coding (Gray Paper appendix H) on top of reed-solomon-simd.
//!
//! Both implement the Lin-Chung-Han additive-FFT code over GF(2^16) in the Cantor basis, so the
//! symbols agree; only the byte layout differs. JAM treats a chunk as consecutive 2-byte words;
//! reed-solomon-simd stores each 64-byte block of a shard as its 32 low bytes then its 32 high
//! bytes (a tail of L bytes as L/2 low then L/2 high). Data is zero-padded to a multiple of 2k
//! bytes and split into k contiguous chunks, which are the first k JAM chunks verbatim; the n-k
//! recovery chunks follow. Checked against every public JAM vector (tiny and full).

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Why encoding or reconstruction failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    /// k and n do not form a code.
    #[error("bad erasure parameters k={k} n={n}: need 1 <= k < n <= 65536")]
    BadParams {
        /// Data chunks.
        k: usize,
        /// Total chunks.
        n: usize,
    },
    /// Fewer than k distinct chunks.
    #[error("{have} distinct chunks, {need} needed")]
    TooFewChunks {
        /// Distinct chunks given.
        have: usize,
        /// k.
        need: usize,
    },
    /// A chunk index >= n.
    #[error("chunk index {index} out of range (n = {n})")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// n.
        n: usize,
    },
    /// The same index twice.
    #[error("chunk index {0} given twice")]
    DuplicateIndex(usize),
    /// A chunk of the wrong length.
    #[error("chunk {index} has {len} bytes, expected {expected}")]
    ChunkLength {
        /// The index.
        index: usize,
        /// Its length.
        len: usize,
        /// The length every chunk must have.
        expected: usize,
    },
    /// reed-solomon-simd refused.
    #[error("reed-solomon: {0}")]
    Codec(String),
}

/// A code: k data chunks out of n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureParams {
    /// Data chunks (any k rebuild the data).
    pub k: usize,
    /// Total chunks.
    pub n: usize,
}

impl ErasureParams {
    /// Checks 1 <= k < n <= 65536 (reed-solomon-simd's GF(2^16) limit).
    pub fn new(k: usize, n: usize) -> Result<ErasureParams, ErasureError> {
        if k == 0 || k >= n || n > 65536 {
            return Err(ErasureError::BadParams { k, n });
        }
        Ok(ErasureParams { k, n })
    }

    /// Bytes per chunk for `data_len` bytes of data: the data padded to a multiple of 2k, over
    /// k, and never less than one 2-byte word.
    pub fn chunk_len(&self, data_len: usize) -> usize {
        let words = data_len.div_ceil(2 * self.k).max(1);
        words * 2
    }
}

/// JAM word order -> reed-solomon-simd order, for one chunk.
fn to_simd(chunk: &[u8], out: &mut [u8]) {
    let mut blocks_in = chunk.chunks_exact(64);
    let mut blocks_out = out.chunks_exact_mut(64);
    for (bin, bout) in (&mut blocks_in).zip(&mut blocks_out) {
        let (lo, hi) = bout.split_at_mut(32);
        for j in 0..32 {
            lo[j] = bin[2 * j];
            hi[j] = bin[2 * j + 1];
        }
    }
    let tin = blocks_in.remainder();
    let tout = blocks_out.into_remainder();
    let half = tin.len() / 2;
    let (lo, hi) = tout.split_at_mut(half);
    for j in 0..half {
        lo[j] = tin[2 * j];
        hi[j] = tin[2 * j + 1];
    }
}

/// reed-solomon-simd order -> JAM word order, for one chunk.
fn from_simd(simd: &[u8], out: &mut [u8]) {
    let mut blocks_in = simd.chunks_exact(64);
    let mut blocks_out = out.chunks_exact_mut(64);
    for (bin, bout) in (&mut blocks_in).zip(&mut blocks_out) {
        let (lo, hi) = bin.split_at(32);
        for j in 0..32 {
            bout[2 * j] = lo[j];
            bout[2 * j + 1] = hi[j];
        }
    }
    let tin = blocks_in.remainder();
    let tout = blocks_out.into_remainder();
    let half = tin.len() / 2;
    let (lo, hi) = tin.split_at(half);
    for j in 0..half {
        tout[2 * j] = lo[j];
        tout[2 * j + 1] = hi[j];
    }
}

fn codec_err(e: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(e.to_string())
}

/// Encodes `data` into n chunks of [`ErasureParams::chunk_len`] bytes.
pub fn encode(params: &ErasureParams, data: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
    let len = params.chunk_len(data.len());
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(params.n);
    let mut encoder =
        ReedSolomonEncoder::new(params.k, params.n - params.k, len).map_err(codec_err)?;
    let mut simd = vec![0u8; len];
    for i in 0..params.k {
        let mut chunk = vec![0u8; len];
        let start = (i * len).min(data.len());
        let end = ((i + 1) * len).min(data.len());
        chunk[..end - start].copy_from_slice(&data[start..end]);
        to_simd(&chunk, &mut simd);
        encoder.add_original_shard(&simd).map_err(codec_err)?;
        chunks.push(chunk);
    }
    let result = encoder.encode().map_err(codec_err)?;
    for recovery in result.recovery_iter() {
        let mut chunk = vec![0u8; len];
        from_simd(recovery, &mut chunk);
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// Rebuilds `data_len` bytes of data from at least k distinct chunks `(index, bytes)`.
pub fn reconstruct(
    params: &ErasureParams,
    chunks: &[(usize, &[u8])],
    data_len: usize,
) -> Result<Vec<u8>, ErasureError> {
    let len = params.chunk_len(data_len);
    let mut originals: Vec<Option<&[u8]>> = vec![None; params.k];
    let mut recovery: Vec<(usize, &[u8])> = Vec::new();
    let mut seen = vec![false; params.n];
    for &(index, bytes) in chunks {
        if index >= params.n {
            return Err(ErasureError::IndexOutOfRange { index, n: params.n });
        }
        if std::mem::replace(&mut seen[index], true) {
            return Err(ErasureError::DuplicateIndex(index));
        }
        if bytes.len() != len {
            return Err(ErasureError::ChunkLength {
                index,
                len: bytes.len(),
                expected: len,
            });
        }
        if index < params.k {
            originals[index] = Some(bytes);
        } else {
            recovery.push((index - params.k, bytes));
        }
    }
    let have = seen.iter().filter(|s| **s).count();
    if have < params.k {
        return Err(ErasureError::TooFewChunks {
            have,
            need: params.k,
        });
    }
    let mut out = vec![0u8; params.k * len];
    let missing = originals.iter().filter(|o| o.is_none()).count();
    if missing > 0 {
        let mut decoder =
            ReedSolomonDecoder::new(params.k, params.n - params.k, len).map_err(codec_err)?;
        let mut simd = vec![0u8; len];
        for (i, o) in originals.iter().enumerate() {
            if let Some(bytes) = o {
                to_simd(bytes, &mut simd);
                decoder.add_original_shard(i, &simd).map_err(codec_err)?;
            }
        }
        // Only as many recovery chunks as there are holes are needed.
        for &(j, bytes) in recovery.iter().take(missing) {
            to_simd(bytes, &mut simd);
            decoder.add_recovery_shard(j, &simd).map_err(codec_err)?;
        }
        let result = decoder.decode().map_err(codec_err)?;
        for (i, restored) in result.restored_original_iter() {
            from_simd(restored, &mut out[i * len..(i + 1) * len]);
        }
    }
    for (i, o) in originals.iter().enumerate() {
        if let Some(bytes) = o {
            out[i * len..(i + 1) * len].copy_from_slice(bytes);
        }
    }
    out.truncate(data_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_roundtrip() {
        for n in [2usize, 4, 62, 64, 66, 130, 4104] {
            let chunk: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let mut simd = vec![0; n];
            let mut back = vec![0; n];
            to_simd(&chunk, &mut simd);
            from_simd(&simd, &mut back);
            assert_eq!(back, chunk);
        }
    }
}
