//! The erasure layer alone: the public JAM vectors with 1, 2 and 3 stripe threads, striped vs
//! single-threaded equality, every error case, and property tests of round trips and bad input.

use std::path::{Path, PathBuf};

use da_rs1d::erasure::{chunk_len, encode, reconstruct, Codec, ErasureError, ErasureParams};
use proptest::prelude::*;

fn vectors_dir() -> PathBuf {
    diverge_plugins::testkit::vectors_dir(env!("CARGO_MANIFEST_DIR"))
}

struct Vector {
    name: String,
    data: Vec<u8>,
    shards: Vec<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).expect("hex")
}

fn load_json(path: &Path) -> Vector {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json");
    Vector {
        name: path.display().to_string(),
        data: unhex(v["data"].as_str().expect("data")),
        shards: v["shards"]
            .as_array()
            .expect("shards")
            .iter()
            .map(|s| unhex(s.as_str().expect("shard")))
            .collect(),
    }
}

/// JAM natural-number compact encoding (GP Appendix C, eq. C.6): the number
/// of leading one bits `l` of the first byte is the count of little-endian
/// bytes that follow; the rest of the first byte holds the high bits
/// (`l == 8`: first byte 0xff, then 8 bytes).
fn read_compact(buf: &mut &[u8]) -> u64 {
    let (&first, rest) = buf.split_first().expect("compact: empty");
    let l = first.leading_ones() as usize;
    let (tail, rest) = rest.split_at(l);
    let mut low = 0u64;
    for (i, b) in tail.iter().enumerate() {
        low |= (*b as u64) << (8 * i);
    }
    *buf = rest;
    if l == 8 {
        low
    } else {
        let high = (first as u64) & (0xff >> (l + 1));
        low | (high << (8 * l))
    }
}

fn read_blob(buf: &mut &[u8]) -> Vec<u8> {
    let len = read_compact(buf) as usize;
    let (b, rest) = buf.split_at(len);
    *buf = rest;
    b.to_vec()
}

/// `.bin`: compact-length-prefixed data, then the shard sequence
/// (compact count, then each shard compact-length-prefixed).
fn load_bin(path: &Path, n: usize) -> Vector {
    let bytes = std::fs::read(path).expect("read bin");
    let mut buf = bytes.as_slice();
    let data = read_blob(&mut buf);
    let count = read_compact(&mut buf) as usize;
    assert_eq!(count, n, "{}: shard count", path.display());
    let shards = (0..count).map(|_| read_blob(&mut buf)).collect();
    assert!(buf.is_empty(), "{}: trailing bytes", path.display());
    Vector {
        name: path.display().to_string(),
        data,
        shards,
    }
}

fn all_vectors() -> Vec<(ErasureParams, Vector)> {
    let mut out = Vec::new();
    for (dir, params) in [("tiny", ErasureParams::TINY), ("full", ErasureParams::FULL)] {
        let d = vectors_dir().join("erasure").join(dir);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            match p.extension().and_then(|e| e.to_str()) {
                Some("json") => out.push((params, load_json(&p))),
                Some("bin") => out.push((params, load_bin(&p, params.n))),
                _ => {}
            }
        }
    }
    out
}

fn check_vector(codec: &mut Codec, params: ErasureParams, v: &Vector) {
    let (k, n) = (params.k, params.n);
    assert_eq!(v.shards.len(), n, "{}", v.name);
    assert_eq!(
        chunk_len(&params, v.data.len()),
        v.shards[0].len(),
        "{}",
        v.name
    );
    let chunks = codec.encode(&params, &v.data).expect("encode");
    assert_eq!(chunks.len(), n);
    for (i, (got, want)) in chunks.iter().zip(&v.shards).enumerate() {
        assert_eq!(got, want, "{}: chunk {i}", v.name);
    }
    assert_eq!(encode(&params, &v.data).expect("encode"), chunks);

    // first k, last k, pseudo-random k, recovery-only (when n-k >= k).
    let mut subsets: Vec<Vec<usize>> = vec![(0..k).collect(), (n - k..n).collect()];
    let mut idx: Vec<usize> = (0..n).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ v.data.len() as u64;
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        idx.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    subsets.push(idx[..k].to_vec());
    if n - k >= k {
        subsets.push((k..2 * k).collect());
    }
    for s in subsets {
        let given: Vec<(usize, &[u8])> = s.iter().map(|&i| (i, v.shards[i].as_slice())).collect();
        let back = codec
            .reconstruct(&params, &given, v.data.len())
            .expect("reconstruct");
        assert_eq!(
            back,
            v.data,
            "{}: subset {:?}",
            v.name,
            &s[..s.len().min(8)]
        );
        assert_eq!(
            reconstruct(&params, &given, v.data.len()).expect("reconstruct"),
            v.data
        );
    }
}

#[test]
fn jam_vectors() {
    let vectors = all_vectors();
    assert!(vectors.len() >= 20, "found only {} vectors", vectors.len());
    for threads in [1, 2, 3] {
        let mut codec = Codec::with_threads(threads);
        for (params, v) in &vectors {
            check_vector(&mut codec, *params, v);
        }
    }
}

/// Large enough that the codec splits chunks into column stripes and runs
/// them on threads: the striped result must equal the single-threaded one.
#[test]
fn striped_matches_single() {
    for (params, size) in [
        (ErasureParams::FULL, 3_000_006),
        (ErasureParams::TINY, 1 << 20),
        (ErasureParams::new(7, 20).expect("test setup"), 1_234_570),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let one = Codec::with_threads(1)
            .encode(&params, &data)
            .expect("test setup");
        let mut multi = Codec::with_threads(3);
        let many = multi.encode(&params, &data).expect("test setup");
        assert!(one == many, "striped encode differs for {params:?}");
        let given: Vec<(usize, &[u8])> = (params.n - params.k..params.n)
            .map(|i| (i, one[i].as_slice()))
            .collect();
        assert!(
            multi
                .reconstruct(&params, &given, size)
                .expect("test setup")
                == data
        );
    }
}

