//! Privileged tests of the real `initoverlayfs` binary in test mode
//! (`--prefix DIR --no-switch-root`) on real erofs images (mkfs.erofs) and
//! real loop devices, each run inside `unshare -m --propagation private` so
//! every mount dies with the namespace. They skip (printing why) only when
//! not root, or when loop devices, unshare, mkfs.erofs or kernel erofs/overlay
//! support are absent.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::BIN;

macro_rules! require_privileges {
    () => {
        require!(&["unshare", "mkfs.erofs"], &["erofs", "overlay", "tmpfs"]);
    };
}

/// A test root: `D/boot/test.img` (erofs of a small tree), `D/etc/initoverlayfs.conf`.
struct Root {
    _dir: tempfile::TempDir,
    d: PathBuf,
}

impl Root {
    fn new(config: &str) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("etc")).unwrap();
        fs::create_dir_all(src.join("usr/lib")).unwrap();
        fs::write(src.join("hello.txt"), "hello from the image\n").unwrap();
        fs::write(src.join("etc/marker"), "marker\n").unwrap();
        fs::write(src.join("usr/lib/big"), vec![b'z'; 300_000]).unwrap();
        let d = dir.path().join("root");
        fs::create_dir_all(d.join("boot")).unwrap();
        fs::create_dir_all(d.join("etc")).unwrap();
        let out = Command::new("mkfs.erofs")
            .arg("--quiet")
            .arg(d.join("boot/test.img"))
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mkfs.erofs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(d.join("etc/initoverlayfs.conf"), config).unwrap();
        Root { _dir: dir, d }
    }

    fn image(&self) -> PathBuf {
        self.d.join("boot/test.img")
    }

    /// Runs the binary in a private mount namespace, then `after` (shell, with
    /// `$D` the root) when it succeeded. Returns (exit status of the binary,
    /// stdout of the script, stderr).
    fn run(&self, after: &str) -> (i32, String, String) {
        let script = format!(
            "\"$BIN\" --prefix \"$D\" --no-switch-root; rc=$?; echo \"RC=$rc\"; \
             if [ $rc -ne 0 ]; then exit 0; fi\nset -e\n{after}"
        );
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("BIN", BIN)
            .env("D", &self.d)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let rc = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RC="))
            .unwrap_or_else(|| panic!("no RC line\nstdout:\n{stdout}\nstderr:\n{stderr}"))
            .parse()
            .unwrap();
        (rc, stdout, stderr)
    }

    /// Waits until no loop device is backed by our image any more.
    fn assert_loop_released(&self) {
        let image = self.image();
        let start = Instant::now();
        loop {
            let holders = loops_backed_by(&image);
            if holders.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{} still attached to {holders:?}",
                image.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Loop devices whose `backing_file` is `image`.
fn loops_backed_by(image: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(b) = fs::read_to_string(e.path().join("loop/backing_file")) {
            if Path::new(b.trim()) == image {
                found.push(name);
            }
        }
    }
    found
}

const CONFIG: &str = "[image]\npath = \"/test.img\"\nfstype = \"erofs\"\n";

#[test]
fn merged_view_upper_dir_and_loop_release() {
    require_privileges!();
    let root = Root::new(CONFIG);
    let (rc, out, err) = root.run(
        r#"
cat "$D/initoverlayfs/hello.txt"
cat "$D/initoverlayfs/etc/marker"
echo written > "$D/initoverlayfs/etc/newfile"
echo "MERGED=$(cat "$D/initoverlayfs/etc/newfile")"
[ -f "$D/initoverlayfs/boot/test.img" ] && echo BOOT_MOVED
awk -v d="$D" '$2 == d"/initrofs" || $2 == d"/initoverlayfs" || $2 == d"/overlay" || $2 == d"/initoverlayfs/boot" {print "MOUNT", $2, $3, $4}' /proc/self/mounts
# (`; true`: the loop's status is its last test's, false whenever the
# highest-numbered loop device, e.g. another test's, is not ours.)
n=$(for f in /sys/block/loop*/loop/backing_file; do [ "$(cat "$f" 2>/dev/null)" = "$D/boot/test.img" ] && basename "$(dirname "$(dirname "$f")")"; done; true)
echo "LOOP=$n RO=$(cat /sys/block/$n/ro) AUTOCLEAR=$(cat /sys/block/$n/loop/autoclear)"
# The overlay alone holds the image: unmounting it (and /boot in it) must
# release the loop device, as the real root's switch does at boot.
umount "$D/initoverlayfs/boot" "$D/initoverlayfs"
for i in $(seq 100); do
  [ "$(cat /sys/block/$n/loop/backing_file 2>/dev/null)" = "$D/boot/test.img" ] || break
  sleep 0.05
done
[ "$(cat /sys/block/$n/loop/backing_file 2>/dev/null)" != "$D/boot/test.img" ] && echo RELEASED_WITH_THE_OVERLAY
"#,
    );
    assert_eq!(rc, 0, "stdout:\n{out}\nstderr:\n{err}");
    let d = root.d.display().to_string();
    for want in [
        "hello from the image",
        "marker",
        "MERGED=written",
        "BOOT_MOVED",
        "RO=1 AUTOCLEAR=1",
        "RELEASED_WITH_THE_OVERLAY",
    ] {
        assert!(
            out.contains(want),
            "missing {want:?} in\n{out}\nstderr:\n{err}"
        );
    }
    let mount = |target: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("MOUNT {d}/{target} ")))
            .unwrap_or_else(|| panic!("{target} not mounted:\n{out}"))
            .to_string()
    };
    let ovl = mount("initoverlayfs");
    assert!(ovl.contains(" overlay "), "{ovl}");
    assert!(ovl.contains(&format!("lowerdir={d}/initrofs")), "{ovl}");
    assert!(
        ovl.contains(&format!("upperdir={d}/overlay/upper")),
        "{ovl}"
    );
    assert!(ovl.contains(&format!("workdir={d}/overlay/work")), "{ovl}");
    // The layers' own mounts are gone: nothing but the overlay holds them.
    for layer in ["initrofs", "overlay"] {
        assert!(
            !out.contains(&format!("MOUNT {d}/{layer} ")),
            "{layer} still mounted:\n{out}"
        );
    }
    assert!(mount("initoverlayfs/boot").contains(&format!("MOUNT {d}/initoverlayfs/boot")));
    // Every step is logged with the prefix.
    for want in [
        "initoverlayfs: starting",
        "initoverlayfs: attached",
        "initoverlayfs: detached",
        "initoverlayfs: ready in ",
    ] {
        assert!(err.contains(want), "missing {want:?} in stderr:\n{err}");
    }
    root.assert_loop_released();
}

