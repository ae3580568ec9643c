//! Free space on the boot filesystem against what an install writes.

use std::path::Path;

use anyhow::{Context, Result};

/// Bytes available on the filesystem holding `path`
/// (`f_bavail * f_frsize` from statvfs(3); root may use a little more on
/// ext4, which we do not count on).
pub fn available(path: &Path) -> Result<u64> {
    let st =
        rustix::fs::statvfs(path).with_context(|| format!("cannot statvfs {}", path.display()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Estimate of the bytes an install writes to /boot, from the current
/// initramfs size (`current`, compressed): the fallback copy (unless one is
/// already there), the erofs image (a compressed initramfs unpacks to about
/// 3.5x; the image takes that uncompressed, about 1.5x with lz4hc; measured:
/// Debian 12, 38.4 MiB zstd → 130 MiB → 57 MiB lz4hc) and the mini initramfs
/// (about 2/3 of a full one with a non-hostonly dracut, at least 8 MiB).
/// With no current initramfs, a full one is assumed to be 64 MiB.
pub fn estimate(current: Option<u64>, fallback_exists: bool, compressed: bool) -> u64 {
    const MIB: u64 = 1 << 20;
    let full = current.unwrap_or(64 * MIB);
    let image = if compressed {
        full * 3 / 2
    } else {
        full * 7 / 2
    };
    let mini = (full * 2 / 3).max(8 * MIB);
    let fallback = if fallback_exists || current.is_none() {
        0
    } else {
        full
    };
    fallback + image + mini
}

/// Human-readable size (`12.3 MiB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_and_formats() {
        assert_eq!(estimate(Some(60 << 20), false, true), (60 + 90 + 40) << 20);
        assert_eq!(estimate(Some(60 << 20), true, false), (210 + 40) << 20);
        assert_eq!(
            estimate(None, false, true),
            (96 + 42) * (1 << 20) + (2 << 20) / 3
        );
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert!(available(Path::new("/")).unwrap() > 0);
    }
}
