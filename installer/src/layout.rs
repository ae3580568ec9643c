//! Partition layout detection and classification: where `/`, `/boot` and the
//! ESP are, whether initoverlayfs supports that layout, and `$BOOT` (where
//! the BLS entries live) the way the Boot Loader Specification and
//! kernel-install find it.

use std::path::Path;

use anyhow::{Context, Result};
use initoverlayfs::spec::DeviceSpec;
use serde::Serialize;

use crate::fstab::{self, FstabEntry};
use crate::mountinfo::{self, MountInfo};
use crate::target::Target;

/// A mounted (or, offline, to-be-mounted) filesystem of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsInfo {
    /// The spec users wrote (fstab: `UUID=…`, `LABEL=…`, a `/dev` path), or
    /// live without an fstab line, the stable `UUID=` of the device.
    pub source: String,
    /// Filesystem type.
    pub fstype: String,
    /// Live only: the device node mounted there (`/dev/vda2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// btrfs subvolume mounted there (`root`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subvol: Option<String>,
    /// The mount options the boot-time program must pass to see what is
    /// mounted here (`subvol=@boot` on btrfs; see [`crate::bootfs::carried`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Live only: the filesystem's device number, mountinfo's `major:minor`.
    /// That is the superblock's `s_dev` (`fs/proc_namespace.c`), one per
    /// filesystem, also on btrfs, where stat() gives every subvolume an
    /// `st_dev` of its own.
    #[serde(skip)]
    pub dev: Option<(u32, u32)>,
    /// Where it is mounted in the target (`/`, `/boot`, `/boot/efi`, `/efi`).
    #[serde(skip)]
    pub mount_point: String,
}

/// What kind of layout the target has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// ESP (`/boot/efi` or `/efi`) + separate `/boot` + `/`: supported.
    ThreePartition,
    /// Separate `/boot` without an ESP (BIOS boot): supported.
    BiosBoot,
    /// `/boot` is itself the ESP (vfat, systemd-boot style): supported.
    EspBoot,
    /// `/boot` is a directory of the root filesystem: refused (the boot
    /// filesystem would be the root filesystem initoverlayfs precedes).
    BootOnRoot,
    /// ostree/bootc deployment: refused (its own initramfs handling).
    Ostree,
    /// Root on NFS/CIFS/…: refused (needs the network in the initramfs).
    NetworkRoot,
}

impl LayoutKind {
    /// The JSON/table spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::ThreePartition => "three-partition",
            LayoutKind::BiosBoot => "bios-boot",
            LayoutKind::EspBoot => "esp-boot",
            LayoutKind::BootOnRoot => "boot-on-root",
            LayoutKind::Ostree => "ostree",
            LayoutKind::NetworkRoot => "network-root",
        }
    }

    /// Whether initoverlayfs can be installed on this layout.
    pub fn supported(self) -> bool {
        matches!(
            self,
            LayoutKind::ThreePartition | LayoutKind::BiosBoot | LayoutKind::EspBoot
        )
    }
}

/// The detected layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// The classification.
    pub kind: LayoutKind,
    /// The separate `/boot` filesystem (None when /boot is on the root).
    pub boot: Option<FsInfo>,
    /// The root filesystem (None when the fstab has no `/` line).
    pub root: Option<FsInfo>,
    /// The EFI system partition, if mounted at `/efi` or `/boot/efi`.
    pub esp: Option<FsInfo>,
    /// Why the layout is refused, or what it is, in words.
    #[serde(skip)]
    pub detail: String,
    /// Lines of the fstab (and, live, of mountinfo) skipped as the system
    /// skips them, in words: `--check` shows them as a warning.
    #[serde(skip)]
    pub skipped: Vec<String>,
}

/// The filesystems found at the mount points that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    /// At `/`.
    pub root: Option<FsInfo>,
    /// At `/boot`.
    pub boot: Option<FsInfo>,
    /// At `/efi` or `/boot/efi`.
    pub esp: Option<FsInfo>,
}

const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
];

