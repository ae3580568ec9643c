//! Block device specs as written in fstab(5) and on the kernel command line:
//! `UUID=…`, `LABEL=…`, `PARTUUID=…`, `PARTLABEL=…` or a `/dev/…` path.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

/// Which block device a spec names. Values are kept as written (fstab may
/// quote nothing; we strip one pair of surrounding double quotes, as
/// libblkid does for `UUID="…"`).
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
    /// The `/dev/disk/by-*` symlink udev creates for this spec, if any
    /// (used in systemd mode, where udev runs). Labels are escaped the way
    /// udev escapes them (`/` and whitespace become `\x2f`, `\x20`, …).
    pub fn udev_link(&self) -> String {
        match self {
            DeviceSpec::Uuid(u) => format!("/dev/disk/by-uuid/{}", u.to_ascii_lowercase()),
            DeviceSpec::Label(l) => format!("/dev/disk/by-label/{}", udev_escape(l)),
            DeviceSpec::PartUuid(u) => {
                format!("/dev/disk/by-partuuid/{}", u.to_ascii_lowercase())
            }
            DeviceSpec::PartLabel(l) => format!("/dev/disk/by-partlabel/{}", udev_escape(l)),
            DeviceSpec::Path(p) => p.clone(),
        }
    }
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

    /// Errors: an empty value, or something that is neither `KEY=value` with
    /// a known key nor an absolute path.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let unquote = |v: &str| v.trim_matches('"').to_string();
        let spec = if let Some((key, value)) = s.split_once('=') {
            let value = unquote(value);
            if value.is_empty() {
                bail!("device spec {s:?} has an empty value");
            }
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

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Uuid(v) => write!(f, "UUID={v}"),
            DeviceSpec::Label(v) => write!(f, "LABEL={v}"),
            DeviceSpec::PartUuid(v) => write!(f, "PARTUUID={v}"),
            DeviceSpec::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            DeviceSpec::Path(v) => write!(f, "{v}"),
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
    fn udev_links() {
        let s: DeviceSpec = "UUID=ABCD-1234".parse().unwrap();
        assert_eq!(s.udev_link(), "/dev/disk/by-uuid/abcd-1234");
        let s: DeviceSpec = "LABEL=my boot/x".parse().unwrap();
        assert_eq!(s.udev_link(), "/dev/disk/by-label/my\\x20boot\\x2fx");
    }
}
