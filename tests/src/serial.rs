//! Reads a boot's serial console: kernel-log timestamps of the boot's
//! milestones, `initoverlayfs:` lines and the marker's one-shot action.
//!
//! Kernel-log lines look like `[    2.345678] systemd[1]: Switching root.`,
//! either printed by the kernel on the console or copied there by the
//! marker unit from `dmesg` (prefixed [`crate::guest::DMESG_PREFIX`]); both
//! are read, duplicates dropped.

use crate::guest::{ACTION_BEGIN, ACTION_END, BOOT_OK, DMESG_PREFIX};

/// One kernel-log line: seconds since kernel start and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct KmsgLine {
    /// Kernel timestamp in seconds.
    pub t: f64,
    /// The message after the timestamp.
    pub text: String,
}

/// Parses `[   12.345678] text` (optionally after the dmesg prefix).
pub fn parse_kmsg(line: &str) -> Option<KmsgLine> {
    let line = line.strip_prefix(DMESG_PREFIX).unwrap_or(line);
    let rest = line.trim_start().strip_prefix('[')?;
    let (ts, text) = rest.split_once(']')?;
    let t = ts.trim().parse::<f64>().ok()?;
    Some(KmsgLine {
        t,
        text: text.trim_start().to_string(),
    })
}

/// The milestones of one boot, as kernel timestamps in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Every `systemd … running in system mode`, with whether the next
    /// line of that systemd said `Running in initrd.`.
    pub systemd_starts: Vec<(f64, bool)>,
    /// Every `Switching root.` that reached the kernel log (systemd logs it
    /// to the journal once journald runs, so often none).
    pub switch_roots: Vec<f64>,
    /// The marker's kernel-log line (boot finished).
    pub boot_ok: Option<f64>,
    /// `initoverlayfs:` lines with their timestamp when they have one.
    pub initoverlayfs: Vec<(Option<f64>, String)>,
    /// True if the plain `VM-BOOT-OK` console line appeared.
    pub boot_ok_seen: bool,
}

impl Timeline {
    /// The first systemd start inside an initrd.
    pub fn first_initrd_systemd(&self) -> Option<f64> {
        self.systemd_starts
            .iter()
            .find(|(_, initrd)| *initrd)
            .map(|(t, _)| *t)
    }

    /// The switch into the real root: the start of the first systemd that
    /// is not in an initrd (the moment the real root's init runs), or the
    /// last `Switching root.` line if systemd never started outside one.
    pub fn real_root_switch(&self) -> Option<f64> {
        self.systemd_starts
            .iter()
            .find(|(_, initrd)| !*initrd)
            .map(|(t, _)| *t)
            .or_else(|| self.switch_roots.last().copied())
    }
}

/// How the boot program's lines start (`init/src/log.rs`).
pub const PROGRAM_PREFIX: &str = "initoverlayfs: ";

/// The program's line inside a kernel-log message: the message itself
/// (pid1 mode writes to /dev/kmsg), or after a `tag[pid]: ` journal prefix.
/// systemd's unit descriptions that merely mention initoverlayfs do not count.
fn program_line(text: &str) -> Option<&str> {
    if text.starts_with(PROGRAM_PREFIX) {
        return Some(text);
    }
    let i = text.find(&format!("]: {PROGRAM_PREFIX}"))?;
    Some(&text[i + 3..])
}

/// Extracts the [`Timeline`] from console lines.
pub fn timeline(lines: &[String]) -> Timeline {
    let mut tl = Timeline::default();
    let mut seen: Vec<(u64, String)> = Vec::new();
    for line in lines {
        // The marker's line and the kernel's copy of it share the console: a
        // kernel message may be glued onto it (`VM-BOOT-OK[   89.19] …`).
        let line = match line.trim_start().strip_prefix(BOOT_OK) {
            Some(rest) => {
                tl.boot_ok_seen = true;
                rest
            }
            None => line.as_str(),
        };
        let Some(k) = parse_kmsg(line) else {
            if line.trim_start().starts_with(PROGRAM_PREFIX) {
                tl.initoverlayfs.push((None, line.trim().to_string()));
            }
            continue;
        };
        let id = ((k.t * 1e6).round() as u64, k.text.clone());
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let text = k.text.as_str();
        if text.contains("running in system mode") {
            tl.systemd_starts.push((k.t, false));
        }
        if text.contains("Running in initrd") {
            if let Some(last) = tl.systemd_starts.last_mut() {
                last.1 = true;
            }
        }
        if text.contains("Switching root") {
            tl.switch_roots.push(k.t);
        }
        if text.contains(&format!("vm-test: {BOOT_OK}")) {
            tl.boot_ok.get_or_insert(k.t);
        }
        if let Some(l) = program_line(text) {
            tl.initoverlayfs.push((Some(k.t), l.to_string()));
        }
    }
    tl
}

