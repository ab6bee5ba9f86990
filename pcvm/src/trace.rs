//! The execution trace S2 constrains: one row per executed PolkaVM instruction.
//!
//! Two pieces, both read from PolkaVM's own public API so the trace cannot drift from the VM
//! that exec-reexec runs:
//!
//! * [`inventory`] disassembles a program blob and counts its opcodes by class. [`SUPPORTED`]
//!   is the set the S2 constraints cover; [`Inventory::check`] names every opcode outside it,
//!   so a guest rebuild that introduces one fails loudly instead of producing a trace the
//!   prover cannot constrain.
//! * [`Tracer`] runs an export on PolkaVM's interpreter with step tracing: the interpreter
//!   stops before every instruction, which gives each row's program counter and the register
//!   file before and after it. Host calls (`ecalli`) are answered by a [`HostCalls`]
//!   implementation; what they change (registers, memory) is recorded separately in
//!   [`HostCall`], because the proof cannot constrain it by ALU semantics: it is the
//!   input/state boundary a later stage binds by other means.
//!
//! The module configuration matches exec-reexec's (synchronous gas metering, the naive cost
//! model pinned), so a traced run uses exactly the gas re-execution charges; the tests check
//! this together with the block's results and state root.

use std::collections::BTreeMap;

use polkavm::program::{Instruction, Opcode};
use polkavm::{
    BackendKind, Config, CostModel, CostModelKind, Engine, GasMeteringKind, InterruptKind, Module,
    ModuleConfig, ProgramBlob, ProgramCounter, RawInstance, Reg,
};

/// Number of PolkaVM registers.
pub const REGS: usize = 13;

/// A register file, indexed by [`Reg::to_usize`].
pub type Regs = [u64; REGS];

/// What an opcode does, at the granularity the S2 constraints are organised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpClass {
    /// add, sub, negate-and-add (32- and 64-bit).
    AddSub,
    /// and, or, xor and their inverted forms.
    Bitwise,
    /// Shifts and rotates.
    Shift,
    /// set-less-than / set-greater-than, min/max.
    Compare,
    /// Conditional moves.
    CondMove,
    /// Multiplication (low and high halves).
    Mul,
    /// Division and remainder.
    Div,
    /// Leading/trailing zeros, popcount, sign/zero extension, byte reversal.
    BitCount,
    /// Register copies and immediate loads.
    Move,
    /// Loads from memory.
    Load,
    /// Stores to memory.
    Store,
    /// Conditional branches.
    Branch,
    /// Direct jumps (including load-immediate-and-jump).
    Jump,
    /// Indirect jumps (returns, calls through registers, jump tables).
    JumpIndirect,
    /// Host calls.
    Ecalli,
    /// trap, fallthrough, unlikely: control markers.
    Control,
    /// memset and sbrk: multi-cycle or allocator instructions.
    System,
}

/// The class of `opcode`.
pub fn class(opcode: Opcode) -> OpClass {
    use Opcode as O;
    match opcode {
        O::add_32
        | O::add_64
        | O::sub_32
        | O::sub_64
        | O::add_imm_32
        | O::add_imm_64
        | O::negate_and_add_imm_32
        | O::negate_and_add_imm_64 => OpClass::AddSub,
        O::and
        | O::or
        | O::xor
        | O::and_imm
        | O::or_imm
        | O::xor_imm
        | O::and_inverted
        | O::or_inverted
        | O::xnor => OpClass::Bitwise,
        O::shift_logical_left_32
        | O::shift_logical_left_64
        | O::shift_logical_right_32
        | O::shift_logical_right_64
        | O::shift_arithmetic_right_32
        | O::shift_arithmetic_right_64
        | O::shift_logical_left_imm_32
        | O::shift_logical_left_imm_64
        | O::shift_logical_right_imm_32
        | O::shift_logical_right_imm_64
        | O::shift_arithmetic_right_imm_32
        | O::shift_arithmetic_right_imm_64
        | O::shift_logical_right_imm_alt_32
        | O::shift_logical_right_imm_alt_64
        | O::shift_arithmetic_right_imm_alt_32
        | O::shift_arithmetic_right_imm_alt_64
        | O::shift_logical_left_imm_alt_32
        | O::shift_logical_left_imm_alt_64
        | O::rotate_left_32
        | O::rotate_left_64
        | O::rotate_right_32
        | O::rotate_right_64
        | O::rotate_right_imm_32
        | O::rotate_right_imm_alt_32
        | O::rotate_right_imm_64
        | O::rotate_right_imm_alt_64 => OpClass::Shift,
        O::set_less_than_unsigned
        | O::set_less_than_signed
        | O::set_less_than_unsigned_imm
        | O::set_less_than_signed_imm
        | O::set_greater_than_unsigned_imm
        | O::set_greater_than_signed_imm
        | O::maximum
        | O::maximum_unsigned
        | O::minimum
        | O::minimum_unsigned => OpClass::Compare,
        O::cmov_if_zero | O::cmov_if_not_zero | O::cmov_if_zero_imm | O::cmov_if_not_zero_imm => {
            OpClass::CondMove
        }
        O::mul_32
        | O::mul_64
        | O::mul_imm_32
        | O::mul_imm_64
        | O::mul_upper_signed_signed
        | O::mul_upper_unsigned_unsigned
        | O::mul_upper_signed_unsigned => OpClass::Mul,
        O::div_unsigned_32
        | O::div_unsigned_64
        | O::div_signed_32
        | O::div_signed_64
        | O::rem_unsigned_32
        | O::rem_unsigned_64
        | O::rem_signed_32
        | O::rem_signed_64 => OpClass::Div,
        O::count_leading_zero_bits_32
        | O::count_leading_zero_bits_64
        | O::count_trailing_zero_bits_32
        | O::count_trailing_zero_bits_64
        | O::count_set_bits_32
        | O::count_set_bits_64
        | O::sign_extend_8
        | O::sign_extend_16
        | O::zero_extend_16
        | O::reverse_byte => OpClass::BitCount,
        O::move_reg | O::load_imm | O::load_imm64 => OpClass::Move,
        O::load_u8
        | O::load_i8
        | O::load_u16
        | O::load_i16
        | O::load_u32
        | O::load_i32
        | O::load_u64
        | O::load_indirect_u8
        | O::load_indirect_i8
        | O::load_indirect_u16
        | O::load_indirect_i16
        | O::load_indirect_u32
        | O::load_indirect_i32
        | O::load_indirect_u64 => OpClass::Load,
        O::store_u8
        | O::store_u16
        | O::store_u32
        | O::store_u64
        | O::store_imm_u8
        | O::store_imm_u16
        | O::store_imm_u32
        | O::store_imm_u64
        | O::store_imm_indirect_u8
        | O::store_imm_indirect_u16
        | O::store_imm_indirect_u32
        | O::store_imm_indirect_u64
        | O::store_indirect_u8
        | O::store_indirect_u16
        | O::store_indirect_u32
        | O::store_indirect_u64 => OpClass::Store,
        O::branch_eq
        | O::branch_not_eq
        | O::branch_less_unsigned
        | O::branch_less_signed
        | O::branch_greater_or_equal_unsigned
        | O::branch_greater_or_equal_signed
        | O::branch_eq_imm
        | O::branch_not_eq_imm
        | O::branch_less_unsigned_imm
        | O::branch_less_signed_imm
        | O::branch_greater_or_equal_unsigned_imm
        | O::branch_greater_or_equal_signed_imm
        | O::branch_less_or_equal_signed_imm
        | O::branch_less_or_equal_unsigned_imm
        | O::branch_greater_signed_imm
        | O::branch_greater_unsigned_imm => OpClass::Branch,
        O::jump | O::load_imm_and_jump => OpClass::Jump,
        O::jump_indirect | O::load_imm_and_jump_indirect => OpClass::JumpIndirect,
        O::ecalli => OpClass::Ecalli,
        O::memset | O::sbrk => OpClass::System,
        // trap, fallthrough, unlikely, and any opcode a later PolkaVM adds: never provable by
        // accident, since SUPPORTED names opcodes, not classes.
        _ => OpClass::Control,
    }
}

