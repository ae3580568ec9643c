//! Whether the boot-time program will find the image where the installer
//! puts it: `[boot] bootfs` must name the filesystem mounted on `/boot`,
//! `[boot] options` must make its mount show what `/boot` shows, and the
//! image path must lie on that filesystem.
//!
//! Live, that is checked against the running system: the spec is resolved
//! by the boot-time program's own resolver (`/dev/disk/by-*` links, then
//! every block device's superblock) and compared with the device mounted on
//! `/boot` (`/proc/self/mountinfo`). Offline, against the tree's fstab: the
//! spec must equal the fstab's `/boot` spec after normalization (an offline
//! install sees no devices, so `LABEL=` and `UUID=` naming one filesystem
//! cannot be matched), and the options what the fstab line implies.
//!
//! [`gather`] does the I/O; [`verify`] decides from its [`Facts`] alone.

use std::path::Path;

use anyhow::{bail, Context, Result};
use initoverlayfs::config::Config;
use initoverlayfs::resolve::Resolver;
use initoverlayfs::spec::DeviceSpec;

use crate::fstab::{self, FstabEntry};
use crate::mountinfo::{self, MountInfo};
use crate::target::Target;

/// Mount options that change which part of the filesystem a mount shows:
/// they are passed to the boot-time mount (`[boot] options`). btrfs mounts
/// its default subvolume unless `subvol=` (a path from the top level) or
/// `subvolid=` names another one (`fs/btrfs/super.c`).
const CARRIED: &[(&str, &str)] = &[("btrfs", "subvol"), ("btrfs", "subvolid")];

/// Mount options that name other devices the filesystem needs (an xfs
/// external log or realtime device, an ext3/4 external journal, another
/// member of a multi-device btrfs): the boot-time program finds and mounts
/// only the device its spec names, and the paths or device numbers of the
/// others need not hold in the mini initramfs (no udev in pid1 mode), so an
/// install is refused rather than written to fail at boot.
const REFUSED: &[(&str, &str)] = &[
    ("btrfs", "device"),
    ("xfs", "logdev"),
    ("xfs", "rtdev"),
    ("ext3", "journal_path"),
    ("ext3", "journal_dev"),
    ("ext4", "journal_path"),
    ("ext4", "journal_dev"),
];

// Every other option is left out, because it does not change what a lookup
// of the image finds: per-mount flags (`ro`, `noexec`, `nodev`, `relatime`;
// a read-only /boot stays readable), options only mount(8) and systemd read
// (`defaults`, `noauto`, `nofail`, `_netdev`, `x-*`, `user`), and filesystem
// tuning (`compress=`, `discard`, `space_cache`, `data=`, `errors=`, `commit=`,
// `inode64`, SELinux `context=`). vfat's `codepage=`, `iocharset=` and
// `shortname=` change only how non-ASCII and 8.3 names read; the image has a
// long ASCII name and vfat lookups ignore case.

/// `key` of a `key=value` option, or the whole flag.
fn key_of(option: &str) -> &str {
    option.split_once('=').map_or(option, |(k, _)| k)
}

fn listed(table: &[(&str, &str)], fstype: &str, option: &str) -> bool {
    table
        .iter()
        .any(|(t, k)| *t == fstype && *k == key_of(option))
}

/// The `[boot] options` that make a mount of `fstype` show what a mount
/// with `options` (fstab's fourth field, split at commas) shows: the
/// [`CARRIED`] ones, comma-joined in their order; `None` when there are none.
pub fn carried(fstype: &str, options: &[String]) -> Option<String> {
    let v: Vec<&str> = options
        .iter()
        .filter(|o| listed(CARRIED, fstype, o))
        .map(String::as_str)
        .collect();
    (!v.is_empty()).then(|| v.join(","))
}

/// The options a live mount was made with that matter here: mountinfo's
/// per-superblock options, unescaped; for btrfs without `subvolid=`, since
/// the subvolume path is what fstab names and what survives the subvolume
/// being recreated (from a snapshot, by a rollback tool) under a new id.
pub fn live_options(m: &MountInfo) -> Vec<String> {
    m.super_options
        .split(',')
        .filter(|o| !o.is_empty())
        .filter(|o| !(m.fstype == "btrfs" && key_of(o) == "subvolid"))
        .map(fstab::unescape)
        .collect()
}

