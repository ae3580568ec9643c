//! Property tests of the initramfs reader and extractor: arbitrary and
//! mutated archives (raw and gzip-compressed) never panic, and extraction
//! never changes anything outside its target, whatever the names, links and
//! sizes the headers claim.
//!
//! 10 000 cases per property by default; `PROPTEST_CASES=1000000 cargo test
//! -p initoverlayfs-builder --test fuzz --release` is the longer run.

mod common;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use common::{all_paths, compress, newc};
use initoverlayfs_builder::extract::extract_to_temp;
use initoverlayfs_builder::list::list;
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    ProptestConfig {
        cases: n,
        // Nothing written into the source tree; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A small archive with what hostile ones are made of: directories, a file,
/// an absolute and a `..` symlink, a file written through a symlink, a hard
/// link and a device node.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        newc(&[
            ("etc", 0o040755, b""),
            ("etc/passwd", 0o100644, b"root:x:0:0\n"),
            ("abs", 0o120777, b"/victim"),
            ("up", 0o120777, b"../../victim"),
            ("up/passwd", 0o100644, b"pwned\n"),
            ("abs/x", 0o100644, b"pwned\n"),
            ("dev", 0o040755, b""),
            ("dev/null", 0o020666, b""),
            ("../escape", 0o100644, b"pwned\n"),
        ])
    })
}

/// [`base`] compressed with gzip.
fn base_gz() -> &'static [u8] {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| compress(base(), "gzip -n -c"))
}

/// `data` with `edits` applied: (position, byte) pairs, each replacing,
/// inserting or deleting one byte (chosen by the byte's low bits).
fn mutate(data: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut b = data.to_vec();
    for &(pos, byte) in edits {
        let i = pos % (b.len() + 1);
        match byte % 3 {
            0 if i < b.len() => b[i] = byte,
            1 => b.insert(i, byte),
            _ if i < b.len() => {
                b.remove(i);
            }
            _ => {}
        }
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)
}

/// Every path below `sandbox` outside `work`, with file contents.
fn outside(sandbox: &Path) -> Vec<String> {
    all_paths(sandbox)
        .into_iter()
        .filter(|p| p != "./work" && !p.starts_with("./work/"))
        .map(|p| match fs::read(sandbox.join(&p)) {
            Ok(d) => format!("{p} {}", String::from_utf8_lossy(&d)),
            Err(_) => p,
        })
        .collect()
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = list(&data[..]);
    }

    #[test]
    fn mutated_archives_list_without_panic(e in edits(), gz in any::<bool>()) {
        let base = if gz { base_gz() } else { base() };
        let _ = list(&mutate(base, &e)[..]);
    }
}

proptest! {
    // Extraction touches the disk: fewer cases by default, same properties.
    #![proptest_config(ProptestConfig { cases: cases().cases / 10, ..cases() })]

    #[test]
    fn extraction_stays_inside_its_target(e in edits()) {
        // On tmpfs when there is one: the extractor syncs what it writes.
        let tmp = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm").unwrap(),
            false => tempfile::tempdir().unwrap(),
        };
        let sandbox = tmp.path();
        fs::create_dir_all(sandbox.join("work")).unwrap();
        fs::create_dir_all(sandbox.join("victim")).unwrap();
        fs::write(sandbox.join("victim/passwd"), "root:x:0:0\n").unwrap();
        let before = outside(sandbox);
        let data = mutate(base(), &e);
        if let Ok(ex) = extract_to_temp(&data[..], &sandbox.join("work")) {
            prop_assert!(ex.tree.starts_with(sandbox.join("work")));
        }
        prop_assert_eq!(outside(sandbox), before);
    }
}
