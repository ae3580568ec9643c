//! Paths inside an offline root, resolved as a process chrooted into it
//! sees them.
//!
//! Joining strings (`ROOT` + `/boot/x`) lets the host kernel follow the
//! tree's symlinks with the host's meaning: `boot -> /boot` or
//! `boot -> ../../../boot` then names the build host's own /boot. [`resolve`]
//! resolves every component with openat2(2) `RESOLVE_IN_ROOT` relative to
//! the root instead, so an absolute symlink starts again at the root and
//! `..` stops there, at any depth, as after chroot(2).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Symlinks followed in one resolution before it counts as a loop: the
/// kernel's `MAXSYMLINKS` (include/linux/namei.h).
const MAX_HOPS: usize = 40;

/// openat2(2) retries on `EAGAIN`, which `RESOLVE_IN_ROOT` returns when a
/// rename or mount raced with a `..` step.
const EAGAIN_RETRIES: usize = 16;

/// The host path of `inner` (a path inside `root`, e.g. `/boot/x`; a
/// leading `/` is optional) as a process chrooted into `root` sees it.
///
/// `root` is a host path (its own symlinks are the host's). Inside it, every
/// symlink and `..` is resolved by the kernel with openat2(2)
/// `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: absolute symlinks start again
/// at `root`, `..` never climbs above it, and `/proc` magic links (which
/// would jump out of the tree when procfs is mounted in it) are refused.
/// The final component is followed too, as open(2) would, so the result
/// names the file a symlink points at.
///
/// The longest existing prefix is resolved that way and its real path read
/// back from `/proc/self/fd`; components that do not exist yet are
/// appended as written, so a write through the result creates them inside
/// the root. A dangling symlink among them is followed to where it points
/// inside the root (where `open(O_CREAT)` in a chroot would create its
/// target). The result is free of symlinks at the time of the call: host
/// calls on it see the same file as long as nobody changes the tree
/// meanwhile.
///
/// Errors (the message names `inner`, `root` and the culprit): a symlink
/// loop (e.g. `boot -> /boot`: inside the tree that link points at itself)
/// or a magic link (`ELOOP`), a component that is not a directory, `..`
/// after a component that does not exist (there is nothing to climb out
/// of), `/proc` not mounted, or a kernel without openat2(2) (Linux < 5.6,
/// or a seccomp filter refusing it).
pub fn resolve(root: &Path, inner: &Path) -> Result<PathBuf> {
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open the root directory {}", root.display()))?;
    let root_real = fd_path(&root_fd)?;
    let r = Resolver {
        fd: &root_fd,
        real: &root_real,
        shown: root,
        asked: inner,
    };
    let mut path = components(inner);
    for _ in 0..=MAX_HOPS {
        match r.step(&path)? {
            Step::Done(host) => return Ok(host),
            Step::Follow(next) => path = next,
        }
    }
    bail!(
        "cannot resolve {} inside the tree {}: its symlinks loop (more than {MAX_HOPS} followed); \
         inside the tree an absolute symlink starts again at the tree's root, as in a chroot: \
         fix the links to name their targets as seen from there",
        inner.display(),
        root.display()
    )
}

/// One resolution: the root, how to name things in messages.
struct Resolver<'a> {
    /// `O_PATH` descriptor of the root.
    fd: &'a OwnedFd,
    /// The root's real host path (from `/proc/self/fd`).
    real: &'a Path,
    /// The root as the caller named it.
    shown: &'a Path,
    /// The path the caller asked for.
    asked: &'a Path,
}

/// Where one step of [`resolve`] got.
enum Step {
    /// The host path.
    Done(PathBuf),
    /// A dangling symlink was met: resolve this path (inside the root) next.
    Follow(Vec<OsString>),
}

