//! The installed system's units (installer/units/) and their generator
//! (installer/systemd/initoverlayfs-generator): the units pass `systemd-analyze
//! verify`, name the commands the installer implements, and the generator
//! pulls them in exactly when initoverlayfs is enabled, never in an initrd.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNITS: [&str; 2] = [
    "initoverlayfs-after-boot.service",
    "initoverlayfs-bless.service",
];

fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `systemd-analyze --root verify` of our units with `edit` applied to the
/// bless unit; (success, output), or None without systemd.
fn verify(edit: impl Fn(String) -> String) -> Option<(bool, String)> {
    let systemctl = ["/usr/bin/systemctl", "/bin/systemctl"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()?;
    let root = tempfile::tempdir().unwrap();
    let unitdir = root.path().join("usr/lib/systemd/system");
    fs::create_dir_all(&unitdir).unwrap();
    fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    for u in UNITS {
        let text = fs::read_to_string(src("units").join(u)).unwrap();
        let text = if u == "initoverlayfs-bless.service" {
            edit(text)
        } else {
            text
        };
        fs::write(unitdir.join(u), text).unwrap();
    }
    // The targets and sockets they order against, as systemd ships them.
    for (name, text) in [
        ("boot-complete.target", "[Unit]\nDescription=Boot Completion Check\n"),
        ("local-fs.target", "[Unit]\nDescription=Local File Systems\n"),
        ("shutdown.target", "[Unit]\nDescription=System Shutdown\n"),
        ("systemd-journald.socket", "[Unit]\nDescription=Journal Socket\n[Socket]\nListenDatagram=/run/systemd/journal/socket\n"),
    ] {
        fs::write(unitdir.join(name), text).unwrap();
    }
    fs::copy(
        "/bin/true",
        root.path().join("usr/bin/initoverlayfs-install"),
    )
    .unwrap();
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
    let (ok, text) = verify(|t| t.replace("Type=oneshot", "Type=oneshoot")).unwrap();
    assert!(!ok && text.contains("oneshoot"), "{text}");
}

#[test]
fn units_run_the_installer_where_and_when_they_should() {
    let after = fs::read_to_string(src("units/initoverlayfs-after-boot.service")).unwrap();
    assert!(after.contains("ExecStart=/usr/bin/initoverlayfs-install --after-boot\n"));
    let bless = fs::read_to_string(src("units/initoverlayfs-bless.service")).unwrap();
    assert!(bless.contains("ExecStart=/usr/bin/initoverlayfs-install --bless\n"));
    // Blessing waits for, and pulls in, boot-complete.target (passive: only
    // units that require it make it part of the boot).
    assert!(bless.contains("Requires=boot-complete.target\n"));
    assert!(bless.contains("After=local-fs.target boot-complete.target"));
    for u in [&after, &bless] {
        assert!(u.contains("ConditionPathExists=/etc/initoverlayfs.conf\n"));
        assert!(u.contains("ConditionPathExists=!/etc/initrd-release\n"));
        assert!(
            !u.contains("[Install]"),
            "pulled in by the generator, never enabled"
        );
    }
}

fn generate(etc: &[&str]) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    for f in etc {
        fs::write(root.path().join("etc").join(f), "").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(src("systemd/initoverlayfs-generator"))
        .arg(out.path())
        .arg(out.path())
        .arg(out.path())
        .env("INITOVERLAYFS_GENERATOR_ROOT", root.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wants = out.path().join("basic.target.wants");
    let Ok(rd) = fs::read_dir(&wants) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| {
            let e = e.unwrap();
            let to = fs::read_link(e.path()).unwrap();
            format!("{} -> {}", e.file_name().to_string_lossy(), to.display())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn generator_pulls_the_units_in_only_when_enabled_and_not_in_an_initrd() {
    assert_eq!(
        generate(&["initoverlayfs.conf"]),
        vec![
            "initoverlayfs-after-boot.service -> /usr/lib/systemd/system/initoverlayfs-after-boot.service",
            "initoverlayfs-bless.service -> /usr/lib/systemd/system/initoverlayfs-bless.service",
        ]
    );
    assert!(generate(&[]).is_empty(), "not enabled");
    assert!(
        generate(&["initoverlayfs.conf", "initrd-release"]).is_empty(),
        "in an initrd"
    );
    let o = Command::new(src("systemd/initoverlayfs-generator"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
