//! How much of an extracted initramfs tree compresses at all, sampled with
//! LZ4, and the image compression that follows from it.
//!
//! mkfs.erofs runs its compressor over every block and stores a block raw
//! only afterwards, when compression did not save space. LZ4HC is slow on
//! data that does not shrink: with erofs-utils 1.5 (Debian 12), 128 MiB of
//! random bytes take about 50 s with `-zlz4hc` and 2 s with `-zlz4`, and
//! firmware blobs, compressed modules and payloads the user adds behave the
//! same. Both produce the same LZ4 format, so the boot reads either at the
//! same speed: when most bytes do not compress, [`choose`] trades LZ4HC's
//! few percent of size on the rest for a build as fast as dracut's.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result};
use initoverlayfs::config::{Algorithm, Compression};

/// Bytes sampled per chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks sampled per file at most (spread evenly over the file).
const CHUNKS_PER_FILE: u64 = 4;
/// A chunk that LZ4 shrinks by less than this fraction counts as
/// incompressible (erofs stores such a pcluster raw anyway).
const MIN_SAVING: f64 = 0.10;
/// The share of incompressible bytes from which LZ4HC is not worth it.
pub const LZ4HC_LIMIT: f64 = 0.5;
/// Below this many incompressible bytes LZ4HC costs seconds at most: the
/// requested compression stays (16 MiB).
pub const MIN_INCOMPRESSIBLE_BYTES: u64 = 16 << 20;

/// What [`sample`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Bytes in regular files.
    pub total: u64,
    /// Of those, bytes estimated not to compress (extrapolated per file
    /// from its sampled chunks).
    pub incompressible: u64,
}

impl Sample {
    /// `incompressible / total`, 0 for an empty tree.
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.incompressible as f64 / self.total as f64
        }
    }
}

/// Samples every regular file below `tree` (symlinks not followed): up to
/// [`CHUNKS_PER_FILE`] chunks of 64 KiB each, compressed with fast LZ4.
///
/// Errors: a directory or file that cannot be read (the path is named).
pub fn sample(tree: &Path) -> Result<Sample> {
    let mut s = Sample::default();
    let mut stack = vec![tree.to_path_buf()];
    let mut buf = vec![0u8; CHUNK];
    while let Some(dir) = stack.pop() {
        let rd =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let path = e.path();
                let (len, share) = sample_file(&path, &mut buf)
                    .with_context(|| format!("cannot sample {}", path.display()))?;
                s.total += len;
                s.incompressible += (len as f64 * share) as u64;
            }
        }
    }
    Ok(s)
}

/// The length of the file at `path` and the share of its sampled chunks
/// that do not compress.
fn sample_file(path: &Path, buf: &mut [u8]) -> Result<(u64, f64)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((0, 0.0));
    }
    let chunks = len.div_ceil(CHUNK as u64).min(CHUNKS_PER_FILE);
    let stride = len / chunks;
    let mut bad = 0;
    for i in 0..chunks {
        f.seek(SeekFrom::Start(i * stride))?;
        let n = read_up_to(&mut f, buf)?;
        if n == 0 {
            continue;
        }
        let packed = lz4::block::compress(&buf[..n], None, false)?;
        if packed.len() as f64 > n as f64 * (1.0 - MIN_SAVING) {
            bad += 1;
        }
    }
    Ok((len, bad as f64 / chunks as f64))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The compression to build with: `wanted`, except LZ4HC becomes LZ4 when
/// at least [`LZ4HC_LIMIT`] of the bytes, and [`MIN_INCOMPRESSIBLE_BYTES`]
/// or more, do not compress. The second value says why it changed (for the
/// user), `None` when it did not.
pub fn choose(wanted: &Compression, s: &Sample) -> (Compression, Option<String>) {
    if wanted.algorithm == Algorithm::Lz4hc
        && s.share() >= LZ4HC_LIMIT
        && s.incompressible >= MIN_INCOMPRESSIBLE_BYTES
    {
        let why = format!(
            "image compression lz4 instead of {wanted}: {} of {} MiB do not compress \
             (lz4hc would spend minutes on them for the same image; both read alike at boot)",
            s.incompressible >> 20,
            s.total >> 20
        );
        (
            Compression {
                algorithm: Algorithm::Lz4,
                level: None,
            },
            Some(why),
        )
    } else {
        (*wanted, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes that no compressor shrinks (xorshift64*).
    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn random_payload_is_incompressible_and_text_is_not() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("usr/lib/firmware")).unwrap();
        std::fs::write(d.path().join("usr/lib/firmware/blob"), noise(3 << 20)).unwrap();
        std::fs::write(
            d.path().join("etc-text"),
            "ExecStart=/usr/lib/systemd/systemd-udevd\n".repeat(20_000),
        )
        .unwrap();
        std::os::unix::fs::symlink("/usr/lib/firmware/blob", d.path().join("link")).unwrap();
        let s = sample(d.path()).unwrap();
        assert_eq!(s.total, (3 << 20) + 41 * 20_000);
        assert_eq!(s.incompressible, 3 << 20, "{s:?}");

        let lz4hc: Compression = "lz4hc,12".parse().unwrap();
        // 3 MiB that do not compress: lz4hc costs a second, it stays.
        assert_eq!(choose(&lz4hc, &s), (lz4hc, None));
        // A payload of 128 MiB among 130: lz4.
        let payload = Sample {
            total: 130 << 20,
            incompressible: 128 << 20,
        };
        let (c, why) = choose(&lz4hc, &payload);
        assert_eq!(c.algorithm, Algorithm::Lz4);
        assert!(why.unwrap().contains("128 of 130 MiB do not compress"));
        // Mostly text: lz4hc stays; other algorithms are never changed.
        let text = Sample {
            total: 100 << 20,
            incompressible: 40 << 20,
        };
        assert_eq!(choose(&lz4hc, &text), (lz4hc, None));
        let zstd: Compression = "zstd".parse().unwrap();
        assert_eq!(choose(&zstd, &payload), (zstd, None));
        assert_eq!(Sample::default().share(), 0.0);
    }
}
