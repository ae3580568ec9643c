//! Helpers shared by the privileged integration tests.
#![allow(dead_code)] // each test crate uses a subset

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_initoverlayfs");

/// Tools the chroot-based tests (pid1, systemd mode) need.
pub const CHROOT_TOOLS: &[&str] = &[
    "unshare",
    "mkfs.erofs",
    "mkfs.ext4",
    "losetup",
    "chroot",
    "ldd",
    "dash",
];
/// Filesystems the chroot-based tests mount.
pub const CHROOT_FILESYSTEMS: &[&str] = &["erofs", "overlay", "tmpfs", "ext4"];

/// Why a privileged test cannot run here, if it cannot: not root, no loop
/// devices, a missing tool, or a filesystem the kernel lacks.
pub fn missing_capability(tools: &[&str], filesystems: &[&str]) -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control".into());
    }
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    let known = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    for want in filesystems {
        if !known
            .lines()
            .any(|l| l.split_whitespace().last() == Some(want))
        {
            return Some(format!(
                "the kernel has no {want} (not in /proc/filesystems)"
            ));
        }
    }
    None
}

/// Returns early from a test, printing why, when [`missing_capability`] says so.
#[macro_export]
macro_rules! require {
    ($tools:expr, $fs:expr) => {
        if let Some(why) = common::missing_capability($tools, $fs) {
            eprintln!("SKIP: {why}");
            return;
        }
    };
}

/// Copies `bin` into `root` at `dest`, with the shared libraries ldd lists
/// at their own paths.
pub fn install_with_libs(bin: &Path, root: &Path, dest: &str) {
    let target = root.join(dest.trim_start_matches('/'));
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::copy(bin, &target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) {
            let to = root.join(lib.trim_start_matches('/'));
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(lib, &to).unwrap();
        }
    }
}

/// Runs `cmd`, panicking with its stderr on failure; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A UUID unique to this process and moment (so parallel tests and other
/// users' loop devices never match).
pub fn unique_uuid() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        std::process::id(),
        (nanos >> 48) as u16,
        nanos as u64 & 0xffff_ffff_ffff
    )
}

/// Builds `dir/boot.ext4` (16 MiB ext4 with a fresh UUID) holding
/// `test.img`, an erofs image of `image_tree`. Returns (image path, UUID).
pub fn boot_disk(dir: &Path, image_tree: &Path) -> (PathBuf, String) {
    let boot_tree = dir.join("boottree");
    fs::create_dir_all(&boot_tree).unwrap();
    run(Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(boot_tree.join("test.img"))
        .arg(image_tree));
    let uuid = unique_uuid();
    let img = dir.join("boot.ext4");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-U", &uuid, "-d"])
        .arg(&boot_tree)
        .arg(&img)
        .arg("16M"));
    (img, uuid)
}

/// Runs a shell script inside `unshare -m --propagation private` with the
/// given environment; returns (stdout, stderr), panicking if it fails.
pub fn in_namespace(script: &str, env: &[(&str, &Path)]) -> (String, String) {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}
