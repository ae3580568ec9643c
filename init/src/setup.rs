//! Steps 5–6: mount the boot filesystem, loop-mount the image read-only,
//! put a tmpfs-backed overlay over it and move `/boot` into the merged tree.
//!
//! Paths (under the root: `/` at boot, `--prefix DIR` in tests):
//! `/boot` (bootfs, rw), `/initrofs` (image, ro), `/overlay` (tmpfs with
//! `upper/` and `work/`), `/initoverlayfs` (the overlay; the new root).
//!
//! Release of /boot: once the overlay is mounted, `/initrofs` and `/overlay`
//! are detached ([`detach_layers`]), so the overlay mount is the one thing
//! that holds the erofs superblock, hence the loop device (autoclear), hence
//! the image file and the /boot filesystem. The overlay becomes the root of
//! the full initramfs; when its systemd switches into the real root it
//! detaches that old root, the chain unwinds, and the real root mounts and
//! checks /boot as on a plain boot.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::loopdev::LoopDevice;
use crate::mounts::{self, MountStack};
use crate::{info, warn};

/// The directories initoverlayfs mounts on, under a root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }
    /// `ROOT/boot`: the boot filesystem.
    pub fn boot(&self) -> PathBuf {
        self.root.join("boot")
    }
    /// `ROOT/initrofs`: the image, read-only.
    pub fn initrofs(&self) -> PathBuf {
        self.root.join("initrofs")
    }
    /// `ROOT/overlay`: tmpfs for the overlay's upper and work dirs.
    pub fn overlay(&self) -> PathBuf {
        self.root.join("overlay")
    }
    /// `ROOT/initoverlayfs`: the merged tree (the new root).
    pub fn merged(&self) -> PathBuf {
        self.root.join("initoverlayfs")
    }
    /// The image file for `kver` inside the (mounted) boot filesystem.
    pub fn image(&self, config: &Config, kver: &str) -> PathBuf {
        self.boot().join(config.image.path_for(kver))
    }
}

fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("cannot create directory {}", path.display()))
}

