//! The failure policy.
//!
//! Every failure is one line, `initoverlayfs: error: STEP: WHAT: ERRNO TEXT`
//! (e.g. `initoverlayfs: error: mount image: mount /dev/loop3 on /initrofs
//! as erofs read-only: Invalid argument (os error 22)`), on stderr and, in
//! pid1 and systemd mode, in the kernel log. Then:
//!
//! 1. **The failure is remembered** ([`remember`]): a
//!    [`FailureRecord`](crate::trial::FailureRecord) in the EFI variable
//!    `InitoverlayfsFailure-…` (when efivarfs is usable) and in
//!    `initoverlayfs-failure.txt` on the boot filesystem (when it is
//!    mounted), for `initoverlayfs-install --check` in the next boot; and in
//!    `/run/initoverlayfs/failure`, so that the systemd-mode failure unit
//!    knows the program already handled it.
//! 2. **`[boot] failure = "fallback"`** (the default): the boot loader is
//!    pointed at the fallback entry ([`point_to_fallback`]: systemd-boot's
//!    `LoaderEntryOneShot`, or GRUB's `next_entry` in grubenv; without
//!    either, the reboot leaves the choice to boot counting), the program
//!    says so, waits [`FALLBACK_DELAY`] and reboots (`RB_AUTOBOOT`), in pid1
//!    and in systemd mode alike. Test runs (`--prefix`) do everything but
//!    the reboot and exit 1.
//! 3. **`[boot] failure = "shell"`**: systemd mode exits 1
//!    (`OnFailure=pre-initoverlayfs-failure.service`, which then fails into
//!    `emergency.target`); pid1 mode starts an emergency shell on
//!    `/dev/console` — the image's `/bin/sh` (chrooted into
//!    `/initoverlayfs`) when the image got mounted, else the initramfs'
//!    `/bin/sh` — and reboots when it exits; with no shell (or
//!    `rd.initoverlayfs.shell=0`) it waits [`REBOOT_DELAY`] and reboots.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, FailurePolicy};
use crate::efivar::{self, INITOVERLAYFS_GUID, LOADER_GUID};
use crate::grubenv::{self, GrubEnv};
use crate::trial::{self, FailureRecord};
use crate::{error, info, log, sys, warn};

/// How long the failure line stays on screen before the reboot (shell policy).
pub const REBOOT_DELAY: Duration = Duration::from_secs(10);
/// How long the failure line and the fallback notice stay on screen before
/// the reboot into the fallback entry.
pub const FALLBACK_DELAY: Duration = Duration::from_secs(5);
/// Where the program notes, for the systemd-mode failure unit, that it
/// already handled the failure of this boot (tmpfs; gone after the reboot).
pub const RUN_RECORD: &str = "/run/initoverlayfs/failure";

static EMERGENCY_SHELL: AtomicBool = AtomicBool::new(true);

/// Whether a pid1 failure may start an emergency shell
/// (`rd.initoverlayfs.shell=0` turns it off, e.g. for unattended VM tests).
pub fn set_emergency_shell(allowed: bool) {
    EMERGENCY_SHELL.store(allowed, Ordering::Relaxed);
}

/// What the run knew when it failed: the inputs of the record and of the
/// fallback.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The config with the command line applied (the defaults until it was read).
    pub config: Config,
    /// The kernel release, once known.
    pub kver: Option<String>,
    /// Where the boot filesystem is mounted, once it is (`/boot`, after the
    /// move `/initoverlayfs/boot`; `DIR/boot` in test mode).
    pub boot: Option<PathBuf>,
    /// The efivarfs directory to use (None: no UEFI variables).
    pub efivars: Option<PathBuf>,
}

static FACTS: Mutex<Option<Facts>> = Mutex::new(None);

/// Keeps a copy of what the run knows so far, for a failure that does not
/// come back through the steps (a panic).
pub fn note(facts: &Facts) {
    *FACTS.lock().unwrap_or_else(|e| e.into_inner()) = Some(facts.clone());
}

