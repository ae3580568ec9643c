//! Our newc (`070701`) and crc (`070702`) cpio parser, as the kernel reads
//! them (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Layout: a 110-byte ASCII header (magic + 13 hex fields of 8 digits), the
//! NUL-terminated name, padding to a multiple of 4, the data, padding to a
//! multiple of 4. `TRAILER!!!` ends an archive. The crc format's `check` is
//! the 32-bit wrapping sum of the data bytes of a regular file.

use std::io::{self, Read};

use anyhow::{bail, Context, Result};

use crate::initramfs::source::Source;

/// Size of a newc/crc header in bytes.
pub const HEADER_LEN: usize = 110;
/// Longest name we accept, in bytes, including the NUL (Linux `PATH_MAX`).
pub const MAX_NAME: u32 = 4096;
/// Name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

/// File type bits of `mode` (`S_IFMT`, <sys/stat.h>).
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link (the data is the target).
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO.
pub const S_IFIFO: u32 = 0o010000;

/// One parsed entry header (all numbers as stored; `name` without the NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `true` for the crc format (`070702`): `check` is verified.
    pub crc: bool,
    /// Inode number (joins hardlinks within one archive).
    pub ino: u32,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Link count (≥ 2 for hardlinked regular files).
    pub nlink: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// Data length in bytes (the symlink target for symlinks).
    pub filesize: u32,
    /// Device (major) of the filesystem the file came from.
    pub dev_major: u32,
    /// Device (minor) of the filesystem the file came from.
    pub dev_minor: u32,
    /// Device number (major) of a character/block device node.
    pub rdev_major: u32,
    /// Device number (minor) of a character/block device node.
    pub rdev_minor: u32,
    /// crc format: sum of the data bytes; newc: 0.
    pub check: u32,
    /// Raw name bytes, without the terminating NUL.
    pub name: Vec<u8>,
}

impl Header {
    /// The file type bits (`mode & S_IFMT`).
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// The name as (lossy) UTF-8, for messages and listings.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Whether this is the `TRAILER!!!` entry that ends an archive.
    pub fn is_trailer(&self) -> bool {
        self.name == TRAILER
    }
}

/// Parses the fixed 110-byte part of a header (the name is filled in later
/// and left empty here). Errors: bad magic or a non-hex field.
pub fn parse_fixed(raw: &[u8; HEADER_LEN]) -> Result<(Header, u32)> {
    let crc = match &raw[..6] {
        b"070701" => false,
        b"070702" => true,
        b"070707" => bail!("old binary/odc cpio (magic 070707) is not an initramfs format"),
        other => bail!("bad cpio magic {:?}", String::from_utf8_lossy(other)),
    };
    let mut fields = [0u32; 13];
    for (i, f) in fields.iter_mut().enumerate() {
        let text = &raw[6 + 8 * i..14 + 8 * i];
        let s = std::str::from_utf8(text).ok();
        *f = s
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .with_context(|| {
                format!(
                    "cpio header field {i} is not 8 hex digits: {:?}",
                    String::from_utf8_lossy(text)
                )
            })?;
    }
    let [ino, mode, uid, gid, nlink, mtime, filesize, dev_major, dev_minor, rdev_major, rdev_minor, namesize, check] =
        fields;
    let header = Header {
        crc,
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        filesize,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        check,
        name: Vec::new(),
    };
    Ok((header, namesize))
}

/// Bytes of padding after `len` bytes to reach a multiple of 4.
pub fn pad4(len: u64) -> u64 {
    (4 - len % 4) % 4
}

/// Data of one entry: reads at most `filesize` bytes and sums them for the
/// crc check.
#[derive(Debug)]
pub struct EntryData<'a, R> {
    src: &'a mut Source<R>,
    left: u64,
    sum: u32,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || out.is_empty() {
            return Ok(0);
        }
        let max = (out.len() as u64).min(self.left) as usize;
        let n = self.src.read(&mut out[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "truncated: the input ends with {} bytes of file data missing",
                    self.left
                ),
            ));
        }
        self.sum = out[..n]
            .iter()
            .fold(self.sum, |s, &b| s.wrapping_add(u32::from(b)));
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where an archive is, for error messages: "segment 2 (gzip at byte 1234)".
pub trait Locate {
    /// Describes byte `pos` of the stream being parsed.
    fn describe(&self, pos: u64) -> String;
}

