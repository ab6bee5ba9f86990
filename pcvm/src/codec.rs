//! Canonical bytes of an [`EvalProof`].
//!
//! Little-endian, every vector prefixed by a `u32` count, one version byte in front. Decoding
//! checks each count against the bytes actually left before allocating (a forged count cannot
//! make the verifier allocate more than the proof's own size) and rejects trailing bytes, so
//! every proof has exactly one encoding. Decoding says nothing about validity: [`crate::verify`]
//! checks the shape against the parameters and everything else.

use crate::error::PcsError;
use crate::field::{f128_to_bytes, f32_to_bytes, F128, F32};
use crate::pcs::{EvalProof, Opening};

const VERSION: u8 = 1;

trait Elem: Sized {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

impl Elem for F32 {
    const SIZE: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&f32_to_bytes(*self));
    }
    fn get(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        F32::from_value(u32::from_le_bytes(b))
    }
}

impl Elem for F128 {
    const SIZE: usize = 16;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&f128_to_bytes(*self));
    }
    fn get(bytes: &[u8]) -> Self {
        let mut b = [0u8; 16];
        b.copy_from_slice(bytes);
        F128::from_value(u128::from_le_bytes(b))
    }
}

impl Elem for [u8; 32] {
    const SIZE: usize = 32;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn get(bytes: &[u8]) -> Self {
        let mut b = [0u8; 32];
        b.copy_from_slice(bytes);
        b
    }
}

impl Elem for [F128; 3] {
    const SIZE: usize = 48;
    fn put(&self, out: &mut Vec<u8>) {
        for x in self {
            x.put(out);
        }
    }
    fn get(bytes: &[u8]) -> Self {
        [
            F128::get(&bytes[..16]),
            F128::get(&bytes[16..32]),
            F128::get(&bytes[32..]),
        ]
    }
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    // Proof vectors are bounded by the parameters (at most 2^30 coefficients), far below 2^32.
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_vec<E: Elem>(out: &mut Vec<u8>, xs: &[E]) {
    put_count(out, xs.len());
    for x in xs {
        x.put(out);
    }
}

fn put_opening<E: Elem>(out: &mut Vec<u8>, o: &Opening<E>) {
    put_count(out, o.rows.len());
    put_count(out, o.rows.first().map_or(0, Vec::len));
    for row in &o.rows {
        for x in row {
            x.put(out);
        }
    }
    put_vec(out, &o.siblings);
}

/// Encode; `decode(encode(p)) == p` for every proof whose opened rows have equal lengths (all
/// proofs [`crate::prove`] makes; ragged rows, which no verifier accepts, are not encodable).
pub fn encode(proof: &EvalProof) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_vec(&mut out, &proof.eval_rounds);
    put_vec(&mut out, &proof.level_roots);
    put_opening(&mut out, &proof.initial);
    put_count(&mut out, proof.recursive.len());
    for o in &proof.recursive {
        put_opening(&mut out, o);
    }
    put_vec(&mut out, &proof.rounds);
    put_vec(&mut out, &proof.final_message);
    put_opening(&mut out, &proof.last);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PcsError> {
        if n > self.bytes.len() {
            return Err(PcsError::Decode("truncated"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn count(&mut self) -> Result<usize, PcsError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// `n` items of `size` bytes, checked against what is left before anything is allocated.
    fn items(&mut self, n: usize, size: usize) -> Result<&'a [u8], PcsError> {
        let total = n
            .checked_mul(size)
            .ok_or(PcsError::Decode("length overflow"))?;
        self.take(total)
    }

    fn vec<E: Elem>(&mut self) -> Result<Vec<E>, PcsError> {
        let n = self.count()?;
        Ok(self
            .items(n, E::SIZE)?
            .chunks_exact(E::SIZE)
            .map(E::get)
            .collect())
    }

    fn opening<E: Elem>(&mut self) -> Result<Opening<E>, PcsError> {
        let rows = self.count()?;
        let width = self.count()?;
        if rows > 0 && width == 0 {
            return Err(PcsError::Decode("empty rows"));
        }
        let row_bytes = width
            .checked_mul(E::SIZE)
            .ok_or(PcsError::Decode("length overflow"))?;
        let data = self.items(rows, row_bytes)?;
        let rows = if rows == 0 {
            Vec::new()
        } else {
            data.chunks_exact(row_bytes)
                .map(|r| r.chunks_exact(E::SIZE).map(E::get).collect())
                .collect()
        };
        let siblings = self.vec()?;
        Ok(Opening { rows, siblings })
    }
}

/// Decode canonical bytes; any malformed input is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<EvalProof, PcsError> {
    let mut r = Reader { bytes };
    if r.take(1)? != [VERSION] {
        return Err(PcsError::Decode("unknown version"));
    }
    let eval_rounds = r.vec()?;
    let level_roots = r.vec()?;
    let initial = r.opening()?;
    let n = r.count()?;
    // Each opening takes at least 12 bytes, which bounds the count before allocating.
    if n > r.bytes.len() / 12 {
        return Err(PcsError::Decode("truncated"));
    }
    let recursive = (0..n).map(|_| r.opening()).collect::<Result<_, _>>()?;
    let rounds = r.vec()?;
    let final_message = r.vec()?;
    let last = r.opening()?;
    if !r.bytes.is_empty() {
        return Err(PcsError::Decode("trailing bytes"));
    }
    Ok(EvalProof {
        eval_rounds,
        level_roots,
        initial,
        recursive,
        rounds,
        final_message,
        last,
    })
}
