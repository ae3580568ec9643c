//! Read-only loop devices for the image.
//!
//! [`LoopDevice::attach_readonly`] takes a free device from
//! `/dev/loop-control` (`LOOP_CTL_GET_FREE`), then configures it in one
//! `LOOP_CONFIGURE` ioctl (Linux 5.8+) with `LO_FLAGS_READ_ONLY |
//! LO_FLAGS_AUTOCLEAR`; kernels without it get `LOOP_SET_FD` +
//! `LOOP_SET_STATUS64`. Another process can take the same free device
//! between the two calls; `EBUSY` then means "try the next free one".
//!
//! Autoclear detaches the device when its last user goes away: keep the
//! [`LoopDevice`] (its open fd) until the filesystem on it is mounted, then
//! drop it — the mount becomes the last user and unmounting releases the
//! device. Dropping it without mounting releases it at once (RAII).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use linux_raw_sys::loop_device::{
    loop_config, loop_info64, LOOP_CONFIGURE, LOOP_CTL_GET_FREE, LOOP_SET_FD, LOOP_SET_STATUS64,
    LO_FLAGS_AUTOCLEAR, LO_FLAGS_READ_ONLY,
};

/// How many free devices to try when others keep taking them (`EBUSY`).
pub const MAX_ATTEMPTS: u32 = 32;

/// The loop block major (`LOOP_MAJOR`, Documentation/admin-guide/devices.txt).
pub const LOOP_MAJOR: u32 = 7;

/// An attached loop device, kept alive by its open fd.
#[derive(Debug)]
pub struct LoopDevice {
    file: File,
    number: u32,
    path: PathBuf,
}

fn ioctl(fd: &impl AsRawFd, request: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the callers pass a request whose argument is either an integer
    // or a pointer to a live struct of the type the request expects.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn info_for(backing: &Path) -> loop_info64 {
    // SAFETY: loop_info64 is plain old data; all-zero is a valid value.
    let mut info: loop_info64 = unsafe { std::mem::zeroed() };
    info.lo_flags = LO_FLAGS_READ_ONLY as u32 | LO_FLAGS_AUTOCLEAR as u32;
    let name = backing.as_os_str().as_bytes();
    let n = name.len().min(info.lo_file_name.len() - 1);
    info.lo_file_name[..n].copy_from_slice(&name[..n]);
    info
}

enum Outcome {
    Attached,
    Busy,
}

/// Which ioctls attach the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `LOOP_CONFIGURE`, falling back to [`Method::SetFd`] when the kernel
    /// does not know it (before 5.8). What the program uses.
    Configure,
    /// `LOOP_SET_FD` + `LOOP_SET_STATUS64` only (tests the fallback).
    SetFd,
}

