//! `/proc/self/mountinfo` parser (proc(5)): `&str` → mounts.
//!
//! Line format: `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! (id, parent id, major:minor, root of the mount within its filesystem,
//! mount point, per-mount options, optional fields ending at `-`, fstype,
//! source, super options).
//!
//! Read as libmount reads it (`mnt_parse_mountinfo_line()` in util-linux
//! libmount/src/tab_parse.c): the optional fields end at the first ` - `
//! after the per-mount options (a mount point named `-` is not the
//! separator), the source may be empty, a `\040(deleted)` suffix of the
//! mount point is dropped, and a line that cannot be parsed is skipped.

use anyhow::{bail, Context, Result};

use crate::fstab::unescape;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount id.
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// Device major:minor of the filesystem (`st_dev`).
    pub major: u32,
    /// Device minor.
    pub minor: u32,
    /// The directory of the filesystem mounted here (`/root` for a btrfs
    /// subvolume `root`, `/` for a whole filesystem).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Per-mount options.
    pub options: String,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source (`/dev/vda2`, `server:/export`, `tmpfs`, …).
    pub source: String,
    /// Per-superblock options (`subvolid=256,subvol=/root` on btrfs).
    pub super_options: String,
}

/// Parsed mountinfo: the mounts, and the lines skipped (with the reason).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    /// The mounts, in file order.
    pub mounts: Vec<MountInfo>,
    /// `mountinfo line N: "…": why`, one per line skipped.
    pub skipped: Vec<String>,
}

/// Parses mountinfo text; never fails (see the module docs).
pub fn parse(text: &str) -> MountTable {
    let mut out = MountTable::default();
    for (idx, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match parse_line(raw) {
            Ok(m) => out.mounts.push(m),
            Err(e) => out.skipped.push(format!(
                "mountinfo line {}: {raw:?}: {e:#}; skipped",
                idx + 1
            )),
        }
    }
    out
}

fn parse_line(raw: &str) -> Result<MountInfo> {
    let fields: Vec<&str> = raw.split(' ').collect();
    if fields.len() < 6 {
        bail!("too few fields");
    }
    let sep = fields[6..]
        .iter()
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .context("no \" - \" separator")?;
    if fields.len() < sep + 3 {
        bail!("too few fields");
    }
    let num = |s: &str, what: &str| -> Result<u32> {
        s.parse::<u32>()
            .with_context(|| format!("{what} {s:?} is not a number"))
    };
    let (major, minor) = fields[2]
        .split_once(':')
        .context("major:minor field has no ':'")?;
    Ok(MountInfo {
        id: num(fields[0], "mount id")?,
        parent: num(fields[1], "parent id")?,
        major: num(major, "major")?,
        minor: num(minor, "minor")?,
        root: unescape(fields[3]),
        mount_point: {
            let m = unescape(fields[4]);
            m.strip_suffix(" (deleted)")
                .map(str::to_string)
                .unwrap_or(m)
        },
        options: fields[5].to_string(),
        fstype: fields[sep + 1].to_string(),
        source: unescape(fields[sep + 2]),
        super_options: fields.get(sep + 3).unwrap_or(&"").to_string(),
    })
}

/// The mount visible at `mount_point` (the last one mounted there).
pub fn find<'a>(mounts: &'a [MountInfo], mount_point: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.mount_point == mount_point)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA: &str = include_str!("../tests/fixtures/mountinfo/fedora.mountinfo");

    #[test]
    fn parses_fedora_mountinfo() {
        let t = parse(FEDORA);
        assert_eq!(t.skipped, Vec::<String>::new());
        let m = t.mounts;
        let root = find(&m, "/").unwrap();
        assert_eq!(root.fstype, "btrfs");
        assert_eq!(root.root, "/root");
        assert_eq!(root.source, "/dev/vda3");
        assert!(root.super_options.contains("subvol=/root"));
        let boot = find(&m, "/boot").unwrap();
        assert_eq!(
            (boot.fstype.as_str(), boot.source.as_str()),
            ("ext4", "/dev/vda2")
        );
        assert_eq!((boot.major, boot.minor), (252, 2));
        let esp = find(&m, "/boot/efi").unwrap();
        assert_eq!(esp.fstype, "vfat");
        assert!(find(&m, "/nope").is_none());
        let spaced = find(&m, "/mnt/my disk").unwrap();
        assert_eq!(spaced.fstype, "tmpfs");
    }

    #[test]
    fn garbled_lines_are_skipped_and_named() {
        let t = parse("1 2 3:4 / / rw - ext4 /dev/x rw\nbad line\n");
        assert_eq!(t.mounts.len(), 1);
        assert_eq!(t.skipped.len(), 1);
        assert!(
            t.skipped[0].starts_with("mountinfo line 2: \"bad line\""),
            "{t:?}"
        );
    }

    #[test]
    fn odd_but_valid_lines() {
        // a mount point named "-", an empty source, a deleted mount point
        let t = parse(
            "30 1 0:5 / /- rw shared:1 - tmpfs tmpfs rw\n\
             31 1 0:6 / /mnt/a rw - tmpfs  rw\n\
             32 1 8:1 / /mnt/gone\\040(deleted) rw - ext4 /dev/sda1 rw\n",
        );
        assert_eq!(t.skipped, Vec::<String>::new());
        let dash = find(&t.mounts, "/-").unwrap();
        assert_eq!(
            (dash.fstype.as_str(), dash.source.as_str()),
            ("tmpfs", "tmpfs")
        );
        let a = find(&t.mounts, "/mnt/a").unwrap();
        assert_eq!((a.source.as_str(), a.super_options.as_str()), ("", "rw"));
        assert!(find(&t.mounts, "/mnt/gone").is_some());
    }
}
