//! A small filesystem superblock reader: type, UUID and label of ext2/3/4,
//! xfs, btrfs and vfat, the boot filesystems initoverlayfs supports. Used in
//! pid1 mode, where there is no udev/blkid, to match `UUID=`/`LABEL=` specs.
//!
//! Layouts (offsets in bytes from the start of the device):
//! * ext2/3/4: superblock at 1024; magic `0xEF53` (le16) at +0x38, UUID at
//!   +0x68 (16 bytes), volume name at +0x78 (16 bytes); ext3 = has_journal
//!   compat flag, ext4 = any of the extents/64bit/flex_bg incompat flags
//!   (kernel `fs/ext4/ext4.h`).
//! * xfs: magic `XFSB` at 0, `sb_uuid` at 32, `sb_fname` (label) at 108
//!   (12 bytes) (`fs/xfs/libxfs/xfs_format.h`).
//! * btrfs: superblock at 64 KiB; `fsid` at +0x20, magic `_BHRfS_M` at +0x40,
//!   label at +0x12b (256 bytes) (`fs/btrfs/ctree.h`).
//! * vfat: boot sector signature `55 AA` at 510; FAT32 when `FAT32   ` is at
//!   82 (volume id le32 at 67, label at 71), FAT12/16 when `FAT` is at 54
//!   (volume id at 39, label at 43). The label is the boot-sector copy;
//!   `NO NAME` means none. UUID is the volume id as `XXXX-XXXX`, like blkid.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes of the device [`parse`] looks at (the btrfs superblock ends below this).
pub const PROBE_LEN: usize = 0x10000 + 0x1000;

/// What a superblock says about a filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// Kernel filesystem type name: `ext2`, `ext3`, `ext4`, `xfs`, `btrfs`, `vfat`.
    pub fstype: &'static str,
    /// UUID as blkid prints it (lowercase 8-4-4-4-12, or `XXXX-XXXX` for vfat).
    pub uuid: Option<String>,
    /// The label, if set.
    pub label: Option<String>,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Formats 16 raw bytes as a big-endian UUID string (ext, xfs, btrfs store it so).
