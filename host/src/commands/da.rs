//! `diverge da roundtrip|encode|decode`: push bytes through any DA plugin and see shard sizes and
//! timings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use diverge_plugins::{blake2b_256, CheckShard, CheckedShard, DataAvailability};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::stats::{bytes, mib_per_s, ms};

/// What `roundtrip` measured.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    /// Payload size.
    pub size: usize,
    /// Bytes of one shard (the first).
    pub shard_size: usize,
    /// Sum of all shards.
    pub total_shard_bytes: usize,
    /// Whether decode gave the payload back.
    pub ok: bool,
}

/// Encodes a seeded random payload, checks every shard, decodes from a random minimal subset
/// and compares.
pub fn roundtrip(
    da: &dyn DataAvailability,
    size: usize,
    seed: u64,
    out: &mut dyn Write,
) -> anyhow::Result<RoundTrip> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut data = vec![0u8; size];
    rng.fill_bytes(&mut data);
    let shape = da.shape();
    writeln!(
        out,
        "payload: {} (seed {seed}), {} shards, any {} decode",
        bytes(size),
        shape.shards,
        shape.min_shards
    )?;

    let t = Instant::now();
    let enc = da.encode(&data)?;
    let encode_time = t.elapsed();
    let total: usize = enc.shards.iter().map(Vec::len).sum();
    let shard_size = enc.shards.first().map(Vec::len).unwrap_or(0);
    writeln!(
        out,
        "encode:  {} ({:.1} MiB/s); commitment {} B; shard {} ; all shards {} ({:.2}x payload)",
        ms(encode_time),
        mib_per_s(size, encode_time),
        enc.commitment.len(),
        bytes(shard_size),
        bytes(total),
        total as f64 / size.max(1) as f64
    )?;
    if enc.shards.len() != shape.shards as usize {
        bail!(
            "plugin produced {} shards, its shape says {}",
            enc.shards.len(),
            shape.shards
        );
    }

    let t = Instant::now();
    let mut checked: Vec<CheckedShard> = Vec::with_capacity(enc.shards.len());
    for (i, shard) in enc.shards.iter().enumerate() {
        checked.push(da.check(&enc.commitment, i as u32, shard.clone())?);
    }
    let check_time = t.elapsed();
    writeln!(
        out,
        "check:   {} for all {} shards ({} each)",
        ms(check_time),
        checked.len(),
        ms(check_time / checked.len().max(1) as u32)
    )?;

    checked.shuffle(&mut rng);
    checked.truncate(shape.min_shards as usize);
    let mut used: Vec<u32> = checked.iter().map(CheckedShard::index).collect();
    used.sort_unstable();
    let t = Instant::now();
    let back = da.decode(&enc.commitment, &checked)?;
    let decode_time = t.elapsed();
    let ok = back == data;
    writeln!(
        out,
        "decode:  {} ({:.1} MiB/s) from shards {}",
        ms(decode_time),
        mib_per_s(size, decode_time),
        summarize_indices(&used)
    )?;
    writeln!(
        out,
        "result:  {} (payload hash {})",
        if ok { "identical" } else { "MISMATCH" },
        blake2b_256(&data)
    )?;
    Ok(RoundTrip {
        size,
        shard_size,
        total_shard_bytes: total,
        ok,
    })
}

fn summarize_indices(v: &[u32]) -> String {
    if v.len() <= 12 {
        format!("{v:?}")
    } else {
        format!("{:?}… ({} in all)", &v[..12], v.len())
    }
}

/// Encodes `input` into `dir`: `commitment.bin` and `shard-NNNN.bin`.
pub fn encode(
    da: &dyn DataAvailability,
    input: &Path,
    dir: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let data = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let t = Instant::now();
    let enc = da.encode(&data)?;
    let elapsed = t.elapsed();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_file(&dir.join("commitment.bin"), &enc.commitment)?;
    for (i, s) in enc.shards.iter().enumerate() {
        write_file(&shard_path(dir, i), s)?;
    }
    let total: usize = enc.shards.iter().map(Vec::len).sum();
    writeln!(
        out,
        "encoded {} into {} shards of {} ({} total) in {}; wrote {}",
        bytes(data.len()),
        enc.shards.len(),
        bytes(enc.shards.first().map(Vec::len).unwrap_or(0)),
        bytes(total),
        ms(elapsed),
        dir.display()
    )?;
    Ok(())
}

fn shard_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("shard-{i:04}.bin"))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Decodes the shards in `dir` (all present, or only `only`) into `output`. Shards that fail
/// their check are reported and skipped.
pub fn decode(
    da: &dyn DataAvailability,
    dir: &Path,
    only: Option<&[u32]>,
    output: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let commitment = std::fs::read(dir.join("commitment.bin"))
        .with_context(|| format!("reading {}/commitment.bin", dir.display()))?;
    let shape = da.shape();
    let wanted: Vec<u32> = match only {
        Some(list) => list.to_vec(),
        None => (0..shape.shards).collect(),
    };
    let mut checked = Vec::new();
    let mut rejected = 0;
    let t = Instant::now();
    for i in wanted {
        let path = shard_path(dir, i as usize);
        let Ok(shard) = std::fs::read(&path) else {
            continue;
        };
        match da.check(&commitment, i, shard) {
            Ok(c) => checked.push(c),
            Err(e) => {
                rejected += 1;
                writeln!(out, "shard {i}: rejected: {e}")?;
            }
        }
    }
    let check_time = t.elapsed();
    if checked.len() < shape.min_shards as usize {
        bail!(
            "{} checked shards in {}, {} needed ({rejected} rejected)",
            checked.len(),
            dir.display(),
            shape.min_shards
        );
    }
    let t = Instant::now();
    let data = da.decode(&commitment, &checked)?;
    let decode_time = t.elapsed();
    write_file(output, &data)?;
    writeln!(
        out,
        "checked {} shards in {} ({rejected} rejected); decoded {} in {}; wrote {}",
        checked.len(),
        ms(check_time),
        bytes(data.len()),
        ms(decode_time),
        output.display()
    )?;
    Ok(())
}
