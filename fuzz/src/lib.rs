//! Helpers shared by the fuzz targets: where the plugin libraries are, and a cursor that splits
//! one fuzz input into the several arguments an entry point takes.
//!
//! The plugin targets load the real `.so` files (built by `scripts/build-plugins`) the way the
//! host does, so they test the ABI boundary itself. Those libraries are not instrumented (they
//! are built by plain cargo), so coverage guidance stops at the boundary; what the targets catch
//! is every panic, abort, hang or allocation blow-up a plugin has on adversarial bytes. A panic
//! caught at the boundary comes back as `ErrorKind::Panicked`, which the targets turn into a
//! crash: on bytes from the network a plugin must say "rejected", not panic.

use std::path::PathBuf;

use diverge::registry;
use diverge_plugins::loader::{library_file_name, PluginLibrary};
use diverge_plugins::{ErrorKind, PluginError};

/// Opens the built library of `crate_name`: `DIVERGE_PLUGIN_DIR` if set, else where the host
/// looks (`$CARGO_TARGET_DIR/debug`, ...).
pub fn open_plugin(crate_name: &str) -> PluginLibrary {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("DIVERGE_PLUGIN_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.extend(registry::search_dirs(None));
    let Some(path) = registry::find(crate_name, &dirs) else {
        // A setup error, not a finding: say so loudly, once.
        eprintln!(
            "{} not found in {dirs:?}: run scripts/build-plugins or set DIVERGE_PLUGIN_DIR",
            library_file_name(crate_name)
        );
        std::process::exit(2);
    };
    match PluginLibrary::open(&path) {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

/// Fails the fuzz run if a plugin panicked: garbage must be refused, not crash the plugin.
pub fn no_panic<T>(what: &str, r: &Result<T, PluginError>) {
    if let Err(e) = r {
        assert!(e.kind != ErrorKind::Panicked, "{what}: {e}");
    }
}

/// Splits a fuzz input into small integers and length-prefixed byte strings.
#[derive(Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to 2^16 bytes, length first (two bytes).
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(u16::from_le_bytes([self.u8(), self.u8()]));
        let len = len.min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// One DA fuzz target: plugin crate name and its params JSON. A macro because `fuzz_target!`
/// must be expanded in the target binary itself.
#[macro_export]
macro_rules! da_target {
    ($crate_name:literal, $params:literal) => {
        use std::sync::OnceLock;

        use diverge_plugins::da::CheckShard;
        use diverge_plugins::{ChainParams, DataAvailability, Encoded, InitArgs};
        use $crate::{no_panic, open_plugin, Cursor};

        struct Fixture {
            da: Box<dyn DataAvailability>,
            honest: Encoded,
        }

        /// DA methods take `&self` (no state changes), so one instance serves every input.
        fn fixture() -> &'static Fixture {
            static F: OnceLock<Fixture> = OnceLock::new();
            F.get_or_init(|| {
                // Leaked: the library must outlive the instance, for the whole process anyway.
                let lib = Box::leak(Box::new(open_plugin($crate_name)));
                let da = lib
                    .da(&InitArgs::new(ChainParams::tiny(), $params))
                    .expect("instantiate");
                let honest = da.encode(&[7u8; 1000]).expect("encode");
                Fixture { da, honest }
            })
        }

        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let f = fixture();
            let n = f.da.shape().shards;
            let mut c = Cursor::new(data);
            match c.u8() % 5 {
                0 => {
                    let commitment = c.bytes();
                    let index = c.u32();
                    no_panic(
                        "verify_shard",
                        &f.da.verify_shard(commitment, index, c.rest()),
                    );
                }
                1 => {
                    // The honest commitment with a garbage shard.
                    let index = c.u32() % (n + 1);
                    let r = f.da.verify_shard(&f.honest.commitment, index, c.rest());
                    no_panic("verify_shard", &r);
                }
                2 => {
                    // An honest shard with fuzzed bytes XORed in: must never pass changed.
                    let index = c.u32() % n;
                    let mut shard = f.honest.shards[index as usize].clone();
                    let mask = c.rest();
                    let mut changed = false;
                    for (i, m) in mask.iter().enumerate() {
                        if let Some(b) = shard.get_mut(i) {
                            *b ^= m;
                            changed |= *m != 0;
                        }
                    }
                    let r = f.da.verify_shard(&f.honest.commitment, index, &shard);
                    no_panic("verify_shard", &r);
                    if changed {
                        assert!(r.is_err(), "a changed shard {index} passed");
                    }
                }
                3 => {
                    // Honest shards are checked, then decoded against a garbage commitment.
                    let commitment = c.bytes();
                    let shards: Vec<_> = f
                        .honest
                        .shards
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| {
                            f.da.check(&f.honest.commitment, i as u32, s.clone()).ok()
                        })
                        .collect();
                    no_panic("decode", &f.da.decode(commitment, &shards));
                }
                _ => {
                    let mut seed = [0u8; 32];
                    for b in &mut seed {
                        *b = c.u8();
                    }
                    no_panic("sample", &f.da.sample(c.rest(), &seed));
                }
            }
        });
    };
}
