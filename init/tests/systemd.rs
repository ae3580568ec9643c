//! systemd mode (`initoverlayfs --systemd`) on real mounts: the binary runs
//! chrooted into a tmpfs "initramfs" whose `/dev`, `/proc` and `/sys` are
//! the host's (bind-mounted, as systemd would have them), inside a private
//! mount namespace. It must find the ext4 boot filesystem (UUID= spec, hint
//! given), build `/initoverlayfs` and exit 0 without switching root; on a
//! failure after `/boot` is mounted it must exit 1 with one error line and
//! undo its mounts. There is no udevadm in the chroot: the resolver's sysfs
//! probe finds the device (and a warning says udev was not triggered).

mod common;

use std::fs;
use std::path::Path;

use common::{boot_disk, in_namespace, install_with_libs, BIN};

const TOOLS: &[&str] = common::CHROOT_TOOLS;
const FILESYSTEMS: &[&str] = common::CHROOT_FILESYSTEMS;

/// Sets up the chroot with `image_conf` as the `[image]` section and runs
/// `initoverlayfs --systemd` in it; returns (stdout, stderr) of the script,
/// whose stdout has `RC=`, `MERGED_OK`, `BOOT_MOVED`, `BOOT_UNMOUNTED` lines.
fn run_systemd_mode(image_conf: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image_tree = d.join("image");
    fs::create_dir_all(image_tree.join("etc")).unwrap();
    fs::write(image_tree.join("hello.txt"), "hello\n").unwrap();
    let (boot_img, uuid) = boot_disk(d, &image_tree);
    run_on(
        d,
        &boot_img,
        &format!("bootfs = \"UUID={uuid}\"\n"),
        image_conf,
        "",
    )
}

/// Runs `initoverlayfs --systemd` in a chroot under `d` (holding the
/// image tree in `d/image`) with the boot disk `boot_img` on a loop device:
/// `boot_conf` goes into `[boot]`, `image_conf` is the `[image]` section, and
/// `prep` runs first with the loop device in `$loop` (to lay out the disk).
fn run_on(
    d: &Path,
    boot_img: &Path,
    boot_conf: &str,
    image_conf: &str,
    prep: &str,
) -> (String, String) {
    let stage = d.join("stage");
    install_with_libs(Path::new(BIN), &stage, "/usr/sbin/initoverlayfs");
    fs::create_dir_all(stage.join("etc")).unwrap();
    let conf_head =
        format!("[boot]\n{boot_conf}timeout = 5\n{image_conf}\n[init]\nmode = \"systemd\"\n");
    let conf_head_path = d.join("conf");
    fs::write(&conf_head_path, conf_head).unwrap();
    let prep_path = d.join("prep.sh");
    fs::write(&prep_path, prep).unwrap();
    let t = d.join("initramfs");
    fs::create_dir_all(&t).unwrap();
    let script = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs "$T"
cp -a "$STAGE/." "$T/"
for m in dev proc sys; do mkdir -p "$T/$m"; mount --rbind "/$m" "$T/$m"; done
loop=$(losetup -f --show "$BOOTIMG")
trap 'losetup -d "$loop"' EXIT
. "$PREP"
# The hint names the real device, so the hint path is exercised.
{ cat "$CONF"; echo; } | sed "s|^timeout = 5|timeout = 5\nbootfs_hint = \"$loop\"|" > "$T/etc/initoverlayfs.conf"
set +e
PATH=/usr/sbin chroot "$T" /usr/sbin/initoverlayfs --systemd
echo "RC=$?"
[ -f "$T/initoverlayfs/hello.txt" ] && echo MERGED_OK
[ -f "$T/initoverlayfs/boot/test.img" ] && echo BOOT_MOVED
awk -v b="$T/boot" '$2 == b {f=1} END {if (!f) print "BOOT_UNMOUNTED"}' /proc/self/mounts
true
"#;
    in_namespace(
        script,
        &[
            ("T", &t),
            ("STAGE", &stage),
            ("BOOTIMG", boot_img),
            ("CONF", &conf_head_path),
            ("PREP", &prep_path),
        ],
    )
}

#[test]
fn systemd_mode_builds_the_tree_and_exits_0() {
    require!(TOOLS, FILESYSTEMS);
    let (stdout, stderr) = run_systemd_mode("[image]\npath = \"/test.img\"");
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("RC=0"), "{ctx}");
    assert!(stdout.contains("MERGED_OK"), "{ctx}");
    assert!(stdout.contains("BOOT_MOVED"), "{ctx}");
    assert!(
        stderr.contains("initoverlayfs: starting (systemd mode"),
        "{ctx}"
    );
    assert!(
        stderr.contains("initoverlayfs: udevadm not found; not triggering udev"),
        "{ctx}"
    );
    assert!(stderr.contains("initoverlayfs: ready in "), "{ctx}");
    assert!(!stderr.contains("error"), "{ctx}");
    eprintln!("{ctx}");
}

