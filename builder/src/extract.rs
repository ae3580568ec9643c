//! Safe extraction of initramfs entries, as root, from hostile archives.
//!
//! Everything is created relative to directory fds (`openat`-style): parent
//! components are opened one by one with `O_NOFOLLOW | O_DIRECTORY`, final
//! components are created with `O_CREAT | O_EXCL | O_NOFOLLOW` (or
//! `mkdirat`/`symlinkat`/`linkat`/`mknodat`), and metadata is set on the fd
//! or with `AT_SYMLINK_NOFOLLOW`. A symlink an earlier entry created is never
//! followed; absolute names and `..` components are refused. A later entry
//! with the same name replaces the earlier one (the kernel does the same).
//!
//! Trees go into a fresh private (0700) temporary directory, so a failed
//! extraction leaves nothing behind.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use tempfile::TempDir;

use crate::cpio::{self, Header};
use crate::initramfs::{self, Segment};

/// Longest symlink target we accept, in bytes.
const MAX_SYMLINK: u32 = 4095;
/// Copy buffer for file data.
const COPY_BUF: usize = 256 * 1024;

/// Counts of what an extraction created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Entries processed (all types).
    pub entries: u64,
    /// Regular files created (hardlinks excluded).
    pub files: u64,
    /// Hardlinks created.
    pub hardlinks: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// Newest mtime of any entry (seconds since the epoch).
    pub max_mtime: u32,
}

