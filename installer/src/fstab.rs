//! fstab(5) parser: `&str` → entries, with the line number of each entry,
//! reading every line the way libmount does (`mnt_parse_table_line()` in
//! util-linux libmount/src/tab_parse.c, which mount(8), findmnt and
//! systemd-fstab-generator use):
//!
//! - blank lines and lines whose first non-blank is `#` are comments;
//! - fields are separated by spaces and tabs; a trailing `\r` is dropped;
//! - source, target and type are required, options default to `defaults`;
//! - `freq` and `passno`, when present, must be decimal numbers (`strtol`
//!   followed by a blank or the end); anything after the sixth field is
//!   ignored (a trailing `# comment` there is fine);
//! - octal escapes (`\040` for a space) are decoded.
//!
//! A line libmount cannot parse (fewer than three fields, a `freq`/`passno`
//! that is not a number, e.g. `# comment` right after the options) is
//! skipped — by libmount too, so the system never mounts it — and reported
//! in [`Fstab::skipped`]; it never fails the whole file.

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

/// A line of an fstab that libmount would skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why libmount cannot parse it.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {:?}: {}; ignored, as mount(8) ignores it",
            self.line, self.text, self.reason
        )
    }
}

/// A parsed fstab.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fstab {
    /// The lines read, in file order.
    pub entries: Vec<FstabEntry>,
    /// The lines skipped, in file order.
    pub skipped: Vec<Skipped>,
}

/// Whether `field` is what libmount's `next_s32()` accepts: `strtol()` base
/// 10 consuming the whole field (optional sign, at least one digit).
fn is_number(field: &str) -> bool {
    let digits = field.strip_prefix(['+', '-']).unwrap_or(field);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Parses the text of an fstab; never fails (see the module docs).
pub fn parse(text: &str) -> Fstab {
    let mut out = Fstab::default();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        let content = content.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content
            .split([' ', '\t'])
            .filter(|f| !f.is_empty())
            .collect();
        let skip = |reason: String| Skipped {
            line,
            text: raw.to_string(),
            reason,
        };
        if fields.len() < 3 {
            out.skipped.push(skip(format!(
                "{} field(s); source, mount point and type are required",
                fields.len()
            )));
            continue;
        }
        if let Some((name, f)) = [(4, "freq"), (5, "passno")]
            .into_iter()
            .find_map(|(i, name)| fields.get(i).filter(|f| !is_number(f)).map(|f| (name, f)))
        {
            out.skipped
                .push(skip(format!("{name} {f:?} is not a number")));
            continue;
        }
        let options = fields
            .get(3)
            .copied()
            .unwrap_or("defaults")
            .split(',')
            .filter(|o| !o.is_empty())
            .map(unescape)
            .collect();
        out.entries.push(FstabEntry {
            spec: unescape(fields[0]),
            file: unescape(fields[1]),
            vfstype: unescape(fields[2]),
            options,
            line,
        });
    }
    out
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
        let parsed = parse(EXOTIC);
        assert_eq!(parsed.skipped, vec![]);
        let e = parsed.entries;
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
        let e = parse("/dev/a / ext4 defaults 0 1\n/dev/b / xfs defaults 0 1\n").entries;
        assert_eq!(find(&e, "/").unwrap().spec, "/dev/b");
        assert_eq!(find(&e, "/").unwrap().line, 2);
    }

    #[test]
    fn text_after_the_sixth_field_is_ignored() {
        let f = parse(
            "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee /boot ext4 defaults 1 2   # boot partition\n",
        );
        assert_eq!(f.skipped, vec![]);
        let boot = find(&f.entries, "/boot").unwrap();
        assert_eq!(boot.spec, "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
        assert_eq!(boot.vfstype, "ext4");
        assert_eq!(boot.options, vec!["defaults".to_string()]);
        // and signs, CRLF line ends, many fields
        let f = parse("/dev/a / ext4 defaults -1 +2 x y z\r\n");
        assert_eq!((f.entries.len(), f.skipped.len()), (1, 0));
        assert_eq!(f.entries[0].vfstype, "ext4");
    }

    #[test]
    fn lines_libmount_cannot_parse_are_skipped_with_the_reason() {
        let text = "# c\n\nUUID=x /boot\n/dev/a / ext4 defaults x 1\n\
                    /dev/b /home ext4 defaults 0 2x\n\
                    UUID=c /srv xfs defaults # a comment after the options\n\
                    UUID=r / btrfs subvol=root 0 0\n";
        let f = parse(text);
        let got: Vec<(usize, &str)> = f
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "2 field(s); source, mount point and type are required"),
                (4, "freq \"x\" is not a number"),
                (5, "passno \"2x\" is not a number"),
                (6, "freq \"#\" is not a number"),
            ]
        );
        assert_eq!(f.entries.len(), 1);
        assert_eq!(find(&f.entries, "/").unwrap().line, 7);
        assert_eq!(
            f.skipped[0].to_string(),
            "line 3: \"UUID=x /boot\": 2 field(s); source, mount point and type are required; ignored, as mount(8) ignores it"
        );
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"a\011b"), "a\tb");
        assert_eq!(unescape(r"back\\slash"), r"back\\slash");
        assert_eq!(unescape(r"end\04"), r"end\04");
    }
}
