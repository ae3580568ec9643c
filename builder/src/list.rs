//! Listing an initramfs like `lsinitrd`: segments, then entries.

use std::fmt::Write as _;
use std::io::Read;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cpio::{self, Header};
use crate::initramfs::{self, Segment, Visit, Where};
use crate::warnings::Warnings;

/// Longest symlink target read (`PATH_MAX`; the reader skips longer ones).
const MAX_TARGET: u64 = cpio::PATH_MAX as u64;

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Index of the segment holding it.
    pub segment: usize,
    /// Name as the kernel reads it: up to the first NUL (lossy UTF-8).
    pub name: String,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Data size in bytes.
    pub size: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// Symlink target (up to its first NUL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Device number (major, minor) of device nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdev: Option<(u32, u32)>,
}

/// A whole listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The segments, in file order.
    pub segments: Vec<Segment>,
    /// The entries the kernel would unpack, in file order.
    pub entries: Vec<Listed>,
    /// One message per entry the kernel would skip (bounded).
    pub warnings: Vec<String>,
}

/// Collects the listing while [`initramfs::walk`] reads.
#[derive(Debug, Default)]
struct Lister {
    entries: Vec<Listed>,
    warnings: Warnings,
}

impl Visit for Lister {
    fn entry(&mut self, at: Where, h: &Header, data: &mut dyn Read) -> Result<()> {
        let ftype = h.file_type();
        let target = if ftype == cpio::S_IFLNK {
            let mut t = Vec::new();
            data.take(MAX_TARGET)
                .read_to_end(&mut t)
                .context("cannot read the symlink target")?;
            // The kernel's target ends at the first NUL.
            let end = t.iter().position(|&b| b == 0).unwrap_or(t.len());
            Some(String::from_utf8_lossy(&t[..end]).into_owned())
        } else {
            None
        };
        let rdev =
            matches!(ftype, cpio::S_IFCHR | cpio::S_IFBLK).then_some((h.rdev_major, h.rdev_minor));
        self.entries.push(Listed {
            segment: at.segment,
            name: h.name_lossy(),
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            nlink: h.nlink,
            size: h.filesize,
            mtime: h.mtime,
            target,
            rdev,
        });
        Ok(())
    }

    fn skipped(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// Lists the initramfs read from `input` (streaming; memory grows with the
/// number of entries, not their data): the entries the kernel would unpack,
/// and a warning for each it would skip. Errors: see [`initramfs::walk`].
pub fn list<R: Read + Send>(input: R) -> Result<Listing> {
    let mut lister = Lister::default();
    let segments = initramfs::walk(input, &mut lister)?;
    Ok(Listing {
        segments,
        entries: lister.entries,
        warnings: lister.warnings.lines(),
    })
}

/// `ls -l` style mode string: `drwxr-xr-x`, `-rwsr-xr-x`, `crw-------`.
pub fn mode_string(mode: u32) -> String {
    let t = match mode & cpio::S_IFMT {
        cpio::S_IFDIR => 'd',
        cpio::S_IFLNK => 'l',
        cpio::S_IFCHR => 'c',
        cpio::S_IFBLK => 'b',
        cpio::S_IFIFO => 'p',
        cpio::S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::from(t);
    for (shift, special, set, unset) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => set,
            (true, false) => unset,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Renders a listing as text: one line per segment, then one per entry
/// (`MODE NLINK UID GID SIZE NAME[ -> TARGET]`).
pub fn render_text(l: &Listing) -> String {
    let mut out = String::new();
    for s in &l.segments {
        let _ = writeln!(
            out,
            "segment {}: {} at byte {}, {} bytes in the file, {} bytes of cpio, {} archive(s), {} entries",
            s.index, s.format, s.offset, s.compressed_bytes, s.uncompressed_bytes, s.archives, s.entries
        );
    }
    for e in &l.entries {
        let size = match e.rdev {
            Some((ma, mi)) => format!("{ma}, {mi}"),
            None => e.size.to_string(),
        };
        let _ = write!(
            out,
            "{} {:>3} {:>5} {:>5} {:>10} {}",
            mode_string(e.mode),
            e.nlink,
            e.uid,
            e.gid,
            size,
            e.name
        );
        if let Some(t) = &e.target {
            let _ = write!(out, " -> {t}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o020600), "crw-------");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
    }
}
