//! The erofs compression choice: what both the kernel and mkfs.erofs support.

use anyhow::{bail, Result};
use initoverlayfs::config::{Algorithm, Compression};

/// Preference order when the user chose nothing.
pub const PREFERENCE: [Algorithm; 3] = [Algorithm::Lz4hc, Algorithm::Lz4, Algorithm::None];

/// Chooses the compression: `wanted` if both `kernel` and `mkfs` support
/// it, else the first of lz4hc > lz4 > none that both support. `none` needs
/// no decompressor and is always possible.
///
/// Errors: `wanted` is not supported by one of them (the message says which,
/// and what is supported).
pub fn choose(
    wanted: Option<Compression>,
    kernel: &[Algorithm],
    mkfs: &[Algorithm],
    kernel_name: &str,
) -> Result<Compression> {
    let ok_kernel = |a: Algorithm| a == Algorithm::None || kernel.contains(&a);
    let ok_mkfs = |a: Algorithm| a == Algorithm::None || mkfs.contains(&a);
    let list = |v: &[Algorithm]| {
        let mut s: Vec<&str> = v.iter().map(|a| a.as_str()).collect();
        if !s.contains(&"none") {
            s.insert(0, "none");
        }
        s.join(", ")
    };
    if let Some(w) = wanted {
        if !ok_kernel(w.algorithm) {
            bail!(
                "compression {w}: {kernel_name} cannot decompress it (it supports: {})",
                list(kernel)
            );
        }
        if !ok_mkfs(w.algorithm) {
            bail!(
                "compression {w}: mkfs.erofs does not offer it (it supports: {})",
                list(mkfs)
            );
        }
        return Ok(w);
    }
    let algorithm = PREFERENCE
        .into_iter()
        .find(|a| ok_kernel(*a) && ok_mkfs(*a))
        .unwrap_or(Algorithm::None);
    Ok(Compression {
        algorithm,
        level: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::*;

    #[test]
    fn picks_best_common() {
        let c = choose(
            Option::None,
            &[None, Lz4, Lz4hc, Lzma],
            &[None, Lz4, Lz4hc],
            "k",
        )
        .unwrap();
        assert_eq!(c.algorithm, Lz4hc);
        let c = choose(Option::None, &[None], &[None, Lz4, Lz4hc], "k").unwrap();
        assert_eq!(c.algorithm, None);
        let c = choose(Option::None, &[None, Lz4], &[None, Lz4], "k").unwrap();
        assert_eq!(c.algorithm, Lz4);
    }

    #[test]
    fn users_choice_is_checked() {
        let w = "lzma,6".parse().ok();
        let err = format!(
            "{:#}",
            choose(w, &[None, Lz4], &[None, Lz4, Lzma], "kernel 6.1").unwrap_err()
        );
        assert!(err.contains("kernel 6.1 cannot decompress it"), "{err}");
        assert!(err.contains("none, lz4"), "{err}");
        let err = format!(
            "{:#}",
            choose(w, &[None, Lzma], &[None, Lz4], "k").unwrap_err()
        );
        assert!(err.contains("mkfs.erofs does not offer it"), "{err}");
        let c = choose(w, &[Lzma], &[Lzma], "k").unwrap();
        assert_eq!(c.to_string(), "lzma,6");
        assert_eq!(
            choose("none".parse().ok(), &[], &[], "k")
                .unwrap()
                .algorithm,
            None
        );
    }
}
