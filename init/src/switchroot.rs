//! pid1 mode: switch root into the merged tree and exec the real init.
//!
//! Like util-linux `switch_root`: move `/dev`, `/proc`, `/sys`, `/run` into
//! the new root, `chdir` there, move it onto `/`, `chroot .`; then empty the
//! old initramfs (only when it was ramfs/tmpfs, checked with statfs before
//! anything moves) through a directory fd opened beforehand, never crossing
//! into another filesystem (the image and the overlay's tmpfs stay mounted
//! below it).

use std::ffi::CStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{info, mounts, sys, warn};

/// The API filesystems carried over into the new root.
pub const MOVED_MOUNTS: &[&str] = &["/dev", "/proc", "/sys", "/run"];

/// Init programs tried in the new root, in order. `/init` (what dracut's
/// full initramfs starts) comes before the last resort `/bin/sh`.
pub const INIT_CANDIDATES: &[&str] = &["/sbin/init", "/etc/init", "/bin/init", "/init", "/bin/sh"];

/// An open directory fd, closed on drop.
struct Dir(libc::c_int);

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn open_dir_at(dirfd: libc::c_int, name: &CStr) -> Option<Dir> {
    // SAFETY: valid NUL-terminated name; the result is checked.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    (fd >= 0).then_some(Dir(fd))
}

/// Deletes everything below the directory `dir` that lives on filesystem
/// `dev` (st_dev); directories of other filesystems (mount points) are left
/// alone. Best effort: what cannot be removed stays. Returns the number of
/// entries removed.
fn clear_dir(dir: &Dir, dev: libc::dev_t) -> u64 {
    // fdopendir takes ownership of the fd it is given: hand it a duplicate.
    // SAFETY: dup/fdopendir/readdir/closedir on descriptors we own.
    let dup = unsafe { libc::dup(dir.0) };
    if dup < 0 {
        return 0;
    }
    let dp = unsafe { libc::fdopendir(dup) };
    if dp.is_null() {
        unsafe { libc::close(dup) };
        return 0;
    }
    let mut names = Vec::new();
    loop {
        let ent = unsafe { libc::readdir(dp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside the dirent.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    unsafe { libc::closedir(dp) };
    let mut removed = 0;
    for name in names {
        // SAFETY: fstatat fills the zeroed struct we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatat(dir.0, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
            continue;
        }
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if is_dir {
            if st.st_dev != dev {
                continue; // a mount point: another filesystem
            }
            if let Some(sub) = open_dir_at(dir.0, &name) {
                removed += clear_dir(&sub, dev);
            }
        }
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: valid dirfd and name.
        if unsafe { libc::unlinkat(dir.0, name.as_ptr(), flags) } == 0 {
            removed += 1;
        }
    }
    removed
}

/// Empties the tree at `root` on its own filesystem (tests use a tempdir).
pub fn clear_tree(root: &Path) -> Result<u64> {
    let c = sys::cstr(root)?;
    let dir = open_dir_at(libc::AT_FDCWD, &c)
        .with_context(|| format!("cannot open {}", root.display()))?;
    let md = std::fs::metadata(root).with_context(|| format!("cannot stat {}", root.display()))?;
    use std::os::unix::fs::MetadataExt;
    Ok(clear_dir(&dir, md.dev() as libc::dev_t))
}

/// Switches root to `new_root` (see the module docs). On return the process
/// runs in the new root with cwd `/`.
pub fn switch_root(new_root: &Path) -> Result<()> {
    let magic = sys::fs_magic(Path::new("/")).context("statfs /")?;
    let delete_old = magic == sys::RAMFS_MAGIC || magic == sys::TMPFS_MAGIC;
    let slash = sys::cstr(Path::new("/"))?;
    let old_root = open_dir_at(libc::AT_FDCWD, &slash).context("cannot open / (old root)")?;
    use std::os::unix::fs::MetadataExt;
    let old_dev = std::fs::metadata("/").context("stat /")?.dev() as libc::dev_t;

    for m in MOVED_MOUNTS {
        let target = new_root.join(m.trim_start_matches('/'));
        if let Err(e) = std::fs::create_dir_all(&target) {
            warn!("cannot create {}: {e}", target.display());
        }
        if let Err(e) = mounts::move_mount(Path::new(m), &target) {
            warn!("{e:#}; detaching {m} instead");
            let _ = sys::umount(Path::new(m), libc::MNT_DETACH);
        }
    }
    std::env::set_current_dir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    mounts::move_mount(new_root, Path::new("/"))?;
    sys::chroot(Path::new(".")).context("chroot .")?;
    std::env::set_current_dir("/").context("chdir /")?;
    info!("switched root to {}", new_root.display());

    if delete_old {
        let t = Instant::now();
        let n = clear_dir(&old_root, old_dev);
        info!(
            "removed {n} entries of the old initramfs in {} ms",
            t.elapsed().as_millis()
        );
    } else {
        info!("old root is not ramfs/tmpfs (magic {magic:#x}); left in place");
    }
    Ok(())
}

/// Execs the first of [`INIT_CANDIDATES`] that exists (in the current root)
/// with `args`. Returns only on failure.
pub fn exec_init(args: &[String]) -> Result<()> {
    for cand in INIT_CANDIDATES {
        if std::fs::symlink_metadata(cand).is_err() {
            continue;
        }
        info!(
            "exec {cand}{}{}",
            if args.is_empty() { "" } else { " " },
            args.join(" ")
        );
        let err = Command::new(cand).args(args).exec();
        warn!("exec {cand}: {err}");
    }
    bail!(
        "no init found in the new root (tried {})",
        INIT_CANDIDATES.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn clears_a_tree_without_crossing_filesystems() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("old");
        fs::create_dir_all(root.join("usr/lib/modules")).unwrap();
        fs::write(root.join("usr/lib/modules/a.ko"), b"x").unwrap();
        fs::write(root.join("init"), b"#!/bin/sh").unwrap();
        std::os::unix::fs::symlink("/nonexistent", root.join("dangling")).unwrap();
        // A symlink to outside must be removed, not followed.
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"k").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link-out")).unwrap();
        let n = clear_tree(&root).unwrap();
        assert_eq!(n, 7, "usr, lib, modules, a.ko, init, dangling, link-out");
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert!(outside.join("keep").exists());
    }
}