#[test]
fn image_without_boot_dir_gets_the_mount_point_created() {
    require_privileges!();
    // The test image has no /boot: the merged tree must get one (in the upper dir).
    let root = Root::new(CONFIG);
    let (rc, out, err) = root.run(r#"[ -f "$D/initoverlayfs/boot/test.img" ] && echo BOOT_MOVED"#);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("BOOT_MOVED"), "{out}");
    root.assert_loop_released();
}

/// Runs a failing configuration; returns the binary's stderr after checking
/// exit status 1, one `error:` line, and that no loop device stayed attached.
fn expect_failure(root: &Root) -> String {
    let (rc, out, err) = root.run("echo UNEXPECTED_SUCCESS");
    assert_eq!(rc, 1, "stdout:\n{out}\nstderr:\n{err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("initoverlayfs: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "want exactly one error line:\n{err}");
    root.assert_loop_released();
    errors[0].to_string()
}

/// Checks `initoverlayfs: error: mount image: mount /dev/loopN on
/// D/initrofs as FSTYPE read-only: ERRNO`.
fn assert_mount_image_failure(line: &str, root: &Root, fstype: &str, errno: &str) {
    let (head, tail) = line.split_once(" on ").unwrap_or_else(|| panic!("{line}"));
    let n = head
        .strip_prefix("initoverlayfs: error: mount image: mount /dev/loop")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(n.parse::<u32>().is_ok(), "{line}");
    let want = format!(
        "{}/initrofs as {fstype} read-only: {errno}",
        root.d.display()
    );
    assert_eq!(tail, want, "{line}");
}

#[test]
fn missing_image_fails_naming_the_path() {
    require_privileges!();
    let root = Root::new("[image]\npath = \"/missing-{kver}.img\"\n");
    let line = expect_failure(&root);
    let kver = Command::new("uname").arg("-r").output().unwrap().stdout;
    let kver = String::from_utf8_lossy(&kver).trim().to_string();
    let want = format!(
        "initoverlayfs: error: attach image: cannot open image {}/boot/missing-{kver}.img: \
         No such file or directory (os error 2)",
        root.d.display()
    );
    assert_eq!(line, want);
}

#[test]
fn wrong_fstype_fails_at_mount_image() {
    require_privileges!();
    let root = Root::new("[image]\npath = \"/test.img\"\nfstype = \"ext4\"\n");
    let line = expect_failure(&root);
    assert_mount_image_failure(&line, &root, "ext4", "Invalid argument (os error 22)");
}

#[test]
fn fstype_unknown_to_the_kernel_fails_with_enodev() {
    require_privileges!();
    let root = Root::new("[image]\npath = \"/test.img\"\nfstype = \"nosuchfs\"\n");
    let line = expect_failure(&root);
    assert_mount_image_failure(&line, &root, "nosuchfs", "No such device (os error 19)");
}

#[test]
fn corrupt_image_fails_at_mount_image() {
    require_privileges!();
    let root = Root::new(CONFIG);
    // Destroy the erofs superblock magic (le32 0xE0F5E1E2 at offset 1024).
    let mut img = fs::read(root.image()).unwrap();
    img[1024..1028].copy_from_slice(&[0, 0, 0, 0]);
    fs::write(root.image(), img).unwrap();
    let line = expect_failure(&root);
    assert_mount_image_failure(&line, &root, "erofs", "Invalid argument (os error 22)");
}

#[test]
fn unknown_config_key_fails_naming_key_and_line() {
    require_privileges!();
    let root = Root::new("[image]\npath = \"/test.img\"\nbogus = 1\n");
    let line = expect_failure(&root);
    let want = format!(
        "initoverlayfs: error: read config: invalid config {}/etc/initoverlayfs.conf: ",
        root.d.display()
    );
    assert!(line.starts_with(&want), "{line}");
    assert!(line.contains("line 3"), "{line}");
    assert!(line.contains("unknown field `bogus`"), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("initoverlayfs: error: unknown argument \"--bogus\""),
        "{err}"
    );
    // pid1 mode refuses to run when it is not pid 1 (it would switch root).
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must run as pid 1"));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--prefix DIR"));
}

