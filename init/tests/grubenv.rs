//! Our grubenv reader and writer against GRUB's own `grub-editenv`: the same
//! edits give byte-identical blocks, and each reads what the other wrote.
//! `grub-editenv` comes from `$INITOVERLAYFS_TEST_GRUB_EDITENV`, `PATH`, or
//! the copy `.ci/install-deps` unpacks from Debian's grub-common; the test
//! skips, saying so, only when there is none.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use initoverlayfs::grubenv::{GrubEnv, BOOT_COUNTER, BOOT_SUCCESS, NEXT_ENTRY, SAVED_ENTRY};

fn grub_editenv() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INITOVERLAYFS_TEST_GRUB_EDITENV") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("grub-editenv"))
        .chain([PathBuf::from(
            "/usr/local/lib/initoverlayfs-ci/grub-common/usr/bin/grub-editenv",
        )])
        .find(|p| p.is_file())
}

fn editenv(tool: &Path, file: &Path, args: &[&str]) -> String {
    let out = Command::new(tool).arg(file).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "grub-editenv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

macro_rules! tool_or_skip {
    () => {
        match grub_editenv() {
            Some(t) => t,
            None => {
                eprintln!("SKIP: no grub-editenv (Debian package grub-common; .ci/install-deps unpacks it)");
                return;
            }
        }
    };
}

#[test]
fn same_edits_same_bytes_as_grub_editenv() {
    let tool = tool_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let (theirs, ours) = (dir.path().join("theirs"), dir.path().join("ours"));
    editenv(&tool, &theirs, &["create"]);
    fs::copy(&theirs, &ours).unwrap();

    // What the installer arms a GRUB trial with, then what the fallback and
    // the blessing do.
    editenv(
        &tool,
        &theirs,
        &[
            "set",
            "saved_entry=m-6.5.12",
            "boot_success=0",
            "boot_counter=3",
        ],
    );
    let mut env = GrubEnv::load(&ours).unwrap();
    env.set(SAVED_ENTRY, "m-6.5.12").unwrap();
    env.set(BOOT_SUCCESS, "0").unwrap();
    env.set(BOOT_COUNTER, "3").unwrap();
    env.store(&ours).unwrap();
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap(), "set");

    editenv(
        &tool,
        &theirs,
        &["set", "next_entry=m-without_initoverlayfs.6.5.12"],
    );
    editenv(&tool, &theirs, &["unset", "boot_counter"]);
    let mut env = GrubEnv::load(&ours).unwrap();
    env.set(NEXT_ENTRY, "m-without_initoverlayfs.6.5.12")
        .unwrap();
    assert!(env.unset(BOOT_COUNTER));
    env.store(&ours).unwrap();
    assert_eq!(
        fs::read(&ours).unwrap(),
        fs::read(&theirs).unwrap(),
        "unset"
    );

    editenv(&tool, &theirs, &["set", "boot_success=1"]);
    let mut env = GrubEnv::load(&ours).unwrap();
    env.set(BOOT_SUCCESS, "1").unwrap();
    env.store(&ours).unwrap();
    assert_eq!(
        fs::read(&ours).unwrap(),
        fs::read(&theirs).unwrap(),
        "in place"
    );
    assert_eq!(fs::metadata(&ours).unwrap().len(), 1024);
}

#[test]
fn each_reads_what_the_other_wrote() {
    let tool = tool_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    // Ours, read by grub-editenv: a fresh block with a backslash in a value.
    let mut env = GrubEnv::new();
    env.set(SAVED_ENTRY, "a-6.1").unwrap();
    env.set("odd", "x\\y").unwrap();
    env.create(&file).unwrap();
    assert_eq!(
        editenv(&tool, &file, &["list"]),
        "saved_entry=a-6.1\nodd=x\\y\n"
    );
    // grub-editenv's, read by us (it keeps our signature and padding).
    editenv(&tool, &file, &["set", "boot_counter=2", "tricky=a\\b"]);
    let env = GrubEnv::load(&file).unwrap();
    assert_eq!(
        env.vars(),
        vec![
            ("saved_entry", "a-6.1"),
            ("odd", "x\\y"),
            ("boot_counter", "2"),
            ("tricky", "a\\b")
        ]
    );
    // A block grub-editenv refuses is refused by us too.
    fs::write(&file, b"not a grubenv\n").unwrap();
    let out = Command::new(&tool).arg(&file).arg("list").output().unwrap();
    assert!(!out.status.success(), "grub-editenv accepted a non-block");
    assert!(GrubEnv::load(&file).is_err());
}
