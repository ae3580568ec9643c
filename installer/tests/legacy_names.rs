//! Fallback entries written by earlier releases as `ID~without-initoverlayfs.conf`
//! (a name systemd rejects): the next install or rollback renames them, and
//! rollback generations that record the old name still restore correctly.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_same, run, show, snapshot, temp_root, FEDORA_KVER, FEDORA_MID};

fn ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn new_name() -> String {
    common::fallback_entry_name(FEDORA_MID, FEDORA_KVER)
}

fn legacy_name() -> String {
    common::legacy_fallback_entry_name(FEDORA_MID, FEDORA_KVER)
}

fn entries(root: &Path) -> std::path::PathBuf {
    root.join("boot/loader/entries")
}

fn manifests(root: &Path) -> Vec<std::path::PathBuf> {
    common::manifests(root)
}

fn make_legacy(root: &Path) {
    common::make_legacy_fallback(root, FEDORA_MID, FEDORA_KVER);
}

#[test]
fn next_install_renames_and_the_rollback_still_restores() {
    let (_t, root) = temp_root("fedora");
    // A Fedora-style `id` key, which the fallback entry carries as its own id.
    let main = entries(&root).join(format!("{FEDORA_MID}-{FEDORA_KVER}.conf"));
    let text = fs::read_to_string(&main).unwrap();
    fs::write(&main, format!("{text}id {FEDORA_MID}-{FEDORA_KVER}\n")).unwrap();
    let pristine = snapshot(&root);
    ok(&run(&root, &["-y"]));
    let fallback = fs::read_to_string(entries(&root).join(new_name())).unwrap();
    assert!(
        fallback.contains(&format!("id {}\n", new_name().trim_end_matches(".conf"))),
        "{fallback}"
    );
    make_legacy(&root);

    // --check names it; --dry-run says it would rename and changes nothing.
    let o = run(&root, &["--check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "boot-entries")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(c["status"], "warn");
    let d = c["detail"].as_str().unwrap();
    assert!(d.contains(&legacy_name()) && d.contains(&new_name()), "{d}");
    let before = snapshot(&root);
    let out = ok(&run(&root, &["--dry-run"]));
    assert!(out.contains(&format!("to {}", new_name())), "{out}");
    assert_same(&before, &snapshot(&root), "dry run");

    // The next install (here one with nothing else to do) renames it.
    let out = ok(&run(&root, &["-y"]));
    assert!(
        out.contains("renamed fallback entry") && out.contains("already installed"),
        "{out}"
    );
    assert!(!entries(&root).join(legacy_name()).exists());
    assert_eq!(
        fs::read_to_string(entries(&root).join(new_name())).unwrap(),
        fallback,
        "same entry, new name, id key updated"
    );
    for m in manifests(&root) {
        let t = fs::read_to_string(&m).unwrap();
        assert!(!t.contains('~') && t.contains(&new_name()), "{t}");
    }
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(&pristine, &snapshot(&root), "rollback after the rename");
}

#[test]
fn rollback_of_a_generation_recorded_with_the_tilde_name() {
    let (_t, root) = temp_root("fedora");
    let pristine = snapshot(&root);
    ok(&run(&root, &["-y"]));
    make_legacy(&root);
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(&pristine, &snapshot(&root), "rollback");
}

#[test]
fn a_saved_copy_recorded_under_the_tilde_name_is_restored_under_the_new_one() {
    let (_t, root) = temp_root("fedora");
    ok(&run(&root, &["-y"]));
    // `dracut -f` by someone else: the next install records the fallback
    // entry as it is (saved, not absent).
    fs::write(
        root.join(format!("boot/initramfs-{FEDORA_KVER}.img")),
        b"regenerated\n",
    )
    .unwrap();
    let before_second = snapshot(&root);
    ok(&run(&root, &["-y"]));
    make_legacy(&root);
    let saved = manifests(&root)
        .iter()
        .map(|m| fs::read_to_string(m).unwrap())
        .any(|t| t.contains(&legacy_name()) && t.contains("\"saved\""));
    assert!(saved, "a generation saves the fallback entry");
    ok(&run(&root, &["--rollback", "-y"]));
    assert_same(&before_second, &snapshot(&root), "rollback");
    assert!(!entries(&root).join(legacy_name()).exists());
}
