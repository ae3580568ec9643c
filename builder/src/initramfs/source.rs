//! A buffered reader that counts the bytes consumed and can peek ahead.

use std::io::{self, BufRead, Read};

/// Buffer size of a [`Source`]: large enough for fast bulk copies.
pub const BUF_SIZE: usize = 256 * 1024;

/// Buffered [`Read`] + [`BufRead`] over `R` that knows its position (bytes
/// consumed since creation) and can [`Source::peek`] a few bytes across
/// buffer refills. Memory: one [`BUF_SIZE`] buffer.
#[derive(Debug)]
pub struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    pos: u64,
}

impl<R: Read> Source<R> {
    /// Wraps `inner`; position 0 is its current position.
    pub fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            pos: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Up to `n` (≤ 64) bytes ahead without consuming them; fewer only at EOF.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        debug_assert!(n <= 64);
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                let got = read_retry(&mut self.inner, &mut self.buf[self.end..])?;
                if got == 0 {
                    break;
                }
                self.end += got;
            }
        }
        let avail = (self.end - self.start).min(n);
        Ok(&self.buf[self.start..self.start + avail])
    }

    /// Consumes zero bytes (padding between archives); returns how many.
    pub fn skip_zeros(&mut self) -> io::Result<u64> {
        let mut skipped = 0u64;
        loop {
            let buf = self.fill_buf()?;
            if buf.is_empty() {
                return Ok(skipped);
            }
            let zeros = buf.iter().position(|&b| b != 0).unwrap_or(buf.len());
            let done = zeros < buf.len();
            self.consume(zeros);
            skipped += zeros as u64;
            if done {
                return Ok(skipped);
            }
        }
    }

    /// Consumes exactly `n` bytes; errors with `UnexpectedEof` if the input ends.
    pub fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let buf = self.fill_buf()?;
            if buf.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let k = (buf.len() as u64).min(n) as usize;
            self.consume(k);
            n -= k as u64;
        }
        Ok(())
    }
}

fn read_retry<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && out.len() >= self.buf.len() {
            let n = read_retry(&mut self.inner, out)?;
            self.pos += n as u64;
            return Ok(n);
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = read_retry(&mut self.inner, &mut self.buf)?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.end - self.start);
        self.start += amt;
        self.pos += amt as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader returning one byte per call, to exercise refills.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn peek_skip_and_position() {
        let mut s = Source::new(Trickle(b"\0\0\0abcdef"));
        assert_eq!(s.skip_zeros().unwrap(), 3);
        assert_eq!(s.pos(), 3);
        assert_eq!(s.peek(4).unwrap(), b"abcd");
        s.skip(2).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"cdef");
        assert_eq!(s.pos(), 9);
        assert_eq!(s.peek(4).unwrap(), b"");
        assert!(s.skip(1).is_err());
    }
}
