//! Fixture helpers: source trees, packing them with the `cpio` tool,
//! compressing with the real compressors, a tiny newc writer for hostile
//! archives, and a tree description for comparisons. Everything is generated
//! at test time; no binary blobs are checked in.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether we run as root (device nodes, owners, loop mounts need it).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs a shell command line, panicking with its stderr on failure.
pub fn sh(script: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Builds a small tree with every file type: dirs, files (one setuid, one
/// long-named deep), a hardlink pair, a symlink, a fifo, a socket and (as root) a
/// character device and non-root owners. Returns its path.
pub fn sample_tree(base: &Path) -> PathBuf {
    let t = base.join("src");
    fs::create_dir_all(t.join("usr/bin")).unwrap();
    fs::create_dir_all(t.join("etc")).unwrap();
    fs::create_dir_all(t.join("dev")).unwrap();
    fs::write(t.join("etc/hostname"), "initoverlayfs\n").unwrap();
    fs::write(t.join("usr/bin/tool"), vec![0x7fu8; 70_000]).unwrap();
    fs::set_permissions(t.join("usr/bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(t.join("usr/bin/a"), "same inode\n").unwrap();
    fs::hard_link(t.join("usr/bin/a"), t.join("usr/bin/b")).unwrap();
    symlink("../usr/bin/tool", t.join("etc/link")).unwrap();
    // 254, not 255 (NAME_MAX): mkfs.erofs 1.5 (Debian 12) fails with ENOENT
    // on 255-byte names; extraction of 255-byte names is tested separately.
    let long = format!("deep/{}/{}", "d".repeat(200), "n".repeat(254));
    fs::create_dir_all(t.join(&long).parent().unwrap()).unwrap();
    fs::write(t.join(&long), "long name\n").unwrap();
    sh(&format!("mkfifo {}", t.join("dev/fifo").display()));
    // A unix socket file (bound, then the listener is dropped).
    drop(std::os::unix::net::UnixListener::bind(t.join("dev/socket")).unwrap());
    if is_root() {
        sh(&format!("mknod {} c 1 3", t.join("dev/null").display()));
        sh(&format!(
            "chown 1000:1001 {}",
            t.join("etc/hostname").display()
        ));
        sh(&format!("chown -h 7:8 {}", t.join("etc/link").display()));
    }
    sh(&format!("chmod 0700 {}", t.join("etc").display()));
    // Fixed mtimes so comparisons are exact.
    sh(&format!(
        "find {} -exec touch -h -d @1700000000 {{}} +",
        t.display()
    ));
    t
}

/// Packs `dir` into a cpio archive with GNU cpio (`newc` or `crc`), sorted.
pub fn pack(dir: &Path, format: &str) -> Vec<u8> {
    sh(&format!(
        "cd {} && find . | LC_ALL=C sort | cpio --quiet -o -H {format}",
        dir.display()
    ))
}

/// Compresses `data` with a real tool command line reading stdin (`gzip -c`,
/// `zstd -q -c`, `lz4 -l -c`, …).
pub fn compress(data: &[u8], cmd: &str) -> Vec<u8> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} failed");
    out.stdout
}

/// A newc entry written by hand (for archives the cpio tool refuses to make).
pub fn newc_entry(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    let fields = [
        1u32,
        mode,
        0,
        0,
        1,
        1_700_000_000,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() & 3 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() & 3 != 0 {
        out.push(0);
    }
}

/// A whole newc archive of `(name, mode, data)` entries plus the trailer.
pub fn newc(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, mode, data) in entries {
        newc_entry(&mut out, name, *mode, data);
    }
    newc_entry(&mut out, "TRAILER!!!", 0, b"");
    out
}

/// The path of the checked-in tree description script.
pub fn describe_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/describe-tree.sh")
}

/// One line per path of `dir`: type, mode, owner, links, size, target,
/// mtime, device number and content hash (see tests/describe-tree.sh).
pub fn describe(dir: &Path) -> String {
    String::from_utf8(sh(&format!(
        "sh {} {}",
        describe_script().display(),
        dir.display()
    )))
    .unwrap()
}

/// Lists every path below `dir` (to prove nothing else appeared).
pub fn all_paths(dir: &Path) -> Vec<String> {
    let out = sh(&format!("cd {} && find . | LC_ALL=C sort", dir.display()));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The built CLI binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_initoverlayfs-builder")
}
