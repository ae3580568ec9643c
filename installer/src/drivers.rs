//! `[boot] drivers`: the kernel modules the boot filesystem's disk needs,
//! from `--drivers SPEC` (`auto`, `all` or a list) or the existing config.
//!
//! `auto` works like dracut's hostonly module selection: the block device
//! of `/boot` is resolved to its real `/sys/devices/…` directory, every
//! ancestor up to `/sys/devices` with a `driver` link contributes the module
//! of that driver (`driver/module` → `/sys/module/NAME`; a driver without
//! `module` is built in and skipped), stacked devices (dm, md, nvme
//! multipath, btrfs members) are followed to the disks below them first.
//! The sysfs root is a parameter so that tests walk fixture trees.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::layout::FsInfo;
use crate::target::Target;

/// The value of `--drivers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriversArg {
    /// `auto`: detect the modules on the running system.
    Auto,
    /// `all`: name none (the mini initramfs gets every storage driver).
    All,
    /// `mod1,mod2`: exactly these modules, in this order.
    List(Vec<String>),
}

/// Whether `name` can be a kernel module name (`[A-Za-z0-9_-]+`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl FromStr for DriversArg {
    type Err = anyhow::Error;

    /// Parses `auto`, `all` or a comma-separated module list (blanks around
    /// names ignored, duplicates dropped).
    ///
    /// Errors: an empty list or a name outside `[A-Za-z0-9_-]+`.
    fn from_str(s: &str) -> Result<DriversArg> {
        match s.trim() {
            "auto" => return Ok(DriversArg::Auto),
            "all" => return Ok(DriversArg::All),
            _ => {}
        }
        let mut names: Vec<String> = Vec::new();
        for n in s.split(',').map(str::trim) {
            if !valid_name(n) {
                bail!(
                    "{n:?} is not a kernel module name (letters, digits, _ and - only); \
                     use auto, all, or a list like virtio_blk or ahci,sd_mod"
                );
            }
            if !names.iter().any(|m| m == n) {
                names.push(n.to_string());
            }
        }
        Ok(DriversArg::List(names))
    }
}

/// Where this run's `[boot] drivers` list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Neither the command line nor the config names any.
    Default,
    /// Kept from the existing config file.
    Config,
    /// `--drivers mod1,mod2`.
    Named,
    /// `--drivers all`.
    All,
    /// `--drivers auto`, detected for these block devices (`/dev/vda2`).
    Detected(Vec<String>),
    /// `--drivers auto` failed (the reason): the install is refused.
    Failed(String),
}

/// A sentence about the list `drivers` chosen by `origin`, for the check
/// table, the dry run and the summary.
pub fn describe(drivers: &[String], origin: &Origin) -> String {
    let generic = "none named: the mini initramfs gets every storage driver";
    let list = drivers.join(", ");
    match origin {
        Origin::Failed(e) => format!("--drivers auto: {e}"),
        Origin::Detected(devs) if drivers.is_empty() => format!(
            "{generic} (--drivers auto: the drivers of {} are built into the kernel)",
            devs.join(", ")
        ),
        Origin::Detected(devs) => format!("{list} (detected for {})", devs.join(", ")),
        Origin::All => format!("{generic} (--drivers all)"),
        _ if drivers.is_empty() => generic.to_string(),
        Origin::Named => format!("{list} (--drivers)"),
        _ => format!("{list} (from {})", crate::conf::path()),
    }
}

impl fmt::Display for DriversArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriversArg::Auto => f.write_str("auto"),
            DriversArg::All => f.write_str("all"),
            DriversArg::List(v) => f.write_str(&v.join(",")),
        }
    }
}

/// Refuses `--drivers auto` on an offline tree (`--root DIR`): sysfs shows
/// the build host's disks, not the target's. Called before anything is
/// locked or written.
///
/// Errors: `arg` is `auto` and `target` is not the running system.
pub fn refuse_offline_auto(arg: Option<&DriversArg>, target: &Target) -> Result<()> {
    if arg == Some(&DriversArg::Auto) && !target.live {
        bail!(
            "--drivers auto detects the drivers of the running system, not of the offline tree {}: \
             name the modules its boot disk needs (e.g. --drivers virtio_blk or --drivers ahci,sd_mod), \
             or use --drivers all (every storage driver)",
            target.root.display()
        );
    }
    Ok(())
}