/// The opcodes the S2 constraints cover: exactly those the committed workload blob uses
/// (the inventory test keeps the two equal in both directions, so a guest rebuild that adds an
/// opcode fails by name, and one that drops an opcode prunes constraints nobody exercises).
///
/// All 64-bit and multiplier-free: the guest (clang, RV64E, Blake2b with rotations lowered to
/// shift/or pairs) needs no MUL, DIV, rotate or 32-bit ALU op, and no jump tables (the
/// indirect jumps are returns and calls through `ra`). `unlikely` and `fallthrough` are
/// control markers: no register or memory effect, pc advances to the next instruction.
pub const SUPPORTED: &[Opcode] = &[
    // Control markers.
    Opcode::fallthrough,
    Opcode::unlikely,
    // Moves.
    Opcode::load_imm,
    Opcode::load_imm64,
    Opcode::move_reg,
    // ALU.
    Opcode::add_64,
    Opcode::add_imm_64,
    Opcode::sub_64,
    Opcode::and_imm,
    Opcode::or,
    Opcode::or_imm,
    Opcode::xor,
    Opcode::shift_logical_left_imm_64,
    Opcode::shift_logical_right_imm_64,
    Opcode::set_less_than_unsigned_imm,
    Opcode::set_greater_than_unsigned_imm,
    // Memory: bytes and 64-bit words only.
    Opcode::load_u8,
    Opcode::load_indirect_u8,
    Opcode::load_indirect_u64,
    Opcode::load_u64,
    Opcode::store_imm_u8,
    Opcode::store_imm_indirect_u8,
    Opcode::store_imm_indirect_u64,
    Opcode::store_indirect_u8,
    Opcode::store_indirect_u64,
    Opcode::store_u64,
    Opcode::store_imm_u64,
    // Control flow.
    Opcode::branch_eq_imm,
    Opcode::branch_not_eq_imm,
    Opcode::branch_less_unsigned_imm,
    Opcode::branch_greater_unsigned_imm,
    Opcode::branch_not_eq,
    Opcode::branch_less_unsigned,
    Opcode::branch_greater_or_equal_unsigned,
    Opcode::branch_greater_or_equal_unsigned_imm,
    Opcode::branch_eq,
    Opcode::jump,
    Opcode::load_imm_and_jump,
    Opcode::jump_indirect,
    // Host calls.
    Opcode::ecalli,
];

/// One opcode's use in a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpcodeUse {
    /// The opcode.
    pub opcode: Opcode,
    /// Its class.
    pub class: OpClass,
    /// How many instructions of the code use it (static count).
    pub count: usize,
    /// Program counter of its first occurrence.
    pub first_pc: u32,
}

/// The static opcode inventory of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// Instructions in the code.
    pub instructions: usize,
    /// Bytes of code.
    pub code_bytes: usize,
    /// One entry per distinct opcode, in PolkaVM's opcode order.
    pub opcodes: Vec<OpcodeUse>,
}

