//! The execution trace of the committed workload blob (S2's input): the opcode inventory stays
//! inside the constrained subset, and a traced block reproduces re-execution exactly.

mod pool_host;

use std::collections::BTreeSet;

use diverge_pcvm::trace::{inventory, Trace, TraceError, Tracer, SUPPORTED};
use exec_reexec::state::PoolState;
use exec_reexec::tx::guest_input;
use exec_reexec::vm::{Backend, BlockRun, Vm, GUEST_BLOB};
use exec_reexec::workload::{Generator, WorkloadConfig};
use exec_reexec::DEFAULT_GAS_LIMIT;
use polkavm::program::Opcode;
use pool_host::PoolHost;

/// Transactions per block in the default scenario (`configs/README.md`, `txs`).
const DEFAULT_TXS: usize = 32;

#[test]
fn inventory_matches_supported() {
    let inv = inventory(GUEST_BLOB).expect("the committed blob parses");
    println!("{inv}");
    inv.check(SUPPORTED)
        .expect("the workload blob uses an opcode the trace constraints do not cover");
    let used: BTreeSet<Opcode> = inv.opcode_set().into_iter().collect();
    let unused: Vec<&str> = SUPPORTED
        .iter()
        .filter(|o| !used.contains(o))
        .map(|o| o.name())
        .collect();
    assert!(
        unused.is_empty(),
        "SUPPORTED lists opcodes the workload blob no longer uses (drop their constraints): {unused:?}"
    );
    assert_eq!(used.len(), SUPPORTED.len(), "SUPPORTED has duplicates");
}

#[test]
fn an_uncovered_opcode_is_named() {
    let inv = inventory(GUEST_BLOB).expect("parses");
    let without_xor: Vec<Opcode> = SUPPORTED
        .iter()
        .copied()
        .filter(|&o| o != Opcode::xor)
        .collect();
    let err = inv.check(&without_xor).expect_err("xor is used");
    let msg = err.to_string();
    assert!(msg.contains("xor (Bitwise, "), "{msg}");
    assert!(
        !msg.contains("add_64"),
        "only the missing opcode is named: {msg}"
    );
}

#[test]
fn bad_blobs_are_errors() {
    for blob in [
        &b""[..],
        b"PVM\0",
        b"not a blob at all",
        &GUEST_BLOB[..GUEST_BLOB.len() / 2],
    ] {
        assert!(matches!(inventory(blob), Err(TraceError::Parse(_))));
        assert!(matches!(Tracer::new(blob), Err(TraceError::Parse(_))));
    }
    // Every single-byte corruption of the header region: an error or a (different) program,
    // never a panic.
    for i in 0..64.min(GUEST_BLOB.len()) {
        let mut blob = GUEST_BLOB.to_vec();
        blob[i] ^= 0xa5;
        let _ = inventory(&blob);
    }
}

fn blocks(n: usize, txs: usize) -> Vec<Vec<u8>> {
    let mut g = Generator::new(WorkloadConfig::default());
    (0..n).map(|_| guest_input(&g.block(txs))).collect()
}

/// Re-executes `input` on `pre` with exec-reexec (interpreter) and traces it; both must agree.
fn trace_block(pre: &PoolState, input: Vec<u8>) -> (Trace, PoolHost, BlockRun, Tracer) {
    let mut vm = Vm::new(Backend::Interpreter).expect("engine");
    let run = vm
        .run_block(pre, input.clone(), DEFAULT_GAS_LIMIT)
        .expect("re-execution");
    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let mut host = PoolHost::new(pre, input);
    let trace = tracer
        .trace(
            "apply_block",
            &[],
            &mut host,
            DEFAULT_GAS_LIMIT as i64,
            usize::MAX,
        )
        .expect("trace");
    (trace, host, run, tracer)
}

