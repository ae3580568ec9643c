//! Extraction of initramfs entries the way the kernel unpacks them into its
//! rootfs, safely, as root, from hostile archives. Reading (what is an
//! entry, what is skipped) is [`crate::cpio`]'s part; this is what entries
//! do to the tree, after init/initramfs.c in torvalds/linux: `do_name`,
//! `do_symlink`, `do_copy`, `maybe_link`, `clean_path`, `dir_utime`.
//!
//! Names resolve inside the target directory as if it were `/`, as the
//! kernel resolves them inside its rootfs: `openat2` with
//! `RESOLVE_IN_ROOT`, so absolute names, `..` components and symlinks that
//! earlier entries created (absolute or relative, at any depth) are
//! followed but never leave the target; `..` at the top stays at the top.
//! Nothing is ever written outside the target.
//!
//! What an entry does, as in the kernel:
//!
//! - The last component of a name is never followed. What is there already
//!   is replaced when its type differs (a directory only when it is empty).
//! - Parent directories are not created: an entry whose parent is missing is
//!   not created.
//! - Regular file: created, or an existing regular file is truncated and
//!   rewritten in place (its other hard links see the new data).
//! - Directory: created, or an existing one kept.
//! - Symlink: replaces whatever is there; the target is the data up to its
//!   first NUL. An empty target, or one of `PATH_MAX` bytes or more,
//!   creates nothing (but what was there is gone).
//! - Device, fifo, socket: created, or an existing node of the same type is
//!   kept (with its device number) and gets the entry's mode, owner and
//!   mtime.
//! - Hard links: an entry of a regular file or a node with `c_nlink` ≥ 2
//!   whose (device major, device minor, inode, type) matches an earlier
//!   entry since the last `TRAILER!!!` replaces its name by a link to that
//!   entry's name; a regular file's data (newc stores it on the last link)
//!   then replaces the shared content. Linking a name to itself removes it.
//! - Unknown file type: only removes what is at the name.
//!
//! Where the kernel's system calls fail and it silently goes on (missing
//! parent, a non-empty directory in the way, a hard link to a name that is
//! gone, a component longer than 255 bytes, a non-directory named `…/` or
//! `…/..`), the entry is skipped with a warning. Side effects the kernel has
//! on those failure paths are not reproduced.
//!
//! Trees go into a fresh private (0700) temporary directory, so a failed
//! extraction leaves nothing behind. Directory modes, owners and mtimes
//! are applied after all entries, deepest first (so a read-only directory
//! does not block later entries, and later entries do not change mtimes);
//! for a directory named by several entries, the last entry's mode and
//! owner and the first entry's mtime win, as in the kernel.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use tempfile::TempDir;

use crate::cpio::{self, Header};
use crate::initramfs::{self, Segment, Visit, Where};
use crate::warnings::Warnings;

/// Copy buffer for file data.
const COPY_BUF: usize = 256 * 1024;
/// Why an entry with a component longer than `NAME_MAX` is not created.
const TOO_LONG: &str = "a component of its name is longer than 255 bytes";

/// What an extraction created, and what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Entries processed (all types, skipped ones included).
    pub entries: u64,
    /// Regular files created or rewritten (hardlinks excluded).
    pub files: u64,
    /// Hardlinks created.
    pub hardlinks: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// Newest mtime of any entry (seconds since the epoch).
    pub max_mtime: u32,
    /// Entries the kernel would skip or fail to create, so not created.
    pub skipped: u64,
    /// One message per skipped entry (bounded).
    pub warnings: Warnings,
}

/// Where an entry's name puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place<'a> {
    /// The last component `name` inside the directory `parent` (empty: the
    /// top); `path` is the whole name without trailing slashes.
    Child {
        parent: &'a [u8],
        name: &'a [u8],
        path: &'a [u8],
    },
    /// The name is an existing directory itself: it ends in `.` or `..`, or
    /// is only slashes.
    Dir(&'a [u8]),
}

/// Splits an archive name for creation; the flag says whether it ended in
/// `/`. Errors (a reason to skip): an empty name.
fn place(name: &[u8]) -> std::result::Result<(Place<'_>, bool), &'static str> {
    if name.is_empty() {
        return Err("its name is empty");
    }
    let end = name.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let (path, slash) = (&name[..end], end < name.len());
    if path.is_empty() {
        return Ok((Place::Dir(b"/"), slash));
    }
    let (parent, last) = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    };
    if last == b"." || last == b".." {
        return Ok((Place::Dir(path), slash));
    }
    Ok((
        Place::Child {
            parent,
            name: last,
            path,
        },
        slash,
    ))
}

