//! The PolkaVM side: one engine, module and instance per plugin instance, the host calls
//! ([`crate::host`]) bound to its linker, and their fixed gas prices.

use std::sync::OnceLock;

use polkavm::{
    BackendKind, CallError, Caller, Config, CostModel, CostModelKind, Engine, GasMeteringKind,
    Instance, InstancePre, Linker, Module, ModuleConfig, ProgramBlob, RawInstance,
};

use crate::host::{GuestIo, HostFault, PoolHost};
use crate::state::PoolState;
use diverge_plugins::Hash;

/// The committed guest program (`guest/pool.c`, rebuilt by `scripts/build-guest`).
pub const GUEST_BLOB: &[u8] = include_bytes!("../../guest/pool.polkavm");

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

/// The running guest as the host calls see it.
struct Io<'a>(&'a mut RawInstance);

impl GuestIo for Io<'_> {
    fn gas(&self) -> i64 {
        self.0.gas()
    }

    fn set_gas(&mut self, gas: i64) {
        self.0.set_gas(gas);
    }

    fn read(&mut self, at: u32, buf: &mut [u8]) -> Result<(), String> {
        self.0
            .read_memory_into(at, buf)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn write(&mut self, at: u32, data: &[u8]) -> Result<(), String> {
        self.0.write_memory(at, data).map_err(|e| e.to_string())
    }
}

type Call<'a> = Caller<'a, PoolHost>;

fn linker() -> Result<Linker<PoolHost, HostFault>, polkavm::Error> {
    let mut linker: Linker<PoolHost, HostFault> = Linker::new();
    linker.define_typed(
        "input_read",
        |c: Call<'_>, dst: u32, offset: u64, len: u64| -> Result<u64, HostFault> {
            c.user_data
                .input_read(&mut Io(c.instance), dst, offset, len)
        },
    )?;
    linker.define_typed(
        "state_load",
        |c: Call<'_>, dst: u32| -> Result<(), HostFault> {
            c.user_data.state_load(&mut Io(c.instance), dst)
        },
    )?;
    linker.define_typed(
        "state_store",
        |c: Call<'_>, src: u32, root: u32| -> Result<(), HostFault> {
            c.user_data.state_store(&mut Io(c.instance), src, root)
        },
    )?;
    linker.define_typed(
        "nf_contains",
        |c: Call<'_>, ptr: u32| -> Result<u64, HostFault> {
            c.user_data.nf_contains(&mut Io(c.instance), ptr)
        },
    )?;
    linker.define_typed(
        "nf_insert",
        |c: Call<'_>, ptr: u32| -> Result<(), HostFault> {
            c.user_data.nf_insert(&mut Io(c.instance), ptr)
        },
    )?;
    linker.define_typed(
        "tx_result",
        |c: Call<'_>, code: u64| -> Result<(), HostFault> {
            c.user_data.tx_result(&mut Io(c.instance), code)
        },
    )?;
    Ok(linker)
}

/// The guest, loaded once: engine, compiled module, resolved imports, and a live instance.
pub struct Vm {
    backend: Backend,
    pre: InstancePre<PoolHost, HostFault>,
    instance: Instance<PoolHost, HostFault>,
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
fn shared_pre(backend: Backend) -> Result<InstancePre<PoolHost, HostFault>, VmError> {
    type Slot = OnceLock<Result<InstancePre<PoolHost, HostFault>, String>>;
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

fn build_pre(backend: Backend) -> Result<InstancePre<PoolHost, HostFault>, VmError> {
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
        let mut ctx = PoolHost::new(pre, input);
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
                    CallError::NotEnoughGas | CallError::User(HostFault::OutOfGas) => {
                        VmError::OutOfGas { limit: gas_limit }
                    }
                    CallError::User(HostFault::Fault(m)) => VmError::Guest(m),
                    CallError::Trap => VmError::Guest("trap".into()),
                    CallError::Error(e) => VmError::Engine(e.to_string()),
                    CallError::Step => VmError::Engine("unexpected step interrupt".into()),
                });
            }
        };
        if left < 0 {
            return Err(VmError::OutOfGas { limit: gas_limit });
        }
        let applied = ctx.finish(pre, n).map_err(VmError::Guest)?;
        Ok(BlockRun {
            post: applied.post,
            root: Hash(applied.root),
            results: applied.results,
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
        let mut ctx = PoolHost::with_input(data.to_vec());
        // The input goes to the stack's low end (always mapped; a proof's IO region), and the
        // guest writes the digest back there.
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

    fn call_simple(
        &mut self,
        name: &str,
        arg: u64,
        input: Vec<u8>,
        gas_limit: u64,
    ) -> Result<(u64, u64, PoolHost), VmError> {
        let mut ctx = PoolHost::with_input(input);
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
