//! A full (and a read-only) /boot: a small loop-mounted ext4 filesystem at
//! ROOT/boot inside a private mount namespace (`unshare -m`), as root.
//! The install must fail with a clear message and leave /boot unchanged.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_same, show, snapshot, temp_root};

/// Mounts a SIZE ext4 image at ROOT/boot (holding ROOT/boot's files), runs
/// the installer, copies /boot out to OUT/after, unmounts (the namespace
/// going away releases the mount and the autoclear loop device even if the
/// script dies).
const SCRIPT: &str = r#"
set -eu
img=$1 root=$2 out=$3 bin=$4 size=$5 opts=$6 fstype=$7
truncate -s "$size" "$img"
if [ "$fstype" = xfs ]; then mkfs.xfs -q -f "$img"; else mkfs.ext4 -q -F -b 1024 -m 0 "$img"; fi
mkdir -p "$out/before" "$out/after"
cp -a "$root/boot/." "$out/before/"
mount -o loop "$img" "$root/boot"
trap 'umount "$root/boot" 2>/dev/null || true' EXIT
cp -a "$out/before/." "$root/boot/"
rm -rf "$root/boot/lost+found"
if [ "$opts" = ro ]; then mount -o remount,ro "$root/boot"; fi
df -B1 --output=avail "$root/boot" | tail -1 > "$out/avail"
set +e
"$bin" --root "$root" -y > "$out/stdout" 2> "$out/stderr"
echo $? > "$out/rc"
set -e
cp -a "$root/boot/." "$out/after/"
"#;

fn capable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control".into());
    }
    for tool in ["unshare", "mkfs.ext4", "mount"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}

struct Result {
    rc: i32,
    stderr: String,
    before: std::collections::BTreeMap<String, Vec<u8>>,
    after: std::collections::BTreeMap<String, Vec<u8>>,
    avail: u64,
}

fn install_on_small_boot(size: &str, opts: &str, env: &[(&str, &str)]) -> Result {
    install_on(size, opts, "ext4", env)
}

fn install_on(size: &str, opts: &str, fstype: &str, env: &[(&str, &str)]) -> Result {
    let (t, root) = temp_root("fedora");
    let out = t.path().join("out");
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
        .arg(t.path().join("boot.img"))
        .arg(&root)
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_initoverlayfs-install"))
        .args([size, opts, fstype])
        .env("INITOVERLAYFS_INSTALL_TEST_NO_CHROOT", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "namespace script failed: {}", show(&o));
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    let mut before = snapshot(&out.join("before"));
    let mut after = snapshot(&out.join("after"));
    before.retain(|k, _| !k.starts_with("lost+found"));
    after.retain(|k, _| !k.starts_with("lost+found"));
    Result {
        rc: read("rc").trim().parse().unwrap(),
        stderr: read("stderr"),
        before,
        after,
        avail: read("avail").trim().parse().unwrap(),
    }
}

#[test]
fn full_boot_fails_the_space_check_with_numbers() {
    if let Some(why) = capable() {
        eprintln!("SKIPPED: full /boot test needs root, loop devices and util-linux: {why}");
        return;
    }
    let r = install_on_small_boot("3M", "rw", &[]);
    eprintln!("installer stderr:\n{}", r.stderr);
    assert_eq!(r.rc, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("space:") && r.stderr.contains("free on /boot"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("bytes"),
        "numbers in the message: {}",
        r.stderr
    );
    assert!(r.avail < 3 << 20);
    assert_same(&r.before, &r.after, "full /boot");
}

#[test]
fn boot_filling_up_during_the_build_is_rolled_back() {
    if let Some(why) = capable() {
        eprintln!("SKIPPED: full /boot test needs root, loop devices and util-linux: {why}");
        return;
    }
    // 16 MiB passes the estimate for a tiny original initramfs, but the
    // builders write 12 MiB of incompressible data each.
    let r = install_on_small_boot("16M", "rw", &[("FAKE_BUILD_BYTES", "12582912")]);
    eprintln!("installer stderr:\n{}", r.stderr);
    assert_eq!(r.rc, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("previous state was restored"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.to_lowercase().contains("space"),
        "ENOSPC named: {}",
        r.stderr
    );
    assert_same(&r.before, &r.after, "/boot after ENOSPC");
}

#[test]
fn read_only_boot_is_a_clear_error() {
    if let Some(why) = capable() {
        eprintln!("SKIPPED: read-only /boot test needs root, loop devices and util-linux: {why}");
        return;
    }
    let r = install_on_small_boot("16M", "ro", &[]);
    eprintln!("installer stderr:\n{}", r.stderr);
    assert_eq!(r.rc, 1, "{}", r.stderr);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    assert_same(&r.before, &r.after, "read-only /boot");
}

#[test]
fn xfs_boot_is_frozen_and_thawed_after_the_install() {
    if let Some(why) = capable() {
        eprintln!("SKIPPED: xfs /boot test needs root, loop devices and util-linux: {why}");
        return;
    }
    if Command::new("sh")
        .args(["-c", "command -v mkfs.xfs"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("SKIPPED: xfs /boot test needs mkfs.xfs (xfsprogs)");
        return;
    }
    // xfsprogs refuses filesystems under 300 MiB; the image file is sparse.
    let r = install_on("320M", "rw", "xfs", &[]);
    assert_eq!(r.rc, 0, "{}", r.stderr);
    let k = common::FEDORA_KVER;
    assert!(r.after.contains_key(&format!("initoverlayfs-{k}.img")));
    assert_eq!(
        r.after
            .get(&format!("initramfs-{k}.img.without-initoverlayfs")),
        r.before.get(&format!("initramfs-{k}.img"))
    );
}
