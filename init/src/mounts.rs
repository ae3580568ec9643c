//! Mount helpers with errors that name source, target, type and options,
//! and [`MountStack`], which unmounts what a failed run mounted.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::sys;

/// mount(2) of `source` on `target` as `fstype` with `flags` and `data`.
/// Errors: `mount SRC on TARGET as TYPE (DATA): ERRNO TEXT`.
pub fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    sys::mount(Some(source), target, Some(fstype), flags, data).with_context(|| {
        let mut what = format!("mount {source} on {} as {fstype}", target.display());
        if flags & libc::MS_RDONLY != 0 {
            what.push_str(" read-only");
        }
        if let Some(d) = data {
            what.push_str(&format!(" ({d})"));
        }
        what
    })
}

/// Makes the mount at `target` private (`mount --make-private`, not
/// recursive): the kernel refuses `MS_MOVE` of a mount whose parent is
/// shared (systemd makes `/` shared at startup), and mounts created below a
/// private mount are private too.
pub fn make_private(target: &Path) -> Result<()> {
    sys::mount(None, target, None, libc::MS_PRIVATE, None)
        .with_context(|| format!("make {} private", target.display()))
}

/// Moves the mount at `from` to `to` (`mount --move`).
pub fn move_mount(from: &Path, to: &Path) -> Result<()> {
    sys::mount(Some(&from.to_string_lossy()), to, None, libc::MS_MOVE, None)
        .with_context(|| format!("move mount {} to {}", from.display(), to.display()))
}

/// Bind-mounts `from` on `to`.
pub fn bind(from: &Path, to: &Path) -> Result<()> {
    sys::mount(Some(&from.to_string_lossy()), to, None, libc::MS_BIND, None)
        .with_context(|| format!("bind mount {} on {}", from.display(), to.display()))
}

/// Undoes `\040`-style octal escapes of `/proc/self/mountinfo` fields.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points listed in a `/proc/self/mountinfo` text (field 5).
pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect()
}

/// Whether `path` is a mount point (per `/proc/self/mountinfo`).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    mount_points(&text).iter().any(|m| Path::new(m) == real)
}

/// Mounts made so far; on drop, unmounts them newest first (lazily), unless
/// [`MountStack::keep`] was called or the stack was made with `undo: false`.
/// Keeps a failed systemd-mode run from leaving a half-built tree (and a
/// busy loop device) behind.
#[derive(Debug)]
pub struct MountStack {
    targets: Vec<PathBuf>,
    undo: bool,
}

impl MountStack {
    /// An empty stack; `undo`: unmount on drop (pid1 mode passes `false`,
    /// so a failure leaves the image mounted for the emergency shell).
    pub fn new(undo: bool) -> MountStack {
        MountStack {
            targets: Vec::new(),
            undo,
        }
    }

    /// Records a mount at `target` (after it succeeded).
    pub fn push(&mut self, target: &Path) {
        self.targets.push(target.to_path_buf());
    }

    /// Replaces the recorded target `from` by `to` (after a move).
    pub fn moved(&mut self, from: &Path, to: &Path) {
        for t in &mut self.targets {
            if t == from {
                *t = to.to_path_buf();
            }
        }
    }

    /// Drops the recorded target `target` (it was unmounted already).
    pub fn forget(&mut self, target: &Path) {
        self.targets.retain(|t| t != target);
    }

    /// Success: leave everything mounted.
    pub fn keep(&mut self) {
        self.targets.clear();
    }
}

impl Drop for MountStack {
    fn drop(&mut self) {
        if !self.undo {
            return;
        }
        while let Some(t) = self.targets.pop() {
            let _ = sys::umount(&t, libc::MNT_DETACH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        // Recorded from a Debian 12 host (one line shortened).
        let text = "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    35 22 0:30 / /mnt/my\\040boot rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_points(text), vec!["/", "/mnt/my boot"]);
        assert_eq!(unescape_mountinfo("a\\134b"), "a\\b");
        assert_eq!(unescape_mountinfo("end\\04"), "end\\04");
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
    }

    #[test]
    fn mount_error_names_everything() {
        let err = mount(
            "/nonexistent/dev",
            Path::new("/nonexistent/target"),
            "erofs",
            libc::MS_RDONLY,
            Some("x=1"),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with(
                "mount /nonexistent/dev on /nonexistent/target as erofs read-only (x=1): "
            ),
            "{msg}"
        );
    }
}
