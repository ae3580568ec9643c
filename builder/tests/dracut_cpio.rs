//! dracut's enhanced cpio (`dracut --enhanced-cpio`, which runs
//! `dracut-cpio --data-align 4096`): name fields padded with NULs, counted
//! in `c_namesize`, so file data starts on 4096-byte boundaries. `list`,
//! `extract` and the erofs image see the files of the packed trees, byte
//! for byte. The fixture comes from our stand-in writer
//! (`common::dracut_cpio`); when the real `dracut-cpio` is found, its
//! output must be the same bytes, and is read the same way.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::dracut_cpio::{dracut_cpio, Opts};
use common::*;
use initoverlayfs_builder::extract::extract_to_temp;
use initoverlayfs_builder::image::initramfs_to_erofs;
use initoverlayfs_builder::initramfs::Format;
use initoverlayfs_builder::list::list;

const ALIGN: u64 = 4096;

/// `len` bytes that never repeat a 64-byte window across files (so each
/// file's data can be found in the archive) and hold no zero byte.
fn content(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((x >> 16) % 255) as u8 + 1
        })
        .collect()
}

/// Regular files of the main tree: (path, size). Larger than 4096 bytes
/// means aligned by dracut-cpio, unless the padded name field would pass
/// 4096 bytes (the deep one).
fn files() -> Vec<(String, usize)> {
    let deep = (0..12)
        .map(|i| format!("{i:02}{}", "d".repeat(248)))
        .collect::<Vec<_>>()
        .join("/");
    vec![
        ("usr/lib/big".into(), 5000),
        ("usr/lib/huge".into(), 70_000),
        ("usr/lib/page".into(), 4096),
        ("usr/lib/page1".into(), 4097),
        ("usr/bin/small".into(), 5),
        ("usr/bin/a".into(), 6000),
        (format!("usr/{deep}/f"), 5000),
    ]
}

/// The main tree (files, a hard link pair `a`/`b`, a symlink, a fifo) and an
/// early tree (microcode), all mtimes 0 as `--mtime 0` stores them.
fn trees(base: &Path) -> (PathBuf, PathBuf) {
    let src = base.join("main");
    for (i, (path, size)) in files().iter().enumerate() {
        let p = src.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content(i as u32, *size)).unwrap();
    }
    fs::hard_link(src.join("usr/bin/a"), src.join("usr/bin/b")).unwrap();
    std::os::unix::fs::symlink("big", src.join("usr/lib/link")).unwrap();
    fs::create_dir_all(src.join("dev")).unwrap();
    sh(&format!("mkfifo {}", src.join("dev/fifo").display()));
    let early = base.join("early");
    let ucode = early.join("kernel/x86/microcode/GenuineIntel.bin");
    fs::create_dir_all(ucode.parent().unwrap()).unwrap();
    fs::write(&ucode, content(99, 5000)).unwrap();
    for t in [&src, &early] {
        sh(&format!("find {} -exec touch -h -d @0 {{}} +", t.display()));
    }
    (src, early)
}

/// Early archive, then the main one appended, as dracut writes them
/// uncompressed (`--no-compress`).
fn generated(src: &Path, early: &Path) -> Vec<u8> {
    let opts = Opts {
        align: ALIGN,
        initial_off: 0,
        owner: Some((0, 0)),
    };
    let mut img = dracut_cpio(early, opts);
    let main = dracut_cpio(
        src,
        Opts {
            initial_off: img.len() as u64,
            ..opts
        },
    );
    img.extend_from_slice(&main);
    img
}

