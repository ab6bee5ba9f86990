//! Chain spec files (`--chain spec.json`): any bytes either load as a consistent spec or give a
//! typed error naming the file.
#![no_main]

use diverge::chainspec::ChainSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = ChainSpec::from_json(text, "fuzz") {
        // A spec that loads has a usable key set of the declared size.
        let keys = spec.keys().expect("loaded spec has keys");
        assert_eq!(keys.len(), usize::from(spec.chain.validators));
    }
});