pub fn format_uuid(b: &[u8]) -> Option<String> {
    if b.len() < 16 || b[..16].iter().all(|&x| x == 0) {
        return None;
    }
    let h: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A NUL-padded (and, for vfat, space-padded) label field; `None` when empty.
fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

fn ext(b: &[u8]) -> Option<FsInfo> {
    const SB: usize = 1024;
    if b.len() < SB + 0x88 || le16(b, SB + 0x38) != 0xEF53 {
        return None;
    }
    let compat = le32(b, SB + 0x5C);
    let incompat = le32(b, SB + 0x60);
    if incompat & 0x8 != 0 {
        return None; // an external journal device, not a filesystem
    }
    let fstype = if incompat & (0x40 | 0x80 | 0x200) != 0 {
        "ext4"
    } else if compat & 0x4 != 0 {
        "ext3"
    } else {
        "ext2"
    };
    Some(FsInfo {
        fstype,
        uuid: format_uuid(&b[SB + 0x68..SB + 0x78]),
        label: label(&b[SB + 0x78..SB + 0x88]),
    })
}

fn xfs(b: &[u8]) -> Option<FsInfo> {
    if b.len() < 120 || &b[0..4] != b"XFSB" {
        return None;
    }
    Some(FsInfo {
        fstype: "xfs",
        uuid: format_uuid(&b[32..48]),
        label: label(&b[108..120]),
    })
}

fn btrfs(b: &[u8]) -> Option<FsInfo> {
    const SB: usize = 0x10000;
    if b.len() < SB + 0x12b + 256 || &b[SB + 0x40..SB + 0x48] != b"_BHRfS_M" {
        return None;
    }
    Some(FsInfo {
        fstype: "btrfs",
        uuid: format_uuid(&b[SB + 0x20..SB + 0x30]),
        label: label(&b[SB + 0x12b..SB + 0x12b + 256]),
    })
}

fn vfat(b: &[u8]) -> Option<FsInfo> {
    if b.len() < 512 || b[510] != 0x55 || b[511] != 0xAA {
        return None;
    }
    let sector = le16(b, 11);
    if !(512..=4096).contains(&sector) || !sector.is_power_of_two() {
        return None;
    }
    let (id_at, label_at) = if &b[82..90] == b"FAT32   " {
        (67, 71)
    } else if &b[54..57] == b"FAT" {
        (39, 43)
    } else {
        return None;
    };
    let id = le32(b, id_at);
    let label = label(&b[label_at..label_at + 11]).filter(|l| l != "NO NAME");
    Some(FsInfo {
        fstype: "vfat",
        uuid: (id != 0).then(|| format!("{:04X}-{:04X}", id >> 16, id & 0xffff)),
        label,
    })
}

/// Recognises a filesystem from the first bytes of a device (up to
/// [`PROBE_LEN`]; shorter buffers simply do not match the types whose
/// superblock lies beyond them). `None`: none of the supported types.
pub fn parse(buf: &[u8]) -> Option<FsInfo> {
    ext(buf)
        .or_else(|| xfs(buf))
        .or_else(|| btrfs(buf))
        .or_else(|| vfat(buf))
}

/// Reads the superblock area of the device (or image file) at `path` and
/// parses it. Reads the first 4 KiB and, for btrfs, 4 KiB at 64 KiB.
/// Errors: the device cannot be opened or read (a short device is not an
/// error).
pub fn probe(path: &Path) -> io::Result<Option<FsInfo>> {
    let f = File::open(path)?;
    let mut buf = vec![0u8; PROBE_LEN];
    let head = read_up_to(&f, 0, &mut buf[..0x1000])?;
    if head < 0x1000 {
        return Ok(parse(&buf[..head]));
    }
    if let Some(info) = ext(&buf).or_else(|| xfs(&buf)).or_else(|| vfat(&buf)) {
        return Ok(Some(info));
    }
    read_up_to(&f, 0x10000, &mut buf[0x10000..])?;
    Ok(btrfs(&buf))
}

/// Reads up to `buf.len()` bytes at `offset`; returns how many were read.
pub fn read_up_to(f: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    use crate::cmd::CommandRunExt;

    /// Makes a sparse image of `size` and runs `mkfs` on it; `None` (with a
    /// printed reason) when that mkfs is not installed.
    pub(crate) fn mkfs_image(
        dir: &Path,
        name: &str,
        size: u64,
        argv: &[&str],
    ) -> Option<std::path::PathBuf> {
        let path = dir.join(name);
        let f = File::create(&path).unwrap();
        f.set_len(size).unwrap();
        drop(f);
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]).arg(&path);
        match cmd.run() {
            Ok(()) => Some(path),
            Err(e) if format!("{e:#}").contains("cannot run") => {
                eprintln!("SKIP {name}: {} is not installed: {e:#}", argv[0]);
                None
            }
            Err(e) => panic!("{e:#}"),
        }
    }

    fn blkid(path: &Path, tag: &str) -> String {
        Command::new("blkid")
            .args(["-p", "-o", "value", "-s", tag])
            .arg(path)
            .run_get_string()
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn ext4_xfs_btrfs_vfat_from_real_mkfs() {
        let dir = tempfile::tempdir().unwrap();
        let uuid = "1a3a6db4-a7c2-43e5-bed5-9385f26c68ff";
        // (file, size, mkfs argv, type, label, uuid or "" for random)
        type Case<'a> = (&'a str, u64, Vec<&'a str>, &'a str, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                "ext4.img",
                8 << 20,
                vec!["mkfs.ext4", "-q", "-F", "-L", "bootext4", "-U", uuid],
                "ext4",
                "bootext4",
                uuid,
            ),
            (
                "ext2.img",
                4 << 20,
                vec!["mkfs.ext2", "-q", "-F", "-L", "old"],
                "ext2",
                "old",
                "",
            ),
            (
                "ext3.img",
                8 << 20,
                vec!["mkfs.ext3", "-q", "-F"],
                "ext3",
                "",
                "",
            ),
            (
                "xfs.img",
                300 << 20,
                vec![
                    "mkfs.xfs",
                    "-q",
                    "-f",
                    "-L",
                    "bootxfs",
                    "-m",
                    "uuid=0f0e0d0c-0b0a-0908-0706-050403020100",
                ],
                "xfs",
                "bootxfs",
                "0f0e0d0c-0b0a-0908-0706-050403020100",
            ),
            (
                "btrfs.img",
                128 << 20,
                vec!["mkfs.btrfs", "-q", "-f", "-L", "boot btrfs"],
                "btrfs",
                "boot btrfs",
                "",
            ),
            (
                "fat32.img",
                40 << 20,
                vec!["mkfs.vfat", "-F", "32", "-n", "ESP", "-i", "12AB34CD"],
                "vfat",
                "ESP",
                "12AB-34CD",
            ),
            (
                "fat16.img",
                16 << 20,
                vec!["mkfs.vfat", "-F", "16", "-i", "0000BEEF"],
                "vfat",
                "",
                "0000-BEEF",
            ),
        ];
        for (name, size, argv, fstype, lbl, want_uuid) in cases {
            let Some(path) = mkfs_image(dir.path(), name, size, &argv) else {
                continue;
            };
            let info = probe(&path)
                .unwrap()
                .unwrap_or_else(|| panic!("{name} not recognised"));
            assert_eq!(info.fstype, fstype, "{name}");
            assert_eq!(info.label.as_deref().unwrap_or(""), lbl, "{name}");
            // The UUID must be exactly what blkid (libblkid) reports.
            let blk = blkid(&path, "UUID");
            assert_eq!(info.uuid.as_deref().unwrap_or(""), blk, "{name}");
            if !want_uuid.is_empty() {
                assert_eq!(blk, want_uuid, "{name}");
            }
        }
    }

    #[test]
    fn not_a_filesystem() {
        assert_eq!(parse(&[0u8; PROBE_LEN]), None);
        assert_eq!(parse(b"XFS"), None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(probe(&p).unwrap(), None);
        // An MBR carries 55 AA too, but no FAT type string.
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        mbr[11] = 0;
        mbr[12] = 2;
        assert_eq!(parse(&mbr), None);
    }
}