/// The filesystem type to mount `device` with, from its superblock (ext2/3
/// are mounted by the ext4 driver). Errors: not a supported filesystem.
pub fn detect_fstype(device: &Path) -> Result<String> {
    match crate::superblock::probe(device) {
        Ok(Some(info)) if info.fstype.starts_with("ext") => Ok("ext4".to_string()),
        Ok(Some(info)) => Ok(info.fstype.to_string()),
        Ok(None) => bail!(
            "{}: unknown filesystem type; set [boot] bootfstype or rd.initoverlayfs.bootfstype=",
            device.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", device.display())),
    }
}

/// Mounts `device` read-write on `/boot` as `fstype`, with `options` (the
/// `[boot] options` mount data, e.g. `subvol=/@boot`) so that it shows what
/// the installed system's `/boot` shows.
pub fn mount_bootfs(
    layout: &Layout,
    device: &Path,
    fstype: &str,
    options: Option<&str>,
    stack: &mut MountStack,
) -> Result<()> {
    let target = layout.boot();
    mkdir(&target)?;
    let options = options.filter(|o| !o.is_empty());
    mounts::mount(&device.to_string_lossy(), &target, fstype, 0, options)?;
    stack.push(&target);
    info!(
        "mounted {} ({fstype}{}) on {}",
        device.display(),
        options.map(|o| format!(", {o}")).unwrap_or_default(),
        target.display()
    );
    Ok(())
}

/// Attaches the image file for `kver` to a loop device (read-only, autoclear).
pub fn attach_image(
    layout: &Layout,
    config: &Config,
    kver: &str,
    dev: &Path,
) -> Result<LoopDevice> {
    let image = layout.image(config, kver);
    let lo = LoopDevice::attach_readonly(&image, dev)?;
    info!("attached {} to {}", image.display(), lo.path().display());
    Ok(lo)
}

/// Mounts the attached image read-only on `/initrofs` as `fstype`.
pub fn mount_image(
    layout: &Layout,
    lo: &LoopDevice,
    fstype: &str,
    stack: &mut MountStack,
) -> Result<()> {
    let target = layout.initrofs();
    mkdir(&target)?;
    mounts::mount(
        &lo.path().to_string_lossy(),
        &target,
        fstype,
        libc::MS_RDONLY,
        None,
    )?;
    stack.push(&target);
    info!(
        "mounted {} ({fstype}) on {}",
        lo.path().display(),
        target.display()
    );
    Ok(())
}

/// Mounts a fresh tmpfs on `/overlay`, then the overlay on `/initoverlayfs`
/// (`lowerdir=/initrofs,upperdir=/overlay/upper,workdir=/overlay/work`, with
/// `volatile` when the kernel accepts it: nothing in it survives the boot,
/// so it need not be synced).
pub fn mount_overlay(layout: &Layout, stack: &mut MountStack) -> Result<()> {
    let tmp = layout.overlay();
    mkdir(&tmp)?;
    mounts::mount(
        "tmpfs",
        &tmp,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0755"),
    )?;
    stack.push(&tmp);
    let (upper, work) = (tmp.join("upper"), tmp.join("work"));
    mkdir(&upper)?;
    mkdir(&work)?;
    let merged = layout.merged();
    mkdir(&merged)?;
    let base = format!(
        "lowerdir={},upperdir={},workdir={}",
        layout.initrofs().display(),
        upper.display(),
        work.display()
    );
    let volatile = format!("{base},volatile");
    match mounts::mount("overlay", &merged, "overlay", 0, Some(&volatile)) {
        Ok(()) => {}
        Err(e) => {
            warn!("overlay without volatile ({e:#})");
            mounts::mount("overlay", &merged, "overlay", 0, Some(&base))?;
        }
    }
    stack.push(&merged);
    info!("mounted overlay on {}", merged.display());
    Ok(())
}

/// Lazily detaches `/initrofs` and `/overlay` once the overlay is mounted.
///
/// overlayfs takes a private clone of every layer's mount when it is mounted
/// (fs/overlayfs/super.c: `clone_private_mount()` for the lower and upper
/// layers), so the merged tree keeps working without them. Left in place,
/// they would stay attached to the mini initramfs' rootfs after switch root,
/// invisible from the new root yet holding the erofs superblock, the loop
/// device and with it the /boot filesystem for the whole session (fsck of
/// /boot refused as "in use", /boot never cleanly unmounted at shutdown).
///
/// Errors: umount2(2) fails on either (the message names the path).
pub fn detach_layers(layout: &Layout, stack: &mut MountStack) -> Result<()> {
    for target in [layout.initrofs(), layout.overlay()] {
        crate::sys::umount(&target, libc::MNT_DETACH)
            .with_context(|| format!("cannot detach {}", target.display()))?;
        stack.forget(&target);
    }
    info!(
        "detached {} and {}: the overlay alone holds the image",
        layout.initrofs().display(),
        layout.overlay().display()
    );
    Ok(())
}

/// Moves the `/boot` mount into `/initoverlayfs/boot`, creating that mount
/// point in the merged tree when the image lacks it. When `/boot` is not a
/// mount point (a `--prefix` test tree), it is bind-mounted onto itself
/// first so there is a mount to move.
pub fn move_boot(layout: &Layout, stack: &mut MountStack) -> Result<()> {
    let boot = layout.boot();
    let target = layout.merged().join("boot");
    match fs::symlink_metadata(&target) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => bail!(
            "{} exists in the image but is not a directory",
            target.display()
        ),
        Err(_) => fs::create_dir(&target)
            .with_context(|| format!("cannot create mount point {}", target.display()))?,
    }
    if !mounts::is_mount_point(&boot) {
        mounts::bind(&boot, &boot)?;
        stack.push(&boot);
    }
    mounts::move_mount(&boot, &target)?;
    stack.moved(&boot, &target);
    info!("moved {} to {}", boot.display(), target.display());
    Ok(())
}
