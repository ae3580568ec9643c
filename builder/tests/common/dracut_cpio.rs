//! A stand-in for dracut's enhanced cpio writer, `dracut-cpio --null
//! --mtime 0 [--owner U:G] --data-align N` (dracut-ng
//! src/dracut-cpio/src/main.rs, as `dracut --enhanced-cpio` runs it), to
//! generate padded-name fixtures where the real tool is not installed
//! (Debian does not package it). Same bytes as the real tool, which the
//! `dracut_cpio` test checks whenever the real one is found:
//!
//! - newc headers with upper-case hex; inode numbers count from 0 in
//!   listing order; device fields are the index of the source device
//!   (0 here), written into both `c_devmajor` and `c_devminor`;
//! - names lose a leading `./` (`.` stays);
//! - a regular file larger than the alignment gets NULs after its name's
//!   NUL, counted in `c_namesize`, so that its data starts on a multiple of
//!   the alignment from the start of the output file (`initial_off`: the
//!   size of what the archive is appended to), unless `c_namesize` would
//!   exceed 4096 (`PATH_MAX`);
//! - hard-linked regular files are held back until their last name: the
//!   earlier names (newest first) are written without data, the last one
//!   with the data (and the alignment);
//! - `TRAILER!!!` with `c_nlink` 1, then zeros to a multiple of 512.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

const HEADER_LEN: u64 = 110;
const NAMESIZE_MAX: u64 = 4096;

fn padlen(off: u64, align: u64) -> u64 {
    (align - (off & (align - 1))) % align
}

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// `--data-align`: 0 for none, else a multiple of 4.
    pub align: u64,
    /// Bytes already in the output file the archive is appended to.
    pub initial_off: u64,
    /// `--owner U:G`, or the files' owners.
    pub owner: Option<(u32, u32)>,
}

struct Writer {
    out: Vec<u8>,
    ino: u32,
    opts: Opts,
}

struct Fields {
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    filesize: u32,
    rmajor: u32,
    rminor: u32,
    namesize: u64,
}

impl Writer {
    fn header(&mut self, f: &Fields) {
        // mtime is always 0 (`--mtime 0`); dev major == dev minor == 0.
        write!(
            self.out,
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            f.ino,
            f.mode,
            f.uid,
            f.gid,
            f.nlink,
            0,
            f.filesize,
            0,
            0,
            f.rmajor,
            f.rminor,
            f.namesize,
            0
        )
        .unwrap();
    }

    fn owner(&self, md: &fs::Metadata) -> (u32, u32) {
        self.opts.owner.unwrap_or((md.uid(), md.gid()))
    }

    fn zeros(&mut self, n: u64) {
        self.out.resize(self.out.len() + n as usize, 0);
    }

    /// A name without data: the held-back names of a hard link group.
    fn link_name(&mut self, name: &[u8], ino: u32, md: &fs::Metadata) {
        let (uid, gid) = self.owner(md);
        self.header(&Fields {
            ino,
            mode: md.mode(),
            uid,
            gid,
            nlink: md.nlink() as u32,
            filesize: 0,
            rmajor: 0,
            rminor: 0,
            namesize: name.len() as u64 + 1,
        });
        self.out.extend_from_slice(name);
        let off = self.out.len() as u64 + 1;
        self.zeros(1 + padlen(off, 4));
    }

