//! `--drivers SPEC` on offline fixture roots: the `[boot] drivers` list is
//! written, kept by later runs without the flag, cleared by `all`, shown in
//! the dry run, the summary and `--check --json`; `auto` is refused offline
//! before anything is touched.

mod common;

use std::fs;

use common::{run, show, snapshot, temp_root};
use initoverlayfs::config::Config;
use serde_json::Value;

fn ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn drivers(root: &std::path::Path) -> Vec<String> {
    Config::load(&root.join("etc/initoverlayfs.conf"))
        .unwrap()
        .boot
        .drivers
}

fn check_json(root: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["--check", "--json"];
    args.extend_from_slice(extra);
    let o = run(root, &args);
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn drivers_check(v: &Value) -> (String, String) {
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "drivers")
        .unwrap_or_else(|| panic!("no drivers check in {v:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["detail"].as_str().unwrap().to_string(),
    )
}

#[test]
fn named_drivers_persist_until_all_clears_them() {
    let (_t, root) = temp_root("fedora");
    let conf = root.join("etc/initoverlayfs.conf");

    // Not named yet: generic.
    let v = check_json(&root, &[]);
    assert_eq!(v["drivers"], Value::Array(vec![]), "{v:#}");
    assert_eq!(drivers_check(&v).0, "pass");

    let out = ok(&run(&root, &["-y", "--drivers", "virtio_blk"]));
    assert!(
        out.contains("mini initramfs drivers: virtio_blk (--drivers)"),
        "{out}"
    );
    assert_eq!(drivers(&root), ["virtio_blk"]);
    assert!(
        fs::read_to_string(&conf)
            .unwrap()
            .contains("drivers = [\"virtio_blk\"]"),
        "{}",
        fs::read_to_string(&conf).unwrap()
    );

    // A run without the flag keeps the file's list (nothing to redo).
    let out = ok(&run(&root, &["-y"]));
    assert!(out.contains("already installed"), "{out}");
    assert_eq!(drivers(&root), ["virtio_blk"]);
    let out = ok(&run(&root, &["-y", "--force"]));
    assert!(
        out.contains("mini initramfs drivers: virtio_blk (from /etc/initoverlayfs.conf)"),
        "{out}"
    );
    assert_eq!(drivers(&root), ["virtio_blk"]);
    let v = check_json(&root, &[]);
    assert_eq!(v["drivers"], serde_json::json!(["virtio_blk"]));
    assert_eq!(
        drivers_check(&v),
        (
            "pass".into(),
            "virtio_blk (from /etc/initoverlayfs.conf)".into()
        )
    );

    // The check and the dry run show another choice without writing it.
    let before = snapshot(&root);
    let v = check_json(&root, &["--drivers", "ahci,sd_mod"]);
    assert_eq!(v["drivers"], serde_json::json!(["ahci", "sd_mod"]));
    let out = ok(&run(&root, &["--dry-run", "--drivers", "ahci,sd_mod"]));
    assert!(
        out.contains("mini initramfs drivers: ahci, sd_mod (--drivers)"),
        "{out}"
    );
    common::assert_same(&before, &snapshot(&root), "check and dry run");

    // A changed list is a change: the install is redone.
    let out = ok(&run(&root, &["-y", "--drivers", "ahci,sd_mod"]));
    assert!(!out.contains("already installed"), "{out}");
    assert_eq!(drivers(&root), ["ahci", "sd_mod"]);

    // `all` clears the list: the key disappears from the file.
    let out = ok(&run(&root, &["-y", "--drivers", "all"]));
    assert!(
        out.contains("mini initramfs drivers: none named: the mini initramfs gets every storage driver (--drivers all)"),
        "{out}"
    );
    assert!(drivers(&root).is_empty());
    assert!(!fs::read_to_string(&conf).unwrap().contains("drivers"));
    assert!(ok(&run(&root, &["-y"])).contains("already installed"));
    assert!(drivers(&root).is_empty());
}

#[test]
fn auto_is_refused_offline_and_changes_nothing() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    for args in [
        &["-y", "--drivers", "auto"][..],
        &["--dry-run", "--drivers", "auto"],
        &["--check", "--drivers", "auto"],
    ] {
        let o = run(&root, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--drivers auto detects the drivers of the running system")
                && err.contains(&root.display().to_string())
                && err.contains("--drivers virtio_blk")
                && err.contains("--drivers all"),
            "{args:?}: {}",
            show(&o)
        );
    }
    common::assert_same(&before, &snapshot(&root), "refused --drivers auto");
    assert!(
        !root.join("var/lib/initoverlayfs").exists(),
        "not even the lock file is created"
    );
}

#[test]
fn bad_module_names_are_usage_errors() {
    let (_t, root) = temp_root("fedora");
    let before = snapshot(&root);
    for bad in ["virtio blk", "ahci,", "../evil", ""] {
        let o = run(&root, &["-y", "--drivers", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("not a kernel module name"), "{bad:?}: {err}");
    }
    common::assert_same(&before, &snapshot(&root), "usage errors");
}
