//! Where the harness keeps things: the workspace, the cargo target
//! directory, the cache of root trees and images, and per-run work dirs.

use std::path::{Path, PathBuf};

/// The directories the harness uses.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root (holds the root `Cargo.toml`).
    pub workspace: PathBuf,
    /// The cargo target directory (`$CARGO_TARGET_DIR` or `WORKSPACE/target`).
    pub target: PathBuf,
    /// Cache of root-tree tarballs and pristine disk images:
    /// `$INITOVERLAYFS_VM_CACHE` or `TARGET/vm-cache`.
    pub cache: PathBuf,
    /// Per-run work directories, serial logs and disk copies: `TARGET/vm`.
    pub vm: PathBuf,
}

impl Paths {
    /// The paths for this checkout, from the compile-time manifest directory
    /// and the environment.
    pub fn detect() -> Paths {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent")
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| {
                if p.is_absolute() {
                    p
                } else {
                    workspace.join(p)
                }
            })
            .unwrap_or_else(|| workspace.join("target"));
        let cache = std::env::var_os("INITOVERLAYFS_VM_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| target.join("vm-cache"));
        let vm = target.join("vm");
        Paths {
            workspace,
            target,
            cache,
            vm,
        }
    }
}
