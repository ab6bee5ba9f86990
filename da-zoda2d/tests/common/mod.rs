//! Set-up shared by the malicious-encoder tests (`tests/malicious.rs`: the tests' own
//! constructions; `tests/byzantine.rs`: the plugin's `byzantine` module, what the simulator's
//! author publishes): the committees, every shard's verdict, and who holds a row.
#![allow(dead_code)] // each test binary uses part of it

use da_zoda2d::{Params, Zoda2d};
use diverge_plugins::{DataAvailability, Encoded, ErrorKind};

/// Both modes at V = 6 and 100, mode B at 1023 (mode A is refused there: the GF(2^16) row
/// cap), each with a payload size, for committees of at most `max_v` validators.
pub fn setups(max_v: u16) -> Vec<(&'static str, Zoda2d, usize)> {
    type Setup = (&'static str, u16, u16, fn() -> Params, usize);
    let all: [Setup; 5] = [
        ("B V=6", 6, 2, Params::certificate, 20_000),
        ("A V=6", 6, 2, Params::standalone, 20_000),
        ("B V=100", 100, 34, Params::certificate, 60_000),
        ("A V=100", 100, 34, Params::standalone, 60_000),
        ("B V=1023", 1023, 342, Params::certificate, 100_000),
    ];
    all.into_iter()
        .filter(|s| s.1 <= max_v)
        .map(|(name, v, k, params, len)| (name, Zoda2d::new(v, k, params()).expect(name), len))
        .collect()
}

/// Indices of the shards that verify, and (index, message) of those that do not; every
/// refusal is `Rejected` (the sender's fault, never a host error) and names its shard first.
pub fn verdicts(da: &Zoda2d, enc: &Encoded) -> (Vec<u32>, Vec<(u32, String)>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, s) in enc.shards.iter().enumerate() {
        let i = i as u32;
        match da.verify_shard(&enc.commitment, i, s) {
            Ok(()) => ok.push(i),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
                assert!(e.message.starts_with(&format!("shard {i}:")), "{e}");
                bad.push((i, e.message));
            }
        }
    }
    (ok, bad)
}

/// The validators whose shard includes any of the rows at `positions`.
pub fn holders(da: &Zoda2d, enc: &Encoded, positions: &[u32]) -> Vec<u32> {
    let (c, shape) = da.commitment(&enc.commitment).expect("commitment");
    (0..da.committee().validators)
        .filter(|&v| {
            Zoda2d::positions(&c, &shape, v)
                .iter()
                .any(|p| positions.contains(p))
        })
        .collect()
}
