//! GF(2^16) arithmetic in reed-solomon-simd's own representation, and the symbol layout of its
//! shards.
//!
//! The checksum `W = X̃R` must commute with the erasure code (`G(X̃R) = (GX̃)R`), which holds
//! only if the products here are the products reed-solomon-simd's FFT uses: the same
//! polynomial (0x1002D) *and* the same basis (Cantor). So the tables are built from the
//! library's own `exp`/`log` tables rather than from a textbook polynomial-basis field; a
//! property test checks the commutation on random data.
//!
//! Layout trap (zoda.md §6): reed-solomon-simd does not store symbol `j` as bytes `2j, 2j+1`.
//! In each 64-byte block symbol `q < 32` is byte `q` (low) and byte `32 + q` (high); a final
//! block of `t < 64` bytes has its low bytes in the first `t/2` and high bytes in the last
//! `t/2`. Pairing adjacent bytes would mix two symbols and break linearity.

use std::sync::OnceLock;

use reed_solomon_simd::engine::tables::get_exp_log;

/// Nonzero elements form a cyclic group of this order.
const ORDER: usize = 65535;

/// "log" of zero: an index into the zero tail of [`Tables::exp`], so a product with a zero
/// factor needs no branch in the inner loop (`log[x] + LOG_ZERO` always lands in the tail).
pub const LOG_ZERO: u32 = 2 * ORDER as u32;

/// Checksum columns. 8 independent GF(2^16) columns are the 8 coordinates of one GF(2^128)
/// random combination, so the check has GF(2^128) soundness (zoda.md §1, "field requirements").
pub const T: usize = 8;

/// Bytes of one checksum row (T symbols).
pub const CHECK_ROW_BYTES: usize = 2 * T;

/// Log/exp tables: `exp` covers two periods (so `log a + log b` needs no reduction) plus a zero
/// tail for [`LOG_ZERO`].
#[derive(Debug)]
pub struct Tables {
    /// Exponent -> element.
    pub exp: Vec<u16>,
    /// Element -> exponent (`LOG_ZERO` for 0).
    pub log: Vec<u32>,
}

/// The process-wide tables (768 KiB, built once).
pub fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let lib = get_exp_log();
        let mut exp = vec![0u16; 2 * ORDER + 65536];
        for (i, e) in exp.iter_mut().enumerate().take(2 * ORDER) {
            *e = lib.exp[i % ORDER];
        }
        let log = (0..65536usize)
            .map(|x| {
                if x == 0 {
                    LOG_ZERO
                } else {
                    u32::from(lib.log[x])
                }
            })
            .collect();
        Tables { exp, log }
    })
}

/// `a * b` in the library's field.
pub fn mul(a: u16, b: u16) -> u16 {
    let t = tables();
    if a == 0 {
        return 0;
    }
    t.exp[(t.log[usize::from(a)] + t.log[usize::from(b)]) as usize]
}

/// Byte positions (low, high) of symbol `j` in a shard of `len` bytes (`len` even, `j < len/2`).
#[inline]
pub fn symbol_pos(len: usize, j: usize) -> (usize, usize) {
    let block = (j / 32) * 64;
    let q = j % 32;
    if block + 64 <= len {
        (block + q, block + 32 + q)
    } else {
        let half = (len - block) / 2;
        (block + q, block + half + q)
    }
}

/// Symbol `j` of `shard`.
#[inline]
pub fn symbol(shard: &[u8], j: usize) -> u16 {
    let (lo, hi) = symbol_pos(shard.len(), j);
    u16::from(shard[lo]) | (u16::from(shard[hi]) << 8)
}

/// Writes symbol `j` of `shard`.
#[inline]
pub fn set_symbol(shard: &mut [u8], j: usize, v: u16) {
    let (lo, hi) = symbol_pos(shard.len(), j);
    shard[lo] = v as u8;
    shard[hi] = (v >> 8) as u8;
}

/// `row · R` for the T checksum columns, with `log_r[j*T + c]` the log of `R[j][c]`. `row` has
/// `log_r.len() / T` symbols (callers check the length). Returns the T symbols.
pub fn dot_row(row: &[u8], log_r: &[u32]) -> [u16; T] {
    let t = tables();
    let (exp, log) = (t.exp.as_slice(), t.log.as_slice());
    let mut acc = [0u16; T];
    let symbols = row.len() / 2;
    let mut add = |x: u16, j: usize| {
        if x == 0 {
            return;
        }
        let lx = log[usize::from(x)];
        let r = &log_r[j * T..j * T + T];
        for c in 0..T {
            acc[c] ^= exp[(lx + r[c]) as usize];
        }
    };
    // Full 64-byte blocks: 32 symbols, low bytes then high bytes.
    let full = row.len() / 64;
    for b in 0..full {
        let blk = &row[b * 64..b * 64 + 64];
        for q in 0..32 {
            add(
                u16::from(blk[q]) | (u16::from(blk[32 + q]) << 8),
                b * 32 + q,
            );
        }
    }
    for j in full * 32..symbols {
        add(symbol(row, j), j);
    }
    acc
}

/// The T symbols of a checksum row (16 bytes in the library's layout).
pub fn check_row(bytes: &[u8]) -> [u16; T] {
    let mut out = [0u16; T];
    for (c, o) in out.iter_mut().enumerate() {
        *o = symbol(bytes, c);
    }
    out
}

/// A checksum row from its T symbols.
pub fn check_row_bytes(v: &[u16; T]) -> [u8; CHECK_ROW_BYTES] {
    let mut out = [0u8; CHECK_ROW_BYTES];
    for (c, &x) in v.iter().enumerate() {
        set_symbol(&mut out, c, x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_laws_hold() {
        let xs = [1u16, 2, 3, 0x1234, 0xFFFF, 0x8000, 77];
        for &a in &xs {
            assert_eq!(mul(a, 1), a, "1 is the unit in the library's basis? a={a}");
            assert_eq!(mul(a, 0), 0);
            for &b in &xs {
                assert_eq!(mul(a, b), mul(b, a));
                for &c in &xs {
                    assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
                    assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
                }
            }
        }
    }

    #[test]
    fn symbol_positions_cover_every_byte_once() {
        for len in (2..300).step_by(2) {
            let mut seen = vec![0u8; len];
            for j in 0..len / 2 {
                let (lo, hi) = symbol_pos(len, j);
                seen[lo] += 1;
                seen[hi] += 1;
            }
            assert!(seen.iter().all(|&s| s == 1), "len {len}");
        }
    }
}
