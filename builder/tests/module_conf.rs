//! The dracut module's config reading (`initoverlayfs_conf_get`, mode and
//! filesystem module list), run with bash on recorded config texts.

use std::process::Command;

/// Sources module-setup.sh with `initoverlayfs_conf` pointing at a file
/// holding `conf`, runs `script`, returns its stdout.
fn module_sh(conf: Option<&str>, script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initoverlayfs.conf");
    if let Some(text) = conf {
        std::fs::write(&path, text).unwrap();
    }
    let module = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dracut/81initoverlayfs/module-setup.sh"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {module}; {script}"))
        .env("initoverlayfs_conf", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `initoverlayfs-install` writes (Config::to_toml_string shape).
const WRITTEN: &str = r#"# /etc/initoverlayfs.conf: written by initoverlayfs-install
[boot]
bootfs = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff"
bootfstype = "ext4"
timeout = 30

[image]
path = "/initoverlayfs-{kver}.img"
fstype = "erofs"
compression = "lz4hc"

[init]
mode = "pid1"

[build]
initoverlayfs = ["dracut", "--no-hostonly", "--no-compress", "-o", "initoverlayfs", "--kver", "{kver}", "-f", "{output}"]
initrd = ["dracut", "--no-hostonly", "--modules", "initoverlayfs", "--kver", "{kver}", "-f", "{output}"]
"#;

#[test]
fn reads_mode_and_fstype_from_sections() {
    assert_eq!(module_sh(Some(WRITTEN), "initoverlayfs_mode"), "pid1\n");
    assert_eq!(
        module_sh(Some(WRITTEN), "initoverlayfs_fs_modules"),
        "loop erofs overlay ext4\n"
    );
    // The written config round-trips through the real serializer too.
    let c = initoverlayfs::config::Config::from_toml_str(WRITTEN).unwrap();
    let text = c.to_toml_string().unwrap();
    assert_eq!(module_sh(Some(&text), "initoverlayfs_mode"), "pid1\n");
    assert_eq!(
        module_sh(Some(&text), "initoverlayfs_conf_get boot bootfstype"),
        "ext4\n"
    );
}

#[test]
fn defaults_and_quoting() {
    assert_eq!(module_sh(None, "initoverlayfs_mode"), "systemd\n");
    assert_eq!(
        module_sh(None, "initoverlayfs_fs_modules"),
        "loop erofs overlay\n"
    );
    let conf = "[init]\n  mode = 'systemd'   # comment\n[boot]\nbootfstype='xfs'\n";
    assert_eq!(module_sh(Some(conf), "initoverlayfs_mode"), "systemd\n");
    assert_eq!(
        module_sh(Some(conf), "initoverlayfs_fs_modules"),
        "loop erofs overlay xfs\n"
    );
    // A key of another section does not leak.
    let conf = "[boot]\nmode = \"pid1\"\n[init]\n";
    assert_eq!(module_sh(Some(conf), "initoverlayfs_mode"), "systemd\n");
}

#[test]
fn check_returns_255() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}/dracut/81initoverlayfs/module-setup.sh; check; echo $?",
            env!("CARGO_MANIFEST_DIR")
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "255\n");
}

/// `[boot] drivers` as the installer writes it (Config's serializer), read
/// with the module's array reader; the other keys still read as before.
#[test]
fn reads_the_drivers_list_the_installer_writes() {
    let mut cfg = initoverlayfs::config::Config::default();
    cfg.boot.bootfs = Some("UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff".into());
    cfg.boot.drivers = vec!["virtio_pci".into(), "virtio-blk".into(), "sd_mod".into()];
    let script = "initoverlayfs_conf_list boot drivers; echo \"bootfs=$(initoverlayfs_conf_get boot bootfs)\"";
    assert_eq!(
        module_sh(Some(&cfg.to_toml_string().unwrap()), script),
        "virtio_pci\nvirtio-blk\nsd_mod\nbootfs=UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff\n"
    );
    // No drivers: nothing, so the module installs every storage driver.
    cfg.boot.drivers.clear();
    assert_eq!(
        module_sh(Some(&cfg.to_toml_string().unwrap()), script),
        "bootfs=UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff\n"
    );
    // Another section's array of the same name is not [boot]'s.
    assert_eq!(
        module_sh(
            Some("[image]\ndrivers = [\"no\"]\n"),
            "initoverlayfs_conf_list boot drivers"
        ),
        ""
    );
}
