//! Mounts with guaranteed unmount (RAII).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

/// A mounted filesystem; unmounted on drop (retried, then lazily detached so
/// a crash never leaves it in the way).
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
}

impl Mount {
    /// Mounts `source` (a device) on `target` (created if missing) with
    /// `fstype` and the comma-separated `options` (may be empty).
    ///
    /// Errors: the mount point cannot be created or `mount` fails.
    pub fn new(source: &Path, target: &Path, fstype: &str, options: &str) -> Result<Mount> {
        std::fs::create_dir_all(target)
            .with_context(|| format!("cannot create mount point {}", target.display()))?;
        let mut cmd = Command::new("mount");
        cmd.args(["-t", fstype]);
        if !options.is_empty() {
            cmd.args(["-o", options]);
        }
        cmd.arg(source).arg(target).run().with_context(|| {
            format!("cannot mount {} on {}", source.display(), target.display())
        })?;
        Ok(Mount {
            target: target.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        for _ in 0..10 {
            if Command::new("umount").arg(&self.target).run().is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        eprintln!("vm: {} busy, detaching lazily", self.target.display());
        let _ = Command::new("umount").arg("-l").arg(&self.target).run();
    }
}
