//! `diverge exec run`: feed generated blocks through any exec plugin, the author's path
//! (execute) and a validator's (validate), and print timings, gas and outcomes.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::bail;
use diverge_plugins::{blake2b_256, Executor, Header, ValidateRequest, Verdict};

use crate::stats::{bytes, ms};
use crate::workload::{receipt_results, Generator, TxKind, WorkloadConfig};

/// Totals of a run.
#[derive(Debug, Clone, Default)]
pub struct ExecRun {
    /// Blocks executed and validated.
    pub blocks: usize,
    /// Transactions the plugin applied.
    pub accepted: usize,
    /// Transactions it rejected.
    pub rejected: usize,
    /// Planted double spends (all of which must be among the rejected).
    pub double_spends: usize,
    /// Gas over all blocks.
    pub gas: u64,
    /// Time in `execute`.
    pub execute: Duration,
    /// Time in `validate`.
    pub validate: Duration,
    /// Blocks `validate` did not accept.
    pub invalid: usize,
}

/// Generates `blocks` blocks of `txs` transactions from `seed`, executes each on the previous
/// block's state, validates it, and reports per block and in total.
pub fn run(
    exec: &mut dyn Executor,
    txs: usize,
    blocks: usize,
    seed: u64,
    out: &mut dyn Write,
) -> anyhow::Result<ExecRun> {
    let mut generator = Generator::new(WorkloadConfig {
        seed,
        ..WorkloadConfig::default()
    });
    let mut pre = exec.genesis_state_root()?;
    let mut total = ExecRun::default();
    writeln!(out, "genesis state root {pre}")?;
    for b in 0..blocks {
        let block = generator.block(txs);
        let t = Instant::now();
        let output = exec.execute(&pre, &block.payload)?;
        let execute = t.elapsed();
        let header = Header {
            payload_hash: blake2b_256(&block.payload),
            post_state_root: output.post_state_root,
            ..Header::default()
        };
        let t = Instant::now();
        let verdict = exec.validate(ValidateRequest {
            pre_state_root: pre,
            header,
            payload: Some(block.payload.clone()),
            receipt: output.receipt.clone(),
            proof: output.proof.clone(),
        })?;
        let validate = t.elapsed();
        let planted = block
            .kinds
            .iter()
            .filter(|k| **k == TxKind::DoubleSpend)
            .count();
        let (accepted, rejected) = match receipt_results(&output.receipt) {
            Some(r) => {
                let ok = r.iter().filter(|&&c| c == 0).count();
                (ok, r.len() - ok)
            }
            None => (0, 0),
        };
        let verdict_text = match &verdict {
            Verdict::Valid => "valid".to_owned(),
            Verdict::Invalid { code, detail } => {
                total.invalid += 1;
                format!("INVALID {code}: {detail}")
            }
        };
        writeln!(
            out,
            "block {b}: {txs} txs ({} payload), {accepted} accepted, {rejected} rejected \
             ({planted} planted double spends); gas {}; execute {}; validate {}; {verdict_text}",
            bytes(block.payload.len()),
            output.gas_used,
            ms(execute),
            ms(validate),
        )?;
        total.blocks += 1;
        total.accepted += accepted;
        total.rejected += rejected;
        total.double_spends += planted;
        total.gas += output.gas_used;
        total.execute += execute;
        total.validate += validate;
        pre = output.post_state_root;
    }
    let snapshot = exec.snapshot()?;
    let n = total.blocks.max(1) as u32;
    writeln!(
        out,
        "total: {} blocks, {} accepted, {} rejected ({} planted double spends), gas {} \
         ({} per tx); execute {} per block, validate {} per block; state snapshot {} \
         (post-state root {pre})",
        total.blocks,
        total.accepted,
        total.rejected,
        total.double_spends,
        total.gas,
        total.gas / (total.blocks * txs).max(1) as u64,
        ms(total.execute / n),
        ms(total.validate / n),
        bytes(snapshot.len()),
    )?;
    if total.invalid > 0 {
        bail!(
            "{} of {} blocks failed validation",
            total.invalid,
            total.blocks
        );
    }
    Ok(total)
}