/// Reads one cpio archive from `src` (which is positioned at its first
/// header), calling `visit` with each entry's header and data reader, up to
/// and including `TRAILER!!!` (not passed to `visit`). Data the visitor does
/// not read is skipped (and still checksummed). Returns the number of
/// entries visited.
///
/// Errors name the byte offset (via `loc`) and the entry: truncated input,
/// bad header, over-long name, crc mismatch, or the visitor's error.
pub fn read_archive<R: Read>(
    src: &mut Source<R>,
    loc: &dyn Locate,
    visit: &mut dyn FnMut(&Header, &mut dyn Read) -> Result<()>,
) -> Result<u64> {
    let mut count = 0u64;
    loop {
        let at = src.pos();
        let mut raw = [0u8; HEADER_LEN];
        src.read_exact(&mut raw).map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "truncated cpio header at {} (archive ends without TRAILER!!!)",
                loc.describe(at)
            ))
        })?;
        let (mut header, namesize) = parse_fixed(&raw)
            .with_context(|| format!("bad cpio header at {}", loc.describe(at)))?;
        if namesize == 0 || namesize > MAX_NAME {
            bail!(
                "cpio entry at {}: name size {namesize} is out of range (1..={MAX_NAME})",
                loc.describe(at)
            );
        }
        let mut name = vec![0u8; namesize as usize];
        src.read_exact(&mut name)
            .with_context(|| format!("truncated cpio entry name at {}", loc.describe(at)))?;
        if name.pop() != Some(0) || name.contains(&0) {
            bail!(
                "cpio entry {:?} at {}: name is not NUL-terminated exactly once",
                String::from_utf8_lossy(&name),
                loc.describe(at)
            );
        }
        header.name = name;
        let ctx = |what: &str| {
            format!(
                "cpio entry {:?} at {}: {what}",
                header.name_lossy(),
                loc.describe(at)
            )
        };
        src.skip(pad4(HEADER_LEN as u64 + u64::from(namesize)))
            .with_context(|| ctx("truncated after the name"))?;
        let size = u64::from(header.filesize);
        if header.is_trailer() {
            src.skip(size + pad4(size))
                .with_context(|| ctx("truncated trailer"))?;
            return Ok(count);
        }
        let mut data = EntryData {
            src,
            left: size,
            sum: 0,
        };
        visit(&header, &mut data).with_context(|| ctx("cannot process"))?;
        io::copy(&mut data, &mut io::sink()).with_context(|| ctx("truncated file data"))?;
        let sum = data.sum;
        if header.crc && header.file_type() == S_IFREG && sum != header.check {
            bail!(
                "{}",
                ctx(&format!(
                    "crc mismatch: header says {:#010x}, data sums to {sum:#010x}",
                    header.check
                ))
            );
        }
        src.skip(pad4(size))
            .with_context(|| ctx("truncated after the file data"))?;
        count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl Locate for Plain {
        fn describe(&self, pos: u64) -> String {
            format!("byte {pos}")
        }
    }

    /// Writes one newc/crc entry (our own minimal writer for unit tests).
    pub(crate) fn entry(out: &mut Vec<u8>, crc: bool, name: &str, mode: u32, data: &[u8]) {
        let check = if crc {
            data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
        } else {
            0
        };
        let magic = if crc { "070702" } else { "070701" };
        let fields = [
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            check,
        ];
        out.extend_from_slice(magic.as_bytes());
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(
            out.len() + pad4(HEADER_LEN as u64 + name.len() as u64 + 1) as usize,
            0,
        );
        out.extend_from_slice(data);
        out.resize(out.len() + pad4(data.len() as u64) as usize, 0);
    }

    fn names(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut src = Source::new(bytes);
        let mut got = Vec::new();
        read_archive(&mut src, &Plain, &mut |h, r| {
            let mut d = Vec::new();
            r.read_to_end(&mut d)?;
            got.push((h.name_lossy(), d));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn parses_newc_and_crc() {
        for crc in [false, true] {
            let mut a = Vec::new();
            entry(&mut a, crc, ".", S_IFDIR | 0o755, b"");
            entry(&mut a, crc, "etc/hostname", S_IFREG | 0o644, b"host\n");
            entry(&mut a, crc, "TRAILER!!!", 0, b"");
            let got = names(&a).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[1], ("etc/hostname".to_string(), b"host\n".to_vec()));
        }
    }

    #[test]
    fn crc_mismatch_is_an_error() {
        let mut a = Vec::new();
        entry(&mut a, true, "f", S_IFREG | 0o644, b"abc");
        // Corrupt the last data byte ("abc" is followed by one pad byte).
        let n = a.len();
        a[n - 2] ^= 1;
        entry(&mut a, true, "TRAILER!!!", 0, b"");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(
            err.contains("crc mismatch") && err.contains("\"f\""),
            "{err}"
        );
    }

    #[test]
    fn truncation_names_entry_and_offset() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        let second = a.len();
        entry(&mut a, false, "big", S_IFREG | 0o644, &[7u8; 1000]);
        a.truncate(second + 200);
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(
            err.contains("\"big\"") && err.contains(&format!("byte {second}")),
            "{err}"
        );
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn missing_trailer_and_bad_magic() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(err.contains("without TRAILER"), "{err}");
        let err = format!("{:#}", names(&[b'x'; 200]).unwrap_err());
        assert!(err.contains("bad cpio magic"), "{err}");
    }
}
