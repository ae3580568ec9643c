//! What the kernel of KVER supports, from its config: erofs and its
//! decompressors, overlayfs, loop, the boot filesystem's driver. Falls back
//! to a guess from os-release when no config exists, and says so.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use initoverlayfs::config::Algorithm;
use serde::Serialize;

use crate::kconfig::{fs_symbol, modules_in_dep, Availability, KernelConfig};
use crate::osrelease::OsRelease;
use crate::target::Target;

/// The kernel support initoverlayfs needs, as reported by `--check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelSupport {
    /// The config file read (target path, or `/proc/config.gz`); None when
    /// the support was guessed.
    pub config: Option<String>,
    /// erofs.
    pub erofs: Availability,
    /// Algorithms the kernel's erofs decompresses (`none` omitted).
    #[serde(serialize_with = "ser_algs")]
    pub compression: Vec<Algorithm>,
    /// overlayfs.
    pub overlay: Availability,
    /// The loop block device.
    #[serde(rename = "loop")]
    pub loop_dev: Availability,
    /// The boot filesystem's driver (fstype, availability).
    #[serde(skip)]
    pub bootfs: Option<(String, Availability)>,
    /// How the answer was reached when it is a guess (no config found).
    #[serde(skip)]
    pub guess: Option<String>,
}

fn ser_algs<S: serde::Serializer>(v: &[Algorithm], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        v.iter()
            .filter(|a| **a != Algorithm::None)
            .map(|a| a.as_str()),
    )
}

impl KernelSupport {
    /// Whether the kernel can decompress `alg` (`none` needs erofs only; an
    /// unknown erofs, i.e. a guess, counts as present).
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.erofs != Availability::Missing
            && (alg == Algorithm::None || self.compression.contains(&alg))
    }
}

/// Finds the kernel config of `kver`: `/boot/config-KVER`,
/// `/usr/lib/modules/KVER/config`, then `/proc/config.gz` when `kver` is the
/// running kernel of a live target. Returns (name, text).
pub fn find_config(target: &Target, kver: &str) -> Result<Option<(String, String)>> {
    for p in [
        format!("/boot/config-{kver}"),
        format!("/usr/lib/modules/{kver}/config"),
        format!("/lib/modules/{kver}/config"),
    ] {
        if let Some(text) = target.read_opt(&p)? {
            return Ok(Some((p, text)));
        }
    }
    if target.live && crate::kver::running() == kver {
        let gz = PathBuf::from("/proc/config.gz");
        if let Ok(f) = std::fs::File::open(&gz) {
            let mut text = String::new();
            flate2::read::GzDecoder::new(f)
                .read_to_string(&mut text)
                .context("cannot decompress /proc/config.gz")?;
            return Ok(Some(("/proc/config.gz".into(), text)));
        }
    }
    Ok(None)
}

/// The modules present for `kver` (from `modules.dep`, else by walking
/// `/usr/lib/modules/KVER/kernel` for `*.ko*`).
fn present_modules(target: &Target, kver: &str) -> Result<Vec<String>> {
    let base = format!("/usr/lib/modules/{kver}");
    if let Some(dep) = target.read_opt(&format!("{base}/modules.dep"))? {
        return Ok(modules_in_dep(&dep));
    }
    let mut out = Vec::new();
    let mut stack = vec![target.path(format!("{base}/kernel"))?];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            // Not through symlinks: the host would follow them with its own
            // meaning (an absolute one names the build host's modules).
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                if let Some((m, _)) = name.split_once(".ko") {
                    out.push(m.replace('-', "_"));
                }
            }
        }
    }
    Ok(out)
}

fn availability(cfg: &KernelConfig, sym: &str, module: &str, present: &[String]) -> Availability {
    match cfg.get(sym) {
        Some("y") => Availability::Builtin,
        Some("m") if present.iter().any(|m| m == module) => Availability::Module,
        _ => Availability::Missing,
    }
}

/// Reads what `kver` supports; `bootfstype` is the /boot filesystem type.
///
/// Errors: a config or modules.dep exists but cannot be read.
pub fn detect(
    target: &Target,
    kver: &str,
    bootfstype: Option<&str>,
    os: &OsRelease,
) -> Result<KernelSupport> {
    let Some((name, text)) = find_config(target, kver)? else {
        return Ok(guess(os, bootfstype));
    };
    let cfg = KernelConfig::parse(&text);
    let present = present_modules(target, kver)?;
    let erofs = availability(&cfg, "EROFS_FS", "erofs", &present);
    let bootfs = bootfstype.map(|t| {
        let a = match fs_symbol(t) {
            Some((sym, module)) => availability(&cfg, sym, module, &present),
            None => Availability::Unknown,
        };
        (t.to_string(), a)
    });
    Ok(KernelSupport {
        config: Some(name),
        erofs,
        compression: if erofs.usable() {
            cfg.erofs_algorithms()
        } else {
            Vec::new()
        },
        overlay: availability(&cfg, "OVERLAY_FS", "overlay", &present),
        loop_dev: availability(&cfg, "BLK_DEV_LOOP", "loop", &present),
        bootfs,
        guess: None,
    })
}

/// The guess when no kernel config exists: RHEL-like ≤ 9 kernels lack
/// `EROFS_FS_ZIP` (CentOS Stream 9), so no compression; Fedora and newer
/// RHEL-likes have lz4; anything else: no compression (always safe).
pub fn guess(os: &OsRelease, bootfstype: Option<&str>) -> KernelSupport {
    let id = os.get("ID").unwrap_or("unknown");
    let ver = os.get("VERSION_ID").unwrap_or("?");
    let (compression, why) = if os.is_rhel_like() && os.major_version().is_some_and(|v| v <= 9) {
        (
            vec![Algorithm::None],
            format!("{id} {ver} is RHEL-like <= 9: kernels lack CONFIG_EROFS_FS_ZIP"),
        )
    } else if os.ids().contains(&"fedora") || os.is_rhel_like() {
        (
            vec![Algorithm::None, Algorithm::Lz4, Algorithm::Lz4hc],
            format!("{id} {ver} kernels have CONFIG_EROFS_FS_ZIP"),
        )
    } else {
        (
            vec![Algorithm::None],
            format!("{id} {ver}: unknown kernel, assuming no erofs compression"),
        )
    };
    KernelSupport {
        config: None,
        erofs: Availability::Unknown,
        compression,
        overlay: Availability::Unknown,
        loop_dev: Availability::Unknown,
        bootfs: bootfstype.map(|t| (t.to_string(), Availability::Unknown)),
        guess: Some(format!(
            "no kernel config found; guessed from os-release: {why}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_os_release() {
        let c9 = OsRelease::parse("ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n");
        let g = guess(&c9, Some("xfs"));
        assert!(!g.compression.contains(&Algorithm::Lz4));
        assert!(g.guess.as_ref().unwrap().contains("RHEL-like"));
        let r10 = OsRelease::parse("ID=rhel\nVERSION_ID=10.0\n");
        assert!(guess(&r10, None).compression.contains(&Algorithm::Lz4hc));
        let f = OsRelease::parse("ID=fedora\nVERSION_ID=40\n");
        assert!(guess(&f, None).compression.contains(&Algorithm::Lz4));
        let d = OsRelease::parse("ID=debian\nVERSION_ID=\"12\"\n");
        assert_eq!(guess(&d, None).compression, vec![Algorithm::None]);
    }
}
