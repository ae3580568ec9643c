//! Boot Loader Specification type #1 entries: parsing, sorting and the
//! default choice, as a BLS boot loader does it.
//!
//! Source: UAPI.1 Boot Loader Specification, "Type #1 Boot Loader Entry
//! Keys" and "Sorting"; the comparison follows systemd's
//! `boot_entry_compare()`: entries with `sort-key` first, ordered by
//! sort-key, then machine-id (ascending), then version (descending); the
//! rest, and ties, by file name in descending version order.

use std::cmp::Ordering;

use anyhow::{bail, Context, Result};

/// One entry (`loader/entries/ID.conf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The file name without `.conf` (and without a boot-counting suffix).
    pub id: String,
    /// `title`.
    pub title: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `machine-id`.
    pub machine_id: Option<String>,
    /// `sort-key`.
    pub sort_key: Option<String>,
    /// `linux`: kernel path, relative to the root of the filesystem holding
    /// the entry.
    pub linux: String,
    /// `initrd` lines in order (loaded concatenated).
    pub initrd: Vec<String>,
    /// All `options` lines joined with spaces: the kernel command line.
    pub options: String,
    /// Other keys in order (`grub_users`, `grub_arg`, `grub_class`, …).
    pub other: Vec<(String, String)>,
}

impl Entry {
    /// Total size in bytes of the entry's `initrd` files, found under
    /// `boot` (the host path of the filesystem holding the entry).
    ///
    /// Errors: an initrd file is missing.
    pub fn initrd_bytes(&self, boot: &std::path::Path) -> Result<u64> {
        let mut n = 0;
        for i in &self.initrd {
            let p = boot.join(i.trim_start_matches('/'));
            n += std::fs::metadata(&p)
                .with_context(|| format!("cannot stat the initrd {}", p.display()))?
                .len();
        }
        Ok(n)
    }
}

/// Parses the text of entry file `file_name` (e.g. `abc-6.1.0.conf`).
///
/// Errors: no `linux` key (this loader only boots Linux entries), or a
/// `.conf`-less file name.
pub fn parse_entry(file_name: &str, text: &str) -> Result<Entry> {
    let Some(stem) = file_name.strip_suffix(".conf") else {
        bail!("{file_name:?} is not a .conf entry");
    };
    // Boot counting: NAME+LEFT[-DONE].conf; the id is NAME.
    let id = stem.split_once('+').map_or(stem, |(n, _)| n).to_string();
    let mut e = Entry {
        id,
        ..Entry::default()
    };
    let mut options = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((k, v)) => (k, v.trim().to_string()),
            None => (line, String::new()),
        };
        match key {
            "title" => e.title = Some(value),
            "version" => e.version = Some(value),
            "machine-id" => e.machine_id = Some(value),
            "sort-key" => e.sort_key = Some(value),
            "linux" => e.linux = value,
            "initrd" => e.initrd.push(value),
            "options" => options.push(value),
            _ => e.other.push((key.to_string(), value)),
        }
    }
    e.options = options.join(" ");
    if e.linux.is_empty() {
        bail!("entry {file_name} has no `linux` line");
    }
    Ok(e)
}

