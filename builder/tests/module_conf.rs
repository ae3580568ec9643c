//! The dracut module's config reading (`initoverlayfs_conf_get`, mode and
//! filesystem module list), run with bash on recorded config texts: the
//! module asks `initoverlayfs-builder config get`, so every TOML form the
//! boot-time program reads is read the same way.

use std::process::Command;

/// Sources module-setup.sh with `initoverlayfs_conf` pointing at a file
/// holding `conf` (and dracut's `dfatal` as a stub), runs `script`; returns
/// its exit code, stdout and stderr.
fn module_run(conf: Option<&str>, script: &str) -> (i32, String, String) {
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
        .arg(format!(
            "dfatal() {{ echo \"FATAL: $*\" >&2; }}; source {module}; {script}"
        ))
        .env("initoverlayfs_conf", &path)
        .env(
            "initoverlayfs_builder",
            env!("CARGO_BIN_EXE_initoverlayfs-builder"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// [`module_run`] that must succeed; returns stdout.
fn module_sh(conf: Option<&str>, script: &str) -> String {
    let (rc, out, err) = module_run(conf, script);
    assert_eq!(rc, 0, "{err}");
    out
}

#[test]
fn every_toml_form_reads_as_the_boot_program_reads_it() {
    // Forms a line-based reader got wrong: an inline table, a multi-line
    // array with comments, a multi-line string, a comment after the value.
    let conf =
        "boot = { bootfstype = \"xfs\", drivers = [\n  \"ahci\", # SATA\n  \"sd_mod\",\n] }\n\
                [init]\nmode = \"\"\"pid1\"\"\" # fast\n";
    assert_eq!(module_sh(Some(conf), "initoverlayfs_mode"), "pid1\n");
    assert_eq!(
        module_sh(Some(conf), "initoverlayfs_fs_modules"),
        "loop erofs overlay xfs\n"
    );
    assert_eq!(
        module_sh(Some(conf), "initoverlayfs_conf_get boot drivers"),
        "ahci\nsd_mod\n"
    );
}

#[test]
fn a_bad_config_stops_the_build() {
    for conf in [
        "[init]\nmode = \"fast\"\n",
        "[boot]\nbootfstyp = \"xfs\"\n",
        "[init\n",
    ] {
        let (rc, out, err) = module_run(
            Some(conf),
            "_m=$(initoverlayfs_mode) || exit 7; echo \"got $_m\"",
        );
        assert_eq!(rc, 7, "{conf:?}: {out}{err}");
        assert!(
            err.contains("FATAL: initoverlayfs: cannot read init.mode"),
            "{err}"
        );
        assert!(err.contains("initoverlayfs-builder:"), "{err}");
    }
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
    // A key in the wrong section is the boot program's error too: not
    // silently read as the default.
    let conf = "[boot]\nmode = \"pid1\"\n[init]\n";
    let (rc, _, err) = module_run(Some(conf), "initoverlayfs_mode");
    assert_ne!(rc, 0, "{err}");
    assert!(err.contains("unknown field `mode`"), "{err}");
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
    let script = "initoverlayfs_conf_get boot drivers; echo \"bootfs=$(initoverlayfs_conf_get boot bootfs)\"";
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
    // Another section's array of the same name is an unknown key there.
    let (rc, out, _) = module_run(
        Some("[image]\ndrivers = [\"no\"]\n"),
        "initoverlayfs_conf_get boot drivers",
    );
    assert_eq!((rc, out.as_str()), (1, ""));
}

/// A vfat /boot gets the character set modules its mount requests, from the
/// kernel config's FAT defaults (recorded: Debian 12's 6.1 config lines),
/// else the kernel's built-in defaults; other types get none.
#[test]
fn vfat_boot_gets_its_nls_modules() {
    let dir = tempfile::tempdir().unwrap();
    let kconfig = dir.path().join("config-6.1.0-50-amd64");
    std::fs::write(
        &kconfig,
        "CONFIG_FAT_FS=m\nCONFIG_VFAT_FS=m\nCONFIG_FAT_DEFAULT_CODEPAGE=437\n\
         CONFIG_FAT_DEFAULT_IOCHARSET=\"ascii\"\nCONFIG_FAT_DEFAULT_UTF8=y\nCONFIG_NLS_DEFAULT=\"utf8\"\n",
    )
    .unwrap();
    let with_config = format!(
        "initoverlayfs_kconfig={}; initoverlayfs_fat_nls_modules",
        kconfig.display()
    );
    let vfat = "[boot]\nbootfstype = \"vfat\"\n";
    assert_eq!(module_sh(Some(vfat), &with_config), "nls_cp437 nls_ascii\n");
    std::fs::write(
        &kconfig,
        "CONFIG_FAT_DEFAULT_CODEPAGE=850\nCONFIG_FAT_DEFAULT_IOCHARSET=\"utf8\"\n",
    )
    .unwrap();
    assert_eq!(module_sh(Some(vfat), &with_config), "nls_cp850 nls_utf8\n");
    // No config for the kernel: Kconfig's defaults.
    assert_eq!(
        module_sh(Some(vfat), "kernel=0.0-none; initoverlayfs_fat_nls_modules"),
        "nls_cp437 nls_iso8859-1\n"
    );
    // msdos has no iocharset; ext4 needs no character set.
    assert_eq!(
        module_sh(Some("[boot]\nbootfstype = \"msdos\"\n"), &with_config),
        "nls_cp850\n"
    );
    assert_eq!(module_sh(Some(WRITTEN), &with_config), "");
}
