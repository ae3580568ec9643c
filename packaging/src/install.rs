//! Installing the file list into a root directory without RPM (the VM test
//! uses this to put a workspace build into its guest).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::files::{FileEntry, Kind, Source, FILES};

/// Where [`install_into`] reads file contents from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The workspace root (for [`Source::Repo`] entries).
    pub workspace: &'a Path,
    /// The cargo target directory; binaries are read from `TARGET/release/`.
    pub target: &'a Path,
    /// The directory written by `initoverlayfs-packaging completions --out DIR`;
    /// `None` skips the [`Source::Generated`] entries (shell completions).
    pub generated: Option<&'a Path>,
}

/// Copies every entry for which `filter` returns true into `root` (a
/// directory standing for `/`), creating parent directories (0755), setting
/// each file's mode and gzip-compressing man pages as the packages do.
/// Ghost entries are skipped. Returns the installed entries.
///
/// Errors: a missing source file (e.g. no release build yet) or an
/// unwritable root; the message names both paths.
pub fn install_into(
    root: &Path,
    src: Sources<'_>,
    filter: impl Fn(&FileEntry) -> bool,
) -> Result<Vec<FileEntry>> {
    let mut done = Vec::new();
    for f in FILES.iter().filter(|f| filter(f)) {
        let from = match f.source {
            Source::Ghost => continue,
            Source::Generated(_) if src.generated.is_none() => continue,
            _ => f
                .source_path(
                    src.workspace,
                    src.target,
                    src.generated.unwrap_or(Path::new("")),
                )
                .expect("non-ghost entries have a source"),
        };
        let to = root.join(f.packaged_path().trim_start_matches('/'));
        let data = fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
        let data = if f.kind == Kind::Man {
            gzip(&data)?
        } else {
            data
        };
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&to, &data)
            .with_context(|| format!("cannot write {} (from {})", to.display(), from.display()))?;
        fs::set_permissions(&to, fs::Permissions::from_mode(f.mode))
            .with_context(|| format!("cannot chmod {:o} {}", f.mode, to.display()))?;
        done.push(*f);
    }
    Ok(done)
}

/// gzip-compresses `data` at the best level (what `brp-compress` does to man pages).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).context("gzip")?;
    enc.finish().context("gzip")
}