/// Components of `path` that go down (not empty, not `.`): the depth order
/// of [`Extractor::finish`].
fn depth(path: &[u8]) -> usize {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .count()
}

fn os(c: &[u8]) -> &OsStr {
    OsStr::from_bytes(c)
}

fn lossy(c: &[u8]) -> String {
    String::from_utf8_lossy(c).into_owned()
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

/// Opens the directory `path` below `root`, resolved as if `root` were `/`
/// (`RESOLVE_IN_ROOT`); `nofollow`: the last component must not be a
/// symlink. An empty path is `root` itself.
fn resolve(root: &OwnedFd, path: &[u8], nofollow: bool) -> rustix::io::Result<OwnedFd> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    loop {
        match rustix::fs::openat2(root, os(path), flags, Mode::empty(), how) {
            // The kernel asks to retry when a rename raced a `..` lookup.
            Err(Errno::AGAIN) => continue,
            other => return other,
        }
    }
}

/// Whether a lookup failed because of the tree's contents (the kernel would
/// fail the same way and go on), not because of the system.
fn not_there(e: Errno) -> bool {
    matches!(
        e,
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NAMETOOLONG
    )
}

/// Result of an entry: `Some(reason)` when it is not created.
type Step = Result<Option<String>>;

fn skip(why: impl Into<String>) -> Step {
    Ok(Some(why.into()))
}

/// What [`Extractor::clean`] found at a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clean {
    /// Nothing is there (any more).
    Absent,
    /// An entry of the type asked to keep is there.
    Same,
    /// Something that cannot be removed is there; the reason.
    Blocked(&'static str),
}

/// Metadata of a directory, applied after all entries.
#[derive(Debug)]
struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u32,
}

/// Extracts entries below one directory. Feed it with [`Extractor::entry`]
/// (or pass it to [`initramfs::walk`] as the [`Visit`]), then call
/// [`Extractor::finish`].
#[derive(Debug)]
pub struct Extractor {
    root: OwnedFd,
    preserve_owners: bool,
    /// First name of each (dev major, dev minor, inode, type) with nlink ≥ 2
    /// in the current trailer scope.
    links: HashMap<(u32, u32, u32, u32), Vec<u8>>,
    /// The trailer scope `links` belongs to.
    links_archive: usize,
    dirs: Vec<DirMeta>,
    /// Index in `dirs` of each directory name.
    dir_index: HashMap<Vec<u8>, usize>,
    /// The last parent directory resolved: its name and fd. Dropped when
    /// anything is removed (which could change what a name resolves to).
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    buf: Vec<u8>,
    stats: ExtractStats,
}

impl Visit for Extractor {
    fn entry(&mut self, at: Where, h: &Header, data: &mut dyn Read) -> Result<()> {
        Extractor::entry(self, at.archive, h, data)
    }

