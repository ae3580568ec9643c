//! Boots a guest with QEMU direct kernel boot and records its serial
//! console: one log file per boot, a hard timeout, early stop on known
//! dead ends (panic, emergency shell), and only our own QEMU process is
//! ever killed (by its pid, via [`std::process::Child::kill`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The CPU emulation QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation (`-accel tcg -cpu max`): slow but works everywhere.
    Tcg,
    /// Hardware virtualization (`-accel kvm -cpu host`).
    Kvm,
}

impl Accel {
    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Tcg => ["-accel", "tcg", "-cpu", "max"],
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
        }
    }

    /// Scales a timeout sized for TCG (KVM gets a quarter, at least 60 s).
    pub fn scale(self, tcg: Duration) -> Duration {
        match self {
            Accel::Tcg => tcg,
            Accel::Kvm => (tcg / 4).max(Duration::from_secs(60)),
        }
    }
}

/// Lines after which a boot cannot succeed any more: the boot is stopped a
/// few seconds after one appears (to record what follows).
pub const DEAD_ENDS: &[&str] = &[
    "Kernel panic - not syncing",
    "You are in emergency mode",
    "Entering emergency mode",
    "Press Enter for maintenance",
    // systemd's status line for a job (e.g. waiting for the root device)
    // that has run for two minutes: under TCG devices show up within
    // seconds, so this is a hang, not a slow boot.
    "start running (2min",
];

/// How to run one boot.
#[derive(Debug, Clone)]
pub struct BootSpec<'a> {
    /// Kernel image.
    pub kernel: &'a Path,
    /// Initrd, if any.
    pub initrd: Option<&'a Path>,
    /// Kernel command line.
    pub append: &'a str,
    /// Raw disk image attached as virtio disk (`/dev/vda`), if any.
    pub disk: Option<&'a Path>,
    /// Where the serial console log is written.
    pub log: &'a Path,
    /// Hard limit on the whole boot.
    pub timeout: Duration,
    /// Emulation.
    pub accel: Accel,
    /// Extra lines that end the boot early (like [`DEAD_ENDS`]), e.g. an
    /// expected error message.
    pub stop_on: &'a [&'a str],
    /// Echo console lines to stderr as they arrive (all of them if true,
    /// otherwise only lines matching [`is_noteworthy`]).
    pub echo_all: bool,
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// QEMU exited by itself with status 0 (the guest powered off, or with
    /// `-no-reboot` rebooted/panicked with `panic=N`).
    Exited,
    /// QEMU exited with an error status.
    Failed(String),
    /// Stopped by us after this line appeared.
    Stopped(String),
    /// Killed at the hard timeout.
    TimedOut,
}

/// The record of one boot.
#[derive(Debug, Clone)]
pub struct BootLog {
    /// Every console line (CR stripped), QEMU's stderr lines prefixed `qemu: `.
    pub lines: Vec<String>,
    /// How it ended.
    pub exit: Exit,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// The log file.
    pub path: PathBuf,
}

impl BootLog {
    /// The last `n` lines, joined, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        self.lines[start..].join("\n")
    }

    /// True if some line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

