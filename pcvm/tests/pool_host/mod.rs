//! The tracer's answer to the guest's `ecalli`: exec-reexec's own host calls
//! ([`exec_reexec::host::PoolHost`], the ones re-execution binds to PolkaVM's linker), reached
//! through the tracer's register and memory view. Only the calling convention is here.

use diverge_pcvm::trace::{HostCalls, HostCtx, HostError};
use exec_reexec::host::{GuestIo, HostFault};
use exec_reexec::state::PoolState;
use polkavm::Reg;

/// One block's host state, as re-execution has it.
#[derive(Debug)]
pub struct PoolHost(pub exec_reexec::host::PoolHost);

impl PoolHost {
    /// The host for applying `input` to `pre`.
    pub fn new(pre: &PoolState, input: Vec<u8>) -> PoolHost {
        PoolHost(exec_reexec::host::PoolHost::new(pre, input))
    }
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

impl HostCalls for PoolHost {
    fn call(&mut self, import: &[u8], ctx: &mut HostCtx<'_>) -> Result<(), HostError> {
        let args = [ctx.reg(Reg::A0), ctx.reg(Reg::A1), ctx.reg(Reg::A2)];
        match self.0.call(import, args, &mut Io(ctx)) {
            Ok(Some(a0)) => {
                ctx.set_reg(Reg::A0, a0);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(HostFault::OutOfGas) => Err(HostError::OutOfGas),
            Err(HostFault::Fault(m)) => Err(HostError::Fault(m)),
        }
    }
}
