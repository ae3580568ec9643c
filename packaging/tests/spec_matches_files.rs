//! The spec and the Rust file list describe the same packages: the `%files`
//! sections (as rpm expands them) against `files::FILES`, the version
//! against the workspace Cargo.toml.

use std::collections::BTreeSet;

use initoverlayfs_packaging::files::{files_of, owned_dirs, Kind, Source, Subpackage};
use initoverlayfs_packaging::spec::{self, Spec};

mod common;
use common::*;

/// One `%files` line in the spec, mapped to what files.rs says about it.
fn describe_spec_line(l: &spec::FilesLine) -> String {
    let d = |x: &str| l.directives.iter().any(|w| w == x);
    let pkg = l.subpackage.name();
    if d("%license") {
        format!("{pkg} license /usr/share/licenses/{pkg}/{}", l.path)
    } else if d("%doc") {
        format!("{pkg} doc /usr/share/doc/{pkg}/{}", l.path)
    } else if d("%dir") {
        format!("{pkg} dir {}", l.path)
    } else if d("%ghost") && d("%config(noreplace)") {
        format!("{pkg} ghost-config {}", l.path)
    } else if let Some(man) = l.path.strip_suffix('*') {
        format!("{pkg} man {man}")
    } else {
        assert!(l.directives.is_empty(), "unexpected directives {l:?}");
        format!("{pkg} plain {}", l.path)
    }
}

/// The same description from files.rs.
fn describe_rust_list() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in Subpackage::ALL {
        let pkg = sub.name();
        for f in files_of(sub) {
            let kind = match f.kind {
                Kind::License => "license",
                Kind::Doc => "doc",
                Kind::GhostConfigNoreplace => "ghost-config",
                Kind::Man => "man",
                Kind::Plain => "plain",
                Kind::ConfigNoreplace => "config",
            };
            if matches!(f.kind, Kind::License | Kind::Doc) {
                // %license/%doc name the file relative to the source tree.
                let Source::Repo(src) = f.source else {
                    panic!("{f:?}")
                };
                assert!(f.dest.ends_with(&format!("/{pkg}/{src}")), "{f:?}");
            }
            out.insert(format!("{pkg} {kind} {}", f.dest));
        }
        for dir in owned_dirs(sub) {
            // rpmbuild owns %doc/%license directories by itself.
            if !dir.starts_with("/usr/share/doc/") && !dir.starts_with("/usr/share/licenses/") {
                out.insert(format!("{pkg} dir {dir}"));
            }
        }
    }
    out
}

#[test]
fn spec_files_sections_match_the_rust_file_list() {
    if !have("rpmspec") || !have("make") || !have("git") {
        eprintln!("skipping: rpmspec, make or git missing (bash .ci/install-deps installs them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let text = spec::render(workspace(), tmp.path()).unwrap();
    let parsed = spec::rpmspec_parse(&tmp.path().join("initoverlayfs.spec")).unwrap();
    let from_spec: BTreeSet<String> = spec::files_sections(&parsed)
        .unwrap()
        .iter()
        .map(describe_spec_line)
        .collect();
    let from_rust = describe_rust_list();
    let only_spec: Vec<_> = from_spec.difference(&from_rust).collect();
    let only_rust: Vec<_> = from_rust.difference(&from_spec).collect();
    assert!(
        only_spec.is_empty() && only_rust.is_empty(),
        "spec and packaging/src/files.rs disagree\nonly in the spec: {only_spec:#?}\nonly in files.rs: {only_rust:#?}"
    );

    // One version: Cargo.toml's, in the rendered spec.
    let spec = Spec::parse(&text).unwrap();
    // Every package declares the crates it bundles (Fedora's vendoring rule).
    for sub in Subpackage::ALL {
        let provides = &spec.package(sub).provides;
        assert!(
            provides.iter().any(|d| d.name == "bundled(crate(anyhow))"),
            "{sub}: {provides:?}"
        );
        assert!(provides
            .iter()
            .all(|d| d.name.starts_with("bundled(crate(") && d.version.is_some()));
    }
    assert_eq!(spec.version, env!("CARGO_PKG_VERSION"));
    assert!(spec.changelog[0]
        .author
        .ends_with(&format!("- {}-{}", spec.version, spec.release)));
}

#[test]
fn spec_install_section_uses_every_source_file() {
    let template =
        std::fs::read_to_string(workspace().join("packaging/initoverlayfs.spec")).unwrap();
    for sub in Subpackage::ALL {
        for f in files_of(sub) {
            let needle = match f.source {
                Source::Repo(p) if !matches!(f.kind, Kind::License | Kind::Doc) => p.to_string(),
                Source::Binary(b) => format!("target/release/{b}"),
                _ => continue,
            };
            assert!(
                template.contains(&needle),
                "the spec never installs {needle} ({})",
                f.dest
            );
        }
    }
}

#[test]
fn makefile_version_is_the_workspace_version() {
    if !have("make") {
        eprintln!("skipping: make missing");
        return;
    }
    let out = std::process::Command::new("make")
        .args(["-s", "-f"])
        .arg(workspace().join("copr/Makefile"))
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn license_covers_linked_crates() {
    use initoverlayfs_packaging::licenses;
    if !have("make") || !have("git") {
        eprintln!("skipping: make or git missing");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = Spec::parse(&spec::render(workspace(), tmp.path()).unwrap()).unwrap();
    for sub in Subpackage::ALL {
        let mut want =
            licenses::linked_licenses(workspace(), licenses::cargo_package(sub)).unwrap();
        want.insert("MIT".into());
        let got = licenses::conjuncts(&spec.package(sub).license);
        assert_eq!(
            got,
            want,
            "License of {sub} in packaging/initoverlayfs.spec is out of date; use\nLicense:        {}\n(`cargo run -p initoverlayfs-packaging -- licenses`)",
            licenses::expression(&want)
        );
    }
}
