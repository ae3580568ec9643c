//! A copy of the pristine fedora image with a larger /boot and root: the
//! harness's layout has Fedora's 1 GiB /boot, too small for a 1 GiB payload
//! (the dracut initramfs, or the erofs image plus the installer's copy of
//! the original initramfs), and a root too small to hold the payload, the
//! installer's full cpio and its extracted tree at once. The root partition
//! is moved up (content copied byte for byte, so filesystem and partition
//! UUIDs stay) and made [`ROOT_EXTRA_MIB`] larger, /boot's partition is
//! recreated larger with its own GUID; ext4 /boot grows with `resize2fs`,
//! btrfs root with `btrfs filesystem resize max`. Cached in the harness's
//! cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::disk::{self, Partition, TYPE_LINUX, TYPE_ROOT_X86_64};
use crate::harness::Harness;
use crate::image::{self, Image};
use crate::mount::Mount;

const MIB: u64 = 1024 * 1024;

/// How much larger the root partition gets, MiB.
pub const ROOT_EXTRA_MIB: u64 = 4096;

/// The `sgdisk` arguments that recreate /boot (number 2) with `boot_mib`
/// MiB at its old start and root (number 3) right after it over the rest,
/// keeping both partitions' GUIDs, types and names.
pub fn sgdisk_args(boot: &Partition, root: &Partition, boot_mib: u64) -> Vec<String> {
    vec![
        "-d3".into(),
        "-d2".into(),
        format!("-n2:{}:+{boot_mib}M", boot.start / 512),
        "-t2:8300".into(),
        format!("-c2:{}", boot.name),
        format!("-u2:{}", boot.uuid),
        "-n3:0:0".into(),
        "-t3:8304".into(),
        format!("-c3:{}", root.name),
        format!("-u3:{}", root.uuid),
    ]
}

fn dd(args: &[String]) -> Result<()> {
    Command::new("dd")
        .args(args)
        .args(["bs=4M", "status=none"])
        .run()
}

fn grow(pristine: &Path, out: &Path, work: &Path, boot_mib: u64) -> Result<()> {
    image::copy_sparse(pristine, out)?;
    let parts = disk::read_table(out)?;
    let find = |t: &str| {
        parts
            .iter()
            .find(|p| p.type_guid == t)
            .cloned()
            .with_context(|| format!("no partition of type {t}"))
    };
    let (boot, root) = (find(TYPE_LINUX)?, find(TYPE_ROOT_X86_64)?);
    ensure!(
        boot_mib * MIB > boot.size,
        "/boot is already {} MiB",
        boot.size / MIB
    );
    let extra = boot_mib * MIB - boot.size;
    let saved = work.join("bench-root-partition.img");
    let _ = std::fs::remove_file(&saved);
    dd(&[
        format!("if={}", out.display()),
        format!("of={}", saved.display()),
        format!("skip={}", root.start),
        format!("count={}", root.size),
        "iflag=skip_bytes,count_bytes".into(),
        "conv=sparse".into(),
    ])
    .context("cannot save the root partition")?;
    let len = std::fs::metadata(out)?.len();
    let f = std::fs::OpenOptions::new().write(true).open(out)?;
    f.set_len(len + extra + ROOT_EXTRA_MIB * MIB)
        .with_context(|| format!("cannot grow {}", out.display()))?;
    drop(f);
    Command::new("sgdisk").arg("-e").arg(out).run()?;
    Command::new("sgdisk")
        .args(sgdisk_args(&boot, &root, boot_mib))
        .arg(out)
        .run()
        .context("cannot repartition")?;
    let parts = disk::read_table(out)?;
    let new_root = parts
        .iter()
        .find(|p| p.type_guid == TYPE_ROOT_X86_64)
        .context("root partition lost")?
        .clone();
    ensure!(
        new_root.size >= root.size,
        "the moved root partition shrank ({} < {})",
        new_root.size,
        root.size
    );
    // Zeros where the root goes, so the sparse copy leaves no stale bytes.
    Command::new("fallocate")
        .args(["--punch-hole", "--keep-size", "--offset"])
        .arg(new_root.start.to_string())
        .arg("--length")
        .arg(new_root.size.to_string())
        .arg(out)
        .run()?;
    dd(&[
        format!("if={}", saved.display()),
        format!("of={}", out.display()),
        format!("seek={}", new_root.start),
        "oflag=seek_bytes".into(),
        "conv=sparse,notrunc".into(),
    ])
    .context("cannot move the root partition")?;
    let _ = std::fs::remove_file(&saved);
    let new_boot = parts
        .iter()
        .find(|p| p.type_guid == TYPE_LINUX)
        .context("/boot partition lost")?
        .clone();
    let lo = disk::attach(out, &new_boot)?;
    // e2fsck exits 1 when it merely optimized something.
    let _ = Command::new("e2fsck")
        .args(["-f", "-y"])
        .arg(lo.path())
        .run();
    Command::new("resize2fs").arg(lo.path()).run()?;
    drop(lo);
    let lo = disk::attach(out, &new_root)?;
    let fstype = disk::fs_type(lo.path())?;
    ensure!(fstype == "btrfs", "root is {fstype}, only btrfs is grown");
    let mnt = work.join("bench-grow-root");
    let m = Mount::new(lo.path(), &mnt, "btrfs", "")?;
    Command::new("btrfs")
        .args(["filesystem", "resize", "max"])
        .arg(m.path())
        .run()?;
    drop(m);
    let _ = std::fs::remove_dir(&mnt);
    Ok(())
}

/// The pristine fedora `img` with /boot grown to `boot_mib` MiB (built
/// once, then taken from the cache).
///
/// Errors: a partitioning, copy or resize step fails.
pub fn ensure(h: &Harness, img: &Image, boot_mib: u64) -> Result<Image> {
    let stem = img
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = crate::cache::key(&[&stem, &boot_mib.to_string(), "bench-grow-2"]);
    let work: PathBuf = h.run_dir.clone();
    let (path, built) = h.cache.get_or_build(
        &format!("bench-fedora-boot{boot_mib}"),
        &key,
        "raw",
        |tmp| {
            eprintln!("bench: growing /boot to {boot_mib} MiB on a copy of the fedora image");
            grow(&img.path, tmp, &work, boot_mib)
        },
    )?;
    if built {
        eprintln!("bench: cached {}", path.display());
    }
    Ok(Image {
        path,
        scenario: img.scenario,
        kver: img.kver.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repartition_keeps_guids_and_start() {
        let p = |n, start, uuid: &str, name: &str| Partition {
            number: n,
            start,
            size: 1024 * MIB,
            type_guid: String::new(),
            uuid: uuid.into(),
            name: name.into(),
        };
        let a = sgdisk_args(
            &p(2, 601 * MIB, "B-UUID", "boot"),
            &p(3, 1625 * MIB, "R-UUID", "root"),
            3072,
        );
        assert_eq!(
            a.join(" "),
            "-d3 -d2 -n2:1230848:+3072M -t2:8300 -c2:boot -u2:B-UUID -n3:0:0 -t3:8304 -c3:root -u3:R-UUID"
        );
    }
}
