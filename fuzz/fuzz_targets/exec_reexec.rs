//! The loaded exec-reexec `.so`: garbage payloads at `execute` and `validate` (re-execution of
//! a peer's block), garbage receipts, and garbage snapshots at `restore`.
#![no_main]

use std::sync::OnceLock;

use diverge_fuzz::{no_panic, open_plugin, Cursor};
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{ChainParams, Executor, Hash, Header, InitArgs, ValidateRequest};
use libfuzzer_sys::fuzz_target;

fn lib() -> &'static PluginLibrary {
    static LIB: OnceLock<PluginLibrary> = OnceLock::new();
    LIB.get_or_init(|| open_plugin("exec-reexec"))
}

fuzz_target!(|data: &[u8]| {
    // A fresh instance per input: execute and restore change its state.
    let mut exec: Box<dyn Executor> = lib()
        .exec(&InitArgs::new(ChainParams::tiny(), "{}"))
        .expect("instantiate exec-reexec");
    let genesis = exec.genesis_state_root().expect("genesis");
    let mut c = Cursor::new(data);
    match c.u8() % 3 {
        0 => no_panic("execute", &exec.execute(&genesis, c.rest())),
        1 => {
            let receipt = c.bytes().to_vec();
            let payload = c.rest().to_vec();
            let header = Header {
                parent: Hash([0; 32]),
                slot: 1,
                author: 0,
                payload_hash: diverge_plugins::blake2b_256(&payload),
                da_commitment: Vec::new(),
                post_state_root: Hash([1; 32]),
                digest: Vec::new(),
                seal: Vec::new(),
            };
            let r = exec.validate(ValidateRequest {
                pre_state_root: genesis,
                header,
                payload: Some(payload),
                receipt,
                proof: Vec::new(),
            });
            no_panic("validate", &r);
        }
        _ => no_panic("restore", &exec.restore(c.rest())),
    }
});