    fn entry(&mut self, name: &[u8], path: &Path, md: &fs::Metadata, ino: Option<u32>) {
        let ft = md.file_type();
        let mut data = Vec::new();
        if ft.is_symlink() {
            data = fs::read_link(path).unwrap().as_os_str().as_bytes().to_vec();
        } else if ft.is_file() {
            data = fs::read(path).unwrap();
        }
        let (mut rmajor, mut rminor) = (0, 0);
        if ft.is_block_device() || ft.is_char_device() {
            let rd = md.rdev();
            rmajor = (((rd >> 32) & 0xffff_f000) | ((rd >> 8) & 0x0000_0fff)) as u32;
            rminor = (((rd >> 12) & 0xffff_ff00) | (rd & 0x0000_00ff)) as u32;
        }
        let mut seek = 0;
        if ft.is_file() && self.opts.align > 0 && data.len() as u64 > self.opts.align {
            let off =
                self.opts.initial_off + self.out.len() as u64 + HEADER_LEN + name.len() as u64 + 1;
            let len = padlen(off, self.opts.align);
            let padded_namesize = len + name.len() as u64 + 1;
            if padded_namesize <= NAMESIZE_MAX {
                seek = len;
            }
        }
        let ino = ino.unwrap_or_else(|| {
            self.ino += 1;
            self.ino - 1
        });
        let (uid, gid) = self.owner(md);
        self.header(&Fields {
            ino,
            mode: md.mode(),
            uid,
            gid,
            nlink: md.nlink() as u32,
            filesize: data.len() as u32,
            rmajor,
            rminor,
            namesize: name.len() as u64 + 1 + seek,
        });
        self.out.extend_from_slice(name);
        if seek > 0 {
            self.zeros(1 + seek);
            assert_eq!(self.out.len() & 3, 0);
        } else {
            let off = self.out.len() as u64 + 1;
            self.zeros(1 + padlen(off, 4));
        }
        if !data.is_empty() {
            self.out.extend_from_slice(&data);
            let pad = padlen(self.out.len() as u64, 4);
            self.zeros(pad);
        }
    }
}

/// The archive `find . -print0 | LC_ALL=C sort -z | dracut-cpio --null
/// --mtime 0 …` writes for the tree `dir`. Panics on a hard link group not
/// wholly inside `dir` (the real tool then flushes it at the end; not
/// needed here).
pub fn dracut_cpio(dir: &Path, opts: Opts) -> Vec<u8> {
    assert_eq!(opts.align & 3, 0);
    let listing = super::sh(&format!(
        "cd '{}' && find . -print0 | LC_ALL=C sort -z",
        dir.display()
    ));
    let mut w = Writer {
        out: Vec::new(),
        ino: 0,
        opts,
    };
    // Hard link groups: source inode → (reserved ino, names so far, nlink).
    let mut groups: Vec<(u64, u32, Vec<Vec<u8>>, u64)> = Vec::new();
    for rel in listing.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let name = match rel.strip_prefix(b"./") {
            Some(n) if !n.is_empty() => n,
            _ => rel,
        };
        let path = dir.join(std::ffi::OsStr::from_bytes(rel));
        let md = fs::symlink_metadata(&path).unwrap();
        let mut ino = None;
        if md.file_type().is_file() && md.nlink() > 1 {
            let i = match groups.iter().position(|g| g.0 == md.ino()) {
                Some(i) => i,
                None => {
                    groups.push((md.ino(), w.ino, Vec::new(), md.nlink()));
                    w.ino += 1;
                    groups.len() - 1
                }
            };
            let g = &mut groups[i];
            if (g.2.len() as u64) + 1 < g.3 {
                g.2.push(name.to_vec());
                continue;
            }
            let (mapped, held) = (g.1, std::mem::take(&mut g.2));
            for earlier in held.iter().rev() {
                w.link_name(earlier, mapped, &md);
            }
            ino = Some(mapped);
        }
        w.entry(name, &path, &md, ino);
    }
    assert!(
        groups.iter().all(|g| g.2.is_empty()),
        "a hard link group is not wholly inside {}",
        dir.display()
    );
    w.header(&Fields {
        ino: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        filesize: 0,
        rmajor: 0,
        rminor: 0,
        namesize: 11,
    });
    w.out.extend_from_slice(b"TRAILER!!!\0");
    let pad = padlen(w.out.len() as u64, 4);
    w.zeros(pad);
    let pad = padlen(w.out.len() as u64, 512);
    w.zeros(pad);
    w.out
}
