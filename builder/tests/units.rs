//! The mini initramfs' systemd units (init/units/) pass `systemd-analyze
//! verify` in a root holding them, the boot-time binary and systemctl.

use std::fs;
use std::path::Path;
use std::process::Command;

const UNITS: [&str; 4] = [
    "pre-initoverlayfs.target",
    "pre-initoverlayfs.service",
    "pre-initoverlayfs-switch-root.service",
    "pre-initoverlayfs-failure.service",
];

/// Runs `systemd-analyze --root verify` on our units, with `edit` applied to
/// the service first. Returns (success, output), or None without systemd.
fn verify(edit: impl Fn(String) -> String) -> Option<(bool, String)> {
    let systemctl = ["/usr/bin/systemctl", "/bin/systemctl"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    let unitdir = root.path().join("usr/lib/systemd/system");
    fs::create_dir_all(&unitdir).unwrap();
    fs::create_dir_all(root.path().join("usr/sbin")).unwrap();
    fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../init/units");
    for u in UNITS {
        let text = fs::read_to_string(src.join(u)).unwrap();
        let text = if u == "pre-initoverlayfs.service" {
            edit(text)
        } else {
            text
        };
        fs::write(unitdir.join(u), text).unwrap();
    }
    fs::copy("/bin/true", root.path().join("usr/sbin/initoverlayfs")).unwrap();
    fs::copy(systemctl, root.path().join("usr/bin/systemctl")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.path().display()))
        .args(["verify", "--man=no"])
        .args(UNITS)
        .current_dir(&unitdir)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success() && text.trim().is_empty(), text))
}

#[test]
fn units_verify_clean() {
    let Some((ok, text)) = verify(|t| t) else {
        eprintln!("SKIP: systemd (systemd-analyze, systemctl) is not installed");
        return;
    };
    assert!(ok, "{text}");
    // The check is real: a broken directive is reported.
    let (ok, text) = verify(|t| t.replace("Type=oneshot", "Type=oneshoot")).unwrap();
    assert!(!ok && text.contains("oneshoot"), "{text}");
}

#[test]
fn units_name_the_agreed_commands() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../init/units");
    let svc = fs::read_to_string(dir.join("pre-initoverlayfs.service")).unwrap();
    assert!(svc.contains("ExecStart=/usr/sbin/initoverlayfs --systemd\n"));
    assert!(svc.contains("OnFailure=pre-initoverlayfs-failure.service"));
    let sw = fs::read_to_string(dir.join("pre-initoverlayfs-switch-root.service")).unwrap();
    assert!(sw.contains("ExecStart=/usr/bin/systemctl --no-block switch-root /initoverlayfs"));
    assert!(sw.contains("OnFailure=pre-initoverlayfs-failure.service"));
    // udevd settled and stopped before the switch, not racing it.
    let settle = sw.find("ExecStartPre=-/usr/bin/udevadm settle").unwrap();
    let stop = sw
        .find("ExecStartPre=-/usr/bin/systemctl stop systemd-udevd.service")
        .unwrap();
    assert!(settle < stop && stop < sw.find("ExecStart=").unwrap());
    // Every failure ends in the failure unit, which applies [boot] failure
    // and, when it fails itself (policy shell), leaves a shell to a person.
    let fail = fs::read_to_string(dir.join("pre-initoverlayfs-failure.service")).unwrap();
    assert!(fail.contains("ExecStart=/usr/sbin/initoverlayfs --systemd --on-failure"));
    assert!(fail.contains("OnFailure=emergency.target"));
    assert!(!fail.contains("OnFailure=pre-initoverlayfs-failure.service"));
    let target = fs::read_to_string(dir.join("pre-initoverlayfs.target")).unwrap();
    assert!(
        target.contains("pre-initoverlayfs.service")
            && target.contains("pre-initoverlayfs-switch-root.service")
    );
}
