//! Raw GPT disk images: a sparse file partitioned with `sgdisk` the way
//! Fedora's installer lays out a disk (ESP, separate /boot, root), and the
//! partition table read back with `sfdisk -J`.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use serde::Deserialize;

use crate::loopdev::LoopDevice;

const MIB: u64 = 1024 * 1024;

/// Size of the ESP (Fedora's default: 600 MiB).
pub const ESP_BYTES: u64 = 600 * MIB;
/// Size of the /boot partition (Fedora's default: 1 GiB).
pub const BOOT_BYTES: u64 = 1024 * MIB;
/// Size of the whole (sparse) disk image; root gets the rest.
pub const DISK_BYTES: u64 = 6 * 1024 * MIB;

/// GPT partition type of the ESP (`sgdisk` code EF00).
pub const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT partition type "Linux filesystem" (`sgdisk` code 8300), used for /boot.
pub const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// GPT partition type "Linux root (x86-64)" (`sgdisk` code 8304).
pub const TYPE_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// One GPT partition, with byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based partition number (`/dev/vdaN` in the guest).
    pub number: u32,
    /// Byte offset of the first sector.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Partition type GUID (upper case, as sfdisk prints it).
    pub type_guid: String,
    /// The partition's own GUID (`PARTUUID=`).
    pub uuid: String,
    /// GPT partition name (`PARTLABEL=`).
    pub name: String,
}

#[derive(Deserialize)]
struct SfdiskDoc {
    partitiontable: SfdiskTable,
}

#[derive(Deserialize)]
struct SfdiskTable {
    label: String,
    #[serde(default = "default_sector")]
    sectorsize: u64,
    #[serde(default)]
    partitions: Vec<SfdiskPart>,
}

fn default_sector() -> u64 {
    512
}

#[derive(Deserialize)]
struct SfdiskPart {
    node: String,
    start: u64,
    size: u64,
    #[serde(rename = "type")]
    type_guid: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    name: String,
}

/// Parses `sfdisk -J DISK` output (util-linux 2.38) into partitions.
///
/// Errors: not JSON of that shape, not a GPT table, or a node name that does
/// not end in its partition number.
pub fn parse_sfdisk_json(json: &str) -> Result<Vec<Partition>> {
    let doc: SfdiskDoc = serde_json::from_str(json).context("unexpected sfdisk -J output")?;
    let t = doc.partitiontable;
    anyhow::ensure!(
        t.label == "gpt",
        "partition table is {:?}, not gpt",
        t.label
    );
    t.partitions
        .into_iter()
        .map(|p| {
            let digits: String = p
                .node
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let number = digits
                .parse()
                .with_context(|| format!("partition node {:?} has no number", p.node))?;
            Ok(Partition {
                number,
                start: p.start * t.sectorsize,
                size: p.size * t.sectorsize,
                type_guid: p.type_guid.to_uppercase(),
                uuid: p.uuid.to_uppercase(),
                name: p.name,
            })
        })
        .collect()
}

/// Creates a sparse raw disk image of [`DISK_BYTES`] at `path` with the
/// Fedora layout: 1 ESP (EF00, [`ESP_BYTES`]), 2 /boot (8300,
/// [`BOOT_BYTES`]), 3 root (8304, the rest). Returns the partitions.
///
/// Errors: the file cannot be created, or `sgdisk`/`sfdisk` fail.
pub fn create_fedora_layout(path: &Path) -> Result<Vec<Partition>> {
    let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.set_len(DISK_BYTES)
        .with_context(|| format!("cannot size {}", path.display()))?;
    drop(f);
    Command::new("sgdisk")
        .arg(format!("-n1:0:+{}M", ESP_BYTES / MIB))
        .args(["-t1:EF00", "-c1:EFI System Partition"])
        .arg(format!("-n2:0:+{}M", BOOT_BYTES / MIB))
        .args(["-t2:8300", "-c2:boot", "-n3:0:0", "-t3:8304", "-c3:root"])
        .arg(path)
        .run()
        .context("cannot partition the disk image")?;
    read_table(path)
}

/// Reads the GPT of a disk image with `sfdisk -J`.
///
/// Errors: `sfdisk` fails or prints something [`parse_sfdisk_json`] rejects.
pub fn read_table(path: &Path) -> Result<Vec<Partition>> {
    let json = Command::new("sfdisk")
        .arg("-J")
        .arg(path)
        .run_get_string()?;
    parse_sfdisk_json(&json).with_context(|| format!("partition table of {}", path.display()))
}

/// Attaches partition `part` of the disk image `disk` to a loop device.
pub fn attach(disk: &Path, part: &Partition) -> Result<LoopDevice> {
    LoopDevice::attach(disk, part.start, part.size)
}

/// The filesystem UUID on a device, read from its superblock (`blkid -p`).
///
/// Errors: `blkid` fails or finds no UUID.
pub fn fs_uuid(dev: &Path) -> Result<String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "UUID"])
        .arg(dev)
        .run_get_string()?;
    let uuid = out.trim().to_string();
    anyhow::ensure!(!uuid.is_empty(), "no filesystem UUID on {}", dev.display());
    Ok(uuid)
}

/// The filesystem type on a device (`blkid -p`), e.g. `ext4`.
///
/// Errors: `blkid` fails or finds no filesystem.
pub fn fs_type(dev: &Path) -> Result<String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "TYPE"])
        .arg(dev)
        .run_get_string()?;
    let t = out.trim().to_string();
    anyhow::ensure!(!t.is_empty(), "no filesystem on {}", dev.display());
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recorded_sfdisk_output() {
        let json = include_str!("../fixtures/sfdisk-fedora-layout.json");
        let parts = parse_sfdisk_json(json).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].number, 1);
        assert_eq!(parts[0].start, 2048 * 512);
        assert_eq!(parts[0].size, ESP_BYTES);
        assert_eq!(parts[0].type_guid, TYPE_ESP);
        assert_eq!(parts[1].size, BOOT_BYTES);
        assert_eq!(parts[1].type_guid, TYPE_LINUX);
        assert_eq!(parts[2].type_guid, TYPE_ROOT_X86_64);
        assert_eq!(parts[2].name, "root");
        assert_eq!(parts[2].start, 3_328_000 * 512);
    }

    #[test]
    fn rejects_mbr() {
        let json = r#"{"partitiontable":{"label":"dos","partitions":[]}}"#;
        assert!(parse_sfdisk_json(json).is_err());
    }
}
