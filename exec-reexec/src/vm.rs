//! The PolkaVM side: one engine, module and instance per plugin instance, the host calls the
//! guest uses to reach the state, and their fixed gas prices.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use polkavm::{
    BackendKind, CallError, Caller, Config, CostModel, CostModelKind, Engine, GasMeteringKind,
    Instance, InstancePre, Linker, Module, ModuleConfig, ProgramBlob,
};

use crate::state::{NullifierSet, PoolState, GUEST_STATE_LEN};
use crate::tx::{Bytes32, TxResult};
use diverge_plugins::Hash;

/// The committed guest program (`guest/pool.c`, rebuilt by `scripts/build-guest`).
pub const GUEST_BLOB: &[u8] = include_bytes!("../guest/pool.polkavm");

/// Gas prices of the host calls. PolkaVM meters only guest instructions, so the host's work
/// (hash-set probes, copies) is priced here at fixed costs: deterministic, and part of what the
/// chain spec pins along with the naive cost model (one gas per instruction).
pub mod price {
    /// `input_read`: base plus one per 8 bytes copied.
    pub const INPUT_READ: i64 = 20;
    /// `nf_contains`: one hash-set probe per layer, priced for a deep chain.
    pub const NF_CONTAINS: i64 = 200;
    /// `nf_insert`: state growth, priced above a lookup.
    pub const NF_INSERT: i64 = 400;
    /// `state_load` / `state_store`: a 1 KiB copy.
    pub const STATE_IO: i64 = 300;
    /// `tx_result`.
    pub const TX_RESULT: i64 = 10;
}

/// Which PolkaVM backend runs the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The recompiler (JIT to x86-64, sandboxed).
    Compiler,
    /// The interpreter.
    Interpreter,
}

/// Why a guest run did not produce a state.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The gas limit was hit.
    #[error("out of gas (limit {limit})")]
    OutOfGas {
        /// The limit.
        limit: u64,
    },
    /// The guest trapped or broke the host-call protocol (a guest bug: the input is laid out by
    /// the plugin).
    #[error("guest failed: {0}")]
    Guest(String),
    /// PolkaVM itself failed (engine, module, sandbox).
    #[error("polkavm: {0}")]
    Engine(String),
}

/// What a block run produced.
#[derive(Debug)]
pub struct BlockRun {
    /// The state after the block.
    pub post: PoolState,
    /// The guest-computed root of `post`.
    pub root: Hash,
    /// One result code per transaction.
    pub results: Vec<u8>,
    /// Gas used, host calls included.
    pub gas_used: u64,
}

/// Errors a host call raises to stop the guest.
#[derive(Debug)]
enum HostError {
    OutOfGas,
    Fault(String),
}

/// What the host calls see during one call into the guest.
struct Ctx {
    input: Vec<u8>,
    pre: Arc<NullifierSet>,
    added: HashSet<Bytes32>,
    results: Vec<u8>,
    record: Option<[u8; GUEST_STATE_LEN]>,
    loaded: [u8; GUEST_STATE_LEN],
    root: Option<Bytes32>,
}

fn charge(caller: &mut Caller<'_, Ctx>, cost: i64) -> Result<(), HostError> {
    let left = caller.instance.gas() - cost;
    if left < 0 {
        // Stop here, with nothing left, exactly as the guest's own metering would.
        caller.instance.set_gas(0);
        return Err(HostError::OutOfGas);
    }
    caller.instance.set_gas(left);
    Ok(())
}

fn read32(caller: &mut Caller<'_, Ctx>, ptr: u32) -> Result<Bytes32, HostError> {
    let mut b = [0u8; 32];
    caller
        .instance
        .read_memory_into(ptr, &mut b)
        .map_err(|e| HostError::Fault(format!("read at {ptr:#x}: {e}")))?;
    Ok(b)
}

