//! The trial-boot contract shared by the boot-time program (which writes
//! what a failed boot leaves behind) and the installer (which reads it in
//! the next boot, `initoverlayfs-install --check` and `--after-boot`).
//!
//! A boot through initoverlayfs is a *trial* until it reaches
//! `boot-complete.target`. When its mini phase fails, the program leaves a
//! [`FailureRecord`] in two places, whichever are usable: the EFI variable
//! [`RECORD_EFIVAR`] (vendor [`crate::efivar::INITOVERLAYFS_GUID`]; survives
//! when `/boot` was never reached) and the file [`RECORD_FILE`] at the root
//! of the boot filesystem (also without UEFI). The journal of the failed
//! boot does not survive it: the mini initramfs has no persistent journal.
//!
//! The record is text, one `KEY=VALUE` per line (a value's `\` and newline
//! are written `\\` and `\n`), after a `#` comment line:
//!
//! ```text
//! # initoverlayfs: the last boot through initoverlayfs failed (see initoverlayfs(8))
//! time=1795910400
//! kver=6.5.12-300.fc39.x86_64
//! mode=systemd
//! step=mount image
//! error=mount image: mount /dev/loop0 on /initrofs as erofs read-only: Invalid argument (os error 22)
//! entry=4c7f…-6.5.12-300.fc39.x86_64+2-1.conf
//! fallback_entry=4c7f…-without_initoverlayfs.6.5.12-300.fc39.x86_64
//! action=LoaderEntryOneShot=4c7f…-without_initoverlayfs.6.5.12-300.fc39.x86_64.conf
//! ```
//!
//! `handled` and `previous_default` are added by the installer in the
//! fallback boot. Unknown keys are ignored (a newer writer), missing
//! optional keys are `None`.

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};

/// The record file, relative to the root of the boot filesystem.
pub const RECORD_FILE: &str = "initoverlayfs-failure.txt";
/// The record's EFI variable name (vendor [`crate::efivar::INITOVERLAYFS_GUID`]).
pub const RECORD_EFIVAR: &str = "InitoverlayfsFailure";
/// The largest record the program writes (EFI variable stores are small):
/// longer error lines are cut.
pub const RECORD_MAX: usize = 1024;

/// The journal `MESSAGE_ID` of the one message a fallback boot logs about a
/// failed trial (`journalctl MESSAGE_ID=fa4ae00695d14a53af819a01fcf610e6`).
pub const MESSAGE_ID: &str = "fa4ae00695d14a53af819a01fcf610e6";

/// Boot Loader Interface variables (vendor [`crate::efivar::LOADER_GUID`]),
/// systemd docs/BOOT_LOADER_INTERFACE.md: the entry to boot next, once
/// (cleared by systemd-boot when read).
pub const LOADER_ENTRY_ONESHOT: &str = "LoaderEntryOneShot";
/// The entry the boot loader booted (set by systemd-boot each boot).
pub const LOADER_ENTRY_SELECTED: &str = "LoaderEntrySelected";
/// The default entry, over `default` in loader.conf (`bootctl set-default`).
pub const LOADER_ENTRY_DEFAULT: &str = "LoaderEntryDefault";
/// The boot loader's name and version (`systemd-boot 255.4-1.fc40`).
pub const LOADER_INFO: &str = "LoaderInfo";

