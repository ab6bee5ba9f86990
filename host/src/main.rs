//! The `diverge` binary: argument parsing and error reporting only; the work is in the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use diverge::commands::{compare, conformance, da, exec, inspect, keys, run, testnet};
use diverge::config::Loaded;
use diverge::node::runtime;
use diverge::registry;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{Axis, DataAvailability};

#[derive(Parser, Debug)]
#[command(
    name = "diverge",
    version,
    about = "A research node for divergent consensus"
)]
struct Cli {
    /// Log verbosity (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
struct ConfigArgs {
    /// Config file (TOML); DIVERGE_SECTION__KEY env vars and --set override it.
    #[arg(long, short, global = true, default_value = "configs/polkadot.toml")]
    config: PathBuf,
    /// Override a key: --set chain.slot_ms=2000 (value in TOML syntax; bare words are strings).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Loaded> {
        Ok(Loaded::load(&self.config, &self.overrides)?)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one node of a chain (validator or observer) until --exit-after-slot or Ctrl-C.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Chain spec from `diverge chain-spec build` (or written by `diverge testnet`).
        #[arg(long, required_unless_present = "dev", conflicts_with = "dev")]
        chain: Option<PathBuf>,
        /// A one-validator development chain: validator 0 with its development key, fast slots
        /// (1000 ms unless --set chain.slot_ms), a temp base path unless --base-path is given.
        #[arg(long, conflicts_with_all = ["validator_index", "key", "dev_key"])]
        dev: bool,
        /// This node's validator index; without it the node only follows the chain.
        #[arg(long)]
        validator_index: Option<u16>,
        /// Validator key file from `diverge key generate`.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Use the JIP-5 development seed of --validator-index (local testnets only).
        #[arg(long)]
        dev_key: bool,
        /// Directory for the database, events.jsonl and summary.json [default: diverge-data;
        /// with --dev a temp directory removed when the node stops].
        #[arg(long)]
        base_path: Option<PathBuf>,
        /// QUIC listen address [default: 127.0.0.1:30333; with --dev a free port].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Extra peer, INDEX@IP:PORT (repeatable; the chain spec's addresses are used too).
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// Serve Prometheus metrics on this address (GET /metrics).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Serve JSON-RPC (HTTP and WebSocket) on this address.
        #[arg(long)]
        rpc: Option<std::net::SocketAddr>,
        /// Stop after this slot.
        #[arg(long)]
        exit_after_slot: Option<u32>,
        /// Transactions per authored block.
        #[arg(long, default_value_t = 32)]
        txs: usize,
        /// Workload seed (the same on every node of a chain).
        #[arg(long, default_value_t = 1)]
        workload_seed: u64,
        /// Read-only observers (nodes run without --validator-index) this validator serves at
        /// once: they may only sync and are pushed each finalized head; 0 refuses them.
        #[arg(long, default_value_t = 16)]
        max_observers: usize,
        /// Link shaping (JSON, written by `diverge compare --backend processes`): one-way
        /// latency by region, jitter, loss, bandwidth and partition windows, applied to this
        /// validator's sends as the simulator applies them.
        #[arg(long, value_name = "FILE")]
        shape: Option<PathBuf>,
        /// Byzantine, for experiments: besides its honest traffic, flood every validator with
        /// PER_SLOT garbage 200-byte consensus messages per slot, from FROM_SLOT until TO_SLOT
        /// begins (a scenario's `kind = "spam"` fault on the process backend). Repeatable.
        #[arg(long, value_name = "FROM_SLOT:TO_SLOT:PER_SLOT", value_parser = parse_spam)]
        spam: Vec<runtime::Spam>,
    },
    /// Start N node processes on 127.0.0.1, show progress, print a summary.
    Testnet {
        #[command(flatten)]
        config: ConfigArgs,
        /// Validators, one process each.
        #[arg(long, default_value_t = 6)]
        nodes: u16,
        /// Slots to run.
        #[arg(long, default_value_t = 40)]
        slots: u32,
        /// Keep the nodes' data here (default: a new temp directory).
        #[arg(long)]
        base_path: Option<PathBuf>,
        /// Transactions per block.
        #[arg(long, default_value_t = 32)]
        txs: usize,
        /// No progress bar (for logs and scripts).
        #[arg(long)]
        quiet: bool,
        /// Link shaping file for every node (see `diverge run --shape`).
        #[arg(long, value_name = "FILE")]
        shape: Option<PathBuf>,
    },
    /// Run two (or more) variant configs under one scenario; write report.md, CSV and an SVG
    /// plot, and print the side-by-side table.
    Compare {
        /// The variant configs, e.g. configs/polkadot.toml configs/kusama.toml.
        #[arg(required = true, num_args = 2..)]
        configs: Vec<PathBuf>,
        /// Scenario file (validators, network, slots, faults, backend).
        #[arg(long, default_value = "configs/scenarios/netsplit.toml")]
        scenario: PathBuf,
        /// Where to run it (default: the scenario's `backend`).
        #[arg(long, value_enum)]
        backend: Option<compare::Backend>,
        /// Override a key in every variant: --set chain.slot_ms=2000.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Report directory.
        #[arg(long, default_value = "reports/compare")]
        out: PathBuf,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Export a scenario as a Shadow experiment (shadow.yaml, network.gml, spec.json) that runs
    /// the real `diverge run` binary on one host per validator.
    Shadow {
        /// The variant config every host runs.
        #[arg(long, default_value = "configs/polkadot.toml")]
        config: PathBuf,
        /// Scenario file (validators, network, slots).
        #[arg(long, default_value = "configs/scenarios/netsplit.toml")]
        scenario: PathBuf,
        /// Override a config key: --set chain.slot_ms=2000.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "reports/shadow")]
        out: PathBuf,
    },
    /// Validator keys.
    Key {
        #[command(subcommand)]
        op: KeyOp,
    },
    /// Chain specs.
    ChainSpec {
        #[command(subcommand)]
        op: SpecOp,
    },
    /// List what a config loads on each axis: name, version, axis, ABI, file.
    Plugins {
        #[command(flatten)]
        config: ConfigArgs,
        /// Exit non-zero if any axis fails to load.
        #[arg(long)]
        strict: bool,
    },
    /// Print the effective config (file < env < --set) and the derived chain parameters.
    Config(ConfigArgs),
    /// Push data through a DA plugin.
    Da {
        #[command(flatten)]
        config: ConfigArgs,
        /// Use this plugin library instead of the config's [da] plugin.
        #[arg(long, global = true)]
        plugin: Option<PathBuf>,
        #[command(subcommand)]
        op: DaOp,
    },
    /// Run generated blocks through an exec plugin: execute, validate, timings.
    Exec {
        #[command(flatten)]
        config: ConfigArgs,
        /// Use this plugin library instead of the config's [exec] plugin.
        #[arg(long, global = true)]
        plugin: Option<PathBuf>,
        #[command(subcommand)]
        op: ExecOp,
    },
    /// Run public test vectors through a loaded plugin.
    Conformance {
        /// The suite: erasure (DA plugins), safrole (Safrole STF vectors) or safrole-trace (JAM
        /// block-import trace steps), the last two for consensus plugins.
        suite: String,
        /// Directory of vector files (.json and/or .bin), searched recursively.
        dir: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Use this plugin library instead of the config's plugin for the suite's axis.
        #[arg(long)]
        plugin: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum KeyOp {
    /// Generate a validator seed into a file (mode 0600) and print its public keys.
    Generate {
        /// The key file to create (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SpecOp {
    /// Write a chain spec: genesis time, validator keys, bootnodes.
    Build {
        #[command(flatten)]
        config: ConfigArgs,
        /// Validators: development keys 0..N unless --keys is given.
        #[arg(long)]
        validators: Option<u16>,
        /// Key files (from `diverge key generate`), one per validator, in index order.
        #[arg(long = "key", value_delimiter = ',')]
        keys: Vec<PathBuf>,
        /// Bootnode addresses, INDEX@IP:PORT.
        #[arg(long = "bootnode")]
        bootnodes: Vec<String>,
        /// Genesis (slot 0) in Unix milliseconds; default: now plus 10 s.
        #[arg(long)]
        genesis_unix_ms: Option<u64>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DaOp {
    /// Encode random data, check every shard, decode from a random minimal subset, compare.
    Roundtrip {
        /// Payload size in bytes.
        #[arg(long, default_value_t = 1 << 20)]
        size: usize,
        /// Seed of the payload and of the shard subset.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Encode a file into a directory of shards.
    Encode {
        /// File to encode.
        #[arg(long)]
        input: PathBuf,
        /// Output directory (commitment.bin, shard-NNNN.bin).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check and decode a directory of shards into a file.
    Decode {
        /// Directory written by `da encode`.
        #[arg(long)]
        dir: PathBuf,
        /// Output file.
        #[arg(long)]
        output: PathBuf,
        /// Use only these shard indices (comma-separated).
        #[arg(long, value_delimiter = ',')]
        shards: Option<Vec<u32>>,
    },
}

#[derive(Subcommand, Debug)]
enum ExecOp {
    /// Generate blocks (deterministic from the seed), execute and validate each, print timings.
    Run {
        /// Transactions per block.
        #[arg(long, default_value_t = 1000)]
        txs: usize,
        /// Blocks, each on the previous one's state.
        #[arg(long, default_value_t = 1)]
        blocks: usize,
        /// Workload seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_spam(s: &str) -> Result<runtime::Spam, String> {
    runtime::Spam::parse(s).map_err(|e| format!("{e:#}"))
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn open_da(
    config: &ConfigArgs,
    plugin: Option<&Path>,
) -> anyhow::Result<Box<dyn DataAvailability>> {
    let loaded = config.load()?;
    let lib = match plugin {
        Some(p) => {
            let lib = PluginLibrary::open(p)?;
            lib.expect_axis(Axis::Da)?;
            lib
        }
        None => registry::open_axis(&loaded, Axis::Da)?,
    };
    let args = registry::init_args(&loaded, Axis::Da)?;
    lib.da(&args)
        .with_context(|| format!("instantiating {}", lib.path().display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // One line: the chain of causes joined, so scripts and humans see the whole reason.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Run {
            config,
            chain,
            dev,
            validator_index,
            key,
            dev_key,
            base_path,
            listen,
            peers,
            metrics,
            rpc,
            exit_after_slot,
            txs,
            workload_seed,
            max_observers,
            shape,
            spam,
        } => {
            let args = run::RunArgs {
                chain,
                dev,
                validator_index,
                key,
                dev_key,
                base_path,
                listen,
                peers,
                metrics,
                rpc,
                exit_after_slot,
                txs,
                workload_seed,
                max_observers,
                shape,
                spam,
            };
            let loaded = if dev {
                Loaded::load(&config.config, &run::dev_overrides(&config.overrides))?
            } else {
                config.load()?
            };
            let s = run::run(&loaded, &args)?;
            writeln!(
                out,
                "stopped after slot {}: authored {}, imported {}, finalized {} (height {}), orphaned {}",
                s.last_slot,
                s.core.authored,
                s.core.imported,
                s.core.finalized,
                s.core.finalized_number,
                s.core.orphaned
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Testnet {
            config,
            nodes,
            slots,
            base_path,
            txs,
            quiet,
            shape,
        } => {
            let loaded = config.load()?;
            let args = testnet::TestnetArgs {
                nodes,
                slots,
                base_path,
                txs,
                progress: !quiet,
                crashes: Vec::new(),
                shape,
                spam: Vec::new(),
            };
            let s = testnet::testnet(&loaded, &config.overrides, &args, &mut out)?;
            Ok(if s.finalized == 0 || !s.failed_nodes.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Compare {
            configs,
            scenario,
            backend,
            overrides,
            out: dir,
            quiet,
        } => {
            let scenario = compare::Scenario::load(&scenario)?;
            let loaded = configs
                .iter()
                .map(|c| Ok((c.clone(), Loaded::load(c, &overrides)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let backend = backend.unwrap_or(scenario.backend);
            let reports = compare::compare(
                &loaded, &scenario, backend, &overrides, &dir, !quiet, &mut out,
            )?;
            Ok(
                if reports
                    .iter()
                    .any(|r| r.finalized_blocks == 0 || !r.failed_nodes.is_empty())
                {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        Command::Shadow {
            config,
            scenario,
            overrides,
            out: dir,
        } => {
            let scenario = compare::Scenario::load(&scenario)?;
            compare::shadow(&config, &scenario, &overrides, &dir)?;
            writeln!(
                out,
                "wrote {}/{{shadow.yaml, network.gml, spec.json}}: run `shadow shadow.yaml` there",
                dir.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { op } => match op {
            KeyOp::Generate { out: path } => {
                keys::generate(&path, &mut out)?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::ChainSpec { op } => match op {
            SpecOp::Build {
                config,
                validators,
                keys: key_files,
                bootnodes,
                genesis_unix_ms,
                out: path,
            } => {
                let loaded = config.load()?;
                keys::build_spec(
                    &loaded,
                    validators,
                    &key_files,
                    &bootnodes,
                    genesis_unix_ms,
                    &path,
                    &mut out,
                )?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Plugins { config, strict } => {
            let failed = inspect::plugins(&config.load()?, &mut out)?;
            Ok(if strict && failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Config(config) => {
            inspect::config(&config.load()?, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Da { config, plugin, op } => {
            let da = open_da(&config, plugin.as_deref())?;
            match op {
                DaOp::Roundtrip { size, seed } => {
                    let r = da::roundtrip(da.as_ref(), size, seed, &mut out)?;
                    if !r.ok {
                        bail!("decoded data differs from the encoded payload");
                    }
                }
                DaOp::Encode { input, out: dir } => {
                    da::encode(da.as_ref(), &input, &dir, &mut out)?
                }
                DaOp::Decode {
                    dir,
                    output,
                    shards,
                } => da::decode(da.as_ref(), &dir, shards.as_deref(), &output, &mut out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Exec { config, plugin, op } => {
            let loaded = config.load()?;
            let lib = match plugin {
                Some(p) => {
                    let lib = PluginLibrary::open(&p)?;
                    lib.expect_axis(Axis::Exec)?;
                    lib
                }
                None => registry::open_axis(&loaded, Axis::Exec)?,
            };
            let args = registry::init_args(&loaded, Axis::Exec)?;
            let mut ex = lib
                .exec(&args)
                .with_context(|| format!("instantiating {}", lib.path().display()))?;
            writeln!(
                out,
                "exec plugin {} {} ({})",
                lib.meta().name,
                lib.meta().version,
                lib.path().display()
            )?;
            match op {
                ExecOp::Run { txs, blocks, seed } => {
                    exec::run(ex.as_mut(), txs, blocks, seed, &mut out)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance {
            suite,
            dir,
            config,
            plugin,
        } => {
            let axis = conformance::suite_axis(&suite).ok_or_else(|| {
                anyhow!("unknown suite {suite:?}: expected erasure, safrole or safrole-trace")
            })?;
            let lib = match plugin {
                Some(p) => {
                    let lib = PluginLibrary::open(&p)?;
                    lib.expect_axis(axis)?;
                    lib
                }
                None => registry::open_axis(&config.load()?, axis)?,
            };
            let tally = conformance::run(&lib, &suite, &dir, &mut out)?;
            out.flush()?;
            if tally.passed + tally.failed == 0 {
                bail!("no {suite} cases found in {}", dir.display());
            }
            Ok(if tally.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
