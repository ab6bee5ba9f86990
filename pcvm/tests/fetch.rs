//! The fetch argument on the workload's real trace: the honest proof verifies, and every way of
//! fetching what the blob does not say (wrong pc, opcode, operand, count, blob) is rejected by
//! the verifier alone, never by a panic.

mod common;
mod pool_host;

use std::sync::OnceLock;

use common::{small_trace, table, trace_of};
use diverge_pcvm::fetch::{
    self, field, FetchError, FetchProof, FetchWitness, ProgramTable, COLUMNS, FIELDS, PAD_OPCODE,
};
use diverge_pcvm::sumcheck::SumcheckProof;
use diverge_pcvm::trace::Tracer;
use diverge_pcvm::{codec, F128, F32};
use exec_reexec::vm::GUEST_BLOB;
use ligerito_binary_fields::BinaryFieldElement;

/// The first rows of the real trace, at the table's size: where the cheating provers work.
fn prefix_pcs() -> Vec<u32> {
    let rows = 1usize << table().log_entries;
    small_trace().rows[..rows - 100]
        .iter()
        .map(|r| r.pc)
        .collect()
}

fn prefix_witness() -> FetchWitness {
    FetchWitness::new(table(), &prefix_pcs(), table().log_entries).expect("witness")
}

fn prefix_proof() -> &'static FetchProof {
    static P: OnceLock<FetchProof> = OnceLock::new();
    P.get_or_init(|| fetch::prove(table(), &prefix_witness()).expect("prove"))
}

fn verify_prefix(proof: &FetchProof) -> Result<(), FetchError> {
    fetch::verify(table(), table().log_entries, proof)
}

#[test]
fn table_matches_the_blob() {
    let t = table();
    let tracer = Tracer::new(GUEST_BLOB).expect("tracer");
    let inv = diverge_pcvm::trace::inventory(GUEST_BLOB).expect("inventory");
    assert_eq!(t.instructions, inv.instructions);
    assert_eq!(t.entries.len(), 1 << t.log_entries);
    assert!(t.entries.len() > t.instructions, "a padding entry exists");
    for e in &t.entries[..t.instructions] {
        let (inst, next) = tracer
            .instruction_at(e[field::PC])
            .expect("every entry's pc is an instruction boundary");
        assert_eq!(Some(e[field::OPCODE]), fetch::opcode_code(inst.opcode()));
        assert_eq!(e[field::NEXT_PC], next);
    }
    let code_len = inv.code_bytes as u32;
    let ecalli = fetch::opcode_code(polkavm::program::Opcode::ecalli);
    let sites: Vec<&fetch::Entry> = t.entries[..t.instructions]
        .iter()
        .filter(|e| Some(e[field::OPCODE]) == ecalli)
        .collect();
    assert!(!sites.is_empty(), "the workload makes host calls");
    for (k, e) in t.entries[t.instructions..].iter().enumerate() {
        // Past the code and not `code_len` itself (the last instruction's next pc).
        assert_eq!(e[field::PC], code_len + 1 + k as u32);
        assert!(tracer.instruction_at(e[field::PC]).is_none());
        assert!(e[field::REG_A..=field::REG_C]
            .iter()
            .chain(&e[field::WRITE..=field::WRITE])
            .all(|&x| x == fetch::NO_REG));
        assert!(e[field::IMM_LO..=field::IMM_HI].iter().all(|&x| x == 0));
        assert!(e[field::CTL..].iter().all(|&x| x == 0));
        match sites.get(k.wrapping_sub(1)).filter(|_| k > 0) {
            // Call site `k − 1`'s host entry: entered from the call, back to after it.
            Some(site) => {
                assert_eq!(e[field::OPCODE], fetch::HOST_OPCODE);
                assert_eq!(site[field::TARGET], e[field::PC]);
                assert_eq!(e[field::TARGET], e[field::PC]);
                assert_eq!(e[field::NEXT_PC], site[field::NEXT_PC]);
                assert_eq!(e[field::JADDR], 0);
            }
            // Padding: absorbing; only the first is the halt's.
            None => {
                assert_eq!(e[field::OPCODE], PAD_OPCODE);
                assert_eq!(e[field::NEXT_PC], e[field::PC]);
                assert_eq!(e[field::TARGET], 0);
                let halt = if k == 0 {
                    polkavm::RETURN_TO_HOST as u32
                } else {
                    0
                };
                assert_eq!(e[field::JADDR], halt);
            }
        }
    }
    // Jump-table addresses: distinct, even, nonzero, and each names a valid jump target.
    let mut addresses: Vec<u32> = t.entries[..t.instructions]
        .iter()
        .map(|e| e[field::JADDR])
        .filter(|&a| a != 0)
        .collect();
    assert!(
        !addresses.is_empty(),
        "the workload's returns use the jump table"
    );
    addresses.sort_unstable();
    let len = addresses.len();
    addresses.dedup();
    assert_eq!(addresses.len(), len, "one address per pc");
    assert!(addresses.iter().all(|a| a % 2 == 0));
    let mut pcs: Vec<u32> = t.entries.iter().map(|e| e[field::PC]).collect();
    pcs.sort_unstable();
    pcs.dedup();
    assert_eq!(pcs.len(), t.entries.len(), "table pcs are distinct");
    println!(
        "program table: {} instructions, 2^{} entries",
        t.instructions, t.log_entries
    );
}

