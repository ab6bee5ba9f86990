//! The loaded consensus-ssf `.so` fed adversarial votes, certificates and gossip.
//!
//! Random bytes almost never decode into a vote whose OSST contribution verifies, so most of
//! the engine (vote pools, certificate formation, equivocation evidence, finality, catch-up)
//! would stay unreached behind the signature check. This target therefore also builds
//! *validly signed* votes and certificates from the fuzz input, with the dealer keys the
//! instance uses (`keys = "dealer"`, a seed fixed here), and then lets the input damage them:
//! a byte flipped anywhere in the encoded message, contributions duplicated, dropped or taken
//! from another subject. The plugin library itself is not instrumented (see `diverge_fuzz`),
//! so the structure comes from here rather than from coverage.
#![no_main]

use std::sync::{Mutex, OnceLock};

use consensus_ssf::engine::{dealers_hash, Wire};
use consensus_ssf::keys::{key_set, KeySet};
use consensus_ssf::vote::{sign, Certificate, Subject, Vote, DEALERS, FINALIZE, NOTARIZE, SKIP};
use curve25519_dalek::scalar::Scalar;
use diverge_fuzz::{no_panic, open_plugin, Cursor};
use diverge_plugins::codec::{decode_exact, Encode};
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{ChainParams, Consensus, Event, Hash, Header, InitArgs, ValidatorSecret};
use libfuzzer_sys::fuzz_target;

const DEALER_SEED: [u8; 32] = [7; 32];

fn lib() -> &'static PluginLibrary {
    static LIB: OnceLock<PluginLibrary> = OnceLock::new();
    LIB.get_or_init(|| open_plugin("consensus-ssf"))
}

/// 1 s slots, and epochs long enough that the instance's own ticket proving (Bandersnatch ring
/// proofs, 0.1-0.6 s each, at every epoch start) costs a few percent of the run instead of most
/// of it: with the short tiny epochs and a clock moving up to 2.55 s per input, the target ran
/// ~340 inputs/s, nearly all of it proving.
fn chain() -> ChainParams {
    ChainParams {
        slot_ms: 1000,
        epoch_len: 600,
        ticket_end: 500,
        ..ChainParams::tiny()
    }
}

/// Everyone's shares, as the dealer shortcut derives them (every caller learns every share).
struct Keys {
    set: KeySet,
    secrets: Vec<Scalar>,
    genesis: Hash,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let v = usize::from(chain().validators);
        let secrets = (0..v)
            .map(|i| key_set(&DEALER_SEED, v, Some(i)).1.expect("share"))
            .collect();
        Keys {
            set: key_set(&DEALER_SEED, v, None).0,
            secrets,
            genesis: Header::default().hash(),
        }
    })
}

/// One instance for the whole run, as in the consensus-safrole target (a fresh one per input
/// would cost the ring setup every time), with a clock that only moves forward: the host never
/// hands a plugin an earlier time than the last one.
struct Instance {
    cons: Box<dyn Consensus>,
    now: u64,
    slot: u32,
}

fn instance() -> &'static Mutex<Instance> {
    static INSTANCE: OnceLock<Mutex<Instance>> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let cons = lib()
            .consensus(&InitArgs {
                chain: chain(),
                params_json: format!(
                    r#"{{"keys": "dealer", "dealer_seed": "{}"}}"#,
                    hex(&DEALER_SEED)
                ),
                validators: diverge_keys::dev_validators(chain().validators),
                identity: Some(ValidatorSecret {
                    index: 0,
                    seed: diverge_keys::dev_seed(0),
                }),
                genesis: Vec::new(),
            })
            .expect("instantiate consensus-ssf");
        Mutex::new(Instance {
            cons,
            now: 0,
            slot: 0,
        })
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hash(c: &mut Cursor) -> Hash {
    // Mostly a few well-known hashes (genesis, small patterns) so that votes from different
    // inputs meet on the same subjects and pools fill up; sometimes anything.
    match c.u8() % 4 {
        0 => keys().genesis,
        1 => Hash([c.u8() % 4; 32]),
        2 => Hash::default(),
        _ => {
            let mut h = [0u8; 32];
            for b in &mut h {
                *b = c.u8();
            }
            Hash(h)
        }
    }
}

/// A subject near the instance's current slot `now` (a few slots behind to a few ahead, where
/// pools, certificates and equivocation checks live), or now and then any slot at all.
fn subject(c: &mut Cursor, now: u32) -> Subject {
    let kind = [NOTARIZE, FINALIZE, SKIP, DEALERS, c.u8()][usize::from(c.u8() % 5)];
    let slot = match c.u8() % 8 {
        0 => c.u32(),
        _ => now.saturating_sub(4) + c.u32() % 8,
    };
    if kind == SKIP && c.u8() % 4 != 0 {
        return Subject::skip(slot);
    }
    Subject {
        kind,
        slot,
        hash: hash(c),
        root: hash(c),
    }
}