    fn skipped(&mut self, message: String) {
        self.stats.skipped += 1;
        self.stats.warnings.push(message);
    }
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
            dir_index: HashMap::new(),
            cache: None,
            buf: vec![0; COPY_BUF],
            stats: ExtractStats::default(),
        })
    }

    /// Extracts one entry of trailer scope `archive` (hardlinks join
    /// entries of one scope only); `data` yields its `filesize` bytes.
    /// An entry the kernel would not create is counted and warned about.
    ///
    /// Errors: a failing system call that is not the tree's doing (named),
    /// or a kernel without `openat2` (Linux < 5.6).
    pub fn entry(&mut self, archive: usize, h: &Header, data: &mut dyn Read) -> Result<()> {
        self.stats.entries += 1;
        self.stats.max_mtime = self.stats.max_mtime.max(h.mtime);
        if archive != self.links_archive {
            self.links.clear();
            self.links_archive = archive;
        }
        if let Some(why) = self.create(h, data)? {
            self.stats.skipped += 1;
            self.stats.warnings.push(format!(
                "not creating {:?}, as the kernel would not: {why}",
                h.name_lossy()
            ));
        }
        Ok(())
    }

    fn create(&mut self, h: &Header, data: &mut dyn Read) -> Step {
        let ftype = h.file_type();
        let (parent, name, path) = match place(&h.name) {
            Err(why) => return skip(why),
            Ok((Place::Dir(path), _)) => {
                if ftype != cpio::S_IFDIR {
                    return skip("its name is a directory (it ends in `.` or `..`)");
                }
                // mkdir fails (it exists); mode, owner and mtime apply to it.
                self.record_dir(path, h);
                return Ok(None);
            }
            Ok((Place::Child { parent, name, path }, slash)) => {
                if slash && ftype != cpio::S_IFDIR {
                    return skip("its name ends in `/` but it is not a directory");
                }
                (parent, name, path)
            }
        };
        let linkable = h.nlink >= 2
            && matches!(
                ftype,
                cpio::S_IFREG | cpio::S_IFCHR | cpio::S_IFBLK | cpio::S_IFIFO | cpio::S_IFSOCK
            );
        let link_to = if linkable { self.find_link(h) } else { None };
        let Some(dir) = self.parent(parent)? else {
            return skip(format!(
                "its parent directory {:?} does not exist (the kernel creates no parents)",
                lossy(parent)
            ));
        };
        let dir = dir.as_fd();
        match ftype {
            cpio::S_IFDIR => self.make_dir(dir, name, path, h),
            cpio::S_IFREG => self.make_file(dir, name, link_to, h, data),
            cpio::S_IFLNK => self.make_symlink(dir, name, h, data),
            cpio::S_IFCHR | cpio::S_IFBLK | cpio::S_IFIFO | cpio::S_IFSOCK => {
                self.make_node(dir, name, link_to, h)
            }
            other => {
                if let Clean::Blocked(why) = self.clean(dir, name, None)? {
                    return skip(why);
                }
                skip(format!("its file type {other:o} is unknown"))
            }
        }
    }

    /// The kernel's `find_link`: the first name of this entry's inode in
    /// the current trailer scope, recording this name when it is the first.
    fn find_link(&mut self, h: &Header) -> Option<Vec<u8>> {
        let key = (h.dev_major, h.dev_minor, h.ino, h.file_type());
        match self.links.get(&key) {
            Some(old) => Some(old.clone()),
            None => {
                self.links.insert(key, h.name.clone());
                None
            }
        }
    }

    /// The directory `path` (resolved inside the root), or `None` when the
    /// tree has no directory there.
    fn parent(&mut self, path: &[u8]) -> Result<Option<Rc<OwnedFd>>> {
        if let Some((p, fd)) = &self.cache {
            if p == path {
                return Ok(Some(Rc::clone(fd)));
            }
        }
        match resolve(&self.root, path, false) {
            Ok(fd) => {
                let fd = Rc::new(fd);
                self.cache = Some((path.to_vec(), Rc::clone(&fd)));
                Ok(Some(fd))
            }
            Err(e) if not_there(e) => Ok(None),
            Err(Errno::NOSYS) => bail!(
                "openat2 is not available (extracting safely needs Linux 5.6 or later, \
                 and no seccomp filter blocking openat2)"
            ),
            Err(e) => {
                Err(e).with_context(|| format!("cannot open the directory {:?}", lossy(path)))
            }
        }
    }

    /// The kernel's `clean_path`: removes what is at `name` in `dir` unless
    /// it has the type `keep` (a directory only when empty).
    fn clean(&mut self, dir: BorrowedFd<'_>, name: &[u8], keep: Option<FileType>) -> Result<Clean> {
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(Clean::Absent),
            Err(Errno::NAMETOOLONG) => return Ok(Clean::Blocked(TOO_LONG)),
            Err(e) => return Err(e).context("cannot stat the existing entry"),
        };
        let there = FileType::from_raw_mode(st.st_mode);
        if keep == Some(there) {
            return Ok(Clean::Same);
        }
        self.cache = None;
        if there == FileType::Directory {
            match rustix::fs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
                Ok(()) => Ok(Clean::Absent),
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::BUSY) => Ok(Clean::Blocked(
                    "a non-empty directory of that name is in the way",
                )),
                Err(e) => Err(e).context("cannot remove the existing directory"),
            }
        } else {
            rustix::fs::unlinkat(dir, os(name), AtFlags::empty())
                .context("cannot remove the existing entry")?;
            Ok(Clean::Absent)
        }
    }

    /// The kernel's `maybe_link` for a later link: `name` becomes a hard
    /// link to `old`, replacing what is there.
    fn link(&mut self, dir: BorrowedFd<'_>, name: &[u8], old: &[u8]) -> Step {
        if let Clean::Blocked(why) = self.clean(dir, name, None)? {
            return skip(why);
        }
        let gone = || format!("its hard link target {:?} does not exist", lossy(old));
        let Ok((
            Place::Child {
                parent: old_parent,
                name: old_name,
                ..
            },
            _,
        )) = place(old)
        else {
            return skip(gone());
        };
        let Some(old_dir) = self.parent(old_parent)? else {
            return skip(gone());
        };
        match rustix::fs::linkat(&*old_dir, os(old_name), dir, os(name), AtFlags::empty()) {
            Ok(()) => {
                self.stats.hardlinks += 1;
                Ok(None)
            }
            Err(Errno::NOENT | Errno::NOTDIR) => skip(gone()),
            Err(Errno::NAMETOOLONG) => skip(TOO_LONG),
            Err(Errno::PERM) => skip(format!(
                "its hard link target {:?} is a directory now",
                lossy(old)
            )),
            Err(e) => Err(e).with_context(|| format!("cannot hard-link to {:?}", lossy(old))),
        }
    }

    /// Records (or updates) a directory's metadata for [`Self::finish`].
    fn record_dir(&mut self, path: &[u8], h: &Header) {
        let mode = h.mode & 0o7777;
        match self.dir_index.get(path) {
            Some(&i) => {
                // chown/chmod happen at each entry: the last wins; utimes run
                // at the end, newest entry first: the first one's mtime wins.
                let d = &mut self.dirs[i];
                (d.mode, d.uid, d.gid) = (mode, h.uid, h.gid);
            }
            None => {
                self.dir_index.insert(path.to_vec(), self.dirs.len());
                self.dirs.push(DirMeta {
                    path: path.to_vec(),
                    mode,
                    uid: h.uid,
                    gid: h.gid,
                    mtime: h.mtime,
                });
            }
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

    fn make_dir(&mut self, dir: BorrowedFd<'_>, name: &[u8], path: &[u8], h: &Header) -> Step {
        let mkdir = || rustix::fs::mkdirat(dir, os(name), Mode::from_raw_mode(0o700));
        match mkdir() {
            Ok(()) => {}
            Err(Errno::EXIST) => match self.clean(dir, name, Some(FileType::Directory))? {
                Clean::Same => {}
                Clean::Absent => mkdir().context("mkdirat")?,
                Clean::Blocked(why) => return skip(why),
            },
            Err(Errno::NAMETOOLONG) => return skip(TOO_LONG),
            Err(e) => return Err(e).context("mkdirat"),
        }
        self.record_dir(path, h);
        Ok(None)
    }

    fn make_file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        link_to: Option<Vec<u8>>,
        h: &Header,
        data: &mut dyn Read,
    ) -> Step {
        let wflags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = if let Some(old) = link_to {
            if let Some(why) = self.link(dir, name, &old)? {
                return Ok(Some(why));
            }
            // newc stores the data on the last link: it replaces the
            // shared content; without data the content stays.
            let trunc = if h.filesize > 0 {
                OFlags::TRUNC
            } else {
                OFlags::empty()
            };
            rustix::fs::openat(dir, os(name), wflags | trunc, Mode::empty())
                .context("cannot open the hard-linked file")?
        } else {
            let create = || {
                rustix::fs::openat(
                    dir,
                    os(name),
                    wflags | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(0o600),
                )
            };
            let fd = match create() {
                Ok(fd) => fd,
                Err(Errno::EXIST) => match self.clean(dir, name, Some(FileType::RegularFile))? {
                    // O_TRUNC on the existing inode, as the kernel opens it.
                    Clean::Same => {
                        rustix::fs::openat(dir, os(name), wflags | OFlags::TRUNC, Mode::empty())
                            .context("cannot reopen the existing file")?
                    }
                    Clean::Absent => create().context("cannot create the file")?,
                    Clean::Blocked(why) => return skip(why),
                },
                Err(Errno::NAMETOOLONG) => return skip(TOO_LONG),
                Err(e) => return Err(e).context("cannot create the file"),
            };
            self.stats.files += 1;
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
        // After chown and the data, which may clear setuid/setgid bits.
        rustix::fs::fchmod(&file, Mode::from_raw_mode(h.mode & 0o7777)).context("fchmod")?;
        rustix::fs::futimens(&file, &times(h.mtime)).context("futimens")?;
        Ok(None)
    }

    fn make_symlink(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        h: &Header,
        data: &mut dyn Read,
    ) -> Step {
        // At most PATH_MAX bytes: the reader skips longer ones.
        let mut raw = vec![0u8; h.filesize as usize];
        data.read_exact(&mut raw)
            .context("cannot read the symlink target")?;
        let target = raw.split(|&b| b == 0).next().unwrap_or(&[]);
        if let Clean::Blocked(why) = self.clean(dir, name, None)? {
            return skip(why);
        }
        if target.is_empty() {
            return skip("its symlink target is empty");
        }
        if target.len() >= cpio::PATH_MAX as usize {
            return skip("its symlink target is PATH_MAX (4096) bytes or longer");
        }
        match rustix::fs::symlinkat(os(target), dir, os(name)) {
            Ok(()) => {}
            Err(Errno::NAMETOOLONG) => return skip(TOO_LONG),
            Err(e) => return Err(e).context("symlinkat"),
        }
        let (uid, gid) = self.owner(h);
        if uid.is_some() {
            rustix::fs::chownat(dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .context("fchownat")?;
        }
        rustix::fs::utimensat(dir, os(name), &times(h.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .context("utimensat")?;
        Ok(None)
    }

    fn make_node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        link_to: Option<Vec<u8>>,
        h: &Header,
    ) -> Step {
        if let Some(old) = link_to {
            return self.link(dir, name, &old);
        }
        let ftype = FileType::from_raw_mode(h.mode);
        match self.clean(dir, name, Some(ftype))? {
            Clean::Blocked(why) => return skip(why),
            // mknod fails; the node there gets the mode, owner and mtime.
            Clean::Same => {}
            Clean::Absent => {
                let dev = rustix::fs::makedev(h.rdev_major, h.rdev_minor);
                match rustix::fs::mknodat(dir, os(name), ftype, Mode::from_raw_mode(0o600), dev) {
                    Ok(()) => {}
                    Err(Errno::NAMETOOLONG) => return skip(TOO_LONG),
                    Err(e) => return Err(e).context("mknodat"),
                }
            }
        }
        let (uid, gid) = self.owner(h);
        if uid.is_some() {
            rustix::fs::chownat(dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .context("fchownat")?;
        }
        // A node of the entry's type, not a symlink (clean checked).
        rustix::fs::chmodat(
            dir,
            os(name),
            Mode::from_raw_mode(h.mode & 0o7777),
            AtFlags::empty(),
        )
        .context("fchmodat")?;
        rustix::fs::utimensat(dir, os(name), &times(h.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .context("utimensat")?;
        Ok(None)
    }

    /// Applies directory owners, modes and mtimes (deepest first); the top
    /// gets 0755 unless an entry (`.`) names it. Returns what was done.
    pub fn finish(mut self) -> Result<ExtractStats> {
        self.cache = None;
        rustix::fs::fchmod(&self.root, Mode::from_raw_mode(0o755))
            .context("cannot set the mode of the extraction root")?;
        let mut order: Vec<usize> = (0..self.dirs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(depth(&self.dirs[i].path)));
        for i in order {
            let d = &self.dirs[i];
            let shown = lossy(&d.path);
            let fd = match resolve(&self.root, &d.path, true) {
                Ok(fd) => fd,
                // A later entry replaced this directory by something else.
                Err(e) if not_there(e) => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open directory {shown:?}"))
                }
            };
            self.apply_dir(&fd, d)
                .with_context(|| format!("directory {shown:?}"))?;
        }
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
        rustix::fs::futimens(fd, &times(d.mtime)).context("futimens")?;
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
    /// What was created and skipped.
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
    let segments = initramfs::walk(input, &mut ex)?;
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

    fn child<'a>(parent: &'a str, name: &'a str, path: &'a str) -> Place<'a> {
        Place::Child {
            parent: parent.as_bytes(),
            name: name.as_bytes(),
            path: path.as_bytes(),
        }
    }

    #[test]
    fn place_rules() {
        assert_eq!(
            place(b"usr/lib/x"),
            Ok((child("usr/lib", "x", "usr/lib/x"), false))
        );
        assert_eq!(place(b"x"), Ok((child("", "x", "x"), false)));
        assert_eq!(place(b"/etc/x"), Ok((child("/etc", "x", "/etc/x"), false)));
        assert_eq!(place(b"a/../b"), Ok((child("a/..", "b", "a/../b"), false)));
        assert_eq!(place(b"dir//"), Ok((child("", "dir", "dir"), true)));
        assert_eq!(place(b"."), Ok((Place::Dir(b"."), false)));
        assert_eq!(place(b"a/.."), Ok((Place::Dir(b"a/.."), false)));
        assert_eq!(place(b"/"), Ok((Place::Dir(b"/"), true)));
        assert!(place(b"").is_err());
        assert_eq!(depth(b"./a//b/../c"), 4);
        assert_eq!(depth(b"."), 0);
    }
}
