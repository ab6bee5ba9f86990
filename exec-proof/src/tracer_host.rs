//! The prover's host: re-execution's own host calls (`diverge_pool::host::PoolHost`), reached
//! through the tracer's register and memory view, with every answer the log needs recorded.

use diverge_pcvm::trace::{HostCalls, HostCtx, HostError};
use diverge_pool::host::{Applied, GuestIo, HostFault, PoolHost};
use diverge_pool::state::PoolState;
use polkavm::Reg;

use crate::log::Record;

/// One block's host state while `prove_block` is traced.
#[derive(Debug)]
pub struct LoggingHost {
    host: PoolHost,
    records: Vec<Record>,
}

fn message(e: HostError) -> String {
    match e {
        HostError::OutOfGas => "out of gas".into(),
        HostError::Fault(m) => m,
    }
}

struct Io<'c, 'a>(&'c mut HostCtx<'a>);

impl GuestIo for Io<'_, '_> {
    fn gas(&self) -> i64 {
        self.0.gas()
    }

    fn set_gas(&mut self, gas: i64) {
        self.0.set_gas(gas);
    }

    fn read(&mut self, at: u32, buf: &mut [u8]) -> Result<(), String> {
        self.0.read_memory(at, buf).map_err(message)
    }

    fn write(&mut self, at: u32, data: &[u8]) -> Result<(), String> {
        self.0.write_memory(at, data).map_err(message)
    }
}

impl LoggingHost {
    /// The host for applying `payload` (its codec bytes: `prove_block` parses them) to `pre`.
    pub fn new(pre: &PoolState, payload: Vec<u8>) -> LoggingHost {
        LoggingHost {
            host: PoolHost::new(pre, payload),
            records: Vec::new(),
        }
    }

    /// The post-state and the log, once the guest returned `n`.
    pub fn finish(self, pre: &PoolState, n: u64) -> Result<(Applied, Vec<Record>), String> {
        Ok((self.host.finish(pre, n)?, self.records))
    }
}

impl HostCalls for LoggingHost {
    fn call(&mut self, import: &[u8], ctx: &mut HostCtx<'_>) -> Result<(), HostError> {
        let args = [ctx.reg(Reg::A0), ctx.reg(Reg::A1), ctx.reg(Reg::A2)];
        let nf = |ctx: &mut HostCtx<'_>| -> Result<[u8; 32], HostError> {
            let mut nf = [0u8; 32];
            ctx.read_memory(args[0] as u32, &mut nf)?;
            Ok(nf)
        };
        let asked = match import {
            b"nf_contains" | b"nf_insert" => Some(nf(ctx)?),
            _ => None,
        };
        let answer = match self.host.call(import, args, &mut Io(ctx)) {
            Ok(a0) => a0,
            Err(HostFault::OutOfGas) => return Err(HostError::OutOfGas),
            Err(HostFault::Fault(m)) => return Err(HostError::Fault(m)),
        };
        if let Some(a0) = answer {
            ctx.set_reg(Reg::A0, a0);
        }
        match (import, asked) {
            (b"nf_contains", Some(nf)) => self.records.push(Record::Contains {
                nf,
                answer: answer.unwrap_or(0),
            }),
            (b"nf_insert", Some(nf)) => self.records.push(Record::Insert { nf }),
            (b"tx_result", _) => self.records.push(Record::Result { code: args[0] }),
            _ => {}
        }
        Ok(())
    }
}