fn linker() -> Result<Linker<Ctx, HostError>, polkavm::Error> {
    let mut linker: Linker<Ctx, HostError> = Linker::new();
    linker.define_typed(
        "input_read",
        |mut caller: Caller<'_, Ctx>, dst: u32, offset: u64, len: u64| -> Result<u64, HostError> {
            charge(&mut caller, price::INPUT_READ + (len as i64 / 8))?;
            let input = &caller.user_data.input;
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            let chunk = &input[start..end.min(input.len())];
            caller
                .instance
                .write_memory(dst, chunk)
                .map_err(|e| HostError::Fault(format!("input_read into {dst:#x}: {e}")))?;
            Ok(chunk.len() as u64)
        },
    )?;
    linker.define_typed(
        "state_load",
        |mut caller: Caller<'_, Ctx>, dst: u32| -> Result<(), HostError> {
            charge(&mut caller, price::STATE_IO)?;
            let rec = caller.user_data.loaded;
            caller
                .instance
                .write_memory(dst, &rec)
                .map_err(|e| HostError::Fault(format!("state_load into {dst:#x}: {e}")))
        },
    )?;
    linker.define_typed(
        "state_store",
        |mut caller: Caller<'_, Ctx>, src: u32, root: u32| -> Result<(), HostError> {
            charge(&mut caller, price::STATE_IO)?;
            let mut rec = [0u8; GUEST_STATE_LEN];
            caller
                .instance
                .read_memory_into(src, &mut rec)
                .map_err(|e| HostError::Fault(format!("state_store from {src:#x}: {e}")))?;
            let root = read32(&mut caller, root)?;
            caller.user_data.record = Some(rec);
            caller.user_data.root = Some(root);
            Ok(())
        },
    )?;
    linker.define_typed(
        "nf_contains",
        |mut caller: Caller<'_, Ctx>, ptr: u32| -> Result<u64, HostError> {
            charge(&mut caller, price::NF_CONTAINS)?;
            let nf = read32(&mut caller, ptr)?;
            let ctx = &caller.user_data;
            Ok(if ctx.pre.contains(&nf) {
                1
            } else if ctx.added.contains(&nf) {
                2
            } else {
                0
            })
        },
    )?;
    linker.define_typed(
        "nf_insert",
        |mut caller: Caller<'_, Ctx>, ptr: u32| -> Result<(), HostError> {
            charge(&mut caller, price::NF_INSERT)?;
            let nf = read32(&mut caller, ptr)?;
            let ctx = &mut caller.user_data;
            if ctx.pre.contains(&nf) || !ctx.added.insert(nf) {
                return Err(HostError::Fault("nf_insert of a spent nullifier".into()));
            }
            Ok(())
        },
    )?;
    linker.define_typed(
        "tx_result",
        |mut caller: Caller<'_, Ctx>, code: u64| -> Result<(), HostError> {
            charge(&mut caller, price::TX_RESULT)?;
            let code = TxResult::from_code(code)
                .ok_or_else(|| HostError::Fault(format!("unknown result code {code}")))?;
            caller.user_data.results.push(code as u8);
            Ok(())
        },
    )?;
    Ok(linker)
}

/// The guest, loaded once: engine, compiled module, resolved imports, and a live instance.
pub struct Vm {
    backend: Backend,
    pre: InstancePre<Ctx, HostError>,
    instance: Instance<Ctx, HostError>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("backend", &self.backend)
            .finish()
    }
}

fn engine_err(e: impl std::fmt::Display) -> VmError {
    VmError::Engine(e.to_string())
}

/// The process's one engine and compiled module per backend, resolved against the host calls.
///
/// One per process, not per plugin instance: besides the recompiler's ~100 ms first
/// instantiation, two live recompiler `Engine`s in one process were measured to slow every host
/// call of the second by ~5000x (a 400-transaction block: 3 ms alone, 23 s beside another
/// engine), presumably two worker pools contending for the sandbox futexes on 2 cores.
fn shared_pre(backend: Backend) -> Result<InstancePre<Ctx, HostError>, VmError> {
    type Slot = OnceLock<Result<InstancePre<Ctx, HostError>, String>>;
    static COMPILER: Slot = OnceLock::new();
    static INTERPRETER: Slot = OnceLock::new();
    let slot = match backend {
        Backend::Compiler => &COMPILER,
        Backend::Interpreter => &INTERPRETER,
    };
    slot.get_or_init(|| build_pre(backend).map_err(|e| e.to_string()))
        .clone()
        .map_err(VmError::Engine)
}

fn build_pre(backend: Backend) -> Result<InstancePre<Ctx, HostError>, VmError> {
    // Config::new, not from_env: POLKAVM_* variables must not change consensus behaviour.
    let mut config = Config::new();
    config.set_backend(Some(match backend {
        Backend::Compiler => BackendKind::Compiler,
        Backend::Interpreter => BackendKind::Interpreter,
    }));
    let engine = Engine::new(&config).map_err(engine_err)?;
    let mut mc = ModuleConfig::new();
    // Sync metering stops at the exact basic block that cannot pay, so the gas used (and
    // whether a block fits) is the same on both backends; the cost model is pinned rather than
    // left to the engine's default.
    mc.set_gas_metering(Some(GasMeteringKind::Sync));
    mc.set_cost_model(Some(CostModelKind::Simple(CostModel::naive_ref())));
    let blob = ProgramBlob::parse(GUEST_BLOB.into()).map_err(engine_err)?;
    let module = Module::from_blob(&engine, &mc, blob).map_err(engine_err)?;
    linker()
        .map_err(engine_err)?
        .instantiate_pre(&module)
        .map_err(engine_err)
}

