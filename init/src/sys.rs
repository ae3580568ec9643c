//! Thin wrappers over the few raw syscalls the boot program needs (mount,
//! umount, mknod, statfs, chroot, uname, reboot), returning
//! [`std::io::Error`] so callers can add context. Their `Display` is the errno
//! text, e.g. `No such file or directory (os error 2)`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `RAMFS_MAGIC` from `<linux/magic.h>`: the initramfs' own rootfs when it is ramfs.
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// `TMPFS_MAGIC` from `<linux/magic.h>`: rootfs when the kernel made it tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// `path` as a C string. Errors: the path contains a NUL byte.
pub fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// mount(2). `source`, `fstype` and `data` may be absent (NULL).
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstring).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstring).transpose()?;
    let data = data.map(cstring).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either NULL or a valid NUL-terminated string
    // that outlives the call.
    check(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    })
}

/// umount2(2) with `flags` (`0` or `libc::MNT_DETACH`).
pub fn umount(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: valid NUL-terminated path.
    check(unsafe { libc::umount2(target.as_ptr(), flags) })
}

/// Creates a block device node `path` (mode 0600) for `major:minor`.
pub fn mknod_block(path: &Path, major: u32, minor: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid NUL-terminated path; makedev/mknod take plain integers.
    check(unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFBLK | 0o600,
            libc::makedev(major, minor),
        )
    })
}

/// The filesystem magic (`f_type` of statfs(2)) of the filesystem holding `path`.
pub fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = cstr(path)?;
    // SAFETY: statfs fills the zeroed struct we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    check(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

/// chroot(2).
pub fn chroot(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid NUL-terminated path.
    check(unsafe { libc::chroot(c.as_ptr()) })
}

/// The running kernel's release (`uname -r`), e.g. `6.1.0-26-amd64`.
pub fn kernel_release() -> io::Result<String> {
    // SAFETY: uname fills the zeroed struct we own; release is NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    check(unsafe { libc::uname(&mut u) })?;
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Flushes filesystems and reboots the machine (`RB_AUTOBOOT`). Returns only
/// on failure (not pid 1 / no CAP_SYS_BOOT).
pub fn reboot() -> io::Error {
    // SAFETY: plain syscalls without pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
    io::Error::last_os_error()
}

/// The process id of this process (`1` when we are the initramfs' init).
pub fn pid() -> u32 {
    std::process::id()
}
