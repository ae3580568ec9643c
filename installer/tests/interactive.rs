//! Interactive mode on a pseudo-terminal (util-linux `script`): the user
//! picks compression and init mode and confirms; Ctrl-C restores the cursor
//! and changes nothing. Without a terminal nothing ever prompts (every other
//! test runs that way).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_same, snapshot, temp_root};
use initoverlayfs::config::{Algorithm, Config, InitMode};

/// Runs the installer under `script` on a pty, typing `keys` (each chunk
/// after a pause so the prompt is up). Returns (pty output, exit status line).
fn on_pty(root: &std::path::Path, keys: &[&[u8]]) -> Option<String> {
    if Command::new("sh")
        .args(["-c", "command -v script"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("SKIPPED: util-linux `script` is not installed");
        return None;
    }
    let cmd = format!(
        "{} --root {}; echo rc=$?",
        env!("CARGO_BIN_EXE_initoverlayfs-install"),
        root.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("INITOVERLAYFS_INSTALL_TEST_NO_CHROOT", "1")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for k in keys {
        // Not a timing assertion: the pause only lets each prompt appear.
        std::thread::sleep(Duration::from_millis(700));
        stdin.write_all(k).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(700));
    let out = child.wait_with_output().unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn user_picks_compression_and_mode_then_confirms() {
    let (_t, root) = temp_root("fedora");
    // down: lz4hc -> lz4; enter; down: systemd -> pid1; enter; y
    let Some(out) = on_pty(&root, &[b"\x1b[B", b"\r", b"\x1b[B\r", b"y"]) else {
        return;
    };
    assert!(out.contains("rc=0"), "{out}");
    assert!(
        out.contains("CHECK") && out.contains("compression"),
        "table shown: {out}"
    );
    let cfg = Config::load(&root.join("etc/initoverlayfs.conf")).unwrap();
    assert_eq!(cfg.image.compression.algorithm, Algorithm::Lz4);
    assert_eq!(cfg.init.mode, InitMode::Pid1);
}

#[test]
fn ctrl_c_restores_the_cursor_and_changes_nothing() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let Some(out) = on_pty(&root, &[b"\x03"]) else {
        return;
    };
    assert!(out.contains("rc=130"), "{out}");
    assert!(out.contains("\x1b[?25h"), "cursor shown again: {out:?}");
    assert_same(&before, &snapshot(&root), "Ctrl-C");
}

#[test]
fn declining_changes_nothing() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    let Some(out) = on_pty(&root, &[b"\r", b"\r", b"n"]) else {
        return;
    };
    assert!(
        out.contains("Cancelled; nothing was changed.") && out.contains("rc=1"),
        "{out}"
    );
    assert_same(&before, &snapshot(&root), "declined");
}