/// What a failed boot through initoverlayfs left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureRecord {
    /// When it failed: seconds since the epoch, from the clock the kernel
    /// set from the RTC at boot (no NTP yet: may be off by the RTC's error).
    pub time: u64,
    /// The kernel release that was booted.
    pub kver: String,
    /// `pid1` or `systemd`.
    pub mode: String,
    /// The step that failed (`find bootfs`, `mount image`, …, see initoverlayfs(8)).
    pub step: String,
    /// The failure line after `initoverlayfs: error: `.
    pub error: String,
    /// The boot loader entry that was booted (`LoaderEntrySelected`), if known.
    pub entry: Option<String>,
    /// The fallback entry's id (`[boot] fallback_entry` for this kernel).
    pub fallback_entry: Option<String>,
    /// What the failed boot did to reach the fallback, in words.
    pub action: String,
    /// Set by `initoverlayfs-install --after-boot` once a later boot acted on
    /// the record (journal message, default entry): seconds since the epoch.
    pub handled: Option<u64>,
    /// The default entry setting before `--after-boot` pointed it at the
    /// fallback: `LoaderEntryDefault=VALUE` or `saved_entry=VALUE`, with an
    /// empty VALUE when it was unset; restored by the next install.
    pub previous_default: Option<String>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        match (c, c == '\\') {
            (_, true) => match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

impl FailureRecord {
    /// The record as text (see the module docs), at most [`RECORD_MAX`]
    /// bytes: the error line is shortened (with `…`) to fit.
    pub fn to_text(&self) -> String {
        let text = self.render();
        if text.len() <= RECORD_MAX {
            return text;
        }
        // Drop characters from the end of the error until it fits with the `…`.
        let excess = text.len() - RECORD_MAX + '…'.len_utf8();
        let mut error = self.error.clone();
        let mut cut = 0;
        while cut < excess {
            match error.pop() {
                Some(c) => cut += escape(c.encode_utf8(&mut [0; 4])).len(),
                None => break,
            }
        }
        let mut r = self.clone();
        r.error = if error.is_empty() {
            String::new()
        } else {
            format!("{error}…")
        };
        r.render()
    }

    fn render(&self) -> String {
        let mut s = String::from(
            "# initoverlayfs: the last boot through initoverlayfs failed (see initoverlayfs(8))\n",
        );
        let mut kv = |k: &str, v: &str| {
            let _ = writeln!(s, "{k}={}", escape(v));
        };
        kv("time", &self.time.to_string());
        kv("kver", &self.kver);
        kv("mode", &self.mode);
        kv("step", &self.step);
        kv("error", &self.error);
        if let Some(e) = &self.entry {
            kv("entry", e);
        }
        if let Some(f) = &self.fallback_entry {
            kv("fallback_entry", f);
        }
        kv("action", &self.action);
        if let Some(h) = self.handled {
            kv("handled", &h.to_string());
        }
        if let Some(p) = &self.previous_default {
            kv("previous_default", p);
        }
        s
    }

    /// Parses a record.
    ///
    /// Errors: a line that is neither a comment nor `KEY=VALUE`, a
    /// `time`/`handled` that is not a number, or no `time`, `step` or
    /// `error` (the message names the line or key).
    pub fn parse(text: &str) -> Result<FailureRecord> {
        let mut r = FailureRecord::default();
        let (mut time, mut step, mut error) = (false, false, false);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                bail!("line {}: {line:?} is not KEY=VALUE", n + 1);
            };
            let v = unescape(v);
            let num = |v: &str| {
                v.parse::<u64>()
                    .with_context(|| format!("line {}: {k}={v:?} is not a number", n + 1))
            };
            match k {
                "time" => {
                    r.time = num(&v)?;
                    time = true;
                }
                "kver" => r.kver = v,
                "mode" => r.mode = v,
                "step" => {
                    r.step = v;
                    step = true;
                }
                "error" => {
                    r.error = v;
                    error = true;
                }
                "entry" => r.entry = Some(v),
                "fallback_entry" => r.fallback_entry = Some(v),
                "action" => r.action = v,
                "handled" => r.handled = Some(num(&v)?),
                "previous_default" => r.previous_default = Some(v),
                _ => {}
            }
        }
        for (have, key) in [(time, "time"), (step, "step"), (error, "error")] {
            if !have {
                bail!("no {key}= line: not a failure record");
            }
        }
        Ok(r)
    }
}

