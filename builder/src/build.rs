//! [`build`]: both artefacts for one kernel, from the `[build]` argvs.

use std::path::Path;

use anyhow::{Context, Result};

use crate::chroot::{self, BindMounts};
use crate::image::{self, ImageJob};
use crate::{dracut, erofs, fsutil, rootpath, timed, BuildReport, BuildRequest, StepTimes};

/// Builds the erofs image and the mini initramfs for `req.kver`.
///
/// Steps: check `mkfs.erofs` (in the root) offers the configured
/// compression; make a work directory in the root's `/var/tmp` (resolved
/// inside the root as the chroot sees it, [`rootpath::resolve`]); bind-mount
/// /proc /sys /dev when the root is not `/` (undone on return, also on
/// error); run both builders concurrently; extract the full initramfs
/// safely; `mkfs.erofs` it (UUID from the initramfs hash, reproducible);
/// write `image_out` and `initrd_out` durably (fsynced).
///
/// Errors: the root's `/var/tmp` loops or cannot be created, a builder
/// fails (command line + stderr tail), the full initramfs
/// is unreadable or hostile, or mkfs/fsck fail.
pub fn build(req: &BuildRequest) -> Result<BuildReport> {
    // Canonical, so that host paths resolved inside it (all canonical) are
    // spelled below it and chroot::inside can name them for the chroot.
    let canonical;
    let root = if chroot::is_live(req.root) {
        req.root
    } else {
        canonical = req
            .root
            .canonicalize()
            .with_context(|| format!("cannot resolve the root {}", req.root.display()))?;
        canonical.as_path()
    };
    let compression = req.config.image.compression;
    let mkfs = erofs::detect_in(root)?;
    mkfs.check(&compression)?;
    // The root's /var/tmp as the chrooted builders see it (its symlinks
    // resolved inside the root), so host and chroot name the same directory.
    let var_tmp = if chroot::is_live(root) {
        root.join("var/tmp")
    } else {
        rootpath::resolve(root, Path::new("/var/tmp"))?
    };
    std::fs::create_dir_all(&var_tmp)
        .with_context(|| format!("cannot create {}", var_tmp.display()))?;
    let work = tempfile::Builder::new()
        .prefix("initoverlayfs-build.")
        .tempdir_in(&var_tmp)
        .with_context(|| format!("cannot create a work directory in {}", var_tmp.display()))?;
    let full = work.path().join("full.cpio");
    let mini = work.path().join("initrd.img");

    let full_bytes;
    let image_bytes;
    let made;
    let mut times = StepTimes::default();
    {
        let _mounts = BindMounts::new(root)?;
        timed(&mut times.builders, || {
            dracut::run_builds(root, &req.config.build, req.kver, &full, &mini, req.verbose)
        })?;
        full_bytes = std::fs::metadata(&full)?.len();
        let job = ImageJob {
            root,
            mkfs: &mkfs,
            compression: &compression,
            refuse_our_module: true,
        };
        image_bytes = if chroot::is_live(root) || same_in_chroot(req.image_out, root) {
            // mkfs.erofs (the host's, or the root's seeing the same /boot)
            // writes next to image_out: no second copy of the image.
            let tmp = fsutil::temp_next_to(req.image_out)?;
            made = image::make_image(&job, &full, work.path(), tmp.path(), &mut times)?;
            timed(&mut times.install, || fsutil::persist(tmp, req.image_out))?
        } else {
            // The root's mkfs.erofs writes inside the root; then copy out.
            let staged = work.path().join("image.erofs");
            made = image::make_image(&job, &full, work.path(), &staged, &mut times)?;
            timed(&mut times.install, || {
                fsutil::copy_durable(&staged, req.image_out)
            })?
        };
    }
    let initrd_bytes = timed(&mut times.install, || {
        fsutil::copy_durable(&mini, req.initrd_out)
    })?;
    Ok(BuildReport {
        full_initramfs_bytes: full_bytes,
        image_bytes,
        initrd_bytes,
        compression: made.compression,
        times,
        warnings: made.warnings,
    })
}

/// Whether the directory of the host path `path` is the directory a tool
/// chrooted into `root` reaches by `path`'s name inside the root (its
/// symlinks resolved inside the root by [`rootpath::resolve`]); then a
/// chrooted mkfs.erofs can write `path` in place. False when `path` is not
/// below `root` or either cannot be resolved.
fn same_in_chroot(path: &Path, root: &Path) -> bool {
    let dir = fsutil::parent_dir(path);
    let seen_inside = chroot::inside(root, &dir).and_then(|i| rootpath::resolve(root, &i));
    match (dir.canonicalize(), seen_inside) {
        (Ok(host), Ok(inside)) => host == inside,
        _ => false,
    }
}
