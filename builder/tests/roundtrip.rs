//! Round trip: pack a tree → initramfs → extract → mkfs.erofs → loop-mount
//! (root, in a private mount namespace via `unshare -m`) → compare types,
//! modes, owners, mtimes, device numbers and contents with the packed tree.
//! Also: the same input gives a byte-identical image.

mod common;

use std::fs;

use common::*;
use initoverlayfs_builder::erofs;
use initoverlayfs_builder::image::initramfs_to_erofs;

#[test]
fn extract_erofs_mount_compare() {
    if let Some(why) = erofs_mount_unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = sample_tree(tmp.path());
    let expect = describe(&src);
    let mut img = compress(&pack(&src, "newc"), "zstd -q -c");
    img.extend_from_slice(&[0u8; 16]);
    let file = tmp.path().join("initramfs.img");
    fs::write(&file, &img).unwrap();
    let mkfs = erofs::detect().unwrap();
    for c in mkfs.compressors.iter().take(2) {
        let compression = c.as_str().parse().unwrap();
        let image = tmp.path().join(format!("image-{}.erofs", c.as_str()));
        let (size, made) = initramfs_to_erofs(&file, &image, &compression).unwrap();
        assert!(made.warnings.is_empty(), "{:?}", made.warnings);
        assert_eq!(made.compression, compression);
        assert_eq!(size, fs::metadata(&image).unwrap().len());
        assert_eq!(
            describe_erofs(&image, &tmp.path().join("mnt")),
            expect,
            "compression {}",
            c.as_str()
        );
    }
}

#[test]
fn same_input_gives_identical_image() {
    if !have("mkfs.erofs") {
        eprintln!("SKIP: mkfs.erofs missing");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = sample_tree(tmp.path());
    let file = tmp.path().join("initramfs.img");
    fs::write(&file, compress(&pack(&src, "newc"), "gzip -c")).unwrap();
    let a = tmp.path().join("a.erofs");
    let b = tmp.path().join("b.erofs");
    let c = "lz4hc".parse().unwrap();
    initramfs_to_erofs(&file, &a, &c).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    initramfs_to_erofs(&file, &b, &c).unwrap();
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "images differ"
    );
    // No temporary files left next to the images.
    let left: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn unsupported_compression_is_refused_before_work() {
    if !have("mkfs.erofs") {
        eprintln!("SKIP: mkfs.erofs missing");
        return;
    }
    let mkfs = erofs::detect().unwrap();
    let missing = initoverlayfs::config::Algorithm::ALL
        .into_iter()
        .find(|a| !mkfs.compressors.contains(a));
    let Some(missing) = missing else {
        eprintln!("SKIP: this mkfs.erofs offers every compressor");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("i.img");
    fs::write(&file, newc(&[("f", 0o100644, b"x")])).unwrap();
    let err = initramfs_to_erofs(
        &file,
        &tmp.path().join("x.erofs"),
        &missing.as_str().parse().unwrap(),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot compress with"),
        "{err:#}"
    );
}
