//! The build tools in the build root: dracut (and its version), the
//! programs of the `[build]` argvs, and mkfs.erofs with its compressors
//! (detected by the builder crate).

use std::path::Path;
use std::process::Command;

use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::{Algorithm, Config};

use crate::target::Target;

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// dracut's version (`059`), None when dracut is absent.
    pub dracut: Option<String>,
    /// Programs of the `[build]` argvs that cannot be found in the build root.
    pub missing_builders: Vec<String>,
    /// mkfs.erofs version and compressors, or why it could not be detected.
    pub mkfs: Result<(String, Vec<Algorithm>), String>,
    /// What of the initoverlayfs packages the dracut-built mini initramfs
    /// needs is missing from the target (the dracut module, the binary).
    pub missing_payload: Vec<String>,
}

/// Files of the initoverlayfs packages a dracut-built mini initramfs needs,
/// in the target (`/usr/sbin/initoverlayfs` may also be `/sbin/…` on a
/// merged-/usr system, which is the same file).
pub const PAYLOAD: [&str; 2] = [
    "/usr/lib/dracut/modules.d/81initoverlayfs/module-setup.sh",
    "/usr/sbin/initoverlayfs",
];

const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Whether `prog` (a name looked up in PATH, or a path) exists in the build
/// root of `target` ([`Target::build_path`]; a path that cannot be
/// resolved there counts as missing).
fn program_exists(target: &Target, prog: &str) -> bool {
    let exists = |p: &str| target.build_path(p).is_ok_and(|h| h.exists());
    if prog.contains('/') {
        return exists(prog);
    }
    PATH_DIRS.iter().any(|d| exists(&format!("{d}/{prog}")))
}

/// dracut's version from `usr/lib/dracut/dracut-version.sh` in the build
/// root (`DRACUT_VERSION=059`), else `dracut --version` when running on the host.
fn dracut_version(target: &Target) -> Option<String> {
    let f = target
        .build_path("/usr/lib/dracut/dracut-version.sh")
        .ok()?;
    if let Ok(text) = std::fs::read_to_string(f) {
        if let Some(v) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("DRACUT_VERSION="))
        {
            return Some(v.trim_matches('"').to_string());
        }
    }
    if target.build_root() == Path::new("/") && program_exists(target, "dracut") {
        if let Ok(out) = Command::new("dracut").arg("--version").run_get_string() {
            return out.split_whitespace().nth(1).map(str::to_string);
        }
    }
    None
}

/// Detects the tools in the build root of `target`.
pub fn detect(target: &Target, config: &Config) -> Tools {
    let root = target.build_root();
    let mut missing = Vec::new();
    for argv in [&config.build.initoverlayfs, &config.build.initrd] {
        match argv.first() {
            Some(p) if !program_exists(target, p) => missing.push(p.clone()),
            None => missing.push("(empty [build] argv)".into()),
            _ => {}
        }
    }
    missing.dedup();
    let dracut = if program_exists(target, "dracut") {
        Some(dracut_version(target).unwrap_or_else(|| "unknown version".into()))
    } else {
        None
    };
    let mkfs = initoverlayfs_builder::erofs::detect_in(root)
        .map(|m| (m.version, m.compressors))
        .map_err(|e| format!("{e:#}"));
    let uses_dracut_initrd = config.build.initrd.first().is_some_and(|p| p == "dracut");
    let missing_payload = if uses_dracut_initrd {
        PAYLOAD
            .iter()
            .filter(|p| !target.path(p).is_ok_and(|h| h.exists()))
            .map(|p| p.to_string())
            .collect()
    } else {
        Vec::new()
    };
    Tools {
        dracut,
        missing_builders: missing,
        mkfs,
        missing_payload,
    }
}