fn fs_from_fstab(e: &FstabEntry) -> FsInfo {
    FsInfo {
        source: e.spec.clone(),
        fstype: e.vfstype.clone(),
        device: None,
        subvol: e
            .option("subvol")
            .map(|s| s.trim_start_matches('/').to_string())
            .filter(|s| !s.is_empty()),
        options: crate::bootfs::carried(&e.vfstype, &e.options),
        dev: None,
        mount_point: e.file.clone(),
    }
}

/// The mounts of an offline tree, from its fstab entries.
pub fn mounts_from_fstab(entries: &[FstabEntry]) -> Mounts {
    let get = |p: &str| {
        fstab::find(entries, p).map(|e| {
            let mut f = fs_from_fstab(e);
            f.mount_point = p.to_string();
            f
        })
    };
    Mounts {
        root: get("/"),
        boot: get("/boot"),
        esp: get("/efi").or_else(|| get("/boot/efi")),
    }
}

/// The mounts of the live system, from mountinfo, taking the spec from the
/// fstab line of the same mount point when there is one, else `UUID=` via
/// `uuid_of(device)`, else the device path.
pub fn mounts_from_mountinfo(
    mi: &[MountInfo],
    fstab_entries: &[FstabEntry],
    uuid_of: &dyn Fn(&str) -> Option<String>,
) -> Mounts {
    let get = |p: &str| {
        mountinfo::find(mi, p).map(|m| {
            let spec = fstab::find(fstab_entries, p)
                .map(|e| e.spec.clone())
                .or_else(|| uuid_of(&m.source).map(|u| format!("UUID={u}")))
                .unwrap_or_else(|| m.source.clone());
            let subvol = if m.fstype == "btrfs" {
                Some(m.root.trim_start_matches('/').to_string()).filter(|s| !s.is_empty())
            } else {
                None
            };
            FsInfo {
                source: spec,
                fstype: m.fstype.clone(),
                device: Some(m.source.clone()).filter(|s| s.starts_with("/dev/")),
                subvol,
                options: crate::bootfs::carried(&m.fstype, &crate::bootfs::live_options(m)),
                dev: Some((m.major, m.minor)),
                mount_point: p.to_string(),
            }
        })
    };
    Mounts {
        root: get("/"),
        boot: get("/boot"),
        esp: get("/efi").or_else(|| get("/boot/efi")),
    }
}

/// Classifies `mounts`; `ostree` says whether the tree is an ostree/bootc
/// deployment (`/ostree` or `/sysroot/ostree` exists, or `/run/ostree-booted`).
pub fn classify(mounts: &Mounts, ostree: bool) -> Layout {
    let mk = |kind, detail: String| Layout {
        kind,
        boot: mounts.boot.clone(),
        root: mounts.root.clone(),
        esp: mounts.esp.clone(),
        detail,
        skipped: Vec::new(),
    };
    if ostree {
        return mk(
            LayoutKind::Ostree,
            "ostree/bootc system: its deployments manage the initramfs (refused)".into(),
        );
    }
    if let Some(root) = &mounts.root {
        let spec = &root.source;
        if NETWORK_FS.contains(&root.fstype.as_str())
            || spec.contains(":/")
            || spec.starts_with("//")
        {
            return mk(
                LayoutKind::NetworkRoot,
                format!(
                    "root filesystem {spec} ({}) is on the network: the initramfs must bring the network up (refused)",
                    root.fstype
                ),
            );
        }
    }
    let Some(boot) = &mounts.boot else {
        return mk(
            LayoutKind::BootOnRoot,
            "/boot is on the root filesystem: initoverlayfs needs a separate /boot partition (refused)"
                .into(),
        );
    };
    if let Some(root) = mounts
        .root
        .as_ref()
        .filter(|r| same_filesystem(r, boot) == Some(true))
    {
        let what = match boot.subvol.as_deref().or(boot.options.as_deref()) {
            Some(sv) => format!("/boot is the subvolume {sv} of the root filesystem"),
            None => "/boot is the root filesystem".to_string(),
        };
        return mk(
            LayoutKind::BootOnRoot,
            format!(
                "{what} ({} on /, {} on /boot): initoverlayfs needs a separate /boot filesystem (refused)",
                root.source, boot.source
            ),
        );
    }
    match &mounts.esp {
        Some(esp) => mk(
            LayoutKind::ThreePartition,
            format!(
                "ESP {} at {}, /boot {} ({}), / separate",
                esp.source, esp.mount_point, boot.source, boot.fstype
            ),
        ),
        None if boot.fstype == "vfat" => mk(
            LayoutKind::EspBoot,
            format!("/boot is the ESP {} (vfat)", boot.source),
        ),
        None => mk(
            LayoutKind::BiosBoot,
            format!(
                "/boot {} ({}) without an ESP (BIOS boot)",
                boot.source, boot.fstype
            ),
        ),
    }
}

