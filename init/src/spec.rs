//! Block device specs as written in fstab(5) and on the kernel command line:
//! `UUID=…`, `LABEL=…`, `PARTUUID=…`, `PARTLABEL=…` or a `/dev/…` path.
//!
//! This is the one parser of `[boot] bootfs`: the boot-time program resolves
//! what it returns, and the installer normalizes the fstab's spec through it
//! (its [`fmt::Display`] form is what goes into the config), so both read a
//! spec the same way.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// Which block device a spec names. Values are kept as written, without the
/// one pair of matching quotes a tag value may carry (`UUID="…"` or
/// `UUID='…'`, see [`DeviceSpec::from_str`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// Filesystem UUID (`UUID=`), compared case-insensitively.
    Uuid(String),
    /// Filesystem label (`LABEL=`), compared exactly.
    Label(String),
    /// GPT partition UUID or MBR `SSSSSSSS-PP` id (`PARTUUID=`), case-insensitive.
    PartUuid(String),
    /// GPT partition name (`PARTLABEL=`), compared exactly.
    PartLabel(String),
    /// A device node path such as `/dev/vda2` or `/dev/disk/by-uuid/…`.
    Path(String),
}

impl DeviceSpec {
    /// The `/dev/disk/by-*` symlinks udev may have created for this spec,
    /// most likely first (used in systemd mode, where udev runs). udev names
    /// them by the value blkid reports, which is lower case for most UUIDs
    /// but upper case for vfat's (`7A3B-1C2D`), so a UUID or PARTUUID is
    /// tried as written, then in lower and upper case. Labels are escaped the
    /// way udev escapes them (`/` and whitespace become `\x2f`, `\x20`, …).
    pub fn udev_links(&self) -> Vec<String> {
        let cased = |dir: &str, u: &str| {
            let mut v = Vec::new();
            for c in [
                u.to_string(),
                u.to_ascii_lowercase(),
                u.to_ascii_uppercase(),
            ] {
                let link = format!("/dev/disk/{dir}/{c}");
                if !v.contains(&link) {
                    v.push(link);
                }
            }
            v
        };
        match self {
            DeviceSpec::Uuid(u) => cased("by-uuid", u),
            DeviceSpec::Label(l) => vec![format!("/dev/disk/by-label/{}", udev_escape(l))],
            DeviceSpec::PartUuid(u) => cased("by-partuuid", u),
            DeviceSpec::PartLabel(l) => {
                vec![format!("/dev/disk/by-partlabel/{}", udev_escape(l))]
            }
            DeviceSpec::Path(p) => vec![p.clone()],
        }
    }

    /// The spec a `/dev/disk/by-{uuid,label,partuuid,partlabel}/…` path
    /// encodes (udev's `\xNN` escapes undone), so that it can be looked up
    /// where those links do not exist (pid1 mode) and compared with tag specs;
    /// any other spec as it is.
    pub fn canonical(&self) -> DeviceSpec {
        let DeviceSpec::Path(p) = self else {
            return self.clone();
        };
        let Some((kind, value)) = p
            .strip_prefix("/dev/disk/")
            .and_then(|rest| rest.split_once('/'))
        else {
            return self.clone();
        };
        let value = unescape_udev(value);
        match kind {
            "by-uuid" => DeviceSpec::Uuid(value),
            "by-label" => DeviceSpec::Label(value),
            "by-partuuid" => DeviceSpec::PartUuid(value),
            "by-partlabel" => DeviceSpec::PartLabel(value),
            _ => self.clone(),
        }
    }

    /// Whether `self` and `other` name the same device, as far as the specs
    /// alone tell (no device is looked at; `/dev/disk/by-*` paths count as
    /// the tag they encode):
    /// * `Some(true)`: same kind and value (UUIDs case-insensitively), so the
    ///   system resolves both to one device;
    /// * `Some(false)`: same tag kind, different value: a filesystem has one
    ///   UUID and one label, a partition one PARTUUID and one name;
    /// * `None`: different kinds (`LABEL=` vs `UUID=`, a tag vs a path), or
    ///   two different paths (`/dev/sda2` and `/dev/mapper/x` may be one
    ///   device): only the devices can tell (blkid, or `st_rdev`).
    pub fn names_same(&self, other: &DeviceSpec) -> Option<bool> {
        use DeviceSpec::*;
        match (self.canonical(), other.canonical()) {
            (Uuid(a), Uuid(b)) | (PartUuid(a), PartUuid(b)) => Some(a.eq_ignore_ascii_case(&b)),
            (Label(a), Label(b)) | (PartLabel(a), PartLabel(b)) => Some(a == b),
            (Path(a), Path(b)) if a == b => Some(true),
            _ => None,
        }
    }
}