impl Inventory {
    /// Static instruction counts per class.
    pub fn classes(&self) -> BTreeMap<OpClass, usize> {
        let mut by_class = BTreeMap::new();
        for u in &self.opcodes {
            *by_class.entry(u.class).or_insert(0) += u.count;
        }
        by_class
    }

    /// The distinct opcodes used.
    pub fn opcode_set(&self) -> Vec<Opcode> {
        self.opcodes.iter().map(|u| u.opcode).collect()
    }

    /// Fails, naming each one, if the blob uses an opcode outside `supported`.
    pub fn check(&self, supported: &[Opcode]) -> Result<(), TraceError> {
        let missing: Vec<String> = self
            .opcodes
            .iter()
            .filter(|u| !supported.contains(&u.opcode))
            .map(|u| {
                format!(
                    "{} ({:?}, {} uses, first at pc {})",
                    u.opcode, u.class, u.count, u.first_pc
                )
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(TraceError::UnsupportedOpcodes(missing.join(", ")))
        }
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} instructions, {} code bytes, {} distinct opcodes",
            self.instructions,
            self.code_bytes,
            self.opcodes.len()
        )?;
        for (class, n) in self.classes() {
            let names: Vec<String> = self
                .opcodes
                .iter()
                .filter(|u| u.class == class)
                .map(|u| format!("{}={}", u.opcode, u.count))
                .collect();
            writeln!(f, "  {class:?}: {n} [{}]", names.join(" "))?;
        }
        Ok(())
    }
}

/// Why an inventory or a trace could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("program blob does not parse: {0}")]
    Parse(String),
    #[error("program blob is not a 64-bit PolkaVM program")]
    Not64Bit,
    #[error("the trace constraints do not cover opcode(s): {0}")]
    UnsupportedOpcodes(String),
    #[error("row {row}: pc {pc} executes `{opcode}`, which the trace constraints do not cover")]
    UnsupportedRow {
        row: usize,
        pc: u32,
        opcode: &'static str,
    },
    #[error("row {row}: pc {pc} is not an instruction boundary of the blob")]
    NotAnInstruction { row: usize, pc: u32 },
    #[error("row {row} ({opcode} at pc {pc}) changed {count} registers; only a host call may change more than one")]
    MultipleWrites {
        row: usize,
        pc: u32,
        opcode: &'static str,
        count: usize,
    },
    #[error(
        "row {row} ({opcode} at pc {pc}) disagrees with the instruction's semantics: {detail}"
    )]
    Semantics {
        row: usize,
        pc: u32,
        opcode: &'static str,
        detail: String,
    },
    #[error("no export named {0:?}")]
    NoExport(String),
    #[error("export takes at most {max} argument registers, got {got}")]
    TooManyArgs { got: usize, max: usize },
    #[error("host call index {0} is not an import of the blob")]
    UnknownImport(u32),
    #[error("host call `{import}` at row {row} failed: {message}")]
    Host {
        row: usize,
        import: String,
        message: String,
    },
    #[error("row {row}: reading the {width}-byte access at {address:#x} failed: {message}")]
    Memory {
        row: usize,
        address: u32,
        width: u8,
        message: String,
    },
    #[error("guest trapped at row {row} (pc {pc:?})")]
    Trap { row: usize, pc: Option<u32> },
    #[error("guest faulted on page {page:#x} at row {row}")]
    Segfault { row: usize, page: u32 },
    #[error("out of gas after {rows} rows")]
    OutOfGas { rows: usize },
    #[error("trace exceeds the limit of {0} rows")]
    TooLong(usize),
    #[error("polkavm: {0}")]
    Engine(String),
}

fn engine_err(e: impl std::fmt::Display) -> TraceError {
    TraceError::Engine(e.to_string())
}

pub(crate) fn parse(blob: &[u8]) -> Result<ProgramBlob, TraceError> {
    let program =
        ProgramBlob::parse(blob.to_vec().into()).map_err(|e| TraceError::Parse(e.to_string()))?;
    // Register values, address arithmetic and the constraints are all 64-bit.
    if !program.is_64_bit() {
        return Err(TraceError::Not64Bit);
    }
    Ok(program)
}

/// Disassembles `blob` and counts its opcodes.
pub fn inventory(blob: &[u8]) -> Result<Inventory, TraceError> {
    let program = parse(blob)?;
    let mut uses: BTreeMap<Opcode, OpcodeUse> = BTreeMap::new();
    let mut instructions = 0;
    for inst in program.instructions() {
        instructions += 1;
        let opcode = inst.kind.opcode();
        uses.entry(opcode)
            .or_insert(OpcodeUse {
                opcode,
                class: class(opcode),
                count: 0,
                first_pc: inst.offset.0,
            })
            .count += 1;
    }
    Ok(Inventory {
        instructions,
        code_bytes: program.code().len(),
        opcodes: uses.into_values().collect(),
    })
}

/// A load or store a row performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemAccess {
    /// Byte address.
    pub address: u32,
    /// 1, 2, 4 or 8 bytes.
    pub width: u8,
    /// A store (else a load).
    pub store: bool,
    /// The bytes at `address` after the instruction, little-endian, zero-extended: the stored
    /// value, or the loaded one before any sign extension.
    pub value: u64,
}

/// One executed instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Its program counter.
    pub pc: u32,
    /// Its opcode (the operands are the program table's, at `pc`).
    pub opcode: Opcode,
    /// The register it changed and the new value; `None` if no register changed (a write of
    /// the old value looks the same: the constraints take the destination from the program
    /// table, not from here). Always `None` for `ecalli`: see [`HostCall`].
    pub write: Option<(Reg, u64)>,
    /// Its memory access.
    pub mem: Option<MemAccess>,
    /// The next row's pc; `None` on the last row (returned to the host).
    pub next_pc: Option<u32>,
}

