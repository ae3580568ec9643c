//! Offline installs whose `/boot` the boot-time program must find as the
//! system does: quoted fstab specs, a btrfs `/boot` on a subvolume, `/` and
//! `/boot` on one btrfs, a config naming another filesystem, and an image
//! path the boot-time program would resolve elsewhere.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_same, run, show, snapshot, temp_root, FEDORA_KVER};
use initoverlayfs::config::Config;

const ROOT_LINE: &str = "UUID=2b1f7a3c-0c5e-4d43-9a0e-5b3c1f0e9d11 / btrfs subvol=root 0 0\n";
const ESP_LINE: &str = "UUID=7A3B-1C2D /boot/efi vfat umask=0077 0 2\n";

fn set_fstab(root: &Path, text: &str) {
    fs::write(root.join("etc/fstab"), text).unwrap();
}

fn append_conf(root: &Path, text: &str) {
    let p = root.join("etc/initoverlayfs.conf");
    let mut conf = fs::read_to_string(&p).unwrap();
    conf.push_str(text);
    fs::write(p, conf).unwrap();
}

fn written_conf(root: &Path) -> Config {
    Config::from_toml_str(&fs::read_to_string(root.join("etc/initoverlayfs.conf")).unwrap())
        .unwrap()
}

/// Runs `-y` and expects a refusal that leaves the tree as it was; returns stderr.
fn refused(root: &Path) -> String {
    let before = snapshot(root);
    let o = run(root, &["-y"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_same(&before, &snapshot(root), "refused install");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn quoted_fstab_spec_is_written_normalized() {
    let (_t, root) = temp_root("fedora");
    set_fstab(
        &root,
        &format!(
            "{ROOT_LINE}UUID='aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' /boot ext4 defaults 1 2\n{ESP_LINE}"
        ),
    );
    let o = run(&root, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let c = written_conf(&root);
    assert_eq!(
        c.boot.bootfs.as_deref(),
        Some("UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    );
    assert_eq!(c.boot.options, None);

    // A quoted spec kept from an older config file is rewritten too.
    let (_t, root) = temp_root("fedora");
    append_conf(
        &root,
        "[boot]\nbootfs = \"uuid='9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b'\"\n",
    );
    let o = run(&root, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        written_conf(&root).boot.bootfs.as_deref(),
        Some("UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b")
    );
}

#[test]
fn btrfs_boot_subvolume_is_carried_into_the_config() {
    let (_t, root) = temp_root("fedora");
    set_fstab(
        &root,
        &format!(
            "{ROOT_LINE}UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b /boot btrfs subvol=@boot,compress=zstd:1 0 0\n{ESP_LINE}"
        ),
    );
    let o = run(&root, &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("with subvol=@boot"),
        "{}",
        show(&o)
    );
    let o = run(&root, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let c = written_conf(&root);
    assert_eq!(c.boot.options.as_deref(), Some("subvol=@boot"));
    assert_eq!(c.boot.bootfstype.as_deref(), Some("btrfs"));
    assert!(root
        .join(format!("boot/initoverlayfs-{FEDORA_KVER}.img"))
        .is_file());
}

#[test]
fn root_and_boot_on_one_btrfs_are_refused() {
    let x = "UUID=2b1f7a3c-0c5e-4d43-9a0e-5b3c1f0e9d11";
    for fstab in [
        format!("{x} / btrfs defaults 0 0\n{x} /boot btrfs subvol=/@/boot 0 0\n{ESP_LINE}"),
        format!("{x} / btrfs subvolid=256 0 0\n{x} /boot btrfs subvolid=258 0 0\n{ESP_LINE}"),
    ] {
        let (_t, root) = temp_root("fedora");
        set_fstab(&root, &fstab);
        let err = refused(&root);
        assert!(
            err.contains("layout: boot-on-root") && err.contains("of the root filesystem"),
            "{fstab}: {err}"
        );
    }
}

#[test]
fn config_naming_another_filesystem_is_refused() {
    let (_t, root) = temp_root("fedora");
    append_conf(&root, "[boot]\nbootfs = \"LABEL=boot\"\n");
    let err = refused(&root);
    assert!(
        err.contains("bootfs: [boot] bootfs = LABEL=boot")
            && err.contains("UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b")
            && err.contains("/etc/initoverlayfs.conf"),
        "{err}"
    );
    // A btrfs /boot whose config lost its subvolume.
    let (_t, root) = temp_root("fedora");
    set_fstab(
        &root,
        &format!("{ROOT_LINE}UUID=b /boot btrfs subvol=@boot 0 0\n{ESP_LINE}"),
    );
    append_conf(&root, "[boot]\noptions = \"subvol=@old\"\n");
    let err = refused(&root);
    assert!(
        err.contains("options = \"subvol=@old\"") && err.contains("\"subvol=@boot\""),
        "{err}"
    );
}

#[test]
fn switch_is_refused_when_boot_would_resolve_the_image_elsewhere() {
    // The image path goes through a symlink on /boot: the check before the
    // switch refuses, and the install is undone with the entry untouched.
    let (_t, root) = temp_root("fedora");
    std::os::unix::fs::symlink(".", root.join("boot/link")).unwrap();
    append_conf(
        &root,
        "[image]\npath = \"/link/initoverlayfs-{kver}.img\"\n",
    );
    let err = refused(&root);
    assert!(
        err.contains("the boot entry was not switched") && err.contains("symlink"),
        "{err}"
    );
    assert!(err.contains("previous state was restored"), "{err}");
}

/// Why the live test cannot run here, if it cannot.
fn missing_for_live() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["unshare", "losetup", "mkfs.btrfs", "btrfs"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    let known = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    ["btrfs", "overlay"]
        .into_iter()
        .find(|f| {
            !known
                .lines()
                .any(|l| l.split_whitespace().last() == Some(f))
        })
        .map(|f| format!("the kernel has no {f}"))
}

/// The live check on this machine, in a private mount namespace where
/// `/boot` is the subvolume `@boot` of a btrfs on a loop device and `/etc`
/// an overlay holding the config under test: the spec is resolved by the
/// boot-time resolver and compared with the device on /boot.
#[test]
fn live_check_resolves_the_spec_as_boot_does() {
    if let Some(why) = missing_for_live() {
        eprintln!("SKIP: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let uuid = |n: u8| {
        format!(
            "{:08x}-0000-4000-8000-0000000000{n:02x}",
            std::process::id()
        )
    };
    for (name, n) in [("boot.img", 1), ("other.img", 2)] {
        fs::File::create(d.join(name))
            .unwrap()
            .set_len(128 << 20)
            .unwrap();
        let o = std::process::Command::new("mkfs.btrfs")
            .args(["-q", "-f", "-U", &uuid(n)])
            .arg(d.join(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
    }
    let cases = [
        ("detected", String::new()),
        (
            "quoted",
            format!("[boot]\nbootfs = \"UUID='{}'\"\n", uuid(1)),
        ),
        (
            "other-subvol",
            "[boot]\noptions = \"subvol=/@other\"\n".into(),
        ),
        (
            "other-device",
            format!("[boot]\nbootfs = \"UUID={}\"\n", uuid(2)),
        ),
    ];
    for (name, conf) in &cases {
        fs::write(d.join(format!("{name}.conf")), conf).unwrap();
    }
    let script = r#"
set -e
loop=$(losetup -f --show "$D/boot.img")
other=$(losetup -f --show "$D/other.img")
trap 'umount /boot 2>/dev/null; losetup -d "$loop" "$other"' EXIT
echo "LOOP=$loop OTHER=$other"
m=$(mktemp -d)
mount "$loop" "$m"
btrfs -q subvolume create "$m/@boot"
umount "$m"
rmdir "$m"
mount -o subvol=@boot "$loop" /boot
mkdir "$D/up" "$D/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/up,workdir=$D/work" /etc
for c in detected quoted other-subvol other-device; do
    rm -f /etc/initoverlayfs.conf
    [ -s "$D/$c.conf" ] && cp "$D/$c.conf" /etc/initoverlayfs.conf
    "$BIN" --check --json > "$D/$c.json" || true
done
"#;
    let o = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("D", d)
        .env("BIN", env!("CARGO_BIN_EXE_initoverlayfs-install"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let (loop_dev, other) = out
        .lines()
        .find_map(|l| l.strip_prefix("LOOP="))
        .and_then(|l| l.split_once(" OTHER="))
        .unwrap();
    let bootfs = |name: &str| -> (String, String) {
        let text = fs::read_to_string(d.join(format!("{name}.json"))).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        let c = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "bootfs")
            .unwrap_or_else(|| panic!("{name}: no bootfs check: {v:#}"));
        (
            c["status"].as_str().unwrap().into(),
            c["detail"].as_str().unwrap().into(),
        )
    };
    let (status, detail) = bootfs("detected");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.contains(&format!("is {loop_dev}")) && detail.contains("with subvol=/@boot"),
        "{detail}"
    );
    let (status, detail) = bootfs("quoted");
    assert_eq!(status, "pass", "{detail}");
    let (status, detail) = bootfs("other-subvol");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("/@other") && detail.contains("/@boot"),
        "{detail}"
    );
    let (status, detail) = bootfs("other-device");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains(&uuid(2)) && detail.contains(other) && detail.contains(loop_dev),
        "{detail}"
    );
}