/// This run's `[boot] drivers` choice: the list to put over the config
/// (None: keep the file's) and its origin. `auto` reads the live `/sys`
/// (its failure is recorded as [`Origin::Failed`], which the check turns
/// into a refusal). `auto` on an offline tree is refused before this, by
/// [`refuse_offline_auto`] at the start of detection.
pub fn resolve(
    arg: Option<&DriversArg>,
    boot: Option<&FsInfo>,
    explicit_in_conf: bool,
) -> (Option<Vec<String>>, Origin) {
    match arg {
        None if explicit_in_conf => (None, Origin::Config),
        None => (None, Origin::Default),
        Some(DriversArg::All) => (Some(Vec::new()), Origin::All),
        Some(DriversArg::List(v)) => (Some(v.clone()), Origin::Named),
        Some(DriversArg::Auto) => match boot {
            None => (
                None,
                Origin::Failed("/boot is not a separate filesystem".into()),
            ),
            Some(b) => match detect(Path::new("/sys"), b) {
                Ok((m, devs)) => (Some(m), Origin::Detected(devs)),
                Err(e) => (None, Origin::Failed(format!("{e:#}"))),
            },
        },
    }
}

/// The modules `--drivers auto` finds for the boot filesystem `boot` of the
/// running system, with sysfs at `sys` (`/sys`): (modules from the disks
/// up, deduplicated; the block devices looked at, as `/dev/NAME`). An empty
/// list means every driver is built in.
///
/// Devices: `boot.device` (the mounted node, live only) and, for btrfs with
/// a `UUID=` source, every member under `SYS/fs/btrfs/UUID/devices`.
///
/// Errors: no block device is known for /boot, or one has no sysfs entry.
pub fn detect(sys: &Path, boot: &FsInfo) -> Result<(Vec<String>, Vec<String>)> {
    let mut dirs = Vec::new();
    let mut names = Vec::new();
    if let Some(dev) = &boot.device {
        dirs.push(block_dir(sys, dev)?);
        names.push(dev.clone());
    }
    if boot.fstype == "btrfs" {
        if let Some(uuid) = boot.source.strip_prefix("UUID=") {
            let members = sys.join("fs/btrfs").join(uuid).join("devices");
            for e in sorted_entries(&members)? {
                let d = e
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", e.display()))?;
                if !dirs.contains(&d) {
                    names.push(format!("/dev/{}", file_name(&d)));
                    dirs.push(d);
                }
            }
        }
    }
    if dirs.is_empty() {
        bail!(
            "no block device is known for /boot ({}, {}): name the modules or use --drivers all",
            boot.source,
            boot.fstype
        );
    }
    let sys = sys
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", sys.display()))?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for d in &dirs {
        walk(&sys, d, &mut out, &mut seen)?;
    }
    Ok((out, names))
}

