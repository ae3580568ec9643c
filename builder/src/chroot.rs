//! Running tools inside an offline root: `chroot(8)` with /proc, /sys and
//! /dev bind-mounted for the duration (an RAII guard).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use rustix::mount::{mount_bind, unmount, UnmountFlags};

/// Whether `root` is the live system (`/`, `//`, `/.`; an empty path too).
pub fn is_live(root: &Path) -> bool {
    use std::path::Component;
    root.components()
        .all(|c| matches!(c, Component::RootDir | Component::CurDir))
        && (root.has_root() || root.as_os_str().is_empty())
}

/// A command running `program` inside `root`: plain when `root` is `/`,
/// otherwise via `chroot ROOT PROGRAM` with a standard `PATH`.
pub fn command(root: &Path, program: &str) -> Command {
    if is_live(root) {
        Command::new(program)
    } else {
        let mut c = Command::new("chroot");
        c.arg(root).arg(program);
        c.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        c
    }
}

/// The path a tool inside `root` sees for the host path `host` (which must
/// be below `root`).
pub fn inside(root: &Path, host: &Path) -> Result<PathBuf> {
    if is_live(root) {
        return Ok(host.to_path_buf());
    }
    let rel = host
        .strip_prefix(root)
        .with_context(|| format!("{} is not inside {}", host.display(), root.display()))?;
    Ok(Path::new("/").join(rel))
}

/// /proc, /sys and /dev bind-mounted into an offline root; unmounted (in
/// reverse order) on drop, also when the build failed. A no-op for `/`.
#[derive(Debug)]
pub struct BindMounts {
    mounted: Vec<PathBuf>,
}

impl BindMounts {
    /// Bind-mounts /proc, /sys, /dev into `root` (unless `root` is `/`).
    /// Errors: a mount point is missing or the mount fails (earlier mounts
    /// are undone).
    pub fn new(root: &Path) -> Result<Self> {
        let mut guard = BindMounts {
            mounted: Vec::new(),
        };
        if is_live(root) {
            return Ok(guard);
        }
        for dir in ["proc", "sys", "dev"] {
            let target = root.join(dir);
            if !target.is_dir() || target.is_symlink() {
                bail!(
                    "{} is not a directory: cannot bind-mount /{dir} there",
                    target.display()
                );
            }
            mount_bind(Path::new("/").join(dir).as_path(), &target)
                .with_context(|| format!("cannot bind-mount /{dir} on {}", target.display()))?;
            guard.mounted.push(target);
        }
        Ok(guard)
    }
}

impl Drop for BindMounts {
    fn drop(&mut self) {
        while let Some(target) = self.mounted.pop() {
            if let Err(e) = unmount(&target, UnmountFlags::empty()) {
                // Something inside still uses it: detach so the root is freed.
                eprintln!(
                    "initoverlayfs-builder: unmount {} failed ({e}); detaching it",
                    target.display()
                );
                let _ = unmount(&target, UnmountFlags::DETACH);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_roots_and_paths_inside() {
        for live in ["/", "//", "/.", ""] {
            assert!(is_live(Path::new(live)), "{live:?}");
        }
        for offline in ["/mnt/root", ".", "root"] {
            assert!(!is_live(Path::new(offline)), "{offline:?}");
        }
        let inside_path = inside(Path::new("/mnt/root"), Path::new("/mnt/root/var/tmp/x")).unwrap();
        assert_eq!(inside_path, Path::new("/var/tmp/x"));
        assert!(inside(Path::new("/mnt/root"), Path::new("/tmp/x")).is_err());
        assert_eq!(
            inside(Path::new("/"), Path::new("/tmp/x")).unwrap(),
            Path::new("/tmp/x")
        );
        let cmd = command(Path::new("/mnt/root"), "dracut");
        assert_eq!(
            initoverlayfs::cmd::command_line(&cmd),
            "chroot /mnt/root dracut"
        );
    }
}