/// Errors: a [`REFUSED`] option among `options` of `fstype`, or a carried
/// value holding a comma (mount data has no way to quote one). `origin` says
/// where the options come from, for the message.
fn refuse_unsupported(fstype: &str, options: &[String], origin: &str) -> Result<()> {
    if let Some(o) = options.iter().find(|o| listed(REFUSED, fstype, o)) {
        bail!(
            "{origin} mounts /boot with {o:?}: the {fstype} filesystem needs another device, \
             and the boot-time program mounts only the one [boot] bootfs names; \
             initoverlayfs cannot be used with this /boot"
        );
    }
    if let Some(o) = options
        .iter()
        .find(|o| listed(CARRIED, fstype, o) && o.contains(','))
    {
        bail!("{origin}: option {o:?} holds a comma, which mount data cannot carry; rename the subvolume");
    }
    Ok(())
}

/// A block device as the checks compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its node (`/dev/vda2`).
    pub node: String,
    /// `st_rdev` as (major, minor), when the node could be stat'ed.
    pub rdev: Option<(u32, u32)>,
    /// The filesystem UUID from its superblock, when readable (root only).
    pub uuid: Option<String>,
}

/// The live system's side of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// `/proc/self/mountinfo`.
    pub mounts: Vec<MountInfo>,
    /// The fstab line mounting `/boot`, if any (its options may name
    /// devices that mountinfo does not show, such as btrfs `device=`).
    pub fstab_boot: Option<FstabEntry>,
    /// The device the boot-time resolver finds for the spec now (None:
    /// none, or the spec does not parse).
    pub resolved: Option<Device>,
    /// The device mountinfo says is mounted on `/boot` (None: nothing is, or
    /// its source is not a `/dev` node).
    pub mounted: Option<Device>,
}

/// What [`verify`] decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// The running system.
    Live(Box<Live>),
    /// An offline tree: its fstab entries.
    Offline(Vec<FstabEntry>),
}

/// The spec of `config`, parsed as the boot-time program parses it.
///
/// Errors: no `bootfs`, or one that does not parse (the message says so and
/// where it is set).
pub fn spec_of(config: &Config) -> Result<DeviceSpec> {
    let text = config.boot.bootfs.as_deref().with_context(|| {
        format!(
            "[boot] bootfs is not set in {}: the boot-time program would not know \
             which filesystem holds the image",
            crate::conf::path()
        )
    })?;
    text.parse::<DeviceSpec>().with_context(|| {
        format!(
            "[boot] bootfs = {text:?} in {} cannot be resolved at boot",
            crate::conf::path()
        )
    })
}

/// Gathers the [`Facts`] for `config` on `target`: live, reads mountinfo
/// and fstab and resolves the spec with the boot-time resolver (udev links,
/// then sysfs and superblocks; reading superblocks needs root, without it
/// only the links count); offline, reads the tree's fstab.
///
/// Errors: mountinfo or fstab unreadable or garbled.
pub fn gather(target: &Target, config: &Config, boot_mount: &str) -> Result<Facts> {
    let fstab_text = target.read_opt("/etc/fstab")?.unwrap_or_default();
    let entries = fstab::parse(&fstab_text).entries;
    if !target.live {
        return Ok(Facts::Offline(entries));
    }
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .context("cannot read /proc/self/mountinfo")?;
    let mounts = mountinfo::parse(&text).mounts;
    let mounted = mountinfo::find(&mounts, boot_mount)
        .filter(|m| m.source.starts_with("/dev/"))
        .map(|m| device(Path::new(&m.source)));
    let resolved = match spec_of(config) {
        Ok(spec) => Resolver::new(Path::new("/"), true)
            .find(&spec, config.boot.bootfs_hint.as_deref())
            .with_context(|| format!("cannot look up {spec}"))?
            .map(|node| device(&node)),
        Err(_) => None,
    };
    Ok(Facts::Live(Box::new(Live {
        fstab_boot: fstab::find(&entries, boot_mount).cloned(),
        mounts,
        resolved,
        mounted,
    })))
}

/// Stats and probes a device node (failures leave the fields unknown).
fn device(node: &Path) -> Device {
    let rdev = rustix::fs::stat(node)
        .ok()
        .filter(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::BlockDevice
        })
        .map(|st| (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev)));
    let uuid = initoverlayfs::superblock::probe(node)
        .ok()
        .flatten()
        .and_then(|i| i.uuid);
    Device {
        node: node.display().to_string(),
        rdev,
        uuid,
    }
}

/// Checks that the boot-time program, reading `config` for kernel `kver`,
/// mounts the filesystem the installer sees at `boot_mount` (`/boot`) with
/// the same view, and finds the image path on it. Returns what was checked,
/// in words.
///
/// Errors: the first mismatch, naming the spec, the device and what to do.
pub fn verify(config: &Config, kver: &str, boot_mount: &str, facts: &Facts) -> Result<String> {
    let spec = spec_of(config)?;
    let image = format!(
        "{}/{}",
        boot_mount.trim_end_matches('/'),
        config.image.path_for(kver)
    );
    match facts {
        Facts::Live(live) => verify_live(config, &spec, boot_mount, &image, live),
        Facts::Offline(fstab) => verify_offline(config, &spec, boot_mount, &image, fstab),
    }
}

