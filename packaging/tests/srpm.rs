//! `make -f copr/Makefile srpm` (Copr's "make srpm" method) on this
//! checkout: the SRPM holds the rendered spec and both tarballs, carries the
//! workspace version, and passes rpmlint. The tarballs are made from git
//! HEAD (what Copr builds), so uncommitted changes are not in them.

use std::process::Command;

use initoverlayfs::cmd::CommandRunExt;

mod common;
use common::*;

#[test]
fn make_srpm_builds_a_complete_source_rpm() {
    for tool in ["make", "git", "rpmbuild", "rpm"] {
        if !have(tool) {
            eprintln!("skipping: {tool} missing (bash .ci/install-deps installs it)");
            return;
        }
    }
    if !workspace().join(".git").exists() {
        eprintln!("skipping: not a git checkout (make srpm archives git HEAD)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    Command::new("make")
        .arg("-s")
        .arg("-f")
        .arg(workspace().join(".copr/Makefile"))
        .arg("srpm")
        .arg(format!("outdir={}", out.path().display()))
        .run_get_string()
        .unwrap();
    let srpms: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".src.rpm"))
        .collect();
    assert_eq!(srpms.len(), 1, "{srpms:?}");
    let srpm = &srpms[0];
    eprintln!(
        "{}: {} bytes",
        srpm.display(),
        std::fs::metadata(srpm).unwrap().len()
    );

    let version = env!("CARGO_PKG_VERSION");
    let q = |args: &[&str]| {
        Command::new("rpm")
            .args(args)
            .arg(srpm)
            .run_get_string()
            .unwrap()
    };
    assert_eq!(
        q(&["-qp", "--qf", "%{NAME} %{VERSION}"]),
        format!("initoverlayfs {version}")
    );
    let files = q(&["-qpl"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            format!("initoverlayfs-{version}-vendor.tar.gz"),
            format!("initoverlayfs-{version}.tar.gz"),
            "initoverlayfs.spec".to_string(),
        ]
    );
    assert!(q(&["-K"]).contains("digests OK"));

    // The source tarball has the crates' sources and unpacks into NAME-VERSION/.
    let tar = Command::new("tar")
        .arg("-tzf")
        .arg(out.path().join(format!("initoverlayfs-{version}.tar.gz")))
        .run_get_string()
        .unwrap();
    for must in [
        "Cargo.lock",
        "packaging/initoverlayfs.spec",
        "man/initoverlayfs.8",
        "init/src/main.rs",
    ] {
        assert!(
            tar.lines()
                .any(|l| l == format!("initoverlayfs-{version}/{must}")),
            "{must} not in the tarball"
        );
    }
    // The vendor tarball has every locked registry crate.
    let vendor = Command::new("tar")
        .arg("-tzf")
        .arg(
            out.path()
                .join(format!("initoverlayfs-{version}-vendor.tar.gz")),
        )
        .run_get_string()
        .unwrap();
    for must in ["vendor/anyhow-", "vendor/clap-", "vendor/toml-"] {
        assert!(
            vendor.lines().any(|l| l.starts_with(must)),
            "{must}* not vendored"
        );
    }

    if have("rpmlint") {
        let rc = workspace().join("packaging/rpmlint.toml");
        let lint = Command::new("rpmlint")
            .arg("-c")
            .arg(&rc)
            .arg(srpm)
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
