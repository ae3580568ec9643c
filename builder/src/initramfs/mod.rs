//! Reading an initramfs: the kernel's buffer format, a sequence of segments
//! (uncompressed cpio, or one compressed stream holding cpio archives), with
//! zero padding allowed between them. Formats are detected from magic bytes;
//! what is accepted where follows the kernel (see [`crate::cpio`]).
//!
//! Compressed segments are decoded on a second thread ([`pipe`]), so
//! decompression overlaps parsing and writing. Memory is bounded independent
//! of the archive size: a few 256 KiB buffers, six 1 MiB chunks in flight,
//! the decoders' windows and, for legacy lz4, 16 MiB.

pub mod lz4_legacy;
pub mod pipe;
pub mod source;

use std::fmt;
use std::io::Read;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cpio::{self, Header, Locate, Stream};
use source::Source;

/// The format of one segment, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Uncompressed newc/crc cpio (`0707`).
    Cpio,
    /// gzip (`1f 8b`, or the old `1f 9e`); one member per segment.
    Gzip,
    /// zstd (`28 b5 2f fd`); one frame per segment.
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`); one stream per segment.
    Xz,
    /// lzma-alone (`5d 00 00`).
    Lzma,
    /// bzip2 (`42 5a 68`, "BZh"); one stream per segment.
    Bzip2,
    /// The kernel's legacy lz4 frame (`02 21 4c 18`).
    Lz4Legacy,
    /// The lz4 frame format (`04 22 4d 18`).
    Lz4,
    /// lzop (`89 4c 5a 4f`): detected, not supported.
    Lzo,
}

impl Format {
    /// Detects the format from the first bytes of a segment (up to 6).
    pub fn detect(head: &[u8]) -> Option<Format> {
        let table: [(&[u8], Format); 10] = [
            (b"0707", Format::Cpio),
            (&[0x1f, 0x8b], Format::Gzip),
            (&[0x1f, 0x9e], Format::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
            (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], Format::Xz),
            (&[0x5d, 0x00, 0x00], Format::Lzma),
            (b"BZh", Format::Bzip2),
            (&[0x02, 0x21, 0x4c, 0x18], Format::Lz4Legacy),
            (&[0x04, 0x22, 0x4d, 0x18], Format::Lz4),
            (&[0x89, 0x4c, 0x5a, 0x4f], Format::Lzo),
        ];
        table
            .into_iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map(|(_, f)| f)
    }

    /// Lower-case name (`cpio`, `gzip`, `lz4-legacy`, …).
    pub fn name(self) -> &'static str {
        match self {
            Format::Cpio => "cpio",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Bzip2 => "bzip2",
            Format::Lz4Legacy => "lz4-legacy",
            Format::Lz4 => "lz4",
            Format::Lzo => "lzo",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One segment of an initramfs, as found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// 0-based position in the file.
    pub index: usize,
    /// Byte offset of its first byte in the file.
    pub offset: u64,
    /// Its format.
    pub format: Format,
    /// Bytes it occupies in the file (excluding padding after it).
    pub compressed_bytes: u64,
    /// Bytes of cpio data it holds (equal to `compressed_bytes` for `cpio`).
    pub uncompressed_bytes: u64,
    /// `TRAILER!!!` entries in it (cpio archives it ends).
    pub archives: u64,
    /// Entries in it (without the trailers and skipped entries).
    pub entries: u64,
}

/// Locates positions of an uncompressed segment: file offsets.
struct InFile;
impl Locate for InFile {
    fn describe(&self, pos: u64) -> String {
        format!("byte {pos}")
    }
}

/// Locates positions inside a compressed segment's decompressed stream.
struct InStream {
    format: Format,
    offset: u64,
}
impl Locate for InStream {
    fn describe(&self, pos: u64) -> String {
        format!(
            "byte {pos} of the {} stream at byte {}",
            self.format, self.offset
        )
    }
}

/// Where an entry is. Hardlinks (same inode number) only join entries of
/// the same archive, as in the kernel, which forgets inodes at each
/// `TRAILER!!!` (not at segment boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Where {
    /// Index of the segment.
    pub segment: usize,
    /// How many `TRAILER!!!` entries came before it in the file.
    pub archive: usize,
}

/// What [`walk`] calls: for each entry the kernel would unpack, and with a
/// message for each entry it would skip.
pub trait Visit {
    /// An entry: where it is, its header, a reader of its data (data left
    /// unread is skipped).
    fn entry(&mut self, at: Where, h: &Header, data: &mut dyn Read) -> Result<()>;
    /// An entry the kernel skips whole, described for the user.
    fn skipped(&mut self, message: String);
}

/// Feeds [`cpio::read_run`]'s output to a [`Visit`], counting per segment.
struct Feed<'a> {
    visit: &'a mut dyn Visit,
    at: Where,
    trailers: u64,
}

impl cpio::Sink for Feed<'_> {
    fn entry(&mut self, h: &Header, data: &mut dyn Read) -> Result<()> {
        self.visit.entry(self.at, h, data)
    }
    fn trailer(&mut self) {
        self.at.archive += 1;
        self.trailers += 1;
    }
    fn skipped(&mut self, at: &str, h: &Header, why: &str) {
        self.visit.skipped(format!(
            "skipping the cpio entry {:?} at {at}, as the kernel does: {why}",
            h.name_lossy()
        ));
    }
}

/// Reads a whole initramfs from `input`, streaming, calling `visit` for every
/// entry the kernel would unpack and every entry it would skip, in file
/// order (the rules are in [`crate::cpio`]). Returns the segments found.
///
/// Errors name the byte offset and entry: unknown data where a segment
/// should start, an uncompressed archive at an offset that is not a multiple
/// of 4, an unsupported format (lzo), a corrupt or truncated stream, a
/// corrupt cpio archive, or the visitor's error.
pub fn walk<R: Read + Send>(input: R, visit: &mut dyn Visit) -> Result<Vec<Segment>> {
    let mut src = Source::new(input);
    let mut segments: Vec<Segment> = Vec::new();
    let mut archive = 0usize;
    loop {
        src.skip_zeros().context("cannot read the initramfs")?;
        let offset = src.pos();
        let head = src.peek(6).context("cannot read the initramfs")?;
        let Some(&first) = head.first() else {
            break;
        };
        let format = if first == b'0' {
            if offset & 3 != 0 {
                bail!(
                    "uncompressed cpio data at byte {offset} does not start at a multiple of 4 bytes; \
                     the kernel refuses it there (after a compressed stream, pad with zero bytes \
                     to a multiple of 4)"
                );
            }
            Format::Cpio
        } else {
            match Format::detect(head) {
                Some(f) if f != Format::Cpio => f,
                _ => bail!(
                    "unknown data at byte {offset} (starts with {:02x?}): not a cpio archive nor a known compression",
                    head
                ),
            }
        };
        let index = segments.len();
        let fresh = segments.is_empty();
        let mut feed = Feed {
            visit: &mut *visit,
            at: Where {
                segment: index,
                archive,
            },
            trailers: 0,
        };
        let mut seg = Segment {
            index,
            offset,
            format,
            compressed_bytes: 0,
            uncompressed_bytes: 0,
            archives: 0,
            entries: 0,
        };
        if format == Format::Cpio {
            seg.entries = cpio::read_run(&mut src, &InFile, Stream::Raw, &mut feed)?;
            seg.uncompressed_bytes = src.pos() - offset;
        } else {
            let loc = InStream { format, offset };
            let decoder = decoder(format, &mut src)
                .with_context(|| format!("{format} segment at byte {offset}"))?;
            std::thread::scope(|scope| -> Result<()> {
                let (chunks, _decoding) = pipe::spawn(scope, decoder);
                let mut inner = Source::new(chunks);
                if fresh {
                    // Nothing before it: the kernel's state machine is at
                    // `Start` and takes the first bytes as a header.
                    let head = inner
                        .peek(1)
                        .with_context(|| format!("corrupt {format} segment at byte {offset}"))?;
                    match head.first() {
                        None => bail!(
                            "the {format} segment at byte {offset} holds no cpio entry (the kernel refuses \
                             an empty first stream)"
                        ),
                        Some(&b) if b != b'0' => bail!(
                            "{}: not a cpio header (starts with {b:#04x}); the first stream of an initramfs \
                             must start with one",
                            loc.describe(0)
                        ),
                        Some(_) => {}
                    }
                }
                seg.entries = cpio::read_run(&mut inner, &loc, Stream::Decompressed, &mut feed)?;
                seg.uncompressed_bytes = inner.pos();
                Ok(())
            })?;
        }
        seg.archives = feed.trailers;
        archive = feed.at.archive;
        seg.compressed_bytes = src.pos() - offset;
        segments.push(seg);
    }
    if segments.is_empty() {
        bail!("empty initramfs: no cpio archive found");
    }
    Ok(segments)
}

/// A decoder for exactly one compressed stream of `format` starting at the
/// current position of `src`, consuming exactly that stream's bytes.
fn decoder<'a, R: Read + Send>(
    format: Format,
    src: &'a mut Source<R>,
) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(match format {
        Format::Cpio => unreachable!("uncompressed segments are read directly"),
        Format::Gzip => Box::new(flate2::bufread::GzDecoder::new(src)),
        Format::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(src)
                .context("cannot start the zstd decoder")?
                .single_frame(),
        ),
        Format::Xz => Box::new(liblzma::bufread::XzDecoder::new(src)),
        Format::Lzma => {
            let stream = liblzma::stream::Stream::new_lzma_decoder(u64::MAX)
                .context("cannot start the lzma decoder")?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(src, stream))
        }
        Format::Bzip2 => Box::new(bzip2::bufread::BzDecoder::new(src)),
        Format::Lz4Legacy => Box::new(lz4_legacy::Lz4Legacy::new(src)?),
        Format::Lz4 => Box::new(lz4::Decoder::new(src).context("cannot start the lz4 decoder")?),
        Format::Lzo => bail!(
            "lzo compression is not supported (no maintained Rust lzo decoder); \
             rebuild the initramfs with gzip, zstd, xz, lzma, bzip2 or lz4"
        ),
    })
}