/// Compares version strings like systemd's `strverscmp_improved()` (what
/// systemd-boot and `bootctl` sort entries with; src/fundamental/
/// string-util-fundamental.c): `~` sorts before anything (even the end:
/// `1~rc` < `1`), then the end of string, then `-`, `^`, `.`; numeric runs
/// compare as numbers and are newer than alphabetic runs (also where one
/// side has letters: `0` > `a`); characters other than alphanumerics and
/// `~-^.` are skipped.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    fn valid(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"~-^.".contains(&c)
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && !valid(a[i]) {
            i += 1;
        }
        while j < b.len() && !valid(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            let o = (ca != Some(b'~')).cmp(&(cb != Some(b'~')));
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            return a[i.min(a.len())..].cmp(&b[j.min(b.len())..]);
        }
        let mut separator = false;
        for sep in [b'-', b'^', b'.'] {
            if ca == Some(sep) || cb == Some(sep) {
                let o = (ca != Some(sep)).cmp(&(cb != Some(sep)));
                if o != Ordering::Equal {
                    return o;
                }
                i += 1;
                j += 1;
                separator = true;
                break;
            }
        }
        if separator {
            continue;
        }
        let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
        if digit(ca) || digit(cb) {
            let (mut si, mut sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            // A number is newer than letters (`0-rescue` > `without`).
            let o = (si != i).cmp(&(sj != j));
            if o != Ordering::Equal {
                return o;
            }
            while si < i && a[si] == b'0' {
                si += 1;
            }
            while sj < j && b[sj] == b'0' {
                sj += 1;
            }
            let (x, y) = (&a[si..i], &b[sj..j]);
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_alphabetic() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let o = a[si..i].cmp(&b[sj..j]);
            if o != Ordering::Equal {
                return o;
            }
        }
    }
}

/// The BLS order of two entries (`Less` = shown first).
pub fn entry_cmp(a: &Entry, b: &Entry) -> Ordering {
    match (&a.sort_key, &b.sort_key) {
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        (Some(ka), Some(kb)) => {
            let o = ka
                .cmp(kb)
                .then_with(|| a.machine_id.cmp(&b.machine_id))
                .then_with(|| {
                    version_cmp(
                        b.version.as_deref().unwrap_or(""),
                        a.version.as_deref().unwrap_or(""),
                    )
                });
            if o != Ordering::Equal {
                return o;
            }
        }
        (None, None) => {}
    }
    version_cmp(&b.id, &a.id)
}

/// Sorts entries into boot menu order.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(entry_cmp);
}

/// The `default` pattern of a `loader.conf` text, if set.
pub fn loader_conf_default(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("default")?;
        rest.starts_with(|c: char| c.is_ascii_whitespace())
            .then(|| rest.trim().to_string())
    })
}

/// Matches `name` against a glob with `*` and `?`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| m(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && m(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && m(rest, &n[1..]),
        }
    }
    m(pattern.as_bytes(), name.as_bytes())
}

