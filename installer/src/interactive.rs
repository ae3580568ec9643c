//! Interactive mode: only when stdin and stdout are terminals and `-y` was
//! not given. Shows the check table, lets the user pick the compression and
//! init mode among the supported ones, and asks before touching anything.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use dialoguer::{Confirm, Select};
use initoverlayfs::config::{Algorithm, Compression, InitMode};

use crate::detect::Detection;

/// Whether this run may prompt.
pub fn enabled(yes: bool) -> bool {
    !yes && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

extern "C" fn on_sigint(_: libc::c_int) {
    const SHOW_CURSOR: &[u8] = b"\x1b[?25h\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(2, SHOW_CURSOR.as_ptr().cast(), SHOW_CURSOR.len());
        libc::_exit(130);
    }
}

/// While alive, Ctrl-C restores the cursor dialoguer hid and exits 130
/// (nothing has been written while prompts are shown).
#[derive(Debug)]
pub struct CursorGuard {
    _private: (),
}

impl CursorGuard {
    /// Installs the SIGINT handler.
    pub fn new() -> CursorGuard {
        // SAFETY: installing a handler that only calls async-signal-safe functions.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
        CursorGuard { _private: () }
    }
}

impl Default for CursorGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CursorGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
        let _ = dialoguer::console::Term::stdout().show_cursor();
    }
}

/// The algorithms both the kernel and mkfs.erofs support, best first.
pub fn supported(det: &Detection) -> Vec<Algorithm> {
    let mkfs = det
        .tools
        .mkfs
        .as_ref()
        .map(|m| m.1.clone())
        .unwrap_or_default();
    let mut v: Vec<Algorithm> = Algorithm::ALL
        .into_iter()
        .filter(|a| det.kernel.supports(*a) && (*a == Algorithm::None || mkfs.contains(a)))
        .collect();
    v.sort_by_key(|a| match a {
        Algorithm::Lz4hc => 0,
        Algorithm::Lz4 => 1,
        Algorithm::None => 9,
        _ => 5,
    });
    v
}

/// Asks for compression, init mode and confirmation. Returns None when the
/// user declines.
///
/// Errors: the terminal fails (dialoguer I/O error).
pub fn ask(det: &Detection) -> Result<Option<(Compression, InitMode)>> {
    let _guard = CursorGuard::new();
    let algs = supported(det);
    let current = det.config.image.compression;
    let items: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    let default = algs
        .iter()
        .position(|a| *a == current.algorithm)
        .unwrap_or(0);
    let i = Select::new()
        .with_prompt("erofs compression of the image")
        .items(&items)
        .default(default)
        .interact()
        .context("prompt failed")?;
    let compression = if algs[i] == current.algorithm {
        current
    } else {
        Compression {
            algorithm: algs[i],
            level: None,
        }
    };
    let modes = [InitMode::Systemd, InitMode::Pid1];
    let m = Select::new()
        .with_prompt("how the mini initramfs runs initoverlayfs")
        .items([
            "systemd (pre-initoverlayfs.service)",
            "pid1 (initoverlayfs is /init)",
        ])
        .default(if det.config.init.mode == InitMode::Pid1 {
            1
        } else {
            0
        })
        .interact()
        .context("prompt failed")?;
    let ok = Confirm::new()
        .with_prompt(format!(
            "Install initoverlayfs for kernel {} ({compression}, {})?",
            det.kver, modes[m]
        ))
        .default(true)
        .interact()
        .context("prompt failed")?;
    Ok(ok.then_some((compression, modes[m])))
}
