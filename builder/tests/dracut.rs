//! Real dracut builds on the host (`dracut --no-kernel`: this host has no
//! /lib/modules), into temporary files only. Our module is made visible
//! through a private copy of dracut's base directory (`dracutbasedir`, a
//! tree of symlinks plus `modules.d/81initoverlayfs`), so the host's
//! /usr/lib/dracut is not touched.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use initoverlayfs::config::Config;
use initoverlayfs_builder::extract::extract_to_temp;
use initoverlayfs_builder::image::initramfs_to_erofs;
use initoverlayfs_builder::list::{list, Listing};
use initoverlayfs_builder::{build, BuildRequest};

const DRACUT_BASE: &str = "/usr/lib/dracut";

/// A dracut base dir with our module added; `None` (and why) without dracut.
fn dracut_base(tmp: &Path) -> Option<PathBuf> {
    if !have("dracut") || !Path::new(DRACUT_BASE).join("modules.d").is_dir() {
        eprintln!("SKIP: dracut is not installed");
        return None;
    }
    let base = tmp.join("dracut");
    fs::create_dir_all(base.join("modules.d")).unwrap();
    for e in fs::read_dir(DRACUT_BASE).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "modules.d" {
            std::os::unix::fs::symlink(e.path(), base.join(e.file_name())).unwrap();
        }
    }
    for e in fs::read_dir(Path::new(DRACUT_BASE).join("modules.d")).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), base.join("modules.d").join(e.file_name())).unwrap();
    }
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("dracut/81initoverlayfs");
    std::os::unix::fs::symlink(ours, base.join("modules.d/81initoverlayfs")).unwrap();
    Some(base)
}

/// A stand-in for the boot-time binary (the module only installs it).
fn fake_bin(tmp: &Path) -> PathBuf {
    let p = tmp.join("initoverlayfs-bin");
    fs::copy("/bin/true", &p).unwrap();
    p
}

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../init/units")
}

/// `env VARS dracut --no-kernel ARGS… -f OUT` as an argv.
fn dracut_argv(base: &Path, bin: &Path, conf: &Path, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "env".into(),
        format!("dracutbasedir={}", base.display()),
        format!("initoverlayfs_bin={}", bin.display()),
        format!("initoverlayfs_conf={}", conf.display()),
        format!("initoverlayfs_unitdir={}", units_dir().display()),
        format!(
            "initoverlayfs_builder={}",
            env!("CARGO_BIN_EXE_initoverlayfs-builder")
        ),
        "dracut".into(),
        "--quiet".into(),
        "--no-kernel".into(),
        "--no-hostonly".into(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn run_dracut(argv: &[String], out: &Path) -> Listing {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .arg("-f")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "{argv:?}");
    list(fs::File::open(out).unwrap()).unwrap()
}

fn has(l: &Listing, name: &str) -> bool {
    l.entries.iter().any(|e| e.name == name)
}

fn target(l: &Listing, name: &str) -> Option<String> {
    l.entries
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.target.clone())
}

#[test]
fn plain_dracut_excludes_module_and_is_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    let bin = fake_bin(tmp.path());
    let conf = tmp.path().join("absent.conf");
    for (flag, format) in [("--gzip", "gzip"), ("--zstd", "zstd")] {
        let out = tmp.path().join(format!("plain-{format}.img"));
        let l = run_dracut(&dracut_argv(&base, &bin, &conf, &[flag]), &out);
        assert!(
            l.segments.iter().any(|s| s.format.name() == format),
            "{:?}",
            l.segments
        );
        assert!(
            !has(&l, "usr/sbin/initoverlayfs"),
            "module pulled into a plain build"
        );
        assert!(!has(&l, "usr/lib/systemd/system/pre-initoverlayfs.service"));
        assert!(has(&l, "usr/lib/systemd/systemd") || has(&l, "init"));

        let ex = extract_to_temp(fs::File::open(&out).unwrap(), tmp.path()).unwrap();
        assert_eq!(ex.stats.entries as usize, l.entries.len());
        assert!(ex.tree.join("usr/lib/initrd-release").exists());
        let image = tmp.path().join(format!("plain-{format}.erofs"));
        let (size, made) = initramfs_to_erofs(&out, &image, &"lz4hc".parse().unwrap()).unwrap();
        assert!(made.warnings.is_empty(), "{:?}", made.warnings);
        // A real initramfs compresses: lz4hc is kept.
        assert_eq!(made.compression.to_string(), "lz4hc");
        eprintln!(
            "plain dracut {format}: {} bytes, {} entries, erofs lz4hc {size} bytes",
            fs::metadata(&out).unwrap().len(),
            l.entries.len()
        );
    }
}