/// Undoes udev's `\xNN` escaping of link names.
fn unescape_udev(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1] == b'x' {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// udev's `encode_devnode_name()`: keep alnum and `#+-.:=@_`, hex-escape the rest.
fn udev_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b) || b >= 0x80 {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;

    /// Parses `KEY=value` (keys case-insensitive) or an absolute path.
    ///
    /// A value that starts with `"` or `'` must end with the same quote; the
    /// pair is removed, as libblkid's `blkid_parse_tag_string()`
    /// (`libblkid/src/tag.c`, used by mount(8), findmnt and systemd's fstab
    /// generator) does. Unlike libblkid, text after the closing quote is an
    /// error instead of being dropped silently.
    ///
    /// Errors: an empty value, an unclosed quote, or something that is
    /// neither `KEY=value` with a known key nor an absolute path.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let spec = if let Some((key, value)) = s.split_once('=') {
            let value = unquote(value).with_context(|| format!("device spec {s:?}"))?;
            if value.is_empty() {
                bail!("device spec {s:?} has an empty value");
            }
            let value = value.to_string();
            match key.to_ascii_uppercase().as_str() {
                "UUID" => DeviceSpec::Uuid(value),
                "LABEL" => DeviceSpec::Label(value),
                "PARTUUID" => DeviceSpec::PartUuid(value),
                "PARTLABEL" => DeviceSpec::PartLabel(value),
                _ => bail!(
                    "device spec {s:?}: unknown key {key:?} \
                     (expected UUID=, LABEL=, PARTUUID=, PARTLABEL= or a /dev path)"
                ),
            }
        } else if s.starts_with('/') {
            DeviceSpec::Path(s.to_string())
        } else {
            bail!(
                "device spec {s:?} is not UUID=, LABEL=, PARTUUID=, PARTLABEL= \
                 or an absolute /dev path"
            );
        };
        Ok(spec)
    }
}

/// A tag value without its one pair of matching quotes (see
/// [`DeviceSpec::from_str`]). Errors: an opening quote that does not close
/// at the end of the value.
fn unquote(value: &str) -> Result<&str> {
    let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Ok(value);
    };
    let inner = &value[1..];
    match inner.rfind(q) {
        Some(end) if end + 1 == inner.len() => Ok(&inner[..end]),
        Some(end) => bail!(
            "text {:?} after the closing {q} quote of the value",
            &inner[end + 1..]
        ),
        None => bail!("the value opens a {q} quote that is never closed"),
    }
}

