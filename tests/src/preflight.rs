//! Whether this machine can run the VM test at all: root (loop devices,
//! mounts), `/dev/loop-control`, and the host tools.

use std::path::Path;

/// Host tools the harness runs.
pub const TOOLS: &[&str] = &[
    "qemu-system-x86_64",
    "mmdebstrap",
    "sgdisk",
    "sfdisk",
    "losetup",
    "blkid",
    "mount",
    "umount",
    "mkfs.vfat",
    "mkfs.ext4",
    "mkfs.xfs",
    "mkfs.btrfs",
    "btrfs",
    "tar",
    "cp",
    "chroot",
];

/// Why the VM test cannot run here, or `None` if it can.
pub fn missing_capability() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not running as root (needs loop devices and mounts)".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control".into());
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing host tools: {} (run `bash .ci/install-deps`)",
            missing.join(", ")
        ));
    }
    None
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(tool).is_file())
}
