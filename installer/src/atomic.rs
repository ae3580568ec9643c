//! Crash-safe file operations: write to a staging file in the same
//! directory, fsync it, rename it over the destination, fsync the
//! directory; and making /boot durable for the boot loader (`syncfs`, and
//! `FIFREEZE`/`FITHAW` on xfs, whose journal GRUB cannot replay).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Prefix of our staging files (`.initoverlayfs-staging.NAME`), removed by
/// [`clean_staging`] when a run was killed.
pub const STAGING_PREFIX: &str = ".initoverlayfs-staging.";

/// The staging path for `dest` (same directory, hidden name).
pub fn staging_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!("{STAGING_PREFIX}{name}"))
}

/// fsyncs a directory (makes renames/creations/removals in it durable).
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).with_context(|| format!("cannot open directory {}", dir.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

fn parent(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new("/"))
}

/// Creates the parent directories of `p` (mode 0755), fsyncing each new one's parent.
pub fn create_parents(p: &Path) -> Result<()> {
    let dir = parent(p);
    if dir.is_dir() {
        return Ok(());
    }
    create_parents(dir)?;
    match fs::create_dir(dir) {
        Ok(()) => fsync_dir(parent(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create directory {}", dir.display())),
    }
}

/// Atomically replaces `dest` with the bytes read from `src` (mode `mode`):
/// staging file, fsync, rename, fsync dir. Returns the bytes written.
///
/// Errors: any I/O failure (ENOSPC, EROFS…) — the staging file is removed
/// and `dest` is unchanged.
pub fn write_from(dest: &Path, src: &mut dyn Read, mode: u32) -> Result<u64> {
    create_parents(dest)?;
    let tmp = staging_path(dest);
    let res = (|| -> Result<u64> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let n = io::copy(src, &mut f).with_context(|| format!("cannot write {}", tmp.display()))?;
        set_mode(&f, &tmp, mode)?;
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", tmp.display()))?;
        Ok(n)
    })();
    match res {
        Ok(n) => {
            rename(&tmp, dest)?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// `MSDOS_SUPER_MAGIC` (linux/magic.h): the fat/vfat/msdos filesystems.
const MSDOS_SUPER_MAGIC: i64 = 0x4d44;

/// Whether a failed chmod with `err` on a filesystem of type `fs_magic`
/// (`statfs` `f_type`) can be ignored: FAT keeps no per-file permissions —
/// the mount's `umask`/`fmask` decide every file's mode, and the kernel
/// refuses (EPERM) any other mode unless mounted with `quiet` (`fat_setattr()`
/// in `fs/fat/file.c`). A vfat `/boot` (an XBOOTLDR or ESP mounted with
/// systemd's `umask=0077`) is such a filesystem.
pub fn chmod_error_is_ignorable(err: &io::Error, fs_magic: i64) -> bool {
    err.raw_os_error() == Some(libc::EPERM) && fs_magic == MSDOS_SUPER_MAGIC
}

/// Sets the permission bits of the open file `f` (at `path`, for messages)
/// to `mode`; on FAT, where the mount options fix every file's mode, a
/// refused chmod is not an error (see [`chmod_error_is_ignorable`]).
///
/// Errors: the chmod fails on another filesystem, or its type cannot be read.
pub fn set_mode(f: &File, path: &Path, mode: u32) -> Result<()> {
    let Err(e) = f.set_permissions(fs::Permissions::from_mode(mode)) else {
        return Ok(());
    };
    let st = rustix::fs::fstatfs(f).with_context(|| format!("cannot statfs {}", path.display()))?;
    #[allow(clippy::unnecessary_cast)]
    if chmod_error_is_ignorable(&e, st.f_type as i64) {
        return Ok(());
    }
    Err(e).with_context(|| format!("cannot chmod {} to {mode:o}", path.display()))
}

/// Atomically replaces `dest` with `bytes`.
pub fn write(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_from(dest, &mut &bytes[..], mode).map(drop)
}

/// Atomically replaces `dest` with a copy of `src` (keeping `src`'s mode).
pub fn copy(src: &Path, dest: &Path) -> Result<u64> {
    let mut f = File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mode = f
        .metadata()
        .with_context(|| format!("cannot stat {}", src.display()))?
        .mode()
        & 0o7777;
    write_from(dest, &mut f, mode)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))
}

/// Renames `from` over `to` and fsyncs the destination directory (and the
/// source's, when different).
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    fsync_dir(parent(to))?;
    if parent(from) != parent(to) {
        fsync_dir(parent(from))?;
    }
    Ok(())
}

/// Removes `p` if it exists and fsyncs its directory.
pub fn remove(p: &Path) -> Result<()> {
    // Absent files are fine even on a read-only filesystem (where unlink
    // of a missing name fails with EROFS, not ENOENT).
    if fs::symlink_metadata(p).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
        return Ok(());
    }
    match fs::remove_file(p) {
        Ok(()) => fsync_dir(parent(p)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// Removes staging files left in `dir` by a killed run.
pub fn clean_staging(dir: &Path) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            fs::remove_file(e.path())
                .with_context(|| format!("cannot remove stale {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// blake3 of a file's content (hex).
pub fn hash_file(p: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
    io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(h.finalize().to_hex().to_string())
}

const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
// _IOWR('X', 119, int) and _IOWR('X', 120, int) from linux/fs.h.
const FIFREEZE: libc::c_ulong = 0xC004_5877;
const FITHAW: libc::c_ulong = 0xC004_5878;

/// Makes everything written to the filesystem of `mount` durable for a boot
/// loader: `syncfs`, then — when `mount` is the root of an xfs filesystem —
/// freeze and thaw it, which checkpoints the journal into place.
///
/// Errors: syncfs fails, or the freeze fails (the thaw is always attempted).
pub fn flush_for_bootloader(mount: &Path) -> Result<()> {
    let dir = File::open(mount).with_context(|| format!("cannot open {}", mount.display()))?;
    rustix::fs::syncfs(&dir).with_context(|| format!("syncfs {} failed", mount.display()))?;
    let st =
        rustix::fs::fstatfs(&dir).with_context(|| format!("cannot statfs {}", mount.display()))?;
    #[allow(clippy::unnecessary_cast)]
    let is_xfs = st.f_type as i64 == XFS_SUPER_MAGIC;
    let own_fs = match (fs::metadata(mount), fs::metadata(parent(mount))) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || mount == Path::new("/"),
        _ => false,
    };
    if is_xfs && own_fs {
        freeze_thaw(&dir).with_context(|| format!("cannot freeze/thaw xfs {}", mount.display()))?;
    }
    Ok(())
}

/// The signals that end a command-line program (Ctrl-C, `kill`, a closed
/// terminal, Ctrl-\), held back while a filesystem is frozen: delivered
/// between FIFREEZE and FITHAW, they would leave /boot frozen and every
/// writer on it hung until someone thaws it by hand (bootupd does the same).
const FATAL_SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Blocks [`FATAL_SIGNALS`] for the calling thread until dropped, then
/// restores the previous mask (a signal that arrived meanwhile is delivered
/// then).
struct SignalsHeld {
    old: libc::sigset_t,
}

impl SignalsHeld {
    fn new() -> io::Result<SignalsHeld> {
        // SAFETY: the sets are plain data initialized by sigemptyset before use.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in FATAL_SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            match libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) {
                0 => Ok(SignalsHeld { old }),
                e => Err(io::Error::from_raw_os_error(e)),
            }
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

fn freeze_thaw(dir: &File) -> Result<()> {
    let _held = SignalsHeld::new().context("cannot block signals across the freeze")?;
    let fd = dir.as_raw_fd();
    let mut arg: libc::c_int = 0;
    // SAFETY: FIFREEZE/FITHAW take an int argument we own; fd is valid for the call.
    let r = unsafe { libc::ioctl(fd, FIFREEZE as _, &mut arg) };
    if r != 0 {
        return Err(io::Error::last_os_error()).context("FIFREEZE");
    }
    // SAFETY: as above.
    let r = unsafe { libc::ioctl(fd, FITHAW as _, &mut arg) };
    if r != 0 {
        return Err(io::Error::last_os_error()).context("FITHAW");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_copy_remove() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/file");
        write(&p, b"hello", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let q = d.path().join("copy");
        assert_eq!(copy(&p, &q).unwrap(), 5);
        assert_eq!(hash_file(&p).unwrap(), hash_file(&q).unwrap());
        assert_eq!(fs::metadata(&q).unwrap().mode() & 0o777, 0o600);
        fs::write(d.path().join(format!("{STAGING_PREFIX}x")), b"junk").unwrap();
        clean_staging(d.path()).unwrap();
        assert!(!d.path().join(format!("{STAGING_PREFIX}x")).exists());
        remove(&q).unwrap();
        remove(&q).unwrap();
        flush_for_bootloader(d.path()).unwrap();
    }

    #[test]
    fn signals_are_held_and_the_mask_restored() {
        let mask = || {
            // SAFETY: reads the current mask into a zeroed set.
            unsafe {
                let mut cur: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
                FATAL_SIGNALS.map(|s| libc::sigismember(&cur, s) == 1)
            }
        };
        assert_eq!(mask(), [false; 4]);
        {
            let _held = SignalsHeld::new().unwrap();
            assert_eq!(mask(), [true; 4]);
        }
        assert_eq!(mask(), [false; 4]);
    }

    #[test]
    fn chmod_refusals_are_ignored_only_on_fat() {
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        assert!(chmod_error_is_ignorable(&eperm, MSDOS_SUPER_MAGIC));
        assert!(!chmod_error_is_ignorable(&eperm, XFS_SUPER_MAGIC));
        let eio = io::Error::from_raw_os_error(libc::EIO);
        assert!(!chmod_error_is_ignorable(&eio, MSDOS_SUPER_MAGIC));
        // Elsewhere a chmod that works stays a chmod.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let f = File::create(&p).unwrap();
        set_mode(&f, &p, 0o640).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
    }
}