/// What one host call changed: the values the VM's semantics do not determine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    /// The `ecalli` row.
    pub row: usize,
    /// The import's name.
    pub import: String,
    /// Registers the host changed, with their new values.
    pub reg_writes: Vec<(Reg, u64)>,
    /// Guest memory the host wrote, in order.
    pub mem_writes: Vec<(u32, Vec<u8>)>,
}

/// A complete execution of one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Registers when the export is entered.
    pub initial_regs: Regs,
    /// One row per executed instruction, in order.
    pub rows: Vec<Row>,
    /// Every host call, in order.
    pub host_calls: Vec<HostCall>,
    /// Registers when the export returned.
    pub final_regs: Regs,
    /// Gas consumed by instructions and host calls together.
    pub gas_used: u64,
}

impl Trace {
    /// The export's return value (`A0`).
    pub fn result(&self) -> u64 {
        self.final_regs[Reg::A0.to_usize()]
    }

    /// The register file before each row, reconstructed from the rows' writes and the host
    /// calls' writes alone; the last item is the state after the last row. The constraints see
    /// exactly this information, so it must reach [`Trace::final_regs`].
    pub fn replay_registers(&self) -> Vec<Regs> {
        let mut out = Vec::with_capacity(self.rows.len() + 1);
        let mut regs = self.initial_regs;
        let mut calls = self.host_calls.iter().peekable();
        for (i, row) in self.rows.iter().enumerate() {
            out.push(regs);
            if let Some((r, v)) = row.write {
                regs[r.to_usize()] = v;
            }
            while let Some(call) = calls.next_if(|c| c.row == i) {
                for &(r, v) in &call.reg_writes {
                    regs[r.to_usize()] = v;
                }
            }
        }
        out.push(regs);
        out
    }

    /// Executed rows per opcode class.
    pub fn class_counts(&self) -> BTreeMap<OpClass, usize> {
        let mut by_class = BTreeMap::new();
        for row in &self.rows {
            *by_class.entry(class(row.opcode)).or_insert(0) += 1;
        }
        by_class
    }
}

/// Why a host call stopped the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The call could not pay for itself.
    OutOfGas,
    /// Anything else (bad pointer, protocol violation).
    Fault(String),
}

/// The guest's view of the host while a call is answered: registers, gas and memory, with
/// every memory write recorded for the trace.
pub struct HostCtx<'a> {
    instance: &'a mut RawInstance,
    mem_writes: Vec<(u32, Vec<u8>)>,
}

impl std::fmt::Debug for HostCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCtx")
            .field("mem_writes", &self.mem_writes.len())
            .finish()
    }
}

impl HostCtx<'_> {
    /// A register's value.
    pub fn reg(&self, reg: Reg) -> u64 {
        self.instance.reg(reg)
    }

    /// Sets a register (the host call's results).
    pub fn set_reg(&mut self, reg: Reg, value: u64) {
        self.instance.set_reg(reg, value)
    }

    /// Gas left.
    pub fn gas(&self) -> i64 {
        self.instance.gas()
    }

    /// Sets the gas left (a host call charging for itself).
    pub fn set_gas(&mut self, gas: i64) {
        self.instance.set_gas(gas)
    }

    /// Reads guest memory.
    pub fn read_memory(&mut self, address: u32, buf: &mut [u8]) -> Result<(), HostError> {
        self.instance
            .read_memory_into(address, buf)
            .map(|_| ())
            .map_err(|e| HostError::Fault(format!("read at {address:#x}: {e}")))
    }

    /// Writes guest memory; recorded in the trace.
    pub fn write_memory(&mut self, address: u32, data: &[u8]) -> Result<(), HostError> {
        self.instance
            .write_memory(address, data)
            .map_err(|e| HostError::Fault(format!("write at {address:#x}: {e}")))?;
        self.mem_writes.push((address, data.to_vec()));
        Ok(())
    }
}

/// Answers the guest's host calls.
pub trait HostCalls {
    /// Handles the import named `import`: arguments in `A0..`, results written back with
    /// [`HostCtx::set_reg`].
    fn call(&mut self, import: &[u8], ctx: &mut HostCtx<'_>) -> Result<(), HostError>;
}

/// Loads a blob once and runs its exports, traced or not.
pub struct Tracer {
    traced: Module,
    plain: Module,
    /// The decoded instruction at each code offset and the offset after it (`None` inside an
    /// instruction).
    program: Vec<Option<(Instruction, u32)>>,
    /// The parsed blob (the jump table, for indirect jumps).
    blob: ProgramBlob,
    imports: Vec<String>,
    supported: Vec<Opcode>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("code_bytes", &self.program.len())
            .field("imports", &self.imports)
            .finish()
    }
}

fn module(
    engine: &Engine,
    program: &ProgramBlob,
    step_tracing: bool,
) -> Result<Module, TraceError> {
    let mut mc = ModuleConfig::new();
    // exec-reexec's settings (`vm.rs`, build_pre), so gas and out-of-gas points agree.
    mc.set_gas_metering(Some(GasMeteringKind::Sync));
    mc.set_cost_model(Some(CostModelKind::Simple(CostModel::naive_ref())));
    mc.set_step_tracing(step_tracing);
    Module::from_blob(engine, &mc, program.clone()).map_err(engine_err)
}

