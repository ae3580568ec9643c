//! The man pages under man/: they render without warnings, carry the
//! workspace version, and initoverlayfs.conf(5) documents every key of the
//! config contract with its default.

use std::path::{Path, PathBuf};
use std::process::Command;

use initoverlayfs::config::Config;

mod common;
use common::*;

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("man")
}

/// Every page shipped in the packages (see packaging/src/files.rs).
fn pages() -> Vec<PathBuf> {
    initoverlayfs_packaging::files::FILES
        .iter()
        .filter(|f| f.kind == initoverlayfs_packaging::files::Kind::Man)
        .map(|f| {
            let initoverlayfs_packaging::files::Source::Repo(p) = f.source else {
                panic!("{f:?}")
            };
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .join(p)
        })
        .collect()
}

/// `man -l` output as plain text, one long line per paragraph.
fn render(page: &Path) -> String {
    let out = Command::new("man")
        .env("MANWIDTH", "1000")
        .env("LC_ALL", "C.UTF-8")
        .arg("-l")
        .arg(page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn pages_render_without_warnings() {
    if !have("man") || !have("groff") {
        eprintln!("skipping: man or groff missing (bash .ci/install-deps installs man-db)");
        return;
    }
    let pages = pages();
    assert_eq!(pages.len(), 4);
    for page in pages {
        let out = Command::new("man")
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .arg("--warnings")
            .arg("-l")
            .arg(&page)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{}: {stderr}",
            page.display()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NAME") && text.contains("SEE ALSO") || text.contains("OPTIONS"),
            "{}",
            page.display()
        );
        let groff = Command::new("groff")
            .args(["-ww", "-z", "-man"])
            .arg(&page)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&groff.stderr);
        assert!(
            groff.status.success() && stderr.is_empty(),
            "groff {}: {stderr}",
            page.display()
        );
    }
}

#[test]
fn pages_carry_the_workspace_version() {
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let th = text
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{}: no .TH", page.display()));
        assert!(
            th.contains(&format!("initoverlayfs {}", env!("CARGO_PKG_VERSION"))),
            "{}: {th}",
            page.display()
        );
    }
}

/// `(section, key, value)` from a serialized config: the `key = value` lines.
fn keys(toml_text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in toml_text.lines() {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once(" = ") {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[test]
fn conf_page_documents_every_key_and_default() {
    if !have("man") {
        eprintln!("skipping: man missing");
        return;
    }
    let text = render(&man_dir().join("initoverlayfs.conf.5"));
    let flat = normalize(&text);
    let mut full = Config::default();
    full.boot.bootfs = Some("LABEL=boot".into());
    full.boot.bootfs_hint = Some("/dev/vda2".into());
    full.boot.bootfstype = Some("ext4".into());
    full.boot.options = Some("subvol=/@boot".into());
    full.boot.drivers = vec!["virtio_blk".into()];
    full.boot.fallback_entry = Some("m-without_initoverlayfs.{kver}".into());
    full.boot.grubenv = Some("/grub2/grubenv".into());
    full.boot.tries = Some(3);
    let all = keys(&full.to_toml_string().unwrap());
    let defaults = keys(&Config::default().to_toml_string().unwrap());
    assert!(all.len() >= 12, "{all:?}");
    for (section, key, _) in &all {
        // The key is documented under its section's heading.
        let heading = format!("[{section}] SECTION");
        let start = text
            .find(&heading)
            .unwrap_or_else(|| panic!("no {heading:?} in initoverlayfs.conf(5)"));
        let rest = &text[start + heading.len()..];
        let end = rest.find(" SECTION\n").unwrap_or(rest.len());
        let body = &rest[..end];
        assert!(
            body.lines()
                .any(|l| l.trim_start().starts_with(&format!("{key} ("))),
            "initoverlayfs.conf(5) does not document [{section}] {key}"
        );
        match defaults.iter().find(|(s, k, _)| s == section && k == key) {
            Some((_, _, value)) if value.starts_with('[') => {
                assert!(
                    flat.contains(&normalize(value)),
                    "[{section}] {key}: default {value} missing"
                );
            }
            Some((_, _, value)) => {
                assert!(
                    flat.contains(&format!("{key} ("))
                        && flat.contains(&format!("default {value})")),
                    "[{section}] {key}: `default {value}` missing"
                );
            }
            None => assert!(
                flat.contains(&format!("{key} (string, optional)"))
                    || flat.contains(&format!("{key} (array of strings, optional)"))
                    || flat.contains(&format!("{key} (integer, optional)"))
                    || flat.contains(&format!("{key} (string, no default)")),
                "[{section}] {key}: optional key not marked so"
            ),
        }
    }
}

#[test]
fn init_page_documents_every_kernel_command_line_option() {
    // The options the boot program parses, from its module documentation.
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("init/src/cmdline.rs"),
    )
    .unwrap();
    let mut options: Vec<&str> = source
        .match_indices("`rd.initoverlayfs.")
        .map(|(i, _)| {
            let rest = &source[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap();
            &rest[..end]
        })
        .filter(|o| !o.ends_with('.'))
        .collect();
    options.sort();
    options.dedup();
    assert!(options.len() >= 5, "{options:?}");
    let page = std::fs::read_to_string(man_dir().join("initoverlayfs.8")).unwrap();
    for option in options {
        assert!(
            page.contains(&format!(".BR {option}")) || page.contains(&format!(".BI {option}")),
            "initoverlayfs(8) does not document {option}"
        );
    }
}