fn configure(
    lo: &File,
    backing: &File,
    backing_path: &Path,
    method: Method,
) -> io::Result<Outcome> {
    if method == Method::Configure {
        match configure_at_once(lo, backing, backing_path) {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    set_fd_and_status(lo, backing, backing_path)
}

/// `LOOP_CONFIGURE`; `Ok(None)`: the kernel does not know the ioctl.
fn configure_at_once(
    lo: &File,
    backing: &File,
    backing_path: &Path,
) -> io::Result<Option<Outcome>> {
    // SAFETY: loop_config is plain old data; all-zero is a valid value.
    let mut cfg: loop_config = unsafe { std::mem::zeroed() };
    cfg.fd = backing.as_raw_fd() as u32;
    cfg.info = info_for(backing_path);
    match ioctl(
        lo,
        LOOP_CONFIGURE,
        &cfg as *const loop_config as libc::c_ulong,
    ) {
        Ok(_) => Ok(Some(Outcome::Attached)),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(Some(Outcome::Busy)),
        // Kernels before 5.8 do not know LOOP_CONFIGURE (EINVAL/ENOTTY).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOTTY)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `LOOP_SET_FD` then `LOOP_SET_STATUS64` (pre-5.8 kernels).
fn set_fd_and_status(lo: &File, backing: &File, backing_path: &Path) -> io::Result<Outcome> {
    match ioctl(lo, LOOP_SET_FD, backing.as_raw_fd() as libc::c_ulong) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(Outcome::Busy),
        Err(e) => return Err(e),
    }
    // The backing fd is read-only, so SET_FD already made the device read-only;
    // SET_STATUS64 adds autoclear.
    let info = info_for(backing_path);
    if let Err(e) = ioctl(
        lo,
        LOOP_SET_STATUS64,
        &info as *const loop_info64 as libc::c_ulong,
    ) {
        let _ = ioctl(lo, linux_raw_sys::loop_device::LOOP_CLR_FD, 0);
        return Err(e);
    }
    Ok(Outcome::Attached)
}

impl LoopDevice {
    /// Attaches `backing` read-only with autoclear to a free loop device,
    /// using `DEV/loop-control` and `DEV/loopN` (created with mknod when
    /// missing). Errors name the image or the loop device and carry the
    /// errno text.
    pub fn attach_readonly(backing: &Path, dev: &Path) -> Result<LoopDevice> {
        LoopDevice::attach_readonly_with(backing, dev, Method::Configure)
    }

    /// [`LoopDevice::attach_readonly`] with a chosen [`Method`].
    pub fn attach_readonly_with(backing: &Path, dev: &Path, method: Method) -> Result<LoopDevice> {
        let image = File::open(backing)
            .with_context(|| format!("cannot open image {}", backing.display()))?;
        let ctl_path = dev.join("loop-control");
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ctl_path)
            .with_context(|| {
                format!(
                    "cannot open {} (is the loop module loaded?)",
                    ctl_path.display()
                )
            })?;
        for _ in 0..MAX_ATTEMPTS {
            let number = ioctl(&ctl, LOOP_CTL_GET_FREE, 0)
                .with_context(|| format!("LOOP_CTL_GET_FREE on {}", ctl_path.display()))?
                as u32;
            let path = dev.join(format!("loop{number}"));
            if std::fs::symlink_metadata(&path).is_err() {
                crate::sys::mknod_block(&path, LOOP_MAJOR, number)
                    .with_context(|| format!("cannot create {}", path.display()))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .or_else(|_| File::open(&path))
                .with_context(|| format!("cannot open {}", path.display()))?;
            match configure(&file, &image, backing, method).with_context(|| {
                format!("cannot attach {} to {}", backing.display(), path.display())
            })? {
                Outcome::Attached => return Ok(LoopDevice { file, number, path }),
                Outcome::Busy => continue,
            }
        }
        bail!(
            "no free loop device for {} after {MAX_ATTEMPTS} attempts (all busy)",
            backing.display()
        )
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device number N of `loopN`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The open device (keeps it attached while alive).
    pub fn file(&self) -> &File {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn backing_file(n: u32) -> Option<String> {
        std::fs::read_to_string(format!("/sys/block/loop{n}/loop/backing_file")).ok()
    }

    #[test]
    fn attaches_read_only_and_autoclears_on_drop() {
        if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/loop-control").exists() {
            eprintln!("SKIP: needs root and /dev/loop-control");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        std::fs::write(&img, vec![7u8; 1 << 20]).unwrap();
        for method in [Method::Configure, Method::SetFd] {
            attach_check_release(&img, method);
        }
    }

    fn attach_check_release(img: &Path, method: Method) {
        let lo = LoopDevice::attach_readonly_with(img, Path::new("/dev"), method).unwrap();
        let n = lo.number();
        assert_eq!(lo.path(), Path::new(&format!("/dev/loop{n}")));
        assert_eq!(backing_file(n).unwrap().trim(), img.to_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(format!("/sys/block/loop{n}/ro"))
                .unwrap()
                .trim(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(format!("/sys/block/loop{n}/loop/autoclear"))
                .unwrap()
                .trim(),
            "1"
        );
        let mut buf = [0u8; 4];
        crate::superblock::read_up_to(lo.file(), 4096, &mut buf).unwrap();
        assert_eq!(buf, [7; 4]);
        drop(lo);
        let start = Instant::now();
        while backing_file(n).is_some() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Another test may have taken the same device since; only ours must be gone.
        let now = backing_file(n).unwrap_or_default();
        assert_ne!(now.trim(), img.to_str().unwrap(), "loop{n} still attached");
    }

    #[test]
    fn missing_image_is_named() {
        let err = LoopDevice::attach_readonly(Path::new("/nonexistent/x.img"), Path::new("/dev"))
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cannot open image /nonexistent/x.img: No such file or directory"),
            "{msg}"
        );
    }
}
