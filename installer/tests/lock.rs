//! A second concurrent run waits for the lock, then fails clearly.

mod common;

use std::fs::OpenOptions;
use std::time::{Duration, Instant};

use common::{run, show, temp_root};
use rustix::fs::{flock, FlockOperation};

#[test]
fn second_run_waits_then_fails_clearly() {
    let (_t, root) = temp_root("fedora");
    let lock = root.join("var/lib/initoverlayfs/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    flock(&f, FlockOperation::LockExclusive).unwrap();
    let before = common::snapshot(&root);

    let start = Instant::now();
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .arg("-y")
        .env("INITOVERLAYFS_INSTALL_LOCK_WAIT", "2")
        .output()
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("another initoverlayfs-install is running"),
        "{err}"
    );
    assert!(err.contains("var/lib/initoverlayfs/lock"), "{err}");
    assert!(waited >= Duration::from_secs(2), "gave up after {waited:?}");
    common::assert_same(&before, &common::snapshot(&root), "locked out run");
    // --rollback takes the same lock.
    let o = common::installer()
        .arg("--root")
        .arg(&root)
        .args(["--rollback", "-y"])
        .env("INITOVERLAYFS_INSTALL_LOCK_WAIT", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("another initoverlayfs-install is running"));

    // Released while the second run waits: it proceeds.
    let child = common::installer()
        .arg("--root")
        .arg(&root)
        .arg("-y")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(f);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("waiting for another run"));
    // --check does not lock, and --check on the installed system still passes.
    assert_eq!(run(&root, &["--check"]).status.code(), Some(0));
}