/// The completeness anchor: the trace's return value, host-visible effects and gas are
/// re-execution's, and the rows alone (plus host writes) replay to the final registers.
fn assert_matches(trace: &Trace, host: PoolHost, run: &BlockRun, pre: &PoolState) {
    assert_eq!(
        trace.result(),
        run.results.len() as u64,
        "apply_block's return"
    );
    assert_eq!(trace.gas_used, run.gas_used, "gas, host calls included");
    let applied = host
        .0
        .finish(pre, trace.result())
        .expect("the guest stored its state, one result per transaction");
    assert_eq!(applied.results, run.results, "per-transaction results");
    assert_eq!(applied.root, run.root.0, "guest-computed state root");
    let post = applied.post;
    assert_eq!(post.root(), run.post.root(), "post-state");
    assert_eq!(post.nullifiers.len(), run.post.nullifiers.len());

    let replay = trace.replay_registers();
    assert_eq!(
        replay.last(),
        Some(&trace.final_regs),
        "rows replay to the end state"
    );
    assert_eq!(replay.len(), trace.rows.len() + 1);
    for (i, pair) in trace.rows.windows(2).enumerate() {
        assert_eq!(pair[0].next_pc, Some(pair[1].pc), "row {i}'s next pc");
    }
    assert_eq!(trace.rows.last().and_then(|r| r.next_pc), None);
    let ecalli = trace
        .rows
        .iter()
        .filter(|r| r.opcode == Opcode::ecalli)
        .count();
    assert_eq!(
        ecalli,
        trace.host_calls.len(),
        "one host call per ecalli row"
    );
    // The instructions' gas is one per instruction (naive cost model), so rows plus the host
    // calls' fixed prices is all the gas: a missing or duplicated row would show here.
    assert!(trace.rows.len() as u64 <= trace.gas_used);
}

/// What S3's memory argument must cover, measured on a block (`docs/PCVM-MEMORY.md`): the
/// widths are bytes and 64-bit words only, every word access is 8-aligned and inside the
/// verifier's memory table, and the regions.
fn memory_profile(trace: &Trace) {
    use std::collections::{BTreeMap, HashSet};
    let mut by_kind: BTreeMap<(bool, u8), usize> = BTreeMap::new();
    let (mut bytes, mut words) = (HashSet::new(), HashSet::new());
    let mut written: HashSet<u32> = HashSet::new();
    let mut regions: BTreeMap<u32, usize> = BTreeMap::new();
    let mut unwritten_reads = 0usize;
    let table = diverge_pcvm::fetch::ProgramTable::from_blob(GUEST_BLOB).expect("table");
    let memory = &table.memory;
    let mut calls = trace.host_calls.iter().peekable();
    for (k, row) in trace.rows.iter().enumerate() {
        if let Some(m) = row.mem {
            *by_kind.entry((m.store, m.width)).or_default() += 1;
            assert!(
                matches!(m.width, 1 | 8),
                "row {k}: a {}-byte access",
                m.width
            );
            if m.width == 8 {
                assert_eq!(m.address % 8, 0, "row {k}: an unaligned word access");
            }
            assert!(
                memory.index_of(m.address & !7).is_some(),
                "row {k}: {:#x} is outside the memory table",
                m.address
            );
            *regions.entry(m.address >> 16).or_default() += 1;
            words.insert(m.address >> 3);
            for a in m.address..m.address + m.width as u32 {
                bytes.insert(a);
                if m.store {
                    written.insert(a);
                } else if !written.contains(&a) {
                    unwritten_reads += 1;
                }
            }
        }
        while let Some(c) = calls.next_if(|c| c.row == k) {
            for (addr, data) in &c.mem_writes {
                written.extend(*addr..*addr + data.len() as u32);
            }
        }
    }
    let mut host: BTreeMap<&str, (usize, usize, BTreeSet<u32>)> = BTreeMap::new();
    for c in &trace.host_calls {
        let e = host.entry(c.import.as_str()).or_default();
        e.0 += 1;
        for (addr, data) in &c.mem_writes {
            e.1 += data.len();
            e.2.insert(addr >> 16);
        }
    }
    println!("host calls (count, bytes written, 64 KiB regions): {host:?}");
    println!("memory table: 2^{} words", memory.log_entries);
    println!(
        "memory: accesses (store, width) {by_kind:?}; {} bytes in {} words touched; {unwritten_reads} byte reads of memory neither the guest nor the host wrote; accesses per 64 KiB region {regions:?}",
        bytes.len(),
        words.len()
    );
}