/// The Boot Loader Interface variables' vendor GUID (efivarfs file suffix).
const LOADER: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// `D/sys/firmware/efi/efivars` as systemd-boot leaves it: `LoaderEntrySelected`.
fn fake_efivarfs(root: &Root, selected: &str) -> PathBuf {
    let dir = root.d.join("sys/firmware/efi/efivars");
    fs::create_dir_all(&dir).unwrap();
    let mut v = vec![7, 0, 0, 0];
    v.extend(
        selected
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes),
    );
    fs::write(dir.join(format!("LoaderEntrySelected-{LOADER}")), v).unwrap();
    dir
}

fn kver() -> String {
    let out = Command::new("uname").arg("-r").output().unwrap().stdout;
    String::from_utf8_lossy(&out).trim().to_string()
}

fn corrupt(root: &Root) {
    let mut img = fs::read(root.image()).unwrap();
    img[1024..1028].copy_from_slice(&[0, 0, 0, 0]);
    fs::write(root.image(), img).unwrap();
}

const TRIAL_CONFIG: &str = "[boot]\nfallback_entry = \"m-without_initoverlayfs.{kver}\"\n\
                            grubenv = \"/grub2/grubenv\"\n[image]\npath = \"/test.img\"\n";

#[test]
fn failure_points_systemd_boot_at_the_fallback_and_is_recorded() {
    require_privileges!();
    let root = Root::new(TRIAL_CONFIG);
    let efi = fake_efivarfs(&root, "m-6.1+2-1.conf");
    corrupt(&root);
    let (rc, out, err) = root.run("echo UNEXPECTED_SUCCESS");
    assert_eq!(rc, 1, "stdout:\n{out}\nstderr:\n{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("initoverlayfs: error: "))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    let fallback = format!("m-without_initoverlayfs.{}.conf", kver());
    assert!(
        err.contains(&format!(
            "initoverlayfs: falling back to the original initramfs: LoaderEntryOneShot={fallback}"
        )),
        "{err}"
    );
    assert!(err.contains("test mode (--prefix): not rebooting"), "{err}");
    // systemd-boot's one-shot entry: attributes, UTF-16LE id, NUL.
    let raw = fs::read(efi.join(format!("LoaderEntryOneShot-{LOADER}"))).unwrap();
    let mut want = vec![7, 0, 0, 0];
    want.extend(
        fallback
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes),
    );
    assert_eq!(raw, want);
    // The same record in our EFI variable and on the boot filesystem.
    let var =
        fs::read(efi.join("InitoverlayfsFailure-be959c55-40d9-4c10-860c-80208b70afc6")).unwrap();
    let file = fs::read_to_string(root.d.join("boot/initoverlayfs-failure.txt")).unwrap();
    assert_eq!(&var[..4], &[7, 0, 0, 0]);
    assert_eq!(std::str::from_utf8(&var[4..]).unwrap(), file);
    let error = line.strip_prefix("initoverlayfs: error: ").unwrap();
    for want in [
        "step=mount image\n".to_string(),
        format!("error={error}\n"),
        format!("kver={}\n", kver()),
        "mode=test\n".to_string(),
        "entry=m-6.1+2-1.conf\n".to_string(),
        format!("action=LoaderEntryOneShot={fallback}\n"),
    ] {
        assert!(file.contains(&want), "{want:?} not in\n{file}");
    }
}

