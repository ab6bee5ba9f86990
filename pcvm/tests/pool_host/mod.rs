//! The shielded pool's host calls for the tracer, a transcription of exec-reexec's `vm.rs`
//! linker (same prices, same register conventions). exec-reexec keeps its host context private,
//! so this copy is checked against it: every traced block must reproduce re-execution's
//! results, root, post-state and gas to the unit, which a drifted price or semantics would not.

use std::collections::HashSet;
use std::sync::Arc;

use diverge_pcvm::trace::{HostCalls, HostCtx, HostError};
use exec_reexec::state::{NullifierSet, PoolState, GUEST_STATE_LEN};
use exec_reexec::tx::{Bytes32, TxResult};
use exec_reexec::vm::price;
use polkavm::Reg;

/// One block's host state.
#[derive(Debug)]
pub struct PoolHost {
    pub input: Vec<u8>,
    pub pre: Arc<NullifierSet>,
    pub added: HashSet<Bytes32>,
    pub results: Vec<u8>,
    pub record: Option<[u8; GUEST_STATE_LEN]>,
    pub loaded: [u8; GUEST_STATE_LEN],
    pub root: Option<Bytes32>,
}

impl PoolHost {
    /// The host for applying `input` to `pre`.
    pub fn new(pre: &PoolState, input: Vec<u8>) -> PoolHost {
        PoolHost {
            input,
            pre: pre.nullifiers.clone(),
            added: HashSet::new(),
            results: Vec::new(),
            record: None,
            loaded: pre.guest_record(),
            root: None,
        }
    }
}

fn charge(ctx: &mut HostCtx<'_>, cost: i64) -> Result<(), HostError> {
    let left = ctx.gas() - cost;
    if left < 0 {
        ctx.set_gas(0);
        return Err(HostError::OutOfGas);
    }
    ctx.set_gas(left);
    Ok(())
}

/// A `u32` pointer argument: the low half of the register, as PolkaVM's typed linker reads it.
fn ptr(ctx: &HostCtx<'_>, reg: Reg) -> u32 {
    ctx.reg(reg) as u32
}

fn read32(ctx: &mut HostCtx<'_>, at: u32) -> Result<Bytes32, HostError> {
    let mut b = [0u8; 32];
    ctx.read_memory(at, &mut b)?;
    Ok(b)
}

impl HostCalls for PoolHost {
    fn call(&mut self, import: &[u8], ctx: &mut HostCtx<'_>) -> Result<(), HostError> {
        match import {
            b"input_read" => {
                let (dst, offset, len) = (ptr(ctx, Reg::A0), ctx.reg(Reg::A1), ctx.reg(Reg::A2));
                charge(ctx, price::INPUT_READ + (len as i64 / 8))?;
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(self.input.len());
                let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                let chunk = &self.input[start..end.min(self.input.len())];
                ctx.write_memory(dst, chunk)?;
                ctx.set_reg(Reg::A0, chunk.len() as u64);
            }
            b"state_load" => {
                let dst = ptr(ctx, Reg::A0);
                charge(ctx, price::STATE_IO)?;
                let rec = self.loaded;
                ctx.write_memory(dst, &rec)?;
            }
            b"state_store" => {
                let (src, root) = (ptr(ctx, Reg::A0), ptr(ctx, Reg::A1));
                charge(ctx, price::STATE_IO)?;
                let mut rec = [0u8; GUEST_STATE_LEN];
                ctx.read_memory(src, &mut rec)?;
                self.root = Some(read32(ctx, root)?);
                self.record = Some(rec);
            }
            b"nf_contains" => {
                let at = ptr(ctx, Reg::A0);
                charge(ctx, price::NF_CONTAINS)?;
                let nf = read32(ctx, at)?;
                let found = if self.pre.contains(&nf) {
                    1
                } else if self.added.contains(&nf) {
                    2
                } else {
                    0
                };
                ctx.set_reg(Reg::A0, found);
            }
            b"nf_insert" => {
                let at = ptr(ctx, Reg::A0);
                charge(ctx, price::NF_INSERT)?;
                let nf = read32(ctx, at)?;
                if self.pre.contains(&nf) || !self.added.insert(nf) {
                    return Err(HostError::Fault("nf_insert of a spent nullifier".into()));
                }
            }
            b"tx_result" => {
                let code = ctx.reg(Reg::A0);
                charge(ctx, price::TX_RESULT)?;
                let code = TxResult::from_code(code)
                    .ok_or_else(|| HostError::Fault(format!("unknown result code {code}")))?;
                self.results.push(code as u8);
            }
            other => {
                return Err(HostError::Fault(format!(
                    "unknown import {}",
                    String::from_utf8_lossy(other)
                )))
            }
        }
        Ok(())
    }
}