#[test]
fn systemd_mode_failure_exits_1_and_undoes_mounts() {
    require!(TOOLS, FILESYSTEMS);
    let (stdout, stderr) = run_systemd_mode("[image]\npath = \"/test.img\"\nfstype = \"nosuchfs\"");
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("RC=1"), "{ctx}");
    assert!(stdout.contains("BOOT_UNMOUNTED"), "{ctx}");
    assert!(!stdout.contains("MERGED_OK"), "{ctx}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("initoverlayfs: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{ctx}");
    assert!(
        errors[0].starts_with("initoverlayfs: error: mount image: mount /dev/loop"),
        "{ctx}"
    );
    assert!(
        errors[0].ends_with("/initrofs as nosuchfs read-only: No such device (os error 19)"),
        "{ctx}"
    );
    // The default policy (fallback) records the failure on the boot
    // filesystem, but outside an initramfs neither touches the host's EFI
    // variables nor reboots it.
    for want in [
        "initoverlayfs: failure recorded in /boot/initoverlayfs-failure.txt",
        "initoverlayfs: not in an initramfs (no /etc/initrd-release): leaving EFI variables alone",
        "initoverlayfs: not in an initramfs (no /etc/initrd-release): not rebooting",
    ] {
        assert!(stderr.contains(want), "missing {want:?}\n{ctx}");
    }
    assert!(!stderr.contains("rebooting in"), "{ctx}");
}

/// A btrfs boot filesystem whose image lives in the subvolume `@boot` (as
/// `UUID=… /boot btrfs subvol=@boot` mounts it): the mount must pass
/// `[boot] options`, or it shows the top level, where the image is not.
#[test]
fn btrfs_boot_subvolume_is_mounted_with_the_configured_options() {
    let tools: Vec<&str> = TOOLS
        .iter()
        .copied()
        .chain(["mkfs.btrfs", "btrfs"])
        .collect();
    let filesystems: Vec<&str> = FILESYSTEMS.iter().copied().chain(["btrfs"]).collect();
    require!(&tools, &filesystems);
    let run = |options: &str| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let image_tree = d.join("image");
        fs::create_dir_all(image_tree.join("etc")).unwrap();
        fs::write(image_tree.join("hello.txt"), "hello\n").unwrap();
        let test_img = d.join("test.img");
        common::run(
            std::process::Command::new("mkfs.erofs")
                .arg("--quiet")
                .arg(&test_img)
                .arg(&image_tree),
        );
        let uuid = common::unique_uuid();
        let boot_img = d.join("boot.btrfs");
        fs::File::create(&boot_img)
            .unwrap()
            .set_len(128 << 20)
            .unwrap();
        common::run(
            std::process::Command::new("mkfs.btrfs")
                .args(["-q", "-f", "-U", &uuid])
                .arg(&boot_img),
        );
        let prep = format!(
            "m=$(mktemp -d)\nmount \"$loop\" \"$m\"\nbtrfs -q subvolume create \"$m/@boot\"\n\
             cp {} \"$m/@boot/test.img\"\numount \"$m\"\nrmdir \"$m\"\n",
            test_img.display()
        );
        let boot_conf = format!("bootfs = \"UUID={uuid}\"\nbootfstype = \"btrfs\"\n{options}");
        run_on(
            d,
            &boot_img,
            &boot_conf,
            "[image]\npath = \"/test.img\"",
            &prep,
        )
    };

    let (stdout, stderr) = run("options = \"subvol=/@boot\"\n");
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("RC=0"), "{ctx}");
    assert!(stdout.contains("MERGED_OK"), "{ctx}");
    assert!(stdout.contains("BOOT_MOVED"), "{ctx}");
    assert!(stderr.contains("(btrfs, subvol=/@boot) on /boot"), "{ctx}");
    eprintln!("{ctx}");

    // Without the option the top level is mounted and the image is missing.
    let (stdout, stderr) = run("");
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("RC=1"), "{ctx}");
    assert!(stdout.contains("BOOT_UNMOUNTED"), "{ctx}");
    assert!(
        stderr.contains("initoverlayfs: error: attach image") && stderr.contains("test.img"),
        "{ctx}"
    );
}
