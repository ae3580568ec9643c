//! The kernel-install plugin: `add` installs for exactly the KVER given,
//! only when enabled; `remove` removes exactly what `add` created.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{show, snapshot, temp_root, FEDORA_MID};

const OLD: &str = "6.5.6-300.fc39.x86_64";

fn plugin(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_initoverlayfs-install"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel-install/94-initoverlayfs.install"),
    );
    c.args(args)
        .env("PATH", path)
        .env("INITOVERLAYFS_INSTALL_ROOT", root)
        .env("INITOVERLAYFS_INSTALL_TEST_NO_CHROOT", "1")
        .env("KERNEL_INSTALL_VERBOSE", "1")
        .env("KERNEL_INSTALL_LAYOUT", "bls");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn add_then_remove_touches_exactly_its_files() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let entry_dir = root.join(format!("boot/{FEDORA_MID}/{OLD}"));
    let args = ["add", OLD, entry_dir.to_str().unwrap(), "/boot/vmlinuz"];
    let o = plugin(&root, &args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("--kver {OLD}")),
        "{}",
        show(&o)
    );
    let added = snapshot(&root);
    // Installed for the KVER given (not the newest, not uname -r).
    let created: Vec<&String> = added.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        created,
        vec![
            &format!("boot/initoverlayfs-{OLD}.img"),
            &format!("boot/initramfs-{OLD}.img.without-initoverlayfs"),
            &format!("boot/loader/entries/{FEDORA_MID}-without_initoverlayfs.{OLD}.conf"),
        ]
    );
    let o = plugin(&root, &["remove", OLD, entry_dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let removed = snapshot(&root);
    let mut expected = added.clone();
    for c in &created {
        expected.remove(*c);
    }
    common::assert_same(&expected, &removed, "after remove");
    assert!(!root.join("var/lib/initoverlayfs/rollback/1").exists());
}

#[test]
fn remove_after_an_earlier_release_removes_its_tilde_entry() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let entry_dir = root.join(format!("boot/{FEDORA_MID}/{OLD}"));
    let o = plugin(
        &root,
        &["add", OLD, entry_dir.to_str().unwrap(), "/boot/vmlinuz"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    common::make_legacy_fallback(&root, FEDORA_MID, OLD);
    let added = snapshot(&root);
    let created: Vec<&String> = added.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        created,
        vec![
            &format!("boot/initoverlayfs-{OLD}.img"),
            &format!("boot/initramfs-{OLD}.img.without-initoverlayfs"),
            &format!(
                "boot/loader/entries/{}",
                common::legacy_fallback_entry_name(FEDORA_MID, OLD)
            ),
        ]
    );
    let o = plugin(&root, &["remove", OLD, entry_dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let mut expected = added.clone();
    for c in &created {
        expected.remove(*c);
    }
    common::assert_same(&expected, &snapshot(&root), "after remove");
}

#[test]
fn add_does_nothing_when_not_enabled_or_uki() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let o = plugin(
        &root,
        &["add", OLD, "/x", "/y"],
        &[("KERNEL_INSTALL_LAYOUT", "uki")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("uki"));
    std::fs::remove_file(root.join("etc/initoverlayfs.conf")).unwrap();
    let mut without_conf = before.clone();
    without_conf.remove("etc/initoverlayfs.conf");
    let o = plugin(&root, &["add", OLD, "/x", "/y"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not enabled"));
    common::assert_same(&without_conf, &snapshot(&root), "disabled add");
}

#[test]
fn failing_install_warns_and_keeps_kernel_install_going() {
    let (_t, root) = temp_root("fedora");
    let o = plugin(
        &root,
        &["add", OLD, "/x", "/y"],
        &[("FAKE_BUILD_FAIL", "1")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: initoverlayfs-install failed"));
}

#[test]
fn remove_finds_a_trial_entry_under_every_counted_name() {
    // systemd-boot: the main entry becomes a trial entry (ID+3.conf), which
    // systemd-boot renames at each boot; `remove` must find it by its id.
    let (_t, root) = temp_root("fedora");
    common::as_systemd_boot(&root);
    let entries = root.join("boot/loader/entries");
    let id = format!("{FEDORA_MID}-{OLD}");
    let entry_dir = root.join(format!("boot/{FEDORA_MID}/{OLD}"));
    let o = plugin(
        &root,
        &["add", OLD, entry_dir.to_str().unwrap(), "/boot/vmlinuz"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(common::entry_file(&entries, &id), format!("{id}+3.conf"));
    let added = snapshot(&root);
    for renamed in [format!("{id}+2-1.conf"), format!("{id}+0-3.conf")] {
        let cur = common::entry_file(&entries, &id);
        std::fs::rename(entries.join(cur), entries.join(&renamed)).unwrap();
    }
    let o = plugin(&root, &["remove", OLD, entry_dir.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{id}+0-3.conf")),
        "{}",
        show(&o)
    );
    // Nothing of the removed kernel's entries is left (kernel-install's own
    // plugin removes the entry it wrote; ours, renamed, is gone too), nor
    // the files `add` created; the rest is as `add` left it.
    let left: Vec<String> = common::names(&entries)
        .into_iter()
        .filter(|n| n.contains(OLD))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let mut expected = added.clone();
    for gone in [
        format!("boot/loader/entries/{id}+3.conf"),
        format!("boot/loader/entries/{FEDORA_MID}-without_initoverlayfs.{OLD}.conf"),
        format!("boot/initoverlayfs-{OLD}.img"),
        format!("boot/initramfs-{OLD}.img.without-initoverlayfs"),
    ] {
        assert!(expected.remove(&gone).is_some(), "{gone} was not added");
    }
    common::assert_same(&expected, &snapshot(&root), "after remove");
}
