//! Fixture helpers: source trees, packing them with the `cpio` tool,
//! compressing with the real compressors, a tiny newc writer for hostile
//! archives, and a tree description for comparisons. Everything is generated
//! at test time; no binary blobs are checked in.
#![allow(dead_code)]

pub mod dracut_cpio;

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

/// The fields of one hand-written cpio entry, for [`cpio_entry`].
#[derive(Debug, Clone)]
pub struct RawEntry<'a> {
    /// `070701` or `070702`.
    pub magic: &'a str,
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Modification time.
    pub mtime: u32,
    /// The whole name field: the name, its NUL and any padding NULs
    /// (`c_namesize` is its length).
    pub name_field: Vec<u8>,
    /// The data.
    pub data: &'a [u8],
}

impl<'a> RawEntry<'a> {
    /// A newc entry with a plain name (one NUL), nlink 1, inode 1.
    pub fn new(name: &str, mode: u32, data: &'a [u8]) -> Self {
        RawEntry {
            magic: "070701",
            ino: 1,
            mode,
            nlink: 1,
            mtime: 1_700_000_000,
            name_field: [name.as_bytes(), b"\0"].concat(),
            data,
        }
    }
}

/// Appends one cpio entry written by hand (for archives the cpio tool
/// refuses to make): header, name field, zeros to a multiple of 4 (of
/// `out`'s length), data, zeros to a multiple of 4.
pub fn cpio_entry(out: &mut Vec<u8>, e: &RawEntry) {
    let check = if e.magic == "070702" {
        e.data
            .iter()
            .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
    } else {
        0
    };
    let fields = [
        e.ino,
        e.mode,
        0,
        0,
        e.nlink,
        e.mtime,
        e.data.len() as u32,
        0,
        0,
        0,
        0,
        e.name_field.len() as u32,
        check,
    ];
    out.extend_from_slice(e.magic.as_bytes());
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(&e.name_field);
    while out.len() & 3 != 0 {
        out.push(0);
    }
    out.extend_from_slice(e.data);
    while out.len() & 3 != 0 {
        out.push(0);
    }
}

/// A newc entry written by hand (for archives the cpio tool refuses to make).
pub fn newc_entry(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    cpio_entry(out, &RawEntry::new(name, mode, data));
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

/// The real `dracut-cpio`, if there is one: `$DRACUT_CPIO`, dracut's
/// `/usr/lib/dracut/dracut-cpio` (Fedora), or `dracut-cpio` on PATH.
pub fn real_dracut_cpio() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DRACUT_CPIO") {
        return Some(PathBuf::from(p));
    }
    let packaged = Path::new("/usr/lib/dracut/dracut-cpio");
    if packaged.is_file() {
        return Some(packaged.to_path_buf());
    }
    have("dracut-cpio").then(|| {
        let p = sh("command -v dracut-cpio");
        PathBuf::from(String::from_utf8(p).unwrap().trim())
    })
}

/// The entries of an uncompressed cpio file, read the simplest way, as a
/// check on fixtures independent of the reader under test: (name up to the
/// first NUL, `c_namesize`, offset of the data in `img`, `c_filesize`).
/// Zero bytes between entries are skipped.
pub fn raw_entries(img: &[u8]) -> Vec<(String, usize, usize, usize)> {
    let hex = |at: usize| {
        usize::from_str_radix(std::str::from_utf8(&img[at..at + 8]).unwrap(), 16).unwrap()
    };
    let align4 = |n: usize| (n + 3) & !3;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 110 <= img.len() {
        if img[pos] == 0 {
            pos += 1;
            continue;
        }
        assert_eq!(&img[pos..pos + 5], b"07070", "no header at byte {pos}");
        let (filesize, namesize) = (hex(pos + 6 + 8 * 6), hex(pos + 6 + 8 * 11));
        let field = &img[pos + 110..pos + 110 + namesize];
        let name = field.split(|&b| b == 0).next().unwrap();
        let data = align4(pos + 110 + namesize);
        out.push((
            String::from_utf8_lossy(name).into_owned(),
            namesize,
            data,
            filesize,
        ));
        pos = align4(data + filesize);
    }
    out
}

/// Why an erofs image cannot be loop-mounted here, if it cannot.
pub fn erofs_mount_unavailable() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    if !have("unshare") || !have("mkfs.erofs") {
        return Some("unshare or mkfs.erofs missing".into());
    }
    let fs = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs.lines().any(|l| l.trim_end().ends_with("erofs")) {
        return Some("the kernel has no erofs".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control".into());
    }
    None
}

/// [`describe`] of the erofs `image`, loop-mounted read-only on the empty
/// directory `mnt` in a private mount namespace (gone afterwards).
pub fn describe_erofs(image: &Path, mnt: &Path) -> String {
    fs::create_dir_all(mnt).unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t erofs -o loop,ro {img} {mnt} && sh {script} {mnt}",
            img = image.display(),
            mnt = mnt.display(),
            script = describe_script().display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The mount lived in the private namespace only.
    assert_eq!(fs::read_dir(mnt).unwrap().count(), 0);
    String::from_utf8(out.stdout).unwrap()
}