impl fmt::Display for DeviceSpec {
    /// The normalized form: upper-case key, value without quotes, except a
    /// value that itself starts with a quote or has white space at either
    /// end, which is put in double quotes so that it parses back to the same
    /// value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key, v) = match self {
            DeviceSpec::Uuid(v) => ("UUID", v),
            DeviceSpec::Label(v) => ("LABEL", v),
            DeviceSpec::PartUuid(v) => ("PARTUUID", v),
            DeviceSpec::PartLabel(v) => ("PARTLABEL", v),
            DeviceSpec::Path(v) => return f.write_str(v),
        };
        if v.starts_with(['"', '\'']) || v.trim() != v {
            write!(f, "{key}=\"{v}\"")
        } else {
            write!(f, "{key}={v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let cases = [
            (
                "UUID=1a3a6db4-a7c2",
                DeviceSpec::Uuid("1a3a6db4-a7c2".into()),
            ),
            ("uuid=\"AB-CD\"", DeviceSpec::Uuid("AB-CD".into())),
            ("LABEL=boot", DeviceSpec::Label("boot".into())),
            ("PARTUUID=0a-01", DeviceSpec::PartUuid("0a-01".into())),
            (
                "PARTLABEL=xbootldr",
                DeviceSpec::PartLabel("xbootldr".into()),
            ),
            ("/dev/vda2", DeviceSpec::Path("/dev/vda2".into())),
        ];
        for (text, want) in cases {
            let got: DeviceSpec = text.parse().unwrap();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn round_trips_through_display() {
        for text in [
            "UUID=x",
            "LABEL=a b",
            "PARTUUID=y",
            "PARTLABEL=z",
            "/dev/sda1",
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_specs_with_reason() {
        let err = "FOO=bar".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(err.contains("unknown key \"FOO\""), "{err}");
        let err = "UUID=".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(err.contains("empty value"), "{err}");
        let err = "vda2".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(err.contains("absolute /dev path"), "{err}");
    }

    #[test]
    fn quoted_values_as_libblkid_reads_them() {
        // The field report's fstab spec: single quotes, as findmnt accepts.
        let s: DeviceSpec = "UUID='aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'"
            .parse()
            .unwrap();
        assert_eq!(
            s,
            DeviceSpec::Uuid("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".into())
        );
        assert_eq!(s.to_string(), "UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
        let cases = [
            ("UUID=\"AB-CD\"", DeviceSpec::Uuid("AB-CD".into())),
            ("label='my boot'", DeviceSpec::Label("my boot".into())),
            ("LABEL=\"it's\"", DeviceSpec::Label("it's".into())),
            ("LABEL='say \"hi\"'", DeviceSpec::Label("say \"hi\"".into())),
            (
                "PartLabel='EFI System'",
                DeviceSpec::PartLabel("EFI System".into()),
            ),
            ("partuuid=\"0a-01\"", DeviceSpec::PartUuid("0a-01".into())),
            // A quote that does not open the value is part of it (libblkid too).
            ("LABEL=a'b'", DeviceSpec::Label("a'b'".into())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), want, "{text}");
        }
        for (text, why) in [
            ("UUID='abc", "never closed"),
            ("UUID=\"abc'", "never closed"),
            ("UUID='a'b", "after the closing"),
            ("UUID=''", "empty value"),
            ("LABEL=\"\"", "empty value"),
        ] {
            let err = format!("{:#}", text.parse::<DeviceSpec>().unwrap_err());
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains(&format!("{text:?}")), "names the spec: {err}");
        }
    }

    #[test]
    fn normalized_form_parses_back_to_the_same_spec() {
        for spec in [
            DeviceSpec::Label("'quoted".into()),
            DeviceSpec::Label("\"x'".into()),
            DeviceSpec::PartLabel("a b".into()),
            DeviceSpec::Uuid("7A3B-1C2D".into()),
        ] {
            let text = spec.to_string();
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec, "{text}");
        }
        assert_eq!(DeviceSpec::Label("'q".into()).to_string(), "LABEL=\"'q\"");
    }

    #[test]
    fn udev_paths_read_as_their_tags() {
        let p = |t: &str| t.parse::<DeviceSpec>().unwrap().canonical();
        assert_eq!(
            p("/dev/disk/by-label/my\\x20boot\\x2fx"),
            DeviceSpec::Label("my boot/x".into())
        );
        assert_eq!(
            p("/dev/disk/by-uuid/ab-cd"),
            DeviceSpec::Uuid("ab-cd".into())
        );
        assert_eq!(
            p("/dev/disk/by-partuuid/1"),
            DeviceSpec::PartUuid("1".into())
        );
        assert_eq!(
            p("/dev/disk/by-partlabel/b"),
            DeviceSpec::PartLabel("b".into())
        );
        assert_eq!(
            p("/dev/disk/by-id/ata-X-part2"),
            DeviceSpec::Path("/dev/disk/by-id/ata-X-part2".into())
        );
        assert_eq!(p("UUID=x"), DeviceSpec::Uuid("x".into()));
    }

    #[test]
    fn same_device_as_far_as_specs_tell() {
        let same = |a: &str, b: &str| {
            a.parse::<DeviceSpec>()
                .unwrap()
                .names_same(&b.parse().unwrap())
        };
        assert_eq!(same("UUID=ABCD-1234", "uuid='abcd-1234'"), Some(true));
        assert_eq!(same("UUID=x", "/dev/disk/by-uuid/x"), Some(true));
        assert_eq!(same("UUID=x", "UUID=y"), Some(false));
        assert_eq!(same("PARTUUID=0a-01", "PARTUUID=0A-01"), Some(true));
        assert_eq!(same("LABEL=boot", "LABEL=Boot"), Some(false));
        assert_eq!(same("PARTLABEL=b", "PARTLABEL=b"), Some(true));
        assert_eq!(same("/dev/vda2", "/dev/vda2"), Some(true));
        // Only a device can tell.
        assert_eq!(same("LABEL=fedora", "UUID=x"), None);
        assert_eq!(same("/dev/vda2", "UUID=x"), None);
        assert_eq!(same("/dev/vda2", "/dev/mapper/boot"), None);
    }

    #[test]
    fn udev_links() {
        // vfat: udev's link is upper case, as blkid reports it.
        let s: DeviceSpec = "UUID=7A3B-1C2D".parse().unwrap();
        assert_eq!(
            s.udev_links(),
            ["/dev/disk/by-uuid/7A3B-1C2D", "/dev/disk/by-uuid/7a3b-1c2d"]
        );
        let s: DeviceSpec = "PARTUUID=0a1b2c3d-01".parse().unwrap();
        assert_eq!(
            s.udev_links(),
            [
                "/dev/disk/by-partuuid/0a1b2c3d-01",
                "/dev/disk/by-partuuid/0A1B2C3D-01"
            ]
        );
        let s: DeviceSpec = "LABEL=my boot/x".parse().unwrap();
        assert_eq!(s.udev_links(), ["/dev/disk/by-label/my\\x20boot\\x2fx"]);
    }
}
