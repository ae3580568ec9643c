//! `--root TREE` stays inside TREE, as a chroot would: the tree's symlinks
//! (absolute ones, and `..` chains that climb out of TREE on the host) are
//! resolved inside it for every read and write of install, `--check` and
//! `--rollback`. Each link points at a sentinel directory outside the tree
//! that holds decoys; its digest must not change, and the tree's own copy
//! of the linked directory (at the same path inside the tree) gets the
//! writes.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_same, installer, run, show, snapshot, temp_root, FEDORA_KVER, FEDORA_MID};
use serde_json::Value;

/// How the tree's link names the sentinel.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// `boot -> /tmp/…/sentinel` (the host path).
    Absolute,
    /// `boot -> ../../../../tmp/…/sentinel`: enough `..` to reach the
    /// host's `/` from the link's directory.
    DotDot,
}

/// blake3 of every name, type, mode, content and link target below `dir`
/// (symlinks not followed).
fn digest(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let mut h = blake3::Hasher::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = Vec::new();
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let body = if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if m.is_dir() {
                stack.push(p.clone());
                b"dir".to_vec()
            } else {
                fs::read(&p).unwrap()
            };
            seen.push((rel, m.permissions().mode(), body));
        }
    }
    seen.sort();
    for (rel, mode, body) in seen {
        h.update(rel.as_bytes());
        h.update(&mode.to_le_bytes());
        h.update(&(body.len() as u64).to_le_bytes());
        h.update(&body);
    }
    h.finalize().to_hex().to_string()
}