const FIX: &str =
    "fix or remove the key in /etc/initoverlayfs.conf (removed, the installer fills it in)";

fn verify_live(
    config: &Config,
    spec: &DeviceSpec,
    boot_mount: &str,
    image: &str,
    live: &Live,
) -> Result<String> {
    let Some(m) = mountinfo::find(&live.mounts, boot_mount) else {
        bail!("nothing is mounted on {boot_mount}: the image would land on the root filesystem");
    };
    let Some(mounted) = &live.mounted else {
        bail!(
            "{boot_mount} is {} from {:?}, not a block device the boot-time program can mount",
            m.fstype,
            m.source
        );
    };
    let Some(found) = &live.resolved else {
        bail!(
            "[boot] bootfs = {spec} names no block device on this system (looked up as the \
             boot-time program does: {}, then the superblock of every block device), but \
             {boot_mount} is mounted from {}; {FIX}",
            spec.udev_links().join(", "),
            mounted.node
        );
    };
    let same_node = match (found.rdev, mounted.rdev) {
        (Some(a), Some(b)) => a == b,
        _ => found.node == mounted.node,
    };
    // A multi-device btrfs is mounted from any of its devices.
    let same_btrfs = m.fstype == "btrfs" && found.uuid.is_some() && found.uuid == mounted.uuid;
    if !same_node && !same_btrfs {
        bail!(
            "[boot] bootfs = {spec} is {} at boot, but {boot_mount} is mounted from {}: the \
             boot-time program would look for the image on the wrong filesystem; {FIX}",
            found.node,
            mounted.node
        );
    }
    let origin = format!("mountinfo ({boot_mount})");
    refuse_unsupported(&m.fstype, &live_options(m), &origin)?;
    if let Some(e) = &live.fstab_boot {
        refuse_unsupported(&e.vfstype, &e.options, &format!("fstab line {}", e.line))?;
    }
    check_fstype(config, &m.fstype, &origin)?;
    check_view(config, m)?;
    // The image must be on the /boot mount, not on one mounted below it.
    let holder = live
        .mounts
        .iter()
        .filter(|x| under(image, &x.mount_point))
        // The last of equally long ones: the mount on top.
        .max_by_key(|x| x.mount_point.len());
    if let Some(h) = holder.filter(|h| h.id != m.id) {
        bail!(
            "the image {image} is on {} ({}), not on the boot filesystem: set [image] path \
             to a path outside {}",
            h.mount_point,
            h.source,
            h.mount_point
        );
    }
    Ok(format!(
        "{spec} is {}, mounted on {boot_mount}{}",
        found.node,
        config
            .boot
            .options
            .as_deref()
            .map(|o| format!(" with {o}"))
            .unwrap_or_default()
    ))
}

/// Whether the absolute path `path` lies at or under the mount point `mp`.
fn under(path: &str, mp: &str) -> bool {
    let mp = mp.trim_end_matches('/');
    mp.is_empty() || path == mp || path.strip_prefix(mp).is_some_and(|r| r.starts_with('/'))
}

/// `bootfstype` must be the type the filesystem is mounted as (the ext4
/// driver mounts ext2 and ext3 too).
fn check_fstype(config: &Config, actual: &str, origin: &str) -> Result<()> {
    let Some(want) = config.boot.bootfstype.as_deref() else {
        return Ok(());
    };
    if want == actual || (want == "ext4" && actual.starts_with("ext")) {
        return Ok(());
    }
    bail!("[boot] bootfstype = {want:?}, but {origin} says /boot is {actual}: the mount at boot would fail; {FIX}")
}

/// The subvolume path without leading or trailing slashes (`/@boot/` → `@boot`).
fn norm_subvol(p: &str) -> &str {
    p.trim_matches('/')
}

/// The value of `key=` in a comma-separated option string.
fn option<'a>(options: Option<&'a str>, key: &str) -> Option<&'a str> {
    options?
        .split(',')
        .rev()
        .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
}

