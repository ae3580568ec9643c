//! The Copr path end to end: `make srpm`, then `rpmbuild --rebuild --nodeps`
//! of that SRPM (release build of the workspace from the vendored crates,
//! offline), and the three binary RPMs it yields hold exactly the files of
//! packaging/src/files.rs with their modes and flags.
//!
//! Ignored by default: it compiles the three binaries in release mode from
//! scratch in rpmbuild's own tree (measured 4 min 36 s to 7 min 10 s on the
//! shared 2-core development machine), which `cargo test --workspace`
//! should not pay on every run. `.ci/run` runs it explicitly:
//! `cargo test -p initoverlayfs-packaging --test rebuild -- --ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs_packaging::files::{self, Subpackage};

mod common;
use common::*;

fn find(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(find(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out
}

#[test]
#[ignore = "release build of the whole workspace inside rpmbuild (minutes); .ci/run runs it"]
fn srpm_rebuilds_into_the_three_packages() {
    for tool in ["make", "git", "rpmbuild", "rpm", "cargo"] {
        if !have(tool) {
            eprintln!("skipping: {tool} missing (bash .ci/install-deps installs it)");
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let srpm_dir = tmp.path().join("srpm");
    let t0 = Instant::now();
    Command::new("make")
        .arg("-s")
        .arg("-f")
        .arg(workspace().join("copr/Makefile"))
        .arg("srpm")
        .arg(format!("outdir={}", srpm_dir.display()))
        .run_get_string()
        .unwrap();
    let srpm = find(&srpm_dir, ".src.rpm").pop().expect("no SRPM");
    eprintln!(
        "make srpm: {:.1} s, {} bytes",
        t0.elapsed().as_secs_f64(),
        std::fs::metadata(&srpm).unwrap().len()
    );

    let top = tmp.path().join("top");
    let t1 = Instant::now();
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("--rebuild")
        .arg("--nodeps")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        // Debian's brp-compress is a bash script started as /bin/sh (dash):
        // run it with bash so man pages get gzipped as on Fedora.
        .arg("--define")
        .arg("__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}")
        .arg(&srpm)
        // Not inherited from `cargo test`: the spec's cargo runs must see only
        // their own vendored configuration.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    cmd.run().unwrap();
    eprintln!("rpmbuild --rebuild: {:.1} s", t1.elapsed().as_secs_f64());

    let rpms: Vec<PathBuf> = find(&top.join("RPMS"), ".rpm")
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            !n.contains("-debuginfo-") && !n.contains("-debugsource-")
        })
        .collect();
    assert_eq!(rpms.len(), 3, "{rpms:?}");
    let version = env!("CARGO_PKG_VERSION");
    for sub in Subpackage::ALL {
        let prefix = format!("{}-{version}-", sub.name());
        let rpm = rpms
            .iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .unwrap_or_else(|| panic!("no {prefix}* in {rpms:?}"));
        eprintln!(
            "{}: {} bytes",
            rpm.display(),
            std::fs::metadata(rpm).unwrap().len()
        );
        let listing = Command::new("rpm")
            .args(["-qp", "--qf", files::LISTING_QUERYFORMAT])
            .arg(rpm)
            .run_get_string()
            .unwrap();
        // Build-id links (flag `a`, artifact) are rpmbuild's own addition.
        let got: BTreeSet<String> = listing
            .lines()
            .filter(|l| !l.contains("/usr/lib/.build-id"))
            .map(str::to_string)
            .collect();
        assert_eq!(got, files::expected_listing(sub), "{}", sub.name());
        let requires = Command::new("rpm")
            .arg("-qpR")
            .arg(rpm)
            .run_get_string()
            .unwrap();
        assert!(
            requires.lines().any(|l| l.trim() == "libc.so.6()(64bit)"),
            "{requires}"
        );
    }

    // rpmlint over everything rpmbuild made: no errors, no unexplained warnings.
    if have("rpmlint") {
        let rc = workspace().join("packaging/rpmlint.toml");
        let lint = Command::new("rpmlint")
            .arg("-c")
            .arg(&rc)
            .arg(&srpm)
            .args(&rpms)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&lint.stdout);
        eprintln!("{text}");
        assert!(
            lint.status.success() && text.contains(" 0 errors, 0 warnings"),
            "rpmlint:\n{text}"
        );
    }
}
