//! initramfs file → erofs image: safe extraction into a private temporary
//! directory, then a reproducible `mkfs.erofs` (UUID from the initramfs'
//! blake3 hash, build time from the newest mtime).

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use initoverlayfs::config::Compression;

use crate::erofs::{self, MkfsErofs};
use crate::{compressibility, extract, fsutil, hashing, timed, StepTimes};

/// How [`make_image`] runs.
#[derive(Debug, Clone, Copy)]
pub struct ImageJob<'a> {
    /// Where mkfs.erofs runs (`/`, or an offline root it is chrooted into).
    pub root: &'a Path,
    /// The mkfs.erofs of that root.
    pub mkfs: &'a MkfsErofs,
    /// Image compression.
    pub compression: &'a Compression,
    /// Refuse an initramfs that carries our dracut module (see
    /// [`refuse_looping_image`]).
    pub refuse_our_module: bool,
}

/// What [`make_image`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    /// The compression the image has (see [`compressibility::choose`]).
    pub compression: Compression,
    /// One line per entry the kernel would not unpack (so the image lacks
    /// it), and one when the compression differs from the job's.
    pub warnings: Vec<String>,
}

/// Extracts `initramfs` into a private temporary directory below `work`,
/// samples how much of it compresses, runs mkfs.erofs writing `out` (`work`
/// and `out` below `job.root`) and fsck.erofs on it, recording each step's
/// seconds in `times`. The extracted tree is removed afterwards, also on
/// error.
///
/// Errors: unreadable or hostile initramfs (offset + entry named), our
/// module inside it, or mkfs/fsck failing.
pub fn make_image(
    job: &ImageJob,
    initramfs: &Path,
    work: &Path,
    out: &Path,
    times: &mut StepTimes,
) -> Result<Made> {
    job.mkfs.check(job.compression)?;
    let (ex, uuid) = timed(&mut times.extract, || -> Result<_> {
        let input = File::open(initramfs)
            .with_context(|| format!("cannot open {}", initramfs.display()))?;
        let mut hashing = hashing::HashingReader::new(input);
        let ex = extract::extract_to_temp(&mut hashing, work)
            .with_context(|| format!("cannot extract {}", initramfs.display()))?;
        if job.refuse_our_module {
            refuse_looping_image(&ex.tree)?;
        }
        Ok((ex, hashing::uuid_from_hash(&hashing.hash())))
    })?;
    let mut warnings = ex.stats.warnings.lines();
    let compression = timed(&mut times.extract, || -> Result<_> {
        let sample = compressibility::sample(&ex.tree)?;
        let (compression, why) = compressibility::choose(job.compression, &sample);
        job.mkfs.check(&compression)?;
        warnings.extend(why);
        Ok(compression)
    })?;
    let epoch = u64::from(ex.stats.max_mtime);
    timed(&mut times.mkfs, || {
        erofs::mkfs_in(
            job.root,
            job.mkfs,
            &ex.tree,
            out,
            &compression,
            &uuid,
            epoch,
        )
    })?;
    timed(&mut times.fsck, || erofs::fsck_in(job.root, out))?;
    Ok(Made {
        compression,
        warnings,
    })
}

/// `initoverlayfs-builder erofs`: the host's mkfs.erofs turns the
/// initramfs `file` into `image` (temporary file and extraction next to it,
/// fsck, fsync, rename). Returns the image size in bytes and what
/// [`make_image`] made.
///
/// Errors: as [`make_image`], or writing next to `image` fails.
pub fn initramfs_to_erofs(
    file: &Path,
    image: &Path,
    compression: &Compression,
) -> Result<(u64, Made)> {
    let mkfs = erofs::detect()?;
    let job = ImageJob {
        root: Path::new("/"),
        mkfs: &mkfs,
        compression,
        refuse_our_module: false,
    };
    let tmp = fsutil::temp_next_to(image)?;
    let made = make_image(
        &job,
        file,
        &fsutil::parent_dir(image),
        tmp.path(),
        &mut StepTimes::default(),
    )?;
    Ok((fsutil::persist(tmp, image)?, made))
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
