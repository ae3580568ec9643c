//! The benchmark's payload: incompressible files that nothing reads during
//! boot, added to the initrd content (`dracut --include`).
//!
//! Bytes come from splitmix64 (a fixed seed per file): gzip, zstd and lz4
//! cannot shrink them, and the same payload size always gives the same
//! bytes, so every variant carries identical content.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// One payload file's size, MiB.
pub const FILE_MIB: u64 = 4;
/// Where the payload lives in the guest's real root (host builds read it
/// from there).
pub const GUEST_DIR: &str = "var/lib/bench-payload";
/// Where it lands inside the initrd content.
pub const INITRD_DIR: &str = "/bench-payload";

const MIB: u64 = 1024 * 1024;

/// splitmix64: a 64-bit generator whose output passes BigCrush; used here
/// only because compressors find nothing in it.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `buf` (its length a multiple of 8).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
    }
}

/// Writes `mib` MiB of payload into `dir` (created) as files of
/// [`FILE_MIB`] MiB (the last one smaller), `blob-NNNN.bin`. Returns the
/// bytes written. `mib == 0` creates nothing.
///
/// Errors: the directory or a file cannot be written.
pub fn write(dir: &Path, mib: u64) -> Result<u64> {
    if mib == 0 {
        return Ok(0);
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut left = mib * MIB;
    let mut buf = vec![0u8; MIB as usize];
    let mut i = 0u64;
    while left > 0 {
        let size = left.min(FILE_MIB * MIB);
        let path = dir.join(format!("blob-{i:04}.bin"));
        let f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = BufWriter::new(f);
        let mut rng = SplitMix64::new(0x1217_u64.wrapping_add(i));
        let mut todo = size;
        while todo > 0 {
            let n = todo.min(MIB) as usize;
            rng.fill(&mut buf[..n]);
            w.write_all(&buf[..n])
                .with_context(|| format!("cannot write {}", path.display()))?;
            todo -= n as u64;
        }
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= size;
        i += 1;
    }
    Ok(mib * MIB)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn writes_exact_size_in_distinct_files() {
        let dir = std::env::temp_dir().join(format!("bench-payload-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(write(&dir, 0).unwrap(), 0);
        assert!(!dir.exists());
        assert_eq!(write(&dir, 9).unwrap(), 9 * MIB);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["blob-0000.bin", "blob-0001.bin", "blob-0002.bin"]);
        let a = fs::read(dir.join("blob-0000.bin")).unwrap();
        let b = fs::read(dir.join("blob-0001.bin")).unwrap();
        assert_eq!(a.len() as u64, 4 * MIB);
        assert_eq!(fs::metadata(dir.join("blob-0002.bin")).unwrap().len(), MIB);
        assert_ne!(a[..4096], b[..4096]);
        // Incompressible: gzip output is not smaller than 99 % of the input.
        let out = Command::new("gzip")
            .args(["-c", "-6"])
            .arg(dir.join("blob-0002.bin"))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            out.stdout.len() as u64 > MIB * 99 / 100,
            "{}",
            out.stdout.len()
        );
        // Deterministic.
        let dir2 = dir.with_extension("again");
        write(&dir2, 4).unwrap();
        assert_eq!(fs::read(dir2.join("blob-0000.bin")).unwrap(), a);
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&dir2).unwrap();
    }
}
