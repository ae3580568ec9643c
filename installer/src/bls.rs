//! Boot Loader Specification type #1 entries (`loader/entries/*.conf`):
//! a parser/writer that keeps every line it does not change byte for byte
//! (comments, blank lines, key order, the separator whitespace), so Fedora's
//! `grub_users`, `grub_arg`, `grub_class`, `id` and `$kernelopts`-style
//! values survive a rewrite.

use std::fmt;

use anyhow::{bail, Result};

/// One line of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `key<sep>value`, with the original text kept for unchanged output.
    Pair {
        key: String,
        sep: String,
        value: String,
    },
    /// A comment or blank line, verbatim.
    Other(String),
}

/// A parsed entry. `to_string()` reproduces the input exactly when nothing
/// was changed (a missing final newline is added).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    lines: Vec<Line>,
}

impl Entry {
    /// Parses entry text the way systemd does (`boot_entry_load_type1()` in
    /// src/shared/bootspec.c): a line is a key, whitespace and a value;
    /// comments, blank lines and lines systemd ignores (a first word that is
    /// no key, a key without a value) are kept verbatim and never read.
    ///
    /// Errors: NUL bytes (a binary file, not an entry).
    pub fn parse(text: &str) -> Result<Entry> {
        if text.contains('\0') {
            bail!("contains NUL bytes (not a text file)");
        }
        let mut lines = Vec::new();
        // Split at `\n` only: a stray `\r` stays in its (verbatim) line, so
        // a rewrite reads back the same; `\r\n` ends a key line as systemd's
        // read_line() does.
        for raw in text.split_terminator('\n') {
            let trimmed = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
            let key_end = trimmed
                .find(|c: char| c.is_whitespace())
                .unwrap_or(trimmed.len());
            let key = &trimmed[..key_end];
            let rest = &trimmed[key_end..];
            let value = rest.trim_start();
            let is_key = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if trimmed.starts_with('#') || !is_key || value.trim_end().is_empty() {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            let sep = &rest[..rest.len() - value.len()];
            lines.push(Line::Pair {
                key: key.to_string(),
                sep: sep.into(),
                value: value.trim_end().to_string(),
            });
        }
        Ok(Entry { lines })
    }

    /// The value of the first `key` line.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).into_iter().next()
    }

    /// The values of every `key` line, in order (`initrd` may repeat).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Pair { key: k, value, .. } if k == key => Some(value.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Sets the first `key` line's value in place (keeping its position and
    /// separator), or appends `key value` when there is none.
    pub fn set(&mut self, key: &str, new: &str) {
        for l in &mut self.lines {
            if let Line::Pair { key: k, value, .. } = l {
                if k == key {
                    *value = new.to_string();
                    return;
                }
            }
        }
        self.lines.push(Line::Pair {
            key: key.to_string(),
            sep: " ".into(),
            value: new.to_string(),
        });
    }

    /// Replaces the whitespace-separated token `old` by `new` in every
    /// `key` line; returns how many tokens were replaced.
    pub fn replace_token(&mut self, key: &str, old: &str, new: &str) -> usize {
        let mut n = 0;
        for l in &mut self.lines {
            if let Line::Pair { key: k, value, .. } = l {
                if k == key {
                    let toks: Vec<String> = value
                        .split_whitespace()
                        .map(|t| {
                            if t == old {
                                n += 1;
                                new.to_string()
                            } else {
                                t.to_string()
                            }
                        })
                        .collect();
                    *value = toks.join(" ");
                }
            }
        }
        n
    }

    /// The `initrd` paths (every token of every `initrd` line, in order),
    /// skipping grub variables such as `$tuned_initrd`.
    pub fn initrds(&self) -> Vec<&str> {
        self.get_all("initrd")
            .into_iter()
            .flat_map(str::split_whitespace)
            .filter(|t| !t.starts_with('$'))
            .collect()
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            match l {
                Line::Pair { key, sep, value } => writeln!(f, "{key}{sep}{value}")?,
                Line::Other(s) => writeln!(f, "{s}")?,
            }
        }
        Ok(())
    }
}