impl Resolver<'_> {
    fn step(&self, comps: &[OsString]) -> Result<Step> {
        // The longest prefix that exists.
        let mut n = comps.len();
        let fd = loop {
            match open_in_root(self.fd, &join(&comps[..n])) {
                Ok(fd) => break fd,
                Err(Errno::NOENT) if n > 0 => n -= 1,
                Err(Errno::LOOP) => return Err(self.loop_error(comps, n)),
                Err(Errno::NOSYS) => bail!(
                    "cannot resolve {} inside the tree {}: the kernel has no openat2(2) \
                     (Linux 5.6 or newer is needed, and no seccomp filter refusing it)",
                    self.asked.display(),
                    self.shown.display()
                ),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot resolve {} inside the tree {}",
                            shown(&comps[..n]),
                            self.shown.display()
                        )
                    })
                }
            }
        };
        let real = fd_path(&fd)?;
        let Ok(inside) = real.strip_prefix(self.real) else {
            bail!(
                "{} inside the tree {} resolves to {}, outside the tree",
                shown(&comps[..n]),
                self.shown.display(),
                real.display()
            );
        };
        let Some((first, rest)) = comps[n..].split_first() else {
            return Ok(Step::Done(real));
        };
        match rustix::fs::readlinkat(&fd, first.as_os_str(), Vec::new()) {
            Ok(link) => {
                // A dangling symlink: continue from where it points, inside the root.
                let link = OsString::from_vec(link.into_bytes());
                let mut next = if Path::new(&link).is_absolute() {
                    Vec::new()
                } else {
                    components(inside)
                };
                next.extend(components(Path::new(&link)));
                next.extend(rest.iter().cloned());
                Ok(Step::Follow(next))
            }
            Err(Errno::NOENT) => {
                if let Some(i) = comps[n..].iter().position(|c| c == "..") {
                    bail!(
                        "cannot resolve {} inside the tree {}: `..` after {}, which does not exist",
                        self.asked.display(),
                        self.shown.display(),
                        shown(&comps[..n + i])
                    );
                }
                let mut host = real;
                host.extend(&comps[n..]);
                Ok(Step::Done(host))
            }
            // Exists and is not a symlink: it was created meanwhile.
            Err(Errno::INVAL) => Ok(Step::Follow(comps.to_vec())),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot read {} inside the tree {}",
                    shown(&comps[..=n]),
                    self.shown.display()
                )
            }),
        }
    }

    /// The error for `ELOOP` on `comps[..n]`, naming the shortest prefix
    /// that loops and what that symlink says.
    fn loop_error(&self, comps: &[OsString], n: usize) -> anyhow::Error {
        let m = (1..=n)
            .find(|&m| matches!(open_in_root(self.fd, &join(&comps[..m])), Err(Errno::LOOP)))
            .unwrap_or(n);
        let link = m
            .checked_sub(1)
            .and_then(|p| {
                let parent = open_in_root(self.fd, &join(&comps[..p])).ok()?;
                rustix::fs::readlinkat(&parent, comps[p].as_os_str(), Vec::new()).ok()
            })
            .map(|l| format!(" (a symlink to {:?})", l.to_string_lossy()))
            .unwrap_or_default();
        anyhow::anyhow!(
            "cannot resolve {} inside the tree {}: {}{link} loops or leads out of the tree \
             (too many levels of symbolic links, or a /proc magic link); inside the tree an \
             absolute symlink starts again at the tree's root, as in a chroot, so `boot -> /boot` \
             points at itself: make the link name its target as seen from the tree's root",
            self.asked.display(),
            self.shown.display(),
            shown(&comps[..m])
        )
    }
}

/// `inner`'s components, without the root and `.`s (`..` is kept: the
/// kernel resolves it).
fn components(inner: &Path) -> Vec<OsString> {
    inner
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// The relative path of `comps` for openat2 (`.` when empty).
fn join(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        PathBuf::from(".")
    } else {
        comps.iter().collect()
    }
}

/// `comps` as a path inside the root, for messages (`/boot/loader`).
fn shown(comps: &[OsString]) -> String {
    let mut p = PathBuf::from("/");
    p.extend(comps);
    p.display().to_string()
}