/// Whether `a` and `b` are one filesystem: live by their device numbers
/// ([`FsInfo::dev`]), offline by their specs
/// ([`DeviceSpec::names_same`]: same UUID, same label, … even when one of
/// them is a `/dev/disk/by-*` path). `None` when that cannot be told: specs
/// of different kinds (`LABEL=` vs `UUID=`, a tag vs a `/dev` path) name the
/// same filesystem or not depending on the device, which an offline install
/// does not see.
pub fn same_filesystem(a: &FsInfo, b: &FsInfo) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.dev, b.dev) {
        return Some(x == y);
    }
    match (
        a.source.parse::<DeviceSpec>(),
        b.source.parse::<DeviceSpec>(),
    ) {
        (Ok(x), Ok(y)) => x.names_same(&y),
        // Not a block device spec (a network share, …): only equal text tells.
        _ => (a.source == b.source).then_some(true),
    }
}

/// Why the layout may be boot-on-root after all, when that cannot be told:
/// `/` and `/boot` both btrfs with specs that [`same_filesystem`] cannot
/// compare (offline). Other filesystem types are not asked about: a second
/// mount of the root ext4/xfs on /boot would show the whole root tree there,
/// which no installer writes, while /boot as a subvolume of the root btrfs
/// is common.
pub fn identity_unknown(layout: &Layout) -> Option<String> {
    let (root, boot) = (layout.root.as_ref()?, layout.boot.as_ref()?);
    if !layout.kind.supported()
        || root.fstype != "btrfs"
        || boot.fstype != "btrfs"
        || same_filesystem(root, boot).is_some()
    {
        return None;
    }
    Some(format!(
        "cannot tell offline whether / ({}) and /boot ({}) are one btrfs filesystem; \
         if they are, /boot is on the root filesystem and initoverlayfs cannot be used",
        root.source, boot.source
    ))
}

/// `$BOOT`: the filesystem whose `loader/entries` holds the BLS entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRoot {
    /// Its mount point in the target (`/boot`, `/efi`, `/boot/efi`).
    pub mount: String,
    /// Path prefix of files in entries (a btrfs subvolume of $BOOT, or "").
    pub prefix: String,
}

impl BootRoot {
    /// The entries directory in the target (`/boot/loader/entries`).
    pub fn entries_dir(&self) -> String {
        format!("{}/loader/entries", self.mount.trim_end_matches('/'))
    }

    /// The target path of a path written in an entry (`/vmlinuz-x` → `/boot/vmlinuz-x`).
    pub fn resolve(&self, entry_path: &str) -> String {
        let p = entry_path
            .strip_prefix(self.prefix.as_str())
            .unwrap_or(entry_path);
        format!(
            "{}/{}",
            self.mount.trim_end_matches('/'),
            p.trim_start_matches('/')
        )
    }

    /// The entry path of a target path under `$BOOT` (inverse of [`BootRoot::resolve`]).
    pub fn entry_path(&self, target_path: &str) -> Option<String> {
        let rel = Path::new(target_path).strip_prefix(&self.mount).ok()?;
        Some(format!("{}/{}", self.prefix, rel.display()))
    }
}