/// A boot counter of an entry file name (`+LEFT` or `+LEFT-DONE` right
/// before `.conf`), systemd docs/AUTOMATIC_BOOT_ASSESSMENT.md and the Boot
/// Loader Specification's "Boot counting": systemd-boot decrements `left`
/// and increments `done` each time it boots the entry; at `left == 0` the
/// entry is *bad* and sorts after all others; `systemd-bless-boot` drops
/// the counter once the boot is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Tries left.
    pub left: u32,
    /// Tries done (`0` when the name has only `+LEFT`).
    pub done: u32,
}

impl Counter {
    /// Whether the entry ran out of tries (systemd-boot's "bad" state).
    pub fn bad(&self) -> bool {
        self.left == 0
    }
}

/// Splits an entry file name into its id (without `.conf` and counter) and
/// its boot counter, the way systemd-boot's `boot_entry_parse_tries()`
/// (src/boot/boot.c) reads it: the last `+`, digits, optionally `-` and
/// digits, then `.conf`. Anything else after the last `+` is part of the id.
/// `a+3.conf` → (`a`, 3 left 0 done); `a+1-2.conf` → (`a`, 1 left 2 done);
/// `a.conf` → (`a`, none); `a+x.conf` → (`a+x`, none).
pub fn split_counter(file_name: &str) -> (&str, Option<Counter>) {
    let stem = file_name.strip_suffix(".conf").unwrap_or(file_name);
    let Some((base, counter)) = stem.rsplit_once('+') else {
        return (stem, None);
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (left, done) = match counter.split_once('-') {
        Some((l, d)) if digits(l) && digits(d) => (l, d),
        None if digits(counter) => (counter, "0"),
        _ => return (stem, None),
    };
    match (left.parse::<u32>(), done.parse::<u32>()) {
        (Ok(left), Ok(done)) => (base, Some(Counter { left, done })),
        _ => (stem, None),
    }
}

/// The entry id of a file name: the name without `.conf` and without a
/// boot-counting suffix (`+LEFT` or `+LEFT-DONE`), see [`split_counter`].
pub fn entry_id(file_name: &str) -> &str {
    split_counter(file_name).0
}

/// The file name of entry `id` with a fresh boot counter of `tries`
/// (`ID+3.conf`), or without one when `tries` is 0 (`ID.conf`).
pub fn counted_name(id: &str, tries: u32) -> String {
    match tries {
        0 => format!("{id}.conf"),
        n => format!("{id}+{n}.conf"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA: &str = include_str!("../tests/fixtures/bls/fedora-6.5.6-300.fc39.x86_64.conf");

    #[test]
    fn stray_carriage_returns_read_back_the_same() {
        // Found by the property test: a lone `\r` line became `\r\n`, which
        // read back as an empty line, so a second rewrite changed the file.
        let e = Entry::parse("title T\r\nlinux /vmlinuz\n\r").unwrap();
        assert_eq!(e.get("title"), Some("T"));
        let once = e.to_string();
        assert_eq!(Entry::parse(&once).unwrap().to_string(), once);
    }

    #[test]
    fn fedora_entry_round_trips_byte_identical() {
        let e = Entry::parse(FEDORA).unwrap();
        assert_eq!(e.to_string(), FEDORA);
        assert_eq!(e.get("grub_users"), Some("$grub_users"));
        assert_eq!(e.get("grub_arg"), Some("--unrestricted"));
        assert_eq!(e.get("grub_class"), Some("fedora"));
        assert_eq!(e.get("version"), Some("6.5.6-300.fc39.x86_64"));
        assert_eq!(e.initrds(), vec!["/initramfs-6.5.6-300.fc39.x86_64.img"]);
    }

    #[test]
    fn edits_keep_everything_else() {
        let mut e = Entry::parse(FEDORA).unwrap();
        let n = e.replace_token("initrd", "/initramfs-6.5.6-300.fc39.x86_64.img", "/x.img");
        assert_eq!(n, 1);
        e.set("title", "T (without initoverlayfs)");
        let out = e.to_string();
        let want = FEDORA
            .replace(
                "initrd /initramfs-6.5.6-300.fc39.x86_64.img $tuned_initrd",
                "initrd /x.img $tuned_initrd",
            )
            .replace(
                "title Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Workstation Edition)",
                "title T (without initoverlayfs)",
            );
        assert_eq!(out, want);
    }

    #[test]
    fn repeated_initrd_and_tabs() {
        let e =
            Entry::parse("title\tX\ninitrd\t/intel-ucode.img\ninitrd /a/initrd\n# c\n").unwrap();
        assert_eq!(e.initrds(), vec!["/intel-ucode.img", "/a/initrd"]);
        assert_eq!(
            e.to_string(),
            "title\tX\ninitrd\t/intel-ucode.img\ninitrd /a/initrd\n# c\n"
        );
    }

    #[test]
    fn lines_systemd_ignores_are_kept_but_not_read() {
        let text = "title x\n=oops\nversion\n  weird!key 1\ninitrd /a\n";
        let e = Entry::parse(text).unwrap();
        assert_eq!(e.get("title"), Some("x"));
        // a key without a value is no value (systemd ignores the line)
        assert_eq!(e.get("version"), None);
        assert_eq!(e.initrds(), vec!["/a"]);
        assert_eq!(e.to_string(), text);
        assert!(Entry::parse("a\0b").is_err());
    }

    #[test]
    fn boot_counting_ids() {
        assert_eq!(entry_id("abc-6.1.conf"), "abc-6.1");
        assert_eq!(entry_id("abc-6.1+3.conf"), "abc-6.1");
        assert_eq!(entry_id("abc-6.1+2-1.conf"), "abc-6.1");
        assert_eq!(entry_id("abc-6.1+x.conf"), "abc-6.1+x");
    }

    #[test]
    fn counters_as_systemd_boot_reads_them() {
        let c = |left, done| Some(Counter { left, done });
        // The walkthrough of systemd's AUTOMATIC_BOOT_ASSESSMENT.md.
        for (name, want) in [
            ("4.14.11-300.fc27.x86_64+3.conf", c(3, 0)),
            ("4.14.11-300.fc27.x86_64+2-1.conf", c(2, 1)),
            ("4.14.11-300.fc27.x86_64+1-2.conf", c(1, 2)),
            ("4.14.11-300.fc27.x86_64+0-3.conf", c(0, 3)),
            ("4.14.11-300.fc27.x86_64.conf", None),
        ] {
            assert_eq!(
                split_counter(name),
                ("4.14.11-300.fc27.x86_64", want),
                "{name}"
            );
        }
        assert!(split_counter("a+0-3.conf").1.unwrap().bad());
        assert!(!split_counter("a+1-2.conf").1.unwrap().bad());
        // The last `+` counts; a counter in the middle or a malformed one is
        // part of the id (systemd-boot ignores it).
        assert_eq!(split_counter("a+1-b+2.conf"), ("a+1-b", c(2, 0)));
        for id_only in [
            "a+.conf",
            "a+-1.conf",
            "a+1-.conf",
            "a+1-2-3.conf",
            "a+x.conf",
            "a+99999999999.conf",
        ] {
            let stem = id_only.trim_end_matches(".conf");
            assert_eq!(split_counter(id_only), (stem, None), "{id_only}");
        }
        assert_eq!(counted_name("m-6.1", 3), "m-6.1+3.conf");
        assert_eq!(counted_name("m-6.1", 0), "m-6.1.conf");
        assert_eq!(split_counter(&counted_name("m-6.1", 5)), ("m-6.1", c(5, 0)));
    }
}
