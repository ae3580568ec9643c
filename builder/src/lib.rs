//! Turns a distro initramfs into an erofs image and builds the mini initramfs.
//!
//! - [`build`]: runs the two `[build]` argvs of the config (the full initramfs,
//!   uncompressed, and the mini initramfs) concurrently ([`dracut`]), chrooted
//!   into an offline root when asked ([`chroot`]), extracts the full one and
//!   turns it into an erofs image with `mkfs.erofs`.
//! - [`initramfs`]: streaming reader of the kernel's initramfs format
//!   (segments, compression by magic) over our [`cpio`] parser.
//! - [`extract`]: safe extraction of hostile archives as root, with the
//!   kernel's unpacking semantics, every name resolved inside the target.
//! - [`erofs`]: detects `mkfs.erofs` (version, compressors) and builds
//!   reproducible images; [`image`]: initramfs → erofs image; [`fsutil`]:
//!   durable writes; [`list`]: listings; [`warnings`]: entries the kernel
//!   would skip, reported to the user.
//! - [`compressibility`]: how much of the tree LZ4 can shrink, and LZ4
//!   instead of LZ4HC when most of it cannot (the same image format, minutes
//!   less of mkfs.erofs).
//! - [`rootpath`]: paths inside an offline root as a chroot sees them
//!   (openat2 `RESOLVE_IN_ROOT`), for every host path taken from the root.
//! - [`cli`]: the `initoverlayfs-builder list|extract|erofs` command line.

use std::path::Path;

use initoverlayfs::config::{Compression, Config};

mod build;
pub mod chroot;
pub mod cli;
pub mod compressibility;
pub mod cpio;
pub mod dracut;
pub mod erofs;
pub mod extract;
pub mod fsutil;
pub mod hashing;
pub mod image;
pub mod initramfs;
pub mod list;
pub mod rootpath;
pub mod warnings;

/// What [`build`] builds, and where the two artefacts go.
#[derive(Debug, Clone, Copy)]
pub struct BuildRequest<'a> {
    /// The configuration: `[build]` argvs and `[image] compression` are used.
    pub config: &'a Config,
    /// The kernel release the artefacts are for (`uname -r` form).
    pub kver: &'a str,
    /// `/` for the live system, or an offline tree: the builders then run
    /// chrooted into it, with /proc /sys /dev bind-mounted and torn down after.
    pub root: &'a Path,
    /// Host path where the erofs image is written (complete and fsynced).
    /// When it lies inside an offline `root`, resolve it with
    /// [`rootpath::resolve`] first: it is used as given.
    pub image_out: &'a Path,
    /// Host path where the mini initramfs is written (complete and fsynced).
    pub initrd_out: &'a Path,
    /// Stream the builders' output to our stdout/stderr.
    pub verbose: bool,
}

/// What [`build`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    /// Size in bytes of the full (uncompressed) initramfs the image was made from.
    pub full_initramfs_bytes: u64,
    /// Size in bytes of the erofs image at `image_out`.
    pub image_bytes: u64,
    /// Size in bytes of the mini initramfs at `initrd_out`.
    pub initrd_bytes: u64,
    /// The compression the image was built with.
    pub compression: Compression,
    /// How long each step took.
    pub times: StepTimes,
    /// Entries of the full initramfs the kernel would not unpack, so the
    /// image lacks them too: one message each (bounded), for the user.
    pub warnings: Vec<String>,
}

/// Wall time of each step of [`build`], in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// Both `[build]` argvs (full and mini initramfs, run concurrently).
    pub builders: f64,
    /// Extracting the full initramfs into a tree.
    pub extract: f64,
    /// `mkfs.erofs` of the tree.
    pub mkfs: f64,
    /// `fsck.erofs` of the new image (0 when the tool is missing).
    pub fsck: f64,
    /// Writing the artefacts to their destinations (copies, fsyncs, renames).
    pub install: f64,
}

/// Runs `f`, adding its wall time in seconds to `slot`.
pub(crate) fn timed<T>(slot: &mut f64, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    *slot += t.elapsed().as_secs_f64();
    r
}

impl std::fmt::Display for StepTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "builders {:.1} s, extract {:.1} s, mkfs.erofs {:.1} s, fsck.erofs {:.1} s, install {:.1} s",
            self.builders, self.extract, self.mkfs, self.fsck, self.install
        )
    }
}

pub use build::build;