#[test]
fn failure_points_grub_at_the_fallback_without_efi() {
    require_privileges!();
    let root = Root::new(TRIAL_CONFIG);
    fs::create_dir_all(root.d.join("boot/grub2")).unwrap();
    let mut env =
        b"# GRUB Environment Block\nsaved_entry=m-6.1\nboot_counter=1\nboot_success=0\n".to_vec();
    env.resize(1024, b'#');
    fs::write(root.d.join("boot/grub2/grubenv"), &env).unwrap();
    corrupt(&root);
    expect_failure(&root);
    let env = fs::read_to_string(root.d.join("boot/grub2/grubenv")).unwrap();
    assert_eq!(env.len(), 1024);
    let vars: Vec<&str> = env.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        vars,
        [
            "saved_entry=m-6.1",
            "boot_success=0",
            &format!("next_entry=m-without_initoverlayfs.{}", kver())
        ]
    );
    let file = fs::read_to_string(root.d.join("boot/initoverlayfs-failure.txt")).unwrap();
    assert!(
        file.contains("action=grubenv next_entry=m-without_initoverlayfs."),
        "{file}"
    );
}

#[test]
fn shell_policy_records_but_leaves_the_boot_loader_alone() {
    require_privileges!();
    let root = Root::new(&TRIAL_CONFIG.replace("[boot]\n", "[boot]\nfailure = \"shell\"\n"));
    let efi = fake_efivarfs(&root, "m-6.1.conf");
    corrupt(&root);
    expect_failure(&root);
    assert!(!efi.join(format!("LoaderEntryOneShot-{LOADER}")).exists());
    let file = fs::read_to_string(root.d.join("boot/initoverlayfs-failure.txt")).unwrap();
    assert!(
        file.contains("action=none: [boot] failure = \"shell\""),
        "{file}"
    );
}
