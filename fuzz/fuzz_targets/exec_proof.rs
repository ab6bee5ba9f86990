//! The loaded exec-proof `.so`: garbage proof bytes at `validate` (a peer's block), proofs
//! shaped like real ones (a valid header, receipt, log and post-state, so the bytes reach the
//! CPU-proof decoder and the verifier) and garbage snapshots at `restore`.
#![no_main]

use std::sync::{Mutex, OnceLock};

use diverge_fuzz::{no_panic, open_plugin, Cursor};
use diverge_plugins::codec::Encode;
use diverge_plugins::{ChainParams, Executor, Hash, Header, InitArgs, ValidateRequest};
use libfuzzer_sys::fuzz_target;

/// exec-proof's `BlockProof` and pool's `Receipt`, field for field: the same codec bytes
/// without linking the plugin crate next to its `.so`.
#[derive(Encode)]
struct BlockProof {
    log_rows: u8,
    final_regs: Vec<u64>,
    log: Vec<u8>,
    post_record: Vec<u8>,
    cpu: Vec<u8>,
}

#[derive(Encode)]
struct Receipt {
    results: Vec<u8>,
    gas_used: u64,
}

/// One instance for every input: building one compiles the guest twice, and no garbage can
/// make a block valid, so nothing carries over.
fn exec() -> &'static Mutex<(Box<dyn Executor>, Hash)> {
    static EXEC: OnceLock<Mutex<(Box<dyn Executor>, Hash)>> = OnceLock::new();
    EXEC.get_or_init(|| {
        let lib = Box::leak(Box::new(open_plugin("exec-proof")));
        let mut exec = lib
            .exec(&InitArgs::new(ChainParams::tiny(), ""))
            .expect("instantiate exec-proof");
        let genesis = exec.genesis_state_root().expect("genesis");
        Mutex::new((exec, genesis))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut guard = exec().lock().expect("lock");
    let (exec, genesis) = &mut *guard;
    let genesis = *genesis;
    let mut c = Cursor::new(data);
    let header = Header {
        // The genesis state (all zeros) carried back unchanged: an empty block's post-state.
        post_state_root: genesis,
        ..Header::default()
    };
    let request = |receipt: Vec<u8>, proof: Vec<u8>| ValidateRequest {
        pre_state_root: genesis,
        header: header.clone(),
        payload: None,
        receipt,
        proof,
    };
    match c.u8() % 3 {
        0 => {
            let receipt = c.bytes().to_vec();
            no_panic("validate", &exec.validate(request(receipt, c.rest().to_vec())));
        }
        1 => {
            let log_rows = 16 + c.u8() % 7;
            let proof = BlockProof {
                log_rows,
                final_regs: vec![0; 13],
                log: Vec::new(),
                post_record: vec![0; 1072],
                cpu: c.rest().to_vec(),
            };
            let receipt = Receipt {
                results: Vec::new(),
                gas_used: 0,
            };
            let r = exec.validate(request(receipt.encode(), proof.encode()));
            no_panic("validate (shaped)", &r);
            if let Ok(diverge_plugins::Verdict::Valid) = r {
                panic!("a fuzzed proof verified");
            }
        }
        _ => no_panic("restore", &exec.restore(c.rest())),
    }
});
