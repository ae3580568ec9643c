//! UEFI variables through efivarfs (`/sys/firmware/efi/efivars`).
//!
//! Every function takes the efivarfs directory as a parameter, so tests
//! point it at a temp dir; only [`mount_efivarfs`] knows the real path.
//!
//! The format is the kernel's (Documentation/filesystems/efivarfs.rst): a
//! variable is the file `NAME-GUID`; its content is the 4-byte
//! little-endian attribute mask followed by the value; a write must carry
//! the whole variable in one `write(2)`. The kernel marks variables it does
//! not know as safe to delete immutable (`FS_IMMUTABLE_FL`), so a write or
//! a delete first clears that flag with `FS_IOC_SETFLAGS` and then puts the
//! old flags back, as systemd's `efi_set_variable()`
//! (src/basic/efivars.c) does.
//!
//! Strings in the Boot Loader Interface (systemd docs/BOOT_LOADER_INTERFACE.md)
//! are UTF-16LE with a NUL terminator ([`encode_utf16`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Where the kernel's efivarfs is mounted.
pub const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// The vendor GUID of the Boot Loader Interface variables (`LoaderEntryOneShot`,
/// `LoaderEntrySelected`, `LoaderInfo`, …), systemd docs/BOOT_LOADER_INTERFACE.md.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// The vendor GUID of initoverlayfs' own variables (the failure record,
/// [`crate::trial::RECORD_EFIVAR`]); made up for this project.
pub const INITOVERLAYFS_GUID: &str = "be959c55-40d9-4c10-860c-80208b70afc6";

/// `EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS |
/// EFI_VARIABLE_RUNTIME_ACCESS` (0x1 | 0x2 | 0x4): survives a reboot, readable
/// by the boot loader and by the OS. What systemd writes for
/// `LoaderEntryOneShot` and `LoaderEntryDefault`.
pub const ATTR_NV_BS_RT: u32 = 0x7;

/// The efivarfs file name of a variable: `NAME-GUID`.
pub fn file_name(name: &str, guid: &str) -> String {
    format!("{name}-{guid}")
}

/// A string as a Boot Loader Interface value: UTF-16LE code units followed
/// by a NUL code unit (`"ab"` → `61 00 62 00 00 00`).
pub fn encode_utf16(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The string in a UTF-16LE value: up to the first NUL code unit (or the
/// end when there is none).
///
/// Errors: an odd number of bytes, or invalid UTF-16 (a lone surrogate).
pub fn decode_utf16(value: &[u8]) -> Result<String> {
    if value.len() % 2 == 1 {
        bail!("{} bytes is not a UTF-16 string (odd length)", value.len());
    }
    let units: Vec<u16> = value
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).context("not valid UTF-16")
}

/// The efivarfs file content for `value` with attributes `attrs`: the
/// 4-byte little-endian mask, then the value.
pub fn with_attributes(attrs: u32, value: &[u8]) -> Vec<u8> {
    let mut v = attrs.to_le_bytes().to_vec();
    v.extend_from_slice(value);
    v
}

/// Splits efivarfs file content into (attributes, value).
///
/// Errors: fewer than 4 bytes (no attribute mask).
pub fn split_attributes(content: &[u8]) -> Result<(u32, &[u8])> {
    if content.len() < 4 {
        bail!(
            "{} bytes: too short for an EFI variable (4-byte attribute mask first)",
            content.len()
        );
    }
    let attrs = u32::from_le_bytes([content[0], content[1], content[2], content[3]]);
    Ok((attrs, &content[4..]))
}

fn path_of(dir: &Path, name: &str, guid: &str) -> PathBuf {
    dir.join(file_name(name, guid))
}

/// The value of variable `name` of vendor `guid` (without the attribute
/// mask), or `None` when it does not exist.
///
/// Errors: the file cannot be read or is shorter than the mask.
pub fn read(dir: &Path, name: &str, guid: &str) -> Result<Option<Vec<u8>>> {
    let path = path_of(dir, name, guid);
    // efivarfs wants one read of the whole variable; read_to_end does that
    // for the small variables used here.
    let mut buf = Vec::new();
    match File::open(&path) {
        Ok(mut f) => f
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let (_, value) = split_attributes(&buf).with_context(|| path.display().to_string())?;
    Ok(Some(value.to_vec()))
}

/// The string value of a Boot Loader Interface variable ([`decode_utf16`]),
/// or `None` when it does not exist.
///
/// Errors: as [`read`], or the value is not UTF-16.
pub fn read_string(dir: &Path, name: &str, guid: &str) -> Result<Option<String>> {
    match read(dir, name, guid)? {
        Some(v) => decode_utf16(&v)
            .map(Some)
            .with_context(|| format!("EFI variable {}", file_name(name, guid))),
        None => Ok(None),
    }
}

/// `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` on an open file: the inode flags.
fn get_flags(f: &File) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int into the variable we own.
    let r = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            linux_raw_sys::ioctl::FS_IOC_GETFLAGS as _,
            &mut flags,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn set_flags(f: &File, flags: libc::c_int) -> io::Result<()> {
    let mut flags = flags;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the variable we own.
    let r = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            linux_raw_sys::ioctl::FS_IOC_SETFLAGS as _,
            &mut flags,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const IMMUTABLE: libc::c_int = linux_raw_sys::general::FS_IMMUTABLE_FL as libc::c_int;

/// Clears `FS_IMMUTABLE_FL` on `path` if it is set; returns the flags to
/// put back afterwards (None: nothing was changed — no such file, the
/// flag was not set, or the filesystem has no inode flags).
///
/// Errors: the flag is set and cannot be cleared (no `CAP_LINUX_IMMUTABLE`).
fn clear_immutable(path: &Path) -> Result<Option<libc::c_int>> {
    let Ok(f) = File::open(path) else {
        return Ok(None);
    };
    let Ok(flags) = get_flags(&f) else {
        return Ok(None);
    };
    if flags & IMMUTABLE == 0 {
        return Ok(None);
    }
    set_flags(&f, flags & !IMMUTABLE)
        .with_context(|| format!("cannot clear the immutable flag of {}", path.display()))?;
    Ok(Some(flags))
}

fn restore_flags(path: &Path, flags: Option<libc::c_int>) {
    if let (Some(flags), Ok(f)) = (flags, File::open(path)) {
        let _ = set_flags(&f, flags);
    }
}

/// Writes variable `name` of vendor `guid` with attributes
/// [`ATTR_NV_BS_RT`] and `value` (the whole variable in one write),
/// creating it when needed; an immutable variable is made writable for
/// the write and immutable again after it.
///
/// Errors: the directory is not writable (efivarfs not mounted, or mounted
/// read-only), the flag cannot be cleared, or the firmware refuses the
/// variable (the write fails, e.g. `ENOSPC` when its store is full); the
/// message names the file.
pub fn write(dir: &Path, name: &str, guid: &str, value: &[u8]) -> Result<()> {
    let path = path_of(dir, name, guid);
    let restore = clear_immutable(&path)?;
    let data = with_attributes(ATTR_NV_BS_RT, value);
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            // No O_TRUNC: efivarfs replaces the variable on the write itself
            // (systemd does not truncate either).
            .truncate(false)
            .mode(0o644)
            .open(&path)?;
        let n = f.write(&data)?;
        if n != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes", data.len()),
            ));
        }
        // A regular file (tests) keeps stale bytes past a shorter value;
        // efivarfs reports the new size already.
        if f.metadata()?.len() > data.len() as u64 {
            f.set_len(data.len() as u64)?;
        }
        Ok(())
    })();
    restore_flags(&path, restore);
    res.with_context(|| format!("cannot write EFI variable {}", path.display()))
}