/// openat2(2) of `rel` below `root` with `O_PATH`, `RESOLVE_IN_ROOT` and
/// `RESOLVE_NO_MAGICLINKS`, retried on `EAGAIN`.
fn open_in_root(root: &OwnedFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// The host path an open descriptor names (`/proc/self/fd/N`).
fn fd_path(fd: &OwnedFd) -> Result<PathBuf> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let p = rustix::fs::readlink(link.as_str(), Vec::new())
        .with_context(|| format!("cannot read {link} (is /proc mounted?)"))?;
    let p = PathBuf::from(OsStr::from_bytes(p.as_bytes()));
    if !p.is_absolute() {
        bail!("{link} names {}, not a path", p.display());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    /// A tree with `etc/os-release`, `usr/lib/os-release` and `boot/`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(root.join("boot/loader")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("usr/lib/os-release"), "ID=fedora\n").unwrap();
        let root = root.canonicalize().unwrap();
        (t, root)
    }

    fn res(root: &Path, p: &str) -> PathBuf {
        resolve(root, Path::new(p)).unwrap_or_else(|e| panic!("{p}: {e:#}"))
    }

    #[test]
    fn plain_paths_map_below_the_root() {
        let (_t, root) = tree();
        assert_eq!(res(&root, "/"), root);
        assert_eq!(res(&root, "/boot/loader"), root.join("boot/loader"));
        assert_eq!(res(&root, "usr/./lib/"), root.join("usr/lib"));
    }

    #[test]
    fn absolute_symlinks_start_at_the_root() {
        let (_t, root) = tree();
        symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        assert_eq!(
            res(&root, "/etc/os-release"),
            root.join("usr/lib/os-release")
        );
        // An intermediate one too.
        fs::remove_dir_all(root.join("boot")).unwrap();
        fs::create_dir_all(root.join("realboot/loader")).unwrap();
        symlink("/realboot", root.join("boot")).unwrap();
        assert_eq!(res(&root, "/boot/loader"), root.join("realboot/loader"));
    }

    #[test]
    fn relative_symlinks_resolve_from_their_directory() {
        let (_t, root) = tree();
        symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        assert_eq!(
            res(&root, "/etc/os-release"),
            root.join("usr/lib/os-release")
        );
    }

    #[test]
    fn dotdot_stops_at_the_root() {
        let (_t, root) = tree();
        // On the host this chain climbs out of the tree to the real /tmp.
        symlink(
            "../../../../../../../../tmp/x",
            root.join("boot/loader/entries"),
        )
        .unwrap();
        fs::create_dir_all(root.join("tmp/x")).unwrap();
        assert_eq!(res(&root, "/boot/loader/entries"), root.join("tmp/x"));
        assert_eq!(res(&root, "/../../etc/../usr/lib"), root.join("usr/lib"));
    }

    #[test]
    fn missing_tails_are_appended_inside_the_root() {
        let (_t, root) = tree();
        assert_eq!(
            res(&root, "/var/lib/initoverlayfs/lock"),
            root.join("var/lib/initoverlayfs/lock")
        );
        symlink("/realboot", root.join("efi")).unwrap();
        fs::create_dir_all(root.join("realboot")).unwrap();
        assert_eq!(
            res(&root, "/efi/loader/entries/x.conf"),
            root.join("realboot/loader/entries/x.conf")
        );
        let err = format!(
            "{:#}",
            resolve(&root, Path::new("/missing/../etc")).unwrap_err()
        );
        assert!(err.contains("`..` after /missing"), "{err}");
    }

    #[test]
    fn dangling_symlinks_are_followed_inside_the_root() {
        let (t, root) = tree();
        // The host has this directory; the tree does not.
        let host_dir = t.path().join("victim-boot");
        fs::create_dir_all(&host_dir).unwrap();
        fs::remove_dir_all(root.join("boot")).unwrap();
        symlink(&host_dir, root.join("boot")).unwrap();
        let inside = root.join(host_dir.strip_prefix("/").unwrap());
        assert_eq!(
            res(&root, "/boot/loader/entries"),
            inside.join("loader/entries")
        );
        assert_eq!(res(&root, "/boot"), inside);
        // A chain: a -> b (relative), b -> /c.
        symlink("b", root.join("etc/a")).unwrap();
        symlink("/c", root.join("etc/b")).unwrap();
        assert_eq!(res(&root, "/etc/a/x"), root.join("c/x"));
    }

    #[test]
    fn loops_are_errors_naming_the_link() {
        let (_t, root) = tree();
        fs::remove_dir_all(root.join("boot")).unwrap();
        symlink("/boot", root.join("boot")).unwrap();
        for p in ["/boot", "/boot/loader/entries"] {
            let err = format!("{:#}", resolve(&root, Path::new(p)).unwrap_err());
            assert!(
                err.contains(&format!(
                    "cannot resolve {p} inside the tree {}",
                    root.display()
                )) && err.contains("/boot (a symlink to \"/boot\") loops"),
                "{err}"
            );
        }
        // Two links pointing at each other, reached through a dangling name.
        symlink("/etc/y", root.join("etc/x")).unwrap();
        symlink("x", root.join("etc/y")).unwrap();
        let err = format!("{:#}", resolve(&root, Path::new("/etc/x/z")).unwrap_err());
        assert!(
            err.contains("/etc/x (a symlink to \"/etc/y\") loops"),
            "{err}"
        );
    }

    #[test]
    fn a_file_in_the_middle_is_an_error() {
        let (_t, root) = tree();
        let err = format!(
            "{:#}",
            resolve(&root, Path::new("/usr/lib/os-release/x")).unwrap_err()
        );
        assert!(err.contains("/usr/lib/os-release/x"), "{err}");
    }
}
