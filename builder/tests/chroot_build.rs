//! `build()` on an offline root: the builders and mkfs.erofs run chrooted,
//! with /proc /sys /dev bind-mounted during the build and unmounted after,
//! also when a builder fails. The root is a tiny tree holding copies of
//! sh, find, cpio, mkfs.erofs and fsck.erofs with their libraries (from ldd).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use initoverlayfs::config::Config;
use initoverlayfs_builder::{build, BuildRequest};

/// Copies `bin` and the libraries ldd names into `root` at the same paths.
fn install_with_libs(root: &Path, bin: &str, at: &str) {
    let dest = root.join(at.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(bin, &dest).unwrap();
    let out = Command::new("ldd").arg(bin).output().unwrap();
    for lib in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let d = root.join(lib.trim_start_matches('/'));
        fs::create_dir_all(d.parent().unwrap()).unwrap();
        fs::copy(lib, &d).unwrap();
    }
}

fn which(tool: &str) -> String {
    String::from_utf8(sh(&format!("command -v {tool}")))
        .unwrap()
        .trim()
        .to_string()
}

fn offline_root(tmp: &Path) -> PathBuf {
    let root = tmp.join("root");
    for d in ["proc", "sys", "dev", "var/tmp", "src/etc"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    install_with_libs(&root, &which("sh"), "/bin/sh");
    for tool in ["find", "cpio", "mkfs.erofs", "fsck.erofs"] {
        install_with_libs(&root, &which(tool), &format!("/usr/bin/{tool}"));
    }
    fs::write(root.join("src/etc/hello"), "from the offline root\n").unwrap();
    sh(&format!(
        "find {} -exec touch -h -d @1700000000 {{}} +",
        root.join("src").display()
    ));
    root
}

fn is_mountpoint(p: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_string_lossy();
    info.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(&*p))
}

#[test]
fn build_in_an_offline_root() {
    if !is_root() || !have("mkfs.erofs") || !have("ldd") {
        eprintln!("SKIP: needs root (bind mounts, chroot), mkfs.erofs and ldd");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root(tmp.path());
    let argv = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let mut config = Config::default();
    // Proves /proc is mounted inside the chroot during the build.
    config.build.initoverlayfs = argv(
        "test -e /proc/self/status && test -d /sys/kernel && test -c /dev/null && \
         cd /src && find . | cpio --quiet -o -H newc > {output}",
    );
    config.build.initrd = argv("echo 'mini for {kver}' > {output}");
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let req = BuildRequest {
        config: &config,
        kver: "6.1.0-test",
        root: &root,
        image_out: &out.join("image.erofs"),
        initrd_out: &out.join("initrd.img"),
        verbose: false,
    };
    let report = build(&req).unwrap();
    assert_eq!(
        fs::read_to_string(out.join("initrd.img")).unwrap(),
        "mini for 6.1.0-test\n"
    );
    assert!(report.image_bytes > 0 && report.full_initramfs_bytes > 0);
    for d in ["proc", "sys", "dev"] {
        assert!(!is_mountpoint(&root.join(d)), "/{d} left mounted");
    }
    // The work directory in the root's /var/tmp is gone.
    assert_eq!(fs::read_dir(root.join("var/tmp")).unwrap().count(), 0);

    // An image_out inside the root (its /boot, as the installer asks):
    // mkfs.erofs writes it in place; the same bytes (reproducible), no
    // temporary file left next to it.
    let boot = root.join("boot");
    fs::create_dir_all(&boot).unwrap();
    let in_root = boot.join("initoverlayfs-6.1.0-test.img");
    build(&BuildRequest {
        image_out: &in_root,
        initrd_out: &boot.join("initrd.img"),
        ..req
    })
    .unwrap();
    assert_eq!(
        fs::read(&in_root).unwrap(),
        fs::read(out.join("image.erofs")).unwrap()
    );
    let mut names: Vec<String> = fs::read_dir(&boot)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["initoverlayfs-6.1.0-test.img", "initrd.img"]);

    let mnt = tmp.path().join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let shown = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t erofs -o loop,ro {} {mnt} && sh {} {mnt}",
            out.join("image.erofs").display(),
            describe_script().display(),
            mnt = mnt.display()
        ))
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        describe(&root.join("src"))
    );

    // A failing builder: an error naming it, and the mounts are gone too.
    let mut failing = config.clone();
    failing.build.initrd = argv("echo 'no space left' >&2; exit 3");
    let err = format!(
        "{:#}",
        build(&BuildRequest {
            config: &failing,
            ..req
        })
        .unwrap_err()
    );
    assert!(
        err.contains("[build] initrd") && err.contains("no space left"),
        "{err}"
    );
    for d in ["proc", "sys", "dev"] {
        assert!(
            !is_mountpoint(&root.join(d)),
            "/{d} left mounted after a failure"
        );
    }
    assert_eq!(fs::read_dir(root.join("var/tmp")).unwrap().count(), 0);
}

/// A config whose builders need only sh, find and cpio in the root.
fn tiny_config() -> Config {
    let argv = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let mut config = Config::default();
    config.build.initoverlayfs = argv("cd /src && find . | cpio --quiet -o -H newc > {output}");
    config.build.initrd = argv("echo 'mini for {kver}' > {output}");
    config
}

#[test]
fn var_tmp_symlinks_resolve_inside_the_root() {
    if !is_root() || !have("mkfs.erofs") || !have("ldd") {
        eprintln!("SKIP: needs root (chroot), mkfs.erofs and ldd");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root(tmp.path());
    // A host directory the root's /var/tmp names: absolutely, and by a `..`
    // chain that climbs out of the root when the host follows it.
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let up = "../".repeat(root.components().count() + 2);
    let relative = format!("{up}{}", outside.strip_prefix("/").unwrap().display());
    let config = tiny_config();
    for link in [outside.display().to_string(), relative] {
        fs::remove_dir_all(root.join("var/tmp")).ok();
        fs::remove_file(root.join("var/tmp")).ok();
        std::os::unix::fs::symlink(&link, root.join("var/tmp")).unwrap();
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        build(&BuildRequest {
            config: &config,
            kver: "6.1.0-test",
            root: &root,
            image_out: &out.join("i.erofs"),
            initrd_out: &out.join("i.img"),
            verbose: false,
        })
        .unwrap_or_else(|e| panic!("var/tmp -> {link}: {e:#}"));
        assert_eq!(
            fs::read_to_string(out.join("i.img")).unwrap(),
            "mini for 6.1.0-test\n"
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "{link}");
        // The chroot's /var/tmp was made inside the root, and emptied after.
        let inside = root.join(outside.strip_prefix("/").unwrap());
        assert_eq!(fs::read_dir(&inside).unwrap().count(), 0, "{link}");
        fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn a_var_tmp_loop_is_refused() {
    if !is_root() || !have("mkfs.erofs") || !have("ldd") {
        eprintln!("SKIP: needs root (chroot), mkfs.erofs and ldd");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root(tmp.path());
    fs::remove_dir(root.join("var/tmp")).unwrap();
    std::os::unix::fs::symlink("/var/tmp", root.join("var/tmp")).unwrap();
    let config = tiny_config();
    let err = build(&BuildRequest {
        config: &config,
        kver: "6.1.0-test",
        root: &root,
        image_out: &tmp.path().join("i.erofs"),
        initrd_out: &tmp.path().join("i.img"),
        verbose: false,
    })
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("/var/tmp (a symlink to \"/var/tmp\") loops"),
        "{err}"
    );
    assert!(!tmp.path().join("i.img").exists());
}