/// How a run ended, without a trace (the baseline the tracing overhead is measured against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainRun {
    /// The export's return value (`A0`).
    pub result: u64,
    /// Gas consumed.
    pub gas_used: u64,
}

/// The row being executed: what is known before the instruction runs.
struct Pending {
    pc: u32,
    instruction: Instruction,
    before: Regs,
}

fn regs_of(instance: &RawInstance) -> Regs {
    Reg::ALL.map(|r| instance.reg(r))
}

/// The address and width of `instruction`'s memory access given the registers before it, and
/// whether it is a store. Address arithmetic is PolkaVM's: base plus sign-extended offset,
/// truncated to 32 bits.
fn mem_operand(instruction: Instruction, regs: &Regs) -> Option<(u32, u8, bool)> {
    use Instruction as I;
    let abs = |offset: i32| offset as u32;
    let ind = |base: polkavm::program::RawReg, offset: i32| {
        regs[base.get().to_usize()].wrapping_add(offset as i64 as u64) as u32
    };
    Some(match instruction {
        I::load_u8(_, o) | I::load_i8(_, o) => (abs(o), 1, false),
        I::load_u16(_, o) | I::load_i16(_, o) => (abs(o), 2, false),
        I::load_u32(_, o) | I::load_i32(_, o) => (abs(o), 4, false),
        I::load_u64(_, o) => (abs(o), 8, false),
        I::load_indirect_u8(_, b, o) | I::load_indirect_i8(_, b, o) => (ind(b, o), 1, false),
        I::load_indirect_u16(_, b, o) | I::load_indirect_i16(_, b, o) => (ind(b, o), 2, false),
        I::load_indirect_u32(_, b, o) | I::load_indirect_i32(_, b, o) => (ind(b, o), 4, false),
        I::load_indirect_u64(_, b, o) => (ind(b, o), 8, false),
        I::store_u8(_, o) | I::store_imm_u8(o, _) => (abs(o), 1, true),
        I::store_u16(_, o) | I::store_imm_u16(o, _) => (abs(o), 2, true),
        I::store_u32(_, o) | I::store_imm_u32(o, _) => (abs(o), 4, true),
        I::store_u64(_, o) | I::store_imm_u64(o, _) => (abs(o), 8, true),
        I::store_indirect_u8(_, b, o) | I::store_imm_indirect_u8(b, o, _) => (ind(b, o), 1, true),
        I::store_indirect_u16(_, b, o) | I::store_imm_indirect_u16(b, o, _) => (ind(b, o), 2, true),
        I::store_indirect_u32(_, b, o) | I::store_imm_indirect_u32(b, o, _) => (ind(b, o), 4, true),
        I::store_indirect_u64(_, b, o) | I::store_imm_indirect_u64(b, o, _) => (ind(b, o), 8, true),
        _ => return None,
    })
}

impl Tracer {
    /// Parses `blob` and compiles it for the interpreter, refusing rows outside [`SUPPORTED`].
    pub fn new(blob: &[u8]) -> Result<Tracer, TraceError> {
        Tracer::with_supported(blob, SUPPORTED)
    }

