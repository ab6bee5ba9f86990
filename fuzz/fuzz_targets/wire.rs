//! Every message type decoded from network or plugin bytes, through the bounded `decode_exact`
//! the node uses: block, shard, availability and sync messages, headers, consensus events and
//! actions, validate requests, init args. What decodes must re-encode to bytes that decode to
//! the same value and are no longer than the input. Not byte-equal: jam-codec accepts
//! non-minimal naturals (`0x80 0x00` for 0; found by this target), so one value has several
//! wire forms. Harmless here because every identity (block hash, seal payload) is a hash of the
//! *re-encoded* value, never of received bytes.
#![no_main]

use diverge::node::wire::{AvailabilityMsg, BlockMsg, ShardMsg, SyncMsg};
use diverge_plugins::codec::{decode_exact, Decode, Encode};
use diverge_plugins::{Action, Event, ExecOutput, Header, InitArgs, SealInfo, ValidateRequest};
use libfuzzer_sys::fuzz_target;

fn check<T: Decode + Encode + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(v) = decode_exact::<T>(bytes) {
        let again = v.encode();
        assert!(again.len() <= bytes.len(), "canonical form longer: {v:?}");
        assert_eq!(decode_exact::<T>(&again).ok().as_ref(), Some(&v));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, bytes)) = data.split_first() else {
        return;
    };
    match sel % 12 {
        0 => check::<BlockMsg>(bytes),
        1 => check::<ShardMsg>(bytes),
        2 => check::<AvailabilityMsg>(bytes),
        3 => check::<SyncMsg>(bytes),
        4 => check::<Header>(bytes),
        5 => check::<Event>(bytes),
        6 => check::<Vec<Action>>(bytes),
        7 => check::<ValidateRequest>(bytes),
        8 => check::<SealInfo>(bytes),
        9 => check::<ExecOutput>(bytes),
        10 => {
            // InitArgs cross the ABI at instantiate; decoding only (no Debug bound needed).
            let _ = decode_exact::<InitArgs>(bytes);
        }
        _ => {
            // Untargeted: the same bytes as every type at once.
            let _ = decode_exact::<BlockMsg>(bytes);
            let _ = decode_exact::<SyncMsg>(bytes);
            let _ = decode_exact::<Event>(bytes);
            let _ = decode_exact::<Vec<Vec<u8>>>(bytes);
        }
    }
});
