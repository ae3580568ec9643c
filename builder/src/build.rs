//! [`build`]: both artefacts for one kernel, from the `[build]` argvs.

use std::fs::File;

use anyhow::{bail, Context, Result};

use crate::chroot::{self, BindMounts};
use crate::{dracut, erofs, extract, fsutil, hashing, BuildReport, BuildRequest};

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
    let work = tempfile::Builder::new()
        .prefix("initoverlayfs-build.")
        .tempdir_in(&var_tmp)
        .with_context(|| format!("cannot create a work directory in {}", var_tmp.display()))?;
    let full = work.path().join("full.cpio");
    let mini = work.path().join("initrd.img");

    let full_bytes;
    let image_bytes;
    {
        let _mounts = BindMounts::new(root)?;
        dracut::run_builds(root, &req.config.build, req.kver, &full, &mini, req.verbose)?;
        full_bytes = std::fs::metadata(&full)?.len();
        let input = File::open(&full).with_context(|| format!("cannot open {}", full.display()))?;
        let mut hashing = hashing::HashingReader::new(input);
        let ex = extract::extract_to_temp(&mut hashing, work.path())
            .with_context(|| format!("cannot extract the full initramfs {}", full.display()))?;
        refuse_looping_image(&ex.tree)?;
        let uuid = hashing::uuid_from_hash(&hashing.hash());
        image_bytes = if chroot::is_live(root) {
            // The host's mkfs.erofs can write next to image_out directly.
            let tmp = fsutil::temp_next_to(req.image_out)?;
            erofs::mkfs_in(
                root,
                &mkfs,
                &ex.tree,
                tmp.path(),
                &compression,
                &uuid,
                u64::from(ex.stats.max_mtime),
            )?;
            fsutil::persist(tmp, req.image_out)?
        } else {
            // The root's mkfs.erofs writes inside the root; then copy out.
            let staged = work.path().join("image.erofs");
            erofs::mkfs_in(
                root,
                &mkfs,
                &ex.tree,
                &staged,
                &compression,
                &uuid,
                u64::from(ex.stats.max_mtime),
            )?;
            fsutil::copy_durable(&staged, req.image_out)?
        };
    }
    let initrd_bytes = fsutil::copy_durable(&mini, req.initrd_out)?;
    Ok(BuildReport {
        full_initramfs_bytes: full_bytes,
        image_bytes,
        initrd_bytes,
        compression,
    })
}

/// Files only our dracut module puts into an initramfs.
const MODULE_MARKERS: [&str; 2] = [
    "usr/lib/systemd/system/pre-initoverlayfs.service",
    "etc/modules-load.d/initoverlayfs.conf",
];

/// Errors if the full initramfs tree carries our dracut module: booting it
/// from the image would run initoverlayfs again (a loop). Happens when a
/// dracut.conf adds the module to every build, or `[build] initoverlayfs`
/// names it.
pub fn refuse_looping_image(tree: &std::path::Path) -> Result<()> {
    let init_is_us = std::fs::read_link(tree.join("init"))
        .map(|t| t.to_string_lossy().ends_with("initoverlayfs"))
        .unwrap_or(false);
    let marker = MODULE_MARKERS
        .iter()
        .find(|m| tree.join(m).symlink_metadata().is_ok());
    if init_is_us || marker.is_some() {
        bail!(
            "the full initramfs contains the initoverlayfs dracut module ({}): it would loop at boot; \
             remove it from [build] initoverlayfs and from dracut.conf add_dracutmodules",
            marker.copied().unwrap_or("/init -> initoverlayfs")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looping_images_are_refused() {
        let t = tempfile::tempdir().unwrap();
        refuse_looping_image(t.path()).unwrap();
        std::os::unix::fs::symlink("usr/sbin/initoverlayfs", t.path().join("init")).unwrap();
        let err = format!("{:#}", refuse_looping_image(t.path()).unwrap_err());
        assert!(err.contains("would loop"), "{err}");
        std::fs::remove_file(t.path().join("init")).unwrap();
        std::fs::create_dir_all(t.path().join("etc/modules-load.d")).unwrap();
        std::fs::write(t.path().join(MODULE_MARKERS[1]), "loop\n").unwrap();
        assert!(refuse_looping_image(t.path()).is_err());
    }
}
