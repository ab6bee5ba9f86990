//! A deliberately broken DA plugin for the host's isolation tests: depending on its `mode`
//! param it panics in `instantiate`, `encode` or `verify_shard`, returns shards that contradict
//! its shape, or is slow (`slow_encode` sleeps `delay_ms`, default 1500, in every `encode`: a
//! fixture may break the sans-IO rule, that is its point).
//! In `mode = "replicate"` it is a working (if wasteful) repetition code: every shard is the whole
//! payload, committed by its hash, so tests can load it beside da-rs1d as a second DA plugin.
//! Built only for tests; never configured.

use diverge_plugins::ffi::Plugin;
use diverge_plugins::{
    blake2b_256, Axis, CheckedShard, DaShape, DataAvailability, Encoded, InitArgs, Instance,
    PluginError,
};
use serde::Deserialize;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Replicate,
    PanicInstantiate,
    PanicEncode,
    PanicVerifyShard,
    WrongShardCount,
    SlowEncode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    mode: Mode,
    #[serde(default = "default_delay_ms")]
    delay_ms: u64,
}

fn default_delay_ms() -> u64 {
    1500
}

#[derive(Debug)]
struct Misbehaving {
    mode: Mode,
    delay_ms: u64,
    shards: u32,
}

impl DataAvailability for Misbehaving {
    fn shape(&self) -> DaShape {
        DaShape {
            shards: self.shards,
            min_shards: 1,
        }
    }

    fn encode(&self, data: &[u8]) -> Result<Encoded, PluginError> {
        match self.mode {
            Mode::PanicEncode => panic!("fixture: deliberate panic in encode"),
            Mode::SlowEncode => {
                std::thread::sleep(std::time::Duration::from_millis(self.delay_ms));
                Ok(Encoded {
                    commitment: blake2b_256(data).0.to_vec(),
                    shards: vec![data.to_vec(); self.shards as usize],
                })
            }
            Mode::WrongShardCount => Ok(Encoded {
                commitment: vec![0xee; 3],
                shards: vec![vec![1, 2, 3]],
            }),
            _ => Ok(Encoded {
                commitment: blake2b_256(data).0.to_vec(),
                shards: vec![data.to_vec(); self.shards as usize],
            }),
        }
    }

    fn verify_shard(&self, commitment: &[u8], index: u32, shard: &[u8]) -> Result<(), PluginError> {
        if self.mode == Mode::PanicVerifyShard {
            panic!("fixture: deliberate panic in verify_shard");
        }
        if index >= self.shards {
            return Err(PluginError::rejected(format!("index {index} out of range")));
        }
        if blake2b_256(shard).0.as_slice() != commitment {
            return Err(PluginError::rejected(
                "shard does not hash to the commitment",
            ));
        }
        Ok(())
    }

    fn decode(&self, _commitment: &[u8], shards: &[CheckedShard]) -> Result<Vec<u8>, PluginError> {
        shards
            .first()
            .map(|s| s.bytes().to_vec())
            .ok_or_else(|| PluginError::rejected("no shards"))
    }
}

/// The fixture.
#[derive(Debug)]
pub struct MisbehavingPlugin;

impl Plugin for MisbehavingPlugin {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AXIS: Axis = Axis::Da;
    const DESCRIPTION: &'static str = "isolation test fixture: panics or lies on purpose";

    fn instantiate(args: InitArgs) -> Result<Instance, PluginError> {
        let p: Params = serde_json::from_str(&args.params_json)
            .map_err(|e| PluginError::config(format!("params: {e}")))?;
        if p.mode == Mode::PanicInstantiate {
            panic!("fixture: deliberate panic in instantiate");
        }
        Ok(Instance::Da(Box::new(Misbehaving {
            mode: p.mode,
            delay_ms: p.delay_ms,
            shards: u32::from(args.chain.validators),
        })))
    }
}

diverge_plugins::export_plugin!(MisbehavingPlugin);
