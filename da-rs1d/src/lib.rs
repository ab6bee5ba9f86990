//! `da-rs1d`: the Polkadot-style data-availability plugin. JAM's 1D Reed-Solomon erasure code
//! (Gray Paper appendix H, GF(2^16), any k = ceil(V/3) of V chunks rebuild the payload) with a
//! Merkle root over the chunks as the commitment.
//!
//! Where it sits: the host calls [`Rs1d::encode`] when authoring (the commitment goes in the
//! header, shard i to validator i), each validator checks its shard on receipt, and anyone
//! holding k checked shards decodes. The check proves a shard is the one committed at its
//! index; it does **not** prove the shards are a consistent codeword. A malicious encoder can
//! commit to shards that each check but decode, from different subsets, to different data.
//! That gap is the baseline `da-zoda2d` is measured against.
//!
//! Modules: [`erasure`] (the JAM code on reed-solomon-simd), [`merkle`] (the commitment),
//! [`byzantine`] (the malicious encoders that show the gap).

pub mod byzantine;
pub mod erasure;
pub mod merkle;

use diverge_plugins::codec::{decode_exact, read_natural, Decode, Encode};
use diverge_plugins::ffi::Plugin;
use diverge_plugins::{
    blake2b_256, Axis, CaseFormat, CaseOutcome, ChainParams, CheckShard, CheckedShard, DaShape,
    DataAvailability, Encoded, Hash, InitArgs, Instance, MaliciousEncoding, PluginError,
};
use rayon::prelude::*;
use serde::Deserialize;

use crate::erasure::{ErasureError, ErasureParams};

/// What the header carries: the Merkle root of the chunks and what is needed to size them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Commitment {
    /// Merkle root over the n chunks.
    pub root: Hash,
    /// Payload length in bytes (chunks are padded).
    pub data_len: u32,
    /// Data chunks.
    pub k: u16,
    /// All chunks.
    pub n: u16,
}

/// What validator i receives: its chunk and the Merkle path to the root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Shard {
    /// The erasure-coded chunk.
    pub chunk: Vec<u8>,
    /// Sibling hashes, leaf to root.
    pub proof: Vec<Hash>,
}

/// Plugin parameters (`[da.params]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Shards a light client samples. 26 makes a block withheld beyond recovery (fewer than k of
    /// n shards served, so at most k/n ~ 1/3 answer) go unnoticed with probability
    /// (1/3)^26 < 2^-40.
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// Adversary knob, set only by the simulator's byzantine author (`malicious_encoder`
    /// faults), never by a chain config: `encode` then publishes this construction of
    /// [`byzantine`] instead of the honest encoding. Checking and decoding stay honest.
    #[serde(default)]
    pub adversary: Option<MaliciousEncoding>,
}

fn default_samples() -> u32 {
    26
}

impl Default for Params {
    fn default() -> Self {
        Params {
            samples: default_samples(),
            adversary: None,
        }
    }
}

/// An instance for one chain: k of n.
#[derive(Debug, Clone)]
pub struct Rs1d {
    code: ErasureParams,
    params: Params,
}

fn erasure_err(e: ErasureError) -> PluginError {
    match e {
        ErasureError::BadParams { .. } => PluginError::config(e.to_string()),
        ErasureError::Backend(_) => PluginError::internal(e.to_string()),
        _ => PluginError::rejected(e.to_string()),
    }
}

impl Rs1d {
    /// k data chunks of n.
    pub fn new(k: usize, n: usize, params: Params) -> Result<Rs1d, PluginError> {
        Ok(Rs1d {
            code: ErasureParams::new(k, n).map_err(erasure_err)?,
            params,
        })
    }

    /// From the chain parameters (k = erasure_k, n = validators) and the JSON params table.
    pub fn from_init(args: &InitArgs) -> Result<Rs1d, PluginError> {
        let params: Params = if args.params_json.trim().is_empty() {
            Params::default()
        } else {
            serde_json::from_str(&args.params_json)
                .map_err(|e| PluginError::config(format!("[da.params]: {e}")))?
        };
        Rs1d::new(
            usize::from(args.chain.erasure_k),
            usize::from(args.chain.validators),
            params,
        )
    }

    fn commitment(&self, bytes: &[u8]) -> Result<Commitment, PluginError> {
        let c: Commitment = decode_exact(bytes)?;
        if usize::from(c.k) != self.code.k || usize::from(c.n) != self.code.n {
            return Err(PluginError::rejected(format!(
                "commitment is for k={} n={}, this chain uses k={} n={}",
                c.k, c.n, self.code.k, self.code.n
            )));
        }
        Ok(c)
    }

