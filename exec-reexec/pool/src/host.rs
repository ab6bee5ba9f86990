//! The shielded pool's six host calls, written once for every way the guest is run: PolkaVM's
//! typed linker during re-execution ([`crate::vm`]) and a stepping tracer that answers `ecalli`
//! itself (diverge-pcvm, the prover's trace). A proof is only worth something if it proves the
//! same semantics validators re-execute, so prices and effects must not exist twice.
//!
//! The guest reaches memory and gas through [`GuestIo`]; arguments arrive as PolkaVM passes
//! them (pointers are the low 32 bits of a register, as the typed linker reads a `u32`).

use std::collections::HashSet;
use std::sync::Arc;

use crate::state::{NullifierSet, PoolState, GUEST_STATE_LEN};
use crate::tx::{Bytes32, TxResult};
use crate::vm::price;

/// What a host call needs of the running guest.
pub trait GuestIo {
    /// Gas left.
    fn gas(&self) -> i64;
    /// Sets the gas left.
    fn set_gas(&mut self, gas: i64);
    /// Reads guest memory at `at` into `buf`.
    fn read(&mut self, at: u32, buf: &mut [u8]) -> Result<(), String>;
    /// Writes `data` into guest memory at `at`.
    fn write(&mut self, at: u32, data: &[u8]) -> Result<(), String>;
}

/// Why a host call stops the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFault {
    /// The call could not pay for itself.
    OutOfGas,
    /// The guest broke the host-call protocol (bad pointer, double spend, unknown code).
    Fault(String),
}

/// The imports the guest may call, by name.
pub const IMPORTS: [&str; 6] = [
    "input_read",
    "state_load",
    "state_store",
    "nf_contains",
    "nf_insert",
    "tx_result",
];

/// One guest call's host state: the input, the pre-state it reads, and what it changed.
#[derive(Debug)]
pub struct PoolHost {
    input: Vec<u8>,
    pre: Arc<NullifierSet>,
    added: HashSet<Bytes32>,
    results: Vec<u8>,
    record: Option<[u8; GUEST_STATE_LEN]>,
    loaded: [u8; GUEST_STATE_LEN],
    root: Option<Bytes32>,
}

/// What `apply_block` left behind once it returned.
#[derive(Debug)]
pub struct Applied {
    /// The state after the block.
    pub post: PoolState,
    /// The root the guest computed and stored.
    pub root: Bytes32,
    /// One result code per transaction.
    pub results: Vec<u8>,
}

fn charge(io: &mut impl GuestIo, cost: i64) -> Result<(), HostFault> {
    let left = io.gas() - cost;
    if left < 0 {
        // Stop here, with nothing left, exactly as the guest's own metering would.
        io.set_gas(0);
        return Err(HostFault::OutOfGas);
    }
    io.set_gas(left);
    Ok(())
}

fn read32(io: &mut impl GuestIo, at: u32) -> Result<Bytes32, HostFault> {
    let mut b = [0u8; 32];
    io.read(at, &mut b)
        .map_err(|e| HostFault::Fault(format!("read at {at:#x}: {e}")))?;
    Ok(b)
}

impl PoolHost {
    /// The host for applying `input` (a block in the guest's layout) to `pre`.
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

    /// A host over an empty state (exports that only read their input).
    pub fn with_input(input: Vec<u8>) -> PoolHost {
        PoolHost {
            input,
            pre: Arc::new(NullifierSet::default()),
            added: HashSet::new(),
            results: Vec::new(),
            record: None,
            loaded: [0; GUEST_STATE_LEN],
            root: None,
        }
    }

    /// The result codes recorded so far.
    pub fn results(&self) -> &[u8] {
        &self.results
    }

    /// The post-state of a finished `apply_block` that returned `n`, checked against the
    /// protocol: the guest stored its state once and reported one result per transaction.
    pub fn finish(self, pre: &PoolState, n: u64) -> Result<Applied, String> {
        let (Some(record), Some(root)) = (self.record, self.root) else {
            return Err(format!(
                "apply_block returned {n} without storing the state"
            ));
        };
        if n != self.results.len() as u64 {
            return Err(format!(
                "apply_block returned {n} for {} results",
                self.results.len()
            ));
        }
        let nullifiers = if self.added.is_empty() {
            pre.nullifiers.clone()
        } else {
            Arc::new(NullifierSet::child(&pre.nullifiers, self.added))
        };
        Ok(Applied {
            post: PoolState::from_guest_record(&record, nullifiers),
            root,
            results: self.results,
        })
    }

