//! [`build`]: both artefacts for one kernel, from the `[build]` argvs.

use anyhow::{bail, Context, Result};

use crate::chroot::{self, BindMounts};
use crate::image::{self, ImageJob};
use crate::{dracut, erofs, fsutil, timed, BuildReport, BuildRequest, StepTimes};

/// Builds the erofs image and the mini initramfs for `req.kver`.
///
/// Steps: check `mkfs.erofs` (in the root) offers the configured
/// compression; make a work directory in the root's `/var/tmp`; bind-mount
/// /proc /sys /dev when the root is not `/` (undone on return, also on
/// error); run both builders concurrently; extract the full initramfs
/// safely; `mkfs.erofs` it (UUID from the initramfs hash, reproducible);
/// write `image_out` and `initrd_out` durably (fsynced).
///
/// Errors: a builder fails (command line + stderr tail), the full initramfs
/// is unreadable or hostile, or mkfs/fsck fail.
pub fn build(req: &BuildRequest) -> Result<BuildReport> {
    let root = req.root;
    let compression = req.config.image.compression;
    let mkfs = erofs::detect_in(root)?;
    mkfs.check(&compression)?;
    let var_tmp = root.join("var/tmp");
    std::fs::create_dir_all(&var_tmp)
        .with_context(|| format!("cannot create {}", var_tmp.display()))?;
    if !chroot::is_live(root) {
        // An absolute /var/tmp symlink in the root would point the host at
        // its own /var/tmp while the chroot sees another directory.
        let real_root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        let real_tmp = var_tmp
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", var_tmp.display()))?;
        if !real_tmp.starts_with(&real_root) {
            bail!(
                "{} resolves to {}, outside the root {}",
                var_tmp.display(),
                real_tmp.display(),
                real_root.display()
            );
        }
    }
    let work = tempfile::Builder::new()
        .prefix("initoverlayfs-build.")
        .tempdir_in(&var_tmp)
        .with_context(|| format!("cannot create a work directory in {}", var_tmp.display()))?;
    let full = work.path().join("full.cpio");
    let mini = work.path().join("initrd.img");

    let full_bytes;
    let image_bytes;
    let warnings;
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
        image_bytes = if chroot::is_live(root)
            || (req.image_out.starts_with(root) && resolves_inside(req.image_out, root))
        {
            // mkfs.erofs (the host's, or the root's seeing the same /boot)
            // writes next to image_out: no second copy of the image.
            let tmp = fsutil::temp_next_to(req.image_out)?;
            warnings = image::make_image(&job, &full, work.path(), tmp.path(), &mut times)?;
            timed(&mut times.install, || fsutil::persist(tmp, req.image_out))?
        } else {
            // The root's mkfs.erofs writes inside the root; then copy out.
            let staged = work.path().join("image.erofs");
            warnings = image::make_image(&job, &full, work.path(), &staged, &mut times)?;
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
        compression,
        times,
        warnings,
    })
}

/// Whether `path`'s directory is inside `root` once symlinks are resolved
/// (so a chrooted tool and the host name the same file). False when either
/// cannot be resolved.
fn resolves_inside(path: &std::path::Path, root: &std::path::Path) -> bool {
    match (fsutil::parent_dir(path).canonicalize(), root.canonicalize()) {
        (Ok(dir), Ok(root)) => dir.starts_with(root),
        _ => false,
    }
}