    /// Commits to `chunks` (the Merkle root) and cuts the shards.
    fn commit(&self, data_len: usize, chunks: Vec<Vec<u8>>) -> Result<Encoded, PluginError> {
        let data_len = u32::try_from(data_len)
            .map_err(|_| PluginError::invalid_input("payload over 4 GiB"))?;
        let (root, proofs) = merkle::build(&chunks);
        let commitment = Commitment {
            root,
            data_len,
            k: self.code.k as u16,
            n: self.code.n as u16,
        };
        let shards = chunks
            .into_par_iter()
            .zip(proofs)
            .map(|(chunk, proof)| Shard { chunk, proof }.encode())
            .collect();
        Ok(Encoded {
            commitment: commitment.encode(),
            shards,
        })
    }
}

impl DataAvailability for Rs1d {
    fn shape(&self) -> DaShape {
        DaShape {
            shards: self.code.n as u32,
            min_shards: self.code.k as u32,
        }
    }

    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError> {
        if let Some(kind) = self.params.adversary {
            return Ok(self.encode_malicious(kind, data)?.encoded);
        }
        let chunks = erasure::encode(&self.code, data).map_err(erasure_err)?;
        self.commit(data.len(), chunks)
    }

    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError> {
        let c = self.commitment(commitment)?;
        if index as usize >= self.code.n {
            return Err(PluginError::rejected(format!(
                "shard index {index} out of range (n = {})",
                self.code.n
            )));
        }
        let s: Shard = decode_exact(shard)?;
        let expected = erasure::chunk_len(&self.code, c.data_len as usize);
        if s.chunk.len() != expected {
            return Err(PluginError::rejected(format!(
                "shard {index}: chunk of {} bytes, commitment implies {expected}",
                s.chunk.len()
            )));
        }
        if s.proof.len() != merkle::depth(self.code.n) {
            return Err(PluginError::rejected(format!(
                "shard {index}: Merkle path of {} hashes, expected {}",
                s.proof.len(),
                merkle::depth(self.code.n)
            )));
        }
        if !merkle::verify(&c.root, index, &s.chunk, &s.proof) {
            return Err(PluginError::rejected(format!(
                "shard {index}: Merkle path does not lead to the committed root"
            )));
        }
        Ok(())
    }

    fn decode(&self, commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError> {
        let c = self.commitment(commitment)?;
        let decoded: Vec<(usize, Shard)> = shards
            .iter()
            .map(|s| Ok((s.index() as usize, decode_exact::<Shard>(s.bytes())?)))
            .collect::<Result<_, PluginError>>()?;
        let chunks: Vec<(usize, &[u8])> = decoded
            .iter()
            .map(|(i, s)| (*i, s.chunk.as_slice()))
            .collect();
        erasure::reconstruct(&self.code, &chunks, c.data_len as usize).map_err(erasure_err)
    }

    fn sample(&self, commitment: &[u8], seed: &[u8; 32]) -> Result<Vec<u32>, PluginError> {
        let c = self.commitment(commitment)?;
        let want = (self.params.samples as usize).min(self.code.n);
        let mut picked = Vec::with_capacity(want);
        let mut taken = vec![false; self.code.n];
        let mut counter = 0u64;
        // Indices from H(seed, root, counter): the light client's choice cannot be predicted by
        // the encoder before the seed is known, and is reproducible by anyone given the seed.
        while picked.len() < want {
            let mut buf = Vec::with_capacity(80);
            buf.extend_from_slice(b"sample");
            buf.extend_from_slice(seed);
            buf.extend_from_slice(&c.root.0);
            buf.extend_from_slice(&counter.to_le_bytes());
            counter += 1;
            let h = blake2b_256(&buf);
            let i = (u64::from_le_bytes([
                h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7],
            ]) % self.code.n as u64) as usize;
            if !std::mem::replace(&mut taken[i], true) {
                picked.push(i as u32);
            }
        }
        Ok(picked)
    }
}

/// One JAM erasure vector: the data and its n chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureCase {
    /// The data.
    pub data: Vec<u8>,
    /// The expected chunks.
    pub shards: Vec<Vec<u8>>,
}

fn hex_field(v: &serde_json::Value, what: &str) -> Result<Vec<u8>, PluginError> {
    let s = v
        .as_str()
        .ok_or_else(|| PluginError::invalid_input(format!("{what}: expected a hex string")))?;
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| PluginError::invalid_input(format!("{what}: {e}")))
}