    /// `input_read(dst, offset, len) -> copied`: a window of the block input.
    pub fn input_read(
        &mut self,
        io: &mut impl GuestIo,
        dst: u32,
        offset: u64,
        len: u64,
    ) -> Result<u64, HostFault> {
        charge(io, price::INPUT_READ + (len as i64 / 8))?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        let chunk = &self.input[start..end.min(self.input.len())];
        io.write(dst, chunk)
            .map_err(|e| HostFault::Fault(format!("input_read into {dst:#x}: {e}")))?;
        Ok(chunk.len() as u64)
    }

    /// `state_load(dst)`: the pre-state's guest record.
    pub fn state_load(&mut self, io: &mut impl GuestIo, dst: u32) -> Result<(), HostFault> {
        charge(io, price::STATE_IO)?;
        let rec = self.loaded;
        io.write(dst, &rec)
            .map_err(|e| HostFault::Fault(format!("state_load into {dst:#x}: {e}")))
    }

    /// `state_store(src, root)`: the post-state record and the root the guest computed.
    pub fn state_store(
        &mut self,
        io: &mut impl GuestIo,
        src: u32,
        root: u32,
    ) -> Result<(), HostFault> {
        charge(io, price::STATE_IO)?;
        let mut rec = [0u8; GUEST_STATE_LEN];
        io.read(src, &mut rec)
            .map_err(|e| HostFault::Fault(format!("state_store from {src:#x}: {e}")))?;
        let root = read32(io, root)?;
        self.record = Some(rec);
        self.root = Some(root);
        Ok(())
    }

    /// `nf_contains(ptr) -> 0 | 1 (spent before the block) | 2 (spent in it)`.
    pub fn nf_contains(&mut self, io: &mut impl GuestIo, ptr: u32) -> Result<u64, HostFault> {
        charge(io, price::NF_CONTAINS)?;
        let nf = read32(io, ptr)?;
        Ok(if self.pre.contains(&nf) {
            1
        } else if self.added.contains(&nf) {
            2
        } else {
            0
        })
    }

    /// `nf_insert(ptr)`: spends a nullifier; spending one twice is a guest fault.
    pub fn nf_insert(&mut self, io: &mut impl GuestIo, ptr: u32) -> Result<(), HostFault> {
        charge(io, price::NF_INSERT)?;
        let nf = read32(io, ptr)?;
        if self.pre.contains(&nf) || !self.added.insert(nf) {
            return Err(HostFault::Fault("nf_insert of a spent nullifier".into()));
        }
        Ok(())
    }

    /// `tx_result(code)`: the next transaction's result.
    pub fn tx_result(&mut self, io: &mut impl GuestIo, code: u64) -> Result<(), HostFault> {
        charge(io, price::TX_RESULT)?;
        let code = TxResult::from_code(code)
            .ok_or_else(|| HostFault::Fault(format!("unknown result code {code}")))?;
        self.results.push(code as u8);
        Ok(())
    }

    /// Any import by name with its arguments as registers A0..A2 hold them (a tracer's
    /// `ecalli`); returns what the call writes back to A0, if anything.
    pub fn call(
        &mut self,
        import: &[u8],
        args: [u64; 3],
        io: &mut impl GuestIo,
    ) -> Result<Option<u64>, HostFault> {
        let [a0, a1, a2] = args;
        // A pointer argument is the register's low half, as the typed linker's `u32` is.
        let p = |r: u64| r as u32;
        match import {
            b"input_read" => self.input_read(io, p(a0), a1, a2).map(Some),
            b"state_load" => self.state_load(io, p(a0)).map(|()| None),
            b"state_store" => self.state_store(io, p(a0), p(a1)).map(|()| None),
            b"nf_contains" => self.nf_contains(io, p(a0)).map(Some),
            b"nf_insert" => self.nf_insert(io, p(a0)).map(|()| None),
            b"tx_result" => self.tx_result(io, a0).map(|()| None),
            other => Err(HostFault::Fault(format!(
                "unknown import {}",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}
