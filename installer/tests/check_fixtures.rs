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

#[test]
fn garbled_fstab_is_a_clear_error() {
    let (_t, root) = common::temp_root("fedora");
    std::fs::write(root.join("etc/fstab"), "UUID=x /boot\n").unwrap();
    let o = run(&root, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("etc/fstab") && err.contains("line 1"), "{err}");
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
fn bad_input_is_named() {
    // A garbled BLS entry: file and line.
    let (_t, root) = common::temp_root("fedora");
    let e = root.join("boot/loader/entries/broken.conf");
    std::fs::write(&e, "title x\n=== oops\n").unwrap();
    let o = run(&root, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.conf") && err.contains("line 2"),
        "{err}"
    );
    std::fs::remove_file(&e).unwrap();
    // An unknown key in the config: file, key and line.
    std::fs::write(
        root.join("etc/initoverlayfs.conf"),
        "[image]\ncompresion = \"lz4\"\n",
    )
    .unwrap();
    let o = run(&root, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("initoverlayfs.conf") && err.contains("compresion") && err.contains("line 2"),
        "{err}"
    );
    // A kernel that is not installed.
    std::fs::remove_file(root.join("etc/initoverlayfs.conf")).unwrap();
    let (v, code) = {
        let o = run(
            &root,
            &["--check", "--json", "--kver", "9.9.9-1.fc39.x86_64"],
        );
        (
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
            o.status.code().unwrap(),
        )
    };
    assert_eq!(code, 1);
    assert_eq!(status_of(&v, "kver"), "fail");
}

#[test]
fn missing_initoverlayfs_files_fail_before_a_dracut_build() {
    let (_t, root) = common::temp_root("fedora");
    std::fs::remove_file(root.join("etc/initoverlayfs.conf")).unwrap(); // default [build]: dracut
    std::fs::remove_file(root.join("usr/lib/dracut/modules.d/81initoverlayfs/module-setup.sh"))
        .unwrap();
    let o = run(&root, &["--check", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status_of(&v, "initoverlayfs-files"), "fail");
}