/// Splits an archive name into path components, refusing hostile names.
///
/// `./a/b`, `a//b` and `a/./b` give `[a, b]`; `.` gives `[]` (the root).
/// Errors: an absolute name or a `..` component.
pub fn components(name: &[u8]) -> Result<Vec<&[u8]>> {
    if name.first() == Some(&b'/') {
        bail!("refusing absolute name");
    }
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => bail!("refusing name with a `..` component"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The directory fd [`Extractor::ensure_parent`] just opened.
fn cached(cache: &Option<(Vec<Vec<u8>>, OwnedFd)>) -> BorrowedFd<'_> {
    cache
        .as_ref()
        .map(|(_, fd)| fd.as_fd())
        .expect("ensure_parent fills the cache")
}

fn os(c: &[u8]) -> &OsStr {
    OsStr::from_bytes(c)
}

fn times(mtime: u32) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::from(mtime),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Metadata of a directory, applied after all entries (so later entries do
/// not change its mtime and a read-only mode does not block them).
#[derive(Debug)]
struct DirMeta {
    path: Vec<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u32,
}

/// Extracts entries below one directory. Feed it with [`Extractor::entry`]
/// (e.g. as the visitor of [`initramfs::walk`]), then call
/// [`Extractor::finish`].
#[derive(Debug)]
pub struct Extractor {
    root: OwnedFd,
    preserve_owners: bool,
    /// Regular files with nlink ≥ 2 of the current archive:
    /// (dev major, dev minor, ino) → path.
    links: HashMap<(u32, u32, u32), Vec<Vec<u8>>>,
    /// The archive `links` belongs to.
    links_archive: usize,
    dirs: Vec<DirMeta>,
    root_meta: Option<DirMeta>,
    /// The last parent directory opened: its components and fd.
    cache: Option<(Vec<Vec<u8>>, OwnedFd)>,
    buf: Vec<u8>,
    stats: ExtractStats,
}

impl Extractor {
    /// Extracts below `dir` (which should be a fresh private directory).
    /// Owners are preserved when `preserve_owners` (needs root).
    pub fn new(dir: &Path, preserve_owners: bool) -> Result<Self> {
        let root = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open {}", dir.display()))?;
        Ok(Extractor {
            root,
            preserve_owners,
            links: HashMap::new(),
            links_archive: 0,
            dirs: Vec::new(),
            root_meta: None,
            cache: None,
            buf: vec![0; COPY_BUF],
            stats: ExtractStats::default(),
        })
    }

    /// Opens the directory `comps` below the root, one component at a time
    /// without following symlinks; missing components are created (0755)
    /// when `create`. Errors: a component is a symlink or not a directory.
    fn walk(&self, comps: &[Vec<u8>], create: bool) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur = rustix::fs::openat(&self.root, ".", flags, Mode::empty())
            .context("cannot reopen the extraction root")?;
        for (i, c) in comps.iter().enumerate() {
            let shown = || String::from_utf8_lossy(&comps[..=i].join(&b'/')).into_owned();
            let next = match rustix::fs::openat(&cur, os(c), flags, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, os(c), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(e).with_context(|| format!("cannot create {}", shown()))
                        }
                    }
                    rustix::fs::openat(&cur, os(c), flags, Mode::empty())
                }
                other => other,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                    bail!(
                        "refusing to write through {:?}: it is a symlink or not a directory",
                        shown()
                    )
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open directory {}", shown()))
                }
            };
        }
        Ok(cur)
    }

    /// Opens the parent directory `comps` into the one-entry cache; read it
    /// with [`cached`].
    fn ensure_parent(&mut self, comps: &[Vec<u8>]) -> Result<()> {
        let hit = matches!(&self.cache, Some((p, _)) if p.as_slice() == comps);
        if !hit {
            let fd = self.walk(comps, true)?;
            self.cache = Some((comps.to_vec(), fd));
        }
        Ok(())
    }

    /// Removes what exists at `name` in `dir`, unless it is a directory and
    /// `keep_dir`. Returns whether a kept directory is there.
    fn remove_existing(dir: BorrowedFd<'_>, name: &[u8], keep_dir: bool) -> Result<bool> {
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e).context("cannot stat the existing entry"),
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            if keep_dir {
                return Ok(true);
            }
            rustix::fs::unlinkat(dir, os(name), AtFlags::REMOVEDIR)
                .context("cannot replace the existing directory (not empty?)")?;
        } else {
            rustix::fs::unlinkat(dir, os(name), AtFlags::empty())
                .context("cannot replace the existing entry")?;
        }
        Ok(false)
    }

    /// Extracts one entry of archive number `archive` (hardlinks join
    /// entries of one archive only); `data` yields its `filesize` bytes.
    ///
    /// Errors: a hostile name (absolute, `..`, through a symlink), an
    /// unsupported file type, or a failing system call (named).
    pub fn entry(&mut self, archive: usize, h: &Header, data: &mut dyn Read) -> Result<()> {
        self.stats.entries += 1;
        self.stats.max_mtime = self.stats.max_mtime.max(h.mtime);
        if archive != self.links_archive {
            self.links.clear();
            self.links_archive = archive;
        }
        let comps: Vec<Vec<u8>> = components(&h.name)?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let ftype = h.file_type();
        let Some((name, parent)) = comps.split_last() else {
            if ftype != cpio::S_IFDIR {
                bail!("the root entry \".\" is not a directory");
            }
            self.root_meta = Some(self.dir_meta(Vec::new(), h));
            return Ok(());
        };
        match ftype {
            cpio::S_IFDIR => self.make_dir(parent, name, comps.clone(), h),
            cpio::S_IFREG => self.make_file(parent, name, &comps, h, data),
            cpio::S_IFLNK => self.make_symlink(parent, name, h, data),
            cpio::S_IFCHR | cpio::S_IFBLK | cpio::S_IFIFO | cpio::S_IFSOCK => {
                self.make_node(parent, name, h)
            }
            other => bail!("unknown file type {other:#o}"),
        }
    }

    fn dir_meta(&self, path: Vec<Vec<u8>>, h: &Header) -> DirMeta {
        DirMeta {
            path,
            mode: h.mode & 0o7777,
            uid: h.uid,
            gid: h.gid,
            mtime: h.mtime,
        }
    }

    fn owner(&self, h: &Header) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
        if self.preserve_owners {
            (
                Some(rustix::fs::Uid::from_raw(h.uid)),
                Some(rustix::fs::Gid::from_raw(h.gid)),
            )
        } else {
            (None, None)
        }
    }

    fn make_dir(
        &mut self,
        parent: &[Vec<u8>],
        name: &[u8],
        path: Vec<Vec<u8>>,
        h: &Header,
    ) -> Result<()> {
        self.ensure_parent(parent)?;
        let dir = cached(&self.cache);
        loop {
            match rustix::fs::mkdirat(dir, os(name), Mode::from_raw_mode(0o700)) {
                Ok(()) => break,
                Err(Errno::EXIST) => {
                    if Self::remove_existing(dir, name, true)? {
                        break;
                    }
                }
                Err(e) => return Err(e).context("mkdirat"),
            }
        }
        let meta = self.dir_meta(path, h);
        self.dirs.push(meta);
        Ok(())
    }

    /// Creates `name` in `dir` with `create`, replacing what is there.
    fn create_replacing<T>(
        dir: BorrowedFd<'_>,
        name: &[u8],
        mut create: impl FnMut() -> rustix::io::Result<T>,
    ) -> Result<T> {
        match create() {
            Err(Errno::EXIST) => {
                Self::remove_existing(dir, name, false)?;
                create().context("cannot create the entry")
            }
            other => other.context("cannot create the entry"),
        }
    }

    fn make_file(
        &mut self,
        parent: &[Vec<u8>],
        name: &[u8],
        comps: &[Vec<u8>],
        h: &Header,
        data: &mut dyn Read,
    ) -> Result<()> {
        let key = (h.dev_major, h.dev_minor, h.ino);
        let linked_to = if h.nlink >= 2 {
            self.links.get(&key).cloned()
        } else {
            None
        };
        let wflags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = if linked_to.as_deref() == Some(comps) {
            // The same name again: rewrite it in place.
            self.ensure_parent(parent)?;
            let dir = cached(&self.cache);
            rustix::fs::openat(dir, os(name), wflags | OFlags::TRUNC, Mode::empty())
                .context("cannot reopen the file")?
        } else if let Some(old) = linked_to {
            let (old_name, old_parent) = old.split_last().expect("recorded paths are not empty");
            let old_dir = self.walk(old_parent, false)?;
            self.ensure_parent(parent)?;
            let dir = cached(&self.cache);
            Self::create_replacing(dir, name, || {
                rustix::fs::linkat(&old_dir, os(old_name), dir, os(name), AtFlags::empty())
            })
            .with_context(|| {
                format!(
                    "cannot hardlink to {:?}",
                    String::from_utf8_lossy(&old.join(&b'/'))
                )
            })?;
            self.stats.hardlinks += 1;
            if h.filesize == 0 {
                return Ok(());
            }
            // newc stores the data on the last link: write it through this one.
            rustix::fs::openat(dir, os(name), wflags | OFlags::TRUNC, Mode::empty())
                .context("cannot open the hardlinked file")?
        } else {
            self.ensure_parent(parent)?;
            let dir = cached(&self.cache);
            let fd = Self::create_replacing(dir, name, || {
                rustix::fs::openat(
                    dir,
                    os(name),
                    wflags | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(0o600),
                )
            })?;
            self.stats.files += 1;
            if h.nlink >= 2 {
                self.links.insert(key, comps.to_vec());
            }
            fd
        };
        let mut file = File::from(fd);
        let mut left = u64::from(h.filesize);
        while left > 0 {
            let want = (self.buf.len() as u64).min(left) as usize;
            let n = data
                .read(&mut self.buf[..want])
                .context("cannot read the file data")?;
            if n == 0 {
                bail!("file data ends early");
            }
            file.write_all(&self.buf[..n])
                .context("cannot write the file")?;
            left -= n as u64;
        }
        self.stats.bytes += u64::from(h.filesize);
        let (uid, gid) = self.owner(h);
        if uid.is_some() {
            rustix::fs::fchown(&file, uid, gid).context("fchown")?;
        }
        // After chown, which clears setuid/setgid bits.
        rustix::fs::fchmod(&file, Mode::from_raw_mode(h.mode & 0o7777)).context("fchmod")?;
        rustix::fs::futimens(&file, &times(h.mtime)).context("futimens")?;
        Ok(())
    }

    fn make_symlink(
        &mut self,
        parent: &[Vec<u8>],
        name: &[u8],
        h: &Header,
        data: &mut dyn Read,
    ) -> Result<()> {
        if h.filesize == 0 || h.filesize > MAX_SYMLINK {
            bail!(
                "symlink target length {} is out of range (1..={MAX_SYMLINK})",
                h.filesize
            );
        }
        let mut target = vec![0u8; h.filesize as usize];
        data.read_exact(&mut target)
            .context("cannot read the symlink target")?;
        if target.contains(&0) {
            bail!("symlink target contains a NUL byte");
        }
        let (uid, gid) = self.owner(h);
        self.ensure_parent(parent)?;
        let dir = cached(&self.cache);
        Self::create_replacing(dir, name, || {
            rustix::fs::symlinkat(os(&target), dir, os(name))
        })?;
        if uid.is_some() {
            rustix::fs::chownat(dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .context("fchownat")?;
        }
        rustix::fs::utimensat(dir, os(name), &times(h.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .context("utimensat")?;
        Ok(())
    }

    fn make_node(&mut self, parent: &[Vec<u8>], name: &[u8], h: &Header) -> Result<()> {
        let ftype = FileType::from_raw_mode(h.mode);
        let dev = rustix::fs::makedev(h.rdev_major, h.rdev_minor);
        let perm = Mode::from_raw_mode(h.mode & 0o7777);
        let (uid, gid) = self.owner(h);
        self.ensure_parent(parent)?;
        let dir = cached(&self.cache);
        Self::create_replacing(dir, name, || {
            rustix::fs::mknodat(dir, os(name), ftype, Mode::from_raw_mode(0o600), dev)
        })
        .context("mknodat")?;
        if uid.is_some() {
            rustix::fs::chownat(dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .context("fchownat")?;
        }
        // We just created it in our private directory: it is not a symlink.
        rustix::fs::chmodat(dir, os(name), perm, AtFlags::empty()).context("fchmodat")?;
        rustix::fs::utimensat(dir, os(name), &times(h.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .context("utimensat")?;
        Ok(())
    }

    /// Applies directory owners, modes and mtimes (deepest first) and the
    /// root's (0755 if the archive has no `.` entry).
    pub fn finish(mut self) -> Result<ExtractStats> {
        self.cache = None;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.path.len()));
        for d in &dirs {
            let shown = String::from_utf8_lossy(&d.path.join(&b'/')).into_owned();
            let (last, parent) = d
                .path
                .split_last()
                .expect("only the root has an empty path");
            let parent_fd = self
                .walk(parent, false)
                .with_context(|| format!("directory {shown:?}"))?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(&parent_fd, os(last), flags, Mode::empty()) {
                Ok(fd) => fd,
                // A later entry replaced this directory by something else.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open directory {shown:?}"))
                }
            };
            self.apply_dir(&fd, d)
                .with_context(|| format!("directory {shown:?}"))?;
        }
        let root = self.root_meta.take().unwrap_or(DirMeta {
            path: Vec::new(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
        });
        let fd = self.walk(&[], false)?;
        self.apply_dir(&fd, &root).context("the root directory")?;
        Ok(self.stats)
    }

    fn apply_dir(&self, fd: &OwnedFd, d: &DirMeta) -> Result<()> {
        if self.preserve_owners {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(d.uid)),
                Some(rustix::fs::Gid::from_raw(d.gid)),
            )
            .context("fchown")?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(d.mode)).context("fchmod")?;
        if d.mtime != 0 || !d.path.is_empty() {
            rustix::fs::futimens(fd, &times(d.mtime)).context("futimens")?;
        }
        Ok(())
    }
}

/// A tree extracted into a fresh private temporary directory.
#[derive(Debug)]
pub struct Extracted {
    /// The private (0700) directory holding `tree`; removed on drop.
    pub dir: TempDir,
    /// The extracted root (`dir/tree`).
    pub tree: PathBuf,
    /// The segments of the initramfs.
    pub segments: Vec<Segment>,
    /// What was created.
    pub stats: ExtractStats,
}

/// Whether we may set owners and create device nodes (effective uid 0).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Reads an initramfs from `input` and extracts it into a new private
/// temporary directory below `parent`. On error the directory is removed.
///
/// Errors: see [`initramfs::walk`] and [`Extractor::entry`]; they name the
/// byte offset and the entry.
pub fn extract_to_temp<R: Read + Send>(input: R, parent: &Path) -> Result<Extracted> {
    let dir = tempfile::Builder::new()
        .prefix(".initoverlayfs-extract.")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let tree = dir.path().join("tree");
    rustix::fs::mkdirat(CWD, &tree, Mode::from_raw_mode(0o700))
        .with_context(|| format!("cannot create {}", tree.display()))?;
    let mut ex = Extractor::new(&tree, running_as_root())?;
    let segments = initramfs::walk(input, &mut |at, h, data| ex.entry(at.archive, h, data))?;
    let stats = ex.finish()?;
    Ok(Extracted {
        dir,
        tree,
        segments,
        stats,
    })
}

/// Extracts the initramfs `file` to `dest`, which must be absent or an empty
/// directory. The tree is built in a private temporary directory next to
/// `dest` and renamed into place only when complete.
///
/// Errors: `dest` is not empty, the input is bad or hostile (nothing is
/// left behind), or the rename fails.
pub fn extract_path(file: &Path, dest: &Path) -> Result<(Vec<Segment>, ExtractStats)> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty", dest.display());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dest.display())),
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let ex = extract_to_temp(input, &parent)
        .with_context(|| format!("cannot extract {}", file.display()))?;
    if dest.exists() {
        std::fs::remove_dir(dest).with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    std::fs::rename(&ex.tree, dest)
        .with_context(|| format!("cannot move the extracted tree to {}", dest.display()))?;
    Ok((ex.segments, ex.stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_rules() {
        assert_eq!(
            components(b"./a//b/./c").unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(components(b".").unwrap().is_empty());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../../b").is_err());
        assert!(components(b"..").is_err());
        assert_eq!(components(b"a..b/..c").unwrap(), vec![&b"a..b"[..], b"..c"]);
    }
}