/// The facts last [`note`]d (defaults when none).
pub fn noted() -> Facts {
    FACTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
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
        let _ = writeln!(
            f,
            "<3>{}error: {}",
            log::PREFIX,
            log::one_line(&format!("{err:#}"))
        );
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a Boot Loader Interface boot loader (systemd-boot) booted us:
/// it sets `LoaderInfo` and `LoaderEntrySelected` on every boot.
pub fn boot_loader_interface(efivars: &Path) -> bool {
    [trial::LOADER_INFO, trial::LOADER_ENTRY_SELECTED]
        .iter()
        .any(|v| efivars.join(efivar::file_name(v, LOADER_GUID)).exists())
}

/// Points the boot loader at the fallback entry for the next boot and
/// returns what was done, in words (for the log and the record):
///
/// 1. with a Boot Loader Interface loader (systemd-boot) and efivarfs:
///    `LoaderEntryOneShot` = `ID.conf` (systemd-boot's type #1 entry ids are
///    file names; it drops the boot counter and compares case-insensitively);
/// 2. else with `[boot] grubenv` on the mounted boot filesystem:
///    `next_entry=ID` (blscfg's menu entry ids are the file names without
///    `.conf`), and `boot_counter` unset so that Fedora's fallback counting,
///    which would override `next_entry` with menu entry 1, stays out;
/// 3. else nothing: the reboot leaves the choice to the boot loader (boot
///    counting marks the entry bad after its tries).
///
/// Never fails: a step that cannot be done is logged and the next is tried.
pub fn point_to_fallback(
    config: &Config,
    kver: Option<&str>,
    efivars: Option<&Path>,
    boot: Option<&Path>,
) -> String {
    let Some(id) =
        kver.and_then(|k| trial::fallback_entry_id(config.boot.fallback_entry.as_deref(), k))
    else {
        return "no fallback entry is configured ([boot] fallback_entry); rebooting leaves the choice to the boot loader".into();
    };
    if let Some(dir) = efivars.filter(|d| boot_loader_interface(d)) {
        let value = format!("{id}.conf");
        match efivar::write_string(dir, trial::LOADER_ENTRY_ONESHOT, LOADER_GUID, &value) {
            Ok(()) => return format!("{}={value}", trial::LOADER_ENTRY_ONESHOT),
            Err(e) => warn!("cannot point systemd-boot at the fallback entry: {e:#}"),
        }
    }
    if let (Some(env), Some(boot)) = (config.boot.grubenv.as_deref(), boot) {
        let path = boot.join(env.trim_start_matches('/'));
        let res = GrubEnv::load(&path).and_then(|mut g| {
            g.set(grubenv::NEXT_ENTRY, &id)?;
            g.unset(grubenv::BOOT_COUNTER);
            g.store(&path)
        });
        match res {
            Ok(()) => return format!("grubenv {}={id}", grubenv::NEXT_ENTRY),
            Err(e) => warn!("cannot point GRUB at the fallback entry: {e:#}"),
        }
    }
    format!(
        "cannot point the boot loader at {id} (no systemd-boot EFI variables, no usable grubenv); rebooting leaves the choice to boot counting"
    )
}

/// The record of `err` with what the facts say.
pub fn record(err: &anyhow::Error, mode: &str, facts: &Facts, action: &str) -> FailureRecord {
    let kver = facts.kver.clone().unwrap_or_default();
    FailureRecord {
        time: now(),
        kver: kver.clone(),
        mode: mode.to_string(),
        step: trial::step_of(err),
        error: log::one_line(&format!("{err:#}")),
        entry: facts.efivars.as_deref().and_then(|d| {
            efivar::read_string(d, trial::LOADER_ENTRY_SELECTED, LOADER_GUID)
                .ok()
                .flatten()
        }),
        fallback_entry: trial::fallback_entry_id(
            facts.config.boot.fallback_entry.as_deref(),
            &kver,
        ),
        action: action.to_string(),
        handled: None,
        previous_default: None,
    }
}

/// Writes `rec` where the next boot can read it: the EFI variable (when
/// `efivars` is given), `RECORD_FILE` at the root of `boot` (synced), and
/// `run` (the `/run` note). Returns the places written, in words. Never
/// fails: a place that cannot be written is logged.
pub fn remember(
    rec: &FailureRecord,
    efivars: Option<&Path>,
    boot: Option<&Path>,
    run: Option<&Path>,
) -> Vec<String> {
    let text = rec.to_text();
    let mut done = Vec::new();
    if let Some(dir) = efivars {
        match efivar::write(
            dir,
            trial::RECORD_EFIVAR,
            INITOVERLAYFS_GUID,
            text.as_bytes(),
        ) {
            Ok(()) => done.push(format!(
                "EFI variable {}",
                efivar::file_name(trial::RECORD_EFIVAR, INITOVERLAYFS_GUID)
            )),
            Err(e) => warn!("cannot record the failure: {e:#}"),
        }
    }
    let write_synced = |p: &Path| -> std::io::Result<()> {
        use std::io::Write;
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let mut f = std::fs::File::create(p)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    if let Some(boot) = boot {
        let p = boot.join(trial::RECORD_FILE);
        match write_synced(&p) {
            Ok(()) => done.push(p.display().to_string()),
            Err(e) => warn!("cannot record the failure in {}: {e}", p.display()),
        }
    }
    if let Some(p) = run {
        let _ = write_synced(p);
    }
    done
}

/// The whole failure handling short of the reboot: the failure line is
/// already printed; record the failure and, with the fallback policy,
/// point the boot loader at the fallback entry (see the module docs).
/// Returns the record.
pub fn handle(
    err: &anyhow::Error,
    mode: &str,
    facts: &Facts,
    run_record: Option<&Path>,
) -> FailureRecord {
    let policy = facts.config.boot.failure;
    let action = match policy {
        FailurePolicy::Fallback => point_to_fallback(
            &facts.config,
            facts.kver.as_deref(),
            facts.efivars.as_deref(),
            facts.boot.as_deref(),
        ),
        FailurePolicy::Shell => "none: [boot] failure = \"shell\" waits for a person".into(),
    };
    let rec = record(err, mode, facts, &action);
    let places = remember(
        &rec,
        facts.efivars.as_deref(),
        facts.boot.as_deref(),
        run_record,
    );
    match places.is_empty() {
        true => error!("failure not recorded: no EFI variables and no boot filesystem to write to"),
        false => info!("failure recorded in {}", places.join(" and ")),
    }
    if policy == FailurePolicy::Fallback {
        error!("falling back to the original initramfs: {action}");
    }
    rec
}

/// Waits `delay`, then reboots; as pid 1 it retries forever, otherwise it
/// returns when the reboot is refused (not root).
pub fn reboot_after(delay: Duration, pid1: bool) {
    error!("rebooting in {} s", delay.as_secs());
    std::thread::sleep(delay);
    loop {
        let e = sys::reboot();
        error!("reboot failed: {e}");
        if !pid1 {
            return;
        }
        std::thread::sleep(REBOOT_DELAY);
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

/// pid1 failure handling (see the module docs): report, record, then the
/// fallback reboot or the emergency shell. `merged`: the overlay mount
/// point, whose `/bin/sh` is preferred when present.
pub fn pid1(err: &anyhow::Error, facts: &Facts, merged: &Path) -> ! {
    report(err);
    handle(err, "pid1", facts, Some(Path::new(RUN_RECORD)));
    if facts.config.boot.failure == FailurePolicy::Fallback {
        reboot_after(FALLBACK_DELAY, true);
        unreachable!("reboot_after retries forever as pid 1");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn config(fallback: Option<&str>, grubenv: Option<&str>) -> Config {
        let mut c = Config::default();
        c.boot.fallback_entry = fallback.map(str::to_string);
        c.boot.grubenv = grubenv.map(str::to_string);
        c
    }

    fn bli(dir: &Path, selected: &str) {
        efivar::write_string(dir, trial::LOADER_ENTRY_SELECTED, LOADER_GUID, selected).unwrap();
    }

    #[test]
    fn systemd_boot_gets_the_oneshot_variable() {
        let efi = tempfile::tempdir().unwrap();
        bli(efi.path(), "m-6.1+2-1.conf");
        let c = config(Some("m-without_initoverlayfs.{kver}"), None);
        let action = point_to_fallback(&c, Some("6.1"), Some(efi.path()), None);
        assert_eq!(
            action,
            "LoaderEntryOneShot=m-without_initoverlayfs.6.1.conf"
        );
        let raw = fs::read(
            efi.path()
                .join("LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"),
        )
        .unwrap();
        assert_eq!(&raw[..4], &[7, 0, 0, 0]);
        assert_eq!(
            efivar::decode_utf16(&raw[4..]).unwrap(),
            "m-without_initoverlayfs.6.1.conf"
        );
        assert_eq!(*raw.last().unwrap(), 0);
    }

    #[test]
    fn grub_gets_next_entry_and_loses_its_counter() {
        let boot = tempfile::tempdir().unwrap();
        fs::create_dir(boot.path().join("grub2")).unwrap();
        let env = boot.path().join("grub2/grubenv");
        let mut g = GrubEnv::new();
        g.set("saved_entry", "m-6.1").unwrap();
        g.set(grubenv::BOOT_COUNTER, "0").unwrap();
        g.create(&env).unwrap();
        // efivarfs without a Boot Loader Interface loader (GRUB on UEFI).
        let efi = tempfile::tempdir().unwrap();
        fs::write(
            efi.path()
                .join("Boot0000-8be4df61-93ca-11d2-aa0d-00e098032b8c"),
            [7, 0, 0, 0],
        )
        .unwrap();
        let c = config(
            Some("m-without_initoverlayfs.{kver}"),
            Some("/grub2/grubenv"),
        );
        let action = point_to_fallback(&c, Some("6.1"), Some(efi.path()), Some(boot.path()));
        assert_eq!(action, "grubenv next_entry=m-without_initoverlayfs.6.1");
        let g = GrubEnv::load(&env).unwrap();
        assert_eq!(
            g.get(grubenv::NEXT_ENTRY),
            Some("m-without_initoverlayfs.6.1")
        );
        assert_eq!(g.get(grubenv::BOOT_COUNTER), None);
        assert_eq!(g.get("saved_entry"), Some("m-6.1"));
        assert!(!efi
            .path()
            .join("LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
            .exists());
    }

    #[test]
    fn without_a_way_to_point_it_says_so() {
        let c = config(Some("m-x.{kver}"), Some("/grub2/grubenv"));
        let boot = tempfile::tempdir().unwrap(); // no grubenv there
        let a = point_to_fallback(&c, Some("6.1"), None, Some(boot.path()));
        assert!(a.contains("cannot point the boot loader at m-x.6.1"), "{a}");
        let a = point_to_fallback(&config(None, None), Some("6.1"), None, None);
        assert!(a.contains("no fallback entry is configured"), "{a}");
    }

    #[test]
    fn handle_records_everywhere_and_honours_the_shell_policy() {
        let efi = tempfile::tempdir().unwrap();
        bli(efi.path(), "m-6.1+2-1.conf");
        let boot = tempfile::tempdir().unwrap();
        let run = tempfile::tempdir().unwrap();
        let run_rec = run.path().join("initoverlayfs/failure");
        let mut facts = Facts {
            config: config(Some("m-without_initoverlayfs.{kver}"), None),
            kver: Some("6.1".into()),
            boot: Some(boot.path().to_path_buf()),
            efivars: Some(efi.path().to_path_buf()),
        };
        let err = anyhow::anyhow!("Invalid argument (os error 22)")
            .context("mount /dev/loop0 on /initrofs as erofs read-only")
            .context("mount image");
        let rec = handle(&err, "systemd", &facts, Some(&run_rec));
        assert_eq!(rec.step, "mount image");
        assert_eq!(
            rec.error,
            "mount image: mount /dev/loop0 on /initrofs as erofs read-only: Invalid argument (os error 22)"
        );
        assert_eq!(rec.entry.as_deref(), Some("m-6.1+2-1.conf"));
        assert_eq!(
            rec.fallback_entry.as_deref(),
            Some("m-without_initoverlayfs.6.1")
        );
        assert_eq!(
            rec.action,
            "LoaderEntryOneShot=m-without_initoverlayfs.6.1.conf"
        );
        assert!(rec.time > 1_700_000_000);
        let from_file = FailureRecord::parse(
            &fs::read_to_string(boot.path().join(trial::RECORD_FILE)).unwrap(),
        )
        .unwrap();
        let from_efi = efivar::read(efi.path(), trial::RECORD_EFIVAR, INITOVERLAYFS_GUID)
            .unwrap()
            .unwrap();
        let from_efi = FailureRecord::parse(std::str::from_utf8(&from_efi).unwrap()).unwrap();
        let from_run = FailureRecord::parse(&fs::read_to_string(&run_rec).unwrap()).unwrap();
        assert_eq!(from_file, rec);
        assert_eq!(from_efi, rec);
        assert_eq!(from_run, rec);

        // The shell policy records too, but leaves the boot loader alone.
        efivar::remove(efi.path(), trial::LOADER_ENTRY_ONESHOT, LOADER_GUID).unwrap();
        facts.config.boot.failure = FailurePolicy::Shell;
        let rec = handle(&err, "pid1", &facts, None);
        assert!(rec.action.contains("shell"), "{}", rec.action);
        assert!(!efi
            .path()
            .join("LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
            .exists());
        let from_file = FailureRecord::parse(
            &fs::read_to_string(boot.path().join(trial::RECORD_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(from_file.mode, "pid1");
    }
}
