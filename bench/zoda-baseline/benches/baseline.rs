//! Bytes and times of da-rs1d, da-zoda2d (B, A) and commonware's Zoda on the same data. Times
//! are criterion's (`cargo bench`); the closing table prints, per case, each scheme's median
//! sample and its ratio to da-rs1d measured in the same run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::num::{NonZeroU16, NonZeroUsize};
use std::time::{Duration, Instant};

use commonware_codec::EncodeSize as _;
use commonware_coding::{Config as CwConfig, PhasedScheme as _, Zoda as CwZoda};
use commonware_cryptography::Sha256;
use commonware_parallel::Rayon;
use criterion::Criterion;
use da_rs1d::Rs1d;
use da_zoda2d::{Params, Zoda2d};
use diverge_plugins::testkit::bytes;
use diverge_plugins::{ChainParams, CheckShard, CheckedShard, DataAvailability};

type Cw = CwZoda<Sha256>;

const SIZES: [(usize, &str); 2] = [(1 << 20, "1 MiB"), (14_000_000, "14 MB")];
const VALIDATORS: [u16; 3] = [6, 100, 1023];
const SCHEMES: [&str; 4] = ["da-rs1d", "da-zoda2d B", "da-zoda2d A", "commonware Zoda"];

/// Per-iteration times of every criterion sample, by (case, scheme, op).
type Samples = RefCell<BTreeMap<(String, &'static str, &'static str), Vec<f64>>>;

/// A row of the bytes table.
struct Sizes {
    /// What one validator receives from the proposer.
    download: usize,
    /// What the proposer sends (all V shards).
    upload: usize,
    /// commonware only: the weak shard a validator forwards for reconstruction.
    weak: Option<usize>,
}

fn timed(
    c: &mut Criterion,
    samples: &Samples,
    key: (String, &'static str, &'static str),
    mut f: impl FnMut(),
) {
    c.bench_function(&format!("{}/{}/{}", key.0, key.1, key.2), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            let d = t.elapsed();
            samples
                .borrow_mut()
                .entry(key.clone())
                .or_default()
                .push(d.as_secs_f64() / iters as f64);
            d
        })
    });
}

/// Benchmarks one of our plugins: encode, verify the last shard, decode from the last k.
fn ours(
    c: &mut Criterion,
    samples: &Samples,
    case: &str,
    name: &'static str,
    da: &dyn DataAvailability,
    data: &[u8],
) -> Sizes {
    let enc = da.encode(data).expect("encode");
    let v = enc.shards.len();
    let k = da.shape().min_shards as usize;
    let checked: Vec<CheckedShard> = (v - k..v)
        .map(|i| {
            da.check(&enc.commitment, i as u32, enc.shards[i].clone())
                .expect("check")
        })
        .collect();
    assert_eq!(da.decode(&enc.commitment, &checked).expect("decode"), data);
    let sizes = Sizes {
        download: enc.shards[v - 1].len(),
        upload: enc.shards.iter().map(Vec::len).sum(),
        weak: None,
    };
    timed(c, samples, (case.into(), name, "encode"), || {
        std::hint::black_box(da.encode(data).expect("encode"));
    });
    timed(c, samples, (case.into(), name, "check"), || {
        da.verify_shard(&enc.commitment, (v - 1) as u32, &enc.shards[v - 1])
            .expect("check");
    });
    timed(c, samples, (case.into(), name, "decode"), || {
        std::hint::black_box(da.decode(&enc.commitment, &checked).expect("decode"));
    });
    sizes
}

/// commonware's Zoda: encode, `weaken` of the last strong shard (the receipt check), decode
/// from the last k (one weakened, k − 1 checked weak shards).
fn commonware(
    c: &mut Criterion,
    samples: &Samples,
    case: &str,
    (v, k): (u16, u16),
    data: &[u8],
    strategy: &Rayon,
) -> Sizes {
    let cfg = CwConfig {
        minimum_shards: NonZeroU16::new(k).expect("k > 0"),
        extra_shards: NonZeroU16::new(v - k).expect("k < V"),
    };
    let (commitment, strong) = Cw::encode(b"", &cfg, data, strategy).expect("encode");
    let last = v - 1;
    let (checking, mine, _) = Cw::weaken(
        b"",
        &cfg,
        &commitment,
        last,
        strong[usize::from(last)].clone(),
    )
    .expect("weaken");
    let mut checked = vec![mine];
    for i in v - k..last {
        let (_, _, weak) =
            Cw::weaken(b"", &cfg, &commitment, i, strong[usize::from(i)].clone()).expect("weaken");
        checked.push(Cw::check(&cfg, &commitment, &checking, i, weak).expect("check"));
    }
    let back = Cw::decode(
        &cfg,
        &commitment,
        checking.clone(),
        checked.iter(),
        strategy,
    )
    .expect("decode");
    assert_eq!(back, data);
    let (_, _, weak) = Cw::weaken(
        b"",
        &cfg,
        &commitment,
        last,
        strong[usize::from(last)].clone(),
    )
    .expect("weaken");
    let sizes = Sizes {
        download: strong[usize::from(last)].encode_size(),
        upload: strong.iter().map(|s| s.encode_size()).sum(),
        weak: Some(weak.encode_size()),
    };
    drop(strong);
    let name = "commonware Zoda";
    timed(c, samples, (case.into(), name, "encode"), || {
        std::hint::black_box(Cw::encode(b"", &cfg, data, strategy).expect("encode"));
    });
    let (_, one) = Cw::encode(b"", &cfg, data, strategy).expect("encode");
    let shard = one[usize::from(last)].clone();
    drop(one);
    timed(c, samples, (case.into(), name, "check"), || {
        std::hint::black_box(
            Cw::weaken(b"", &cfg, &commitment, last, shard.clone()).expect("weaken"),
        );
    });
    timed(c, samples, (case.into(), name, "decode"), || {
        std::hint::black_box(
            Cw::decode(
                &cfg,
                &commitment,
                checking.clone(),
                checked.iter(),
                strategy,
            )
            .expect("decode"),
        );
    });
    sizes
}