    /// As [`Tracer::new`] with another supported set (tests of the refusal path).
    pub fn with_supported(blob: &[u8], supported: &[Opcode]) -> Result<Tracer, TraceError> {
        let program = parse(blob)?;
        let mut config = Config::new();
        // The interpreter is the only backend that can stop before every instruction.
        config.set_backend(Some(BackendKind::Interpreter));
        let engine = Engine::new(&config).map_err(engine_err)?;
        let traced = module(&engine, &program, true)?;
        let plain = module(&engine, &program, false)?;
        let mut table = vec![None; program.code().len()];
        for inst in program.instructions() {
            if let Some(slot) = table.get_mut(inst.offset.0 as usize) {
                *slot = Some((inst.kind, inst.next_offset.0));
            }
        }
        let imports = program.imports();
        let imports = (0..imports.len())
            .map(|i| {
                imports
                    .get(i)
                    .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Tracer {
            traced,
            plain,
            program: table,
            blob: program,
            imports,
            supported: supported.to_vec(),
        })
    }

    /// The program table entry at `pc`: the decoded instruction and the pc after it (what
    /// S2's fetch lookup reads), or `None` if `pc` is not an instruction boundary.
    pub fn instruction_at(&self, pc: u32) -> Option<(Instruction, u32)> {
        self.program.get(pc as usize).copied().flatten()
    }

    fn start(
        &self,
        module: &Module,
        export: &str,
        args: &[u64],
        gas: i64,
    ) -> Result<RawInstance, TraceError> {
        let max = Reg::ARG_REGS.len();
        if args.len() > max {
            return Err(TraceError::TooManyArgs {
                got: args.len(),
                max,
            });
        }
        let pc = module
            .exports()
            .find(|e| e.symbol().as_bytes() == export.as_bytes())
            .ok_or_else(|| TraceError::NoExport(export.into()))?
            .program_counter();
        let mut instance = module.instantiate().map_err(engine_err)?;
        instance.set_gas(gas);
        instance.prepare_call_untyped(pc, args);
        Ok(instance)
    }

    fn host_call(
        &self,
        instance: &mut RawInstance,
        index: u32,
        row: usize,
        host: &mut impl HostCalls,
    ) -> Result<HostCall, TraceError> {
        let import = self
            .imports
            .get(index as usize)
            .ok_or(TraceError::UnknownImport(index))?;
        let before = regs_of(instance);
        let mut ctx = HostCtx {
            instance,
            mem_writes: Vec::new(),
        };
        host.call(import.as_bytes(), &mut ctx)
            .map_err(|e| match e {
                HostError::OutOfGas => TraceError::OutOfGas { rows: row + 1 },
                HostError::Fault(message) => TraceError::Host {
                    row,
                    import: import.clone(),
                    message,
                },
            })?;
        let mem_writes = ctx.mem_writes;
        let after = regs_of(instance);
        let reg_writes = Reg::ALL
            .into_iter()
            .filter(|r| before[r.to_usize()] != after[r.to_usize()])
            .map(|r| (r, after[r.to_usize()]))
            .collect();
        Ok(HostCall {
            row,
            import: import.clone(),
            reg_writes,
            mem_writes,
        })
    }

    /// Runs `export(args)` without tracing: the baseline for the tracing overhead.
    pub fn run_plain(
        &self,
        export: &str,
        args: &[u64],
        host: &mut impl HostCalls,
        gas: i64,
    ) -> Result<PlainRun, TraceError> {
        let mut instance = self.start(&self.plain, export, args, gas)?;
        let mut calls = 0;
        loop {
            match instance.run().map_err(engine_err)? {
                InterruptKind::Finished => break,
                InterruptKind::Ecalli(index) => {
                    // Rows are not counted here: `row` only labels errors.
                    self.host_call(&mut instance, index, calls, host)?;
                    calls += 1;
                }
                InterruptKind::Trap => {
                    return Err(TraceError::Trap {
                        row: 0,
                        pc: instance.program_counter().map(|p| p.0),
                    })
                }
                InterruptKind::NotEnoughGas => return Err(TraceError::OutOfGas { rows: 0 }),
                InterruptKind::Segfault(s) => {
                    return Err(TraceError::Segfault {
                        row: 0,
                        page: s.page_address,
                    })
                }
                InterruptKind::Step => return Err(engine_err("step interrupt without tracing")),
            }
        }
        Ok(PlainRun {
            result: instance.reg(Reg::A0),
            gas_used: (gas - instance.gas()) as u64,
        })
    }

    /// The registers `export(args)` is entered with: PolkaVM's calling convention (return
    /// address, stack pointer, arguments), which a verifier derives without running anything.
    pub fn initial_regs(&self, export: &str, args: &[u64]) -> Result<Regs, TraceError> {
        Ok(regs_of(&self.start(&self.plain, export, args, 0)?))
    }

    /// Runs `export(args)` with `gas`, one row per executed instruction; refuses (with
    /// [`TraceError::UnsupportedRow`]) the first instruction outside the supported set and
    /// stops with [`TraceError::TooLong`] beyond `max_rows`.
    pub fn trace(
        &self,
        export: &str,
        args: &[u64],
        host: &mut impl HostCalls,
        gas: i64,
        max_rows: usize,
    ) -> Result<Trace, TraceError> {
        self.trace_with(export, args, host, gas, max_rows, None)
    }

    /// As [`Tracer::trace`], but row `row` runs at `pc`, whatever its predecessor computed:
    /// PolkaVM runs on from there with the registers and memory it has. Not an execution of
    /// the program: tests build wrong paths with it that are consistent everywhere but at
    /// that one step (a branch taken against its condition).
    #[allow(clippy::too_many_arguments)]
    pub fn trace_diverted(
        &self,
        export: &str,
        args: &[u64],
        host: &mut impl HostCalls,
        gas: i64,
        max_rows: usize,
        row: usize,
        pc: u32,
    ) -> Result<Trace, TraceError> {
        self.trace_with(export, args, host, gas, max_rows, Some((row, pc)))
    }

    fn trace_with(
        &self,
        export: &str,
        args: &[u64],
        host: &mut impl HostCalls,
        gas: i64,
        max_rows: usize,
        mut divert: Option<(usize, u32)>,
    ) -> Result<Trace, TraceError> {
        let mut instance = self.start(&self.traced, export, args, gas)?;
        let initial_regs = regs_of(&instance);
        let mut rows: Vec<Row> = Vec::new();
        let mut host_calls = Vec::new();
        let mut pending: Option<Pending> = None;
        loop {
            let interrupt = instance.run().map_err(engine_err)?;
            match interrupt {
                InterruptKind::Step => {
                    let regs = regs_of(&instance);
                    let pc = instance
                        .program_counter()
                        .ok_or_else(|| engine_err("step without a program counter"))?
                        .0;
                    let row = rows.len() + usize::from(pending.is_some());
                    if let Some((_, to)) = divert.filter(|&(at, _)| at == row) {
                        divert = None;
                        if to != pc {
                            // Nothing ran since the last step: resume at `to` instead, which
                            // steps again there (and finishes the pending row with it).
                            instance.set_next_program_counter(ProgramCounter(to));
                            continue;
                        }
                    }
                    if let Some(p) = pending.take() {
                        let row = self.finish(&mut instance, rows.len(), p, &regs, Some(pc))?;
                        rows.push(row);
                    }
                    if rows.len() >= max_rows {
                        return Err(TraceError::TooLong(max_rows));
                    }
                    let row = rows.len();
                    let instruction = self
                        .program
                        .get(pc as usize)
                        .copied()
                        .flatten()
                        .ok_or(TraceError::NotAnInstruction { row, pc })?
                        .0;
                    let opcode = instruction.opcode();
                    if !self.supported.contains(&opcode) {
                        return Err(TraceError::UnsupportedRow {
                            row,
                            pc,
                            opcode: opcode.name(),
                        });
                    }
                    pending = Some(Pending {
                        pc,
                        instruction,
                        before: regs,
                    });
                }
                InterruptKind::Ecalli(index) => {
                    let call = self.host_call(&mut instance, index, rows.len(), host)?;
                    host_calls.push(call);
                }
                InterruptKind::Finished => {
                    let regs = regs_of(&instance);
                    if let Some(p) = pending.take() {
                        let row = self.finish(&mut instance, rows.len(), p, &regs, None)?;
                        rows.push(row);
                    }
                    return Ok(Trace {
                        initial_regs,
                        rows,
                        host_calls,
                        final_regs: regs,
                        gas_used: (gas - instance.gas()) as u64,
                    });
                }
                InterruptKind::Trap => {
                    return Err(TraceError::Trap {
                        row: rows.len(),
                        pc: pending.map(|p| p.pc),
                    })
                }
                InterruptKind::NotEnoughGas => {
                    return Err(TraceError::OutOfGas { rows: rows.len() })
                }
                InterruptKind::Segfault(s) => {
                    return Err(TraceError::Segfault {
                        row: rows.len(),
                        page: s.page_address,
                    })
                }
            }
        }
    }

    /// Completes a row once the registers after it are known.
    fn finish(
        &self,
        instance: &mut RawInstance,
        row: usize,
        p: Pending,
        after: &Regs,
        next_pc: Option<u32>,
    ) -> Result<Row, TraceError> {
        let opcode = p.instruction.opcode();
        let write = if opcode == Opcode::ecalli {
            // The host's register writes are in its HostCall record.
            None
        } else {
            let mut changed = Reg::ALL
                .into_iter()
                .filter(|r| p.before[r.to_usize()] != after[r.to_usize()]);
            let first = changed.next();
            let extra = changed.count();
            if extra > 0 {
                return Err(TraceError::MultipleWrites {
                    row,
                    pc: p.pc,
                    opcode: opcode.name(),
                    count: extra + 1,
                });
            }
            first.map(|r| (r, after[r.to_usize()]))
        };
        let mem = match mem_operand(p.instruction, &p.before) {
            None => None,
            Some((address, width, store)) => {
                let mut buf = [0u8; 8];
                instance
                    .read_memory_into(address, &mut buf[..usize::from(width)])
                    .map_err(|e| TraceError::Memory {
                        row,
                        address,
                        width,
                        message: e.to_string(),
                    })?;
                Some(MemAccess {
                    address,
                    width,
                    store,
                    value: u64::from_le_bytes(buf),
                })
            }
        };
        Ok(Row {
            pc: p.pc,
            opcode,
            write,
            mem,
            next_pc,
        })
    }
}

/// What the semantics of one instruction say a row must record.
struct Effect {
    write: Option<(Reg, u64)>,
    /// The stored value (zero-extended to 64 bits), for stores.
    stored: Option<u64>,
    /// `None`: returned to the host.
    next_pc: Option<u32>,
}

/// Sign-extended immediate, as PolkaVM reads every `i32` operand on 64-bit.
fn sext(imm: i32) -> u64 {
    imm as i64 as u64
}

fn width_mask(width: u8) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * u32::from(width))) - 1
    }
}