/// The output of the marker's one-shot action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutput {
    /// Lines between the begin and end markers (kernel-log lines excluded).
    pub lines: Vec<String>,
    /// The action's exit code.
    pub rc: i32,
    /// How long it ran, in guest seconds.
    pub seconds: Option<f64>,
}

/// Finds the action's output in console lines; `None` if it did not finish.
pub fn action_output(lines: &[String]) -> Option<ActionOutput> {
    let begin = lines.iter().position(|l| l.trim() == ACTION_BEGIN)?;
    let mut out = Vec::new();
    for l in &lines[begin + 1..] {
        if let Some(rest) = l.trim().strip_prefix(ACTION_END) {
            let field = |k: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .map(str::to_string)
            };
            return Some(ActionOutput {
                lines: out,
                rc: field("rc=")?.parse().ok()?,
                seconds: field("seconds=").and_then(|s| s.parse().ok()),
            });
        }
        if parse_kmsg(l).is_none() {
            out.push(l.clone());
        }
    }
    None
}

/// The value of a marker report line such as `VM-ROOT: /dev/vda3 btrfs …`.
pub fn marker_value(lines: &[String], key: &str) -> Option<String> {
    // `KEY:` then the value; an empty value may have lost its space.
    let prefix = format!("{key}:");
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn parses_kmsg_lines() {
        let k = parse_kmsg("[    2.345678] systemd[1]: Switching root.").unwrap();
        assert_eq!(k.t, 2.345678);
        assert_eq!(k.text, "systemd[1]: Switching root.");
        assert!(parse_kmsg("VM-BOOT-OK").is_none());
        assert!(parse_kmsg("[  OK  ] Started foo.").is_none());
        let d = parse_kmsg("VM-DMESG: [   9.5] vm-test: VM-BOOT-OK").unwrap();
        assert_eq!(d.t, 9.5);
    }

    #[test]
    fn timeline_from_recorded_console() {
        let log = lines(include_str!("../fixtures/serial-plain-boot.log"));
        let tl = timeline(&log);
        assert!(tl.boot_ok_seen);
        assert!(tl.boot_ok.is_some());
        assert_eq!(tl.first_initrd_systemd(), Some(6.151114), "{tl:?}");
        assert_eq!(tl.real_root_switch(), Some(21.741246), "{tl:?}");
        assert_eq!(tl.boot_ok, Some(48.463452));
        assert!(tl.initoverlayfs.is_empty());
    }

    #[test]
    fn boot_ok_with_a_kernel_message_glued_on() {
        // Recorded: the marker's echo and the kernel's copy on one console line.
        let tl = timeline(&lines(
            "VM-BOOT-OK[   89.195926] vm-test: VM-BOOT-OK\n\nStartup finished in 6.094s (kernel)\n",
        ));
        assert!(tl.boot_ok_seen);
        assert_eq!(tl.boot_ok, Some(89.195926));
        assert!(!timeline(&lines("VM-BOOT-O\n")).boot_ok_seen);
    }

    #[test]
    fn action_output_is_framed() {
        let log = lines("x\nVM-ACTION-BEGIN\nhello\n[ 1.0] kmsg noise\nworld\nVM-ACTION-END rc=3 seconds=12.5\n");
        let a = action_output(&log).unwrap();
        assert_eq!(a.lines, vec!["hello", "world"]);
        assert_eq!(a.rc, 3);
        assert_eq!(a.seconds, Some(12.5));
        assert!(action_output(&lines("VM-ACTION-BEGIN\nhalf\n")).is_none());
        assert_eq!(
            marker_value(&lines("VM-ROOT: /dev/vda3 btrfs rw\n"), "VM-ROOT").as_deref(),
            Some("/dev/vda3 btrfs rw")
        );
    }

    #[test]
    fn initoverlayfs_lines_are_collected_once() {
        let log = lines(
            "[    1.5] initoverlayfs: mounted /boot\nVM-DMESG: [    1.5] initoverlayfs: mounted /boot\ninitoverlayfs: error: no image\n\
             [  OK  ] Finished pre-initoverlayfs.service - initoverlayfs: mount the initramfs image\n\
             [    2.0] systemd[1]: Starting pre-initoverlayfs.service - initoverlayfs: mount\n",
        );
        let tl = timeline(&log);
        assert_eq!(tl.initoverlayfs.len(), 2);
        assert_eq!(tl.initoverlayfs[0].0, Some(1.5));
        assert_eq!(tl.initoverlayfs[1].0, None);
    }
}
