//! Real initramfs layouts: an early uncompressed cpio followed by a main
//! archive compressed with each tool, zero padding, several concatenated
//! compressed archives, legacy lz4 with incompressible data.

mod common;

use std::fs;

use common::*;
use initoverlayfs_builder::extract::extract_to_temp;
use initoverlayfs_builder::initramfs::Format;
use initoverlayfs_builder::list::list;

/// (tool command, expected format) for every compressor the kernel knows.
const COMPRESSORS: &[(&str, Format)] = &[
    ("gzip -c -9", Format::Gzip),
    ("zstd -q -c -19", Format::Zstd),
    ("xz -c --check=crc32", Format::Xz),
    ("lzma -c", Format::Lzma),
    ("bzip2 -c", Format::Bzip2),
    ("lz4 -q -l -c", Format::Lz4Legacy),
    ("lz4 -q -c", Format::Lz4),
];

/// An early cpio like dracut's: microcode under kernel/x86/microcode.
fn early_cpio(base: &std::path::Path) -> Vec<u8> {
    let e = base.join("early");
    fs::create_dir_all(e.join("kernel/x86/microcode")).unwrap();
    fs::write(
        e.join("kernel/x86/microcode/GenuineIntel.bin"),
        vec![0xa5u8; 5000],
    )
    .unwrap();
    pack(&e, "newc")
}

#[test]
fn early_cpio_then_each_compressor_with_padding() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sample_tree(tmp.path());
    let main = pack(&src, "crc");
    let early = early_cpio(tmp.path());
    let expect = describe(&src);
    for (cmd, format) in COMPRESSORS {
        let mut img = early.clone();
        img.extend_from_slice(&[0u8; 4096]);
        img.extend_from_slice(&compress(&main, cmd));
        img.extend_from_slice(&[0u8; 3]);
        let l = list(&img[..]).unwrap_or_else(|e| panic!("{cmd}: {e:#}"));
        let formats: Vec<Format> = l.segments.iter().map(|s| s.format).collect();
        assert_eq!(formats, vec![Format::Cpio, *format], "{cmd}");
        assert_eq!(l.segments[1].offset as usize, early.len() + 4096, "{cmd}");
        assert!(l
            .entries
            .iter()
            .any(|e| e.name == "kernel/x86/microcode/GenuineIntel.bin"));
        assert!(l
            .entries
            .iter()
            .any(|e| e.name.trim_start_matches("./") == "etc/link"
                && e.target.as_deref() == Some("../usr/bin/tool")));

        let ex = extract_to_temp(&img[..], tmp.path()).unwrap_or_else(|e| panic!("{cmd}: {e:#}"));
        assert_eq!(
            fs::read(ex.tree.join("kernel/x86/microcode/GenuineIntel.bin")).unwrap(),
            vec![0xa5u8; 5000]
        );
        fs::remove_dir_all(ex.tree.join("kernel")).unwrap();
        assert_eq!(describe(&ex.tree), expect, "{cmd}");
    }
}

#[test]
fn several_concatenated_compressed_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    fs::create_dir_all(a.join("etc")).unwrap();
    fs::create_dir_all(b.join("etc")).unwrap();
    fs::write(a.join("etc/one"), "1").unwrap();
    fs::write(a.join("etc/over"), "from a").unwrap();
    fs::write(b.join("etc/two"), "2").unwrap();
    fs::write(b.join("etc/over"), "from b wins").unwrap();
    let mut img = compress(&pack(&a, "newc"), "gzip -c");
    img.extend_from_slice(&compress(&pack(&b, "newc"), "zstd -q -c"));
    img.extend_from_slice(&[0u8; 512]);
    img.extend_from_slice(&compress(&pack(&a, "newc"), "xz -c --check=crc32"));
    // Two archives inside one gzip member (what `cat a.cpio b.cpio | gzip` gives).
    let mut two = pack(&a, "newc");
    two.extend_from_slice(&pack(&b, "newc"));
    img.extend_from_slice(&compress(&two, "gzip -c"));
    let l = list(&img[..]).unwrap();
    let formats: Vec<Format> = l.segments.iter().map(|s| s.format).collect();
    assert_eq!(
        formats,
        vec![Format::Gzip, Format::Zstd, Format::Xz, Format::Gzip]
    );
    assert_eq!(l.segments[3].archives, 2);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(ex.tree.join("etc/one")).unwrap(), "1");
    assert_eq!(fs::read_to_string(ex.tree.join("etc/two")).unwrap(), "2");
    assert_eq!(
        fs::read_to_string(ex.tree.join("etc/over")).unwrap(),
        "from b wins"
    );
}

