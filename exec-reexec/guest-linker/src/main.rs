//! Links exec-reexec's guest ELF into the `.polkavm` blob the plugin embeds:
//! `exec-reexec-guest-linker <in.elf> <out.polkavm>` (scripts/build-guest runs it).

use anyhow::{bail, Context};
use polkavm_linker::{program_from_elf, Config, TargetInstructionSet};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, elf, out] = args.as_slice() else {
        bail!("usage: exec-reexec-guest-linker <in.elf> <out.polkavm>");
    };
    let data = std::fs::read(elf).with_context(|| format!("reading {elf}"))?;
    let mut config = Config::default();
    // Stripped: the blob is committed and compared byte for byte, so no debug info or paths.
    config.set_strip(true);
    // The guest keeps its buffers in static memory; 64 KiB covers its deepest call chain.
    config.set_min_stack_size(64 * 1024);
    let blob = program_from_elf(config, TargetInstructionSet::Latest, &data)
        .map_err(|e| anyhow::anyhow!("linking {elf}: {e}"))?;
    std::fs::write(out, &blob).with_context(|| format!("writing {out}"))?;
    println!("{out}: {} bytes", blob.len());
    Ok(())
}