impl Vm {
    /// Loads [`GUEST_BLOB`] on `backend`. The recompiler's first instantiation spawns its
    /// sandbox worker (~100 ms), which is why a plugin instance does this once.
    pub fn new(backend: Backend) -> Result<Vm, VmError> {
        let pre = shared_pre(backend)?;
        let instance = pre.instantiate().map_err(engine_err)?;
        Ok(Vm {
            backend,
            pre,
            instance,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies a block (in the guest's input layout) to `pre` within `gas_limit`.
    pub fn run_block(
        &mut self,
        pre: &PoolState,
        input: Vec<u8>,
        gas_limit: u64,
    ) -> Result<BlockRun, VmError> {
        let mut ctx = Ctx {
            input,
            pre: pre.nullifiers.clone(),
            added: HashSet::new(),
            results: Vec::new(),
            record: None,
            loaded: pre.guest_record(),
            root: None,
        };
        let limit = i64::try_from(gas_limit).unwrap_or(i64::MAX);
        self.instance.set_gas(limit);
        let r = self
            .instance
            .call_typed_and_get_result::<u64, ()>(&mut ctx, "apply_block", ());
        let left = self.instance.gas();
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                // A failed call may leave the instance mid-execution: start the next from a
                // fresh one (cheap: the module is compiled and the worker is pooled).
                self.instance = self.pre.instantiate().map_err(engine_err)?;
                return Err(match e {
                    CallError::NotEnoughGas | CallError::User(HostError::OutOfGas) => {
                        VmError::OutOfGas { limit: gas_limit }
                    }
                    CallError::User(HostError::Fault(m)) => VmError::Guest(m),
                    CallError::Trap => VmError::Guest("trap".into()),
                    CallError::Error(e) => VmError::Engine(e.to_string()),
                    CallError::Step => VmError::Engine("unexpected step interrupt".into()),
                });
            }
        };
        if left < 0 {
            return Err(VmError::OutOfGas { limit: gas_limit });
        }
        let (Some(record), Some(root)) = (ctx.record, ctx.root) else {
            return Err(VmError::Guest(format!(
                "apply_block returned {n} without storing the state"
            )));
        };
        if n != ctx.results.len() as u64 {
            return Err(VmError::Guest(format!(
                "apply_block returned {n} for {} results",
                ctx.results.len()
            )));
        }
        let nullifiers = if ctx.added.is_empty() {
            pre.nullifiers.clone()
        } else {
            Arc::new(NullifierSet::child(&pre.nullifiers, ctx.added))
        };
        Ok(BlockRun {
            post: PoolState::from_guest_record(&record, nullifiers),
            root: Hash(root),
            results: ctx.results,
            gas_used: (limit - left) as u64,
        })
    }

    /// Runs the compute-heavy export: `n` chained Blake2b-256 hashes; returns (output, gas).
    pub fn hash_chain(&mut self, n: u64, gas_limit: u64) -> Result<(u64, u64), VmError> {
        self.call_simple("hash_chain", n, Vec::new(), gas_limit)
            .map(|(v, g, _)| (v, g))
    }

    /// Blake2b-256 of `data` computed by the guest (to check its implementation).
    pub fn guest_hash(&mut self, data: &[u8]) -> Result<Hash, VmError> {
        let mut ctx = self.ctx_with_input(data.to_vec());
        // The guest writes the digest into its stack region's top page, which is always
        // mapped; the address is read back below.
        let out = self.instance.module().memory_map().stack_address_low();
        self.instance.set_gas(i64::MAX);
        let r = self.instance.call_typed_and_get_result::<u64, (u64, u32)>(
            &mut ctx,
            "hash_input",
            (data.len() as u64, out),
        );
        match r {
            Ok(0) => {}
            Ok(code) => return Err(VmError::Guest(format!("hash_input returned {code}"))),
            Err(e) => return Err(VmError::Guest(format!("{e:?}"))),
        }
        let mut h = [0u8; 32];
        self.instance
            .read_memory_into(out, &mut h)
            .map_err(|e| VmError::Engine(e.to_string()))?;
        Ok(Hash(h))
    }

    fn ctx_with_input(&self, input: Vec<u8>) -> Ctx {
        Ctx {
            input,
            pre: Arc::new(NullifierSet::default()),
            added: HashSet::new(),
            results: Vec::new(),
            record: None,
            loaded: [0; GUEST_STATE_LEN],
            root: None,
        }
    }

    fn call_simple(
        &mut self,
        name: &str,
        arg: u64,
        input: Vec<u8>,
        gas_limit: u64,
    ) -> Result<(u64, u64, Ctx), VmError> {
        let mut ctx = self.ctx_with_input(input);
        let limit = i64::try_from(gas_limit).unwrap_or(i64::MAX);
        self.instance.set_gas(limit);
        match self
            .instance
            .call_typed_and_get_result::<u64, (u64,)>(&mut ctx, name, (arg,))
        {
            Ok(v) => Ok((v, (limit - self.instance.gas()) as u64, ctx)),
            Err(CallError::NotEnoughGas) => {
                self.instance = self.pre.instantiate().map_err(engine_err)?;
                Err(VmError::OutOfGas { limit: gas_limit })
            }
            Err(e) => {
                self.instance = self.pre.instantiate().map_err(engine_err)?;
                Err(VmError::Guest(format!("{e:?}")))
            }
        }
    }
}
