//! Kernel command line overrides (`/proc/cmdline`):
//!
//! | word | overrides |
//! | --- | --- |
//! | `rd.initoverlayfs.bootfs=SPEC` | `[boot] bootfs` |
//! | `rd.initoverlayfs.bootfstype=TYPE` | `[boot] bootfstype` |
//! | `rd.initoverlayfs.image=PATH` | `[image] path` |
//! | `rd.initoverlayfs.timeout=SECONDS` | `[boot] timeout` |
//! | `rd.initoverlayfs.debug[=1\|0]` | debug logging |
//! | `rd.initoverlayfs.failure=fallback\|shell` | `[boot] failure` |
//! | `rd.initoverlayfs.shell=0\|1` | with `failure=shell` in pid1 mode: the emergency shell (default 1) or straight to the reboot |
//!
//! Values may be double-quoted (`"LABEL=my boot"`) as the kernel allows; the
//! last occurrence of a word wins. Bad values and unknown
//! `rd.initoverlayfs.*` words are reported as warnings and ignored: a typo on
//! the command line must not stop the boot.

use crate::config::{Config, FailurePolicy};

/// The `rd.initoverlayfs.*` settings found on a command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `rd.initoverlayfs.bootfs=`.
    pub bootfs: Option<String>,
    /// `rd.initoverlayfs.bootfstype=`.
    pub bootfstype: Option<String>,
    /// `rd.initoverlayfs.image=`.
    pub image: Option<String>,
    /// `rd.initoverlayfs.timeout=` in seconds.
    pub timeout: Option<u64>,
    /// `rd.initoverlayfs.debug`.
    pub debug: Option<bool>,
    /// `rd.initoverlayfs.shell`.
    pub shell: Option<bool>,
    /// `rd.initoverlayfs.failure=`.
    pub failure: Option<FailurePolicy>,
    /// Problems with words we ignored, one human-readable line each.
    pub warnings: Vec<String>,
}

/// Splits a command line into words the way the kernel does: whitespace
/// separates words, double quotes group (and are removed).
pub fn split(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut has_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has_word {
                    words.push(std::mem::take(&mut cur));
                    has_word = false;
                }
            }
            c => {
                cur.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(cur);
    }
    words
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "" | "1" | "y" | "yes" | "true" | "on" => Some(true),
        "0" | "n" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Parses the text of `/proc/cmdline`.
pub fn parse(text: &str) -> Overrides {
    let mut o = Overrides::default();
    for word in split(text) {
        let Some(rest) = word.strip_prefix("rd.initoverlayfs.") else {
            continue;
        };
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (rest, None),
        };
        let nonempty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
        match key {
            "bootfs" | "bootfstype" | "image" => match nonempty(value) {
                Some(v) => match key {
                    "bootfs" => o.bootfs = Some(v),
                    "bootfstype" => o.bootfstype = Some(v),
                    _ => o.image = Some(v),
                },
                None => o.warnings.push(format!("ignoring {word:?}: empty value")),
            },
            "timeout" => match value.and_then(|v| v.parse::<u64>().ok()) {
                Some(t) if t <= crate::config::MAX_TIMEOUT_SECONDS => o.timeout = Some(t),
                _ => o.warnings.push(format!(
                    "ignoring {word:?}: timeout must be whole seconds, at most {}",
                    crate::config::MAX_TIMEOUT_SECONDS
                )),
            },
            "failure" => match value.map(str::parse::<FailurePolicy>) {
                Some(Ok(f)) => o.failure = Some(f),
                _ => o
                    .warnings
                    .push(format!("ignoring {word:?}: expected fallback or shell")),
            },
            "debug" | "shell" => match parse_bool(value.unwrap_or("")) {
                Some(b) if key == "debug" => o.debug = Some(b),
                Some(b) => o.shell = Some(b),
                None => o
                    .warnings
                    .push(format!("ignoring {word:?}: expected 0 or 1")),
            },
            _ => o.warnings.push(format!("ignoring unknown option {word:?}")),
        }
    }
    o
}