/// Finds `$BOOT`. `KERNEL_INSTALL_BOOT_ROOT` (set by kernel-install for its
/// plugins) wins; then the first of `/boot` (a separate /boot: XBOOTLDR wins
/// over the ESP), `/efi`, `/boot/efi` that has `loader/entries`; then a
/// separate /boot, then the ESP, then `/boot`.
///
/// Errors: a candidate's `loader/entries` cannot be resolved in the target
/// ([`Target::path`]: a symlink loop).
pub fn boot_root(target: &Target, layout: &Layout) -> Result<BootRoot> {
    let prefix_of = |fs: Option<&FsInfo>| {
        fs.and_then(|f| f.subvol.as_ref())
            .map(|s| format!("/{s}"))
            .unwrap_or_default()
    };
    if let Some(env) = std::env::var_os("KERNEL_INSTALL_BOOT_ROOT") {
        let env = env.to_string_lossy().trim_end_matches('/').to_string();
        if !env.is_empty() {
            let fs = [&layout.boot, &layout.esp]
                .into_iter()
                .flatten()
                .find(|f| f.mount_point == env);
            return Ok(BootRoot {
                mount: env,
                prefix: prefix_of(fs),
            });
        }
    }
    let mut candidates: Vec<&FsInfo> = Vec::new();
    if let Some(b) = &layout.boot {
        candidates.push(b);
    }
    if let Some(e) = &layout.esp {
        candidates.push(e);
    }
    for c in &candidates {
        if target
            .path(format!("{}/loader/entries", c.mount_point))?
            .is_dir()
        {
            return Ok(BootRoot {
                mount: c.mount_point.clone(),
                prefix: prefix_of(Some(c)),
            });
        }
    }
    Ok(match candidates.first() {
        Some(c) => BootRoot {
            mount: c.mount_point.clone(),
            prefix: prefix_of(Some(c)),
        },
        None => BootRoot {
            mount: "/boot".into(),
            prefix: String::new(),
        },
    })
}

/// Whether the target is an ostree/bootc system.
///
/// Errors: `/ostree` or `/sysroot/ostree` cannot be resolved in the target
/// ([`Target::path`]: a symlink loop).
pub fn is_ostree(target: &Target) -> Result<bool> {
    Ok(target.path("/ostree")?.exists()
        || target.path("/sysroot/ostree")?.exists()
        || (target.live && Path::new("/run/ostree-booted").exists()))
}

/// Detects and classifies the layout of `target`: live from
/// `/proc/self/mountinfo` (+ fstab for the specs), offline from `DIR/etc/fstab`.
///
/// Lines the system would skip are skipped too and listed in
/// [`Layout::skipped`].
///
/// Errors: the fstab or mountinfo cannot be read (the message names the file).
pub fn detect(target: &Target) -> Result<Layout> {
    let fstab_text = target.read_opt("/etc/fstab")?.unwrap_or_default();
    let fstab = fstab::parse(&fstab_text);
    let entries = fstab.entries;
    let mut skipped: Vec<String> = fstab
        .skipped
        .iter()
        .map(|s| format!("/etc/fstab {s}"))
        .collect();
    let mounts = if target.live {
        // Trigger x-systemd.automount points so mountinfo shows the real
        // filesystems instead of autofs.
        for p in ["/boot", "/efi", "/boot/efi"] {
            let _ = std::fs::read_dir(p).map(|mut d| d.next());
        }
        let text = std::fs::read_to_string("/proc/self/mountinfo")
            .context("cannot read /proc/self/mountinfo")?;
        let mi = mountinfo::parse(&text);
        skipped.extend(mi.skipped);
        mounts_from_mountinfo(&mi.mounts, &entries, &uuid_of_device)
    } else {
        mounts_from_fstab(&entries)
    };
    let mut layout = classify(&mounts, is_ostree(target)?);
    layout.skipped = skipped;
    Ok(layout)
}

