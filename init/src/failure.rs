//! The failure policy.
//!
//! Every failure is one line, `initoverlayfs: error: STEP: WHAT: ERRNO TEXT`
//! (e.g. `initoverlayfs: error: mount image: mount /dev/loop3 on /initrofs
//! as erofs read-only: Invalid argument (os error 22)`), on stderr and, in
//! pid1 and systemd mode, in the kernel log.
//!
//! * systemd mode and test runs: exit status 1 (`OnFailure=emergency.target`
//!   takes over).
//! * pid1 mode, where returning would panic the kernel: start an emergency
//!   shell on `/dev/console` — the image's `/bin/sh` (chrooted into
//!   `/initoverlayfs`) when the image got mounted, else the initramfs'
//!   `/bin/sh` — and reboot when it exits; with no shell (or
//!   `rd.initoverlayfs.shell=0`), wait
//!   [`REBOOT_DELAY`] and reboot (`RB_AUTOBOOT`), so boot counting or a user
//!   at the boot menu can pick another entry. Never returns.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{error, log, sys};

/// How long the failure line stays on screen before the reboot.
pub const REBOOT_DELAY: Duration = Duration::from_secs(10);

static EMERGENCY_SHELL: AtomicBool = AtomicBool::new(true);

/// Whether a pid1 failure may start an emergency shell
/// (`rd.initoverlayfs.shell=0` turns it off, e.g. for unattended VM tests).
pub fn set_emergency_shell(allowed: bool) {
    EMERGENCY_SHELL.store(allowed, Ordering::Relaxed);
}

/// Prints the failure line for `err`.
pub fn report(err: &anyhow::Error) {
    error!("error: {err:#}");
}

/// Also puts the failure line in the kernel log when the sink is stderr
/// (systemd mode), best effort.
pub fn report_to_kmsg(err: &anyhow::Error) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = writeln!(f, "<3>{}error: {err:#}", log::PREFIX);
    }
}

fn run_shell(sh: &str, chroot_to: Option<&Path>) -> bool {
    let mut cmd = Command::new(sh);
    cmd.arg("-i");
    if let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        if let (Ok(a), Ok(b)) = (console.try_clone(), console.try_clone()) {
            cmd.stdin(console).stdout(a).stderr(b);
        }
    }
    if let Some(dir) = chroot_to {
        let dir = match sys::cstr(dir) {
            Ok(d) => d,
            Err(_) => return false,
        };
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::chroot(dir.as_ptr()) < 0 || libc::chdir(c"/".as_ptr()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setsid();
                Ok(())
            });
        }
    } else {
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    match cmd.status() {
        Ok(_) => true,
        Err(e) => {
            error!("cannot start emergency shell {sh}: {e}");
            false
        }
    }
}

/// pid1 failure policy (see the module docs). `merged`: the overlay mount
/// point, whose `/bin/sh` is preferred when present.
pub fn pid1(err: &anyhow::Error, merged: &Path) -> ! {
    report(err);
    let image_sh = merged.join("bin/sh");
    let ran = if !EMERGENCY_SHELL.load(Ordering::Relaxed) {
        false
    } else if image_sh.exists() {
        error!(
            "starting emergency shell from the image ({}); exit it to reboot",
            image_sh.display()
        );
        run_shell("/bin/sh", Some(merged))
    } else if Path::new("/bin/sh").exists() {
        error!("starting emergency shell /bin/sh; exit it to reboot");
        run_shell("/bin/sh", None)
    } else {
        false
    };
    if !ran {
        error!(
            "no emergency shell; rebooting in {} s",
            REBOOT_DELAY.as_secs()
        );
        std::thread::sleep(REBOOT_DELAY);
    }
    loop {
        let e = sys::reboot();
        error!("reboot failed: {e}");
        std::thread::sleep(REBOOT_DELAY);
    }
}
