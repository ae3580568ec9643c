//! `--check --json` on the fixture roots: fields and exit codes.

mod common;

use common::{installer, run, show};
use serde_json::Value;

fn check_json(name: &str, extra: &[&str]) -> (Value, i32) {
    let root = common::fixture(name);
    let mut args = vec!["--check", "--json"];
    args.extend_from_slice(extra);
    let o = run(&root, &args);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{name}: {e}\n{}", show(&o)));
    (v, o.status.code().unwrap())
}

fn status_of<'a>(v: &'a Value, id: &str) -> &'a str {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v:#}"))["status"]
        .as_str()
        .unwrap()
}

#[test]
fn fedora_ext4_boot_btrfs_root() {
    let (v, code) = check_json("fedora", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["compatible"], true);
    // newest by rpm order: 6.5.12 > 6.5.6 (string order says otherwise)
    assert_eq!(v["kver"], "6.5.12-300.fc39.x86_64");
    assert_eq!(v["layout"]["kind"], "three-partition");
    assert_eq!(
        v["layout"]["boot"]["source"],
        "UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b"
    );
    assert_eq!(v["layout"]["boot"]["fstype"], "ext4");
    assert_eq!(v["layout"]["root"]["fstype"], "btrfs");
    assert_eq!(v["layout"]["root"]["subvol"], "root");
    assert_eq!(v["layout"]["esp"]["fstype"], "vfat");
    assert_eq!(
        v["kernel"]["config"],
        "/usr/lib/modules/6.5.12-300.fc39.x86_64/config"
    );
    assert_eq!(v["kernel"]["erofs"], "module");
    assert_eq!(v["kernel"]["overlay"], "module");
    assert_eq!(v["kernel"]["loop"], "builtin");
    let algs: Vec<&str> = v["kernel"]["compression"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(algs, ["lz4", "lz4hc", "lzma", "deflate"]);
    assert_eq!(v["compression"], "lz4hc");
    assert_eq!(status_of(&v, "initramfs"), "pass");
    assert_eq!(status_of(&v, "boot-entry"), "pass");
    // an older kernel by --kver
    let (v, code) = check_json("fedora", &["--kver", "6.5.6-300.fc39.x86_64"]);
    assert_eq!(
        (code, v["kver"].as_str().unwrap()),
        (0, "6.5.6-300.fc39.x86_64")
    );
}

#[test]
fn centos9_xfs_boot_no_erofs_compression() {
    let (v, code) = check_json("centos9", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["layout"]["kind"], "three-partition");
    assert_eq!(v["layout"]["boot"]["fstype"], "xfs");
    assert_eq!(v["layout"]["root"]["source"], "/dev/mapper/cs-root");
    assert_eq!(v["kernel"]["config"], "/boot/config-5.14.0-362.el9.x86_64");
    assert_eq!(v["kernel"]["compression"].as_array().unwrap().len(), 0);
    assert_eq!(v["compression"], "none");
    assert_eq!(status_of(&v, "bootfs-driver"), "pass");
    // asking for lz4 is a clear failure
    let (v, code) = check_json("centos9", &["--compression", "lz4"]);
    assert_eq!(code, 1);
    assert_eq!(v["compatible"], false);
    assert_eq!(status_of(&v, "compression"), "fail");
    let detail = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "compression")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("cannot decompress"), "{detail}");
}

#[test]
fn rhel_without_kernel_config_guesses() {
    let (v, code) = check_json("rhel-noconfig", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["layout"]["kind"], "bios-boot");
    assert_eq!(v["kernel"]["config"], Value::Null);
    assert_eq!(v["kernel"]["erofs"], "unknown");
    assert_eq!(v["compression"], "none");
    assert_eq!(status_of(&v, "kernel-config"), "warn");
    assert_eq!(status_of(&v, "boot-entry"), "warn");
}

#[test]
fn refused_layouts_exit_1() {
    for (name, kind) in [
        ("boot-on-root", "boot-on-root"),
        ("ostree", "ostree"),
        ("nfs-root", "network-root"),
    ] {
        let (v, code) = check_json(name, &[]);
        assert_eq!(code, 1, "{name}: {v:#}");
        assert_eq!(v["compatible"], false, "{name}");
        assert_eq!(v["layout"]["kind"], kind, "{name}");
        assert_eq!(status_of(&v, "layout"), "fail", "{name}");
    }
}

#[test]
fn bios_only_and_exotic_fstab() {
    let (v, code) = check_json("bios-only", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["layout"]["kind"], "bios-boot");
    assert_eq!(v["layout"]["esp"], Value::Null);
    let (v, code) = check_json("exotic", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["layout"]["boot"]["source"], "LABEL=my boot");
    assert_eq!(v["layout"]["boot"]["fstype"], "xfs");
    assert_eq!(v["layout"]["esp"]["source"], "PARTLABEL=EFI System");
}

