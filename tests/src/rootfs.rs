//! The guest's root tree: a Debian 12 `mmdebstrap --variant=minbase` tarball
//! with systemd, udev, dracut, the Debian kernel and the filesystem tools,
//! cached by a key over everything that shapes it.
//!
//! The tarball already holds a generic (`hostonly=no`) dracut initramfs at
//! `/boot/initramfs-KVER.img` (Fedora's name): the kernel package's
//! postinst hook builds it while a temporary `hostonly="no"` drop-in is in
//! place (removed again afterwards, so the guest's own dracut runs keep
//! Debian's defaults). One generic initramfs serves every scenario.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::cache::{key, Cache};

/// Debian suite of the guest.
pub const SUITE: &str = "bookworm";
/// Debian mirror (the one apt uses on these machines).
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// Packages on top of minbase: init, device manager, initramfs generator,
/// kernel, erofs tools, and the filesystem tools of every scenario.
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dracut",
    "linux-image-amd64",
    "erofs-utils",
    "kmod",
    "e2fsprogs",
    "xfsprogs",
    "btrfs-progs",
    "dosfstools",
    "util-linux",
    "mount",
    "cpio",
    "zstd",
    "lz4",
    "xz-utils",
    "procps",
];

/// Runs before packages are unpacked: dracut builds generic initramfs images.
const SETUP_HOOK: &str = r#"mkdir -p "$1/etc/dracut.conf.d" && printf "hostonly=\"no\"\n" > "$1/etc/dracut.conf.d/90-vm-test-build.conf""#;

/// Runs after installation: drop the temporary drop-in and give the
/// initramfs Fedora's name (or build it if the postinst hook did not).
const CUSTOMIZE_HOOK: &str = r#"rm -f "$1/etc/dracut.conf.d/90-vm-test-build.conf"; for k in $(ls "$1/lib/modules"); do if [ -e "$1/boot/initrd.img-$k" ]; then mv "$1/boot/initrd.img-$k" "$1/boot/initramfs-$k.img"; else chroot "$1" dracut --no-hostonly --kver "$k" -f "/boot/initramfs-$k.img"; fi; done"#;

/// The mmdebstrap arguments (without the output path), in order.
pub fn mmdebstrap_args() -> Vec<String> {
    vec![
        "--variant=minbase".into(),
        "--mode=root".into(),
        "--format=tar".into(),
        format!("--include={}", PACKAGES.join(",")),
        format!("--setup-hook={SETUP_HOOK}"),
        format!("--customize-hook={CUSTOMIZE_HOOK}"),
        SUITE.into(),
    ]
}

/// The cache key of the root tree: the harness version and every argument.
pub fn cache_key() -> String {
    let args = mmdebstrap_args();
    let mut parts: Vec<&str> = args.iter().map(String::as_str).collect();
    parts.push(MIRROR);
    key(&parts)
}

/// Returns the cached root-tree tarball, running mmdebstrap (about 2 minutes,
/// output streamed) if it is not cached yet. The bool is true if it was
/// built now.
///
/// Errors: mmdebstrap is missing or fails (no mirror, …).
pub fn ensure(cache: &Cache) -> Result<(PathBuf, bool)> {
    cache.get_or_build("rootfs", &cache_key(), "tar", |tmp: &Path| {
        eprintln!("vm: building the guest root tree with mmdebstrap (about 2 minutes)");
        Command::new("mmdebstrap")
            .args(mmdebstrap_args())
            .arg(tmp)
            .arg(MIRROR)
            .run_inherited()
            .context("mmdebstrap of the guest root tree failed")
    })
}

/// The kernel release(s) in a root-tree tarball: names of `usr/lib/modules/*/`.
///
/// Errors: `tar -t` fails or no kernel is found.
pub fn kernel_releases(tarball: &Path) -> Result<Vec<String>> {
    let list = Command::new("tar")
        .arg("-tf")
        .arg(tarball)
        .run_get_string()?;
    let kvers = parse_kernel_releases(&list);
    anyhow::ensure!(!kvers.is_empty(), "no kernel in {}", tarball.display());
    Ok(kvers)
}

/// Kernel releases from a `tar -t` listing: the `KVER` of entries
/// `./usr/lib/modules/KVER/` (sorted, unique).
pub fn parse_kernel_releases(listing: &str) -> Vec<String> {
    let mut v: Vec<String> = listing
        .lines()
        .filter_map(|l| {
            let rest = l
                .trim_start_matches("./")
                .strip_prefix("usr/lib/modules/")?;
            let (kver, tail) = rest.split_once('/')?;
            (tail.is_empty() && !kver.is_empty()).then(|| kver.to_string())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_from_listing() {
        let listing = "./\n./usr/lib/modules/\n./usr/lib/modules/6.1.0-50-amd64/\n\
                       ./usr/lib/modules/6.1.0-50-amd64/kernel/\n./boot/vmlinuz-6.1.0-50-amd64\n";
        assert_eq!(parse_kernel_releases(listing), vec!["6.1.0-50-amd64"]);
    }

    #[test]
    fn key_covers_packages() {
        assert_eq!(cache_key(), cache_key());
        assert!(mmdebstrap_args().iter().any(|a| a.contains("erofs-utils")));
    }
}
