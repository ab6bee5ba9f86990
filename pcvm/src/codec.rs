//! Canonical bytes of an [`EvalProof`] and of a whole [`CpuProof`] (the bytes a block carries).
//!
//! Little-endian, every vector prefixed by a `u32` count, one version byte in front. Decoding
//! checks each count against the bytes actually left before allocating (a forged count cannot
//! make the verifier allocate more than the proof's own size) and rejects trailing bytes, so
//! every proof has exactly one encoding. Decoding says nothing about validity: [`crate::verify`]
//! checks the shape against the parameters and everything else.

use crate::alu::{AluProof, CpuProof};
use crate::error::PcsError;
use crate::field::{f128_to_bytes, f32_to_bytes, F128, F32};
use crate::grand_product::{BatchProductProof, GrandProductProof};
use crate::mem::MemProof;
use crate::pcs::{Commitment, EvalProof, Opening};
use crate::regs::RegsProof;
use crate::shift::ShiftProof;
use crate::sumcheck::SumcheckProof;

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
    put_eval(&mut out, proof);
    out
}

fn put_eval(out: &mut Vec<u8>, proof: &EvalProof) {
    put_vec(out, &proof.eval_rounds);
    put_vec(out, &proof.level_roots);
    put_opening(out, &proof.initial);
    put_count(out, proof.recursive.len());
    for o in &proof.recursive {
        put_opening(out, o);
    }
    put_vec(out, &proof.rounds);
    put_vec(out, &proof.final_message);
    put_opening(out, &proof.last);
}

fn put_vecs(out: &mut Vec<u8>, xs: &[Vec<F128>]) {
    put_count(out, xs.len());
    for x in xs {
        put_vec(out, x);
    }
}

fn put_sumcheck(out: &mut Vec<u8>, p: &SumcheckProof) {
    put_vecs(out, &p.rounds);
    put_vec(out, &p.evals);
}

fn put_layers(out: &mut Vec<u8>, layers: &[SumcheckProof]) {
    put_count(out, layers.len());
    for l in layers {
        put_sumcheck(out, l);
    }
}

fn put_product(out: &mut Vec<u8>, p: &GrandProductProof) {
    p.product.put(out);
    put_layers(out, &p.layers);
}

fn put_batch(out: &mut Vec<u8>, p: &BatchProductProof) {
    put_vec(out, &p.products);
    put_layers(out, &p.layers);
}

/// Version byte of [`encode_cpu`]'s format.
const CPU_VERSION: u8 = 1;

/// Encode a CPU proof (execution or ALU statement) in the same style: `decode_cpu` inverts it
/// for every proof the prover makes.
pub fn encode_cpu(proof: &CpuProof) -> Vec<u8> {
    let mut out = vec![CPU_VERSION];
    let r = &proof.regs;
    out.extend_from_slice(&r.commitment.root);
    out.extend_from_slice(&r.dummy_last.to_le_bytes());
    put_vec(&mut out, &r.last_ts);
    put_batch(&mut out, &r.fetch_rows);
    put_product(&mut out, &r.fetch_finals);
    put_batch(&mut out, &r.ops);
    put_sumcheck(&mut out, &r.order);
    put_vecs(&mut out, &r.column_evals);
    put_eval(&mut out, &r.opening);
    let a = &proof.alu;
    put_batch(&mut out, &a.lanes);
    put_batch(&mut out, &a.table);
    put_sumcheck(&mut out, &a.routing);
    put_sumcheck(&mut out, &a.shift.sumcheck);
    put_vec(&mut out, &a.shift.column_evals);
    match &a.mem {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_batch(&mut out, &m.rows);
            put_batch(&mut out, &m.bytes);
            put_product(&mut out, &m.side_finals);
            put_product(&mut out, &m.mem_finals);
            put_product(&mut out, &m.byte_finals);
            put_sumcheck(&mut out, &m.semantics);
        }
    }
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

    /// A count of items that take at least `min` bytes each, checked against what is left.
    fn bounded(&mut self, min: usize) -> Result<usize, PcsError> {
        let n = self.count()?;
        if n > self.bytes.len() / min {
            return Err(PcsError::Decode("truncated"));
        }
        Ok(n)
    }

    fn f128(&mut self) -> Result<F128, PcsError> {
        Ok(F128::get(self.take(16)?))
    }

    fn vecs(&mut self) -> Result<Vec<Vec<F128>>, PcsError> {
        let n = self.bounded(4)?;
        (0..n).map(|_| self.vec()).collect()
    }

    fn sumcheck(&mut self) -> Result<SumcheckProof, PcsError> {
        Ok(SumcheckProof {
            rounds: self.vecs()?,
            evals: self.vec()?,
        })
    }

    fn layers(&mut self) -> Result<Vec<SumcheckProof>, PcsError> {
        let n = self.bounded(8)?;
        (0..n).map(|_| self.sumcheck()).collect()
    }

    fn product(&mut self) -> Result<GrandProductProof, PcsError> {
        Ok(GrandProductProof {
            product: self.f128()?,
            layers: self.layers()?,
        })
    }

    fn batch(&mut self) -> Result<BatchProductProof, PcsError> {
        Ok(BatchProductProof {
            products: self.vec()?,
            layers: self.layers()?,
        })
    }

    fn eval(&mut self) -> Result<EvalProof, PcsError> {
        let eval_rounds = self.vec()?;
        let level_roots = self.vec()?;
        let initial = self.opening()?;
        // Each opening takes at least 12 bytes.
        let n = self.bounded(12)?;
        let recursive = (0..n).map(|_| self.opening()).collect::<Result<_, _>>()?;
        let rounds = self.vec()?;
        let final_message = self.vec()?;
        let last = self.opening()?;
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

    fn finish(&self) -> Result<(), PcsError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(PcsError::Decode("trailing bytes"))
        }
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
    let proof = r.eval()?;
    r.finish()?;
    Ok(proof)
}

/// Decode what [`encode_cpu`] wrote; malformed bytes are an error, never a panic, and
/// allocations are bounded by the input's length. Validity is the verifier's to check.
pub fn decode_cpu(bytes: &[u8]) -> Result<CpuProof, PcsError> {
    let mut r = Reader { bytes };
    if r.take(1)? != [CPU_VERSION] {
        return Err(PcsError::Decode("unknown version"));
    }
    let root = <[u8; 32]>::get(r.take(32)?);
    let mut dummy = [0u8; 8];
    dummy.copy_from_slice(r.take(8)?);
    let regs = RegsProof {
        commitment: Commitment { root },
        dummy_last: u64::from_le_bytes(dummy),
        last_ts: r.vec()?,
        fetch_rows: r.batch()?,
        fetch_finals: r.product()?,
        ops: r.batch()?,
        order: r.sumcheck()?,
        column_evals: r.vecs()?,
        opening: r.eval()?,
    };
    let lanes = r.batch()?;
    let table = r.batch()?;
    let routing = r.sumcheck()?;
    let shift = ShiftProof {
        sumcheck: r.sumcheck()?,
        column_evals: r.vec()?,
    };
    let mem = match r.take(1)? {
        [0] => None,
        [1] => Some(MemProof {
            rows: r.batch()?,
            bytes: r.batch()?,
            side_finals: r.product()?,
            mem_finals: r.product()?,
            byte_finals: r.product()?,
            semantics: r.sumcheck()?,
        }),
        _ => return Err(PcsError::Decode("memory tag")),
    };
    r.finish()?;
    Ok(CpuProof {
        regs,
        alu: AluProof {
            lanes,
            table,
            routing,
            shift,
            mem,
        },
    })
}
