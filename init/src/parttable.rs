//! Partition table reader for `PARTUUID=`: the kernel put `PARTUUID` in a
//! partition's uevent only in recent releases (not in Debian 12's 6.1), so in
//! pid1 mode we read it from the parent disk's GPT or MBR ourselves.
//!
//! * GPT (UEFI spec §5.3): header `EFI PART` at LBA 1 (512- or 4096-byte
//!   sectors); entries start at LBA le64@72, count le32@80, entry size
//!   le32@84; an entry's unique partition GUID is at +16, stored mixed-endian
//!   (first three fields little-endian), printed lowercase like blkid.
//! * MBR: disk signature le32 at 440, boot signature `55 AA` at 510; blkid
//!   names partition N `SSSSSSSS-NN` (hex).

use std::fs::File;
use std::io;
use std::path::Path;

use crate::superblock::read_up_to;

/// Formats a GPT GUID (mixed-endian 16 bytes) the way blkid prints it.
pub fn format_guid(b: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    let tail: String = b[8..].iter().map(|x| format!("{x:02x}")).collect();
    format!("{d1:08x}-{d2:04x}-{d3:04x}-{}-{}", &tail[..4], &tail[4..])
}

/// The PARTUUID of partition `partn` (1-based) of a disk, reading through
/// `read(offset, buf)` (which fills as much of `buf` as the disk has and
/// returns the count). `None`: no GPT/MBR, or no such partition.
pub fn partuuid(
    read: &mut dyn FnMut(u64, &mut [u8]) -> io::Result<usize>,
    partn: u32,
) -> io::Result<Option<String>> {
    if partn == 0 {
        return Ok(None);
    }
    let mut mbr = [0u8; 512];
    if read(0, &mut mbr)? < 512 || mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Ok(None);
    }
    let protective = (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xEE);
    if protective {
        for sector in [512u64, 4096] {
            let mut hdr = [0u8; 92];
            if read(sector, &mut hdr)? < 92 || &hdr[0..8] != b"EFI PART" {
                continue;
            }
            let entries_lba = u64::from_le_bytes(hdr[72..80].try_into().unwrap());
            let count = u32::from_le_bytes(hdr[80..84].try_into().unwrap());
            let size = u32::from_le_bytes(hdr[84..88].try_into().unwrap()) as u64;
            if partn > count || size < 128 {
                return Ok(None);
            }
            let mut entry = [0u8; 128];
            let at = entries_lba * sector + (partn as u64 - 1) * size;
            if read(at, &mut entry)? < 128 {
                return Ok(None);
            }
            let guid: [u8; 16] = entry[16..32].try_into().unwrap();
            if guid == [0; 16] {
                return Ok(None);
            }
            return Ok(Some(format_guid(&guid)));
        }
        return Ok(None);
    }
    let sig = u32::from_le_bytes(mbr[440..444].try_into().unwrap());
    Ok(Some(format!("{sig:08x}-{partn:02x}")))
}

/// [`partuuid`] of partition `partn` on the disk (or disk image) at `disk`.
pub fn partuuid_of(disk: &Path, partn: u32) -> io::Result<Option<String>> {
    let f = File::open(disk)?;
    partuuid(&mut |off, buf| read_up_to(&f, off, buf), partn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn sfdisk(disk: &Path, script: &str) -> bool {
        let child = Command::new("sfdisk")
            .arg("-q")
            .arg(disk)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("SKIP: sfdisk is not installed");
            return false;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        true
    }

    #[test]
    fn gpt_and_mbr_partuuids_match_sfdisk() {
        let dir = tempfile::tempdir().unwrap();
        let gpt = dir.path().join("gpt.img");
        File::create(&gpt).unwrap().set_len(8 << 20).unwrap();
        let script = "label: gpt\n\
            size=2MiB, name=esp, uuid=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n\
            size=2MiB, name=xbootldr, uuid=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff\n";
        if !sfdisk(&gpt, script) {
            return;
        }
        assert_eq!(
            partuuid_of(&gpt, 1).unwrap().as_deref(),
            Some("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
        );
        assert_eq!(
            partuuid_of(&gpt, 2).unwrap().as_deref(),
            Some("1a3a6db4-a7c2-43e5-bed5-9385f26c68ff")
        );
        assert_eq!(partuuid_of(&gpt, 3).unwrap(), None, "empty entry");

        let mbr = dir.path().join("mbr.img");
        File::create(&mbr).unwrap().set_len(8 << 20).unwrap();
        assert!(sfdisk(
            &mbr,
            "label: dos\nlabel-id: 0x1234abcd\nsize=2MiB\nsize=2MiB\n"
        ));
        assert_eq!(
            partuuid_of(&mbr, 2).unwrap().as_deref(),
            Some("1234abcd-02")
        );

        let blank = dir.path().join("blank.img");
        File::create(&blank).unwrap().set_len(1 << 20).unwrap();
        assert_eq!(partuuid_of(&blank, 1).unwrap(), None);
    }
}
