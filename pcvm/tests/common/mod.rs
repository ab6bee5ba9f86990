//! Set-up shared by the pcvm integration tests and benches: the workload blob's program
//! table and traces of real blocks. Each including crate declares `mod pool_host;` at its root.

// Each test binary and bench includes this module and uses only part of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use diverge_pcvm::fetch::ProgramTable;
use diverge_pcvm::trace::{Regs, Trace, Tracer};
use exec_reexec::state::PoolState;
use exec_reexec::tx::guest_input;
use exec_reexec::vm::GUEST_BLOB;
use exec_reexec::workload::{Generator, WorkloadConfig};
use exec_reexec::DEFAULT_GAS_LIMIT;

use crate::pool_host::PoolHost;

/// The trace of `apply_block` on a default-workload block of `txs` transactions from genesis.
pub fn trace_of(txs: usize) -> Trace {
    let input = guest_input(&Generator::new(WorkloadConfig::default()).block(txs));
    Tracer::new(GUEST_BLOB)
        .expect("tracer")
        .trace(
            "apply_block",
            &[],
            &mut PoolHost::new(&PoolState::genesis(), input),
            DEFAULT_GAS_LIMIT as i64,
            usize::MAX,
        )
        .expect("trace")
}

/// The workload blob's program table, built once per binary.
pub fn table() -> &'static ProgramTable {
    static T: OnceLock<ProgramTable> = OnceLock::new();
    T.get_or_init(|| ProgramTable::from_blob(GUEST_BLOB).expect("the workload blob has a table"))
}

/// A real two-transaction block's trace, built once per binary: small enough for the default
/// suite.
pub fn small_trace() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| trace_of(2))
}

/// The first `n` rows of `full` as a trace of their own: its host calls before row `n`, its
/// final state `replay[n]` (`full.replay_registers()`, passed in so callers cutting several
/// prefixes replay once).
pub fn prefix_of(full: &Trace, replay: &[Regs], n: usize) -> Trace {
    Trace {
        initial_regs: full.initial_regs,
        rows: full.rows[..n].to_vec(),
        host_calls: full
            .host_calls
            .iter()
            .filter(|c| c.row < n)
            .cloned()
            .collect(),
        final_regs: replay[n],
        gas_used: 0,
    }
}

/// The first `n` rows of [`small_trace`] as a trace of their own.
pub fn prefix_trace(n: usize) -> Trace {
    let full = small_trace();
    prefix_of(full, &full.replay_registers(), n)
}

/// A polynomial of a committed shape (`columns` columns of `2^log_rows`), for the benches'
/// raw-commitment baselines: the commit cost does not depend on the values.
pub fn packed(columns: usize, log_rows: usize) -> Vec<diverge_pcvm::F32> {
    use diverge_pcvm::F32;
    let cols: Vec<Vec<F32>> = (0..columns as u32)
        .map(|c| {
            (0..1u32 << log_rows)
                .map(|k| F32::from_value(k.wrapping_mul(0x9e37_79b9) ^ c))
                .collect()
        })
        .collect();
    diverge_pcvm::field::pack_columns(&cols, log_rows)
}