/// A fedora tree whose directory `rel` (`boot`, `etc`,
/// `boot/loader/entries`) is replaced by a `how` symlink to a sentinel
/// directory outside the tree. The sentinel holds a decoy copy of the
/// directory (what a string-joining installer would happily write into);
/// the tree's own copy sits at the sentinel's path inside the tree.
/// Returns (guard, tree, sentinel, the tree's copy).
fn relinked(rel: &str, how: Link) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let (tmp, root) = temp_root("fedora");
    let root = root.canonicalize().unwrap();
    let sentinel = tmp
        .path()
        .canonicalize()
        .unwrap()
        .join("sentinel")
        .join(rel.replace('/', "-"));
    let inside = root.join(sentinel.strip_prefix("/").unwrap());
    fs::create_dir_all(inside.parent().unwrap()).unwrap();
    fs::rename(root.join(rel), &inside).unwrap();
    fs::create_dir_all(sentinel.parent().unwrap()).unwrap();
    cp_a(&inside, &sentinel);
    if rel == "etc" {
        // Decoys that would show in what the install writes.
        fs::write(
            sentinel.join("fstab"),
            "UUID=11111111-2222-4333-8444-555555555555 /boot ext4 defaults 1 2\n",
        )
        .unwrap();
        fs::write(sentinel.join("os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    }
    let link = root.join(rel);
    let target = match how {
        Link::Absolute => sentinel.display().to_string(),
        Link::DotDot => {
            let up = "../".repeat(link.parent().unwrap().components().count());
            format!("{up}{}", sentinel.strip_prefix("/").unwrap().display())
        }
    };
    symlink(&target, &link).unwrap();
    // The host follows the link to the sentinel: that is the danger.
    assert_eq!(fs::canonicalize(&link).unwrap(), sentinel, "{how:?}");
    (tmp, root, sentinel, inside)
}

fn cp_a(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn ok(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
}

fn entry_name() -> String {
    format!("{FEDORA_MID}-{FEDORA_KVER}.conf")
}

/// The install's files are in the tree's boot directory `boot` (host path).
fn assert_installed_in(boot: &Path, entries: &Path) {
    let mini = fs::read(boot.join(format!("initramfs-{FEDORA_KVER}.img"))).unwrap();
    assert!(mini.starts_with(b"070701"), "mini initramfs in {boot:?}");
    let img = fs::read(boot.join(format!("initoverlayfs-{FEDORA_KVER}.img"))).unwrap();
    assert_eq!(&img[1024..1028], &[0xe2, 0xe1, 0xf5, 0xe0], "erofs image");
    assert!(boot
        .join(format!("initramfs-{FEDORA_KVER}.img.without-initoverlayfs"))
        .is_file());
    let fallback = fs::read_dir(entries)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains(initoverlayfs_install::entries::FALLBACK_MARK)
        })
        .count();
    assert_eq!(fallback, 1, "fallback entry in {entries:?}");
    assert!(entries.join(entry_name()).is_file());
}

/// Install, then rollback: the sentinel never changes, the tree's copy gets
/// the install and is restored byte for byte by the rollback.
fn install_and_rollback(rel: &str, how: Link) {
    let (_t, root, sentinel, inside) = relinked(rel, how);
    let before = digest(&sentinel);
    let pristine = snapshot(&inside);
    let o = run(&root, &["-y"]);
    ok(&o);
    assert_eq!(
        digest(&sentinel),
        before,
        "{rel} {how:?}: the sentinel changed"
    );
    let (boot, entries) = match rel {
        "boot" => (inside.clone(), inside.join("loader/entries")),
        "boot/loader/entries" => (root.join("boot"), inside.clone()),
        _ => (root.join("boot"), root.join("boot/loader/entries")),
    };
    assert_installed_in(&boot, &entries);
    if rel == "etc" {
        // Written into the tree's /etc, from the tree's fstab.
        let conf = fs::read_to_string(inside.join("initoverlayfs.conf")).unwrap();
        assert!(
            conf.contains("UUID=9e1c5a7d-3b2f-4e8a-b6d4-1f0c2e3d4a5b"),
            "{conf}"
        );
    }
    let o = run(&root, &["--list-rollbacks", "--json"]);
    ok(&o);
    let gens: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(gens.as_array().unwrap().len(), 1, "{gens}");
    assert_eq!(gens[0]["in_effect"], true, "{gens}");

    ok(&run(&root, &["--rollback", "-y"]));
    assert_eq!(
        digest(&sentinel),
        before,
        "{rel} {how:?}: rollback changed the sentinel"
    );
    assert_same(&pristine, &snapshot(&inside), "rollback");
}

#[test]
fn boot_as_an_absolute_symlink() {
    install_and_rollback("boot", Link::Absolute);
}

#[test]
fn boot_as_a_dotdot_chain() {
    install_and_rollback("boot", Link::DotDot);
}

#[test]
fn entries_as_an_absolute_symlink() {
    install_and_rollback("boot/loader/entries", Link::Absolute);
}

#[test]
fn entries_as_a_dotdot_chain() {
    install_and_rollback("boot/loader/entries", Link::DotDot);
}

#[test]
fn etc_as_an_absolute_symlink() {
    install_and_rollback("etc", Link::Absolute);
}

#[test]
fn etc_as_a_dotdot_chain() {
    install_and_rollback("etc", Link::DotDot);
}

/// `--check --json` of `root`: (report, exit code).
fn check(root: &Path) -> (Value, i32) {
    let o = run(root, &["--check", "--json"]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", show(&o)));
    (v, o.status.code().unwrap())
}

/// The detail of check `id`.
fn detail(report: &Value, id: &str) -> String {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {report}"))["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A fedora 40 tree without a kernel config, so that os-release decides
/// the compression guess.
fn fedora40() -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = temp_root("fedora");
    for e in fs::read_dir(root.join("usr/lib/modules")).unwrap() {
        fs::remove_file(e.unwrap().path().join("config")).unwrap();
    }
    fs::write(
        root.join("usr/lib/os-release"),
        "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n",
    )
    .unwrap();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    (tmp, root)
}

#[test]
fn os_release_symlinks_are_read_in_the_tree() {
    // The example: absolute, as image trees have it. The host's own
    // /usr/lib/os-release (debian 12 here) must not show.
    let (_t, root) = fedora40();
    symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
    let (v, _) = check(&root);
    let d = detail(&v, "kernel-config");
    assert!(d.contains("guessed from os-release: fedora 40"), "{d}");
    assert_eq!(v["compression"], "lz4hc", "{v}");

    // Pointing at a sentinel outside the tree that says debian 12.
    for how in [Link::Absolute, Link::DotDot] {
        let (t, root) = fedora40();
        let sentinel = t.path().canonicalize().unwrap().join("sentinel");
        fs::create_dir_all(&sentinel).unwrap();
        fs::write(sentinel.join("os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
        let inside = root.join(sentinel.strip_prefix("/").unwrap());
        fs::create_dir_all(&inside).unwrap();
        fs::copy(root.join("usr/lib/os-release"), inside.join("os-release")).unwrap();
        let target = match how {
            Link::Absolute => sentinel.join("os-release").display().to_string(),
            Link::DotDot => format!(
                "{}{}/os-release",
                "../".repeat(root.join("etc").components().count()),
                sentinel.strip_prefix("/").unwrap().display()
            ),
        };
        symlink(&target, root.join("etc/os-release")).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("etc/os-release")).unwrap(),
            "ID=debian\nVERSION_ID=12\n",
            "the host sees the decoy"
        );
        let before = digest(&sentinel);
        let (v, _) = check(&root);
        let d = detail(&v, "kernel-config");
        assert!(
            d.contains("fedora 40") && !d.contains("debian"),
            "{how:?}: {d}"
        );
        assert_eq!(v["compression"], "lz4hc", "{how:?}: {v}");
        // And the install writes the tree's guess.
        ok(&run(&root, &["-y"]));
        let conf = fs::read_to_string(root.join("etc/initoverlayfs.conf")).unwrap();
        assert!(conf.contains("lz4hc"), "{how:?}: {conf}");
        assert_eq!(digest(&sentinel), before);
    }
}

#[test]
fn a_boot_loop_is_refused_and_nothing_is_written() {
    // The example: inside the tree, /boot -> /boot points at itself.
    let (_t, root) = temp_root("fedora");
    fs::remove_dir_all(root.join("boot")).unwrap();
    symlink("/boot", root.join("boot")).unwrap();
    let pristine = snapshot(&root);
    for args in [&["-y"][..], &["--check"][..], &["--dry-run"][..]] {
        let o = run(&root, args);
        assert_ne!(o.status.code(), Some(0), "{args:?}: {}", show(&o));
        // stderr, or a failing check's detail on stdout.
        let err = show(&o);
        assert!(
            err.contains(&format!(
                "inside the tree {}",
                root.canonicalize().unwrap().display()
            )) && err.contains("/boot (a symlink to \"/boot\") loops"),
            "{args:?}: {}",
            show(&o)
        );
    }
    assert_same(&pristine, &snapshot(&root), "refused install");
    assert!(!root.join("var/lib/initoverlayfs/rollback").exists());

    // A loop through the sentinel's path: on the host the link reaches the
    // sentinel (a real directory), inside the tree it comes back to itself.
    let (_t, root, sentinel, inside) = relinked("boot", Link::Absolute);
    fs::remove_dir_all(&inside).unwrap();
    symlink("/boot", &inside).unwrap();
    let before = digest(&sentinel);
    let o = run(&root, &["-y"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(show(&o).contains("loops"), "{}", show(&o));
    assert_eq!(digest(&sentinel), before);
}

#[test]
fn a_magic_link_out_of_the_tree_is_refused() {
    // procfs mounted in the tree (as during a chrooted build): its
    // /proc/self/root leads to the host's root. Run in a private mount
    // namespace so the mount goes away with it.
    if !rustix::process::geteuid().is_root()
        || Command::new("unshare").arg("--help").output().is_err()
    {
        eprintln!("SKIP: needs root and unshare(1) to mount /proc in the tree");
        return;
    }
    let (_t, root, sentinel, _inside) = relinked("boot", Link::Absolute);
    fs::remove_file(root.join("boot")).unwrap();
    symlink(
        format!("/proc/self/root{}", sentinel.display()),
        root.join("boot"),
    )
    .unwrap();
    fs::create_dir_all(root.join("proc")).unwrap();
    let before = digest(&sentinel);
    let bin = installer().get_program().to_owned();
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t proc proc '{root}/proc' && exec '{bin}' --root '{root}' -y",
            root = root.display(),
            bin = bin.to_string_lossy()
        ))
        .env("INITOVERLAYFS_INSTALL_TEST_NO_CHROOT", "1")
        .env_remove("KERNEL_INSTALL_BOOT_ROOT")
        .env_remove("INITOVERLAYFS_INSTALL_CRASH_AT")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    let err = show(&o);
    assert!(
        err.contains("/proc/self/root") && err.contains("leads out of the tree"),
        "{}",
        show(&o)
    );
    assert_eq!(digest(&sentinel), before);
}

#[test]
fn a_rollback_copy_outside_the_tree_is_not_read() {
    // A manifest whose `copy` climbs out of the generation directory to a
    // decoy on the host (with its size and hash): the rollback must look
    // for it inside the tree, find nothing, and change nothing.
    let (t, root) = temp_root("fedora");
    ok(&run(&root, &["-y"]));
    let installed = snapshot(&root);
    let decoy = t.path().canonicalize().unwrap().join("decoy");
    fs::write(&decoy, b"not the original initramfs").unwrap();
    let gen = root.join("var/lib/initoverlayfs/rollback/1");
    let path = gen.join("manifest.json");
    let mut m: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let up = "../".repeat(gen.canonicalize().unwrap().components().count());
    let copy = format!("{up}{}", decoy.strip_prefix("/").unwrap().display());
    let mut changed = 0;
    for f in m["files"].as_array_mut().unwrap() {
        if f["state"] == "saved" {
            f["copy"] = copy.clone().into();
            f["size"] = 26.into();
            f["blake3"] = blake3::hash(b"not the original initramfs")
                .to_hex()
                .to_string()
                .into();
            changed += 1;
        }
    }
    assert!(changed > 0);
    fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let o = run(&root, &["--rollback", "1", "-y"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is missing"),
        "{}",
        show(&o)
    );
    assert_same(&installed, &snapshot(&root), "refused rollback");
}

#[test]
fn the_rollback_store_follows_its_symlinks_inside_the_tree() {
    let (t, root) = temp_root("fedora");
    let root = root.canonicalize().unwrap();
    let sentinel = t.path().canonicalize().unwrap().join("store");
    fs::create_dir_all(&sentinel).unwrap();
    fs::write(sentinel.join("last-id"), "41\n").unwrap();
    fs::create_dir_all(root.join("var/lib/initoverlayfs")).unwrap();
    symlink(&sentinel, root.join("var/lib/initoverlayfs/rollback")).unwrap();
    let before = digest(&sentinel);
    ok(&run(&root, &["-y"]));
    assert_eq!(digest(&sentinel), before);
    // The store is inside the tree, numbered from there (not from the decoy's 41).
    let inside = root.join(sentinel.strip_prefix("/").unwrap());
    assert!(inside.join("1/manifest.json").is_file());
    ok(&run(&root, &["--rollback", "1", "-y"]));
    assert_eq!(digest(&sentinel), before);
    assert!(!inside.join("1").exists());
}
