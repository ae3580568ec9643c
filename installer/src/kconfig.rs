//! Kernel config (`.config` format) parsing and what it says about
//! initoverlayfs' needs: erofs (and which decompressors), overlayfs, loop,
//! and the boot filesystem's driver.

use std::collections::HashMap;

use initoverlayfs::config::Algorithm;
use serde::Serialize;

/// A parsed kernel config: symbol (without `CONFIG_`) → value (`y`, `m`,
/// a number or a string without quotes). `# CONFIG_X is not set` gives `n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelConfig {
    values: HashMap<String, String>,
}

impl KernelConfig {
    /// Parses config text. Unrecognised lines are ignored (kernel configs
    /// carry free-form comments), so this never fails.
    pub fn parse(text: &str) -> KernelConfig {
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# CONFIG_") {
                if let Some(sym) = rest.strip_suffix(" is not set") {
                    values.insert(sym.to_string(), "n".to_string());
                }
            } else if let Some(rest) = line.strip_prefix("CONFIG_") {
                if let Some((k, v)) = rest.split_once('=') {
                    values.insert(k.to_string(), v.trim_matches('"').to_string());
                }
            }
        }
        KernelConfig { values }
    }

    /// The value of `CONFIG_<sym>` (`sym` given without the prefix).
    pub fn get(&self, sym: &str) -> Option<&str> {
        self.values.get(sym).map(String::as_str)
    }

    /// Whether the symbol is `y`.
    pub fn is_builtin(&self, sym: &str) -> bool {
        self.get(sym) == Some("y")
    }

    /// Whether the symbol is `y` or `m`.
    pub fn is_enabled(&self, sym: &str) -> bool {
        matches!(self.get(sym), Some("y" | "m"))
    }

    /// The erofs algorithms the kernel can decompress, per its config
    /// (`none` is always included when erofs itself is enabled).
    pub fn erofs_algorithms(&self) -> Vec<Algorithm> {
        if !self.is_enabled("EROFS_FS") {
            return Vec::new();
        }
        let mut v = vec![Algorithm::None];
        if self.is_builtin("EROFS_FS_ZIP") {
            v.extend([Algorithm::Lz4, Algorithm::Lz4hc]);
        }
        for (sym, alg) in [
            ("EROFS_FS_ZIP_LZMA", Algorithm::Lzma),
            ("EROFS_FS_ZIP_DEFLATE", Algorithm::Deflate),
            ("EROFS_FS_ZIP_ZSTD", Algorithm::Zstd),
        ] {
            if self.is_builtin(sym) {
                v.push(alg);
            }
        }
        v
    }
}

/// How a kernel feature is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    /// Built into the kernel (`=y`).
    Builtin,
    /// A module (`=m`) whose `.ko` is present under the kernel's modules.
    Module,
    /// Not enabled, or `=m` with the `.ko` missing.
    Missing,
    /// No kernel config was found; not known.
    Unknown,
}

impl Availability {
    /// The JSON/table spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Builtin => "builtin",
            Availability::Module => "module",
            Availability::Missing => "missing",
            Availability::Unknown => "unknown",
        }
    }

    /// Whether the feature can be used at boot.
    pub fn usable(self) -> bool {
        matches!(self, Availability::Builtin | Availability::Module)
    }
}

/// The config symbol and module name of a filesystem type, for the boot
/// filesystem check. `None` for types we know nothing about.
pub fn fs_symbol(fstype: &str) -> Option<(&'static str, &'static str)> {
    Some(match fstype {
        "ext4" | "ext3" | "ext2" => ("EXT4_FS", "ext4"),
        "xfs" => ("XFS_FS", "xfs"),
        "vfat" | "fat" | "msdos" => ("VFAT_FS", "vfat"),
        "btrfs" => ("BTRFS_FS", "btrfs"),
        "erofs" => ("EROFS_FS", "erofs"),
        "overlay" => ("OVERLAY_FS", "overlay"),
        "loop" => ("BLK_DEV_LOOP", "loop"),
        _ => return None,
    })
}

/// The module names listed in a `modules.dep` text (`kernel/fs/erofs/erofs.ko.xz: …` → `erofs`).
pub fn modules_in_dep(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':').map(|(p, _)| p))
        .filter_map(|p| p.rsplit('/').next())
        .filter_map(|f| f.split(".ko").next())
        .map(|m| m.replace('-', "_"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_symbols() {
        let c = KernelConfig::parse(
            "#\n# Automatically generated file\nCONFIG_EROFS_FS=m\nCONFIG_EROFS_FS_ZIP=y\n\
             # CONFIG_EROFS_FS_ZIP_LZMA is not set\nCONFIG_LOCALVERSION=\"\"\nCONFIG_OVERLAY_FS=y\n",
        );
        assert_eq!(c.get("EROFS_FS"), Some("m"));
        assert_eq!(c.get("EROFS_FS_ZIP_LZMA"), Some("n"));
        assert_eq!(c.get("LOCALVERSION"), Some(""));
        assert!(c.is_enabled("EROFS_FS"));
        assert!(!c.is_builtin("EROFS_FS"));
        assert_eq!(
            c.erofs_algorithms(),
            vec![Algorithm::None, Algorithm::Lz4, Algorithm::Lz4hc]
        );
    }

    #[test]
    fn no_erofs_no_algorithms() {
        let c = KernelConfig::parse("# CONFIG_EROFS_FS is not set\nCONFIG_EROFS_FS_ZIP=y\n");
        assert!(c.erofs_algorithms().is_empty());
    }

    #[test]
    fn modules_dep_names() {
        let m = modules_in_dep(
            "kernel/fs/erofs/erofs.ko.xz: kernel/lib/lz4/lz4_decompress.ko.xz\nkernel/drivers/block/loop.ko.zst:\n",
        );
        assert_eq!(m, vec!["erofs", "loop"]);
    }
}