/// The index of the default entry in `sorted` (already in menu order): the
/// first entry whose id (or `ID.conf`) matches `loader.conf`'s `default`
/// glob, else the first entry. `None` if there are no entries.
pub fn default_index(sorted: &[Entry], default_pattern: Option<&str>) -> Option<usize> {
    if sorted.is_empty() {
        return None;
    }
    let matched = default_pattern.and_then(|p| {
        sorted
            .iter()
            .position(|e| glob_match(p, &e.id) || glob_match(p, &format!("{}.conf", e.id)))
    });
    Some(matched.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA_ENTRY: &str = "title Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Workstation Edition)
version 6.5.6-300.fc39.x86_64
linux /vmlinuz-6.5.6-300.fc39.x86_64
initrd /initramfs-6.5.6-300.fc39.x86_64.img
options root=UUID=0f1e rootflags=subvol=root ro rhgb quiet
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
";

    fn entry(id: &str, version: &str, sort_key: Option<&str>) -> Entry {
        Entry {
            id: id.into(),
            version: Some(version.into()),
            sort_key: sort_key.map(Into::into),
            linux: "/vmlinuz".into(),
            ..Entry::default()
        }
    }

    #[test]
    fn parses_fedora_entry() {
        let e = parse_entry("d3ad-6.5.6-300.fc39.x86_64.conf", FEDORA_ENTRY).unwrap();
        assert_eq!(e.id, "d3ad-6.5.6-300.fc39.x86_64");
        assert_eq!(e.linux, "/vmlinuz-6.5.6-300.fc39.x86_64");
        assert_eq!(e.initrd, vec!["/initramfs-6.5.6-300.fc39.x86_64.img"]);
        assert_eq!(
            e.options,
            "root=UUID=0f1e rootflags=subvol=root ro rhgb quiet"
        );
        assert_eq!(e.version.as_deref(), Some("6.5.6-300.fc39.x86_64"));
        assert!(e
            .other
            .contains(&("grub_arg".into(), "--unrestricted".into())));
        assert!(e
            .other
            .contains(&("grub_users".into(), "$grub_users".into())));
    }

    #[test]
    fn boot_counting_suffix_is_not_part_of_the_id() {
        let e = parse_entry("x-1+3-0.conf", "linux /k\n").unwrap();
        assert_eq!(e.id, "x-1");
    }

    #[test]
    fn entry_without_linux_is_rejected() {
        assert!(parse_entry("a.conf", "title A\n").is_err());
        assert!(parse_entry("a.txt", "linux /k\n").is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_cmp("6.10.0", "6.9.1"), Ordering::Greater);
        assert_eq!(version_cmp("a-5", "a-10"), Ordering::Less);
        assert_eq!(version_cmp("1.0", "1.0"), Ordering::Equal);
        // systemd's test-string-util cases.
        assert_eq!(version_cmp("123~rc1", "123"), Ordering::Less);
        assert_eq!(version_cmp("123", "123.1"), Ordering::Less);
        assert_eq!(version_cmp("123-9", "123.1-1"), Ordering::Less);
        assert_eq!(version_cmp("1.0a", "1.0b"), Ordering::Less);
        assert_eq!(version_cmp("1.01", "1.1"), Ordering::Equal);
    }

    #[test]
    fn sorting_follows_the_spec() {
        let mut v = vec![
            entry("m-6.1.0-5", "6.1.0-5", None),
            entry("m-6.1.0-10", "6.1.0-10", None),
            entry("c", "5", Some("xxxx")),
            entry("cx", "10", Some("xxxx")),
            entry("d", "100", Some("kkkk")),
        ];
        sort(&mut v);
        let ids: Vec<_> = v.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["d", "cx", "c", "m-6.1.0-10", "m-6.1.0-5"]);
    }

    #[test]
    fn fallback_entry_sorts_after_its_base() {
        // The installer's fallback entry `TOKEN-without_initoverlayfs.KVER`
        // must not become the default over `TOKEN-KVER`; with sort-key it
        // comes right after it, without after the kernels and the rescue
        // entry (numbers are newer than letters), as bootctl lists them.
        let mut v = vec![
            entry(
                "m-without_initoverlayfs.6.1.0-50-amd64",
                "6.1.0-50-amd64",
                None,
            ),
            entry("m-0-rescue", "0-rescue", None),
            entry("m-6.1.0-49-amd64", "6.1.0-49-amd64", None),
            entry("m-6.1.0-50-amd64", "6.1.0-50-amd64", None),
        ];
        sort(&mut v);
        let ids: Vec<_> = v.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "m-6.1.0-50-amd64",
                "m-6.1.0-49-amd64",
                "m-0-rescue",
                "m-without_initoverlayfs.6.1.0-50-amd64"
            ]
        );
        for e in &mut v {
            e.sort_key = Some("debian".into());
        }
        sort(&mut v);
        let ids: Vec<_> = v.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "m-6.1.0-50-amd64",
                "m-without_initoverlayfs.6.1.0-50-amd64",
                "m-6.1.0-49-amd64",
                "m-0-rescue"
            ]
        );
        assert_eq!(version_cmp("0", "a"), Ordering::Greater);
    }

    #[test]
    fn loader_conf_default_selects() {
        let v = vec![entry("b-2", "2", None), entry("a-1", "1", None)];
        let conf = "timeout 3\ndefault a-*\n";
        assert_eq!(loader_conf_default(conf).as_deref(), Some("a-*"));
        assert_eq!(
            default_index(&v, loader_conf_default(conf).as_deref()),
            Some(1)
        );
        assert_eq!(default_index(&v, Some("nomatch")), Some(0));
        assert_eq!(default_index(&v, None), Some(0));
        assert_eq!(default_index(&[], None), None);
        assert!(glob_match("a?c*.conf", "abcdef.conf"));
    }
}
