//! The loaded da-zoda2d `.so`: garbage commitments and shards, and real shards with fuzzed bit
//! flips, at `verify_shard`; `decode` and `sample` on garbage commitments.
#![no_main]

diverge_fuzz::da_target!("da-zoda2d", "{}");
