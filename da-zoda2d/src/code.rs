//! The column code G: systematic Reed-Solomon over GF(2^16) on reed-solomon-simd, applied to
//! whole rows (every symbol position of a row is one codeword coordinate, so row r of `GX̃` is
//! the r-th codeword symbol of every column at once).
//!
//! Large inputs are cut into column stripes at 64-byte boundaries and coded on rayon: the code
//! works symbol position by position and a stripe boundary at a multiple of 64 keeps the
//! library's 64-byte block layout, so a stripe's symbols are exactly the row's symbols.

use rayon::prelude::*;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use crate::ZodaError;

/// Below this many input bytes one call is faster than spawning stripes.
const MIN_PARALLEL_BYTES: usize = 1 << 20;

fn backend(e: reed_solomon_simd::Error) -> ZodaError {
    ZodaError::Backend(e.to_string())
}

/// Column stripes `[start, end)` of a row of `len` bytes.
fn stripes(len: usize, total: usize) -> Vec<(usize, usize)> {
    let blocks = len.div_ceil(64);
    let threads = if total >= MIN_PARALLEL_BYTES {
        rayon::current_num_threads().clamp(1, 8).min(blocks.max(1))
    } else {
        1
    };
    (0..threads)
        .map(|t| {
            (
                (blocks * t / threads * 64).min(len),
                (blocks * (t + 1) / threads * 64).min(len),
            )
        })
        .collect()
}

/// The m − n parity rows of the n data rows (all of one even, non-zero length).
pub fn extend(data: &[Vec<u8>], rows: usize) -> Result<Vec<Vec<u8>>, ZodaError> {
    let n = data.len();
    let len = data.first().map_or(0, Vec::len);
    let parity = rows.saturating_sub(n);
    let plan = stripes(len, n * len);
    let pieces: Vec<Vec<Vec<u8>>> = plan
        .par_iter()
        .map(|&(a, b)| {
            let mut enc = ReedSolomonEncoder::new(n, parity, b - a).map_err(backend)?;
            for row in data {
                enc.add_original_shard(&row[a..b]).map_err(backend)?;
            }
            let out = enc.encode().map_err(backend)?;
            Ok(out.recovery_iter().map(<[u8]>::to_vec).collect())
        })
        .collect::<Result<_, ZodaError>>()?;
    if pieces.len() == 1 {
        return Ok(pieces.into_iter().next().unwrap_or_default());
    }
    Ok((0..parity)
        .map(|r| {
            let mut row = Vec::with_capacity(len);
            for p in &pieces {
                row.extend_from_slice(&p[r]);
            }
            row
        })
        .collect())
}

/// The n data rows from exactly n rows given as (position, bytes), positions distinct and
/// `< rows`, all of one length.
pub fn recover(n: usize, rows: usize, given: &[(usize, &[u8])]) -> Result<Vec<Vec<u8>>, ZodaError> {
    let len = given.first().map_or(0, |g| g.1.len());
    let mut out: Vec<Option<Vec<u8>>> = vec![None; n];
    for &(p, r) in given {
        if p < n {
            out[p] = Some(r.to_vec());
        }
    }
    if out.iter().all(Option::is_some) {
        return Ok(out.into_iter().flatten().collect());
    }
    let plan = stripes(len, n * len);
    let pieces: Vec<Vec<(usize, Vec<u8>)>> = plan
        .par_iter()
        .map(|&(a, b)| {
            let mut dec = ReedSolomonDecoder::new(n, rows - n, b - a).map_err(backend)?;
            for &(p, r) in given {
                if p < n {
                    dec.add_original_shard(p, &r[a..b]).map_err(backend)?;
                } else {
                    dec.add_recovery_shard(p - n, &r[a..b]).map_err(backend)?;
                }
            }
            let res = dec.decode().map_err(backend)?;
            Ok(res
                .restored_original_iter()
                .map(|(i, s)| (i, s.to_vec()))
                .collect())
        })
        .collect::<Result<_, ZodaError>>()?;
    let mut restored: Vec<Vec<u8>> = vec![Vec::with_capacity(len); n];
    for stripe in pieces {
        for (i, s) in stripe {
            if let Some(row) = restored.get_mut(i) {
                row.extend_from_slice(&s);
            }
        }
    }
    out.into_iter()
        .zip(restored)
        .enumerate()
        .map(|(i, (have, rec))| match have {
            Some(r) => Ok(r),
            None if rec.len() == len => Ok(rec),
            None => Err(ZodaError::Backend(format!("row {i} not restored"))),
        })
        .collect()
}
