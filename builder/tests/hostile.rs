//! Hostile archives. Names resolve inside the target the way the kernel
//! resolves them inside its rootfs (absolute names, `..` and planted
//! symlinks included), and nothing outside the target ever changes: the
//! sandbox around it, a sentinel directory in it included, is compared
//! before and after. Broken input is refused with a clear error and leaves
//! nothing behind.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use initoverlayfs_builder::extract::{extract_path, extract_to_temp, Extracted};

const DIR: u32 = 0o040755;
const REG: u32 = 0o100644;
const LNK: u32 = 0o120777;

/// Every path of `sandbox` outside `work`, with the content of files.
fn snapshot(sandbox: &Path) -> Vec<String> {
    all_paths(sandbox)
        .into_iter()
        .filter(|p| p != "./work" && !p.starts_with("./work/"))
        .map(|p| match fs::read(sandbox.join(&p)) {
            Ok(data) => format!("{p} {}", String::from_utf8_lossy(&data)),
            Err(_) => p,
        })
        .collect()
}

/// A sandbox with `work` (where extraction happens) and a sentinel
/// `victim/passwd` next to it.
fn sandbox() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("work")).unwrap();
    fs::create_dir_all(tmp.path().join("victim")).unwrap();
    fs::write(tmp.path().join("victim/passwd"), "root:x:0:0\n").unwrap();
    tmp
}

/// Extracts `img` inside `sandbox/work` and checks that nothing outside
/// `work` changed.
fn contained(sandbox: &Path, img: &[u8]) -> Extracted {
    let before = snapshot(sandbox);
    let ex = extract_to_temp(img, &sandbox.join("work")).unwrap();
    assert_eq!(snapshot(sandbox), before, "something outside changed");
    assert!(ex.tree.starts_with(sandbox.join("work")));
    ex
}

/// Extracts `img` inside `sandbox/work`, returns the error text, and checks
/// that the sandbox holds exactly what it held before.
fn refused(img: &[u8]) -> String {
    let tmp = sandbox();
    let sandbox = tmp.path();
    let before = all_paths(sandbox);
    let err = format!(
        "{:#}",
        extract_to_temp(img, &sandbox.join("work")).unwrap_err()
    );
    assert_eq!(
        all_paths(sandbox),
        before,
        "something was left behind: {err}"
    );
    assert_eq!(
        fs::read_to_string(sandbox.join("victim/passwd")).unwrap(),
        "root:x:0:0\n"
    );
    err
}

fn warned(ex: &Extracted, name: &str, why: &str) -> bool {
    ex.stats
        .warnings
        .lines()
        .iter()
        .any(|w| w.contains(&format!("{name:?}")) && w.contains(why))
}

#[test]
fn dotdot_stays_at_the_top() {
    let tmp = sandbox();
    // `..` at the top of the tree is the top, as `/..` is `/`.
    let img = newc(&[
        ("a", DIR, b""),
        ("a/../../victim/passwd", REG, b"pwned"),
        ("../../../escape", REG, b"inside"),
        ("victim", DIR, b""),
        ("a/../../../../victim/passwd", REG, b"in the tree"),
    ]);
    let ex = contained(tmp.path(), &img);
    assert!(warned(&ex, "a/../../victim/passwd", "parent"));
    assert_eq!(
        fs::read_to_string(ex.tree.join("escape")).unwrap(),
        "inside"
    );
    assert_eq!(
        fs::read_to_string(ex.tree.join("victim/passwd")).unwrap(),
        "in the tree"
    );
    assert_eq!(ex.stats.skipped, 1);
}

#[test]
fn absolute_names_are_inside_the_tree() {
    let tmp = sandbox();
    let img = newc(&[
        ("/tmp/initoverlayfs-pwned", REG, b"pwned"),
        ("/etc", DIR, b""),
        ("/etc/hostname", REG, b"inside\n"),
    ]);
    let ex = contained(tmp.path(), &img);
    assert!(!Path::new("/tmp/initoverlayfs-pwned").exists());
    assert!(warned(&ex, "/tmp/initoverlayfs-pwned", "parent"));
    assert_eq!(
        fs::read_to_string(ex.tree.join("etc/hostname")).unwrap(),
        "inside\n"
    );
}

#[test]
fn planted_symlinks_resolve_inside_the_tree() {
    let tmp = sandbox();
    let victim = tmp.path().join("victim");
    let abs = victim.to_string_lossy().into_owned();
    let img = newc(&[
        // Absolute and relative links out of the tree: followed, but from
        // the tree's top, where these directories do not exist.
        ("esc", LNK, abs.as_bytes()),
        ("esc/passwd", REG, b"pwned"),
        ("rel", LNK, b"../../../../../../victim"),
        ("rel/passwd", REG, b"pwned"),
        // A link to a directory of the tree: written through, as at boot.
        ("etc", DIR, b""),
        ("lnk", LNK, b"/etc"),
        ("lnk/passwd", REG, b"through the link"),
        // The last component is never followed: the link is replaced.
        ("f", LNK, format!("{abs}/passwd").as_bytes()),
        ("f", REG, b"replaced the link"),
    ]);
    let ex = contained(tmp.path(), &img);
    assert!(warned(&ex, "esc/passwd", "parent"));
    assert!(warned(&ex, "rel/passwd", "parent"));
    assert_eq!(
        fs::read_to_string(ex.tree.join("etc/passwd")).unwrap(),
        "through the link"
    );
    assert_eq!(
        fs::read_to_string(ex.tree.join("f")).unwrap(),
        "replaced the link"
    );
    assert!(!ex.tree.join("f").is_symlink());
    assert_eq!(ex.stats.skipped, 2);
}

