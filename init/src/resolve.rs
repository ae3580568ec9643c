//! Boot filesystem device resolver: [`DeviceSpec`] -> device node.
//!
//! * systemd mode (`udev = true`): udev's `/dev/disk/by-*` link for the spec
//!   (see [`DeviceSpec::udev_links`]), with the sysfs probe below as a second
//!   chance.
//! * pid1 mode: no udev, so every block device in `/sys/class/block/*` is
//!   examined: `dev` (`MAJOR:MINOR`), `uevent` (`DEVNAME`, `PARTN`,
//!   `PARTNAME`, and `PARTUUID` on kernels that export it), the parent disk's
//!   partition table for `PARTUUID` otherwise ([`crate::parttable`]), and the
//!   filesystem superblock for `UUID`/`LABEL` ([`crate::superblock`]).
//!   A missing `/dev` node is created with mknod.
//!
//! `bootfs_hint` (a `/dev` path) is tried first and used only when it carries
//! the spec. Everything is looked up under a root directory (`/` at boot, a
//! fake tree in tests).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::spec::DeviceSpec;
use crate::superblock::{self, FsInfo};
use crate::{debug, parttable};

/// Block devices whose superblocks are never read for `UUID=`/`LABEL=`:
/// floppies (`fd*`) and optical drives (`sr*`) can stall a read for seconds
/// and never hold a boot filesystem here.
pub const NO_PROBE_PREFIXES: &[&str] = &["fd", "sr"];

/// One block device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDev {
    /// Directory name in `/sys/class/block` (e.g. `vda2`).
    pub name: String,
    /// Node name under `/dev` (`DEVNAME` of uevent; defaults to `name`).
    pub devname: String,
    /// Device number from `dev`.
    pub major: u32,
    /// Device number from `dev`.
    pub minor: u32,
    /// Partition number (`PARTN`), for partitions.
    pub partn: Option<u32>,
    /// GPT partition name (`PARTNAME`).
    pub partname: Option<String>,
    /// Partition UUID (`PARTUUID`), when the kernel exports it.
    pub partuuid: Option<String>,
    /// Size in 512-byte sectors (`size`), if readable.
    pub sectors: Option<u64>,
}

/// Parses a sysfs `dev` file: `MAJOR:MINOR`.
pub fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses a block device's `uevent` text (`KEY=value` lines) into the
/// fields of [`BlockDev`] it carries (name, numbers from `MAJOR`/`MINOR`).
pub fn parse_uevent(name: &str, text: &str) -> BlockDev {
    let mut d = BlockDev {
        name: name.to_string(),
        devname: name.to_string(),
        major: 0,
        minor: 0,
        partn: None,
        partname: None,
        partuuid: None,
        sectors: None,
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "DEVNAME" => d.devname = v.to_string(),
            "MAJOR" => d.major = v.parse().unwrap_or(0),
            "MINOR" => d.minor = v.parse().unwrap_or(0),
            "PARTN" => d.partn = v.parse().ok(),
            "PARTNAME" if !v.is_empty() => d.partname = Some(v.to_string()),
            "PARTUUID" if !v.is_empty() => d.partuuid = Some(v.to_string()),
            _ => {}
        }
    }
    d
}

/// Finds device nodes for specs under a root directory.
#[derive(Debug)]
pub struct Resolver {
    root: PathBuf,
    udev: bool,
    /// Superblock probes by (name, MAJ:MIN), so waiting does not re-read disks.
    fs_cache: HashMap<(String, u32, u32), Option<FsInfo>>,
    /// Names seen in the last scan (for the timeout message).
    seen: Vec<String>,
}

impl Resolver {
    /// A resolver reading `ROOT/sys/class/block` and `ROOT/dev`; `udev`:
    /// also look for udev's `/dev/disk/by-*` links (systemd mode).
    pub fn new(root: &Path, udev: bool) -> Resolver {
        Resolver {
            root: root.to_path_buf(),
            udev,
            fs_cache: HashMap::new(),
            seen: Vec::new(),
        }
    }

