//! Our newc (`070701`) and crc (`070702`) cpio reader, accepting exactly
//! what the kernel unpacks at boot and refusing what it refuses, so that an
//! image made from an initramfs holds what booting that initramfs shows.
//!
//! # The rules, as the kernel applies them
//!
//! Source: `init/initramfs.c` in torvalds/linux, current mainline: the
//! state machine `do_start` → `do_header` → `do_name` / `do_symlink` →
//! `do_copy` → `do_skip` → `do_reset`, driven by `unpack_to_rootfs` for the
//! initrd and by `flush_buffer` for each decompressed stream;
//! `find_link` / `maybe_link` / `clean_path` for what entries do to the
//! tree; its KUnit cases in `init/initramfs_test.c` (`fname_pad`,
//! `fname_path_max`, `hdr_hex`, …) pin several rules down. Two rules are
//! recent: the final NUL of the name field is checked since v6.13 (older
//! kernels read on past the field), and header fields are strict hex since
//! the 2026 `hex2bin` change (older kernels' `simple_strtoul` also took a
//! `0x` prefix). Layout background:
//! Documentation/driver-api/early-userspace/buffer-format.rst.
//!
//! Entry layout:
//!
//! 1. **Header**: 110 bytes, the magic `070701` (newc) or `070702` (crc),
//!    then 13 fields of exactly 8 hex digits (either case; no sign, no `0x`:
//!    `parse_header` uses `hex2bin`). `070707` (odc) and anything else is
//!    refused. Magics may be mixed within one archive.
//! 2. **Name field**: `c_namesize` bytes, then zero padding so that the data
//!    starts on a multiple of 4 (the kernel's `N_ALIGN`). The name is the
//!    bytes up to the **first** NUL; the **last** byte of the field must be a
//!    NUL (`do_name`, `do_symlink`: "name without nulterm" → "malformed
//!    archive"), and any bytes between the first NUL and the end are
//!    ignored. dracut's enhanced cpio (`dracut-cpio --data-align N`) relies
//!    on this: it pads the name field with NULs counted in `c_namesize` so
//!    that file data starts on an N-byte boundary.
//! 3. **Data**: `c_filesize` bytes, then zero padding to a multiple of 4.
//!
//! Entries the kernel skips whole (header, name and data; `do_header` goes
//! straight to `SkipIt`), reported as warnings, never created:
//!
//! - `c_namesize` is 0 or more than `PATH_MAX` (4096);
//! - a symlink whose target (`c_filesize`) is longer than `PATH_MAX`;
//! - any type other than a regular file or a symlink that carries data
//!   (`c_filesize` > 0): directories, devices, fifos, sockets, unknown types.
//!
//! The name of a skipped entry is not checked.
//!
//! `TRAILER!!!` (the name up to its first NUL, on an entry not skipped
//! above and not a symlink: `do_symlink` never compares) only ends a
//! hardlink scope (`free_hash`); its data is skipped.
//! It is optional: entries may follow it directly, and input may end
//! without one. Hardlinks (`maybe_link`): an entry of a regular file, a
//! device, a fifo or a socket with `c_nlink` ≥ 2 is joined to the first
//! earlier entry with the same `c_devmajor`, `c_devminor`, `c_ino` and file
//! type since the last trailer.
//!
//! crc format: the `check` field is the 32-bit wrapping sum of the data
//! bytes of a regular file; a mismatch is refused (`do_copy`: "bad data
//! checksum"). newc ignores the field.
//!
//! Around and between entries (`unpack_to_rootfs`, `do_reset`,
//! `flush_buffer`):
//!
//! - zero bytes are skipped anywhere between entries and between segments;
//! - every header starts on a multiple of 4: of the file offset for an
//!   uncompressed archive, of the decompressed stream's offset inside a
//!   compressed one. After an entry, the next non-zero byte must be aligned
//!   ("broken padding"), whatever it is;
//! - an uncompressed archive (first byte `0`) therefore also needs a
//!   4-aligned file offset when it follows a compressed stream, whose end may
//!   fall anywhere; a compressed stream may start anywhere after a compressed
//!   stream, but only aligned after an uncompressed entry;
//! - inside a decompressed stream, after an entry only zeros or another
//!   header may follow ("junk within compressed archive"), and the stream
//!   must end at an entry boundary, padding included ("junk at the end of
//!   compressed archive");
//! - the first compressed stream of a file, when nothing precedes it, must
//!   start with a header at once and hold at least one (the state machine is
//!   still in `Start`); later streams may start with zeros or be empty.
//!
//! # Where we are stricter than the kernel
//!
//! The kernel keeps what it unpacked before an error and boots on; we refuse
//! the whole input. Input that ends inside an uncompressed entry's header,
//! name or data is refused as truncated (the kernel would silently create a
//! short file); only the final padding of the last entry may be missing. A
//! crc mismatch is refused even on a file the kernel could not create.
//! What entries do to the tree (parents are not created, later entries
//! replace earlier ones, names resolve inside the root) is the extractor's
//! part: see `crate::extract`.

