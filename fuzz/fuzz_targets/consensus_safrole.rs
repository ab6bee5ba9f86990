//! The loaded consensus-safrole `.so` fed adversarial bytes at every entry point that takes
//! outside input: gossip (`on_event` with a garbage `Message`), any decodable event, headers
//! (`verify_seal`), justifications, and snapshots (`restore`, read back from disk).
#![no_main]

use std::sync::{Mutex, OnceLock};

use diverge_fuzz::{no_panic, open_plugin, Cursor};
use diverge_plugins::codec::decode_exact;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{ChainParams, Consensus, Event, Hash, Header, InitArgs, ValidatorSecret};
use libfuzzer_sys::fuzz_target;

fn lib() -> &'static PluginLibrary {
    static LIB: OnceLock<PluginLibrary> = OnceLock::new();
    LIB.get_or_init(|| open_plugin("consensus-safrole"))
}

/// One instance for the whole run: a fresh one per input costs 4 ms (250 exec/s), a shared one
/// gets ~100x more. The price is that state (restored snapshots, imported headers) carries over
/// between inputs, so a crash may need the inputs before it; libFuzzer reruns the crashing
/// input alone first, and `scripts/fuzz` reports what it wrote.
fn instance() -> &'static Mutex<Box<dyn Consensus>> {
    static INSTANCE: OnceLock<Mutex<Box<dyn Consensus>>> = OnceLock::new();
    INSTANCE.get_or_init(|| Mutex::new(fresh()))
}

fn fresh() -> Box<dyn Consensus> {
    lib()
        .consensus(&InitArgs {
            chain: ChainParams {
                slot_ms: 1000,
                ..ChainParams::tiny()
            },
            params_json: r#"{"sealing": "safrole", "gossip_ms": 100}"#.into(),
            validators: diverge_keys::dev_validators(6),
            identity: Some(ValidatorSecret {
                index: 0,
                seed: diverge_keys::dev_seed(0),
            }),
            genesis: Vec::new(),
        })
        .expect("instantiate consensus-safrole")
}

fn hash(c: &mut Cursor) -> Hash {
    let mut h = [0u8; 32];
    for b in &mut h {
        *b = c.u8();
    }
    Hash(h)
}

fn header(c: &mut Cursor) -> Header {
    Header {
        parent: hash(c),
        slot: c.u32() % 64,
        author: u16::from(c.u8()),
        payload_hash: hash(c),
        da_commitment: c.bytes().to_vec(),
        post_state_root: hash(c),
        digest: c.bytes().to_vec(),
        seal: c.rest().to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mut guard = instance().lock().unwrap_or_else(|p| p.into_inner());
    let cons = &mut *guard;
    let now = u64::from(c.u32());
    match c.u8() % 6 {
        0 => {
            let from = u16::from(c.u8());
            let bytes = c.rest().to_vec();
            no_panic(
                "on_event(Message)",
                &cons.on_event(now, Event::Message { from, bytes }),
            );
        }
        1 => {
            let h = header(&mut c);
            no_panic("verify_seal", &cons.verify_seal(&h));
        }
        2 => {
            // Header bytes as a peer sends them (the codec form), then an import of it.
            if let Ok(h) = decode_exact::<Header>(c.rest()) {
                no_panic("verify_seal", &cons.verify_seal(&h));
                no_panic(
                    "on_event(BlockImported)",
                    &cons.on_event(now, Event::BlockImported { header: h }),
                );
            }
        }
        3 => {
            let h = hash(&mut c);
            no_panic(
                "verify_justification",
                &cons.verify_justification(&h, c.rest()),
            );
        }
        4 => no_panic("restore", &cons.restore(c.rest())),
        _ => {
            if let Ok(ev) = decode_exact::<Event>(c.rest()) {
                no_panic("on_event", &cons.on_event(now, ev));
            }
        }
    }
});