/// The describe-tree lines of both trees together (no path is in both).
fn expected(src: &Path, early: &Path) -> String {
    let mut lines: Vec<String> = describe(src)
        .lines()
        .chain(describe(early).lines())
        .map(str::to_string)
        .collect();
    // describe-tree sorts by path (LC_ALL=C), not by whole line.
    lines.sort_by(|a, b| a.split('|').next().cmp(&b.split('|').next()));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Checks what list, extract and (where it can be mounted) the erofs image
/// of `img` show against the packed trees.
fn reads_like_the_trees(img: &[u8], src: &Path, early: &Path, tmp: &Path) {
    let expect = expected(src, early);

    let l = list(img).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.segments.len(), 1, "{:?}", l.segments);
    assert_eq!(l.segments[0].format, Format::Cpio);
    assert_eq!(l.segments[0].archives, 2);
    let mut listed: Vec<String> = l
        .entries
        .iter()
        .filter(|e| e.name != ".")
        .map(|e| format!("./{}", e.name))
        .collect();
    listed.sort();
    let mut want: Vec<String> = all_paths(src)
        .into_iter()
        .chain(all_paths(early))
        .filter(|p| p != ".")
        .collect();
    want.sort();
    assert_eq!(listed, want);
    let big = l.entries.iter().find(|e| e.name == "usr/lib/big").unwrap();
    assert_eq!(big.size, 5000);
    let link = l.entries.iter().find(|e| e.name == "usr/lib/link").unwrap();
    assert_eq!(link.target.as_deref(), Some("big"));

    let ex = extract_to_temp(img, tmp).unwrap();
    assert!(ex.stats.warnings.is_empty(), "{:?}", ex.stats.warnings);
    assert_eq!(ex.stats.hardlinks, 1);
    assert_eq!(describe(&ex.tree), expect);

    let file = tmp.join("padded.img");
    fs::write(&file, img).unwrap();
    if !have("mkfs.erofs") {
        eprintln!("SKIP erofs: mkfs.erofs missing");
        return;
    }
    let image = tmp.join("padded.erofs");
    let (_, made) = initramfs_to_erofs(&file, &image, &"lz4hc".parse().unwrap()).unwrap();
    assert!(made.warnings.is_empty(), "{:?}", made.warnings);
    match erofs_mount_unavailable() {
        Some(why) => eprintln!("SKIP erofs mount: {why}"),
        None => assert_eq!(describe_erofs(&image, &tmp.join("mnt")), expect),
    }
}

#[test]
fn padded_names_read_like_the_packed_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, early) = trees(tmp.path());
    let img = generated(&src, &early);

    // The fixture is what dracut-cpio makes: data of files larger than
    // 4096 bytes starts on a multiple of 4096, after a padded name field,
    // unless the padded field would pass 4096 bytes (the deep name).
    let entries = raw_entries(&img);
    let entry = |name: &str| {
        entries
            .iter()
            .find(|e| e.0 == name)
            .unwrap_or_else(|| panic!("{name} not in the archive"))
    };
    let ucode = "kernel/x86/microcode/GenuineIntel.bin";
    let mut data = vec![(ucode.to_string(), content(99, 5000))];
    for (i, (path, size)) in files().iter().enumerate() {
        data.push((path.clone(), content(i as u32, *size)));
    }
    let mut padded = 0;
    for (path, bytes) in &data {
        // The hard link pair's data goes with its last name.
        let carrier = if path == "usr/bin/a" {
            "usr/bin/b"
        } else {
            path
        };
        let (_, namesize, at, size) = entry(carrier).clone();
        assert_eq!(&img[at..at + size], &bytes[..], "{path}");
        let fits = (bytes.len() as u64) > ALIGN && !path.contains("dddd");
        assert_eq!(namesize > carrier.len() + 1, fits, "{path}");
        assert_eq!(at as u64 & (ALIGN - 1) == 0, fits, "{path} at {at}");
        padded += usize::from(fits);
    }
    assert_eq!(padded, 5);
    // The held-back first name of the hard link pair: no data, no padding.
    assert_eq!(entry("usr/bin/a").1, "usr/bin/a".len() + 1);
    assert_eq!(entry("usr/bin/a").3, 0);

    reads_like_the_trees(&img, &src, &early, tmp.path());
}

#[test]
fn real_dracut_cpio_writes_the_same_bytes() {
    let Some(tool) = real_dracut_cpio() else {
        eprintln!(
            "SKIP: no dracut-cpio (set DRACUT_CPIO, or install dracut's enhanced cpio); \
             the generated fixture is tested without it"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (src, early) = trees(tmp.path());
    let out = tmp.path().join("real.img");
    for (dir, first) in [(&early, true), (&src, false)] {
        let mut cmd = Command::new(&tool);
        cmd.args([
            "--null",
            "--owner",
            "0:0",
            "--mtime",
            "0",
            "--data-align",
            "4096",
        ]);
        if first {
            cmd.arg("--truncate-existing");
        }
        let listing = sh(&format!(
            "cd '{}' && find . -print0 | LC_ALL=C sort -z",
            dir.display()
        ));
        let mut child = cmd
            .arg(&out)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &listing).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let real = fs::read(&out).unwrap();
    let ours = generated(&src, &early);
    assert_eq!(real.len(), ours.len());
    if let Some(i) = real.iter().zip(&ours).position(|(a, b)| a != b) {
        panic!(
            "dracut-cpio and the stand-in differ at byte {i}: {:?} vs {:?}",
            String::from_utf8_lossy(&real[i.saturating_sub(40)..i + 40]),
            String::from_utf8_lossy(&ours[i.saturating_sub(40)..i + 40])
        );
    }
    reads_like_the_trees(&real, &src, &early, tmp.path());
}