#[test]
fn a_default_block_traces_to_reexecutions_results() {
    let inputs = blocks(2, DEFAULT_TXS);
    let genesis = PoolState::genesis();
    let (trace, host, run, tracer) = trace_block(&genesis, inputs[0].clone());
    assert_matches(&trace, host, &run, &genesis);
    tracer
        .check(&trace)
        .expect("every row follows its opcode's semantics");
    println!(
        "block 1 ({DEFAULT_TXS} txs): {} rows, {} host calls, {} gas",
        trace.rows.len(),
        trace.host_calls.len(),
        trace.gas_used
    );
    println!("executed rows by class: {:?}", trace.class_counts());
    let loads = trace
        .rows
        .iter()
        .filter(|r| r.mem.is_some_and(|m| !m.store))
        .count();
    let stores = trace
        .rows
        .iter()
        .filter(|r| r.mem.is_some_and(|m| m.store))
        .count();
    let host_bytes: usize = trace
        .host_calls
        .iter()
        .flat_map(|c| &c.mem_writes)
        .map(|(_, b)| b.len())
        .sum();
    println!(
        "loads {loads}, stores {stores}, host-written bytes {host_bytes}, {} bytes a row",
        std::mem::size_of::<diverge_pcvm::trace::Row>()
    );
    memory_profile(&trace);
    let (first, next) = tracer
        .instruction_at(trace.rows[0].pc)
        .expect("entry point");
    assert_eq!(first.opcode(), trace.rows[0].opcode);
    assert!(next > trace.rows[0].pc);
    assert_eq!(tracer.instruction_at(u32::MAX), None);

    // The second block starts from a state with spent nullifiers (cross-block double spends).
    let (trace2, host2, run2, _) = trace_block(&run.post, inputs[1].clone());
    assert_matches(&trace2, host2, &run2, &run.post);
    tracer.check(&trace2).expect("block 2 rows");
    // Opcodes the blob has but these blocks never execute: their semantics are exercised by
    // the oracle only when a workload reaches them.
    let executed: BTreeSet<Opcode> = trace
        .rows
        .iter()
        .chain(&trace2.rows)
        .map(|r| r.opcode)
        .collect();
    let unexecuted: Vec<&str> = SUPPORTED
        .iter()
        .filter(|o| !executed.contains(o))
        .map(|o| o.name())
        .collect();
    println!("supported but not executed by these blocks: {unexecuted:?}");
    assert!(
        run2.results.iter().any(|&r| r != 0),
        "the workload includes rejected txs"
    );
}

#[test]
fn plain_and_traced_runs_agree() {
    let input = blocks(1, 4).remove(0);
    let genesis = PoolState::genesis();
    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let gas = DEFAULT_GAS_LIMIT as i64;
    let plain = tracer
        .run_plain(
            "apply_block",
            &[],
            &mut PoolHost::new(&genesis, input.clone()),
            gas,
        )
        .expect("plain run");
    let trace = tracer
        .trace(
            "apply_block",
            &[],
            &mut PoolHost::new(&genesis, input),
            gas,
            usize::MAX,
        )
        .expect("trace");
    assert_eq!(plain.result, trace.result());
    assert_eq!(plain.gas_used, trace.gas_used);
    // A verifier derives the entry registers without a run: they are the trace's.
    assert_eq!(
        tracer
            .initial_regs("apply_block", &[])
            .expect("entry registers"),
        trace.initial_regs
    );
    let other = tracer
        .initial_regs("hash_input", &[7, 0xfffd_0000])
        .expect("entry registers");
    assert_eq!(other[polkavm::Reg::A1.to_usize()], 0xfffd_0000);
    assert_ne!(
        other, trace.initial_regs,
        "the arguments are in the registers"
    );
}

