//! The Zcash powers-of-tau SRS JAM's ring commitments are made with, shipped inside the plugin
//! (a plugin reads no files at run time), and ring contexts built from it once per ring size.
//!
//! `data/zcash-srs-2-11-uncompressed.bin` is byte-identical to the file the public JAM vectors
//! ship (`safrole/zcash-srs-2-11-uncompressed.bin`; a test compares them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::ring::{RingContext, RingError};

/// The SRS file's bytes.
pub const ZCASH_SRS: &[u8] = include_bytes!("../data/zcash-srs-2-11-uncompressed.bin");

/// The ring context for rings of `size` keys, built on first use and shared afterwards:
/// building one deserializes 590 KB of curve points and derives the ring parameters.
pub fn ring_context(size: usize) -> Result<Arc<RingContext>, RingError> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<RingContext>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked while inserting: the map is intact.
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = map.get(&size) {
        return Ok(ctx.clone());
    }
    let ctx = Arc::new(RingContext::from_srs(ZCASH_SRS, size)?);
    map.insert(size, ctx.clone());
    Ok(ctx)
}