/// describe-tree lines without the mtime field (`--enhanced-cpio` stores
/// mtime 0, a plain build the real ones).
fn without_mtimes(description: &str) -> Vec<String> {
    description
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('|').collect();
            f[5] = "";
            f.join("|")
        })
        .collect()
}

#[test]
fn enhanced_cpio_build_reads_like_a_plain_one() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    let Some(tool) = real_dracut_cpio() else {
        eprintln!(
            "SKIP: no dracut-cpio for `dracut --enhanced-cpio` (set DRACUT_CPIO); \
             tests/dracut_cpio.rs covers its format with a generated fixture"
        );
        return;
    };
    // dracut runs $dracutbasedir/dracut-cpio.
    let _ = fs::remove_file(base.join("dracut-cpio"));
    std::os::unix::fs::symlink(&tool, base.join("dracut-cpio")).unwrap();
    let bin = fake_bin(tmp.path());
    let conf = tmp.path().join("absent.conf");
    let plain = tmp.path().join("plain.img");
    let enhanced = tmp.path().join("enhanced.img");
    let lp = run_dracut(&dracut_argv(&base, &bin, &conf, &["--no-compress"]), &plain);
    let le = run_dracut(
        &dracut_argv(&base, &bin, &conf, &["--no-compress", "--enhanced-cpio"]),
        &enhanced,
    );
    // dracut-cpio really ran: name fields padded to align file data.
    let img = fs::read(&enhanced).unwrap();
    let padded = raw_entries(&img)
        .iter()
        .filter(|e| e.1 > e.0.len() + 1 && e.2 & 4095 == 0)
        .count();
    assert!(padded > 0, "no padded name in the --enhanced-cpio build");
    assert!(le.warnings.is_empty(), "{:?}", le.warnings);
    let names = |l: &Listing| {
        let mut v: Vec<String> = l.entries.iter().map(|e| e.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&le), names(&lp));
    let ep = extract_to_temp(fs::File::open(&plain).unwrap(), tmp.path()).unwrap();
    let ee = extract_to_temp(fs::File::open(&enhanced).unwrap(), tmp.path()).unwrap();
    assert!(ee.stats.warnings.is_empty(), "{:?}", ee.stats.warnings);
    // build-parameter.txt records the dracut arguments: the one difference.
    let params = "usr/lib/dracut/build-parameter.txt";
    assert!(fs::read_to_string(ee.tree.join(params))
        .unwrap()
        .contains("--enhanced-cpio"));
    let (de, dp) = (
        without_mtimes(&describe(&ee.tree)),
        without_mtimes(&describe(&ep.tree)),
    );
    let (de, dp) = (
        de.iter()
            .filter(|l| !l.contains(params))
            .collect::<Vec<_>>(),
        dp.iter()
            .filter(|l| !l.contains(params))
            .collect::<Vec<_>>(),
    );
    let differ: Vec<_> = de.iter().zip(&dp).filter(|(a, b)| a != b).collect();
    assert!(differ.is_empty() && de.len() == dp.len(), "{differ:#?}");
    eprintln!(
        "dracut --enhanced-cpio: {} entries, {padded} with padded names",
        le.entries.len()
    );
}

