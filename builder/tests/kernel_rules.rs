//! The kernel's unpacking rules (init/initramfs.c; written down in the
//! docs of `cpio.rs` and `extract.rs`), one generated fixture each, checked
//! through `list` and `extract` as a user sees them.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;
use initoverlayfs_builder::extract::{extract_to_temp, Extracted};
use initoverlayfs_builder::list::list;

const DIR: u32 = 0o040755;
const REG: u32 = 0o100644;
const LNK: u32 = 0o120777;
const FIFO: u32 = 0o010644;

fn extract(img: &[u8]) -> (tempfile::TempDir, Extracted) {
    let tmp = tempfile::tempdir().unwrap();
    let ex = extract_to_temp(img, tmp.path()).unwrap_or_else(|e| panic!("{e:#}"));
    (tmp, ex)
}

fn warnings(ex: &Extracted) -> String {
    ex.stats.warnings.lines().join("\n")
}

/// `entries` written with [`cpio_entry`], without a trailer.
fn archive(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        cpio_entry(&mut out, e);
    }
    out
}

fn trailer() -> RawEntry<'static> {
    RawEntry::new("TRAILER!!!", 0, b"")
}

fn linked<'a>(name: &str, mode: u32, ino: u32, data: &'a [u8]) -> RawEntry<'a> {
    RawEntry {
        ino,
        nlink: 2,
        ..RawEntry::new(name, mode, data)
    }
}

#[test]
fn entries_the_kernel_skips_are_listed_as_warnings_and_not_created() {
    let long = format!("{}\0", "x".repeat(4096));
    let img = archive(&[
        RawEntry::new("d", DIR, b""),
        // A directory and a fifo carrying data: do_header skips them.
        RawEntry::new("d2", DIR, b"data"),
        RawEntry::new("d/fifo", FIFO, b"data"),
        // A name field of 4097 bytes (> PATH_MAX) and one of 0 bytes.
        RawEntry {
            name_field: long.into_bytes(),
            ..RawEntry::new("", REG, b"long")
        },
        RawEntry {
            name_field: Vec::new(),
            ..RawEntry::new("", REG, b"none")
        },
        // A symlink target longer than PATH_MAX.
        RawEntry::new("d/ln", LNK, &[b't'; 4097]),
        RawEntry::new("d/kept", REG, b"kept"),
        trailer(),
    ]);
    let l = list(&img[..]).unwrap();
    let names: Vec<&str> = l.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["d", "d/kept"]);
    assert_eq!(l.warnings.len(), 5, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("\"d2\"") && l.warnings[0].contains("carries 4 bytes"));
    assert!(l.warnings[2].contains("name field is 4097 bytes"));
    assert!(l.warnings[3].contains("name field is 0 bytes"));
    assert!(l.warnings[4].contains("\"d/ln\"") && l.warnings[4].contains("4097"));
    let (_t, ex) = extract(&img);
    assert_eq!(all_paths(&ex.tree), [".", "./d", "./d/kept"]);
    assert_eq!(ex.stats.skipped, 5, "{}", warnings(&ex));
}

#[test]
fn trailers_are_optional_and_scope_hard_links() {
    // Raw entries without a trailer, then a gzip stream: the kernel's link
    // table lives until a TRAILER!!!, so `b` in the stream links to `a`.
    let mut img = archive(&[RawEntry::new(".", DIR, b""), linked("a", REG, 5, b"")]);
    let raw_len = img.len();
    img.extend(compress(
        &archive(&[linked("b", REG, 5, b"shared")]),
        "gzip -c",
    ));
    let (_t, ex) = extract(&img);
    let (a, b) = (ex.tree.join("a"), ex.tree.join("b"));
    assert_eq!(
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&b).unwrap().ino()
    );
    assert_eq!(fs::read_to_string(&a).unwrap(), "shared");
    assert_eq!(ex.segments.len(), 2);
    assert_eq!(ex.segments[0].uncompressed_bytes as usize, raw_len);

    // A trailer between them ends the scope: two files.
    let mut img = archive(&[linked("a", REG, 5, b""), trailer()]);
    img.extend(archive(&[linked("b", REG, 5, b"own"), trailer()]));
    let (_t, ex) = extract(&img);
    let (a, b) = (ex.tree.join("a"), ex.tree.join("b"));
    assert_ne!(
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&b).unwrap().ino()
    );
    assert_eq!(fs::read_to_string(&a).unwrap(), "");
    assert_eq!(fs::read_to_string(&b).unwrap(), "own");
    let l = list(&img[..]).unwrap();
    assert_eq!((l.segments.len(), l.segments[0].archives), (1, 2));
}