#[test]
fn hard_links_to_outside_names_stay_inside() {
    let tmp = sandbox();
    let mut img = Vec::new();
    let first = RawEntry {
        ino: 7,
        nlink: 2,
        ..RawEntry::new("../../victim/passwd", REG, b"")
    };
    cpio_entry(&mut img, &first);
    let second = RawEntry {
        ino: 7,
        nlink: 2,
        ..RawEntry::new("x", REG, b"pwned")
    };
    cpio_entry(&mut img, &second);
    newc_entry(&mut img, "TRAILER!!!", 0, b"");
    let ex = contained(tmp.path(), &img);
    assert!(
        warned(&ex, "x", "hard link target"),
        "{:?}",
        ex.stats.warnings
    );
    assert_eq!(all_paths(&ex.tree), vec!["."]);
}

#[test]
fn truncated_mid_file_names_entry_and_offset() {
    let mut img = newc(&[("ok", REG, b"fine"), ("big", REG, &[7u8; 100_000])]);
    let second = 112 + 4 + 4; // header(110)+"ok\0"(3) padded to 116, 4 data bytes
    img.truncate(second + 50_000);
    let err = refused(&img);
    assert!(
        err.contains("\"big\"")
            && err.contains(&format!("byte {second}"))
            && err.contains("truncated"),
        "{err}"
    );

    // A gzip stream cut in the middle of that file.
    let full = newc(&[("ok", REG, b"fine"), ("big", REG, &[7u8; 100_000])]);
    let mut gz = compress(&full, "gzip -1 -c");
    gz.truncate(gz.len() / 2);
    let err = refused(&gz);
    assert!(
        err.contains("\"big\"") && err.contains("gzip stream at byte 0"),
        "{err}"
    );
}

#[test]
fn cli_exit_codes_and_nothing_written_on_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    // A name field without its final NUL: the kernel refuses the archive.
    let mut malformed = Vec::new();
    let e = RawEntry {
        name_field: b"escape".to_vec(),
        ..RawEntry::new("", REG, b"x")
    };
    cpio_entry(&mut malformed, &e);
    let bad = tmp.path().join("bad.img");
    fs::write(&bad, malformed).unwrap();
    let good = tmp.path().join("good.img");
    fs::write(
        &good,
        newc(&[
            ("etc", DIR, b""),
            ("etc/f", REG, b"hello"),
            ("../escape", REG, b"x"),
        ]),
    )
    .unwrap();

    let out = Command::new(bin())
        .args(["extract"])
        .arg(&bad)
        .arg(tmp.path().join("d1"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"escape\"") && stderr.contains("does not end in a NUL"),
        "{stderr}"
    );
    assert_eq!(all_paths(tmp.path()), vec![".", "./bad.img", "./good.img"]);

    if have("mkfs.erofs") {
        let out = Command::new(bin())
            .args(["erofs"])
            .arg(&bad)
            .arg(tmp.path().join("x.erofs"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(all_paths(tmp.path()), vec![".", "./bad.img", "./good.img"]);
        let out = Command::new(bin())
            .args(["erofs", "--compression", "brotli"])
            .arg(&good)
            .arg(tmp.path().join("x.erofs"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "a bad --compression is a usage error"
        );
    }
    let out = Command::new(bin())
        .args(["extract", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(bin()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = Command::new(bin())
        .args(["extract"])
        .arg(&good)
        .arg(tmp.path().join("d2"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("d2/etc/f")).unwrap(),
        "hello"
    );
    // `../escape` is `/escape` at boot: inside d2.
    assert_eq!(
        fs::read_to_string(tmp.path().join("d2/escape")).unwrap(),
        "x"
    );
    assert!(!tmp.path().join("escape").exists());
    // Not empty now: refused.
    let err = format!(
        "{:#}",
        extract_path(&good, &tmp.path().join("d2")).unwrap_err()
    );
    assert!(err.contains("not empty"), "{err}");

    let out = Command::new(bin())
        .args(["list", "--json"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["segments"][0]["format"], "cpio");
    assert_eq!(v["entries"][1]["name"], "etc/f");
}

#[test]
fn later_entries_replace_earlier_ones() {
    // A directory replaced by a file and a file by a directory, across two
    // archives (the kernel lets later entries win too).
    let tmp = tempfile::tempdir().unwrap();
    let mut img = newc(&[("d", DIR, b""), ("f", REG, b"file")]);
    img.extend_from_slice(&newc(&[("d", REG, b"now a file"), ("f", DIR, b"")]));
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(ex.tree.join("d")).unwrap(), "now a file");
    assert!(ex.tree.join("f").is_dir());
    // A non-empty directory is not replaced: the kernel's rmdir fails.
    let img = newc(&[
        ("d", DIR, b""),
        ("d/x", REG, b"x"),
        ("d", REG, b"file"),
        ("d", LNK, b"target"),
    ]);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(ex.tree.join("d/x")).unwrap(), "x");
    assert_eq!(ex.stats.skipped, 2);
    assert!(warned(&ex, "d", "non-empty directory"));
}