#[test]
fn module_builds_systemd_and_pid1_mini_images() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    if !Path::new("/usr/lib/systemd/systemd").exists() || !have("udevadm") {
        eprintln!(
            "SKIP: systemd or udev is not installed (the systemd-mode mini image needs them)"
        );
        return;
    }
    let bin = fake_bin(tmp.path());

    let conf = tmp.path().join("systemd.conf");
    fs::write(
        &conf,
        "[boot]\nbootfstype = \"ext4\"\n[init]\nmode = \"systemd\"\n",
    )
    .unwrap();
    let out = tmp.path().join("mini-systemd.img");
    let l = run_dracut(
        &dracut_argv(&base, &bin, &conf, &["-m", "initoverlayfs"]),
        &out,
    );
    assert!(has(&l, "usr/sbin/initoverlayfs"));
    assert!(has(&l, "etc/initoverlayfs.conf"));
    for d in ["boot", "initrofs", "overlay", "initoverlayfs"] {
        assert!(has(&l, d), "mount point /{d} missing");
    }
    for u in [
        "pre-initoverlayfs.target",
        "pre-initoverlayfs.service",
        "pre-initoverlayfs-switch-root.service",
        "pre-initoverlayfs-failure.service",
    ] {
        assert!(
            has(&l, &format!("usr/lib/systemd/system/{u}")),
            "{u} missing"
        );
    }
    assert_eq!(
        target(&l, "usr/lib/systemd/system/default.target").as_deref(),
        Some("pre-initoverlayfs.target")
    );
    let etc_default = target(&l, "etc/systemd/system/default.target").unwrap_or_default();
    assert!(
        etc_default.ends_with("pre-initoverlayfs.target"),
        "{etc_default}"
    );
    assert!(has(&l, "usr/lib/systemd/system/systemd-udevd.service"));
    assert!(has(&l, "etc/initrd-release"));
    // initrd.target (what systemd starts in an initrd) is only an alias of
    // ours: the distribution's, which pulls in the whole initrd boot, stays out.
    assert_eq!(
        target(&l, "usr/lib/systemd/system/initrd.target").as_deref(),
        Some("pre-initoverlayfs.target")
    );
    let ex = extract_to_temp(fs::File::open(&out).unwrap(), tmp.path()).unwrap();
    assert_eq!(
        fs::read_to_string(ex.tree.join("etc/modules-load.d/initoverlayfs.conf")).unwrap(),
        "loop\nerofs\noverlay\next4\n"
    );

    let conf = tmp.path().join("pid1.conf");
    fs::write(&conf, "[init]\nmode = \"pid1\"\n").unwrap();
    let out = tmp.path().join("mini-pid1.img");
    let l = run_dracut(
        &dracut_argv(&base, &bin, &conf, &["-m", "initoverlayfs"]),
        &out,
    );
    assert_eq!(
        target(&l, "init").as_deref(),
        Some("usr/sbin/initoverlayfs")
    );
    assert!(has(&l, "usr/sbin/initoverlayfs"));
    assert!(
        !has(&l, "usr/lib/systemd/systemd"),
        "pid1 mode must not carry systemd"
    );
    eprintln!(
        "mini initramfs (no kernel modules): systemd {} bytes, pid1 {} bytes",
        fs::metadata(tmp.path().join("mini-systemd.img"))
            .unwrap()
            .len(),
        fs::metadata(&out).unwrap().len()
    );
}

#[test]
fn build_runs_both_argvs_on_the_live_root() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    if !have("mkfs.erofs") || !Path::new("/usr/lib/systemd/systemd").exists() {
        eprintln!("SKIP: mkfs.erofs or systemd missing");
        return;
    }
    let bin = fake_bin(tmp.path());
    let conf = tmp.path().join("c.conf");
    fs::write(&conf, "[init]\nmode = \"systemd\"\n").unwrap();
    let mut config = Config::default();
    // The defaults, with --no-kernel (no /lib/modules here) and our test hooks.
    config.build.initoverlayfs = dracut_argv(
        &base,
        &bin,
        &conf,
        &["--no-compress", "-o", "initoverlayfs", "-f", "{output}"],
    );
    config.build.initrd = dracut_argv(
        &base,
        &bin,
        &conf,
        &["-m", "initoverlayfs", "-f", "{output}"],
    );
    config.image.compression = "lz4hc".parse().unwrap();
    let image_out = tmp.path().join("out/initoverlayfs.img");
    let initrd_out = tmp.path().join("out/initrd.img");
    fs::create_dir_all(tmp.path().join("out")).unwrap();
    let report = build(&BuildRequest {
        config: &config,
        kver: "0.0.0-test",
        root: Path::new("/"),
        image_out: &image_out,
        initrd_out: &initrd_out,
        verbose: false,
    })
    .unwrap();
    assert_eq!(report.image_bytes, fs::metadata(&image_out).unwrap().len());
    assert_eq!(
        report.initrd_bytes,
        fs::metadata(&initrd_out).unwrap().len()
    );
    assert!(report.full_initramfs_bytes > report.image_bytes);
    let mini = list(fs::File::open(&initrd_out).unwrap()).unwrap();
    assert!(has(&mini, "usr/sbin/initoverlayfs"));
    eprintln!("build(): {report:?}");
    // Only the two outputs are left.
    let mut names: Vec<_> = fs::read_dir(tmp.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["initoverlayfs.img", "initrd.img"]);
}

/// A kernel modules directory to build against: `$INITOVERLAYFS_TEST_KMODDIR`
/// (e.g. an unpacked linux-image .deb after `depmod -b`), else the first
/// /lib/modules/KVER with a modules.dep. Returns (kver, dir).
fn kernel_modules() -> Option<(String, PathBuf)> {
    let dir = match std::env::var_os("INITOVERLAYFS_TEST_KMODDIR") {
        Some(d) => PathBuf::from(d),
        None => fs::read_dir("/lib/modules")
            .ok()?
            .map(|e| e.unwrap().path())
            .find(|p| p.join("modules.dep").exists())?,
    };
    let kver = dir.file_name()?.to_string_lossy().into_owned();
    Some((kver, dir))
}