#[test]
fn the_prover_refuses_uncovered_rows_and_limits() {
    let input = blocks(1, 2).remove(0);
    let genesis = PoolState::genesis();
    let gas = DEFAULT_GAS_LIMIT as i64;
    let without_xor: Vec<Opcode> = SUPPORTED
        .iter()
        .copied()
        .filter(|&o| o != Opcode::xor)
        .collect();
    let tracer = Tracer::with_supported(GUEST_BLOB, &without_xor).expect("tracer");
    let err = tracer
        .trace(
            "apply_block",
            &[],
            &mut PoolHost::new(&genesis, input.clone()),
            gas,
            usize::MAX,
        )
        .expect_err("xor executes");
    assert!(
        matches!(err, TraceError::UnsupportedRow { opcode: "xor", .. }),
        "{err}"
    );

    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let mut host = PoolHost::new(&genesis, input.clone());
    assert_eq!(
        tracer.trace("apply_block", &[], &mut host, gas, 1000),
        Err(TraceError::TooLong(1000))
    );
    let mut host = PoolHost::new(&genesis, input.clone());
    assert!(matches!(
        tracer.trace("apply_block", &[], &mut host, 5_000, usize::MAX),
        Err(TraceError::OutOfGas { .. })
    ));
    let mut host = PoolHost::new(&genesis, input);
    assert_eq!(
        tracer.trace("no_such_export", &[], &mut host, gas, usize::MAX),
        Err(TraceError::NoExport("no_such_export".into()))
    );
}

#[test]
fn the_oracle_rejects_tampered_rows() {
    let input = blocks(1, 2).remove(0);
    let genesis = PoolState::genesis();
    let (trace, _, _, tracer) = trace_block(&genesis, input);
    tracer.check(&trace).expect("honest trace");
    let find = |f: &dyn Fn(&diverge_pcvm::trace::Row) -> bool| {
        trace.rows.iter().position(f).expect("such a row exists")
    };
    let semantic_failure_at = |t: &Trace, row: usize| match tracer.check(t) {
        Err(TraceError::Semantics { row: r, .. }) => assert_eq!(r, row),
        other => panic!("expected a semantics failure at row {row}, got {other:?}"),
    };

    let i = find(&|r| r.opcode == Opcode::xor && r.write.is_some());
    let mut t = trace.clone();
    if let Some((_, v)) = t.rows[i].write.as_mut() {
        *v ^= 1;
    }
    semantic_failure_at(&t, i);

    let i = find(&|r| r.opcode == Opcode::branch_not_eq);
    let mut t = trace.clone();
    t.rows[i].next_pc = t.rows[i].next_pc.map(|pc| pc + 1);
    semantic_failure_at(&t, i);

    let i = find(&|r| r.opcode == Opcode::store_indirect_u64);
    let mut t = trace.clone();
    if let Some(m) = t.rows[i].mem.as_mut() {
        m.value = m.value.wrapping_add(1);
    }
    semantic_failure_at(&t, i);

    let i = find(&|r| r.opcode == Opcode::load_indirect_u8);
    let mut t = trace.clone();
    if let Some(m) = t.rows[i].mem.as_mut() {
        m.address ^= 8;
    }
    semantic_failure_at(&t, i);

    // A row claiming another opcode than the program table's.
    let i = find(&|r| r.opcode == Opcode::add_64);
    let mut t = trace.clone();
    t.rows[i].opcode = Opcode::sub_64;
    semantic_failure_at(&t, i);
}
