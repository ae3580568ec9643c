//! Full install → rollback → install cycles on temp roots, with the
//! `[build]` argvs pointing at a fake builder that writes real cpio archives.

mod common;

use std::fs;
use std::path::Path;

use common::{
    assert_bootable, assert_same, run, show, snapshot, temp_root, FEDORA_KVER, FEDORA_MID,
};
use initoverlayfs::config::{Algorithm, Config};
use serde_json::Value;

fn ok(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
}

fn entry_name() -> String {
    format!("{FEDORA_MID}-{FEDORA_KVER}.conf")
}

fn fallback_name() -> String {
    format!("{FEDORA_MID}-without_initoverlayfs.{FEDORA_KVER}.conf")
}

fn rollbacks(root: &std::path::Path) -> Vec<Value> {
    let o = run(root, &["--list-rollbacks", "--json"]);
    ok(&o);
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn fedora_install_rollback_install_cycle() {
    let (_t, root) = temp_root("fedora");
    let pristine = snapshot(&root);
    let boot = root.join("boot");
    let original = fs::read(boot.join(format!("initramfs-{FEDORA_KVER}.img"))).unwrap();
    let main_entry = fs::read_to_string(boot.join("loader/entries").join(entry_name())).unwrap();
    let mtime = |p: &std::path::Path| fs::metadata(p).unwrap().modified().unwrap();
    let initrd_path = boot.join(format!("initramfs-{FEDORA_KVER}.img"));
    // An old mtime, as a distro initramfs has.
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(&initrd_path)
        .unwrap()
        .set_modified(old)
        .unwrap();

    for round in 0..2 {
        let o = run(&root, &["-y"]);
        ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("--rollback"),
            "summary says how to roll back: {out}"
        );

        // The main entry is untouched and boots the mini initramfs.
        let entries = boot.join("loader/entries");
        assert_eq!(
            fs::read_to_string(entries.join(entry_name())).unwrap(),
            main_entry
        );
        let mini = fs::read(boot.join(format!("initramfs-{FEDORA_KVER}.img"))).unwrap();
        assert!(mini.starts_with(b"070701"), "mini initramfs is a newc cpio");
        assert_ne!(mini, original);
        assert_bootable(&root, &entry_name(), &original, FEDORA_KVER);
        // The fallback boots a byte-identical copy of the original.
        let fb = fs::read_to_string(entries.join(fallback_name())).unwrap();
        let want_fb = main_entry
            .replace(
                "39 (Workstation Edition)\n",
                "39 (Workstation Edition) (without initoverlayfs)\n",
            )
            .replace(
                &format!("initrd /initramfs-{FEDORA_KVER}.img "),
                &format!("initrd /initramfs-{FEDORA_KVER}.img.without-initoverlayfs "),
            );
        assert_eq!(fb, want_fb);
        assert_eq!(
            fs::read(boot.join(format!("initramfs-{FEDORA_KVER}.img.without-initoverlayfs")))
                .unwrap(),
            original
        );
        // The config: detected boot fs, no host leak, lz4hc, [build] kept.
        let cfg = Config::load(&root.join("etc/initoverlayfs.conf")).unwrap();
        assert_eq!(
            cfg.boot.bootfs.as_deref(),
            Some("UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b")
        );
        assert_eq!(cfg.boot.bootfstype.as_deref(), Some("ext4"));
        assert_eq!(
            cfg.boot.bootfs_hint, None,
            "offline: no hint from the build host"
        );
        assert_eq!(cfg.image.compression.algorithm, Algorithm::Lz4hc);
        assert!(cfg.build.initrd[0].ends_with("fake-build"));
        // Other kernels' files are untouched.
        let after = snapshot(&root);
        for (k, v) in &pristine {
            if k.contains("6.5.6-300") || k.contains("rescue") || k.contains("efi/") {
                assert_eq!(after.get(k), Some(v), "{k} changed");
            }
        }

        // Idempotent: a rerun changes nothing.
        let o = run(&root, &["-y"]);
        ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("already installed"));
        assert_same(&after, &snapshot(&root), "rerun");
        // --force rebuilds; still one fallback entry, one generation, and
        // the rollback target is still the true original.
        ok(&run(&root, &["-y", "--force"]));
        let names: Vec<String> = fs::read_dir(&entries)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("without"))
            .collect();
        assert_eq!(names, vec![fallback_name()]);
        let gens = rollbacks(&root);
        assert_eq!(gens.len(), 1, "{gens:#?}");
        assert_eq!(gens[0]["in_effect"], true);
        assert_eq!(gens[0]["kver"], FEDORA_KVER);

        // Roll back: byte-identical to before the first install.
        let o = run(&root, &["--rollback", "-y"]);
        ok(&o);
        assert_same(
            &pristine,
            &snapshot(&root),
            &format!("rollback round {round}"),
        );
        assert_eq!(mtime(&initrd_path), old, "mtime restored");
        assert!(rollbacks(&root).is_empty());
    }
}

