//! Finds the current initramfs of a kernel release: the `initrd` of its BLS
//! entry first, then the known naming conventions.

use anyhow::Result;

use crate::entries::EntryFile;
use crate::layout::BootRoot;
use crate::target::Target;

/// The initramfs a kernel boots today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentInitrd {
    /// Target path (`/boot/initramfs-KVER.img`).
    pub path: String,
    /// How it was found (`BLS entry FILE`, `convention`).
    pub found_by: String,
    /// Size in bytes.
    pub size: u64,
}

/// The conventional initramfs paths of `kver`, in the order tried:
/// Fedora/RHEL, Debian/Ubuntu, kernel-install's bls layout, ostree.
pub fn conventions(boot: &BootRoot, token: Option<&str>, kver: &str) -> Vec<String> {
    let mut v = vec![
        format!("/boot/initramfs-{kver}.img"),
        format!("/boot/initrd.img-{kver}"),
    ];
    if let Some(t) = token {
        v.push(format!(
            "{}/{t}/{kver}/initrd",
            boot.mount.trim_end_matches('/')
        ));
    }
    v.push(format!("/usr/lib/modules/{kver}/initramfs.img"));
    v
}

/// The `initrd` token of `entry` that is the kernel's initramfs: the one
/// whose file name mentions `kver` (or is `initrd` in a `KVER/` dir), else
/// the last one (microcode comes first).
pub fn entry_initrd<'a>(entry: &'a EntryFile, kver: &str) -> Option<&'a str> {
    let toks = entry.entry.initrds();
    toks.iter()
        .rev()
        .find(|t| {
            t.rsplit('/').next().is_some_and(|n| n.contains(kver))
                || t.contains(&format!("/{kver}/"))
        })
        .or(toks.last())
        .copied()
}

/// Finds the current initramfs of `kver`; None when there is none yet (a
/// first build, e.g. by an image builder).
///
/// Errors: a candidate path cannot be resolved in the target
/// ([`Target::path`]: a symlink loop).
pub fn discover(
    target: &Target,
    boot: &BootRoot,
    entry: Option<&EntryFile>,
    token: Option<&str>,
    kver: &str,
) -> Result<Option<CurrentInitrd>> {
    let size = |p: &str| -> Result<Option<u64>> {
        Ok(std::fs::metadata(target.path(p)?)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len()))
    };
    if let Some(e) = entry {
        if let Some(tok) = entry_initrd(e, kver) {
            let p = boot.resolve(tok);
            if let Some(s) = size(&p)? {
                return Ok(Some(CurrentInitrd {
                    path: p,
                    found_by: format!("BLS entry {}", e.path),
                    size: s,
                }));
            }
        }
    }
    for p in conventions(boot, token, kver) {
        if let Some(s) = size(&p)? {
            return Ok(Some(CurrentInitrd {
                path: p,
                found_by: "naming convention".into(),
                size: s,
            }));
        }
    }
    Ok(None)
}
