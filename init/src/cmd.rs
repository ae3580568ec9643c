//! The one way this project runs external tools (dracut, mkfs.erofs, modprobe,
//! udevadm, …).
//!
//! Every error carries the full command line, the exit status and the tail of
//! the tool's stderr, so a failure names what ran and what it said.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::process::{Command, ExitStatus, Output, Stdio};

use anyhow::{anyhow, Context, Result};

/// How many bytes of a failing tool's stderr go into the error message.
const STDERR_TAIL_BYTES: usize = 4096;

/// Renders a command as a shell-like line for messages: `dracut -f /tmp/x`.
pub fn command_line(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The last [`STDERR_TAIL_BYTES`] of `bytes`, as lossy UTF-8, trimmed.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

fn status_error(cmd: &Command, status: ExitStatus, stderr: &[u8]) -> anyhow::Error {
    let mut msg = format!("`{}` failed ({status})", command_line(cmd));
    let stderr = tail(stderr);
    if !stderr.is_empty() {
        let _ = write!(msg, "; its stderr ends with:\n{stderr}");
    }
    anyhow!(msg)
}

/// Extension trait on [`std::process::Command`] for running tools with
/// useful errors.
pub trait CommandRunExt {
    /// Runs the command with stdout/stderr captured; succeeds on exit 0.
    ///
    /// Errors: the tool cannot be started (e.g. not installed: the error
    /// names it), or it exits non-zero (the error carries the command line,
    /// the status and the tail of stderr).
    fn run(&mut self) -> Result<()>;

    /// Like [`CommandRunExt::run`], returning stdout as (lossy) UTF-8.
    fn run_get_string(&mut self) -> Result<String>;

    /// Runs the command capturing both streams and returns them whatever the
    /// exit status; only a failure to start it is an error.
    fn run_get_output(&mut self) -> Result<Output>;

    /// Runs the command with stdout/stderr inherited (streamed to the user),
    /// for `-v` runs of long builders. Errors name the command and status.
    fn run_inherited(&mut self) -> Result<()>;
}

impl CommandRunExt for Command {
    fn run(&mut self) -> Result<()> {
        self.run_get_string().map(drop)
    }

    fn run_get_string(&mut self) -> Result<String> {
        let out = self.run_get_output()?;
        if !out.status.success() {
            return Err(status_error(self, out.status, &out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn run_get_output(&mut self) -> Result<Output> {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run `{}`", command_line(self)))
    }

    fn run_inherited(&mut self) -> Result<()> {
        let status = self
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run `{}`", command_line(self)))?;
        if !status.success() {
            return Err(status_error(self, status, b""));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_command_error_names_command_and_stderr() {
        let err = Command::new("sh")
            .args(["-c", "echo first >&2; echo 'it broke' >&2; exit 3"])
            .run()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("`sh -c 'echo first >&2;"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("it broke"), "{msg}");
    }

    #[test]
    fn missing_tool_is_named() {
        let err = Command::new("no-such-tool-initoverlayfs")
            .arg("x")
            .run()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("cannot run `no-such-tool-initoverlayfs x`"),
            "{msg}"
        );
    }

    #[test]
    fn stdout_is_returned() {
        let out = Command::new("printf").arg("a b").run_get_string().unwrap();
        assert_eq!(out, "a b");
    }

    #[test]
    fn stderr_tail_is_bounded() {
        let long = vec![b'x'; STDERR_TAIL_BYTES * 3];
        assert_eq!(tail(&long).len(), STDERR_TAIL_BYTES);
    }
}
