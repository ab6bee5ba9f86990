//! `zoda-baseline`: a benchmark crate outside the diverge workspace that measures da-rs1d,
//! da-zoda2d (modes B and A) and commonware's Zoda (`commonware-coding` 2026.9.0, the only
//! release that has it, with SHA-256) on the same data, at V = 6, 100, 1023 and 1 MiB / 14 MB:
//! bytes a validator downloads from the proposer, bytes the proposer uploads, and the times of
//! encode, the receipt check of one shard and decode from the last k shards. It lives outside the
//! workspace because 2026.9.0 builds only with every commonware crate pinned to it (a tokio /
//! axum / aws-lc tree the node must not carry); see `README.md` for the command and the table.
//! The plugins are linked with `default-features = false` (no `.so` entry point), so both fit
//! in one binary.
