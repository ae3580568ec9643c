//! Durable file writes: temp file next to the destination, fsync, rename,
//! fsync of the directory.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs the directory `dir` (makes a rename in it durable).
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

/// A temporary file next to `dest` (same filesystem, so it can be renamed
/// over `dest`); removed on drop unless persisted with [`persist`].
pub fn temp_next_to(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(dest);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

/// fsyncs `tmp`, renames it to `dest` and fsyncs the directory. Returns the
/// size in bytes.
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<u64> {
    let file =
        File::open(tmp.path()).with_context(|| format!("cannot open {}", tmp.path().display()))?;
    // tempfile creates 0600; boot artefacts are world-readable like the
    // initramfs files next to them.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .with_context(|| format!("cannot chmod {}", tmp.path().display()))?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", tmp.path().display()))?;
    let size = file.metadata()?.len();
    tmp.persist(dest)
        .with_context(|| format!("cannot rename into {}", dest.display()))?;
    fsync_dir(&parent_dir(dest))?;
    Ok(size)
}

/// Copies `src` to `dest` durably (temp file next to `dest`, fsync, rename).
/// Returns the size in bytes.
pub fn copy_durable(src: &Path, dest: &Path) -> Result<u64> {
    let mut input = File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mut tmp = temp_next_to(dest)?;
    io::copy(&mut input, tmp.as_file_mut())
        .with_context(|| format!("cannot copy {} to {}", src.display(), tmp.path().display()))?;
    persist(tmp, dest)
}
