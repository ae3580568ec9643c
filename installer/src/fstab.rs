//! fstab(5) parser: `&str` → entries, with the line number of each entry.
//!
//! Handles comments, blank lines, tabs or spaces between fields, octal
//! escapes (`\040` for a space), missing `freq`/`passno` fields (they default
//! to 0, as libmount does), `x-systemd.*` options, swap and bind lines.

use anyhow::{bail, Context, Result};

/// One non-comment line of an fstab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// First field: `UUID=…`, `LABEL=…`, `PARTUUID=…`, `PARTLABEL=…`, a
    /// `/dev` path, `server:/path`, a bind source, `tmpfs`, … (unescaped).
    pub spec: String,
    /// Second field: the mount point (`none`/`swap` for swap), unescaped.
    pub file: String,
    /// Third field: the filesystem type (`ext4`, `swap`, `none` for binds, …).
    pub vfstype: String,
    /// Fourth field split at commas (`defaults` when the field is absent).
    pub options: Vec<String>,
    /// 1-based line number in the file.
    pub line: usize,
}

impl FstabEntry {
    /// The value of option `key=value`, if present (last one wins).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// Whether the option `name` (without a value) is present.
    pub fn has_flag(&self, name: &str) -> bool {
        self.options.iter().any(|o| o == name)
    }

    /// Whether this line is swap, a bind mount or otherwise not a real
    /// filesystem mount of its own.
    pub fn is_swap_or_bind(&self) -> bool {
        self.vfstype == "swap"
            || self.file == "none"
            || self.file == "swap"
            || self.has_flag("bind")
            || self.has_flag("rbind")
    }
}

/// Decodes fstab/mountinfo octal escapes (`\040` → space, `\011` → tab, …).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of an fstab. Errors name the line: fewer than 3 fields,
/// more than 6, or a non-numeric `freq`/`passno`.
pub fn parse(text: &str) -> Result<Vec<FstabEntry>> {
    let mut entries = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.len() < 3 {
            bail!("line {line}: {raw:?} has {} field(s), expected at least 3 (spec, mount point, type)", fields.len());
        }
        if fields.len() > 6 {
            bail!(
                "line {line}: {raw:?} has {} fields, expected at most 6",
                fields.len()
            );
        }
        for (i, name) in [(4, "freq"), (5, "passno")] {
            if let Some(f) = fields.get(i) {
                f.parse::<u32>()
                    .with_context(|| format!("line {line}: {name} {f:?} is not a number"))?;
            }
        }
        let options = fields
            .get(3)
            .copied()
            .unwrap_or("defaults")
            .split(',')
            .filter(|o| !o.is_empty())
            .map(unescape)
            .collect();
        entries.push(FstabEntry {
            spec: unescape(fields[0]),
            file: unescape(fields[1]),
            vfstype: fields[2].to_string(),
            options,
            line,
        });
    }
    Ok(entries)
}

/// The entry mounting `mount_point` (the last such line, as mount(8) would
/// end up with), ignoring swap and bind lines. Trailing slashes are ignored.
pub fn find<'a>(entries: &'a [FstabEntry], mount_point: &str) -> Option<&'a FstabEntry> {
    let want = normalize(mount_point);
    entries
        .iter()
        .rev()
        .find(|e| !e.is_swap_or_bind() && normalize(&e.file) == want)
}

fn normalize(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXOTIC: &str = include_str!("../tests/fixtures/fstab/exotic.fstab");

    #[test]
    fn parses_exotic_fstab() {
        let e = parse(EXOTIC).unwrap();
        let root = find(&e, "/").unwrap();
        assert_eq!(root.spec, "UUID=2b1f7a3c-0c5e-4d43-9a0e-5b3c1f0e9d11");
        assert_eq!(root.vfstype, "btrfs");
        assert_eq!(root.option("subvol"), Some("root"));
        let boot = find(&e, "/boot/").unwrap();
        assert_eq!(boot.spec, "LABEL=my boot");
        assert_eq!(boot.vfstype, "xfs");
        assert!(boot
            .options
            .iter()
            .any(|o| o == "x-systemd.device-timeout=0"));
        assert_eq!(boot.options.len(), 2);
        let esp = find(&e, "/boot/efi").unwrap();
        assert_eq!(esp.spec, "PARTLABEL=EFI System");
        assert_eq!(esp.options, vec!["defaults".to_string()]);
        // swap and bind lines are not mounts of their own
        assert!(find(&e, "none").is_none());
        assert!(find(&e, "/srv/data").is_none());
        assert!(e.iter().any(|x| x.vfstype == "swap"));
    }

    #[test]
    fn later_lines_win() {
        let e = parse("/dev/a / ext4 defaults 0 1\n/dev/b / xfs defaults 0 1\n").unwrap();
        assert_eq!(find(&e, "/").unwrap().spec, "/dev/b");
        assert_eq!(find(&e, "/").unwrap().line, 2);
    }

    #[test]
    fn errors_name_the_line() {
        let err = format!("{:#}", parse("# c\n\nUUID=x /boot\n").unwrap_err());
        assert!(err.contains("line 3"), "{err}");
        let err = format!("{:#}", parse("/dev/a / ext4 defaults x 1\n").unwrap_err());
        assert!(err.contains("line 1: freq \"x\""), "{err}");
        let err = format!("{:#}", parse("a b c d 0 0 extra\n").unwrap_err());
        assert!(err.contains("at most 6"), "{err}");
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"a\011b"), "a\tb");
        assert_eq!(unescape(r"back\\slash"), r"back\\slash");
        assert_eq!(unescape(r"end\04"), r"end\04");
    }
}