#[test]
fn table_output_and_usage_errors() {
    let o = run(&common::fixture("fedora"), &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("CHECK"), "{out}");
    assert!(
        out.contains("compatible for kernel 6.5.12-300.fc39.x86_64"),
        "{out}"
    );
    for bad in [
        &["--json"][..],
        &["--check", "--rollback"],
        &["--compression", "brotli"],
        &["--init-mode", "x"],
    ] {
        let o = installer().args(bad).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", show(&o));
    }
    let o = installer()
        .args(["--root", "/nonexistent-initoverlayfs", "--check"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
}

fn detail_of(v: &Value, id: &str) -> String {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v:#}"))["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `--check --json` on a temp root: the output must be a JSON document
/// whatever the exit code.
fn check_json_at(root: &std::path::Path) -> (Value, i32) {
    let o = run(root, &["--check", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("--check --json printed no JSON: {e}\n{}", show(&o)));
    (v, o.status.code().unwrap())
}

#[test]
fn text_after_the_sixth_fstab_field_is_ignored_as_libmount_does() {
    let (_t, root) = common::temp_root("fedora");
    let fstab = root.join("etc/fstab");
    let text = std::fs::read_to_string(&fstab).unwrap().replace(
        "ext4    defaults        1 2\n",
        "ext4    defaults        1 2   # boot partition\n",
    );
    assert!(text.contains("# boot partition"));
    std::fs::write(&fstab, text).unwrap();
    let (v, code) = check_json_at(&root);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["layout"]["boot"]["source"],
        "UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b"
    );
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass"),
        "{v:#}"
    );
}

#[test]
fn fstab_lines_libmount_skips_are_warned_and_not_used() {
    let (_t, root) = common::temp_root("fedora");
    let fstab = root.join("etc/fstab");
    // A comment right after the options: libmount reads `#` as freq and
    // skips the line, so this system would not mount /boot at all.
    let text = std::fs::read_to_string(&fstab).unwrap().replace(
        "ext4    defaults        1 2\n",
        "ext4    defaults        # boot partition\n",
    ) + "UUID=x /data\n";
    std::fs::write(&fstab, text).unwrap();
    let (v, code) = check_json_at(&root);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(status_of(&v, "layout"), "fail", "{v:#}");
    assert_eq!(v["layout"]["kind"], "boot-on-root");
    assert_eq!(status_of(&v, "mount-tables"), "warn");
    let d = detail_of(&v, "mount-tables");
    assert!(
        d.contains("/etc/fstab line 3: ") && d.contains("freq \"#\" is not a number"),
        "{d}"
    );
    assert!(
        d.contains("/etc/fstab line 6: \"UUID=x /data\": 2 field(s)"),
        "{d}"
    );
}

#[test]
fn unreadable_inputs_are_failing_checks_in_the_json() {
    // An fstab that cannot be read at all (a directory: root reads any file).
    let (_t, root) = common::temp_root("fedora");
    let fstab = root.join("etc/fstab");
    std::fs::remove_file(&fstab).unwrap();
    std::fs::create_dir(&fstab).unwrap();
    let (v, code) = check_json_at(&root);
    assert_eq!(code, 1);
    assert_eq!(v["compatible"], false);
    assert_eq!(status_of(&v, "detect"), "fail");
    let d = detail_of(&v, "detect");
    assert!(d.contains("etc/fstab") && d.contains("directory"), "{d}");
    assert_eq!(v["layout"], Value::Null);

    // A config file that cannot be parsed: file, key and line.
    let (_t, root) = common::temp_root("fedora");
    std::fs::write(
        root.join("etc/initoverlayfs.conf"),
        "[image]\ncompresion = \"lz4\"\n",
    )
    .unwrap();
    let (v, code) = check_json_at(&root);
    assert_eq!(code, 1);
    let d = detail_of(&v, "detect");
    assert!(
        d.contains("initoverlayfs.conf") && d.contains("compresion") && d.contains("line 2"),
        "{d}"
    );
    // The table says the same.
    let o = run(&root, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("detect") && out.contains("compresion") && out.contains("NOT compatible"),
        "{}",
        show(&o)
    );

    // A --root that does not exist.
    let o = installer()
        .args(["--root", "/nonexistent-initoverlayfs", "--check", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(detail_of(&v, "detect").contains("/nonexistent-initoverlayfs"));
}

#[test]
fn xbootldr_wins_over_esp_unless_kernel_install_says_otherwise() {
    let (v, code) = check_json("xbootldr", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["layout"]["kind"], "three-partition");
    assert_eq!(v["layout"]["boot"]["fstype"], "vfat");
    assert_eq!(v["layout"]["esp"]["source"], "PARTLABEL=esp");
    let algs = v["kernel"]["compression"].as_array().unwrap().len();
    assert_eq!(algs, 5, "zstd too: {v:#}");
    let detail = |v: &Value, id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        detail(&v, "boot-entry").starts_with("/boot/loader/entries/"),
        "{v:#}"
    );
    assert!(
        detail(&v, "initramfs")
            .contains("/boot/0f1e2d3c4b5a69788796a5b4c3d2e1f0/6.8.5-301.fc40.x86_64/initrd"),
        "{v:#}"
    );
    // kernel-install's $BOOT wins
    let o = installer()
        .args(["--check", "--json", "--root"])
        .arg(common::fixture("xbootldr"))
        .env("KERNEL_INSTALL_BOOT_ROOT", "/efi")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status_of(&v, "boot-entry"), "warn", "{v:#}");
    assert!(
        detail(&v, "boot-entry").contains("/efi/loader/entries/"),
        "{v:#}"
    );
}

#[test]
fn bad_entries_are_skipped_as_systemd_skips_them() {
    let (_t, root) = common::temp_root("fedora");
    let dir = root.join("boot/loader/entries");
    // A line systemd ignores does not make an entry unreadable.
    std::fs::write(dir.join("odd.conf"), "title x\n=== oops\nlinux /k\n").unwrap();
    // A binary file is skipped, and named.
    std::fs::write(dir.join("broken.conf"), b"title x\0\xff\n").unwrap();
    let (v, code) = check_json_at(&root);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(status_of(&v, "boot-entry"), "pass");
    assert_eq!(status_of(&v, "boot-entries"), "warn");
    let d = detail_of(&v, "boot-entries");
    assert!(d.contains("broken.conf") && !d.contains("odd.conf"), "{d}");
    // A kernel that is not installed.
    let o = run(
        &root,
        &["--check", "--json", "--kver", "9.9.9-1.fc39.x86_64"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(status_of(&v, "kver"), "fail");
}
