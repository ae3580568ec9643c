//! The pure-Rust RPM build, checked with the real rpm tools: `rpm -K`,
//! `rpm -qpl`/file attributes, `rpm -qpR`, an install of all three into a
//! scratch root, and rpmlint.
//!
//! Needs a release build of the three binaries; the test runs
//! `cargo build --release` itself (incremental: fast when it is current).
#![cfg(feature = "rpm-crate")]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs_packaging::files::{self, files_of, Kind, Subpackage};
use initoverlayfs_packaging::{cli, spec};

mod common;
use common::*;

fn rpm_q(rpm: &Path, args: &[&str]) -> String {
    Command::new("rpm")
        .args(args)
        .arg(rpm)
        .run_get_string()
        .unwrap()
}

/// Builds once per test binary run; returns the three packages (main, init, builder).
fn built(out: &Path) -> Vec<PathBuf> {
    cli::rpm(out, true).unwrap()
}

#[test]
fn rpms_built_with_the_rpm_crate_pass_the_rpm_tools() {
    if !have("rpm") {
        eprintln!("skipping: the rpm tool is missing (bash .ci/install-deps installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpms = built(&tmp.path().join("rpms"));
    assert_eq!(rpms.len(), 3);
    let version = env!("CARGO_PKG_VERSION");
    let rendered = spec::render(
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap(),
        &tmp.path().join("spec"),
    )
    .unwrap();
    let spec = spec::Spec::parse(&rendered).unwrap();
    let evr = format!("{version}-{}", spec.release);

    for (sub, rpm) in Subpackage::ALL.into_iter().zip(&rpms) {
        let size = std::fs::metadata(rpm).unwrap().len();
        eprintln!("{}: {size} bytes", rpm.display());

        // Digests (no signature: Copr signs at publish time).
        let k = rpm_q(rpm, &["-K"]);
        assert!(k.contains("digests OK"), "{k}");

        // Name, version, release.
        let nvr = rpm_q(
            rpm,
            &["-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}"],
        );
        assert_eq!(
            nvr,
            format!("{} {evr} {}", sub.name(), std::env::consts::ARCH)
        );

        // Every file and owned directory, with mode, owner and flags.
        let listing = rpm_q(rpm, &["-qp", "--qf", files::LISTING_QUERYFORMAT]);
        let got: BTreeSet<String> = listing.lines().map(str::to_string).collect();
        let want = files::expected_listing(sub);
        assert_eq!(got, want, "{}", sub.name());
        let l = rpm_q(rpm, &["-qpl"]);
        assert_eq!(l.lines().count(), want.len());

        // Dependencies: the spec's, plus the derived library/interpreter ones.
        let requires = rpm_q(rpm, &["-qpR"]);
        let requires: BTreeSet<&str> = requires.lines().map(str::trim).collect();
        let isa = initoverlayfs_packaging::rpms::isa(std::env::consts::ARCH).unwrap();
        for dep in &spec.package(sub).requires {
            let line = dep.display_for(isa);
            assert!(
                requires.contains(line.as_str()),
                "{}: missing {line} in {requires:?}",
                sub.name()
            );
        }
        assert!(requires.contains("libc.so.6()(64bit)"), "{requires:?}");
        assert!(
            requires.iter().any(|r| r.starts_with("libc.so.6(GLIBC_")),
            "{requires:?}"
        );
        assert!(
            requires.iter().any(|r| r.starts_with("rpmlib(")),
            "{requires:?}"
        );
        let provides = rpm_q(rpm, &["-qp", "--provides"]);
        assert!(
            provides.contains(&format!("{} = {evr}", sub.name())),
            "{provides}"
        );
        assert!(
            provides.contains(&format!("{}(x86-64) = {evr}", sub.name()))
                || std::env::consts::ARCH != "x86_64"
        );
        let bundled = &spec.package(sub).provides;
        assert!(
            bundled.iter().any(|d| d.name == "bundled(crate(anyhow))"),
            "{bundled:?}"
        );
        for dep in bundled {
            assert!(
                provides.lines().any(|l| l == dep.display_for(isa)),
                "{} not provided",
                dep.name
            );
        }
        let recommends = rpm_q(rpm, &["-qp", "--recommends"]);
        for dep in &spec.package(sub).recommends {
            assert!(
                recommends.lines().any(|l| l == dep.display_for(isa)),
                "{recommends}"
            );
        }
        match sub {
            Subpackage::Main => {
                assert!(requires.contains(format!("initoverlayfs-init({isa}) = {evr}").as_str()));
                assert!(requires.contains(format!("initoverlayfs-builder({isa}) = {evr}").as_str()));
                assert!(
                    provides.contains(&format!("config(initoverlayfs) = {evr}")),
                    "{provides}"
                );
            }
            Subpackage::Builder => {
                assert!(requires.contains("dracut") && requires.contains("erofs-utils"))
            }
            Subpackage::Init => {}
        }
        // Scripts bring their interpreter.
        if sub != Subpackage::Init {
            assert!(
                requires
                    .iter()
                    .any(|r| r.starts_with('/') && r.ends_with("sh")),
                "{requires:?}"
            );
        }
    }

    // All three into a scratch root: every file with its mode, no ghost.
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut cmd = Command::new("rpm");
    cmd.arg("--root")
        .arg(&root)
        .args(["--nodeps", "-i"])
        .args(&rpms);
    cmd.run().unwrap();
    for sub in Subpackage::ALL {
        for f in files_of(sub) {
            let path = root.join(f.packaged_path().trim_start_matches('/'));
            if f.kind == Kind::GhostConfigNoreplace {
                assert!(!path.exists(), "ghost {} was installed", f.dest);
                continue;
            }
            let meta =
                std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(meta.permissions().mode() & 0o7777, f.mode, "{}", f.dest);
            assert!(meta.len() > 0, "{} is empty", f.dest);
        }
    }
    let qa = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .arg("-qa")
        .run_get_string()
        .unwrap();
    assert_eq!(qa.lines().count(), 3, "{qa}");
    let verify = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-V", "--nodeps", "-a"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "rpm -V: {}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // rpmlint: no errors (warnings are filtered with reasons in packaging/rpmlint.toml).
    if have("rpmlint") {
        let rc = Path::new(env!("CARGO_MANIFEST_DIR")).join("rpmlint.toml");
        let out = Command::new("rpmlint")
            .arg("-c")
            .arg(&rc)
            .arg(tmp.path().join("spec/initoverlayfs.spec"))
            .args(&rpms)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{text}");
        assert!(
            out.status.success() && text.contains(" 0 errors, 0 warnings"),
            "rpmlint:\n{text}"
        );
    } else {
        eprintln!("rpmlint missing: RPMs not linted");
    }
}
