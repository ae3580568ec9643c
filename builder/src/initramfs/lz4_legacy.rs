//! The kernel's legacy lz4 frame (`lz4 -l`): magic `02 21 4c 18`, then blocks
//! of `u32le compressed size` + an lz4 block that decompresses to at most
//! 8 MiB (lib/decompress_unlz4.c). `lz4_flex` rejects blocks whose compressed
//! size exceeds 8 MiB (incompressible data), so blocks go through the C
//! library (`lz4` crate, `LZ4_decompress_safe`).

use std::io::{self, Read};

use crate::initramfs::source::Source;
use crate::initramfs::Format;

/// The legacy frame magic, little endian.
pub const MAGIC: u32 = 0x184c_2102;
/// Uncompressed size of every block but the last.
pub const BLOCK: usize = 8 << 20;
/// Largest compressed block (`LZ4_COMPRESSBOUND(8 MiB)`).
pub const MAX_COMPRESSED: usize = BLOCK + BLOCK / 255 + 16;

/// Streaming decoder of one legacy lz4 stream; reads exactly its bytes from
/// the source. Memory: one 8 MiB output and one compressed block buffer.
#[derive(Debug)]
pub struct Lz4Legacy<'a, R> {
    src: &'a mut Source<R>,
    out: Vec<u8>,
    cbuf: Vec<u8>,
    pos: usize,
    len: usize,
    blocks: u64,
    done: bool,
}

impl<'a, R: Read> Lz4Legacy<'a, R> {
    /// Starts at the magic. Errors: the magic is not there.
    pub fn new(src: &'a mut Source<R>) -> io::Result<Self> {
        let mut magic = [0u8; 4];
        src.read_exact(&mut magic)?;
        if u32::from_le_bytes(magic) != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a legacy lz4 frame",
            ));
        }
        Ok(Lz4Legacy {
            src,
            out: vec![0; BLOCK],
            cbuf: Vec::new(),
            pos: 0,
            len: 0,
            blocks: 0,
            done: false,
        })
    }

    /// Decodes the next block into `out`; sets `done` at the end of the stream.
    fn next_block(&mut self) -> io::Result<()> {
        loop {
            let head = self.src.peek(4)?;
            if head.is_empty() {
                self.done = true;
                return Ok(());
            }
            if head.len() < 4 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "legacy lz4: truncated block size",
                ));
            }
            let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            if size == MAGIC {
                // Concatenated legacy frames continue the same stream.
                self.src.skip(4)?;
                continue;
            }
            // Zero padding, another segment, or a value no block can have:
            // the stream ended before it (as `lz4 -d` and the kernel decide).
            if self.blocks > 0
                && (size == 0 || size as usize > MAX_COMPRESSED || Format::detect(head).is_some())
            {
                self.done = true;
                return Ok(());
            }
            if size == 0 || size as usize > MAX_COMPRESSED {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("legacy lz4: bad block size {size}"),
                ));
            }
            self.src.skip(4)?;
            self.cbuf.resize(size as usize, 0);
            self.src.read_exact(&mut self.cbuf).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("legacy lz4: truncated block of {size} bytes"),
                )
            })?;
            let n = lz4::block::decompress_to_buffer(&self.cbuf, Some(BLOCK as i32), &mut self.out)
                .map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("legacy lz4: {e}"))
                })?;
            self.blocks += 1;
            self.pos = 0;
            self.len = n;
            // Only the last block is short.
            if n < BLOCK {
                self.done = true;
            }
            return Ok(());
        }
    }
}

impl<R: Read> Read for Lz4Legacy<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.len {
            if self.done {
                return Ok(0);
            }
            self.next_block()?;
        }
        let n = (self.len - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