    fn under(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Reads one `/sys/class/block/NAME` entry.
    pub fn read_blockdev(&self, name: &str) -> Option<BlockDev> {
        let dir = self.under("/sys/class/block").join(name);
        let uevent = fs::read_to_string(dir.join("uevent")).unwrap_or_default();
        let mut d = parse_uevent(name, &uevent);
        if let Some((ma, mi)) = fs::read_to_string(dir.join("dev"))
            .ok()
            .as_deref()
            .and_then(parse_dev)
        {
            d.major = ma;
            d.minor = mi;
        } else if d.major == 0 && d.minor == 0 {
            return None;
        }
        d.sectors = fs::read_to_string(dir.join("size"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Some(d)
    }

    /// Every block device in `/sys/class/block`, sorted by name.
    pub fn scan(&self) -> Vec<BlockDev> {
        let Ok(rd) = fs::read_dir(self.under("/sys/class/block")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.iter().filter_map(|n| self.read_blockdev(n)).collect()
    }

    /// The `/dev` node of `d`, created with mknod if missing.
    pub fn node(&self, d: &BlockDev) -> Result<PathBuf> {
        let node = self.under("/dev").join(&d.devname);
        if fs::symlink_metadata(&node).is_err() {
            if let Some(parent) = node.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            crate::sys::mknod_block(&node, d.major, d.minor).with_context(|| {
                format!(
                    "cannot create device node {} ({}:{})",
                    node.display(),
                    d.major,
                    d.minor
                )
            })?;
            debug!("created {} ({}:{})", node.display(), d.major, d.minor);
        }
        Ok(node)
    }

    fn fs_info(&mut self, d: &BlockDev) -> Option<FsInfo> {
        let key = (d.name.clone(), d.major, d.minor);
        if let Some(info) = self.fs_cache.get(&key) {
            return info.clone();
        }
        if NO_PROBE_PREFIXES.iter().any(|p| d.name.starts_with(p)) {
            return None;
        }
        if d.sectors == Some(0) {
            return None; // empty drive or unconfigured loop: do not cache, it may fill
        }
        let node = self.node(d).ok()?;
        let info = match superblock::probe(&node) {
            Ok(info) => info,
            Err(e) => {
                debug!("cannot probe {}: {e}", node.display());
                return None;
            }
        };
        self.fs_cache.insert(key, info.clone());
        info
    }

    /// The disk holding partition `d` (the parent directory of its real sysfs path).
    fn parent_disk(&self, d: &BlockDev) -> Option<BlockDev> {
        let real = fs::canonicalize(self.under("/sys/class/block").join(&d.name)).ok()?;
        let parent = real.parent()?;
        if !parent.join("dev").exists() {
            return None;
        }
        self.read_blockdev(&parent.file_name()?.to_string_lossy())
    }

    fn partuuid(&self, d: &BlockDev) -> Option<String> {
        if let Some(u) = &d.partuuid {
            return Some(u.clone());
        }
        let partn = d.partn?;
        let disk = self.parent_disk(d)?;
        let node = self.node(&disk).ok()?;
        parttable::partuuid_of(&node, partn).ok().flatten()
    }

    /// Whether block device `d` is the one `spec` names.
    pub fn matches(&mut self, d: &BlockDev, spec: &DeviceSpec) -> bool {
        match spec {
            DeviceSpec::Uuid(u) => self
                .fs_info(d)
                .and_then(|i| i.uuid)
                .is_some_and(|x| x.eq_ignore_ascii_case(u)),
            DeviceSpec::Label(l) => self
                .fs_info(d)
                .and_then(|i| i.label)
                .is_some_and(|x| &x == l),
            DeviceSpec::PartUuid(u) => self.partuuid(d).is_some_and(|x| x.eq_ignore_ascii_case(u)),
            DeviceSpec::PartLabel(l) => d.partname.as_deref() == Some(l.as_str()),
            DeviceSpec::Path(p) => {
                let name = p.trim_start_matches("/dev/");
                name == d.devname || name == d.name
            }
        }
    }

    fn check_hint(&mut self, spec: &DeviceSpec, hint: &str) -> Option<PathBuf> {
        let name = hint.strip_prefix("/dev/")?;
        let d = self
            .read_blockdev(name)
            .or_else(|| self.scan().into_iter().find(|d| d.devname == name))?;
        if self.matches(&d, spec) {
            return self.node(&d).ok();
        }
        debug!("hint {hint} does not carry {spec}");
        None
    }

    /// One look for `spec` (trying `hint` first). `Ok(None)`: not there yet.
    /// Errors: the device exists but its node cannot be created.
    pub fn find(&mut self, spec: &DeviceSpec, hint: Option<&str>) -> Result<Option<PathBuf>> {
        // `/dev/disk/by-*` links do not exist in pid1 mode: look up the tag.
        let spec = spec.canonical();
        if let Some(hint) = hint {
            if let Some(node) = self.check_hint(&spec, hint) {
                debug!("{spec} found at hint {}", node.display());
                return Ok(Some(node));
            }
        }
        if let DeviceSpec::Path(p) = &spec {
            let node = self.under(p);
            if node.exists() {
                return Ok(Some(node));
            }
        }
        if self.udev {
            for link in spec.udev_links() {
                let link = self.under(&link);
                if link.exists() {
                    let real = fs::canonicalize(&link)
                        .with_context(|| format!("cannot resolve {}", link.display()))?;
                    return Ok(Some(real));
                }
            }
        }
        let devs = self.scan();
        self.seen = devs.iter().map(|d| d.name.clone()).collect();
        for d in &devs {
            if self.matches(d, &spec) {
                return self.node(d).map(Some);
            }
        }
        Ok(None)
    }

    /// Waits up to `timeout` for `spec`, polling (10 ms, backing off to
    /// 100 ms) and calling `tick(elapsed)` between polls (coldplug or udev
    /// re-trigger). Errors: the timeout passes; the message names the spec,
    /// the timeout and the block devices that were there.
    pub fn wait(
        &mut self,
        spec: &DeviceSpec,
        hint: Option<&str>,
        timeout: Duration,
        tick: &mut dyn FnMut(Duration),
    ) -> Result<PathBuf> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(node) = self.find(spec, hint)? {
                return Ok(node);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                let seen = if self.seen.is_empty() {
                    "none".to_string()
                } else {
                    self.seen.join(", ")
                };
                bail!(
                    "boot filesystem {spec} did not appear within {} s (block devices seen: {seen})",
                    timeout.as_secs()
                );
            }
            tick(elapsed);
            std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superblock::tests::mkfs_image;

    /// A fake root: `sys/class/block/NAME/{dev,uevent,size}` as symlinks into
    /// `sys/devices/...` (like the kernel's), and `dev/NAME` regular files.
    struct Fake {
        dir: tempfile::TempDir,
    }

    impl Fake {
        fn new() -> Fake {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("sys/class/block")).unwrap();
            fs::create_dir_all(dir.path().join("dev")).unwrap();
            Fake { dir }
        }
        fn root(&self) -> &Path {
            self.dir.path()
        }
        /// Adds a device; `parent`: the disk a partition belongs to.
        fn add(
            &self,
            name: &str,
            parent: Option<&str>,
            dev: (u32, u32),
            uevent_extra: &str,
            image: Option<&Path>,
        ) {
            let sysdir = match parent {
                Some(p) => self
                    .root()
                    .join("sys/devices/virtual/block")
                    .join(p)
                    .join(name),
                None => self.root().join("sys/devices/virtual/block").join(name),
            };
            fs::create_dir_all(&sysdir).unwrap();
            fs::write(sysdir.join("dev"), format!("{}:{}\n", dev.0, dev.1)).unwrap();
            fs::write(
                sysdir.join("uevent"),
                format!(
                    "MAJOR={}\nMINOR={}\nDEVNAME={name}\n{uevent_extra}",
                    dev.0, dev.1
                ),
            )
            .unwrap();
            fs::write(sysdir.join("size"), "16384\n").unwrap();
            std::os::unix::fs::symlink(&sysdir, self.root().join("sys/class/block").join(name))
                .unwrap();
            if let Some(img) = image {
                fs::copy(img, self.root().join("dev").join(name)).unwrap();
            }
        }
    }

    #[test]
    fn parses_sysfs_files() {
        assert_eq!(parse_dev("252:2\n"), Some((252, 2)));
        assert_eq!(parse_dev("x"), None);
        // Recorded from a 6.1 guest's /sys/class/block/vda2/uevent.
        let d = parse_uevent("vda2", "MAJOR=252\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nDISKSEQ=9\nPARTN=2\nPARTNAME=boot\n");
        assert_eq!((d.major, d.minor, d.partn), (252, 2, Some(2)));
        assert_eq!(d.partname.as_deref(), Some("boot"));
        assert_eq!(d.partuuid, None);
    }

    #[test]
    fn resolves_every_kind_of_spec_on_a_fake_tree() {
        let imgs = tempfile::tempdir().unwrap();
        let Some(ext4) = mkfs_image(
            imgs.path(),
            "e.img",
            8 << 20,
            &[
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "BOOT",
                "-U",
                "0b1b2b3b-4c4c-5d5d-6e6e-7f7f7f7f7f7f",
            ],
        ) else {
            return;
        };
        let Some(xfs) = mkfs_image(
            imgs.path(),
            "x.img",
            300 << 20,
            &["mkfs.xfs", "-q", "-f", "-L", "xboot"],
        ) else {
            return;
        };
        let Some(btrfs) = mkfs_image(
            imgs.path(),
            "b.img",
            128 << 20,
            &["mkfs.btrfs", "-q", "-f", "-L", "broot"],
        ) else {
            return;
        };
        let Some(vfat) = mkfs_image(
            imgs.path(),
            "v.img",
            40 << 20,
            &["mkfs.vfat", "-F", "32", "-n", "ESP", "-i", "DEADBEEF"],
        ) else {
            return;
        };
        // A GPT disk image as "vdb", its partition table giving vdb1 a PARTUUID.
        let disk = imgs.path().join("disk.img");
        fs::File::create(&disk).unwrap().set_len(4 << 20).unwrap();
        let mut sf = std::process::Command::new("sfdisk")
            .args(["-q"])
            .arg(&disk)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        sf.stdin
            .take()
            .unwrap()
            .write_all(
                b"label: gpt\nsize=1MiB, name=data, uuid=aaaabbbb-cccc-dddd-eeee-ffff00001111\n",
            )
            .unwrap();
        assert!(sf.wait().unwrap().success());

        let fake = Fake::new();
        fake.add("vda", None, (252, 0), "DEVTYPE=disk\n", None);
        fake.add(
            "vda1",
            Some("vda"),
            (252, 1),
            "PARTN=1\nPARTNAME=EFI System\n",
            Some(&vfat),
        );
        fake.add(
            "vda2",
            Some("vda"),
            (252, 2),
            "PARTN=2\nPARTNAME=xbootldr\nPARTUUID=11112222-3333-4444-5555-666677778888\n",
            Some(&ext4),
        );
        fake.add("vda3", Some("vda"), (252, 3), "PARTN=3\n", Some(&xfs));
        fake.add("sda", None, (8, 0), "", Some(&btrfs));
        // Sorted before vda1 and holding the same filesystem, but never probed.
        fake.add("sr0", None, (11, 0), "", Some(&vfat));
        fake.add("vdb", None, (252, 16), "", Some(&disk));
        fake.add("vdb1", Some("vdb"), (252, 17), "PARTN=1\n", None);
        fs::write(fake.root().join("dev/vdb1"), b"").unwrap();

        let mut r = Resolver::new(fake.root(), false);
        let dev = |n: &str| fake.root().join("dev").join(n);
        let find = |r: &mut Resolver, s: &str| r.find(&s.parse().unwrap(), None).unwrap();
        assert_eq!(
            find(&mut r, "UUID=0B1B2B3B-4C4C-5D5D-6E6E-7F7F7F7F7F7F"),
            Some(dev("vda2"))
        );
        assert_eq!(find(&mut r, "LABEL=BOOT"), Some(dev("vda2")));
        assert_eq!(find(&mut r, "LABEL=xboot"), Some(dev("vda3")));
        assert_eq!(find(&mut r, "LABEL=broot"), Some(dev("sda")));
        assert_eq!(find(&mut r, "UUID=DEAD-BEEF"), Some(dev("vda1")));
        assert_eq!(find(&mut r, "LABEL=ESP"), Some(dev("vda1")));
        assert_eq!(find(&mut r, "PARTLABEL=xbootldr"), Some(dev("vda2")));
        assert_eq!(
            find(&mut r, "PARTUUID=11112222-3333-4444-5555-666677778888"),
            Some(dev("vda2"))
        );
        // From the parent disk's GPT (no PARTUUID in uevent, as on 6.1).
        assert_eq!(
            find(&mut r, "PARTUUID=AAAABBBB-CCCC-DDDD-EEEE-FFFF00001111"),
            Some(dev("vdb1"))
        );
        assert_eq!(find(&mut r, "/dev/vda3"), Some(dev("vda3")));
        assert_eq!(find(&mut r, "/dev/disk/by-label/broot"), Some(dev("sda")));
        assert_eq!(
            find(&mut r, "LABEL=boot"),
            None,
            "labels are case-sensitive"
        );

        // The hint is used when it carries the spec, ignored otherwise.
        let spec: DeviceSpec = "LABEL=xboot".parse().unwrap();
        assert_eq!(r.find(&spec, Some("/dev/vda3")).unwrap(), Some(dev("vda3")));
        assert_eq!(r.find(&spec, Some("/dev/vda2")).unwrap(), Some(dev("vda3")));
    }

    #[test]
    fn missing_node_is_created_with_mknod() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: mknod needs root");
            return;
        }
        let fake = Fake::new();
        fake.add("vdz1", None, (252, 99), "PARTN=1\nPARTNAME=made\n", None);
        let mut r = Resolver::new(fake.root(), false);
        let node = r
            .find(&"PARTLABEL=made".parse().unwrap(), None)
            .unwrap()
            .unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let md = fs::metadata(&node).unwrap();
        assert!(md.file_type().is_block_device());
        assert_eq!(md.rdev(), libc::makedev(252, 99));
    }

    #[test]
    fn udev_links_in_systemd_mode() {
        let fake = Fake::new();
        fs::create_dir_all(fake.root().join("dev/disk/by-label")).unwrap();
        fs::write(fake.root().join("dev/vdc4"), b"").unwrap();
        std::os::unix::fs::symlink(
            "../../vdc4",
            fake.root().join("dev/disk/by-label/my\\x20boot"),
        )
        .unwrap();
        let mut r = Resolver::new(fake.root(), true);
        let got = r.find(&"LABEL=my boot".parse().unwrap(), None).unwrap();
        assert_eq!(
            got,
            Some(fs::canonicalize(fake.root().join("dev/vdc4")).unwrap())
        );
        // udev names a vfat UUID link in upper case; specs may use either.
        fs::create_dir_all(fake.root().join("dev/disk/by-uuid")).unwrap();
        fs::write(fake.root().join("dev/vdc1"), b"").unwrap();
        std::os::unix::fs::symlink("../../vdc1", fake.root().join("dev/disk/by-uuid/7A3B-1C2D"))
            .unwrap();
        let esp = Some(fs::canonicalize(fake.root().join("dev/vdc1")).unwrap());
        for spec in ["UUID=7A3B-1C2D", "UUID=7a3b-1c2d"] {
            assert_eq!(r.find(&spec.parse().unwrap(), None).unwrap(), esp, "{spec}");
        }
    }

    #[test]
    fn spec_that_never_appears_times_out_naming_it() {
        let fake = Fake::new();
        fake.add("vda", None, (252, 0), "", None);
        let mut r = Resolver::new(fake.root(), false);
        let spec: DeviceSpec = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff".parse().unwrap();
        let start = Instant::now();
        let mut ticks = 0;
        let err = r
            .wait(
                &spec,
                Some("/dev/vda2"),
                Duration::from_secs(2),
                &mut |_| ticks += 1,
            )
            .unwrap_err();
        let waited = start.elapsed();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff"),
            "{msg}"
        );
        assert!(msg.contains("within 2 s"), "{msg}");
        assert!(msg.contains("block devices seen: vda"), "{msg}");
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
        assert!(ticks > 5, "tick called {ticks} times");
    }

    #[test]
    fn device_appearing_while_waiting_is_found() {
        let imgs = tempfile::tempdir().unwrap();
        let Some(ext4) = mkfs_image(
            imgs.path(),
            "e.img",
            4 << 20,
            &["mkfs.ext4", "-q", "-F", "-L", "late"],
        ) else {
            return;
        };
        let fake = Fake::new();
        let mut r = Resolver::new(fake.root(), false);
        let spec: DeviceSpec = "LABEL=late".parse().unwrap();
        let mut added = false;
        let node = r
            .wait(&spec, None, Duration::from_secs(5), &mut |_| {
                if !added {
                    // Like coldplug loading a driver: the disk shows up.
                    fake.add("vdq", None, (252, 32), "", Some(&ext4));
                    added = true;
                }
            })
            .unwrap();
        assert_eq!(node, fake.root().join("dev/vdq"));
    }
}