/// Whether `module` (`loop`) is in the listing or built into the kernel.
fn has_module(l: &Listing, kmoddir: &Path, module: &str) -> bool {
    let builtin = fs::read_to_string(kmoddir.join("modules.builtin")).unwrap_or_default();
    let is = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or("");
        let stem = file.split(".ko").next().unwrap_or("");
        file.contains(".ko") && stem.replace('-', "_") == module.replace('-', "_")
    };
    builtin.lines().any(is) || l.entries.iter().any(|e| is(&e.name))
}

#[test]
fn module_installs_storage_and_fs_drivers_for_a_real_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    let Some((kver, kmoddir)) = kernel_modules() else {
        eprintln!("SKIP: no kernel modules on this host (/lib/modules/*/modules.dep); set INITOVERLAYFS_TEST_KMODDIR");
        return;
    };
    let bin = fake_bin(tmp.path());
    let conf = tmp.path().join("pid1.conf");
    fs::write(
        &conf,
        "[boot]\nbootfstype = \"ext4\"\n[init]\nmode = \"pid1\"\n",
    )
    .unwrap();
    let out = tmp.path().join("mini.img");
    let kmod = kmoddir.to_string_lossy().into_owned();
    let argv = dracut_argv(
        &base,
        &bin,
        &conf,
        &["-m", "initoverlayfs", "--kver", &kver, "--kmoddir", &kmod],
    );
    // dracut_argv passes --no-kernel; drop it for this build.
    let argv: Vec<String> = argv.into_iter().filter(|a| a != "--no-kernel").collect();
    let l = run_dracut(&argv, &out);
    for m in [
        "loop",
        "erofs",
        "overlay",
        "ext4",
        "virtio_blk",
        "virtio_scsi",
        "nvme",
        "ahci",
        "sd_mod",
        "usb_storage",
        // for the failure handling's EFI variables (x86-64 kernels have it)
        "efivarfs",
    ] {
        assert!(
            has_module(&l, &kmoddir, m),
            "{m} missing from the mini initramfs"
        );
    }
    for m in ["nvme_tcp", "nvme_rdma", "rbd", "nbd", "iscsi_tcp"] {
        assert!(
            !l.entries
                .iter()
                .any(|e| e.name.contains(&format!("/{m}.ko"))),
            "{m} should not be in the mini initramfs"
        );
    }
    assert!(l.entries.iter().any(|e| e.name.ends_with("/modules.dep")));
    assert_eq!(
        target(&l, "init").as_deref(),
        Some("usr/sbin/initoverlayfs")
    );
    assert!(has(&l, "usr/sbin/modprobe") || has(&l, "sbin/modprobe"));
    let generic = fs::metadata(&out).unwrap().len();
    eprintln!("mini initramfs (pid1, kernel {kver}): {generic} bytes");

    // [boot] drivers names the bootfs disk's drivers: only those go in.
    fs::write(
        &conf,
        "[boot]\nbootfstype = \"ext4\"\ndrivers = [\"virtio_blk\"]\n[init]\nmode = \"pid1\"\n",
    )
    .unwrap();
    let out = tmp.path().join("mini-drivers.img");
    let l = run_dracut(&argv, &out);
    for m in ["loop", "erofs", "overlay", "ext4", "virtio_blk"] {
        assert!(has_module(&l, &kmoddir, m), "{m} missing with drivers set");
    }
    for m in ["ahci", "nvme", "usb_storage", "virtio_scsi", "mpt3sas"] {
        assert!(
            !has_module(&l, &kmoddir, m),
            "{m} should not be in a mini with drivers = [virtio_blk]"
        );
    }
    let narrow = fs::metadata(&out).unwrap().len();
    eprintln!("mini initramfs (pid1, kernel {kver}, drivers = [virtio_blk]): {narrow} bytes");
    assert!(narrow < generic);
}

#[test]
fn missing_binary_fails_the_mini_build() {
    // dracut ignores install()'s status; the module must exit so no
    // unbootable mini initramfs is written.
    let tmp = tempfile::tempdir().unwrap();
    let Some(base) = dracut_base(tmp.path()) else {
        return;
    };
    let conf = tmp.path().join("pid1.conf");
    fs::write(&conf, "[init]\nmode = \"pid1\"\n").unwrap();
    let argv = dracut_argv(
        &base,
        &tmp.path().join("no-such-binary"),
        &conf,
        &["-m", "initoverlayfs"],
    );
    let out = tmp.path().join("mini.img");
    let res = Command::new(&argv[0])
        .args(&argv[1..])
        .arg("-f")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("is missing"));
    assert!(!out.exists());
}
