//! Hostile archives: each is refused with a clear error, and writes nothing
//! outside the target (the sandbox around it is unchanged, and the private
//! temporary directory is gone).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use initoverlayfs_builder::extract::{extract_path, extract_to_temp};

const DIR: u32 = 0o040755;
const REG: u32 = 0o100644;
const LNK: u32 = 0o120777;

/// Extracts `img` inside `sandbox/work`, returns the error text, and checks
/// that the sandbox holds exactly what it held before.
fn refused(img: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let sandbox = tmp.path();
    fs::create_dir_all(sandbox.join("work")).unwrap();
    fs::create_dir_all(sandbox.join("victim")).unwrap();
    fs::write(sandbox.join("victim/passwd"), "root:x:0:0\n").unwrap();
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

#[test]
fn dotdot_names_are_refused() {
    let img = newc(&[("a", DIR, b""), ("a/../../victim/passwd", REG, b"pwned")]);
    let err = refused(&img);
    assert!(
        err.contains("..") && err.contains("a/../../victim/passwd"),
        "{err}"
    );
}

#[test]
fn absolute_names_are_refused() {
    let img = newc(&[("/tmp/initoverlayfs-pwned", REG, b"pwned")]);
    let err = refused(&img);
    assert!(
        err.contains("absolute") && err.contains("/tmp/initoverlayfs-pwned"),
        "{err}"
    );
    assert!(!Path::new("/tmp/initoverlayfs-pwned").exists());
}

#[test]
fn writing_through_a_planted_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("outside");
    fs::create_dir_all(&victim).unwrap();
    let target = victim.to_string_lossy().into_owned();
    // Plant `esc -> /outside/dir`, then write `esc/passwd` through it; also
    // replace a file by a symlink and write the same name again.
    let img = newc(&[
        ("esc", LNK, target.as_bytes()),
        ("esc/passwd", REG, b"pwned"),
    ]);
    let err = refused(&img);
    assert!(
        err.contains("refusing to write through") && err.contains("esc/passwd"),
        "{err}"
    );
    assert!(!victim.join("passwd").exists());

    // A symlink then a regular file of the same name: the link is replaced,
    // not followed.
    let img = newc(&[
        ("f", LNK, victim.join("x").to_string_lossy().as_bytes()),
        ("f", REG, b"data"),
    ]);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(ex.tree.join("f")).unwrap(), "data");
    assert!(!victim.join("x").exists());
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
fn cli_exit_codes_and_nothing_written_on_hostile_input() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.img");
    fs::write(&bad, newc(&[("../escape", REG, b"x")])).unwrap();
    let good = tmp.path().join("good.img");
    fs::write(&good, newc(&[("etc", DIR, b""), ("etc/f", REG, b"hello")])).unwrap();

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
    assert!(String::from_utf8_lossy(&out.stderr).contains("../escape"));
    assert!(!tmp.path().join("d1").exists() && !tmp.path().join("escape").exists());
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
}