use std::io::{self, Read};

use anyhow::{bail, Context, Result};

use crate::initramfs::source::Source;

/// Size of a newc/crc header in bytes.
pub const HEADER_LEN: usize = 110;
/// Linux `PATH_MAX`: the largest `c_namesize` (NUL included) and symlink
/// target length the kernel accepts (include/uapi/linux/limits.h).
pub const PATH_MAX: u32 = 4096;
/// Name of the entry that ends a hardlink scope.
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

/// One parsed entry header (all numbers as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `true` for the crc format (`070702`): `check` is verified.
    pub crc: bool,
    /// Inode number (joins hardlinks within one trailer scope).
    pub ino: u32,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Link count (≥ 2 for hardlinked entries).
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
    /// Length of the name field in bytes (`c_namesize`, NULs and any
    /// alignment padding included).
    pub namesize: u32,
    /// crc format: sum of the data bytes; newc: not used.
    pub check: u32,
    /// The name: the bytes of the name field before its first NUL.
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

    /// Whether the kernel takes this entry as `TRAILER!!!` (`do_name`;
    /// symlinks go through `do_symlink`, which does not look).
    pub fn is_trailer(&self) -> bool {
        self.name == TRAILER && self.file_type() != S_IFLNK
    }

    /// Why the kernel skips this entry whole without reading its name
    /// (`do_header`), or `None` when it reads it.
    pub fn kernel_skips(&self) -> Option<String> {
        let ftype = self.file_type();
        if self.namesize == 0 || self.namesize > PATH_MAX {
            Some(format!(
                "its name field is {} bytes, outside 1..={PATH_MAX}",
                self.namesize
            ))
        } else if ftype == S_IFLNK && self.filesize > PATH_MAX {
            Some(format!(
                "its symlink target is {} bytes, longer than {PATH_MAX}",
                self.filesize
            ))
        } else if ftype != S_IFREG && ftype != S_IFLNK && self.filesize > 0 {
            Some(format!(
                "it is not a regular file or symlink (mode {:o}) but carries {} bytes of data",
                self.mode, self.filesize
            ))
        } else {
            None
        }
    }
}