/// A vote of `index` (0-based validator) that verifies against its share.
fn vote(subject: Subject, index: usize) -> Vote {
    let k = keys();
    let i = index % k.secrets.len();
    sign(subject, i as u32 + 1, &k.secrets[i], &k.genesis, &k.set)
}

/// Flips one byte of `bytes` at an input-chosen position (or none).
fn damage(c: &mut Cursor, mut bytes: Vec<u8>) -> Vec<u8> {
    let pos = usize::from(u16::from_le_bytes([c.u8(), c.u8()]));
    let x = c.u8();
    if x != 0 && !bytes.is_empty() {
        let n = bytes.len();
        bytes[pos % n] ^= x;
    }
    bytes
}

/// t (or an input-chosen number of) contributions on one subject, possibly with duplicates or
/// one taken from another subject.
fn certificate(c: &mut Cursor, now: u32) -> Certificate {
    let s = subject(c, now);
    let want = keys().set.threshold + usize::from(c.u8() % 3) - 1;
    let start = usize::from(c.u8());
    let mut contributions: Vec<[u8; 68]> =
        (0..want).map(|k| vote(s, start + k).contribution).collect();
    match c.u8() % 4 {
        0 if !contributions.is_empty() => {
            let d = contributions[0];
            contributions.push(d);
        }
        1 if !contributions.is_empty() => {
            let other = subject(c, now);
            contributions[0] = vote(other, start).contribution;
        }
        _ => {}
    }
    Certificate {
        subject: s,
        contributions,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mut guard = instance().lock().unwrap_or_else(|p| p.into_inner());
    let inst = &mut *guard;
    // Host time is in microseconds: up to 255 ms per input, so a slot lasts ~8 inputs and
    // votes of one slot from several inputs meet in its pools.
    inst.now += u64::from(c.u8()) * 1_000;
    let now = inst.now;
    let cur = inst.slot;
    let from = u16::from(c.u8() % 8);
    let message = match c.u8() % 8 {
        0 => Some(c.rest().to_vec()),
        1 => {
            let n = 1 + usize::from(c.u8() % 4);
            let votes = (0..n)
                .map(|_| {
                    let s = subject(&mut c, cur);
                    vote(s, usize::from(c.u8()))
                })
                .collect();
            Some(damage(&mut c, Wire::Votes(votes).encode()))
        }
        2 => {
            let cert = certificate(&mut c, cur);
            Some(damage(&mut c, Wire::Cert(cert).encode()))
        }
        3 => Some(Wire::Status(cur.saturating_sub(8) + c.u32() % 16).encode()),
        4 => {
            // A DEALERS vote with the set it names (signed over the right hash, or not).
            let epoch = c.u32() % 4;
            let sharing = c.u32() % 3;
            let dealers: Vec<(u16, Hash)> = (0..usize::from(c.u8() % 7))
                .map(|i| (i as u16, hash(&mut c)))
                .collect();
            let mut s = subject(&mut c, cur);
            s.kind = DEALERS;
            if c.u8() % 2 == 0 {
                s.hash = dealers_hash(epoch, sharing, &dealers);
                s.root = Hash::default();
            }
            let vote = vote(s, usize::from(c.u8()));
            Some(damage(
                &mut c,
                Wire::Dealers {
                    sharing,
                    dealers,
                    vote,
                }
                .encode(),
            ))
        }
        5 => {
            // A justification: the certificate bytes a block carries.
            let h = hash(&mut c);
            let cert = certificate(&mut c, cur);
            let bytes = damage(&mut c, cert.encode());
            no_panic(
                "verify_justification",
                &inst.cons.verify_justification(&h, &bytes),
            );
            None
        }
        6 => {
            no_panic("restore", &inst.cons.restore(c.rest()));
            None
        }
        _ => {
            // Ticks are the host clock's (below): a decoded Tick to slot 2^32 would make the
            // engine SKIP four billion elapsed slots, which is what a node back after that
            // long must do, not a finding.
            match decode_exact::<Event>(c.rest()) {
                Ok(Event::Tick { .. }) | Err(_) => {}
                Ok(ev) => no_panic("on_event", &inst.cons.on_event(now, ev)),
            }
            None
        }
    };
    if let Some(bytes) = message {
        no_panic(
            "on_event(Message)",
            &inst.cons.on_event(now, Event::Message { from, bytes }),
        );
    }
    // Slots advance with the clock, as the host's ticks do (votes for future slots wait).
    let slot = u32::try_from(now / (chain().slot_ms * 1000)).unwrap_or(u32::MAX);
    if slot > inst.slot {
        inst.slot = slot;
        no_panic(
            "on_event(Tick)",
            &inst.cons.on_event(now, Event::Tick { slot }),
        );
    }
});
