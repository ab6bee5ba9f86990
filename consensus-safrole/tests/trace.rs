//! Sealing proven against the JAM `traces/safrole` block-import trace (100 tiny blocks): every
//! header's seal and entropy VRF verify against the key the posterior state gives its slot, the
//! Safrole transition on the header's input reproduces the trace's post-state components and the
//! header's markers, and one flipped bit in a seal is refused.

use consensus_safrole::safrole::ring::RingContext;
use consensus_safrole::safrole::seal::{self, SealKind, SealSecret};
use consensus_safrole::safrole::tickets::make_ticket;
use consensus_safrole::safrole::trace::{
    decode_step, import_block, replay_trace_dir, step_files, BlockError, TraceParams,
};
use consensus_safrole::safrole::types::B32;
use diverge_plugins::blake2b_256;
use diverge_plugins::testkit::vectors_dir;
use std::path::PathBuf;

fn vectors() -> PathBuf {
    vectors_dir(env!("CARGO_MANIFEST_DIR"))
}

fn ring(size: usize) -> RingContext {
    let srs =
        std::fs::read(vectors().join("safrole/zcash-srs-2-11-uncompressed.bin")).expect("SRS");
    RingContext::from_srs(&srs, size).expect("ring context")
}

fn trace_dir() -> PathBuf {
    vectors().join("traces/safrole")
}

/// JIP-5: the Bandersnatch secret seed of validator seed `s`.
fn jip5_bandersnatch(seed: &[u8; 32]) -> SealSecret {
    let mut buf = b"jam_val_key_bandersnatch".to_vec();
    buf.extend_from_slice(seed);
    SealSecret::from_seed(&blake2b_256(&buf).0)
}

fn trivial_seed(i: u32) -> [u8; 32] {
    let mut seed = [0u8; 32];
    for c in seed.chunks_exact_mut(4) {
        c.copy_from_slice(&i.to_le_bytes());
    }
    seed
}

#[test]
fn all_100_trace_blocks_import() {
    let ring = ring(6);
    let report = replay_trace_dir(&trace_dir(), &TraceParams::TINY, &ring).expect("trace dir");
    for b in &report.blocks {
        eprintln!(
            "{} slot {:?}: {:?}",
            b.file
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            b.slot,
            b.result
        );
    }
    assert_eq!(report.blocks.len(), 100, "expected 100 blocks");
    assert_eq!(report.failed(), 0, "{} blocks failed", report.failed());
    // The trace is the "safrole" one: once the first epoch's tickets are in, slots are
    // ticket-sealed, so both seal kinds are exercised.
    assert!(report.ticketed() > 0, "no ticket-sealed block");
    assert!(report.ticketed() < 100, "no fallback-sealed block");
    // The markers were compared with the transition's output; make sure both kinds occur.
    let (mut epoch_marks, mut tickets_marks) = (0, 0);
    for b in &report.blocks {
        let bytes = std::fs::read(&b.file).expect("read");
        let h = decode_step(&bytes, &TraceParams::TINY)
            .expect("decode")
            .block
            .header;
        epoch_marks += usize::from(h.epoch_mark.is_some());
        tickets_marks += usize::from(h.tickets_mark.is_some());
    }
    eprintln!("{epoch_marks} epoch marks, {tickets_marks} tickets marks");
    assert!(epoch_marks > 0 && tickets_marks > 0);
    eprintln!(
        "{} ticketed, {} fallback",
        report.ticketed(),
        100 - report.ticketed()
    );
}

#[test]
fn flipped_seal_bit_is_refused() {
    let ring = ring(6);
    let p = TraceParams::TINY;
    let files = step_files(&trace_dir()).expect("steps");
    let mut kinds = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        let step = decode_step(&bytes, &p).expect("decode");
        let pre = step.pre_state.safrole(&p).expect("pre-state");
        let kind = import_block(&p, &ring, &pre, &step.block)
            .expect("untampered block imports")
            .kind;
        // One fallback-sealed block and one ticket-sealed block.
        if kinds
            .iter()
            .any(|k: &SealKind| std::mem::discriminant(k) == std::mem::discriminant(&kind))
        {
            continue;
        }
        kinds.push(kind);
        for bit in [0usize, 7, 8 * 40, 8 * 95 + 7] {
            let mut block = step.block.clone();
            block.header.seal[bit / 8] ^= 1 << (bit % 8);
            let err = import_block(&p, &ring, &pre, &block).expect_err("tampered seal");
            // A flipped output-point bit may change Y(H_s) too, and with it the entropy input.
            assert!(
                matches!(err, BlockError::Seal { .. } | BlockError::Entropy(_)),
                "{}: bit {bit}: {err}",
                file.display()
            );
        }
        // The unsealed header is the seal's auxiliary data: changing it breaks the seal.
        let mut block = step.block.clone();
        let last = block.unsealed_header.len() - 1;
        block.unsealed_header[last] ^= 1;
        assert!(matches!(
            import_block(&p, &ring, &pre, &block),
            Err(BlockError::Seal { .. })
        ));
        let mut block = step.block.clone();
        block.header.entropy_source[50] ^= 1;
        assert!(import_block(&p, &ring, &pre, &block).is_err());
    }
    assert_eq!(kinds.len(), 2, "the trace has both seal kinds");
}