/// Parses the fixed 110-byte part of a header (the name is filled in
/// later and left empty here). Errors: bad magic or a field that is not
/// exactly 8 hex digits.
pub fn parse_fixed(raw: &[u8; HEADER_LEN]) -> Result<Header> {
    let crc = match &raw[..6] {
        b"070701" => false,
        b"070702" => true,
        b"070707" => bail!(
            "old binary/odc cpio (magic 070707) is not an initramfs format; pack with `cpio -H newc`"
        ),
        other => bail!(
            "bad cpio magic {:?} (expected 070701 or 070702)",
            String::from_utf8_lossy(other)
        ),
    };
    let mut fields = [0u32; 13];
    for (i, f) in fields.iter_mut().enumerate() {
        let text = &raw[6 + 8 * i..14 + 8 * i];
        // from_str_radix alone would take a `+` sign, which hex2bin refuses.
        let hex = text.iter().all(u8::is_ascii_hexdigit);
        *f = std::str::from_utf8(text)
            .ok()
            .filter(|_| hex)
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
    Ok(Header {
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
        namesize,
        check,
        name: Vec::new(),
    })
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

/// What [`read_run`] hands on.
pub trait Sink {
    /// An entry whose name the kernel reads (never a trailer): its header
    /// and a reader of its `filesize` data bytes. Data left unread is
    /// skipped (and still checksummed).
    fn entry(&mut self, h: &Header, data: &mut dyn Read) -> Result<()>;
    /// A `TRAILER!!!`: hardlinks do not join across it.
    fn trailer(&mut self);
    /// An entry the kernel skips whole: where it is, its header (the name
    /// is filled in when the field could be read, unchecked) and why.
    fn skipped(&mut self, at: &str, h: &Header, why: &str);
}

/// The kind of stream [`read_run`] reads, which decides what may end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The file itself: a byte that is neither zero nor `0` ends the run
    /// (a compressed stream follows); the last entry's padding may be
    /// missing at the end of the input.
    Raw,
    /// A decompressed stream: only zeros and headers may follow an entry,
    /// and the stream must end on an entry boundary.
    Decompressed,
}

/// Reads a run of entries from `src`, as the kernel's state machine does
/// from its `Reset` state: zero bytes are skipped, then each header must
/// start on a multiple of 4 of `src`'s position. Stops at the end of the
/// input, or (for [`Stream::Raw`]) before the first byte that is neither a
/// zero nor `0`, which is then 4-aligned. Returns the number of entries
/// passed to `sink.entry`.
///
/// Errors name the byte offset (via `loc`) and the entry: truncated input,
/// a bad header, a name field without its final NUL, misaligned data
/// ("broken padding"), junk inside a decompressed stream, a crc mismatch,
/// or the sink's error.
pub fn read_run<R: Read>(
    src: &mut Source<R>,
    loc: &dyn Locate,
    stream: Stream,
    sink: &mut dyn Sink,
) -> Result<u64> {
    let mut count = 0u64;
    loop {
        src.skip_zeros()
            .with_context(|| format!("cannot read at {}", loc.describe(src.pos())))?;
        let at = src.pos();
        let head = src
            .peek(1)
            .with_context(|| format!("cannot read at {}", loc.describe(at)))?;
        let Some(&first) = head.first() else {
            return Ok(count);
        };
        if at & 3 != 0 {
            bail!(
                "broken padding at {}: data resumes at an offset that is not a multiple of 4 \
                 after a cpio entry (the kernel refuses this)",
                loc.describe(at)
            );
        }
        if first != b'0' {
            match stream {
                Stream::Raw => return Ok(count),
                Stream::Decompressed => bail!(
                    "junk at {}: byte {first:#04x} where a cpio header or zero padding must follow an entry",
                    loc.describe(at)
                ),
            }
        }
        if read_entry(src, loc, stream, sink)? {
            count += 1;
        }
    }
}

/// Reads one entry at the current (aligned) position; returns whether it
/// went to `sink.entry`.
fn read_entry<R: Read>(
    src: &mut Source<R>,
    loc: &dyn Locate,
    stream: Stream,
    sink: &mut dyn Sink,
) -> Result<bool> {
    let at = src.pos();
    let mut raw = [0u8; HEADER_LEN];
    src.read_exact(&mut raw).map_err(|e| {
        anyhow::Error::new(e).context(format!("truncated cpio header at {}", loc.describe(at)))
    })?;
    let mut header =
        parse_fixed(&raw).with_context(|| format!("bad cpio header at {}", loc.describe(at)))?;
    let namesize = u64::from(header.namesize);
    let size = u64::from(header.filesize);
    let name_pad = pad4(HEADER_LEN as u64 + namesize);

    if let Some(why) = header.kernel_skips() {
        if header.namesize <= PATH_MAX {
            // Only for the message: the kernel never reads this name.
            let mut field = vec![0u8; header.namesize as usize];
            src.read_exact(&mut field)
                .with_context(|| format!("truncated cpio entry name at {}", loc.describe(at)))?;
            header.name = field.split(|&b| b == 0).next().unwrap_or(&[]).to_vec();
        } else {
            src.skip(namesize)
                .with_context(|| format!("truncated cpio entry name at {}", loc.describe(at)))?;
        }
        src.skip(name_pad + size)
            .with_context(|| format!("truncated cpio entry at {}", loc.describe(at)))?;
        skip_padding(src, pad4(size), stream)
            .with_context(|| format!("truncated cpio entry at {}", loc.describe(at)))?;
        sink.skipped(&loc.describe(at), &header, &why);
        return Ok(false);
    }

    let mut field = vec![0u8; header.namesize as usize];
    src.read_exact(&mut field)
        .with_context(|| format!("truncated cpio entry name at {}", loc.describe(at)))?;
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    header.name = field[..end].to_vec();
    if field.last() != Some(&0) {
        bail!(
            "cpio entry {:?} at {}: its {}-byte name field does not end in a NUL byte \
             (the kernel refuses this as a malformed archive)",
            header.name_lossy(),
            loc.describe(at),
            header.namesize
        );
    }
    let ctx = |what: &str| {
        format!(
            "cpio entry {:?} at {}: {what}",
            header.name_lossy(),
            loc.describe(at)
        )
    };
    if size == 0 {
        skip_padding(src, name_pad, stream).with_context(|| ctx("truncated after the name"))?;
    } else {
        src.skip(name_pad)
            .with_context(|| ctx("truncated after the name"))?;
    }
    if header.is_trailer() {
        src.skip(size).with_context(|| ctx("truncated trailer"))?;
        skip_padding(src, pad4(size), stream).with_context(|| ctx("truncated trailer"))?;
        sink.trailer();
        return Ok(false);
    }
    let mut data = EntryData {
        src,
        left: size,
        sum: 0,
    };
    sink.entry(&header, &mut data)
        .with_context(|| ctx("cannot process"))?;
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
    skip_padding(src, pad4(size), stream).with_context(|| ctx("truncated after the file data"))?;
    Ok(true)
}

/// Skips `n` padding bytes; in a [`Stream::Raw`] run the input may end
/// inside them (the kernel has nothing left to read there).
fn skip_padding<R: Read>(src: &mut Source<R>, n: u64, stream: Stream) -> io::Result<()> {
    match src.skip(n) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && stream == Stream::Raw => Ok(()),
        other => other,
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

    /// Collects what the reader hands on: ("name", data) entries, trailers
    /// as "TRAILER", skips as "SKIP name: why".
    #[derive(Default)]
    struct Collect(Vec<(String, Vec<u8>)>);
    impl Sink for Collect {
        fn entry(&mut self, h: &Header, r: &mut dyn Read) -> Result<()> {
            let mut d = Vec::new();
            r.read_to_end(&mut d)?;
            self.0.push((h.name_lossy(), d));
            Ok(())
        }
        fn trailer(&mut self) {
            self.0.push(("TRAILER".into(), Vec::new()));
        }
        fn skipped(&mut self, _at: &str, h: &Header, why: &str) {
            self.0
                .push((format!("SKIP {}: {why}", h.name_lossy()), Vec::new()));
        }
    }

    /// Writes one entry with a name field of `namesize` bytes (the name,
    /// then NULs); our own minimal writer for unit tests.
    fn entry_sized(
        out: &mut Vec<u8>,
        crc: bool,
        name: &[u8],
        namesize: u32,
        mode: u32,
        data: &[u8],
    ) {
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
            namesize,
            check,
        ];
        out.extend_from_slice(magic.as_bytes());
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        let field_start = out.len();
        out.extend_from_slice(name);
        out.resize(field_start + namesize as usize, 0);
        out.resize(
            out.len() + pad4(HEADER_LEN as u64 + u64::from(namesize)) as usize,
            0,
        );
        out.extend_from_slice(data);
        out.resize(out.len() + pad4(data.len() as u64) as usize, 0);
    }

    fn entry(out: &mut Vec<u8>, crc: bool, name: &str, mode: u32, data: &[u8]) {
        entry_sized(out, crc, name.as_bytes(), name.len() as u32 + 1, mode, data);
    }

    fn run(bytes: &[u8], stream: Stream) -> Result<Vec<(String, Vec<u8>)>> {
        let mut src = Source::new(bytes);
        let mut got = Collect::default();
        read_run(&mut src, &Plain, stream, &mut got)?;
        Ok(got.0)
    }

    fn names(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        run(bytes, Stream::Decompressed)
    }

    #[test]
    fn parses_newc_and_crc() {
        for crc in [false, true] {
            let mut a = Vec::new();
            entry(&mut a, crc, ".", S_IFDIR | 0o755, b"");
            entry(&mut a, crc, "etc/hostname", S_IFREG | 0o644, b"host\n");
            entry(&mut a, crc, "TRAILER!!!", 0, b"");
            let got = names(&a).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(got[1], ("etc/hostname".to_string(), b"host\n".to_vec()));
            assert_eq!(got[2].0, "TRAILER");
        }
    }

    #[test]
    fn padded_name_field_ends_at_the_first_nul() {
        // dracut-cpio --data-align 4096: the field is padded with NULs so
        // the data starts at byte 4096.
        let mut a = Vec::new();
        let namesize = 4096 - HEADER_LEN as u32;
        entry_sized(
            &mut a,
            false,
            b"usr/lib/big",
            namesize,
            S_IFREG | 0o644,
            &[9u8; 5000],
        );
        assert_eq!(&a[4096..4100], &[9u8; 4]);
        entry(&mut a, false, "TRAILER!!!", 0, b"");
        let got = names(&a).unwrap();
        assert_eq!(got[0], ("usr/lib/big".to_string(), vec![9u8; 5000]));
        // Bytes after the first NUL are ignored, as strcmp/filp_open see it.
        let mut b = Vec::new();
        entry_sized(&mut b, false, b"a\0junk", 12, S_IFREG | 0o644, b"x");
        entry_sized(&mut b, false, b"TRAILER!!!\0\0\0", 20, 0, b"");
        let got = names(&b).unwrap();
        assert_eq!(
            got,
            vec![("a".into(), b"x".to_vec()), ("TRAILER".into(), vec![])]
        );
    }

    #[test]
    fn name_field_must_end_in_nul() {
        let mut a = Vec::new();
        entry_sized(&mut a, false, b"abc", 3, S_IFREG | 0o644, b"x");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(
            err.contains("\"abc\"")
                && err.contains("does not end in a NUL")
                && err.contains("byte 0"),
            "{err}"
        );
        // A NUL inside does not help: the last byte must be one.
        let mut a = Vec::new();
        entry_sized(&mut a, false, b"ab\0c", 4, S_IFREG | 0o644, b"x");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(err.contains("\"ab\"") && err.contains("malformed"), "{err}");
        // Symlinks too (do_symlink).
        let mut a = Vec::new();
        entry_sized(&mut a, false, b"ln", 2, S_IFLNK | 0o777, b"t");
        assert!(names(&a).is_err());
    }

    #[test]
    fn entries_the_kernel_skips_are_reported_not_passed() {
        let mut a = Vec::new();
        // namesize 0 and > PATH_MAX: skipped with their data.
        entry_sized(&mut a, false, b"", 0, S_IFREG | 0o644, b"zero");
        let long = vec![b'x'; 4097];
        entry_sized(&mut a, false, &long, 4097, S_IFREG | 0o644, b"long");
        // Exactly PATH_MAX is fine.
        let max = [vec![b'm'; 4095], vec![0]].concat();
        entry_sized(&mut a, false, &max, 4096, S_IFREG | 0o644, b"max");
        // A directory and a device with data; a symlink target > PATH_MAX.
        entry(&mut a, false, "dir", S_IFDIR | 0o755, b"data");
        entry(&mut a, false, "dev", S_IFCHR | 0o600, b"d");
        entry(&mut a, false, "ln", S_IFLNK | 0o777, &[b't'; 4097]);
        entry(&mut a, false, "ln2", S_IFLNK | 0o777, &[b't'; 4096]);
        // Skipped names are not checked: no final NUL here.
        entry_sized(&mut a, false, b"fifo", 4, S_IFIFO | 0o600, b"d");
        entry(&mut a, false, "after", S_IFREG | 0o644, b"ok");
        let got = names(&a).unwrap();
        let shown: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(shown.len(), 9, "{shown:?}");
        assert!(
            shown[0].starts_with("SKIP : its name field is 0 bytes"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("SKIP : its name field is 4097 bytes"),
            "{shown:?}"
        );
        assert_eq!(got[2], ("m".repeat(4095), b"max".to_vec()));
        assert!(
            shown[3].starts_with("SKIP dir: it is not a regular file"),
            "{shown:?}"
        );
        assert!(shown[4].starts_with("SKIP dev:"), "{shown:?}");
        assert!(
            shown[5].starts_with("SKIP ln: its symlink target is 4097"),
            "{shown:?}"
        );
        assert_eq!(got[6], ("ln2".to_string(), vec![b't'; 4096]));
        assert!(shown[7].starts_with("SKIP fifo:"), "{shown:?}");
        assert_eq!(got[8], ("after".to_string(), b"ok".to_vec()));
    }

    #[test]
    fn trailers_are_optional_and_entries_may_follow_them() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        entry(
            &mut a,
            false,
            "TRAILER!!!",
            S_IFREG,
            b"trailer data is skipped",
        );
        entry(&mut a, false, "two", S_IFREG | 0o644, b"2");
        // A symlink named TRAILER!!! is a symlink (do_symlink never looks).
        entry(&mut a, false, "TRAILER!!!", S_IFLNK | 0o777, b"t");
        let got = names(&a).unwrap();
        let shown: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(shown, ["one", "TRAILER", "two", "TRAILER!!!"]);
        // A mode-0 trailer with data is an entry the kernel skips, not a trailer.
        let mut b = Vec::new();
        entry(&mut b, false, "TRAILER!!!", 0, b"x");
        assert!(names(&b).unwrap()[0].0.starts_with("SKIP TRAILER!!!"));
    }

    #[test]
    fn zeros_between_entries_and_alignment() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        a.extend_from_slice(&[0u8; 12]);
        entry(&mut a, false, "two", S_IFREG | 0o644, b"2");
        assert_eq!(names(&a).unwrap().len(), 2);
        // Three zeros put the next header off the 4-byte grid.
        let mut b = Vec::new();
        entry(&mut b, false, "one", S_IFREG | 0o644, b"1");
        let at = b.len() + 3;
        b.extend_from_slice(&[0u8; 3]);
        entry(&mut b, false, "two", S_IFREG | 0o644, b"2");
        let err = format!("{:#}", names(&b).unwrap_err());
        assert!(
            err.contains("broken padding") && err.contains(&format!("byte {at}")),
            "{err}"
        );
    }

    #[test]
    fn what_ends_a_run() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        let at = a.len();
        a.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
        // Raw: a non-`0` byte hands over to the segment reader.
        let mut src = Source::new(&a[..]);
        let n = read_run(&mut src, &Plain, Stream::Raw, &mut Collect::default()).unwrap();
        assert_eq!((n, src.pos()), (1, at as u64));
        // Decompressed: the same byte is junk.
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(
            err.contains("junk") && err.contains(&format!("byte {at}")),
            "{err}"
        );
    }

    #[test]
    fn missing_final_padding_only_in_raw_runs() {
        let mut a = Vec::new();
        entry(&mut a, false, "f", S_IFREG | 0o644, b"x");
        entry(&mut a, false, "TRAILER!!!", 0, b"");
        a.truncate(a.len() - 1); // 110 + 11 = 121: 3 padding bytes, drop one
        assert_eq!(run(&a, Stream::Raw).unwrap().len(), 2);
        assert!(run(&a, Stream::Decompressed).is_err());
    }

    #[test]
    fn header_fields_are_strict_hex() {
        let mut a = Vec::new();
        entry(&mut a, false, "f", S_IFREG | 0o644, b"x");
        // `+0000001` for the inode: from_str_radix would take it.
        a[6..14].copy_from_slice(b"+0000001");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(err.contains("field 0 is not 8 hex digits"), "{err}");
        let mut b = Vec::new();
        entry(&mut b, false, "f", S_IFREG | 0o644, b"x");
        b[6..14].copy_from_slice(b"0x000001");
        assert!(names(&b).is_err());
        // Upper case, as dracut-cpio writes, is fine.
        let mut c = Vec::new();
        entry(&mut c, false, "f", S_IFREG | 0o644, b"x");
        c[14..22].copy_from_slice(b"000081A4");
        assert_eq!(names(&c).unwrap()[0].0, "f");
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
        // newc and crc entries mix; newc's check field is not looked at.
        let mut b = Vec::new();
        entry(&mut b, true, "c", S_IFREG | 0o644, b"abc");
        let second = b.len();
        entry(&mut b, false, "n", S_IFREG | 0o644, b"abc");
        b[second + 102..second + 110].copy_from_slice(b"12345678");
        assert_eq!(names(&b).unwrap().len(), 2);
    }

    #[test]
    fn truncation_names_entry_and_offset() {
        let mut a = Vec::new();
        entry(&mut a, false, "one", S_IFREG | 0o644, b"1");
        let second = a.len();
        entry(&mut a, false, "big", S_IFREG | 0o644, &[7u8; 1000]);
        a.truncate(second + 200);
        for stream in [Stream::Raw, Stream::Decompressed] {
            let err = format!("{:#}", run(&a, stream).unwrap_err());
            assert!(
                err.contains("\"big\"") && err.contains(&format!("byte {second}")),
                "{err}"
            );
            assert!(err.contains("truncated"), "{err}");
        }
    }

    #[test]
    fn bad_magic() {
        let err = format!("{:#}", names(b"0x").unwrap_err());
        assert!(err.contains("truncated cpio header"), "{err}");
        let mut a = vec![b'0'; 200];
        a[..6].copy_from_slice(b"070707");
        let err = format!("{:#}", names(&a).unwrap_err());
        assert!(err.contains("070707") && err.contains("-H newc"), "{err}");
        let err = format!("{:#}", names(&[b'0'; 200]).unwrap_err());
        assert!(err.contains("bad cpio magic"), "{err}");
    }
}