/// Writes a string variable ([`encode_utf16`]); see [`write`].
///
/// Errors: as [`write`].
pub fn write_string(dir: &Path, name: &str, guid: &str, value: &str) -> Result<()> {
    write(dir, name, guid, &encode_utf16(value))
}

/// Deletes variable `name` of vendor `guid` (clearing the immutable flag
/// first). Returns whether it existed.
///
/// Errors: it exists and cannot be deleted.
pub fn remove(dir: &Path, name: &str, guid: &str) -> Result<bool> {
    let path = path_of(dir, name, guid);
    if fs::symlink_metadata(&path).is_err() {
        return Ok(false);
    }
    let restore = clear_immutable(&path)?;
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => {
            restore_flags(&path, restore);
            Err(e).with_context(|| format!("cannot delete EFI variable {}", path.display()))
        }
    }
}

/// Whether `dir` holds an efivarfs with variables in it (mounted and not
/// empty: firmware always has some variables).
pub fn available(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_some())
}

/// Makes sure efivarfs is mounted at `EFIVARS` on a UEFI boot (the kernel
/// made `/sys/firmware/efi`): when the directory is empty, loads the
/// `efivarfs` module (`modprobe` callback, for kernels that build it as a
/// module) and mounts it (`nosuid,nodev,noexec`, as systemd does). Returns
/// whether variables can be used. Never fails: a boot without UEFI or
/// without efivarfs has none, and the caller falls back to boot counting.
pub fn mount_efivarfs(modprobe: &dyn Fn(&str)) -> bool {
    let dir = Path::new(EFIVARS);
    if !Path::new("/sys/firmware/efi").is_dir() {
        return false;
    }
    if available(dir) {
        return true;
    }
    modprobe("efivarfs");
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    match crate::sys::mount(Some("efivarfs"), dir, Some("efivarfs"), flags, None) {
        Ok(()) => available(dir),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => available(dir),
        Err(e) => {
            crate::warn!("cannot mount efivarfs on {EFIVARS}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_strings_are_little_endian_with_a_nul() {
        assert_eq!(encode_utf16("ab"), [0x61, 0, 0x62, 0, 0, 0]);
        assert_eq!(encode_utf16(""), [0, 0]);
        // A code point beyond the BMP: a surrogate pair, low byte first.
        assert_eq!(encode_utf16("\u{1F600}"), [0x3d, 0xd8, 0x00, 0xde, 0, 0]);
        for s in ["", "fedora-6.5.conf", "ünï", "\u{1F600}x"] {
            assert_eq!(decode_utf16(&encode_utf16(s)).unwrap(), s);
        }
        // No NUL at all, or bytes after the NUL (what firmware may leave).
        assert_eq!(decode_utf16(&[0x61, 0, 0x62, 0]).unwrap(), "ab");
        assert_eq!(decode_utf16(&[0x61, 0, 0, 0, 0x62, 0]).unwrap(), "a");
        assert!(decode_utf16(&[0x61]).is_err());
        assert!(
            decode_utf16(&[0x00, 0xd8, 0x61, 0]).is_err(),
            "lone surrogate"
        );
    }

    #[test]
    fn attributes_come_first_little_endian() {
        let v = with_attributes(ATTR_NV_BS_RT, &encode_utf16("x"));
        assert_eq!(v, [7, 0, 0, 0, b'x', 0, 0, 0]);
        let (a, value) = split_attributes(&v).unwrap();
        assert_eq!((a, value), (7, &v[4..]));
        assert_eq!(
            split_attributes(&[1, 2, 3, 4]).unwrap(),
            (0x0403_0201, &[][..])
        );
        assert!(split_attributes(&[7, 0, 0]).is_err());
    }

    // The efivarfs file for LoaderEntryOneShot = "a-6.1.conf", spelled out
    // byte by byte: attributes 7 (NV|BS|RT) as a little-endian u32, then
    // each character as a little-endian u16, then the u16 NUL, which is
    // what systemd's efi_set_variable_string() writes.
    const ONESHOT_FILE: &[u8] = &[
        0x07, 0x00, 0x00, 0x00, 0x61, 0x00, 0x2d, 0x00, 0x36, 0x00, 0x2e, 0x00, 0x31, 0x00, 0x2e,
        0x00, 0x63, 0x00, 0x6f, 0x00, 0x6e, 0x00, 0x66, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn writes_what_bootctl_writes_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        write_string(dir.path(), "LoaderEntryOneShot", LOADER_GUID, "a-6.1.conf").unwrap();
        let file = dir
            .path()
            .join("LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f");
        assert_eq!(fs::read(&file).unwrap(), ONESHOT_FILE);
        assert_eq!(
            read_string(dir.path(), "LoaderEntryOneShot", LOADER_GUID)
                .unwrap()
                .as_deref(),
            Some("a-6.1.conf")
        );
        // A shorter value replaces the longer one completely.
        write_string(dir.path(), "LoaderEntryOneShot", LOADER_GUID, "b").unwrap();
        assert_eq!(fs::read(&file).unwrap(), [7, 0, 0, 0, b'b', 0, 0, 0]);
        assert!(remove(dir.path(), "LoaderEntryOneShot", LOADER_GUID).unwrap());
        assert!(!file.exists());
        assert!(!remove(dir.path(), "LoaderEntryOneShot", LOADER_GUID).unwrap());
        assert_eq!(
            read(dir.path(), "LoaderEntryOneShot", LOADER_GUID).unwrap(),
            None
        );
        assert!(!available(dir.path()));
        fs::write(dir.path().join("Short-x"), [7, 0]).unwrap();
        let err = format!("{:#}", read(dir.path(), "Short", "x").unwrap_err());
        assert!(
            err.contains("Short-x") && err.contains("too short"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("efivars");
        let err = format!(
            "{:#}",
            write_string(&gone, "LoaderEntryOneShot", LOADER_GUID, "x").unwrap_err()
        );
        assert!(err.contains("LoaderEntryOneShot-4a67b082"), "{err}");
    }

    /// efivarfs makes unknown variables immutable; a write must still
    /// succeed and leave the flag as it found it. Needs CAP_LINUX_IMMUTABLE
    /// and a filesystem with inode flags (ext4, xfs, tmpfs since 6.0).
    #[test]
    fn writes_through_the_immutable_flag_and_restores_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(file_name("LoaderEntryOneShot", LOADER_GUID));
        fs::write(&path, with_attributes(7, &encode_utf16("old"))).unwrap();
        let f = File::open(&path).unwrap();
        let Ok(flags) = get_flags(&f) else {
            eprintln!("SKIP: the temp dir's filesystem has no inode flags (FS_IOC_GETFLAGS)");
            return;
        };
        if let Err(e) = set_flags(&f, flags | IMMUTABLE) {
            eprintln!(
                "SKIP: cannot set FS_IMMUTABLE_FL here ({e}): needs root (CAP_LINUX_IMMUTABLE)"
            );
            return;
        }
        // The check is real: the flag blocks a plain write.
        assert!(OpenOptions::new().write(true).open(&path).is_err());
        write_string(dir.path(), "LoaderEntryOneShot", LOADER_GUID, "new").unwrap();
        assert_eq!(
            read_string(dir.path(), "LoaderEntryOneShot", LOADER_GUID)
                .unwrap()
                .as_deref(),
            Some("new")
        );
        assert_ne!(get_flags(&f).unwrap() & IMMUTABLE, 0, "flag put back");
        assert!(remove(dir.path(), "LoaderEntryOneShot", LOADER_GUID).unwrap());
        assert!(!path.exists());
    }
}
