//! Config files and `--set` overrides: any TOML text (first line taken as one override) loads or
//! gives a typed error. Goes through a file because that is the loader's interface (figment
//! layers a file, the environment and the overrides).
#![no_main]

use std::io::Write;

use diverge::config::Loaded;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (set, toml) = text.split_once('\n').unwrap_or(("", text));
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(toml.as_bytes()).is_err() {
        return;
    }
    let overrides: Vec<String> = if set.is_empty() {
        Vec::new()
    } else {
        vec![set.to_string()]
    };
    if let Ok(loaded) = Loaded::load(file.path(), &overrides) {
        let _ = loaded.chain_params();
        for axis in [
            diverge_plugins::Axis::Consensus,
            diverge_plugins::Axis::Da,
            diverge_plugins::Axis::Exec,
        ] {
            let _ = loaded.section(axis).params_json();
        }
    }
});
