//! pid1 mode: the API filesystems the kernel does not mount for init:
//! `/proc` (proc), `/sys` (sysfs), `/dev` (devtmpfs), `/run` (tmpfs). One
//! already mounted (`EBUSY`) is fine. When the initramfs had no
//! `/dev/console`, the kernel started us without stdin/stdout/stderr; they
//! are then opened on `/dev/console` once devtmpfs is there.

use std::fs;
use std::os::fd::IntoRawFd;
use std::path::Path;

use anyhow::{Context, Result};

use crate::sys;

/// `(target, fstype, flags, data)` of each early mount, in order.
pub const EARLY_MOUNTS: &[(&str, &str, libc::c_ulong, &str)] = &[
    (
        "/proc",
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    ),
    (
        "/sys",
        "sysfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    ),
    ("/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
    (
        "/run",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755",
    ),
];

/// Mounts [`EARLY_MOUNTS`] and makes sure fds 0–2 are open.
pub fn mount_api_filesystems() -> Result<()> {
    for &(target, fstype, flags, data) in EARLY_MOUNTS {
        let path = Path::new(target);
        fs::create_dir_all(path).with_context(|| format!("cannot create {target}"))?;
        let data = (!data.is_empty()).then_some(data);
        match sys::mount(Some(fstype), path, Some(fstype), flags, data) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e).with_context(|| format!("mount {fstype} on {target}")),
        }
    }
    open_console();
    Ok(())
}

/// Opens `/dev/console` on whichever of fds 0–2 are closed.
pub fn open_console() {
    // SAFETY: F_GETFD only queries the descriptor.
    let closed = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0;
    if !(0..3).any(closed) {
        return;
    }
    let Ok(console) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    // The open itself may have landed on 0, 1 or 2 (lowest free slot).
    let console = console.into_raw_fd();
    for fd in 0..3 {
        if fd != console && closed(fd) {
            // SAFETY: duplicating a descriptor we own onto a closed slot.
            unsafe { libc::dup2(console, fd) };
        }
    }
    if console <= 2 {
        // SAFETY: clearing FD_CLOEXEC so the slot survives exec of init.
        unsafe { libc::fcntl(console, libc::F_SETFD, 0) };
    } else {
        // SAFETY: closing the descriptor we opened and no longer use.
        unsafe { libc::close(console) };
    }
}