/// The filesystem UUID of a device node, from the `/dev/disk/by-uuid` links.
fn uuid_of_device(dev: &str) -> Option<String> {
    let want = std::fs::canonicalize(dev).ok()?;
    std::fs::read_dir("/dev/disk/by-uuid").ok()?.find_map(|e| {
        let e = e.ok()?;
        (std::fs::canonicalize(e.path()).ok()? == want)
            .then(|| e.file_name().to_string_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(fstab: &str) -> Layout {
        classify(&mounts_from_fstab(&fstab::parse(fstab).entries), false)
    }

    #[test]
    fn classifies_fstab_layouts() {
        let l = layout_of(include_str!("../tests/fixtures/fstab/exotic.fstab"));
        assert_eq!(l.kind, LayoutKind::ThreePartition);
        assert_eq!(l.boot.as_ref().unwrap().source, "LABEL=my boot");
        assert_eq!(l.root.as_ref().unwrap().subvol.as_deref(), Some("root"));
        assert_eq!(l.esp.as_ref().unwrap().mount_point, "/boot/efi");

        let l = layout_of("UUID=a / ext4 defaults 1 1\nUUID=b /boot ext4 defaults 1 2\n");
        assert_eq!(l.kind, LayoutKind::BiosBoot);
        let l = layout_of("UUID=a / ext4 defaults 1 1\nUUID=c /efi vfat umask=077 0 2\n");
        assert_eq!(l.kind, LayoutKind::BootOnRoot);
        assert!(!l.kind.supported());
        let l = layout_of("UUID=a / ext4 defaults 1 1\nUUID=c /boot vfat umask=077 0 2\n");
        assert_eq!(l.kind, LayoutKind::EspBoot);
        let l = layout_of("srv:/export/root / nfs4 defaults 0 0\nUUID=b /boot ext4 defaults 1 2\n");
        assert_eq!(l.kind, LayoutKind::NetworkRoot);
        let l = layout_of("UUID=r / btrfs subvol=root 0 0\nUUID=r /boot btrfs subvol=boot 0 0\n");
        assert_eq!(l.kind, LayoutKind::BootOnRoot);
    }

    #[test]
    fn one_btrfs_for_root_and_boot_is_boot_on_root() {
        let x = "UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        for (fstab, why) in [
            // The field reports: root on the default subvolume …
            (
                format!("{x} / btrfs defaults 0 0\n{x} /boot btrfs subvol=/@/boot 0 0\n"),
                "subvolume @/boot",
            ),
            // … and both by id.
            (
                format!("{x} / btrfs subvolid=256 0 0\n{x} /boot btrfs subvolid=258 0 0\n"),
                "subvolume subvolid=258",
            ),
            // One spec quoted and in upper case, the other a udev link.
            (
                "UUID='0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0' / btrfs subvol=root 0 0\n\
                 /dev/disk/by-uuid/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 /boot btrfs subvol=boot 0 0\n"
                    .to_string(),
                "subvolume boot",
            ),
            (
                "LABEL=sys / ext4 defaults 1 1\nLABEL=sys /boot ext4 defaults 1 2\n".to_string(),
                "/boot is the root filesystem",
            ),
        ] {
            let l = layout_of(&fstab);
            assert_eq!(l.kind, LayoutKind::BootOnRoot, "{fstab}");
            assert!(l.detail.contains(why), "{fstab}: {}", l.detail);
            assert!(l.detail.contains("(refused)"), "{}", l.detail);
        }
    }

    #[test]
    fn separate_btrfs_boot_carries_its_subvolume() {
        let l = layout_of(
            "UUID=r / btrfs subvol=root 0 0\nUUID=b /boot btrfs subvol=@boot,compress=zstd:1 0 0\n",
        );
        assert_eq!(l.kind, LayoutKind::BiosBoot);
        let boot = l.boot.as_ref().unwrap();
        assert_eq!(boot.options.as_deref(), Some("subvol=@boot"));
        assert_eq!(identity_unknown(&l), None);
        let l = layout_of("UUID=r / ext4 defaults 1 1\nUUID=b /boot btrfs subvolid=257 0 0\n");
        assert_eq!(l.boot.unwrap().options.as_deref(), Some("subvolid=257"));
    }

    #[test]
    fn offline_specs_of_different_kinds_are_undecided() {
        // LABEL= and UUID= may name one btrfs: only the device can tell.
        let l =
            layout_of("LABEL=fedora / btrfs subvol=root 0 0\nUUID=b /boot btrfs subvol=boot 0 0\n");
        assert_eq!(l.kind, LayoutKind::BiosBoot);
        let doubt = identity_unknown(&l).unwrap();
        assert!(
            doubt.contains("LABEL=fedora") && doubt.contains("UUID=b"),
            "{doubt}"
        );
        // Not asked for other filesystems: nobody mounts the root ext4 twice.
        let l =
            layout_of("/dev/mapper/rhel-root / xfs defaults 0 0\nUUID=b /boot xfs defaults 0 0\n");
        assert_eq!(l.kind, LayoutKind::BiosBoot);
        assert_eq!(identity_unknown(&l), None);
    }

    #[test]
    fn live_identity_is_the_filesystem_device_number() {
        let mi = mountinfo::parse(include_str!(
            "../tests/fixtures/mountinfo/btrfs-shared.mountinfo"
        ))
        .mounts;
        // The fstab names the filesystem once by label, once by UUID.
        let fs = fstab::parse(
            "LABEL=sys / btrfs defaults 0 0\nUUID=0f1e /boot btrfs subvol=/@/boot 0 0\n",
        )
        .entries;
        let m = mounts_from_mountinfo(&mi, &fs, &|_| None);
        assert_eq!(m.root.as_ref().unwrap().dev, Some((0, 30)));
        let l = classify(&m, false);
        assert_eq!(l.kind, LayoutKind::BootOnRoot, "{}", l.detail);
        assert!(l.detail.contains("subvolume @/boot"), "{}", l.detail);

        // /boot a bind mount of the root's /boot directory.
        let mi = mountinfo::parse(
            "22 1 252:3 / / rw - ext4 /dev/vda3 rw\n61 22 252:3 /boot /boot rw - ext4 /dev/vda3 rw\n",
        )
        .mounts;
        let l = classify(&mounts_from_mountinfo(&mi, &[], &|_| None), false);
        assert_eq!(l.kind, LayoutKind::BootOnRoot, "{}", l.detail);

        // A btrfs /boot of its own, on a subvolume: supported, carried.
        let mi = mountinfo::parse(include_str!(
            "../tests/fixtures/mountinfo/btrfs-boot-subvol.mountinfo"
        ))
        .mounts;
        let m = mounts_from_mountinfo(&mi, &[], &|d| (d == "/dev/vda2").then(|| "bbbb".into()));
        let l = classify(&m, false);
        assert_eq!(l.kind, LayoutKind::ThreePartition, "{}", l.detail);
        let boot = l.boot.as_ref().unwrap();
        assert_eq!(boot.source, "UUID=bbbb");
        assert_eq!(boot.options.as_deref(), Some("subvol=/@boot"));
    }

    #[test]
    fn ostree_is_refused() {
        let m = mounts_from_fstab(&fstab::parse("UUID=b /boot ext4 defaults 1 2\n").entries);
        assert_eq!(classify(&m, true).kind, LayoutKind::Ostree);
    }

    #[test]
    fn live_mounts_take_fstab_specs() {
        let mi =
            mountinfo::parse(include_str!("../tests/fixtures/mountinfo/fedora.mountinfo")).mounts;
        let fs = fstab::parse("UUID=bbbb /boot ext4 defaults 1 2\n").entries;
        let m = mounts_from_mountinfo(&mi, &fs, &|d| (d == "/dev/vda3").then(|| "rrrr".into()));
        let boot = m.boot.as_ref().unwrap();
        assert_eq!(boot.source, "UUID=bbbb");
        assert_eq!(boot.device.as_deref(), Some("/dev/vda2"));
        let root = m.root.as_ref().unwrap();
        assert_eq!(root.source, "UUID=rrrr");
        assert_eq!(root.subvol.as_deref(), Some("root"));
        assert_eq!(m.esp.as_ref().unwrap().source, "/dev/vda1");
        assert_eq!(classify(&m, false).kind, LayoutKind::ThreePartition);
    }

    #[test]
    fn boot_root_paths() {
        let b = BootRoot {
            mount: "/boot".into(),
            prefix: String::new(),
        };
        assert_eq!(b.entries_dir(), "/boot/loader/entries");
        assert_eq!(b.resolve("/initramfs-1.img"), "/boot/initramfs-1.img");
        assert_eq!(b.entry_path("/boot/x/y").as_deref(), Some("/x/y"));
        let s = BootRoot {
            mount: "/boot".into(),
            prefix: "/@boot".into(),
        };
        assert_eq!(s.resolve("/@boot/vmlinuz"), "/boot/vmlinuz");
        assert_eq!(
            s.entry_path("/boot/vmlinuz").as_deref(),
            Some("/@boot/vmlinuz")
        );
    }
}