/// The real `SYS/devices/…` directory of the block device node `dev`
/// (`/dev/vda2`, `/dev/mapper/root`): by its kernel name under
/// `SYS/class/block`, else by its device number under `SYS/dev/block`.
///
/// Errors: neither exists.
pub fn block_dir(sys: &Path, dev: &str) -> Result<PathBuf> {
    let node = std::fs::canonicalize(dev).unwrap_or_else(|_| PathBuf::from(dev));
    let by_name = sys.join("class/block").join(file_name(&node));
    if let Ok(d) = by_name.canonicalize() {
        return Ok(d);
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if let Ok(m) = std::fs::metadata(&node) {
        if m.file_type().is_block_device() {
            let rdev = m.rdev();
            let by_num = sys.join(format!(
                "dev/block/{}:{}",
                rustix::fs::major(rdev),
                rustix::fs::minor(rdev)
            ));
            if let Ok(d) = by_num.canonicalize() {
                return Ok(d);
            }
        }
    }
    bail!(
        "{dev}: no block device {} in {}",
        file_name(&node),
        sys.join("class/block").display()
    )
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The entries of `dir` sorted by name; a missing directory has none.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut v = rd
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    v.sort();
    Ok(v)
}

fn push(out: &mut Vec<String>, m: String) {
    if !out.contains(&m) {
        out.push(m);
    }
}

/// Whether `SYS/module/NAME` is a loadable module (built-in modules have
/// no `initstate`).
fn loadable(sys: &Path, name: &str) -> bool {
    sys.join("module").join(name).join("initstate").exists()
}

/// Adds the modules of the block device at `dev` (a real `SYS/devices/…`
/// directory): first those of the devices below it (`slaves`, nvme
/// `multipath`, of the device or, for a partition, of its disk), then its
/// own ancestors' drivers, then the dm/md core module and md personality.
fn walk(sys: &Path, dev: &Path, out: &mut Vec<String>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    if !seen.insert(dev.to_path_buf()) {
        return Ok(());
    }
    let disk = match dev.join("partition").exists() {
        true => dev.parent().unwrap_or(dev),
        false => dev,
    };
    for base in [dev, disk] {
        for sub in ["slaves", "multipath"] {
            for e in sorted_entries(&base.join(sub))? {
                let below = e
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", e.display()))?;
                walk(sys, &below, out, seen)?;
            }
        }
    }
    let top = sys.join("devices");
    let mut cur = Some(dev);
    while let Some(d) = cur.filter(|d| d.starts_with(&top) && *d != top) {
        let module = d.join("driver/module");
        if module.exists() {
            let target = std::fs::read_link(&module)
                .with_context(|| format!("cannot read {}", module.display()))?;
            push(out, file_name(&target));
        }
        cur = d.parent();
    }
    if disk.join("dm").is_dir() {
        let uuid = std::fs::read_to_string(disk.join("dm/uuid")).unwrap_or_default();
        let mut wanted = vec!["dm_mod"];
        if uuid.starts_with("CRYPT-") {
            wanted.push("dm_crypt");
        }
        for m in wanted.into_iter().filter(|m| loadable(sys, m)) {
            push(out, m.to_string());
        }
    }
    if let Ok(level) = std::fs::read_to_string(disk.join("md/level")) {
        let personality = match level.trim() {
            "raid4" | "raid5" | "raid6" => "raid456",
            l => l,
        };
        for m in ["md_mod", personality] {
            if valid_name(m) && loadable(sys, m) {
                push(out, m.to_string());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fake sysfs in a temp dir, with relative symlinks like the real one.
    struct FakeSys {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl FakeSys {
        fn new() -> FakeSys {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("sys");
            fs::create_dir(&root).unwrap();
            FakeSys { _tmp: tmp, root }
        }

        fn dir(&self, rel: &str) -> &Self {
            fs::create_dir_all(self.root.join(rel)).unwrap();
            self
        }

        fn file(&self, rel: &str, text: &str) -> &Self {
            let p = self.root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
            self
        }

        /// `link` (relative to the sysfs root) → `target` (same), written
        /// as a relative symlink.
        fn link(&self, link: &str, target: &str) -> &Self {
            let p = self.root.join(link);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            let up = link.matches('/').count();
            let rel = format!("{}{target}", "../".repeat(up));
            std::os::unix::fs::symlink(rel, p).unwrap();
            self
        }

        /// A driver `bus/BUS/drivers/NAME` of `module` (None: built in),
        /// bound to the device directory `dev`.
        fn driver(&self, dev: &str, bus: &str, name: &str, module: Option<&str>) -> &Self {
            let drv = format!("bus/{bus}/drivers/{name}");
            self.dir(&drv);
            if let Some(m) = module {
                self.file(&format!("module/{m}/initstate"), "live\n");
                if fs::symlink_metadata(self.root.join(&drv).join("module")).is_err() {
                    self.link(&format!("{drv}/module"), &format!("module/{m}"));
                }
            }
            self.dir(dev).link(&format!("{dev}/driver"), &drv)
        }

        /// A block device at `devices/PATH`, in class/block.
        fn block(&self, path: &str) -> &Self {
            let name = path.rsplit('/').next().unwrap();
            self.dir(&format!("devices/{path}"))
                .link(&format!("class/block/{name}"), &format!("devices/{path}"))
        }

        fn partition(&self, path: &str) -> &Self {
            self.block(path)
                .file(&format!("devices/{path}/partition"), "2\n")
        }
    }

    const VIRTIO: &str = "pci0000:00/0000:00:04.0/virtio1";

    /// A virtio disk as QEMU shows it: virtio-pci → virtio_blk → vda.
    fn virtio(s: &FakeSys) {
        s.driver(
            "devices/pci0000:00/0000:00:04.0",
            "pci",
            "virtio-pci",
            Some("virtio_pci"),
        )
        .driver(
            &format!("devices/{VIRTIO}"),
            "virtio",
            "virtio_blk",
            Some("virtio_blk"),
        )
        .block(&format!("{VIRTIO}/block/vda"))
        .partition(&format!("{VIRTIO}/block/vda/vda2"))
        .partition(&format!("{VIRTIO}/block/vda/vda3"));
    }

    fn boot(dev: &str) -> FsInfo {
        FsInfo {
            source: "UUID=b".into(),
            fstype: "ext4".into(),
            device: Some(dev.into()),
            subvol: None,
            options: None,
            dev: None,
            mount_point: "/boot".into(),
        }
    }

    fn mods(s: &FakeSys, dev: &str) -> Vec<String> {
        detect(&s.root, &boot(dev)).unwrap().0
    }

    #[test]
    fn virtio_partition() {
        let s = FakeSys::new();
        virtio(&s);
        let (m, devs) = detect(&s.root, &boot("/dev/vda2")).unwrap();
        assert_eq!(m, ["virtio_blk", "virtio_pci"]);
        assert_eq!(devs, ["/dev/vda2"]);
        // the whole disk too
        assert_eq!(mods(&s, "/dev/vda"), ["virtio_blk", "virtio_pci"]);
    }

    /// A SATA disk sda (partition sda1) on an AHCI controller.
    fn sata(s: &FakeSys) -> &FakeSys {
        let scsi = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
        s.driver(
            "devices/pci0000:00/0000:00:1f.2",
            "pci",
            "ahci",
            Some("ahci"),
        )
        .dir("devices/pci0000:00/0000:00:1f.2/ata1/ata_port/ata1")
        .dir("devices/pci0000:00/0000:00:1f.2/ata1/host0/scsi_host/host0")
        .driver(&format!("devices/{scsi}"), "scsi", "sd", Some("sd_mod"))
        .block(&format!("{scsi}/block/sda"))
        .partition(&format!("{scsi}/block/sda/sda1"))
    }

    #[test]
    fn sata_disk_through_ahci() {
        let s = FakeSys::new();
        sata(&s);
        assert_eq!(mods(&s, "/dev/sda1"), ["sd_mod", "ahci"]);
    }

    #[test]
    fn nvme_behind_a_builtin_bridge_and_multipath_head() {
        let s = FakeSys::new();
        let ctrl = "pci0000:00/0000:00:1c.0/0000:01:00.0";
        // pcieport is built in: no module link.
        s.driver("devices/pci0000:00/0000:00:1c.0", "pci", "pcieport", None)
            .driver(&format!("devices/{ctrl}"), "pci", "nvme", Some("nvme"))
            .dir(&format!("devices/{ctrl}/nvme/nvme0"))
            // the non-multipath form
            .block(&format!("{ctrl}/nvme/nvme0/nvme0n1"))
            .partition(&format!("{ctrl}/nvme/nvme0/nvme0n1/nvme0n1p2"));
        assert_eq!(mods(&s, "/dev/nvme0n1p2"), ["nvme"]);

        // CONFIG_NVME_MULTIPATH: a virtual head over the hidden path device.
        let s = FakeSys::new();
        s.driver("devices/pci0000:00/0000:00:1c.0", "pci", "pcieport", None)
            .driver(&format!("devices/{ctrl}"), "pci", "nvme", Some("nvme"))
            .block(&format!("{ctrl}/nvme/nvme0/nvme0c0n1"))
            .block("virtual/nvme-subsystem/nvme-subsys0/nvme0n1")
            .partition("virtual/nvme-subsystem/nvme-subsys0/nvme0n1/nvme0n1p2")
            .link(
                "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/multipath/nvme0c0n1",
                &format!("devices/{ctrl}/nvme/nvme0/nvme0c0n1"),
            );
        assert_eq!(mods(&s, "/dev/nvme0n1p2"), ["nvme"]);
    }

    #[test]
    fn dm_and_md_follow_their_slaves() {
        let s = FakeSys::new();
        virtio(&s);
        s.block("virtual/block/dm-0")
            .file("devices/virtual/block/dm-0/dm/uuid", "LVM-abc\n")
            .file("module/dm_mod/initstate", "live\n")
            .link(
                "devices/virtual/block/dm-0/slaves/vda3",
                &format!("devices/{VIRTIO}/block/vda/vda3"),
            )
            // a LUKS device on top of the LV
            .block("virtual/block/dm-1")
            .file("devices/virtual/block/dm-1/dm/uuid", "CRYPT-LUKS2-x\n")
            .file("module/dm_crypt/initstate", "live\n")
            .link(
                "devices/virtual/block/dm-1/slaves/dm-0",
                "devices/virtual/block/dm-0",
            );
        assert_eq!(
            mods(&s, "/dev/dm-0"),
            ["virtio_blk", "virtio_pci", "dm_mod"]
        );
        assert_eq!(
            mods(&s, "/dev/dm-1"),
            ["virtio_blk", "virtio_pci", "dm_mod", "dm_crypt"]
        );

        // md RAID1 over two partitions, partitioned itself; md_mod built in.
        let s = FakeSys::new();
        virtio(&s);
        s.block("virtual/block/md127")
            .partition("virtual/block/md127/md127p1")
            .file("devices/virtual/block/md127/md/level", "raid1\n")
            .file("module/raid1/initstate", "live\n")
            .dir("module/md_mod/parameters")
            .link(
                "devices/virtual/block/md127/slaves/vda2",
                &format!("devices/{VIRTIO}/block/vda/vda2"),
            )
            .link(
                "devices/virtual/block/md127/slaves/vda3",
                &format!("devices/{VIRTIO}/block/vda/vda3"),
            );
        assert_eq!(
            mods(&s, "/dev/md127p1"),
            ["virtio_blk", "virtio_pci", "raid1"]
        );
    }

    #[test]
    fn btrfs_members_and_builtin_drivers() {
        let s = FakeSys::new();
        virtio(&s);
        sata(&s)
            .link("fs/btrfs/f00/devices/vda2", "class/block/vda2")
            .link("fs/btrfs/f00/devices/sda1", "class/block/sda1");
        let b = FsInfo {
            source: "UUID=f00".into(),
            fstype: "btrfs".into(),
            ..boot("/dev/vda2")
        };
        let (m, devs) = detect(&s.root, &b).unwrap();
        assert_eq!(m, ["virtio_blk", "virtio_pci", "sd_mod", "ahci"]);
        assert_eq!(devs, ["/dev/vda2", "/dev/sda1"]);
        // offline-like: no device node, members only
        let (m, _) = detect(
            &s.root,
            &FsInfo {
                device: None,
                ..b.clone()
            },
        )
        .unwrap();
        assert_eq!(m, ["sd_mod", "ahci", "virtio_blk", "virtio_pci"]);

        // everything built in: nothing to name
        let s = FakeSys::new();
        s.driver("devices/pci0000:00/0000:00:04.0", "pci", "virtio-pci", None)
            .driver(&format!("devices/{VIRTIO}"), "virtio", "virtio_blk", None)
            .block(&format!("{VIRTIO}/block/vda"))
            .partition(&format!("{VIRTIO}/block/vda/vda2"));
        assert!(mods(&s, "/dev/vda2").is_empty());
        let text = describe(&[], &Origin::Detected(vec!["/dev/vda2".into()]));
        assert!(text.contains("built into the kernel"), "{text}");
    }

    #[test]
    fn unknown_devices_are_clear_errors() {
        let s = FakeSys::new();
        virtio(&s);
        let err = format!("{:#}", detect(&s.root, &boot("/dev/xvdz9")).unwrap_err());
        assert!(
            err.contains("/dev/xvdz9") && err.contains("class/block"),
            "{err}"
        );
        let b = FsInfo {
            device: None,
            ..boot("/dev/vda2")
        };
        let err = format!("{:#}", detect(&s.root, &b).unwrap_err());
        assert!(
            err.contains("no block device") && err.contains("--drivers all"),
            "{err}"
        );
    }

    /// The walk on this machine's real sysfs: every block device resolves.
    #[test]
    fn walks_every_block_device_of_this_machine() {
        let sys = Path::new("/sys");
        let Ok(rd) = fs::read_dir(sys.join("class/block")) else {
            eprintln!("skipping: no /sys/class/block");
            return;
        };
        let mut n = 0;
        for e in rd {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let dev = format!("/dev/{name}");
            let (m, _) = detect(sys, &boot(&dev)).unwrap_or_else(|e| panic!("{dev}: {e:#}"));
            assert!(m.iter().all(|m| valid_name(m)), "{dev}: {m:?}");
            eprintln!("{dev}: {m:?}");
            n += 1;
        }
        eprintln!("{n} block devices walked");
    }

    #[test]
    fn resolves_choices_and_refuses_offline_auto() {
        let offline = Target {
            root: "/tmp/r".into(),
            live: false,
            no_chroot: false,
        };
        let b = boot("/dev/vda2");
        let named = DriversArg::List(vec!["virtio_blk".into()]);
        assert_eq!(
            resolve(Some(&named), Some(&b), true),
            (Some(vec!["virtio_blk".to_string()]), Origin::Named)
        );
        assert_eq!(
            resolve(Some(&DriversArg::All), Some(&b), true),
            (Some(Vec::new()), Origin::All)
        );
        assert_eq!(resolve(None, Some(&b), true), (None, Origin::Config));
        assert_eq!(resolve(None, None, false), (None, Origin::Default));
        let err = format!(
            "{:#}",
            refuse_offline_auto(Some(&DriversArg::Auto), &offline).unwrap_err()
        );
        assert!(
            err.contains("/tmp/r")
                && err.contains("--drivers all")
                && err.contains("running system"),
            "{err}"
        );
        assert_eq!(
            describe(&["virtio_blk".into()], &Origin::Named),
            "virtio_blk (--drivers)"
        );
        assert_eq!(
            describe(&["ahci".into(), "sd_mod".into()], &Origin::Config),
            "ahci, sd_mod (from /etc/initoverlayfs.conf)"
        );
    }

    #[test]
    fn parses_specs() {
        assert_eq!("auto".parse::<DriversArg>().unwrap(), DriversArg::Auto);
        assert_eq!("all".parse::<DriversArg>().unwrap(), DriversArg::All);
        assert_eq!(
            "ahci, sd_mod,ahci,virtio-blk"
                .parse::<DriversArg>()
                .unwrap(),
            DriversArg::List(vec!["ahci".into(), "sd_mod".into(), "virtio-blk".into()])
        );
        for bad in ["", "a,,b", "virtio blk", "../x", "sd_mod;rm", "a,"] {
            let err = format!("{:#}", bad.parse::<DriversArg>().unwrap_err());
            assert!(err.contains("not a kernel module name"), "{bad:?}: {err}");
        }
        assert_eq!(
            DriversArg::List(vec!["a".into(), "b".into()]).to_string(),
            "a,b"
        );
    }
}
