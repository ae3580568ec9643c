//! Runs a decoder on its own thread and hands its output over in chunks
//! through a bounded channel, so decompression overlaps the parsing and
//! file writing of the caller (`skipcpio | zcat | cpio` gets the same
//! overlap from its processes). Memory: at most [`DEPTH`] + 2 chunks.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

/// Bytes per chunk.
pub const CHUNK: usize = 1 << 20;
/// Chunks in flight between the threads.
pub const DEPTH: usize = 4;

/// Reads what the decoder thread sends; EOF when it is done.
#[derive(Debug)]
pub struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The sender is gone: the stream ended.
                Err(_) => return Ok(0),
            }
        }
        let n = (self.cur.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Fills chunks from `decoder` and sends them until EOF, an error (sent on)
/// or the reader going away.
fn pump(mut decoder: impl Read, tx: SyncSender<io::Result<Vec<u8>>>) {
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut len = 0;
        while len < CHUNK {
            match decoder.read(&mut chunk[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if len > 0 {
                        chunk.truncate(len);
                        let _ = tx.send(Ok(chunk));
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if len == 0 {
            return;
        }
        chunk.truncate(len);
        let last = len < CHUNK;
        if tx.send(Ok(chunk)).is_err() || last {
            return;
        }
    }
}

/// Starts `decoder` on a thread of `scope`; returns the reader of its output.
pub fn spawn<'scope, 'env, D: Read + Send + 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    decoder: D,
) -> (ChunkReader, ScopedJoinHandle<'scope, ()>) {
    let (tx, rx) = sync_channel(DEPTH);
    let handle = scope.spawn(move || pump(decoder, tx));
    (
        ChunkReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
        handle,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"));
            }
            let n = self.0.min(out.len()).min(1000);
            out[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn passes_data_and_errors_through() {
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| i as u8).collect();
        std::thread::scope(|s| {
            let (mut r, _) = spawn(s, &data[..]);
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert_eq!(got, data);
        });
        std::thread::scope(|s| {
            let (mut r, _) = spawn(s, Failing(2500));
            let mut got = Vec::new();
            let err = r.read_to_end(&mut got).unwrap_err();
            assert_eq!(err.to_string(), "corrupt");
            assert_eq!(got.len(), 2500);
        });
    }

    #[test]
    fn reader_going_away_stops_the_thread() {
        let data = vec![1u8; 20 * CHUNK];
        std::thread::scope(|s| {
            let (mut r, handle) = spawn(s, &data[..]);
            let mut first = [0u8; 10];
            r.read_exact(&mut first).unwrap();
            drop(r);
            handle.join().unwrap();
        });
    }
}
