//! The real pid1 path, as far as a host can take it: the binary runs as pid 1
//! of a fresh pid + mount namespace, chrooted into a tmpfs "initramfs"
//! (itself, its libraries and `/etc/initoverlayfs.conf`). It mounts the API
//! filesystems, finds the boot filesystem by `UUID=` through
//! `/sys/class/block` and superblock probing (an ext4 image on a loop
//! device), loop-mounts the erofs image under the overlay, switches root,
//! empties the old tmpfs root and execs the image's `/sbin/init` with its
//! arguments. The image's init (a dash script) reports what it sees.
//!
//! A second test checks the failure policy: the boot filesystem never
//! shows up, there is no shell, so pid 1 prints the error, waits 10 s and
//! calls reboot(2) — which in a child pid namespace ends that namespace's
//! init with SIGHUP instead of rebooting the host (reboot(2), Linux 3.4+).
//!
//! Skips (printing why) when not root, or without loop devices, unshare,
//! losetup, mkfs.ext4 -d, mkfs.erofs, or kernel erofs/overlay support.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{boot_disk, in_namespace, install_with_libs, BIN};

const TOOLS: &[&str] = common::CHROOT_TOOLS;
const FILESYSTEMS: &[&str] = common::CHROOT_FILESYSTEMS;

#[test]
fn pid1_finds_bootfs_switches_root_and_execs_init() {
    require!(TOOLS, FILESYSTEMS);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The erofs image: dash, its libraries and an init script.
    let image_tree = d.join("image");
    install_with_libs(Path::new("/bin/dash"), &image_tree, "/bin/sh");
    fs::create_dir_all(image_tree.join("sbin")).unwrap();
    fs::write(
        image_tree.join("sbin/init"),
        "#!/bin/sh\n\
         echo \"INIT pid=$$ args=$*\"\n\
         [ -f /boot/test.img ] && echo BOOT_VISIBLE\n\
         [ -e /initoverlayfs ] || echo NO_NESTED_ROOT\n\
         while read -r id parent majmin root mnt opts rest; do echo \"MNT $mnt ${rest#*- }\"; done < /proc/self/mountinfo\n",
    )
    .unwrap();
    fs::set_permissions(
        image_tree.join("sbin/init"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (boot_img, uuid) = boot_disk(d, &image_tree);

    // The mini "initramfs": us as /init, plus the config.
    let stage = d.join("stage");
    install_with_libs(Path::new(BIN), &stage, "/init");
    fs::create_dir_all(stage.join("etc")).unwrap();
    fs::write(
        stage.join("etc/initoverlayfs.conf"),
        format!("[boot]\nbootfs = \"UUID={uuid}\"\ntimeout = 10\n[image]\npath = \"/test.img\"\n[init]\nmode = \"pid1\"\n"),
    )
    .unwrap();

    let (t, t2) = (d.join("initramfs"), d.join("initramfs-view"));
    fs::create_dir_all(&t).unwrap();
    fs::create_dir_all(&t2).unwrap();
    // Outer namespace: a tmpfs root (seen again through a bind at T2, so the
    // cleanup of the old root can be checked), the boot disk on a loop device,
    // then the inner pid + mount namespace with our binary as pid 1.
    let script = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs "$T"
mount --bind "$T" "$T2"
cp -a "$STAGE/." "$T/"
loop=$(losetup -f --show "$BOOTIMG")
trap 'losetup -d "$loop"' EXIT
set +e
unshare -m -p -f --propagation private chroot "$T" /init single --foo=bar
echo "INNER_RC=$?"
for f in "$T2"/* "$T2"/.[!.]*; do [ -e "$f" ] && echo "LEFT ${f#$T2/}"; done
true
"#;
    let (stdout, stderr) = in_namespace(
        script,
        &[
            ("T", &t),
            ("T2", &t2),
            ("STAGE", &stage),
            ("BOOTIMG", &boot_img),
        ],
    );
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("INIT pid=1 args=single --foo=bar"), "{ctx}");
    assert!(stdout.contains("INNER_RC=0"), "{ctx}");
    assert!(stdout.contains("BOOT_VISIBLE"), "{ctx}");
    assert!(stdout.contains("NO_NESTED_ROOT"), "{ctx}");
    let mnt = |path: &str, fstype: &str| {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("MNT {path} {fstype} "))),
            "{path} is not {fstype}: {ctx}"
        )
    };
    mnt("/", "overlay");
    mnt("/boot", "ext4");
    mnt("/proc", "proc");
    mnt("/sys", "sysfs");
    mnt("/dev", "devtmpfs");
    mnt("/run", "tmpfs");
    // The old tmpfs root was emptied entirely: no mount of ours stays under
    // it (the image's and the tmpfs' mounts were detached before the switch,
    // so they cannot hold the image and /boot invisibly for the session).
    let left: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("LEFT "))
        .collect();
    assert!(left.is_empty(), "left in the old root: {left:?}\n{ctx}");
    assert!(!stderr.contains("initoverlayfs: error"), "{ctx}");
}

/// Runs the pid1 binary with `conf` in a private pid namespace (its reboot
/// kills the namespace: SIGHUP, exit 129); returns (stdout, stderr, seconds).
fn run_failing_pid1(conf: &str) -> (String, String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stage = d.join("stage");
    install_with_libs(Path::new(BIN), &stage, "/init");
    fs::create_dir_all(stage.join("etc")).unwrap();
    fs::write(stage.join("etc/initoverlayfs.conf"), conf).unwrap();
    let t = d.join("initramfs");
    fs::create_dir_all(&t).unwrap();
    let script = r#"
mount -t tmpfs -o mode=0755 tmpfs "$T" && cp -a "$STAGE/." "$T/" || exit 1
start=$(date +%s)
unshare -m -p -f --propagation private chroot "$T" /init
echo "INNER_RC=$?"
echo "SECONDS=$(( $(date +%s) - start ))"
"#;
    let (stdout, stderr) = in_namespace(script, &[("T", &t), ("STAGE", &stage)]);
    let secs: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SECONDS="))
        .unwrap()
        .parse()
        .unwrap();
    (stdout, stderr, secs)
}

const MISSING: &str = "UUID=00000000-dead-beef-0000-000000000000";

#[test]
fn pid1_failure_without_shell_waits_then_reboots() {
    require!(TOOLS, FILESYSTEMS);
    let (stdout, stderr, secs) = run_failing_pid1(&format!(
        "[boot]\nbootfs = \"{MISSING}\"\ntimeout = 1\nfailure = \"shell\"\n[init]\nmode = \"pid1\"\n"
    ));
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    // Killed by SIGHUP (the pid namespace's "reboot"); unshare re-raises it.
    assert!(stdout.contains("INNER_RC=129"), "{ctx}");
    assert!((10..30).contains(&secs), "took {secs} s: {ctx}");
    let want = format!(
        "initoverlayfs: error: find bootfs: boot filesystem {MISSING} did not appear within 1 s"
    );
    assert!(stderr.lines().any(|l| l.starts_with(&want)), "{ctx}");
    assert!(
        stderr.contains("initoverlayfs: no emergency shell; rebooting in 10 s"),
        "{ctx}"
    );
    assert!(!stderr.contains("falling back"), "{ctx}");
}

#[test]
fn pid1_failure_falls_back_and_reboots_after_5_s() {
    require!(TOOLS, FILESYSTEMS);
    // The default policy: no shell; the failure line, where the boot loader
    // was pointed (nowhere here: no /boot, and outside an initramfs the
    // host's EFI variables are left alone), then the reboot.
    let (stdout, stderr, secs) = run_failing_pid1(&format!(
        "[boot]\nbootfs = \"{MISSING}\"\ntimeout = 1\n\
         fallback_entry = \"m-without_initoverlayfs.{{kver}}\"\n[init]\nmode = \"pid1\"\n"
    ));
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("INNER_RC=129"), "{ctx}");
    assert!((5..25).contains(&secs), "took {secs} s: {ctx}");
    for want in [
        "initoverlayfs: error: find bootfs: ",
        // (warnings go to the kernel log only in pid1 mode; errors also here)
        "initoverlayfs: failure not recorded: no EFI variables and no boot filesystem to write to",
        "initoverlayfs: falling back to the original initramfs: cannot point the boot loader at m-without_initoverlayfs.",
        "initoverlayfs: rebooting in 5 s",
    ] {
        assert!(stderr.contains(want), "missing {want:?}\n{ctx}");
    }
    assert!(!stderr.contains("emergency shell"), "{ctx}");
}

#[test]
fn starts_with_closed_stdio_and_no_dev_null() {
    // As pid 1 of an initramfs without /dev/console the kernel starts us with
    // fds 0-2 closed and no /dev: Rust's default start-up would abort (a
    // kernel panic); ours must run (here: --help, exit 0).
    require!(&["chroot", "ldd"], &[]);
    let dir = tempfile::tempdir().unwrap();
    install_with_libs(Path::new(BIN), dir.path(), "/init");
    let out = std::process::Command::new("sh")
        .args(["-c", "chroot \"$R\" /init --help <&- >&- 2>&-; echo RC=$?"])
        .env("R", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RC=0"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
