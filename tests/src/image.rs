//! Pristine scenario disk images, built from the cached root tree and cached
//! themselves; every run boots copies of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::cache::{key, Cache};
use crate::disk;
use crate::guest::{self, GuestFacts};
use crate::loopdev::LoopDevice;
use crate::mount::Mount;
use crate::mounted::MountedGuest;
use crate::scenario::Scenario;

/// A pristine image and what is known about it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The cached raw disk image (never booted: boot a [`copy_sparse`] of it).
    pub path: PathBuf,
    /// The layout it was built with.
    pub scenario: Scenario,
    /// Its kernel release.
    pub kver: String,
}

/// Returns the cached pristine image of `scenario` built from the root-tree
/// tarball `rootfs` (cache key `rootfs_key`), building it if needed
/// (about 30 s: partition, mkfs, unpack, configure).
///
/// Errors: any step of the build (the error names it).
pub fn ensure(
    cache: &Cache,
    work: &Path,
    scenario: &Scenario,
    rootfs: &Path,
    rootfs_key: &str,
) -> Result<Image> {
    let kvers = crate::rootfs::kernel_releases(rootfs)?;
    let kver = kvers.last().expect("kernel_releases is non-empty").clone();
    let scenario_desc = format!("{scenario:?}");
    let k = key(&[rootfs_key, &scenario_desc, &guest::fingerprint(), &kver]);
    let (path, built) = cache.get_or_build(scenario.name, &k, "raw", |tmp| {
        eprintln!("vm: building the {} disk image", scenario.name);
        build(tmp, work, scenario, rootfs, &kver)
    })?;
    if built {
        eprintln!("vm: cached {}", path.display());
    }
    Ok(Image {
        path,
        scenario: *scenario,
        kver,
    })
}

fn build(out: &Path, work: &Path, s: &Scenario, rootfs: &Path, kver: &str) -> Result<()> {
    let parts = disk::create_fedora_layout(out)?;
    let layout = crate::mounted::Layout::find(&parts)?;
    let esp = parts
        .iter()
        .find(|p| p.type_guid == disk::TYPE_ESP)
        .context("no ESP")?;
    let esp_uuid = {
        let lo = disk::attach(out, esp)?;
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-n", "ESP"])
            .arg(lo.path())
            .run()?;
        disk::fs_uuid(lo.path())?
    };
    let boot_uuid = {
        let lo = disk::attach(out, &layout.boot)?;
        s.boot_fs.mkfs(lo.path(), "boot")?;
        disk::fs_uuid(lo.path())?
    };
    let root_uuid = {
        let lo: LoopDevice = disk::attach(out, &layout.root)?;
        s.root_fs.mkfs(lo.path(), s.root_label)?;
        if let Some(subvol) = s.root_subvol {
            let top = work.join(format!("btrfs-top-{}", std::process::id()));
            let m = Mount::new(lo.path(), &top, "btrfs", "")?;
            Command::new("btrfs")
                .args(["subvolume", "create"])
                .arg(m.path().join(subvol))
                .run()?;
            drop(m);
            let _ = std::fs::remove_dir(&top);
        }
        disk::fs_uuid(lo.path())?
    };
    let dir = work.join(format!("build-{}-{}", s.name, std::process::id()));
    let g = MountedGuest::mount(out, &dir, &s.root_mount_options())?;
    Command::new("tar")
        .args([
            "-x",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-p",
            "-f",
        ])
        .arg(rootfs)
        .arg("-C")
        .arg(g.root())
        .run()
        .context("cannot unpack the root tree")?;
    let machine_id = guest::new_machine_id()?;
    guest::configure(
        g.root(),
        &GuestFacts {
            scenario: s,
            kver,
            esp_uuid: &esp_uuid,
            boot_uuid: &boot_uuid,
            root_uuid: &root_uuid,
            machine_id: &machine_id,
        },
    )?;
    drop(g);
    Ok(())
}

/// Copies a (sparse) disk image, keeping holes: `cp --sparse=always`.
///
/// Errors: `cp` fails.
pub fn copy_sparse(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .run()
        .with_context(|| format!("cannot copy disk image to {}", to.display()))
}
