//! `diverge conformance <suite> <DIR>`: run every public test vector of a suite in a directory
//! through a loaded plugin, one line per case.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use diverge_plugins::loader::PluginLibrary;
use diverge_plugins::{Axis, CaseFormat, ErrorKind};

/// Which axis implements a suite.
pub fn suite_axis(suite: &str) -> Option<Axis> {
    match suite {
        "erasure" => Some(Axis::Da),
        "safrole" | "safrole-trace" => Some(Axis::Consensus),
        _ => None,
    }
}

/// Totals of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Cases whose result matched.
    pub passed: usize,
    /// Cases whose result differed or that errored.
    pub failed: usize,
    /// Files the plugin said are not cases of the suite.
    pub skipped: usize,
}

/// Every `.json` and `.bin` file below `dir`, sorted.
pub fn case_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("reading directory {}", d.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(CaseFormat::from_extension)
                .is_some()
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `suite` over `dir` with `lib`, printing one line per case and a closing tally.
pub fn run(
    lib: &PluginLibrary,
    suite: &str,
    dir: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<Tally> {
    let files = case_files(dir)?;
    let mut tally = Tally::default();
    writeln!(
        out,
        "suite {suite}: {} files in {} through {} ({})",
        files.len(),
        dir.display(),
        lib.meta().name,
        lib.path().display()
    )?;
    for file in files {
        let rel = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        let format = file
            .extension()
            .and_then(|e| e.to_str())
            .and_then(CaseFormat::from_extension)
            .unwrap_or(CaseFormat::Binary);
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let t = Instant::now();
        let verdict = lib.conformance(suite, format, &bytes);
        let took = t.elapsed();
        match verdict {
            Ok(o) if o.passed() => {
                tally.passed += 1;
                let diverge_plugins::CaseOutcome::Pass { detail } = o else {
                    continue;
                };
                writeln!(
                    out,
                    "PASS {rel} ({:.1} ms) {detail}",
                    took.as_secs_f64() * 1e3
                )?;
            }
            Ok(o) => {
                tally.failed += 1;
                let diverge_plugins::CaseOutcome::Fail { detail } = o else {
                    continue;
                };
                writeln!(out, "FAIL {rel}: {detail}")?;
            }
            Err(e) if e.kind == ErrorKind::Unsupported => {
                tally.skipped += 1;
                writeln!(out, "SKIP {rel}: {}", e.message)?;
            }
            Err(e) => {
                tally.failed += 1;
                writeln!(out, "FAIL {rel}: {e}")?;
            }
        }
    }
    writeln!(
        out,
        "conformance {suite}: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.skipped
    )?;
    Ok(tally)
}
