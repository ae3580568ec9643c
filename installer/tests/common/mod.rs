//! Helpers shared by the installer's integration tests: fixture roots copied
//! into temp dirs, a fake `[build]` program writing real cpio archives, the
//! binary runner and tree snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FEDORA_KVER: &str = "6.5.12-300.fc39.x86_64";
pub const FEDORA_MID: &str = "4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e";

/// The fixture root `name` (read-only: copy it before installing).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/roots")
        .join(name)
}

/// The installer binary with the test environment: builds and tool
/// detection on the host (the temp roots have no dracut/mkfs.erofs).
pub fn installer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_initoverlayfs-install"));
    c.env("INITOVERLAYFS_INSTALL_TEST_NO_CHROOT", "1");
    for k in [
        "KERNEL_INSTALL_BOOT_ROOT",
        "KERNEL_INSTALL_ENTRY_TOKEN",
        "KERNEL_INSTALL_MACHINE_ID",
        "KERNEL_INSTALL_LAYOUT",
        "INITOVERLAYFS_INSTALL_CRASH_AT",
    ] {
        c.env_remove(k);
    }
    c
}

/// Runs the installer with `args` (`--root root` prepended).
pub fn run(root: &Path, args: &[&str]) -> Output {
    let mut c = installer();
    c.arg("--root").arg(root).args(args);
    c.output().expect("cannot run initoverlayfs-install")
}

/// Text of an Output for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A temp copy of fixture `name`, with `/etc/initoverlayfs.conf` pointing
/// `[build]` at the fake builder. Returns (tempdir guard, root path).
pub fn temp_root(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fixture(name).display()))
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let fake = tmp.path().join("fake-build");
    fs::write(&fake, FAKE_BUILD).unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let conf = format!(
        "[build]\ninitoverlayfs = [\"{0}\", \"full\", \"{{kver}}\", \"{{output}}\"]\ninitrd = [\"{0}\", \"mini\", \"{{kver}}\", \"{{output}}\"]\n",
        fake.display()
    );
    fs::write(root.join("etc/initoverlayfs.conf"), conf).unwrap();
    (tmp, root)
}

/// The fake `[build]` program: writes a real newc cpio holding a small tree
/// (`FAKE_BUILD_BYTES` adds an incompressible blob; `FAKE_BUILD_FAIL` fails
/// like a broken dracut).
pub const FAKE_BUILD: &str = r#"#!/bin/sh
set -eu
kind=$1 kver=$2 out=$3
if [ -n "${FAKE_BUILD_FAIL:-}" ]; then echo "fake dracut: failing on purpose for $kver" >&2; exit 1; fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/usr/lib/modules/$kver" "$d/etc" "$d/usr/bin"
echo "$kind initramfs for $kver" > "$d/etc/initrd-release"
printf '#!/bin/sh\necho %s\n' "$kind" > "$d/init"
chmod 755 "$d/init"
if [ -n "${FAKE_BUILD_BYTES:-}" ]; then head -c "$FAKE_BUILD_BYTES" /dev/urandom > "$d/blob"; fi
(cd "$d" && find . | cpio -o -H newc --quiet) > "$out"
"#;

/// Every regular file under `root` (relative path → content), except the
/// installer's own state under var/lib/initoverlayfs.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel.starts_with("var/lib/initoverlayfs") {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts two snapshots are equal, naming the differing paths.
pub fn assert_same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("missing {k}")),
            Some(w) if w != v => diffs.push(format!("changed {k}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            diffs.push(format!("added {k}"));
        }
    }
    assert!(diffs.is_empty(), "{what}: {diffs:#?}");
}