#[test]
fn errors() {
    let p = ErasureParams::TINY;
    let data = b"hello world";
    let c = encode(&p, data).expect("test setup");
    let l = data.len();
    let e = |chunks: &[(usize, &[u8])]| reconstruct(&p, chunks, l).expect_err("must fail");
    assert!(matches!(
        e(&[(0, &c[0])]),
        ErasureError::TooFewChunks { needed: 2, got: 1 }
    ));
    assert!(matches!(
        e(&[(0, &c[0]), (6, &c[1])]),
        ErasureError::IndexOutOfRange { index: 6, n: 6 }
    ));
    assert!(matches!(
        e(&[(3, &c[3]), (3, &c[3])]),
        ErasureError::DuplicateIndex { index: 3 }
    ));
    assert!(matches!(
        e(&[(0, &c[0]), (1, &c[1][..2])]),
        ErasureError::InconsistentChunkLength { .. }
    ));
    assert!(matches!(
        e(&[(0, &c[0][..3]), (1, &c[1][..3])]),
        ErasureError::OddChunkLength { .. }
    ));
    assert!(matches!(
        reconstruct(&p, &[(0, &c[0]), (1, &c[1])], 100).expect_err("must fail"),
        ErasureError::DataLenMismatch { .. }
    ));
    for (k, n) in [
        (0, 5),
        (3, 3),
        (2, 2),
        (1, 0),
        (4, 2),
        (1, 70000),
        (40000, 65535),
    ] {
        let bad = ErasureParams { k, n };
        assert!(matches!(
            encode(&bad, data).expect_err("must fail"),
            ErasureError::BadParams { .. }
        ));
        assert!(matches!(
            reconstruct(&bad, &[], 0).expect_err("must fail"),
            ErasureError::BadParams { .. }
        ));
        let _ = chunk_len(&bad, usize::MAX);
    }
    assert_eq!(chunk_len(&ErasureParams { k: 0, n: 1 }, 10), 0);
    // k = n = 1 (a one-validator chain): the single chunk is the data padded to even length.
    let one = ErasureParams::new(1, 1).expect("k = n = 1 is allowed");
    let c1 = encode(&one, data).expect("encode 1 of 1");
    assert_eq!(c1.len(), 1);
    assert_eq!(&c1[0][..l], data);
    assert_eq!(c1[0].len(), l.next_multiple_of(2));
    assert_eq!(reconstruct(&one, &[(0, &c1[0])], l).expect("decode"), data);
    assert!(matches!(
        reconstruct(&one, &[], l).expect_err("no chunk"),
        ErasureError::TooFewChunks { needed: 1, got: 0 }
    ));
    // Empty data: n empty chunks, and back.
    let empty = encode(&p, &[]).expect("test setup");
    assert_eq!(empty, vec![Vec::<u8>::new(); 6]);
    let given: Vec<(usize, &[u8])> = vec![(4, &empty[4]), (5, &empty[5])];
    assert_eq!(
        reconstruct(&p, &given, 0).expect("test setup"),
        Vec::<u8>::new()
    );
}

fn params_strategy() -> impl Strategy<Value = ErasureParams> {
    prop_oneof![
        (1usize..50)
            .prop_flat_map(|k| (Just(k), k + 1..3 * k + 6))
            .prop_map(|(k, n)| ErasureParams { k, n }),
        Just(ErasureParams::TINY),
        Just(ErasureParams::FULL),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roundtrip(
        params in params_strategy(),
        data in proptest::collection::vec(any::<u8>(), 0..20000),
        seed in any::<u64>(),
        threads in 1usize..4,
        block in proptest::option::of(1usize..3000),
    ) {
        let mut codec = Codec::with_threads(threads);
        // Small blocks exercise the sub-stripe boundaries and tails.
        codec.set_block_bytes(block, block.map(|b| b / 2));
        let chunks = codec.encode(&params, &data).expect("test setup");
        prop_assert_eq!(chunks.len(), params.n);
        let len = chunk_len(&params, data.len());
        prop_assert!(len.is_multiple_of(2));
        prop_assert!(chunks.iter().all(|c| c.len() == len));
        // Systematic: the first k chunks are the padded data.
        let mut padded = data.clone();
        padded.resize(params.k * len, 0);
        prop_assert_eq!(chunks[..params.k].concat(), padded);
        // Random k-subset (Fisher-Yates with a small xorshift).
        let mut idx: Vec<usize> = (0..params.n).collect();
        let mut s = seed | 1;
        for i in (1..params.n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            idx.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let given: Vec<(usize, &[u8])> =
            idx[..params.k].iter().map(|&i| (i, chunks[i].as_slice())).collect();
        prop_assert_eq!(codec.reconstruct(&params, &given, data.len()).expect("test setup"), data);
    }

    /// Arbitrary (mostly invalid) input never panics.
    #[test]
    fn never_panics(
        k in 0usize..70,
        n in 0usize..200,
        data_len in 0usize..3000,
        chunks in proptest::collection::vec((0usize..220, proptest::collection::vec(any::<u8>(), 0..40)), 0..80),
    ) {
        let params = ErasureParams { k, n };
        let _ = chunk_len(&params, data_len);
        let _ = encode(&params, &vec![7u8; data_len]);
        let given: Vec<(usize, &[u8])> = chunks.iter().map(|(i, c)| (*i, c.as_slice())).collect();
        let _ = reconstruct(&params, &given, data_len);
    }
}
