//! The QUIC frame header (`kind u8 | length u32 LE`): any 5 bytes either give a known kind and
//! a length within the bound, or a typed refusal.
#![no_main]

use diverge::net::frame::{check_header, encode, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut header = [0u8; HEADER_LEN];
    let n = data.len().min(HEADER_LEN);
    header[..n].copy_from_slice(&data[..n]);
    let max = 1usize << (data.get(HEADER_LEN).copied().unwrap_or(20) % 32);
    if let Ok((kind, len)) = check_header(header, max) {
        assert!(len <= max);
        // What the writer produces for that kind reads back as the same header.
        let payload = &data[n..];
        let frame = encode(kind, payload);
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&frame[..HEADER_LEN]);
        if payload.len() <= max {
            assert_eq!(check_header(h, max), Ok((kind, payload.len())));
        }
    }
});