/// The boot-time mount must show the directory `/boot` shows (mountinfo's
/// root field): on btrfs the subvolume named by `[boot] options`, elsewhere
/// the filesystem's root.
fn check_view(config: &Config, m: &MountInfo) -> Result<()> {
    let opts = config.boot.options.as_deref();
    let (subvol, subvolid) = (option(opts, "subvol"), option(opts, "subvolid"));
    if m.fstype != "btrfs" {
        if m.root != "/" {
            bail!(
                "/boot shows the directory {} of {} (a bind mount): the boot-time program \
                 mounts the whole filesystem, where the image would be at another path; mount \
                 the filesystem itself on /boot",
                m.root,
                m.source
            );
        }
        if subvol.is_some() || subvolid.is_some() {
            bail!(
                "[boot] options = {:?} names a btrfs subvolume, but /boot is {}: the mount at \
                 boot would fail; {FIX}",
                opts.unwrap_or_default(),
                m.fstype
            );
        }
        return Ok(());
    }
    let sup: Vec<&str> = m.super_options.split(',').collect();
    let find = |k: &str| {
        sup.iter()
            .find_map(|o| o.strip_prefix(k)?.strip_prefix('='))
    };
    let mounted_path = find("subvol").map(fstab::unescape);
    let mounted_id = find("subvolid");
    if let Some(p) = &mounted_path {
        if norm_subvol(p) != norm_subvol(&m.root) {
            bail!(
                "/boot shows the directory {} inside the btrfs subvolume {p} (a bind mount): \
                 the boot-time program can mount a subvolume, not a directory in one; make {} \
                 a subvolume, or mount its subvolume on /boot",
                m.root,
                m.root
            );
        }
    }
    let want = mounted_path.clone().unwrap_or_else(|| m.root.clone());
    let hint = format!("set [boot] options = \"subvol=/{}\"", norm_subvol(&want));
    match (subvol, subvolid) {
        (None, None) => bail!(
            "/boot is the btrfs subvolume /{}, but [boot] options names none: the boot-time \
             mount would show the default subvolume; {hint}",
            norm_subvol(&want)
        ),
        (Some(s), _) if norm_subvol(s) != norm_subvol(&want) => bail!(
            "[boot] options = {:?} mounts subvolume /{} at boot, but /boot is subvolume /{}; {hint}",
            opts.unwrap_or_default(),
            norm_subvol(s),
            norm_subvol(&want)
        ),
        (_, Some(id)) if mounted_id.is_some_and(|m| m != id) => bail!(
            "[boot] options = {:?} mounts subvolume id {id} at boot, but /boot is id {}; {hint}",
            opts.unwrap_or_default(),
            mounted_id.unwrap_or_default()
        ),
        _ => Ok(()),
    }
}

fn verify_offline(
    config: &Config,
    spec: &DeviceSpec,
    boot_mount: &str,
    image: &str,
    entries: &[FstabEntry],
) -> Result<String> {
    let Some(e) = fstab::find(entries, boot_mount) else {
        bail!("the tree's /etc/fstab has no {boot_mount} line: cannot tell which filesystem the boot-time program should mount");
    };
    let theirs: DeviceSpec = e.spec.parse().with_context(|| {
        format!(
            "/etc/fstab line {}: the {boot_mount} spec cannot be resolved at boot",
            e.line
        )
    })?;
    match spec.names_same(&theirs) {
        Some(true) => {}
        Some(false) => bail!(
            "[boot] bootfs = {spec} names another device than /etc/fstab line {} ({}) mounts \
             on {boot_mount}; {FIX}",
            e.line,
            e.spec
        ),
        // Without the device, `LABEL=` and `UUID=` cannot be matched.
        None => bail!(
            "[boot] bootfs = {spec} and /etc/fstab line {} ({}) may or may not name the same \
             filesystem: an offline install cannot look at the device; write the fstab's spec \
             {theirs} in /etc/initoverlayfs.conf, or remove the key",
            e.line,
            e.spec
        ),
    }
    let origin = format!("/etc/fstab line {}", e.line);
    refuse_unsupported(&e.vfstype, &e.options, &origin)?;
    if e.vfstype != "auto" && !e.vfstype.contains(',') {
        check_fstype(config, &e.vfstype, &origin)?;
    }
    let norm = |o: Option<&str>| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = o
            .unwrap_or_default()
            .split(',')
            .filter(|x| listed(CARRIED, &e.vfstype, x))
            .map(|x| {
                let (k, v) = x.split_once('=').unwrap_or((x, ""));
                let v = if k == "subvol" { norm_subvol(v) } else { v };
                (k.to_string(), v.to_string())
            })
            .collect();
        v.sort();
        v
    };
    let want = carried(&e.vfstype, &e.options);
    if norm(config.boot.options.as_deref()) != norm(want.as_deref()) {
        bail!(
            "[boot] options = {:?}, but {origin} mounts {boot_mount} with {:?}: the boot-time \
             mount would show another part of the filesystem; {FIX}",
            config.boot.options.as_deref().unwrap_or_default(),
            want.as_deref().unwrap_or_default()
        );
    }
    // The image must be on the /boot line's filesystem, not on one mounted below it.
    let holder = entries
        .iter()
        .filter(|x| !x.is_swap_or_bind() && under(image, &x.file))
        .max_by_key(|x| x.file.trim_end_matches('/').len());
    if let Some(other) = holder.filter(|h| h.line != e.line) {
        bail!(
            "the image {image} is under {} (/etc/fstab line {}), not on the boot filesystem: \
             set [image] path to a path outside it",
            other.file,
            other.line
        );
    }
    Ok(format!(
        "{spec} as in /etc/fstab line {}{}",
        e.line,
        want.map(|o| format!(", with {o}")).unwrap_or_default()
    ))
}

