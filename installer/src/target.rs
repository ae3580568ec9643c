//! The system being installed: the live machine (`/`) or an offline tree
//! (`--root DIR`), and how paths inside it map to host paths.
//!
//! Every host path of a file of the target, read or written, comes from
//! [`Target::path`]: offline, it resolves the path as a process chrooted
//! into the tree sees it (openat2(2) `RESOLVE_IN_ROOT`, see
//! [`initoverlayfs_builder::rootpath`]), never by joining strings, so the
//! tree's symlinks (`boot -> /boot`, `etc/os-release -> /usr/lib/os-release`)
//! cannot make us read or write the build host's files.

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

    /// The host path of the target path `abs` (`/boot/x`).
    ///
    /// Live, `abs` itself. Offline, `abs` resolved inside the root as after
    /// chroot(2): symlinks and `..` at any depth, absolute symlinks starting
    /// again at the root, `..` stopping there, the final component followed
    /// too (so a write replaces the file a symlink points at, inside the
    /// tree); components that do not exist yet are appended, so writes
    /// create them inside the tree. See
    /// [`initoverlayfs_builder::rootpath::resolve`] (openat2(2)
    /// `RESOLVE_IN_ROOT`).
    ///
    /// Errors: the tree's symlinks loop or lead out of it (`boot -> /boot`,
    /// a /proc magic link), a component is not a directory, or the kernel
    /// lacks openat2(2); the message names the path and the link.
    pub fn path(&self, abs: impl AsRef<Path>) -> Result<PathBuf> {
        let abs = abs.as_ref();
        if self.live {
            return Ok(Path::new("/").join(abs));
        }
        initoverlayfs_builder::rootpath::resolve(&self.root, abs)
    }

    /// The host path of `abs` in the build root ([`Target::build_root`]):
    /// [`Target::path`], or the host's own `abs` under the no-chroot test hook.
    ///
    /// Errors: as [`Target::path`].
    pub fn build_path(&self, abs: impl AsRef<Path>) -> Result<PathBuf> {
        if self.no_chroot {
            Ok(Path::new("/").join(abs))
        } else {
            self.path(abs)
        }
    }

    /// The target path (`/boot/x`) of a host path under the root; for a
    /// path from [`Target::path`], where the file really is in the tree.
    pub fn inner(&self, host: &Path) -> String {
        match host.strip_prefix(&self.root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => host.display().to_string(),
        }
    }

    /// Reads the target file `abs` ([`Target::path`]) as text; `Ok(None)`
    /// when it does not exist (also a dangling symlink).
    ///
    /// Errors: as [`Target::path`], or the file cannot be read.
    pub fn read_opt(&self, abs: &str) -> Result<Option<String>> {
        let p = self.path(abs)?;
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
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn maps_paths_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let t = Target::new(Some(d.path())).unwrap();
        let root = d.path().canonicalize().unwrap();
        assert!(!t.live);
        assert_eq!(t.path("/boot/x").unwrap(), root.join("boot/x"));
        assert_eq!(t.path("/").unwrap(), root);
        assert_eq!(t.inner(&root.join("boot/x")), "/boot/x");
        let live = Target::new(None).unwrap();
        assert!(live.live);
        assert_eq!(live.path("/boot").unwrap(), Path::new("/boot"));
        assert_eq!(live.inner(Path::new("/boot/x")), "/boot/x");
    }

    #[test]
    fn reads_follow_the_trees_symlinks_inside_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(
            root.join("usr/lib/os-release"),
            "ID=fedora\nVERSION_ID=40\n",
        )
        .unwrap();
        // The host's /usr/lib/os-release is another file (or none).
        symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        symlink("/run/machine-id", root.join("etc/machine-id")).unwrap();
        let t = Target::new(Some(&root)).unwrap();
        assert_eq!(
            t.read_opt("/etc/os-release").unwrap().as_deref(),
            Some("ID=fedora\nVERSION_ID=40\n")
        );
        // Dangling inside the tree (the host may well have /run/machine-id).
        assert_eq!(t.read_opt("/etc/machine-id").unwrap(), None);
        symlink("/boot", root.join("boot")).unwrap();
        let err = format!("{:#}", t.read_opt("/boot/config-6.1").unwrap_err());
        assert!(
            err.contains("/boot (a symlink to \"/boot\") loops"),
            "{err}"
        );
    }
}