impl ErasureCase {
    /// Parses the JSON (`{"data": "0x..", "shards": ["0x..", ...]}`) or JAM-codec form (the
    /// data as a length-prefixed blob, then the chunk count, then each chunk length-prefixed).
    pub fn parse(format: CaseFormat, bytes: &[u8]) -> Result<ErasureCase, PluginError> {
        match format {
            CaseFormat::Json => {
                let v: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| PluginError::invalid_input(format!("json: {e}")))?;
                let data = hex_field(&v["data"], "data")?;
                let shards = v["shards"]
                    .as_array()
                    .ok_or_else(|| PluginError::invalid_input("shards: expected an array"))?
                    .iter()
                    .enumerate()
                    .map(|(i, s)| hex_field(s, &format!("shards[{i}]")))
                    .collect::<Result<_, _>>()?;
                Ok(ErasureCase { data, shards })
            }
            CaseFormat::Binary => {
                let mut input = bytes;
                let data = read_blob(&mut input)?;
                let count = read_natural(&mut input)?;
                let mut shards = Vec::new();
                for _ in 0..count {
                    shards.push(read_blob(&mut input)?);
                }
                if !input.is_empty() {
                    return Err(PluginError::invalid_input(format!(
                        "{} trailing bytes after {count} chunks",
                        input.len()
                    )));
                }
                Ok(ErasureCase { data, shards })
            }
        }
    }

    /// Runs the case: encode must give every chunk; several k-subsets must rebuild the data;
    /// the full plugin path (commit, check every shard, decode) must round-trip.
    pub fn judge(&self) -> Result<CaseOutcome, PluginError> {
        let n = self.shards.len();
        let n16 = u16::try_from(n)
            .map_err(|_| PluginError::invalid_input(format!("{n} shards: too many")))?;
        let k = usize::from(ChainParams::default_erasure_k(n16));
        let code = ErasureParams::new(k, n).map_err(erasure_err)?;
        let chunks = erasure::encode(&code, &self.data).map_err(erasure_err)?;
        if let Some(i) = (0..n).find(|&i| chunks.get(i) != self.shards.get(i)) {
            return Ok(CaseOutcome::Fail {
                detail: format!(
                    "k={k} n={n}: chunk {i} differs: got {}…, expected {}…",
                    short_hex(chunks.get(i)),
                    short_hex(self.shards.get(i))
                ),
            });
        }
        // Subsets: the data chunks alone, the last k (recovery only when k <= n-k), and a
        // spread that mixes both; reconstruction must not care which.
        let mut subsets: Vec<Vec<usize>> = vec![(0..k).collect(), (n - k..n).collect()];
        let stride = (n / k).max(1);
        subsets.push((0..n).rev().step_by(stride).take(k).collect());
        for subset in &subsets {
            if subset.len() < k {
                continue;
            }
            let given: Vec<(usize, &[u8])> = subset
                .iter()
                .map(|&i| (i, self.shards[i].as_slice()))
                .collect();
            let back = erasure::reconstruct(&code, &given, self.data.len()).map_err(erasure_err)?;
            if back != self.data {
                return Ok(CaseOutcome::Fail {
                    detail: format!("k={k} n={n}: reconstruction from {subset:?} differs"),
                });
            }
        }
        let plugin = Rs1d::new(k, n, Params::default())?;
        let enc = plugin.encode(&self.data)?;
        let checked = enc
            .shards
            .iter()
            .enumerate()
            .rev()
            .take(k)
            .map(|(i, s)| plugin.check(&enc.commitment, i as u32, s.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        if plugin.decode(&enc.commitment, &checked)? != self.data {
            return Ok(CaseOutcome::Fail {
                detail: "plugin encode/check/decode round trip differs".into(),
            });
        }
        Ok(CaseOutcome::Pass {
            detail: format!(
                "k={k} n={n}, {} B data, {} B chunks, {} subsets rebuilt",
                self.data.len(),
                erasure::chunk_len(&code, self.data.len()),
                subsets.len()
            ),
        })
    }
}

fn short_hex(v: Option<&Vec<u8>>) -> String {
    v.map(|b| hex::encode(&b[..b.len().min(8)]))
        .unwrap_or_else(|| "<none>".into())
}

fn read_blob(input: &mut &[u8]) -> Result<Vec<u8>, PluginError> {
    let len = read_natural(input)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= input.len())
        .ok_or_else(|| {
            PluginError::invalid_input(format!(
                "length prefix {len} exceeds the {} bytes left",
                input.len()
            ))
        })?;
    let (blob, rest) = input.split_at(len);
    *input = rest;
    Ok(blob.to_vec())
}

/// The exported plugin.
#[derive(Debug)]
pub struct Rs1dPlugin;

impl Plugin for Rs1dPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Da;
    const DESCRIPTION: &'static str =
        "JAM 1D Reed-Solomon over GF(2^16) (k of V: 2 of 6, 342 of 1023), Merkle-committed shards";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        Ok(Instance::Da(Box::new(Rs1d::from_init(&args)?)))
    }

    fn conformance(
        suite: &str,
        format: CaseFormat,
        case: &[u8],
    ) -> Result<CaseOutcome, PluginError> {
        if suite != "erasure" {
            return Err(PluginError::unsupported(format!(
                "da-rs1d runs the erasure suite, not {suite:?}"
            )));
        }
        ErasureCase::parse(format, case)?.judge()
    }
}

diverge_plugins::export_plugin!(Rs1dPlugin);