/// The target's boot is bootable from its default entry for `kver`: the
/// entry exists, its initrd exists, and when that initrd is not the
/// original initramfs, the erofs image it needs is in place.
pub fn assert_bootable(root: &Path, entry: &str, original: &[u8], kver: &str) {
    let e = fs::read_to_string(root.join("boot/loader/entries").join(entry))
        .unwrap_or_else(|err| panic!("default entry {entry} missing: {err}"));
    let initrd = e
        .lines()
        .find_map(|l| l.strip_prefix("initrd "))
        .expect("entry has an initrd line")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let linux = e.lines().find_map(|l| l.strip_prefix("linux ")).unwrap();
    assert!(
        root.join("boot")
            .join(linux.trim_start_matches('/'))
            .is_file(),
        "kernel {linux} missing"
    );
    let data = fs::read(root.join("boot").join(initrd.trim_start_matches('/')))
        .unwrap_or_else(|err| panic!("initrd {initrd} missing: {err}"));
    if data != original {
        assert!(
            data.starts_with(b"070701"),
            "initrd {initrd} is neither the original nor a cpio"
        );
        let img = fs::read(root.join(format!("boot/initoverlayfs-{kver}.img")))
            .expect("mini initramfs in place but no image");
        assert_eq!(
            &img[1024..1028],
            &[0xe2, 0xe1, 0xf5, 0xe0],
            "image is not erofs"
        );
    }
}

/// The fallback entry file name of `TOKEN-KVER.conf`.
pub fn fallback_entry_name(token: &str, kver: &str) -> String {
    format!("{token}-without_initoverlayfs.{kver}.conf")
}

/// The name releases before 0.2 gave it (systemd rejects it).
pub fn legacy_fallback_entry_name(token: &str, kver: &str) -> String {
    format!("{token}-{kver}~without-initoverlayfs.conf")
}

/// The `manifest.json` of every rollback generation of `root`, oldest first.
pub fn manifests(root: &Path) -> Vec<PathBuf> {
    let store = root.join("var/lib/initoverlayfs/rollback");
    let mut v: Vec<(u64, PathBuf)> = fs::read_dir(&store)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let id = p.file_name()?.to_string_lossy().parse::<u64>().ok()?;
            Some((id, p.join("manifest.json")))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Turns what this release left for `TOKEN-KVER.conf` into what an earlier
/// release left: the fallback entry (and its `id` key) under the `~` name,
/// and every generation recording that name.
pub fn make_legacy_fallback(root: &Path, token: &str, kver: &str) {
    let dir = root.join("boot/loader/entries");
    let (new, old) = (
        fallback_entry_name(token, kver),
        legacy_fallback_entry_name(token, kver),
    );
    let text = fs::read_to_string(dir.join(&new)).unwrap();
    let (new_id, old_id) = (new.trim_end_matches(".conf"), old.trim_end_matches(".conf"));
    fs::write(dir.join(&old), text.replace(new_id, old_id)).unwrap();
    fs::remove_file(dir.join(&new)).unwrap();
    for m in manifests(root) {
        let t = fs::read_to_string(&m).unwrap();
        fs::write(&m, t.replace(&new, &old)).unwrap();
    }
}

/// Makes a fixture root boot with systemd-boot instead of GRUB: GRUB's
/// files on the ESP go, systemd-boot's binary comes (what loader detection
/// looks for offline).
pub fn as_systemd_boot(root: &Path) {
    let efi = root.join("boot/efi/EFI");
    for d in [efi.join("fedora"), root.join("boot/grub2")] {
        if d.exists() {
            fs::remove_dir_all(d).unwrap();
        }
    }
    fs::create_dir_all(efi.join("systemd")).unwrap();
    fs::write(efi.join("systemd/systemd-bootx64.efi"), b"MZ not really").unwrap();
}

/// The files of `dir` (names, sorted).
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The one file of entry `id` in `dir` (`ID.conf`, `ID+3.conf`, `ID+1-2.conf`);
/// panics when there is none or more than one (a counted and an uncounted
/// name side by side).
pub fn entry_file(dir: &Path, id: &str) -> String {
    let of_id: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| {
            n.strip_suffix(".conf").is_some_and(|s| {
                s == id
                    || s.strip_prefix(id)
                        .and_then(|r| r.strip_prefix('+'))
                        .is_some_and(|c| {
                            c.split('-')
                                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                        })
            })
        })
        .collect();
    assert_eq!(of_id.len(), 1, "entry {id}: want one file, found {of_id:?}");
    of_id.into_iter().next().unwrap()
}
