//! Logging for the boot program.
//!
//! Every line starts with `initoverlayfs: `. In pid1 mode lines go to
//! `/dev/kmsg` (so they carry kernel timestamps in `dmesg` and the journal
//! later, and errors reach the console); otherwise (systemd mode, tests) to
//! stderr, which systemd puts in the journal.
//!
//! The kernel rate-limits each open `/dev/kmsg` file to a burst of 10 records
//! per 5 s (`printk.devkmsg=ratelimit`, the default); we reopen it every
//! [`KMSG_REOPEN_EVERY`] records so no step's line is dropped.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

/// The prefix of every line we print.
pub const PREFIX: &str = "initoverlayfs: ";

/// Records written through one `/dev/kmsg` handle before reopening it.
pub const KMSG_REOPEN_EVERY: u32 = 8;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// `/dev/kmsg` (pid1 mode); falls back to stderr if it cannot be opened.
    Kmsg,
    /// stderr (systemd mode, `--prefix` test runs).
    Stderr,
}

/// Severity of a line; maps to the kmsg syslog level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A failure (kmsg level 3, shown on the console even with `quiet`).
    Error,
    /// Something odd we work around (kmsg level 4).
    Warn,
    /// A step (kmsg level 6).
    Info,
    /// Details, only with `rd.initoverlayfs.debug` (kmsg level 7).
    Debug,
}

impl Level {
    fn syslog(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

struct State {
    sink: Sink,
    debug: bool,
    kmsg: Option<File>,
    writes: u32,
}

static STATE: Mutex<State> = Mutex::new(State {
    sink: Sink::Stderr,
    debug: false,
    kmsg: None,
    writes: 0,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Selects the sink (call again after `/dev` is mounted).
pub fn set_sink(sink: Sink) {
    let mut s = state();
    s.sink = sink;
    s.kmsg = None;
    s.writes = 0;
}

/// Enables or disables [`Level::Debug`] lines.
pub fn set_debug(debug: bool) {
    state().debug = debug;
}

/// Whether debug lines are printed.
pub fn debug_enabled() -> bool {
    state().debug
}

/// Writes one line at `level`. Errors also go to stderr (the console in pid1
/// mode) when the sink is kmsg. Never fails: a line that cannot be written is
/// dropped.
pub fn log(level: Level, args: fmt::Arguments) {
    let mut s = state();
    if level == Level::Debug && !s.debug {
        return;
    }
    let text = format!("{PREFIX}{}", one_line(&args.to_string()));
    let mut to_stderr = s.sink == Sink::Stderr || level == Level::Error;
    if s.sink == Sink::Kmsg {
        if s.kmsg.is_none() || s.writes >= KMSG_REOPEN_EVERY {
            s.kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
            s.writes = 0;
        }
        let record = format!("<{}>{text}\n", level.syslog());
        let ok = match s.kmsg.as_mut() {
            Some(f) => f.write_all(record.as_bytes()).is_ok(),
            None => false,
        };
        s.writes += 1;
        if !ok {
            to_stderr = true;
        }
    }
    if to_stderr {
        let _ = writeln!(std::io::stderr(), "{text}");
    }
}

/// Folds a multi-line message (a tool's stderr tail, a TOML error with its
/// source snippet) into one line: lines joined with `; `, the snippet's
/// `  |` / `^^^` decoration dropped.
pub fn one_line(msg: &str) -> String {
    if !msg.contains('\n') {
        return msg.to_string();
    }
    let is_art = |l: &str| {
        let t = l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        t.starts_with('|') || l.trim().chars().all(|c| c == '^' || c == '|' || c == ' ')
    };
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_art(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Logs a step or fact: `info!("mounted {}", x)`.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) };
}

/// Logs a warning.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($t)*)) };
}

/// Logs a failure line.
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($t)*)) };
}

/// Logs a detail shown only with `rd.initoverlayfs.debug`.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_toml_errors_into_one_line() {
        let err = crate::config::Config::from_toml_str("[image]\npath = \"/x\"\nbogus = 1\n")
            .unwrap_err();
        let line = one_line(&format!("invalid config /etc/initoverlayfs.conf: {err:#}"));
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("line 3"), "{line}");
        assert!(line.contains("unknown field `bogus`"), "{line}");
        assert!(!line.contains("^^^"), "{line}");
        assert_eq!(one_line("a\n  b  \n\nc"), "a; b; c");
        assert_eq!(one_line("single"), "single");
    }
}