#[test]
fn rollback_refuses_corrupt_copy_and_changes_nothing() {
    let (_t, root) = temp_root("fedora");
    ok(&run(&root, &["-y"]));
    let installed = snapshot(&root);
    let gen = root.join("var/lib/initoverlayfs/rollback/1");
    let manifest: Value =
        serde_json::from_slice(&fs::read(gen.join("manifest.json")).unwrap()).unwrap();
    let saved = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == format!("/boot/initramfs-{FEDORA_KVER}.img"))
        .unwrap()["copy"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(gen.join(&saved), b"bit rot").unwrap();
    let o = run(&root, &["--rollback", "1", "-y"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("corrupt") && err.contains("blake3"), "{err}");
    assert_same(&installed, &snapshot(&root), "failed rollback");
    let o = run(&root, &["--rollback", "7", "-y"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no rollback generation 7"));
}

#[test]
fn failing_builder_leaves_system_unchanged() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .arg("-y")
        .env("FAKE_BUILD_FAIL", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failing on purpose") && err.contains("fake-build"),
        "{err}"
    );
    assert!(err.contains("previous state was restored"), "{err}");
    assert_same(&before, &snapshot(&root), "failed build");
    assert!(rollbacks(&root).is_empty());
}

#[test]
fn new_entry_from_kernel_cmdline_and_generations_pruned() {
    // RHEL fixture: no BLS entry, no kernel config; /etc/kernel/cmdline.
    let (_t, root) = temp_root("rhel-noconfig");
    let kver = "5.14.0-427.13.1.el9_4.x86_64";
    let pristine = snapshot(&root);
    ok(&run(&root, &["-y"]));
    // A new entry is a trial entry from the start (no GRUB files in this
    // root: the boot loader is not known, so the BLS boot counter is used).
    let entry =
        fs::read_to_string(root.join(format!("boot/loader/entries/rhel-{kver}+3.conf"))).unwrap();
    assert_eq!(
        entry,
        format!(
            "title Red Hat Enterprise Linux 9.4 (Plow) ({kver})\nversion {kver}\nsort-key rhel\n\
             options root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root\nlinux /vmlinuz-{kver}\ninitrd /initramfs-{kver}.img\n"
        )
    );
    let cfg = Config::load(&root.join("etc/initoverlayfs.conf")).unwrap();
    assert_eq!(
        cfg.image.compression.algorithm,
        Algorithm::None,
        "RHEL 9 guess: no compression"
    );
    assert_eq!(cfg.boot.bootfstype.as_deref(), Some("xfs"));
    // Re-runs with other settings carry the true original forward.
    for m in ["pid1", "systemd"] {
        ok(&run(&root, &["-y", "--init-mode", m]));
    }
    assert_eq!(rollbacks(&root).len(), 1);
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(
        &pristine,
        &snapshot(&root),
        "rollback to before the first install",
    );
}

/// Upstream builders are shell strings and are not migrated: the default
/// dracut argvs run. Returns a PATH whose first entry has a fake `dracut`
/// standing in for it (running `t/fake-build` of `temp_root`).
fn fake_dracut_path(t: &Path) -> String {
    let bin = t.join("bin");
    fs::create_dir(&bin).unwrap();
    let fake = bin.join("dracut");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nout=; kver=; kind=full\nwhile [ $# -gt 0 ]; do case $1 in -f) out=$2; shift;; --kver) kver=$2; shift;; --modules) kind=mini;; esac; shift; done\nexec {} $kind $kver $out\n",
            t.join("fake-build").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn upstream_config_with_nothing_detected_migrates_to_the_detected_boot() {
    // What upstream 0.995+ writes on RHEL 9 with an xfs /boot: its fstab
    // search (`/boot.*ext4`) finds nothing, so `bootfs ` and `bootfs_hint `
    // are empty, and `bootfstype ext4` is written anyway.
    let (t, root) = temp_root("centos9");
    let upstream = include_str!("fixtures/conf/upstream/v0.995-nothing-found.conf");
    let conf = root.join("etc/initoverlayfs.conf");
    fs::write(&conf, upstream).unwrap();
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .arg("-y")
        .env("PATH", fake_dracut_path(t.path()))
        .output()
        .unwrap();
    ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "warning: migrating /etc/initoverlayfs.conf: line 1: `bootfs` has no value",
        "line 2: `bootfs_hint` has no value",
        "bootfstype \"ext4\" is not migrated",
        "line 4: initoverlayfs_builder",
    ] {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }
    assert_eq!(
        fs::read_to_string(root.join("etc/initoverlayfs.conf.upstream-backup")).unwrap(),
        upstream
    );
    let cfg = Config::load(&conf).unwrap();
    assert_eq!(
        cfg.boot.bootfs.as_deref(),
        Some("UUID=0f6e2c1a-5d3b-4c8e-9a7f-2b1d0c3e4f5a"),
        "the detected /boot, not upstream's empty value"
    );
    assert_eq!(
        cfg.boot.bootfstype.as_deref(),
        Some("xfs"),
        "not upstream's ext4"
    );
    assert_eq!(cfg.boot.bootfs_hint, None);
}

#[test]
fn upstream_config_is_migrated_with_backup() {
    let (t, root) = temp_root("bios-only");
    let kver = "6.1.0-13-amd64";
    let conf = root.join("etc/initoverlayfs.conf");
    let upstream = "bootfs UUID=bbbbbbbb-1111-2222-3333-444444444444\nbootfs_hint /dev/sda2\nbootfstype ext4\n\
                    erofs_compression -zlz4\ninitoverlayfs_builder dracut -H -f /boot/x.img\n";
    fs::write(&conf, upstream).unwrap();
    let pristine = snapshot(&root);
    let path = fake_dracut_path(t.path());
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .arg("-y")
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(
        fs::read_to_string(root.join("etc/initoverlayfs.conf.upstream-backup")).unwrap(),
        upstream
    );
    let cfg = Config::load(&conf).unwrap();
    assert_eq!(
        cfg.boot.bootfs_hint.as_deref(),
        Some("/dev/sda2"),
        "explicit settings win"
    );
    assert_eq!(cfg.image.compression.algorithm, Algorithm::Lz4);
    assert_eq!(cfg.build, initoverlayfs::config::Build::default());
    // Debian naming: the mini initramfs replaces /boot/initrd.img-KVER and a
    // new entry is created from /etc/kernel/cmdline.
    let entry =
        fs::read_to_string(root.join(format!("boot/loader/entries/debian-{kver}+3.conf"))).unwrap();
    assert!(
        entry.contains(&format!("initrd /initrd.img-{kver}\n")),
        "{entry}"
    );
    assert!(
        entry.contains("options root=UUID=aaaaaaaa-1111-2222-3333-444444444444 ro quiet\n"),
        "{entry}"
    );
    assert!(root
        .join(format!(
            "boot/loader/entries/debian-without_initoverlayfs.{kver}.conf"
        ))
        .is_file());
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .args(["--rollback", "-y"])
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(&o);
    assert_same(&pristine, &snapshot(&root), "rollback of a migration");
}

#[test]
fn regenerated_initramfs_is_the_new_original_and_generations_are_pruned() {
    let (_t, root) = temp_root("fedora");
    let initrd = root.join(format!("boot/initramfs-{FEDORA_KVER}.img"));
    let mut last = Vec::new();
    for i in 0..5 {
        ok(&run(&root, &["-y"]));
        // `dracut -f` by someone else: the entry now boots a new full initramfs.
        last = format!("regenerated initramfs {i}\n").into_bytes();
        fs::write(&initrd, &last).unwrap();
    }
    let before = snapshot(&root);
    ok(&run(&root, &["-y"]));
    let gens = rollbacks(&root);
    assert_eq!(gens.len(), 3, "[rollback] keep = 3: {gens:#?}");
    assert_eq!(gens.last().unwrap()["in_effect"], true);
    let fb = root.join(format!(
        "boot/initramfs-{FEDORA_KVER}.img.without-initoverlayfs"
    ));
    assert_eq!(
        fs::read(&fb).unwrap(),
        last,
        "the fallback is the regenerated initramfs"
    );
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(
        &before,
        &snapshot(&root),
        "rollback to the regenerated state",
    );
}

#[test]
fn kernel_install_bls_layout_on_xbootldr() {
    let (_t, root) = temp_root("xbootldr");
    let pristine = snapshot(&root);
    let k = "6.8.5-301.fc40.x86_64";
    let mid = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let dir = root.join(format!("boot/{mid}/{k}"));
    let original = fs::read(dir.join("initrd")).unwrap();
    ok(&run(&root, &["-y"]));
    assert!(fs::read(dir.join("initrd")).unwrap().starts_with(b"070701"));
    assert_eq!(
        fs::read(dir.join("initrd.without-initoverlayfs")).unwrap(),
        original
    );
    let fb = fs::read_to_string(root.join(format!(
        "boot/loader/entries/{mid}-without_initoverlayfs.{k}.conf"
    )))
    .unwrap();
    assert!(
        fb.starts_with("# Boot Loader Specification type#1 entry\n"),
        "{fb}"
    );
    assert!(
        fb.contains("title      Fedora Linux 40 (Forty) (without initoverlayfs)\n"),
        "{fb}"
    );
    assert!(
        fb.contains(&format!(
            "initrd     /{mid}/{k}/initrd.without-initoverlayfs\n"
        )),
        "{fb}"
    );
    assert!(root.join(format!("boot/initoverlayfs-{k}.img")).is_file());
    let cfg = Config::load(&root.join("etc/initoverlayfs.conf")).unwrap();
    assert_eq!(cfg.boot.bootfs.as_deref(), Some("PARTLABEL=xbootldr"));
    assert_eq!(cfg.boot.bootfstype.as_deref(), Some("vfat"));
    // The ESP is untouched.
    for (p, v) in &pristine {
        if p.starts_with("efi/") {
            assert_eq!(snapshot(&root).get(p), Some(v));
        }
    }
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(&pristine, &snapshot(&root), "rollback");
}

#[test]
fn a_complete_user_config_is_kept_as_written() {
    let (_t, root) = temp_root("fedora");
    ok(&run(&root, &["-y"]));
    let conf = root.join("etc/initoverlayfs.conf");
    let text = format!(
        "# my notes: keep lz4hc\n{}",
        fs::read_to_string(&conf).unwrap()
    );
    fs::write(&conf, &text).unwrap();
    let o = run(&root, &["-y"]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already installed"),
        "{}",
        show(&o)
    );
    ok(&run(&root, &["-y", "--force"]));
    assert_eq!(fs::read_to_string(&conf).unwrap(), text);
}

#[test]
fn offline_new_entry_without_cmdline_uses_the_targets_fstab() {
    let (_t, root) = temp_root("bios-only");
    fs::remove_file(root.join("etc/kernel/cmdline")).unwrap();
    ok(&run(&root, &["-y", "--kver", "6.1.0-13-amd64"]));
    let entry =
        fs::read_to_string(root.join("boot/loader/entries/debian-6.1.0-13-amd64+3.conf")).unwrap();
    assert!(
        entry.contains("\noptions root=UUID=aaaaaaaa-1111-2222-3333-444444444444 ro\n"),
        "{entry}"
    );
}

#[test]
fn rollback_removes_directories_the_install_created() {
    let (_t, root) = temp_root("bios-only");
    assert!(!root.join("boot/loader").exists());
    ok(&run(&root, &["-y"]));
    assert!(root.join("boot/loader/entries").is_dir());
    ok(&run(&root, &["--rollback", "-y"]));
    assert!(
        !root.join("boot/loader").exists(),
        "boot/loader left behind"
    );
}

#[test]
fn entry_without_initrd_gets_one_and_uki_entries_are_refused() {
    let (_t, root) = temp_root("fedora");
    let path = root.join("boot/loader/entries").join(entry_name());
    let text = fs::read_to_string(&path).unwrap();
    let no_initrd: String = text
        .lines()
        .filter(|l| !l.starts_with("initrd"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&path, &no_initrd).unwrap();
    let pristine = snapshot(&root);
    ok(&run(&root, &["-y"]));
    let updated = fs::read_to_string(&path).unwrap();
    assert_eq!(
        updated,
        format!("{no_initrd}initrd /initramfs-{FEDORA_KVER}.img\n")
    );
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(&pristine, &snapshot(&root), "rollback");

    fs::write(
        &path,
        format!("title UKI\nversion {FEDORA_KVER}\nefi /EFI/Linux/fedora-{FEDORA_KVER}.efi\n"),
    )
    .unwrap();
    let o = run(&root, &["-y"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unified kernel image"),
        "{}",
        show(&o)
    );
}

#[test]
fn failing_rebuild_keeps_the_installed_state() {
    let (_t, root) = temp_root("fedora");
    ok(&run(&root, &["-y"]));
    let installed = snapshot(&root);
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .args(["-y", "--force"])
        .env("FAKE_BUILD_FAIL", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_same(&installed, &snapshot(&root), "failed rebuild");
    let gens = rollbacks(&root);
    assert_eq!(gens.len(), 1);
    assert_eq!(gens[0]["in_effect"], true);
    let hidden: Vec<_> = fs::read_dir(root.join("var/lib/initoverlayfs/rollback"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn artefacts_get_the_original_initramfs_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = temp_root("fedora");
    let initrd = root.join(format!("boot/initramfs-{FEDORA_KVER}.img"));
    fs::set_permissions(&initrd, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&run(&root, &["-y"]));
    for f in [
        format!("boot/initramfs-{FEDORA_KVER}.img"),
        format!("boot/initoverlayfs-{FEDORA_KVER}.img"),
        format!("boot/initramfs-{FEDORA_KVER}.img.without-initoverlayfs"),
    ] {
        let mode = fs::metadata(root.join(&f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    ok(&run(&root, &["--rollback", "-y"]));
    assert_eq!(
        fs::metadata(&initrd).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