/// Bytes a light client downloads with da-zoda2d's `sample` (mode B, whole shards, each
/// checked like a validator's): ⌈bits / log2(V/(k−1))⌉ shards.
fn light_client_table() {
    println!("\n| B | V | bits | shards sampled | bytes |");
    println!("|---|---|---|---|---|");
    for (len, label) in SIZES {
        let data = bytes(len, 1);
        for v in [100u16, 1023] {
            let k = ChainParams::default_erasure_k(v);
            for bits in [40.0, 80.0, 128.0] {
                let z = Zoda2d::new(
                    v,
                    k,
                    Params {
                        sample_bits: bits,
                        ..Params::certificate()
                    },
                )
                .expect("zoda");
                let enc = z.encode(&data).expect("encode");
                let picked = z.sample(&enc.commitment, &[7; 32]).expect("sample");
                let b: usize = picked.iter().map(|&i| enc.shards[i as usize].len()).sum();
                println!("| {label} | {v} | {bits} | {} | {} |", picked.len(), kb(b));
            }
        }
    }
}

fn kb(b: usize) -> String {
    format!("{:.1} KB", b as f64 / 1e3)
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    // The plugins run on rayon's global pool (all cores); commonware gets as many threads.
    let threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let strategy = Rayon::new(threads).expect("rayon pool");
    let samples: Samples = RefCell::default();
    let mut sizes: BTreeMap<(String, &'static str), Result<Sizes, String>> = BTreeMap::new();
    let mut cases = Vec::new();
    for (len, label) in SIZES {
        let data = bytes(len, 1);
        for v in VALIDATORS {
            let k = ChainParams::default_erasure_k(v);
            let case = format!("V={v} {label}");
            cases.push(case.clone());
            let rs = Rs1d::new(usize::from(k), usize::from(v), da_rs1d::Params::default())
                .expect("rs1d");
            sizes.insert(
                (case.clone(), SCHEMES[0]),
                Ok(ours(&mut c, &samples, &case, SCHEMES[0], &rs, &data)),
            );
            for (name, params) in [
                (SCHEMES[1], Params::certificate()),
                (SCHEMES[2], Params::standalone()),
            ] {
                let row = match Zoda2d::new(v, k, params) {
                    Ok(z) => Ok(ours(&mut c, &samples, &case, name, &z, &data)),
                    Err(e) => Err(format!("refused: {e}")),
                };
                sizes.insert((case.clone(), name), row);
            }
            sizes.insert(
                (case.clone(), SCHEMES[3]),
                Ok(commonware(
                    &mut c,
                    &samples,
                    &case,
                    (v, k),
                    &data,
                    &strategy,
                )),
            );
        }
    }
    c.final_summary();
    light_client_table();

    let median = |case: &str, s: &'static str, op: &'static str| -> Option<f64> {
        let all = samples.borrow();
        let mut v = all.get(&(case.to_string(), s, op))?.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    println!(
        "\n| case | scheme | download / validator | proposer upload | encode | check | decode |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in &cases {
        let base = sizes
            .get(&(case.clone(), SCHEMES[0]))
            .and_then(|r| r.as_ref().ok());
        for s in SCHEMES {
            match &sizes[&(case.clone(), s)] {
                Err(why) => println!("| {case} | {s} | {why} | | | | |"),
                Ok(z) => {
                    let ratio = |x: usize, b: Option<usize>| match b {
                        Some(b) if s != SCHEMES[0] => format!(" ({:.2}x)", x as f64 / b as f64),
                        _ => String::new(),
                    };
                    let dl = match z.weak {
                        Some(w) => format!(
                            "{}{} strong, {} weak",
                            kb(z.download),
                            ratio(z.download, base.map(|b| b.download)),
                            kb(w)
                        ),
                        None => format!(
                            "{}{}",
                            kb(z.download),
                            ratio(z.download, base.map(|b| b.download))
                        ),
                    };
                    let up = format!(
                        "{}{}",
                        kb(z.upload),
                        ratio(z.upload, base.map(|b| b.upload))
                    );
                    let t = |op| match (median(case, s, op), median(case, SCHEMES[0], op)) {
                        (Some(x), Some(b)) if s != SCHEMES[0] => {
                            format!("{:.2} ms ({:.1}x)", x * 1e3, x / b)
                        }
                        (Some(x), _) => format!("{:.2} ms", x * 1e3),
                        _ => "-".into(),
                    };
                    println!(
                        "| {case} | {s} | {dl} | {up} | {} | {} | {} |",
                        t("encode"),
                        t("check"),
                        t("decode")
                    );
                }
            }
        }
    }
}