/// A whole real block (two transactions) proves and verifies; a proof does not verify at
/// another row count.
#[test]
fn a_real_block_trace_proves_and_verifies() {
    let trace = small_trace();
    let log_rows = table().log_rows_for(trace.rows.len());
    let w = FetchWitness::from_trace(table(), trace, log_rows).expect("witness");
    assert_eq!(fetch::check(table(), &w), Ok(()));
    let start = std::time::Instant::now();
    let proof = fetch::prove(table(), &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    assert_eq!(fetch::verify(table(), log_rows, &proof), Ok(()));
    assert_eq!(fetch::verify_blob(GUEST_BLOB, log_rows, &proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3 / 2.0;
    assert!(fetch::verify(table(), log_rows + 1, &proof).is_err());
    println!(
        "{} rows (2^{log_rows}): prove {prove_ms:.0} ms, verify {verify_ms:.1} ms, {} proof bytes",
        trace.rows.len(),
        fetch::proof_bytes(&proof)
    );
}

/// The default block (32 transactions, ~909k rows, 2^20).
/// `cargo test -p diverge-pcvm --test fetch -- --ignored --nocapture`
#[test]
#[ignore = "heavy: a 2^20-row trace and a 2^24 commitment"]
fn the_default_block_proves_and_verifies() {
    let trace = trace_of(32);
    let log_rows = table().log_rows_for(trace.rows.len());
    let w = FetchWitness::from_trace(table(), &trace, log_rows).expect("witness");
    let start = std::time::Instant::now();
    let proof = fetch::prove(table(), &w).expect("prove");
    let prove_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    assert_eq!(fetch::verify(table(), log_rows, &proof), Ok(()));
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "default block {} rows (2^{log_rows}): prove {prove_ms:.0} ms, verify {verify_ms:.1} ms, {} proof bytes",
        trace.rows.len(),
        fetch::proof_bytes(&proof)
    );
}

#[test]
fn the_honest_prefix_verifies() {
    assert_eq!(verify_prefix(prefix_proof()), Ok(()));
    // Row counts the statement cannot have: typed errors, from the prover and the verifier.
    let t = table();
    for log_rows in [0, t.log_entries - 1, fetch::MAX_LOG_ROWS + 1, usize::MAX] {
        assert!(fetch::verify(t, log_rows, prefix_proof()).is_err());
    }
    let pcs = prefix_pcs();
    assert!(matches!(
        FetchWitness::new(t, &pcs, t.log_entries - 1),
        Err(FetchError::Rows { .. })
    ));
    let too_many = vec![pcs[0]; (1 << t.log_entries) + 1];
    assert!(matches!(
        FetchWitness::new(t, &too_many, t.log_entries),
        Err(FetchError::Rows { .. })
    ));
    let mut short = prefix_witness();
    short.read_ts.pop();
    assert!(matches!(
        fetch::prove_unchecked(t, &short),
        Err(FetchError::Rows { .. })
    ));
}

/// Prove a tampered witness without the native check; the check must refuse it and the
/// verifier reject the proof.
fn assert_cheat_rejected(w: &FetchWitness, what: &str) {
    assert!(
        fetch::check(table(), w).is_err(),
        "{what}: the oracle sees it"
    );
    assert!(
        fetch::prove(table(), w).is_err(),
        "{what}: the prover refuses"
    );
    let proof = fetch::prove_unchecked(table(), w).expect("a cheating prover proves anyway");
    assert!(
        verify_prefix(&proof).is_err(),
        "{what}: the verifier accepted"
    );
}

/// Rows with edited tuples, counters recomputed as a prover would for those tuples.
fn with_rows(edit: impl Fn(&mut Vec<[u32; FIELDS]>)) -> FetchWitness {
    let mut rows = prefix_witness().rows;
    edit(&mut rows);
    FetchWitness::with_tuples(table(), table().log_entries, rows)
}

#[test]
fn a_pc_off_an_instruction_boundary_is_rejected() {
    let t = table();
    let row = 37;
    let w = with_rows(|rows| rows[row][field::PC] += 1);
    let pc = w.rows[row][field::PC];
    assert!(t.index_of(pc).is_none(), "pc {pc} is inside an instruction");
    assert_eq!(
        FetchWitness::new(t, &[pc], t.log_entries),
        Err(FetchError::NotAnInstruction { row: 0, pc })
    );
    assert_cheat_rejected(&w, "pc + 1");
}

#[test]
fn a_wrong_opcode_or_operand_is_rejected() {
    for (j, what) in [
        (field::OPCODE, "opcode"),
        (field::REG_A, "register"),
        (field::IMM_LO, "immediate"),
        (field::IMM_HI, "immediate (high)"),
        (field::NEXT_PC, "next pc"),
        (field::TARGET, "target"),
    ] {
        assert_cheat_rejected(&with_rows(|rows| rows[200][j] ^= 1), what);
    }
    // The same wrong tuple fetched twice (a LogUp sum would cancel it in characteristic 2).
    let w = with_rows(|rows| {
        rows[10][field::IMM_LO] ^= 4;
        rows[11] = rows[10];
    });
    assert_cheat_rejected(&w, "doubled wrong tuple");
    // A padding row fetching a real instruction's fields with a padding pc.
    let w = with_rows(|rows| {
        let last = rows.len() - 1;
        let pc = rows[last][field::PC];
        rows[last] = rows[0];
        rows[last][field::PC] = pc;
    });
    assert_cheat_rejected(&w, "padding row with an instruction's fields");
}

#[test]
fn a_changed_count_is_rejected() {
    let honest = prefix_witness();
    let entry = table().index_of(honest.rows[0][field::PC]).expect("entry");
    let g = F32::from_value(fetch::G);
    let edits: [fn(&mut F32, F32); 3] = [
        |f: &mut F32, g: F32| *f = f.mul(&g),
        |f: &mut F32, g: F32| *f = f.mul(&g.inv()),
        |f: &mut F32, _| *f = F32::zero(),
    ];
    for edit in edits {
        let mut w = honest.clone();
        edit(&mut w.final_ts[entry], g);
        assert_cheat_rejected(&w, "final counter");
    }
    // A row's read counter, and a zero counter on both sides (the fixed point of `ts ↦ g·ts`).
    let mut w = honest.clone();
    w.read_ts[5] = w.read_ts[5].mul(&g);
    assert_cheat_rejected(&w, "read counter");
    let mut rows = honest.rows.clone();
    rows[300][field::IMM2] ^= 1;
    let mut w = FetchWitness::with_tuples(table(), table().log_entries, rows);
    w.read_ts[300] = F32::zero();
    assert_cheat_rejected(&w, "wrong tuple with a zero counter");
}

/// Where `part` sits inside the blob.
fn offset_of(part: &[u8]) -> usize {
    GUEST_BLOB
        .windows(part.len())
        .position(|w| w == part)
        .expect("section bytes appear in the blob")
}

#[test]
fn a_changed_blob_is_rejected() {
    let proof = prefix_proof();
    let log_rows = table().log_entries;
    let program = polkavm::ProgramBlob::parse(GUEST_BLOB.to_vec().into()).expect("the blob parses");
    // A byte of read-only data: the table is unchanged, only the hash binds the blob.
    let ro = program.ro_data();
    assert!(ro.len() >= 16, "the blob has read-only data");
    let at = offset_of(&ro[..16]) + 3;
    let mut other = GUEST_BLOB.to_vec();
    other[at] ^= 0x10;
    let other_table = ProgramTable::from_blob(&other).expect("still parses");
    assert_eq!(other_table.entries, table().entries, "same table");
    assert_ne!(other_table.hash, table().hash);
    assert!(fetch::verify_blob(&other, log_rows, proof).is_err());

    // A code byte: the first single-byte change that still parses into a supported program
    // with a different table.
    let code = program.code();
    let start = offset_of(&code[..32]);
    let mut changed = 0;
    for i in start..start + code.len() {
        let mut other = GUEST_BLOB.to_vec();
        other[i] ^= 0x01;
        if let Ok(t) = ProgramTable::from_blob(&other) {
            if t.entries != table().entries && t.log_entries == log_rows {
                assert!(
                    fetch::verify(&t, log_rows, proof).is_err(),
                    "code byte {i} changed, proof accepted"
                );
                changed += 1;
                if changed == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(changed, 3, "some code bytes change the table");
    // Garbage is a typed error.
    assert!(matches!(
        fetch::verify_blob(b"not a blob", log_rows, proof),
        Err(FetchError::Blob(_))
    ));
}

/// A proof replayed against another program: the same code under another blob (its
/// read-only data differs), made by an honest prover for that blob, does not verify for ours,
/// and ours does not verify for it.
#[test]
fn a_proof_replayed_with_another_blob_is_rejected() {
    let program = polkavm::ProgramBlob::parse(GUEST_BLOB.to_vec().into()).expect("the blob parses");
    let at = offset_of(&program.ro_data()[..16]);
    let mut other = GUEST_BLOB.to_vec();
    other[at] ^= 0x80;
    let other_table = ProgramTable::from_blob(&other).expect("parses");
    let w = FetchWitness::new(&other_table, &prefix_pcs(), other_table.log_entries)
        .expect("same code, same pcs");
    let theirs = fetch::prove(&other_table, &w).expect("prove");
    let log_rows = table().log_entries;
    assert_eq!(fetch::verify(&other_table, log_rows, &theirs), Ok(()));
    assert!(verify_prefix(&theirs).is_err(), "their proof, our blob");
    assert!(
        fetch::verify(&other_table, log_rows, prefix_proof()).is_err(),
        "our proof, their blob"
    );
}

fn flip(x: &mut F128, bit: usize) {
    *x = x.add(&F128::from_value(1u128 << (bit % 128)));
}

/// Every field element of every sub-proof flipped (one bit each), the root's every byte, and
/// bytes of the encoded opening: all rejected.
#[test]
fn every_proof_field_is_bound() {
    let proof = prefix_proof();
    let mut checked = 0usize;
    let mut reject = |p: &FetchProof, what: &str| {
        assert!(verify_prefix(p).is_err(), "{what} accepted");
        checked += 1;
    };
    for i in 0..32 {
        let mut p = proof.clone();
        p.commitment.root[i] ^= 1 << (i % 8);
        reject(&p, "root byte");
    }
    // The batched row products.
    let mut p = proof.clone();
    for k in 0..3 {
        let mut p = proof.clone();
        flip(&mut p.rows.products[k], 5 + k);
        reject(&p, "row product");
    }
    p.rows.products.pop();
    reject(&p, "row products shortened");
    type Layers = fn(&mut FetchProof) -> &mut Vec<SumcheckProof>;
    let circuits: [(&str, Layers); 2] = [
        ("rows", |p| &mut p.rows.layers),
        ("finals", |p| &mut p.finals.layers),
    ];
    let mut p = proof.clone();
    flip(&mut p.finals.product, 9);
    reject(&p, "finals product");
    for (name, layers_of) in circuits {
        let shape: Vec<(Vec<usize>, usize)> = layers_of(&mut proof.clone())
            .iter()
            .map(|l| (l.rounds.iter().map(Vec::len).collect(), l.evals.len()))
            .collect();
        for (l, (rounds, evals)) in shape.iter().enumerate() {
            for (r, &len) in rounds.iter().enumerate() {
                for k in 0..len {
                    let mut p = proof.clone();
                    flip(&mut layers_of(&mut p)[l].rounds[r][k], l + r + k);
                    reject(&p, name);
                }
            }
            for e in 0..*evals {
                let mut p = proof.clone();
                flip(&mut layers_of(&mut p)[l].evals[e], 100 + e);
                reject(&p, name);
            }
            // a round dropped or added (the top layer has none): a shape error, not a panic
            let mut p = proof.clone();
            let layer = &mut layers_of(&mut p)[l];
            if layer.rounds.pop().is_none() {
                layer.rounds.push(vec![F128::zero(); 4]);
            }
            reject(&p, name);
            let mut p = proof.clone();
            layers_of(&mut p)[l].evals.pop();
            reject(&p, name);
        }
        let mut p = proof.clone();
        layers_of(&mut p).pop();
        reject(&p, name);
    }
    for k in 0..2 {
        for c in 0..COLUMNS {
            let mut p = proof.clone();
            flip(&mut p.column_evals[k][c], c * 7 + k);
            reject(&p, "column evaluation");
        }
        let mut p = proof.clone();
        p.column_evals[k].pop();
        reject(&p, "column evaluations shortened");
    }
    let bytes = codec::encode(&proof.opening);
    let stride = (bytes.len() / 400).max(1);
    for i in (0..bytes.len()).step_by(stride) {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        if let Ok(opening) = codec::decode(&b) {
            let mut p = proof.clone();
            p.opening = opening;
            reject(&p, "opening byte");
        }
    }
    println!("{checked} tampered proofs rejected");
}