#[test]
fn zero_padding_between_members_and_entries() {
    // Zeros between entries of one archive, between archives, before a
    // compressed stream and inside it: all skipped, on a 4-byte grid.
    let mut inner = archive(&[RawEntry::new("one", REG, b"1")]);
    inner.extend_from_slice(&[0u8; 64]);
    inner.extend(archive(&[RawEntry::new("two", REG, b"2"), trailer()]));
    let mut img = archive(&[RawEntry::new("zero", REG, b"0")]);
    img.extend_from_slice(&[0u8; 8]);
    img.extend(archive(&[RawEntry::new("three", REG, b"3"), trailer()]));
    // After an uncompressed entry even a compressed stream must start on
    // the grid (do_reset); 511 zeros would be "broken padding".
    let mut off_grid = img.clone();
    off_grid.extend_from_slice(&[0u8; 511]);
    off_grid.extend(compress(&inner, "zstd -q -c"));
    let err = format!("{:#}", list(&off_grid[..]).unwrap_err());
    assert!(err.contains("broken padding"), "{err}");
    img.extend_from_slice(&[0u8; 512]);
    img.extend(compress(&inner, "zstd -q -c"));
    // After a compressed stream it may start anywhere.
    img.extend_from_slice(&[0u8; 3]);
    img.extend(compress(
        &archive(&[RawEntry::new("four", REG, b"4")]),
        "gzip -c",
    ));
    let l = list(&img[..]).unwrap();
    let names: Vec<&str> = l.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["zero", "three", "one", "two", "four"]);

    // Off the grid inside the stream: "broken padding".
    let mut bad = archive(&[RawEntry::new("one", REG, b"1")]);
    let at = bad.len() + 2;
    bad.extend_from_slice(&[0u8; 2]);
    bad.extend(archive(&[RawEntry::new("two", REG, b"2")]));
    let mut img = archive(&[RawEntry::new("x", REG, b"x")]);
    img.extend(compress(&bad, "gzip -c"));
    let err = format!("{:#}", list(&img[..]).unwrap_err());
    assert!(
        err.contains("broken padding") && err.contains(&format!("byte {at} of the gzip stream")),
        "{err}"
    );
}

#[test]
fn the_first_compressed_stream_must_start_with_a_header() {
    let mut body = vec![0u8; 4];
    body.extend(archive(&[RawEntry::new("f", REG, b"x"), trailer()]));
    let z = compress(&body, "gzip -c");
    let err = format!("{:#}", list(&z[..]).unwrap_err());
    assert!(
        err.contains("not a cpio header") && err.contains("byte 0"),
        "{err}"
    );
    // After another segment, the state machine skips the zeros.
    let mut img = archive(&[RawEntry::new("e", REG, b"early"), trailer()]);
    img.extend(&z);
    assert_eq!(list(&img[..]).unwrap().entries.len(), 2);
    // An empty stream: refused first, accepted later.
    let empty = compress(b"", "gzip -c");
    assert!(list(&empty[..]).is_err());
    let mut img = archive(&[RawEntry::new("e", REG, b"early"), trailer()]);
    img.extend(&empty);
    assert_eq!(list(&img[..]).unwrap().segments.len(), 2);
    // Junk after the entries inside a stream.
    let mut body = archive(&[RawEntry::new("f", REG, b"x"), trailer()]);
    body.extend_from_slice(b"junk");
    let err = format!("{:#}", list(&compress(&body, "gzip -c")[..]).unwrap_err());
    assert!(err.contains("junk"), "{err}");
}

#[test]
fn crc_archives_are_checked_newc_ones_not() {
    let crc = |name: &str, data: &'static [u8]| RawEntry {
        magic: "070702",
        ..RawEntry::new(name, REG, data)
    };
    let mut img = archive(&[crc("a", b"abc"), RawEntry::new("b", REG, b"abc"), trailer()]);
    assert_eq!(list(&img[..]).unwrap().entries.len(), 2);
    // Flip a data byte of the crc entry.
    let at = img.windows(3).position(|w| w == b"abc").unwrap();
    img[at] = b'x';
    let err = format!("{:#}", list(&img[..]).unwrap_err());
    assert!(
        err.contains("crc mismatch") && err.contains("\"a\""),
        "{err}"
    );
}