impl Tracer {
    /// The native oracle for S2's row constraints: re-derives every non-host row's register
    /// write, stored value and next pc from the program table, the registers before it
    /// (replayed from the trace itself) and, for loads, the recorded memory value. A row the
    /// oracle has no semantics for is refused like the tracer refuses it.
    pub fn check(&self, trace: &Trace) -> Result<(), TraceError> {
        // The registers before each row, replayed as `replay_registers` does but streamed:
        // materialising them costs 104 bytes a row.
        let mut regs = trace.initial_regs;
        let mut calls = trace.host_calls.iter().peekable();
        for (i, row) in trace.rows.iter().enumerate() {
            self.check_row(i, row, &regs)?;
            if let Some((r, v)) = row.write {
                regs[r.to_usize()] = v;
            }
            while let Some(call) = calls.next_if(|c| c.row == i) {
                for &(r, v) in &call.reg_writes {
                    regs[r.to_usize()] = v;
                }
            }
        }
        if regs != trace.final_regs {
            return Err(TraceError::Semantics {
                row: trace.rows.len(),
                pc: trace.rows.last().map_or(0, |r| r.pc),
                opcode: trace.rows.last().map_or("", |r| r.opcode.name()),
                detail: "the rows do not replay to the final registers".into(),
            });
        }
        Ok(())
    }

    /// One row against its instruction, given the registers before it.
    fn check_row(&self, i: usize, row: &Row, before: &Regs) -> Result<(), TraceError> {
        let fail = |detail: String| TraceError::Semantics {
            row: i,
            pc: row.pc,
            opcode: row.opcode.name(),
            detail,
        };
        let (instruction, next) = self
            .instruction_at(row.pc)
            .ok_or(TraceError::NotAnInstruction { row: i, pc: row.pc })?;
        if instruction.opcode() != row.opcode {
            return Err(fail(format!(
                "the program table has {} at this pc",
                instruction.opcode()
            )));
        }
        let expected_mem = mem_operand(instruction, before);
        match (expected_mem, row.mem) {
            (None, None) => {}
            (Some((address, width, store)), Some(m))
                if m.address == address && m.width == width && m.store == store => {}
            (e, r) => return Err(fail(format!("memory access {r:?}, expected {e:?}"))),
        }
        if row.opcode == Opcode::ecalli {
            // The host's effects are inputs to the proof, not consequences of the row.
            if row.write.is_some() || row.next_pc != Some(next) {
                return Err(fail(
                    "a host call row writes nothing and falls through".into(),
                ));
            }
            return Ok(());
        }
        let effect = self
            .semantics(instruction, before, row.mem.map(|m| m.value), next)
            .ok_or(TraceError::UnsupportedRow {
                row: i,
                pc: row.pc,
                opcode: row.opcode.name(),
            })?;
        // A write of the register's old value is invisible in the trace.
        let write = effect.write.filter(|&(r, v)| before[r.to_usize()] != v);
        if write != row.write {
            return Err(fail(format!("wrote {:?}, expected {write:?}", row.write)));
        }
        if let (Some(v), Some(m)) = (effect.stored, row.mem) {
            if m.value != v & width_mask(m.width) {
                return Err(fail(format!("stored {:#x}, expected {v:#x}", m.value)));
            }
        }
        if effect.next_pc != row.next_pc {
            return Err(fail(format!(
                "next pc {:?}, expected {:?}",
                row.next_pc, effect.next_pc
            )));
        }
        Ok(())
    }