/// Lines worth echoing while a boot runs without `echo_all`.
pub fn is_noteworthy(line: &str) -> bool {
    [
        "initoverlayfs",
        "VM-",
        "Switching root",
        "panic",
        "emergency",
        "qemu: ",
        "Failed to",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// The QEMU command line for `spec` (q35, 2 vCPUs, 2 GiB, no network, no
/// reboot, serial console on stdout).
pub fn command(spec: &BootSpec) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    c.args(spec.accel.args())
        .args(["-machine", "q35", "-smp", "2", "-m", "2048"])
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(spec.kernel)
        .arg("-append")
        .arg(spec.append);
    if let Some(i) = spec.initrd {
        c.arg("-initrd").arg(i);
    }
    if let Some(d) = spec.disk {
        let mut arg = std::ffi::OsString::from("file=");
        arg.push(d);
        arg.push(",format=raw,if=virtio,cache=unsafe");
        c.arg("-drive").arg(arg);
    }
    c
}

/// Runs one boot to its end (see [`Exit`]); the log is written as lines
/// arrive. Not an error if the guest fails: callers judge the [`BootLog`].
///
/// Errors: QEMU cannot be started or the log cannot be written.
pub fn boot(spec: &BootSpec) -> Result<BootLog> {
    if let Some(parent) = spec.log.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut log =
        File::create(spec.log).with_context(|| format!("cannot create {}", spec.log.display()))?;
    let mut cmd = command(spec);
    writeln!(log, "# {}", initoverlayfs::cmd::command_line(&cmd))?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let tx2 = tx.clone();
    let t_out = std::thread::spawn(move || pump(out, "", tx));
    let t_err = std::thread::spawn(move || pump(err, "qemu: ", tx2));

    let deadline = start + spec.timeout;
    let mut lines = Vec::new();
    let mut stop_at: Option<(Instant, String)> = None;
    let exit = loop {
        let now = Instant::now();
        let until = stop_at
            .as_ref()
            .map_or(deadline, |(t, _)| (*t).min(deadline));
        if now >= until {
            break match stop_at.take() {
                Some((_, line)) => Exit::Stopped(line),
                None => Exit::TimedOut,
            };
        }
        match rx.recv_timeout(until - now) {
            Ok(line) => {
                writeln!(log, "{line}")?;
                if spec.echo_all || is_noteworthy(&line) {
                    eprintln!("    | {line}");
                }
                if stop_at.is_none()
                    && DEAD_ENDS
                        .iter()
                        .chain(spec.stop_on)
                        .any(|p| line.contains(p))
                {
                    stop_at = Some((Instant::now() + Duration::from_secs(5), line.clone()));
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("cannot wait for qemu")?;
                break if status.success() {
                    Exit::Exited
                } else {
                    Exit::Failed(status.to_string())
                };
            }
        }
    };
    if !matches!(exit, Exit::Exited | Exit::Failed(_)) {
        // Our own child, by pid.
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = t_out.join();
    let _ = t_err.join();
    // Lines that arrived between the stop decision and the kill.
    while let Ok(line) = rx.try_recv() {
        writeln!(log, "{line}")?;
        lines.push(line);
    }
    let wall = start.elapsed();
    writeln!(log, "# exit: {exit:?} after {:.1} s", wall.as_secs_f64())?;
    Ok(BootLog {
        lines,
        exit,
        wall,
        path: spec.log.to_path_buf(),
    })
}

fn pump(r: impl std::io::Read, prefix: &str, tx: mpsc::Sender<String>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                // systemd's progress spinner redraws one line with CRs: every
                // redraw is its own line here.
                let s = String::from_utf8_lossy(&buf);
                for piece in s.trim_end_matches(['\n', '\r']).split('\r') {
                    if tx.send(format!("{prefix}{}", strip_ansi(piece))).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Removes ANSI escape sequences (systemd's colours, cursor moves):
/// `ESC [ params letter` and lone `ESC x` pairs.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// Chooses the accelerator: `$INITOVERLAYFS_VM_ACCEL` = `tcg` or `kvm`
/// forces one; otherwise KVM only if `/dev/kvm` opens and a probe boot of
/// `kernel` (no initrd, `panic=-1`) prints the kernel banner within 20 s
/// under KVM — on these machines a stock Debian kernel hangs under KVM
/// (see /work/shared/notes/machine.md), so the probe protects the run.
/// The probe result is remembered for the host's boot in `work`.
///
/// Errors: an unknown `$INITOVERLAYFS_VM_ACCEL` value.
pub fn choose_accel(kernel: &Path, work: &Path) -> Result<Accel> {
    match std::env::var("INITOVERLAYFS_VM_ACCEL").as_deref() {
        Ok("tcg") => return Ok(Accel::Tcg),
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok("auto") | Ok("") | Err(_) => {}
        Ok(other) => anyhow::bail!("INITOVERLAYFS_VM_ACCEL={other:?}: expected tcg, kvm or auto"),
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Ok(Accel::Tcg);
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let memo = work.join(format!("kvm-probe-{}.txt", boot_id.trim()));
    if let Ok(s) = std::fs::read_to_string(&memo) {
        return Ok(if s.trim() == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        });
    }
    let log = work.join("kvm-probe.log");
    let probe = boot(&BootSpec {
        kernel,
        initrd: None,
        append: "console=ttyS0 panic=-1",
        disk: None,
        log: &log,
        timeout: Duration::from_secs(20),
        accel: Accel::Kvm,
        stop_on: &["Linux version"],
        echo_all: false,
    })?;
    let accel = if probe.contains("Linux version") {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    eprintln!(
        "vm: KVM probe: {} (log {})",
        if accel == Accel::Kvm {
            "the kernel boots under KVM"
        } else {
            "no kernel output under KVM, using TCG"
        },
        log.display()
    );
    let _ = std::fs::write(&memo, if accel == Accel::Kvm { "kvm" } else { "tcg" });
    Ok(accel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_systemd_colours() {
        let line =
            "\u{1b}[K[\u{1b}[0;32m  OK  \u{1b}[0m] Started \u{1b}[0;1;39mfoo.service\u{1b}[0m.";
        assert_eq!(strip_ansi(line), "[  OK  ] Started foo.service.");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
