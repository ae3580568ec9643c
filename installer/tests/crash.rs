//! SIGKILL at every step of a real install (and of a rollback) against a
//! temp root: the default entry stays bootable, and rollback (or a re-run)
//! works. The crash points are `INITOVERLAYFS_INSTALL_CRASH_AT=N`: the N-th
//! step boundary of the run kills the process with SIGKILL.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use common::{
    assert_bootable, assert_same, run, show, snapshot, temp_root, FEDORA_KVER, FEDORA_MID,
};

fn copy_of(template: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    assert!(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", template.display()))
        .arg(&root)
        .status()
        .unwrap()
        .success());
    (t, root)
}

fn run_crashing(root: &Path, args: &[&str], n: u32) -> std::process::Output {
    common::installer()
        .arg("--root")
        .arg(root)
        .args(args)
        .env("INITOVERLAYFS_INSTALL_CRASH_AT", n.to_string())
        .output()
        .unwrap()
}

fn no_staging_left(root: &Path) {
    for d in ["boot", "boot/loader/entries", "etc"] {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".initoverlayfs-staging."),
                "{d}/{name} left behind"
            );
        }
    }
}

#[test]
fn sigkill_at_every_install_step() {
    let (_t, template) = temp_root("fedora");
    let pristine = snapshot(&template);
    let entry = format!("{FEDORA_MID}-{FEDORA_KVER}.conf");
    let original =
        std::fs::read(template.join(format!("boot/initramfs-{FEDORA_KVER}.img"))).unwrap();
    let mut killed = 0;
    for n in 1..100 {
        let (_a, root) = copy_of(&template);
        let o = run_crashing(&root, &["-y"], n);
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {n}: {}", show(&o));
        killed += 1;
        assert_bootable(&root, &entry, &original, FEDORA_KVER);
        let (_b, root2) = copy_of(&root);

        // a) roll back right away
        let o = run(&root, &["--rollback", "-y"]);
        let gens_existed = o.status.success();
        if !gens_existed {
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("no rollback generation"),
                "point {n}: {}",
                show(&o)
            );
        }
        assert_same(&pristine, &snapshot(&root), &format!("point {n}: rollback"));
        no_staging_left(&root);

        // b) re-run the install, then roll back
        let o = run(&root2, &["-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: re-run: {}", show(&o));
        assert_bootable(&root2, &entry, &original, FEDORA_KVER);
        no_staging_left(&root2);
        let o = run(&root2, &["--rollback", "-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: {}", show(&o));
        assert_same(
            &pristine,
            &snapshot(&root2),
            &format!("point {n}: re-run + rollback"),
        );
    }
    assert!(killed >= 10, "only {killed} crash points were reached");
    eprintln!("killed the install at {killed} points");
}

#[test]
fn sigkill_at_every_rollback_step() {
    let (_t, template) = temp_root("fedora");
    let pristine = snapshot(&template);
    let o = run(&template, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let entry = format!("{FEDORA_MID}-{FEDORA_KVER}.conf");
    let original = std::fs::read(template.join(format!(
        "boot/initramfs-{FEDORA_KVER}.img.without-initoverlayfs"
    )))
    .unwrap();
    let mut killed = 0;
    for n in 1..100 {
        let (_a, root) = copy_of(&template);
        let o = run_crashing(&root, &["--rollback", "-y"], n);
        if o.status.success() {
            assert_same(&pristine, &snapshot(&root), "uninterrupted rollback");
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {n}: {}", show(&o));
        killed += 1;
        assert_bootable(&root, &entry, &original, FEDORA_KVER);
        let o = run(&root, &["--rollback", "-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: {}", show(&o));
        assert_same(&pristine, &snapshot(&root), &format!("rollback point {n}"));
    }
    assert!(killed >= 5, "only {killed} crash points were reached");
}

#[test]
fn sigkill_at_every_step_of_a_forced_rebuild() {
    let (_t, template) = temp_root("fedora");
    let pristine = snapshot(&template);
    let original =
        std::fs::read(template.join(format!("boot/initramfs-{FEDORA_KVER}.img"))).unwrap();
    let o = run(&template, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let entry = format!("{FEDORA_MID}-{FEDORA_KVER}.conf");
    let mut killed = 0;
    for n in 1..100 {
        let (_a, root) = copy_of(&template);
        let o = run_crashing(&root, &["-y", "--force"], n);
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {n}: {}", show(&o));
        killed += 1;
        assert_bootable(&root, &entry, &original, FEDORA_KVER);
        // Rollback still reaches the true original.
        let o = run(&root, &["--rollback", "-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: {}", show(&o));
        assert_same(
            &pristine,
            &snapshot(&root),
            &format!("rebuild point {n}: rollback"),
        );
        no_staging_left(&root);
    }
    assert!(killed >= 10, "only {killed} crash points were reached");
    eprintln!("killed the rebuild at {killed} points");
}

/// The same with systemd-boot, where the install renames the main entry to
/// its trial name `ID+3.conf`: at every kill point exactly one file of the
/// entry's id exists and boots, and rollback (or a re-run and rollback)
/// gives back the original name and bytes; also for a forced rebuild after
/// systemd-boot counted a boot (`ID+2-1.conf`).
#[test]
fn sigkill_at_every_step_with_a_counted_entry() {
    let (_t, template) = temp_root("fedora");
    common::as_systemd_boot(&template);
    let pristine = snapshot(&template);
    let id = format!("{FEDORA_MID}-{FEDORA_KVER}");
    let entries = |r: &Path| r.join("boot/loader/entries");
    let original =
        std::fs::read(template.join(format!("boot/initramfs-{FEDORA_KVER}.img"))).unwrap();
    let bootable = |r: &Path, n: u32| {
        let name = common::entry_file(&entries(r), &id);
        assert_bootable(r, &name, &original, FEDORA_KVER);
        eprintln!("point {n}: {name}");
    };
    let mut killed = 0;
    for n in 1..100 {
        let (_a, root) = copy_of(&template);
        let o = run_crashing(&root, &["-y"], n);
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {n}: {}", show(&o));
        killed += 1;
        bootable(&root, n);
        let (_b, root2) = copy_of(&root);
        let o = run(&root, &["--rollback", "-y"]);
        if !o.status.success() {
            assert!(String::from_utf8_lossy(&o.stderr).contains("no rollback generation"));
        }
        assert_same(&pristine, &snapshot(&root), &format!("point {n}: rollback"));
        let o = run(&root2, &["-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: re-run: {}", show(&o));
        assert_eq!(
            common::entry_file(&entries(&root2), &id),
            format!("{id}+3.conf")
        );
        let o = run(&root2, &["--rollback", "-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: {}", show(&o));
        assert_same(
            &pristine,
            &snapshot(&root2),
            &format!("point {n}: re-run + rollback"),
        );
    }
    assert!(killed >= 10, "only {killed} crash points were reached");

    // A forced rebuild after a counted boot, killed at every step.
    let o = run(&template, &["-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    std::fs::rename(
        entries(&template).join(format!("{id}+3.conf")),
        entries(&template).join(format!("{id}+2-1.conf")),
    )
    .unwrap();
    let mut killed = 0;
    for n in 1..100 {
        let (_a, root) = copy_of(&template);
        let o = run_crashing(&root, &["-y", "--force"], n);
        if o.status.success() {
            assert_eq!(
                common::entry_file(&entries(&root), &id),
                format!("{id}+3.conf")
            );
            break;
        }
        assert_eq!(o.status.signal(), Some(9), "point {n}: {}", show(&o));
        killed += 1;
        bootable(&root, n);
        let o = run(&root, &["--rollback", "-y"]);
        assert_eq!(o.status.code(), Some(0), "point {n}: {}", show(&o));
        assert_same(
            &pristine,
            &snapshot(&root),
            &format!("rebuild point {n}: rollback"),
        );
    }
    assert!(killed >= 10, "only {killed} crash points were reached");
}