#[test]
fn legacy_lz4_with_incompressible_blocks_then_another_segment() {
    // 20 MiB of random data: `lz4 -l` writes blocks whose compressed size
    // exceeds 8 MiB, which lz4_flex rejects.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("rnd");
    fs::create_dir_all(&src).unwrap();
    sh(&format!(
        "head -c 20971520 /dev/urandom > {}/blob",
        src.display()
    ));
    let mut img = compress(&pack(&src, "newc"), "lz4 -q -l -c");
    img.extend_from_slice(&compress(
        &newc(&[("after", 0o100644, b"next segment")]),
        "gzip -c",
    ));
    let l = list(&img[..]).unwrap();
    let formats: Vec<Format> = l.segments.iter().map(|s| s.format).collect();
    assert_eq!(formats, vec![Format::Lz4Legacy, Format::Gzip]);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(
        fs::read(ex.tree.join("blob")).unwrap(),
        fs::read(src.join("blob")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(ex.tree.join("after")).unwrap(),
        "next segment"
    );
}

#[test]
fn lzo_is_a_clear_unsupported_error() {
    if !have("lzop") {
        eprintln!("SKIP: lzop not installed");
        return;
    }
    let img = compress(&newc(&[("f", 0o100644, b"x")]), "lzop -c");
    let err = format!("{:#}", list(&img[..]).unwrap_err());
    assert!(
        err.contains("lzo") && err.contains("not supported") && err.contains("byte 0"),
        "{err}"
    );
}

#[test]
fn garbage_and_corrupt_streams_are_errors_with_offsets() {
    let mut img = newc(&[("f", 0o100644, b"x")]);
    let at = img.len();
    img.extend_from_slice(b"garbage!");
    let err = format!("{:#}", list(&img[..]).unwrap_err());
    assert!(err.contains(&format!("unknown data at byte {at}")), "{err}");

    let mut gz = compress(&newc(&[("f", 0o100644, &[1u8; 10000])]), "gzip -c");
    let n = gz.len();
    gz[n / 2] ^= 0xff;
    let err = format!("{:#}", list(&gz[..]).unwrap_err());
    // The decoder thread reports the corruption either while the cpio reader
    // is inside an entry ("byte N of the gzip stream at byte 0") or between
    // entries ("corrupt gzip segment at byte 0"): both name format and offset.
    assert!(
        err.contains("gzip stream at byte 0") || err.contains("corrupt gzip segment at byte 0"),
        "{err}"
    );
}

#[test]
fn longest_names_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let a = "a".repeat(255);
    let ab = format!("{a}/{}", "b".repeat(255));
    let name = format!("{ab}/{}", "c".repeat(255));
    let img = newc(&[
        (a.as_str(), 0o040755, b""),
        (ab.as_str(), 0o040755, b""),
        (name.as_str(), 0o100644, b"deep"),
    ]);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(fs::read_to_string(ex.tree.join(&name)).unwrap(), "deep");
    assert!(ex.stats.warnings.is_empty());
}

#[test]
fn parents_are_not_created() {
    // The kernel creates no parent directories: an entry whose parent no
    // earlier entry made is not unpacked at boot, so not extracted either.
    let tmp = tempfile::tempdir().unwrap();
    let img = newc(&[
        ("usr", 0o040755, b""),
        ("usr/lib/x", 0o100644, b"orphan"),
        ("usr/y", 0o100644, b"kept"),
    ]);
    let ex = extract_to_temp(&img[..], tmp.path()).unwrap();
    assert_eq!(all_paths(&ex.tree), vec![".", "./usr", "./usr/y"]);
    assert_eq!(ex.stats.skipped, 1);
    let w = ex.stats.warnings.lines();
    assert!(
        w.len() == 1 && w[0].contains("usr/lib/x") && w[0].contains("parent"),
        "{w:?}"
    );
    let l = list(&img[..]).unwrap();
    assert_eq!(l.entries.len(), 3, "list shows what the archive holds");
}

#[test]
fn each_compressor_stops_exactly_at_its_stream_end() {
    // compressed(A), padding, compressed(B), an uncompressed cpio: every
    // decoder must hand back the bytes after its own stream.
    let a = newc(&[("a", 0o100644, b"first")]);
    let b = newc(&[("b", 0o100644, &[3u8; 70_000])]);
    let c = newc(&[("c", 0o100644, b"plain")]);
    for (cmd, format) in COMPRESSORS {
        let mut img = compress(&a, cmd);
        img.extend_from_slice(&[0u8; 8]);
        img.extend_from_slice(&compress(&b, cmd));
        // The kernel reads an uncompressed archive only at a multiple of 4.
        let mut misaligned = img.clone();
        if misaligned.len() & 3 == 0 {
            misaligned.push(0);
        }
        let at = misaligned.len();
        misaligned.extend_from_slice(&c);
        let err = format!("{:#}", list(&misaligned[..]).unwrap_err());
        assert!(
            err.contains(&format!("byte {at}")) && err.contains("multiple of 4"),
            "{cmd}: {err}"
        );
        while img.len() & 3 != 0 {
            img.push(0);
        }
        let at = img.len();
        img.extend_from_slice(&c);
        let l = list(&img[..]).unwrap_or_else(|e| panic!("{cmd}: {e:#}"));
        let formats: Vec<Format> = l.segments.iter().map(|s| s.format).collect();
        assert_eq!(formats, vec![*format, *format, Format::Cpio], "{cmd}");
        assert_eq!(l.segments[2].offset as usize, at, "{cmd}");
        let names: Vec<&str> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c"], "{cmd}");
        assert_eq!(l.entries[1].size, 70_000);
    }
}