/// Checks, right before the entry is switched, that the config file the
/// mini initramfs was built with resolves as at boot and that the image is
/// in place: a regular file reached without symlinks (the boot-time program
/// resolves paths inside the boot filesystem, so a link could lead
/// elsewhere there).
///
/// Errors: as [`verify`]; the config unreadable; the image missing.
pub fn verify_written(target: &Target, kver: &str, boot_mount: &str) -> Result<String> {
    let conf = crate::conf::path();
    let text = target
        .read_opt(&conf)?
        .with_context(|| format!("{conf} is missing"))?;
    let config = Config::from_toml_str(&text).with_context(|| format!("invalid {conf}"))?;
    let facts = gather(target, &config, boot_mount)?;
    let what = verify(&config, kver, boot_mount, &facts)?;
    let rel = config.image.path_for(kver);
    let image = format!("{}/{rel}", boot_mount.trim_end_matches('/'));
    let host = target.path(&image)?;
    let md = std::fs::symlink_metadata(&host)
        .with_context(|| format!("the image {image} is not there"))?;
    if !md.is_file() {
        bail!("the image {image} is not a regular file");
    }
    let boot = target.path(boot_mount)?;
    let real = host
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", host.display()))?;
    let expected = boot
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", boot.display()))?
        .join(&rel);
    if real != expected {
        bail!(
            "the image path {image} goes through a symlink (to {}): the boot-time program \
             resolves it inside the boot filesystem, where it may lead elsewhere; use a plain \
             [image] path",
            target.inner(&real)
        );
    }
    Ok(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KVER: &str = "6.8.5-301.fc40.x86_64";
    const BTRFS_BOOT: &str =
        include_str!("../tests/fixtures/mountinfo/btrfs-boot-subvol.mountinfo");
    const FEDORA: &str = include_str!("../tests/fixtures/mountinfo/fedora.mountinfo");

    fn config(bootfs: &str, fstype: Option<&str>, options: Option<&str>) -> Config {
        let mut c = Config::default();
        c.boot.bootfs = Some(bootfs.into());
        c.boot.bootfstype = fstype.map(str::to_string);
        c.boot.options = options.map(str::to_string);
        c
    }

    fn dev(node: &str, rdev: (u32, u32), uuid: &str) -> Device {
        Device {
            node: node.into(),
            rdev: Some(rdev),
            uuid: Some(uuid.into()),
        }
    }

    /// Live facts from a mountinfo text, /boot mounted from `mounted`, the
    /// spec resolving to `resolved`.
    fn live(mountinfo: &str, mounted: Option<Device>, resolved: Option<Device>) -> Facts {
        Facts::Live(Box::new(Live {
            mounts: mountinfo::parse(mountinfo).mounts,
            fstab_boot: None,
            resolved,
            mounted,
        }))
    }

    fn vda2() -> Device {
        dev(
            "/dev/vda2",
            (252, 2),
            "b0b0b0b0-0000-4000-8000-000000000002",
        )
    }

    fn live_err(c: &Config, f: &Facts) -> String {
        format!("{:#}", verify(c, KVER, "/boot", f).unwrap_err())
    }

    #[test]
    fn live_btrfs_boot_needs_its_subvolume() {
        let f = live(BTRFS_BOOT, Some(vda2()), Some(vda2()));
        let spec = "UUID=b0b0b0b0-0000-4000-8000-000000000002";
        for ok in [
            "subvol=/@boot",
            "subvol=@boot",
            "subvolid=256",
            "subvol=@boot,subvolid=256,compress=zstd",
        ] {
            let got = verify(&config(spec, Some("btrfs"), Some(ok)), KVER, "/boot", &f).unwrap();
            assert!(got.contains("/dev/vda2") && got.contains(ok), "{ok}: {got}");
        }
        // Without subvol= the boot-time mount shows the default subvolume.
        let err = live_err(&config(spec, Some("btrfs"), None), &f);
        assert!(err.contains("default subvolume"), "{err}");
        assert!(
            err.contains("options = \"subvol=/@boot\""),
            "says what to set: {err}"
        );
        let err = live_err(&config(spec, None, Some("subvol=/@other")), &f);
        assert!(err.contains("/@other") && err.contains("/@boot"), "{err}");
        let err = live_err(&config(spec, None, Some("subvolid=257")), &f);
        assert!(err.contains("id 257") && err.contains("id 256"), "{err}");
        // A type the filesystem is not mounted as.
        let err = live_err(&config(spec, Some("ext4"), Some("subvol=@boot")), &f);
        assert!(
            err.contains("bootfstype = \"ext4\"") && err.contains("btrfs"),
            "{err}"
        );
    }

    #[test]
    fn live_spec_must_name_the_device_on_boot() {
        let spec = "UUID=b0b0b0b0-0000-4000-8000-000000000002";
        let ok = config(spec, Some("btrfs"), Some("subvol=/@boot"));
        // Nothing found.
        let err = live_err(&ok, &live(BTRFS_BOOT, Some(vda2()), None));
        assert!(
            err.contains(spec)
                && err.contains("names no block device")
                && err.contains("/dev/vda2"),
            "{err}"
        );
        assert!(
            err.contains("/dev/disk/by-uuid/b0b0b0b0"),
            "says where it looked: {err}"
        );
        // Another device: named, with the one on /boot.
        let other = dev(
            "/dev/vdb1",
            (252, 17),
            "c0c0c0c0-0000-4000-8000-000000000001",
        );
        let err = live_err(&ok, &live(BTRFS_BOOT, Some(vda2()), Some(other)));
        assert!(
            err.contains("/dev/vdb1") && err.contains("/dev/vda2"),
            "{err}"
        );
        assert!(
            err.contains("/etc/initoverlayfs.conf"),
            "says what to do: {err}"
        );
        // Another member of the same multi-device btrfs is the same filesystem.
        let member = dev(
            "/dev/vdc",
            (252, 32),
            "b0b0b0b0-0000-4000-8000-000000000002",
        );
        verify(
            &ok,
            KVER,
            "/boot",
            &live(BTRFS_BOOT, Some(vda2()), Some(member)),
        )
        .unwrap();
        // The quoted spec parses to the same device.
        let quoted = config(
            "UUID='b0b0b0b0-0000-4000-8000-000000000002'",
            None,
            Some("subvol=@boot"),
        );
        verify(
            &quoted,
            KVER,
            "/boot",
            &live(BTRFS_BOOT, Some(vda2()), Some(vda2())),
        )
        .unwrap();
        // A spec the boot-time program cannot parse.
        let err = live_err(
            &config("ID=x", None, None),
            &live(BTRFS_BOOT, Some(vda2()), None),
        );
        assert!(
            err.contains("[boot] bootfs = \"ID=x\"") && err.contains("unknown key"),
            "{err}"
        );
    }

    #[test]
    fn live_view_must_be_what_boot_shows() {
        let ext4 = dev(
            "/dev/vda2",
            (252, 2),
            "e4e4e4e4-0000-4000-8000-000000000002",
        );
        let c = config(
            "UUID=e4e4e4e4-0000-4000-8000-000000000002",
            Some("ext4"),
            None,
        );
        let ok = verify(
            &c,
            KVER,
            "/boot",
            &live(FEDORA, Some(ext4.clone()), Some(ext4.clone())),
        );
        assert!(ok.unwrap().contains("/dev/vda2"));
        // subvol= on an ext4 /boot: the mount at boot would fail.
        let bad = config(
            "UUID=e4e4e4e4-0000-4000-8000-000000000002",
            None,
            Some("subvol=@boot"),
        );
        let err = live_err(&bad, &live(FEDORA, Some(ext4.clone()), Some(ext4.clone())));
        assert!(
            err.contains("names a btrfs subvolume") && err.contains("ext4"),
            "{err}"
        );
        // /boot a bind mount of a directory: boot would mount the whole filesystem.
        let bind = "22 1 252:3 / / rw - xfs /dev/vda3 rw\n60 22 252:2 /bootdir /boot rw - ext4 /dev/vda2 rw\n";
        let err = live_err(&c, &live(bind, Some(ext4.clone()), Some(ext4.clone())));
        assert!(
            err.contains("/bootdir") && err.contains("bind mount"),
            "{err}"
        );
        let bind = "22 1 252:3 / / rw - xfs /dev/vda3 rw\n\
                    60 22 0:31 /@boot/sub /boot rw - btrfs /dev/vda2 rw,subvolid=256,subvol=/@boot\n";
        let c = config(
            "UUID=e4e4e4e4-0000-4000-8000-000000000002",
            None,
            Some("subvol=/@boot"),
        );
        let err = live_err(&c, &live(bind, Some(ext4.clone()), Some(ext4.clone())));
        assert!(
            err.contains("/@boot/sub") && err.contains("not a directory"),
            "{err}"
        );
        // Nothing, or no block device, on /boot.
        let err = live_err(
            &c,
            &live("22 1 252:3 / / rw - xfs /dev/vda3 rw\n", None, None),
        );
        assert!(err.contains("nothing is mounted on /boot"), "{err}");
        let tmp = "22 1 252:3 / / rw - xfs /dev/vda3 rw\n60 22 0:40 / /boot rw - tmpfs tmpfs rw\n";
        let err = live_err(&c, &live(tmp, None, None));
        assert!(err.contains("not a block device"), "{err}");
    }

    #[test]
    fn live_image_must_be_on_the_boot_mount() {
        let ext4 = dev("/dev/vda2", (252, 2), "e4");
        let mut c = config("UUID=e4", None, None);
        c.image.path = "/efi/initoverlayfs-{kver}.img".into();
        let err = live_err(&c, &live(FEDORA, Some(ext4.clone()), Some(ext4)));
        assert!(
            err.contains(&format!("/boot/efi/initoverlayfs-{KVER}.img"))
                && err.contains("/dev/vda1"),
            "{err}"
        );
    }

    #[test]
    fn live_refuses_options_naming_other_devices() {
        let xfs = "22 1 252:3 / / rw - xfs /dev/vda3 rw\n\
                   60 22 252:2 / /boot rw - xfs /dev/vda2 rw,attr2,logdev=/dev/vdb1,noquota\n";
        let d = dev("/dev/vda2", (252, 2), "x");
        let err = live_err(
            &config("UUID=x", None, None),
            &live(xfs, Some(d.clone()), Some(d)),
        );
        assert!(
            err.contains("logdev=/dev/vdb1") && err.contains("mountinfo"),
            "{err}"
        );
        let Facts::Live(mut l) = live(BTRFS_BOOT, Some(vda2()), Some(vda2())) else {
            unreachable!()
        };
        l.fstab_boot = fstab::parse("UUID=b /boot btrfs subvol=@boot,device=/dev/vdc 0 0\n")
            .entries
            .pop();
        let err = live_err(
            &config("UUID=b", None, Some("subvol=@boot")),
            &Facts::Live(l),
        );
        assert!(
            err.contains("device=/dev/vdc") && err.contains("fstab line 1"),
            "{err}"
        );
    }

    fn offline(fstab_text: &str) -> Facts {
        Facts::Offline(fstab::parse(fstab_text).entries)
    }

    #[test]
    fn offline_spec_must_be_the_fstab_one() {
        // The field report: single quotes in the fstab, the normalized spec in the config.
        let f = offline(
            "UUID=r / ext4 defaults 1 1\n\
             UUID='aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' /boot ext4 defaults 1 2\n",
        );
        let c = config(
            "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            Some("ext4"),
            None,
        );
        let got = verify(&c, KVER, "/boot", &f).unwrap();
        assert!(got.contains("line 2"), "{got}");
        let err = live_err(
            &config("UUID=ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee", None, None),
            &f,
        );
        assert!(
            err.contains("another device") && err.contains("line 2"),
            "{err}"
        );
        let err = live_err(&config("LABEL=boot", None, None), &f);
        assert!(
            err.contains("offline") && err.contains("UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
            "names the spec to write: {err}"
        );
        let err = live_err(&c, &offline("UUID=r / ext4 defaults 1 1\n"));
        assert!(err.contains("no /boot line"), "{err}");
        let err = live_err(
            &config(
                "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                Some("xfs"),
                None,
            ),
            &f,
        );
        assert!(
            err.contains("bootfstype = \"xfs\"") && err.contains("ext4"),
            "{err}"
        );
    }

    #[test]
    fn offline_options_must_be_what_the_fstab_implies() {
        let f = offline(
            "UUID=r / xfs defaults 0 0\nUUID=b /boot btrfs subvol=@boot,compress=zstd:1 0 0\n",
        );
        for ok in ["subvol=@boot", "subvol=/@boot/", "subvol=@boot,noatime"] {
            verify(
                &config("UUID=b", Some("btrfs"), Some(ok)),
                KVER,
                "/boot",
                &f,
            )
            .unwrap();
        }
        for bad in [None, Some("subvol=@other"), Some("subvolid=256")] {
            let err = live_err(&config("UUID=b", None, bad), &f);
            assert!(err.contains("\"subvol=@boot\""), "{bad:?}: {err}");
        }
        let f = offline("UUID=b /boot btrfs subvolid=257 0 0\n");
        verify(
            &config("UUID=b", None, Some("subvolid=257")),
            KVER,
            "/boot",
            &f,
        )
        .unwrap();
        let f = offline("UUID=b /boot xfs logdev=/dev/sdb1 0 0\n");
        let err = live_err(&config("UUID=b", None, None), &f);
        assert!(
            err.contains("logdev=/dev/sdb1") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn offline_image_must_not_be_under_another_mount() {
        let f = offline("UUID=b /boot/ ext4 defaults 0 0\nUUID=E /boot/efi vfat umask=077 0 2\n");
        let mut c = config("UUID=b", None, None);
        verify(&c, KVER, "/boot", &f).unwrap();
        c.image.path = "/efi/x-{kver}.img".into();
        let err = live_err(&c, &f);
        assert!(err.contains("/boot/efi") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn written_config_and_image_are_checked_in_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("boot/sub")).unwrap();
        std::fs::write(root.join("etc/fstab"), "UUID='b' /boot ext4 defaults 0 2\n").unwrap();
        let target = Target::new(Some(root)).unwrap();
        let write_conf = |path: &str, bootfs: &str| {
            std::fs::write(
                root.join("etc/initoverlayfs.conf"),
                format!("[boot]\nbootfs = \"{bootfs}\"\n[image]\npath = \"{path}\"\n"),
            )
            .unwrap()
        };
        write_conf("/initoverlayfs-{kver}.img", "UUID=b");
        let err = format!("{:#}", verify_written(&target, KVER, "/boot").unwrap_err());
        assert!(err.contains("is not there"), "{err}");
        std::fs::write(root.join(format!("boot/initoverlayfs-{KVER}.img")), b"x").unwrap();
        verify_written(&target, KVER, "/boot").unwrap();
        // Through a symlinked directory: refused.
        std::os::unix::fs::symlink("sub", root.join("boot/link")).unwrap();
        std::fs::write(
            root.join(format!("boot/sub/initoverlayfs-{KVER}.img")),
            b"x",
        )
        .unwrap();
        write_conf("/link/initoverlayfs-{kver}.img", "UUID=b");
        let err = format!("{:#}", verify_written(&target, KVER, "/boot").unwrap_err());
        assert!(
            err.contains("symlink") && err.contains("/boot/sub/"),
            "{err}"
        );
        // The written spec is checked too.
        write_conf("/initoverlayfs-{kver}.img", "UUID=c");
        let err = format!("{:#}", verify_written(&target, KVER, "/boot").unwrap_err());
        assert!(
            err.contains("UUID=c") && err.contains("another device"),
            "{err}"
        );
    }

    fn opts(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn carries_only_what_changes_the_view() {
        assert_eq!(
            carried("btrfs", &opts("subvol=@boot,compress=zstd:1,noatime")).as_deref(),
            Some("subvol=@boot")
        );
        assert_eq!(
            carried("btrfs", &opts("subvolid=257,subvol=/@boot")).as_deref(),
            Some("subvolid=257,subvol=/@boot")
        );
        assert_eq!(carried("btrfs", &opts("defaults")), None);
        assert_eq!(carried("ext4", &opts("subvol=x,ro,data=journal")), None);
        assert_eq!(carried("vfat", &opts("umask=0077,shortname=winnt")), None);
    }

    #[test]
    fn live_options_drop_the_subvolume_id() {
        let m = mountinfo::parse(
            "60 22 0:31 /@boot /boot rw,relatime shared:31 - btrfs /dev/vda2 \
             rw,seclabel,space_cache=v2,subvolid=256,subvol=/@boot\n",
        )
        .mounts;
        let o = live_options(&m[0]);
        assert_eq!(carried("btrfs", &o).as_deref(), Some("subvol=/@boot"));
    }

    #[test]
    fn refuses_options_naming_other_devices() {
        for (fstype, o) in [
            ("xfs", "logdev=/dev/sdb1"),
            ("xfs", "rtdev=/dev/sdc"),
            ("btrfs", "device=/dev/sdb,subvol=@boot"),
            ("ext4", "journal_path=/dev/sdb2"),
        ] {
            let err = refuse_unsupported(fstype, &opts(o), "fstab line 3").unwrap_err();
            let err = format!("{err:#}");
            assert!(
                err.contains("fstab line 3") && err.contains("another device"),
                "{err}"
            );
        }
        refuse_unsupported("xfs", &opts("defaults,inode64"), "x").unwrap();
        refuse_unsupported("btrfs", &opts("subvol=@boot"), "x").unwrap();
        let err = refuse_unsupported("btrfs", &["subvol=a,b".to_string()], "x").unwrap_err();
        assert!(format!("{err:#}").contains("comma"), "{err:#}");
    }
}
