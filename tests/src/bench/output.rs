//! Writes a run's outputs: `boot.json` (every sample), `boot.md` (tables)
//! and `boot.png` (the plot), each replaced atomically.

use std::path::Path;

use anyhow::{Context, Result};

use crate::bench::record::Report;
use crate::bench::{plot, render};

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
}

/// Writes `boot.json` and `boot.md` into `dir`, and `boot.png` once a
/// boot finished (a plot failure is printed, not an error: the numbers
/// are in the other two files).
///
/// Errors: `dir` is not writable.
pub fn write_all(r: &Report, dir: &Path) -> Result<()> {
    write_atomic(&dir.join("boot.json"), &serde_json::to_vec_pretty(r)?)?;
    write_atomic(&dir.join("boot.md"), render::markdown(r).as_bytes())?;
    if r.samples.iter().any(|s| s.finished()) {
        if let Err(e) = plot::draw(r, &dir.join("boot.png")) {
            eprintln!("bench: no plot: {e:#}");
        }
    }
    Ok(())
}