impl Overrides {
    /// Applies the overrides onto `config` (debug is not a config setting;
    /// read [`Overrides::debug`]).
    pub fn apply(&self, config: &mut Config) {
        if let Some(v) = &self.bootfs {
            config.boot.bootfs = Some(v.clone());
        }
        if let Some(v) = &self.bootfstype {
            config.boot.bootfstype = Some(v.clone());
        }
        if let Some(v) = &self.image {
            config.image.path = v.clone();
        }
        if let Some(v) = self.timeout {
            config.boot.timeout = v;
        }
        if let Some(f) = self.failure {
            config.boot.failure = f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from a Debian 12 guest booted through initoverlayfs, plus our words.
    const CMDLINE: &str =
        "BOOT_IMAGE=/vmlinuz-6.1.0-26-amd64 root=UUID=3f1c ro console=ttyS0 quiet \
        rd.initoverlayfs.bootfs=\"LABEL=my boot\" rd.initoverlayfs.bootfstype=xfs \
        rd.initoverlayfs.image=/x/initoverlayfs-{kver}.img rd.initoverlayfs.timeout=5 \
        rd.initoverlayfs.debug rd.initoverlayfs.failure=shell\n";

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(split(" a  b=\"c d\" \"e f\"\n"), vec!["a", "b=c d", "e f"]);
        assert_eq!(split("x=\"\""), vec!["x="]);
        assert!(split("  \n").is_empty());
    }

    #[test]
    fn parses_all_words() {
        let o = parse(CMDLINE);
        assert_eq!(o.bootfs.as_deref(), Some("LABEL=my boot"));
        assert_eq!(o.bootfstype.as_deref(), Some("xfs"));
        assert_eq!(o.image.as_deref(), Some("/x/initoverlayfs-{kver}.img"));
        assert_eq!(o.timeout, Some(5));
        assert_eq!(o.debug, Some(true));
        assert_eq!(o.failure, Some(FailurePolicy::Shell));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn nothing_on_a_plain_cmdline() {
        let o = parse("BOOT_IMAGE=/vmlinuz root=/dev/vda3 ro quiet");
        assert_eq!(o, Overrides::default());
    }

    #[test]
    fn last_word_wins_and_bad_values_warn() {
        let o = parse(
            "rd.initoverlayfs.timeout=3 rd.initoverlayfs.timeout=9 rd.initoverlayfs.timeout=x \
             rd.initoverlayfs.debug=0 rd.initoverlayfs.bootfs= rd.initoverlayfs.colour=red \
             rd.initoverlayfs.shell=0 rd.initoverlayfs.failure=reboot \
             rd.initoverlayfs.timeout=18446744073709551615",
        );
        assert_eq!(o.timeout, Some(9));
        assert_eq!(o.debug, Some(false));
        assert_eq!(o.shell, Some(false));
        assert_eq!(o.bootfs, None);
        assert_eq!(o.failure, None);
        assert_eq!(o.warnings.len(), 5, "{:?}", o.warnings);
        assert!(o.warnings[0].contains("timeout=x"));
        assert!(o.warnings[2].contains("colour"));
        assert!(
            o.warnings[3].contains("failure=reboot") && o.warnings[3].contains("fallback or shell")
        );
        assert!(o.warnings[4].contains("at most 3600"), "{:?}", o.warnings);
    }

    #[test]
    fn applies_onto_config() {
        let mut c = Config::from_toml_str(
            "[boot]\nbootfs = \"UUID=1\"\nbootfs_hint = \"/dev/vda2\"\n[image]\nfstype = \"erofs\"\n",
        )
        .unwrap();
        parse(CMDLINE).apply(&mut c);
        assert_eq!(c.boot.bootfs.as_deref(), Some("LABEL=my boot"));
        assert_eq!(c.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert_eq!(c.boot.bootfstype.as_deref(), Some("xfs"));
        assert_eq!(c.boot.timeout, 5);
        assert_eq!(c.boot.failure, FailurePolicy::Shell);
        assert_eq!(c.image.path_for("6.1"), "x/initoverlayfs-6.1.img");
        assert_eq!(c.image.fstype, "erofs");
    }
}
