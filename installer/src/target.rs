//! The system being installed: the live machine (`/`) or an offline tree
//! (`--root DIR`), and how paths inside it map to host paths.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Environment variable for tests: run builders and detect build tools on
/// the host instead of chrooting into `--root DIR` (the temp roots of the
/// test suite hold no dracut/mkfs.erofs). Never set it on a real system.
pub const NO_CHROOT_ENV: &str = "INITOVERLAYFS_INSTALL_TEST_NO_CHROOT";

/// The machine initoverlayfs is installed on.
#[derive(Debug, Clone)]
pub struct Target {
    /// `/` live, or the offline tree.
    pub root: PathBuf,
    /// Whether this is the running system (`--root` absent or `/`): only
    /// then are /proc, `uname -r` and the mounted block devices consulted.
    pub live: bool,
    /// Whether builds/tool detection run on the host instead of chrooted
    /// into `root` (test hook, see [`NO_CHROOT_ENV`]).
    pub no_chroot: bool,
}

impl Target {
    /// The target for `--root` (None or `/` = live).
    pub fn new(root: Option<&Path>) -> Result<Target> {
        let root = match root {
            None => PathBuf::from("/"),
            Some(r) => r
                .canonicalize()
                .with_context(|| format!("--root {}: cannot resolve directory", r.display()))?,
        };
        let live = root == Path::new("/");
        let no_chroot = !live && std::env::var_os(NO_CHROOT_ENV).is_some_and(|v| v == "1");
        Ok(Target {
            root,
            live,
            no_chroot,
        })
    }

    /// The host path of the absolute target path `abs` (`/boot` → `DIR/boot`).
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        let rel = abs.strip_prefix("/").unwrap_or(abs);
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The target path (`/boot/x`) of a host path under the root.
    pub fn inner(&self, host: &Path) -> String {
        match host.strip_prefix(&self.root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => host.display().to_string(),
        }
    }

    /// Reads a target file as text; `Ok(None)` when it does not exist.
    pub fn read_opt(&self, abs: &str) -> Result<Option<String>> {
        let p = self.path(abs);
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    /// The root the builder should use: the target root, or `/` under the
    /// no-chroot test hook.
    pub fn build_root(&self) -> &Path {
        if self.no_chroot {
            Path::new("/")
        } else {
            &self.root
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_paths() {
        let t = Target {
            root: "/tmp/r".into(),
            live: false,
            no_chroot: false,
        };
        assert_eq!(t.path("/boot/x"), Path::new("/tmp/r/boot/x"));
        assert_eq!(t.path("/"), Path::new("/tmp/r"));
        assert_eq!(t.inner(Path::new("/tmp/r/boot/x")), "/boot/x");
        let live = Target {
            root: "/".into(),
            live: true,
            no_chroot: false,
        };
        assert_eq!(live.path("/boot"), Path::new("/boot"));
        assert_eq!(live.inner(Path::new("/boot/x")), "/boot/x");
    }
}
