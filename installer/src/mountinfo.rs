//! `/proc/self/mountinfo` parser (proc(5)): `&str` → mounts.
//!
//! Line format: `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! (id, parent id, major:minor, root of the mount within its filesystem,
//! mount point, per-mount options, optional fields ending at `-`, fstype,
//! source, super options).

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

/// Parses mountinfo text. Errors name the line that is garbled.
pub fn parse(text: &str) -> Result<Vec<MountInfo>> {
    let mut out = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = idx + 1;
        out.push(parse_line(raw).with_context(|| format!("mountinfo line {line}: {raw:?}"))?);
    }
    Ok(out)
}

fn parse_line(raw: &str) -> Result<MountInfo> {
    let fields: Vec<&str> = raw.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .context("no \" - \" separator")?;
    if sep < 6 || fields.len() < sep + 3 {
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
        mount_point: unescape(fields[4]),
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
        let m = parse(FEDORA).unwrap();
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
    fn garbled_line_is_named() {
        let err = format!(
            "{:#}",
            parse("1 2 3:4 / / rw - ext4 /dev/x rw\nbad line\n").unwrap_err()
        );
        assert!(err.contains("line 2"), "{err}");
    }
}