#[test]
fn existing_files_are_rewritten_in_place_like_the_kernel() {
    // `a`/`b` hard-linked, then a later `a` (nlink 1) with new data: the
    // kernel opens the existing inode with O_TRUNC, so `b` changes too.
    let img = archive(&[
        linked("a", REG, 3, b""),
        linked("b", REG, 3, b"old"),
        trailer(),
        RawEntry::new("a", REG, b"new"),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert_eq!(fs::read_to_string(ex.tree.join("b")).unwrap(), "new");
    // A hard link entry naming itself: the kernel removes the name, then
    // cannot link it.
    let img = archive(&[
        linked("s", REG, 4, b"x"),
        linked("s", REG, 4, b"y"),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert!(!ex.tree.join("s").exists());
    assert!(
        warnings(&ex).contains("hard link target"),
        "{}",
        warnings(&ex)
    );
}

#[test]
fn fifos_and_nodes_hard_link_too() {
    let img = archive(&[
        linked("p1", FIFO, 9, b""),
        linked("p2", FIFO, 9, b""),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    let (m1, m2) = (
        fs::symlink_metadata(ex.tree.join("p1")).unwrap(),
        fs::symlink_metadata(ex.tree.join("p2")).unwrap(),
    );
    assert_eq!(m1.ino(), m2.ino());
    assert_eq!(m1.nlink(), 2);
    // Same inode number, different type: not joined (find_link compares types).
    let img = archive(&[
        linked("p", FIFO, 9, b""),
        linked("f", REG, 9, b"data"),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert_eq!(fs::read_to_string(ex.tree.join("f")).unwrap(), "data");
}

#[test]
fn symlink_targets_end_at_a_nul_and_empty_ones_create_nothing() {
    let img = archive(&[
        RawEntry::new("l", LNK, b"target\0ignored"),
        RawEntry::new("gone", REG, b"was here"),
        RawEntry::new("gone", LNK, b"\0"),
        trailer(),
    ]);
    let l = list(&img[..]).unwrap();
    assert_eq!(l.entries[0].target.as_deref(), Some("target"));
    let (_t, ex) = extract(&img);
    assert_eq!(
        fs::read_link(ex.tree.join("l")).unwrap().to_str(),
        Some("target")
    );
    // clean_path removed the file; symlink("") then failed.
    assert!(fs::symlink_metadata(ex.tree.join("gone")).is_err());
    assert!(
        warnings(&ex).contains("target is empty"),
        "{}",
        warnings(&ex)
    );
}

#[test]
fn unknown_types_only_remove_what_is_there() {
    let img = archive(&[
        RawEntry::new("f", REG, b"x"),
        RawEntry::new("f", 0o030644, b""),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert_eq!(all_paths(&ex.tree), ["."]);
    assert!(warnings(&ex).contains("unknown"), "{}", warnings(&ex));
}

#[test]
fn names_the_kernel_cannot_create_are_skipped() {
    let img = archive(&[
        RawEntry::new("d", DIR, b""),
        RawEntry::new("d/", REG, b"slash"),
        RawEntry::new("d/..", REG, b"dotdot"),
        RawEntry::new("d/sub/", DIR, b""),
        RawEntry::new(&"n".repeat(256), REG, b"too long"),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert_eq!(all_paths(&ex.tree), [".", "./d", "./d/sub"]);
    let w = warnings(&ex);
    assert!(w.contains("ends in `/`"), "{w}");
    assert!(w.contains("ends in `.` or `..`"), "{w}");
    assert!(w.contains("longer than 255"), "{w}");
}

#[test]
fn directory_metadata_last_mode_first_mtime() {
    let dir = |mode: u32, mtime: u32| RawEntry {
        mtime,
        ..RawEntry::new("d", 0o040000 | mode, b"")
    };
    let img = archive(&[
        dir(0o700, 1000),
        dir(0o750, 2000),
        RawEntry::new("d/f", REG, b"x"),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    let m = fs::metadata(ex.tree.join("d")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(m.mtime(), 1000);
    // `.` and `a/..` name the top.
    let img = archive(&[
        RawEntry::new("a", DIR, b""),
        RawEntry::new("a/..", 0o040710, b""),
        trailer(),
    ]);
    let (_t, ex) = extract(&img);
    assert_eq!(fs::metadata(&ex.tree).unwrap().mode() & 0o7777, 0o710);
}