#[test]
fn trace_validators_are_jip5_dev_keys() {
    let p = TraceParams::TINY;
    let files = step_files(&trace_dir()).expect("steps");
    let bytes = std::fs::read(&files[0]).expect("read");
    let step = decode_step(&bytes, &p).expect("decode");
    let pre = step.pre_state.safrole(&p).expect("pre-state");
    for (i, v) in pre.kappa.iter().enumerate() {
        let s = jip5_bandersnatch(&trivial_seed(i as u32));
        assert_eq!(s.public(), v.bandersnatch.0, "validator {i}");
    }
}

#[test]
fn sign_as_trace_author_reproduces_seal() {
    // With the JIP-5 dev secret of the first block's author, our signer produces the trace's
    // bytes exactly (the IETF VRF nonce is deterministic).
    let p = TraceParams::TINY;
    let ring = ring(6);
    let files = step_files(&trace_dir()).expect("steps");
    let bytes = std::fs::read(&files[0]).expect("read");
    let step = decode_step(&bytes, &p).expect("decode");
    let pre = step.pre_state.safrole(&p).expect("pre-state");
    let imported = import_block(&p, &ring, &pre, &step.block).expect("imports");
    let h = &step.block.header;
    let secret = jip5_bandersnatch(&trivial_seed(u32::from(h.author_index)));
    let seal = seal::sign_seal(
        &secret,
        imported.kind,
        &imported.post.eta[3].0,
        &step.block.unsealed_header,
    );
    assert_eq!(seal, h.seal);
    assert_eq!(
        seal::sign_entropy(&secret, &imported.seal_output.0),
        h.entropy_source
    );
    assert_eq!(imported.kind, SealKind::Fallback);
}

#[test]
fn made_tickets_verify_and_match_the_trace() {
    // Tickets made by each dev validator for the first block's next-epoch ring verify, and a
    // ticket the trace's first ticket-carrying block includes is reproduced byte for byte in id.
    let p = TraceParams::TINY;
    let ring = ring(6);
    let files = step_files(&trace_dir()).expect("steps");
    let bytes = std::fs::read(&files[0]).expect("read");
    let step = decode_step(&bytes, &p).expect("decode");
    let pre = step.pre_state.safrole(&p).expect("pre-state");
    let keys: Vec<B32> = pre.gamma_k.iter().map(|k| k.bandersnatch).collect();
    assert_eq!(ring.commitment(&keys).expect("commit"), pre.gamma_z);
    let eta2 = pre.eta[2];
    for i in [0usize, 3] {
        let secret = jip5_bandersnatch(&trivial_seed(i as u32));
        for attempt in 0..2u8 {
            let (id, sig) = make_ticket(&ring, &keys, i, &secret, &eta2, attempt).expect("ticket");
            assert_eq!(sig.len(), 784);
            let got = ring
                .verify_ticket(&pre.gamma_z, &eta2, attempt, &sig)
                .expect("made ticket verifies");
            assert_eq!(got, id);
            let mut bad = sig.clone();
            bad[100] ^= 1;
            assert!(ring
                .verify_ticket(&pre.gamma_z, &eta2, attempt, &bad)
                .is_err());
        }
    }
    let wrong = jip5_bandersnatch(&trivial_seed(1));
    assert!(make_ticket(&ring, &keys, 0, &wrong, &eta2, 0).is_err());
    assert!(make_ticket(&ring, &keys[..5], 0, &wrong, &eta2, 0).is_err());

    // Every ticket the trace carries is one some dev validator makes (ids are VRF outputs:
    // the prover side agrees with the vectors' authors, not only with our own verifier).
    let mut matched = 0;
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        let step = decode_step(&bytes, &p).expect("decode");
        if step.block.tickets.is_empty() {
            continue;
        }
        let post = step.post_state.safrole(&p).expect("post-state");
        let keys: Vec<B32> = post.gamma_k.iter().map(|k| k.bandersnatch).collect();
        let eta2 = post.eta[2];
        let t = &step.block.tickets[0];
        let trace_id = ring
            .verify_ticket(&post.gamma_z, &eta2, t.attempt, &t.signature)
            .expect("trace ticket verifies");
        let found = (0..6).any(|i| {
            let secret = jip5_bandersnatch(&trivial_seed(i));
            keys.get(i as usize).map(|k| k.0) == Some(secret.public())
                && make_ticket(&ring, &keys, i as usize, &secret, &eta2, t.attempt)
                    .map(|(id, _)| id == trace_id)
                    .unwrap_or(false)
        });
        assert!(
            found,
            "{}: no dev validator makes this ticket",
            file.display()
        );
        matched += 1;
        break;
    }
    assert_eq!(matched, 1, "the trace carries tickets");
}