    /// The target of an indirect jump to `address`: the jump table entry, or `None` for the
    /// return-to-host address. An address that is neither traps, which a completed trace
    /// cannot contain.
    fn indirect(&self, address: u32) -> Option<Option<u32>> {
        if u64::from(address) == polkavm::RETURN_TO_HOST {
            return Some(None);
        }
        self.blob
            .jump_table()
            .get_by_address(address)
            .map(|pc| Some(pc.0))
    }

    /// One instruction's effect on 64-bit PolkaVM, for the opcodes in [`SUPPORTED`]; `None`
    /// for any other (and for an indirect jump to a non-target).
    fn semantics(
        &self,
        instruction: Instruction,
        regs: &Regs,
        loaded: Option<u64>,
        next: u32,
    ) -> Option<Effect> {
        use Instruction as I;
        let r = |reg: polkavm::program::RawReg| regs[reg.get().to_usize()];
        let set = |d: polkavm::program::RawReg, v: u64| Effect {
            write: Some((d.get(), v)),
            stored: None,
            next_pc: Some(next),
        };
        let store = |v: u64| Effect {
            write: None,
            stored: Some(v),
            next_pc: Some(next),
        };
        let goto = |taken: bool, target: u32| Effect {
            write: None,
            stored: None,
            next_pc: Some(if taken { target } else { next }),
        };
        Some(match instruction {
            I::fallthrough | I::unlikely => goto(false, next),
            I::load_imm(d, imm) => set(d, sext(imm)),
            I::load_imm64(d, imm) => set(d, imm),
            I::move_reg(d, s) => set(d, r(s)),
            I::add_64(d, a, b) => set(d, r(a).wrapping_add(r(b))),
            I::add_imm_64(d, a, imm) => set(d, r(a).wrapping_add(sext(imm))),
            I::sub_64(d, a, b) => set(d, r(a).wrapping_sub(r(b))),
            I::and_imm(d, a, imm) => set(d, r(a) & sext(imm)),
            I::or(d, a, b) => set(d, r(a) | r(b)),
            I::or_imm(d, a, imm) => set(d, r(a) | sext(imm)),
            I::xor(d, a, b) => set(d, r(a) ^ r(b)),
            I::shift_logical_left_imm_64(d, a, imm) => set(d, r(a) << (imm as u32 & 63)),
            I::shift_logical_right_imm_64(d, a, imm) => set(d, r(a) >> (imm as u32 & 63)),
            I::set_less_than_unsigned_imm(d, a, imm) => set(d, u64::from(r(a) < sext(imm))),
            I::set_greater_than_unsigned_imm(d, a, imm) => set(d, u64::from(r(a) > sext(imm))),
            // Byte loads zero-extend; the 64-bit load is the word itself.
            I::load_u8(d, _) | I::load_indirect_u8(d, _, _) => set(d, loaded? & 0xff),
            I::load_indirect_u64(d, _, _) | I::load_u64(d, _) => set(d, loaded?),
            I::store_imm_u8(_, v)
            | I::store_imm_indirect_u8(_, _, v)
            | I::store_imm_indirect_u64(_, _, v)
            | I::store_imm_u64(_, v) => store(sext(v)),
            I::store_indirect_u8(s, _, _) | I::store_indirect_u64(s, _, _) | I::store_u64(s, _) => {
                store(r(s))
            }
            I::branch_eq_imm(a, imm, t) => goto(r(a) == sext(imm), t),
            I::branch_not_eq_imm(a, imm, t) => goto(r(a) != sext(imm), t),
            I::branch_less_unsigned_imm(a, imm, t) => goto(r(a) < sext(imm), t),
            I::branch_greater_or_equal_unsigned_imm(a, imm, t) => goto(r(a) >= sext(imm), t),
            I::branch_eq(a, b, t) => goto(r(a) == r(b), t),
            I::branch_greater_unsigned_imm(a, imm, t) => goto(r(a) > sext(imm), t),
            I::branch_not_eq(a, b, t) => goto(r(a) != r(b), t),
            I::branch_less_unsigned(a, b, t) => goto(r(a) < r(b), t),
            I::branch_greater_or_equal_unsigned(a, b, t) => goto(r(a) >= r(b), t),
            I::jump(t) => goto(true, t),
            I::load_imm_and_jump(d, imm, t) => Effect {
                write: Some((d.get(), sext(imm))),
                stored: None,
                next_pc: Some(t),
            },
            I::jump_indirect(base, imm) => Effect {
                write: None,
                stored: None,
                next_pc: self.indirect(r(base).wrapping_add(sext(imm)) as u32)?,
            },
            _ => return None,
        })
    }
}