/// The fallback entry's id for `kver` from `[boot] fallback_entry`
/// (`{kver}` replaced), or None when the config names none.
pub fn fallback_entry_id(template: Option<&str>, kver: &str) -> Option<String> {
    template
        .filter(|t| !t.is_empty())
        .map(|t| t.replace(crate::config::KVER_PLACEHOLDER, kver))
}

/// The step of a failure: the outermost context of the error chain, which
/// the program's step runner sets to the step's name (`mount image`).
pub fn step_of(err: &anyhow::Error) -> String {
    err.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FailureRecord {
        FailureRecord {
            time: 1_795_910_400,
            kver: "6.5.12-300.fc39.x86_64".into(),
            mode: "systemd".into(),
            step: "mount image".into(),
            error: "mount image: mount /dev/loop0 on /initrofs as erofs read-only: Invalid argument (os error 22)".into(),
            entry: Some("m-6.5.12-300.fc39.x86_64+2-1.conf".into()),
            fallback_entry: Some("m-without_initoverlayfs.6.5.12-300.fc39.x86_64".into()),
            action: "LoaderEntryOneShot=m-without_initoverlayfs.6.5.12-300.fc39.x86_64.conf".into(),
            handled: None,
            previous_default: None,
        }
    }

    #[test]
    fn round_trips_and_reads_the_documented_form() {
        let r = sample();
        let text = r.to_text();
        assert!(text.starts_with("# initoverlayfs: the last boot"));
        assert!(text.contains("\nstep=mount image\n"), "{text}");
        assert_eq!(FailureRecord::parse(&text).unwrap(), r);
        let mut h = r.clone();
        h.handled = Some(1_795_910_500);
        h.previous_default = Some("LoaderEntryDefault=".into());
        h.error = "two\nlines \\ and a backslash".into();
        let text = h.to_text();
        assert!(text.contains("error=two\\nlines \\\\ and"), "{text}");
        assert_eq!(FailureRecord::parse(&text).unwrap(), h);
    }

    #[test]
    fn tolerates_unknown_keys_refuses_non_records() {
        let r = FailureRecord::parse("time=5\nstep=s\nerror=e\ncolour=red\r\n").unwrap();
        assert_eq!((r.time, r.step.as_str(), r.error.as_str()), (5, "s", "e"));
        assert_eq!(r.entry, None);
        let err = format!(
            "{:#}",
            FailureRecord::parse("time=5\nstep=s\n").unwrap_err()
        );
        assert!(err.contains("no error="), "{err}");
        let err = format!("{:#}", FailureRecord::parse("time=x\n").unwrap_err());
        assert!(
            err.contains("line 1") && err.contains("not a number"),
            "{err}"
        );
        assert!(FailureRecord::parse("garbage\n").is_err());
    }

    #[test]
    fn long_errors_are_cut_to_fit() {
        let mut r = sample();
        r.error = "é".repeat(2000);
        let text = r.to_text();
        assert!(text.len() <= RECORD_MAX, "{}", text.len());
        let back = FailureRecord::parse(&text).unwrap();
        assert!(back.error.ends_with('…') && back.error.starts_with("éé"));
        assert_eq!(back.step, "mount image");
    }

    #[test]
    fn fallback_ids_and_steps() {
        assert_eq!(
            fallback_entry_id(Some("m-without_initoverlayfs.{kver}"), "6.1").as_deref(),
            Some("m-without_initoverlayfs.6.1")
        );
        assert_eq!(
            fallback_entry_id(Some("arch-x"), "6.1").as_deref(),
            Some("arch-x")
        );
        assert_eq!(fallback_entry_id(None, "6.1"), None);
        assert_eq!(fallback_entry_id(Some(""), "6.1"), None);
        let e = anyhow::anyhow!("EINVAL")
            .context("mount /dev/loop0")
            .context("mount image");
        assert_eq!(step_of(&e), "mount image");
        assert_eq!(format!("{e:#}"), "mount image: mount /dev/loop0: EINVAL");
    }
}
