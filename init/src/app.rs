//! The program: parse the command line, pick the mode, run the steps in
//! order and apply the failure policy ([`crate::failure`]): the failure is
//! recorded and, by default, the boot loader pointed at the fallback entry
//! before the reboot. `--on-failure` is the systemd-mode failure unit's
//! entry: it applies the same policy for failures the program did not
//! handle itself (a crash, a failed switch-root).
//!
//! Steps and the names that start their failure lines: `early mounts`,
//! `read config`, `load modules`, `find bootfs`, `mount bootfs`,
//!, `check bootfs` (test mode), `attach image`, `mount image`,
//! `mount overlay`, `detach layers`, `move boot`, `switch root`, `exec init`.
//!
//! Log lines worth grepping (kmsg in pid1 mode, stderr otherwise):
//! `initoverlayfs: starting (pid1 mode, version …)` first,
//! `initoverlayfs: ready in N ms` when the overlay is complete, then in pid1
//! mode `initoverlayfs: exec /sbin/init …` just before init runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cli::{self, Action, Cli};
use crate::config::{Config, FailurePolicy, CONFIG_PATH};
use crate::failure::Facts;
use crate::log::{self, Sink};
use crate::modules::{Coldplug, Modprobe};
use crate::mounts::{self, MountStack};
use crate::resolve::Resolver;
use crate::setup::{self, Layout};
use crate::spec::DeviceSpec;
use crate::udev::Udev;
use crate::{cmdline, early, efivar, failure, info, switchroot, sys, warn};

/// How the program runs (see [`crate::cli`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `/init` of the mini initramfs.
    Pid1,
    /// Run by `pre-initoverlayfs.service`.
    Systemd,
    /// `--prefix DIR` test run.
    Prefix(PathBuf),
}

impl Mode {
    /// The mode for `cli`.
    pub fn of(cli: &Cli) -> Mode {
        match (&cli.prefix, cli.systemd) {
            (Some(p), _) => Mode::Prefix(p.clone()),
            (None, true) => Mode::Systemd,
            (None, false) => Mode::Pid1,
        }
    }

    /// The directory all paths live under.
    pub fn root(&self) -> &Path {
        match self {
            Mode::Prefix(p) => p,
            _ => Path::new("/"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Mode::Pid1 => "pid1",
            Mode::Systemd => "systemd",
            Mode::Prefix(_) => "test (--prefix)",
        }
    }
}

/// Runs `f` as step `name`: its error gets `name` as the first context.
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    f().with_context(|| name.to_string())
}

/// Entry point: `argv` includes the program name. Returns the exit status
/// (0 ok, 1 failure, 2 usage). As pid 1 it never returns; in systemd mode a
/// failure with `[boot] failure = "fallback"` ends in a reboot.
pub fn main(argv: Vec<String>) -> i32 {
    let pid1 = sys::pid() == 1;
    let cli = match cli::parse(argv.get(1..).unwrap_or(&[]), pid1) {
        Ok(Action::Run(cli)) => cli,
        Ok(Action::Help) => {
            print!("{}", cli::USAGE);
            return 0;
        }
        Ok(Action::Version) => {
            println!("initoverlayfs {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(e) => {
            eprintln!("{}error: {e:#}", log::PREFIX);
            return 2;
        }
    };
    let mode = Mode::of(&cli);
    if mode == Mode::Pid1 && !pid1 && !cli.no_switch_root {
        eprintln!(
            "{}error: pid1 mode switches root and must run as pid 1; use --systemd, or --prefix DIR --no-switch-root",
            log::PREFIX
        );
        return 2;
    }
    if cli.on_failure {
        return on_failure();
    }
    if pid1 || mode == Mode::Systemd {
        let hook_mode = mode.clone();
        std::panic::set_hook(Box::new(move |p| {
            let err = anyhow::anyhow!("internal error: {p}");
            let code = fail(&err, &hook_mode, &failure::noted());
            std::process::exit(code);
        }));
    }
    let mut facts = Facts {
        efivars: efivars_dir(&mode),
        ..Facts::default()
    };
    // pid1: a failure keeps what is mounted (the emergency shell may be the image's).
    let mut stack = MountStack::new(mode != Mode::Pid1);
    let code = match run(&cli, &mode, &mut facts, &mut stack) {
        Ok(()) if !pid1 => 0,
        Ok(()) => fail(
            &anyhow::anyhow!("--no-switch-root given to pid 1; nothing to hand over to"),
            &mode,
            &facts,
        ),
        Err(e) => fail(&e, &mode, &facts),
    };
    drop(stack);
    code
}

/// The efivarfs directory a mode uses for the failure handling: the
/// kernel's in pid1 and systemd mode, `DIR/sys/firmware/efi/efivars` in
/// test mode (when a test made one).
fn efivars_dir(mode: &Mode) -> Option<PathBuf> {
    match mode {
        Mode::Prefix(p) => {
            let d = p.join(efivar::EFIVARS.trim_start_matches('/'));
            efivar::available(&d).then_some(d)
        }
        _ => Some(PathBuf::from(efivar::EFIVARS)),
    }
}

/// Whether we run in an initramfs: `/etc/initrd-release` exists, which is
/// what systemd checks (`in_initrd()`) and what the dracut module provides.
/// The failure handling touches EFI variables and reboots only there, never
/// on a running system (a test, or someone running the program by hand).
pub fn in_initrd() -> bool {
    Path::new("/etc/initrd-release").exists()
}

/// Makes efivarfs usable for the failure handling (pid1 and systemd mode:
/// mounted and the module loaded if need be); None without UEFI variables,
/// and outside an initramfs ([`in_initrd`]).
fn usable_efivars(mode: &Mode, facts: &Facts) -> Option<PathBuf> {
    match mode {
        Mode::Prefix(_) => facts.efivars.clone(),
        _ if !in_initrd() => {
            warn!("not in an initramfs (no /etc/initrd-release): leaving EFI variables alone");
            None
        }
        _ => {
            let modprobe = Modprobe::find();
            efivar::mount_efivarfs(&|m| {
                modprobe.load(&[m.to_string()]);
            })
            .then(|| PathBuf::from(efivar::EFIVARS))
        }
    }
}

/// Applies the failure policy to `err` (see [`crate::failure`]); returns
/// the exit status where the mode returns at all.
fn fail(err: &anyhow::Error, mode: &Mode, facts: &Facts) -> i32 {
    let mut facts = facts.clone();
    facts.efivars = usable_efivars(mode, &facts);
    match mode {
        Mode::Pid1 => failure::pid1(err, &facts, &Layout::new(mode.root()).merged()),
        Mode::Systemd => {
            failure::report(err);
            failure::report_to_kmsg(err);
            failure::handle(err, "systemd", &facts, Some(Path::new(failure::RUN_RECORD)));
            if facts.config.boot.failure == FailurePolicy::Fallback {
                reboot_if_initrd();
            }
            1
        }
        Mode::Prefix(_) => {
            failure::report(err);
            failure::handle(err, "test", &facts, None);
            if facts.config.boot.failure == FailurePolicy::Fallback {
                info!("test mode (--prefix): not rebooting");
            }
            1
        }
    }
}

/// systemd mode: reboots after [`failure::FALLBACK_DELAY`] when in an
/// initramfs; elsewhere says why not and returns.
fn reboot_if_initrd() {
    if in_initrd() {
        failure::reboot_after(failure::FALLBACK_DELAY, false);
    } else {
        warn!("not in an initramfs (no /etc/initrd-release): not rebooting");
    }
}

/// `--on-failure` (systemd mode, `pre-initoverlayfs-failure.service`, the
/// `OnFailure=` of our two services): when the program already handled
/// the failure (its note in `/run`), or the policy is `shell`, exits 1 so
/// that the unit's own `OnFailure=emergency.target` takes over; otherwise
/// (a crash, a failed switch-root) records the failure, points the boot
/// loader at the fallback entry and reboots.
fn on_failure() -> i32 {
    let mut facts = Facts::default();
    let (config, _) = load_config(Path::new("/"));
    facts.config = config;
    facts.kver = sys::kernel_release().ok();
    if let Some(rec) = std::fs::read_to_string(failure::RUN_RECORD)
        .ok()
        .and_then(|t| crate::trial::FailureRecord::parse(&t).ok())
    {
        info!(
            "the failure of this boot was handled already ({}: {})",
            rec.step, rec.action
        );
        if facts.config.boot.failure == FailurePolicy::Fallback {
            // The program was about to reboot and did not (or was stopped).
            reboot_if_initrd();
        }
        return 1;
    }
    let unit =
        std::env::var("MONITOR_UNIT").unwrap_or_else(|_| "a unit of the mini initramfs".into());
    let result = std::env::var("MONITOR_SERVICE_RESULT").unwrap_or_else(|_| "failed".into());
    let err = anyhow::anyhow!("{unit} failed ({result})").context("systemd unit");
    if facts.config.boot.failure == FailurePolicy::Shell {
        failure::report(&err);
        failure::handle(
            &err,
            "systemd",
            &Facts {
                efivars: usable_efivars(&Mode::Systemd, &facts),
                ..facts
            },
            Some(Path::new(failure::RUN_RECORD)),
        );
        info!("[boot] failure = \"shell\": handing over to emergency.target");
        return 1;
    }
    fail(&err, &Mode::Systemd, &facts)
}

/// Reads the config under `root` and applies the kernel command line;
/// returns it with the command line overrides (defaults when the file is
/// unreadable: the failure handling still needs a policy).
fn load_config(root: &Path) -> (Config, cmdline::Overrides) {
    let mut config = Config::load(&root.join(CONFIG_PATH)).unwrap_or_default();
    let overrides = cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    overrides.apply(&mut config);
    (config, overrides)
}

/// Runs the steps; in pid1 mode (with switch root) ends in exec of init,
/// so `Ok` only comes back from systemd and test runs. `facts` collects
/// what the failure handling needs as the steps learn it; `stack` holds the
/// mounts made, so that on an error the boot filesystem is still mounted
/// while the failure is handled, and unmounted when the caller drops it.
pub fn run(cli: &Cli, mode: &Mode, facts: &mut Facts, stack: &mut MountStack) -> Result<()> {
    let start = Instant::now();
    let root = mode.root();
    if *mode == Mode::Pid1 {
        step("early mounts", early::mount_api_filesystems)?;
        log::set_sink(Sink::Kmsg);
    }
    info!(
        "starting ({} mode, version {})",
        mode.name(),
        env!("CARGO_PKG_VERSION")
    );

    let config_path = root.join(CONFIG_PATH);
    let overrides = cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    // Until the file is read, the failure handling goes by the defaults and
    // the command line (rd.initoverlayfs.failure=).
    overrides.apply(&mut facts.config);
    failure::note(facts);
    let mut config = step("read config", || Config::load(&config_path))?;
    overrides.apply(&mut config);
    // The command line's values must pass the same checks as the file's.
    step("read config", || {
        config
            .validate()
            .context("after the rd.initoverlayfs.* overrides")
    })?;
    facts.config = config.clone();
    failure::note(facts);
    if let Some(d) = overrides.debug {
        log::set_debug(d);
    }
    if let Some(shell) = overrides.shell {
        failure::set_emergency_shell(shell);
    }
    for w in &overrides.warnings {
        warn!("kernel command line: {w}");
    }
    let kver = step("read config", || sys::kernel_release().context("uname"))?;
    facts.kver = Some(kver.clone());
    failure::note(facts);
    info!(
        "config {}: bootfs={} hint={} bootfstype={} options={} image={} ({}) timeout={} s",
        config_path.display(),
        config.boot.bootfs.as_deref().unwrap_or("(none)"),
        config.boot.bootfs_hint.as_deref().unwrap_or("(none)"),
        config.boot.bootfstype.as_deref().unwrap_or("(auto)"),
        config.boot.options.as_deref().unwrap_or("(none)"),
        config.image.path_for(&kver),
        config.image.fstype,
        config.boot.timeout
    );

    let layout = Layout::new(root);
    if let Mode::Prefix(_) = mode {
        step("check bootfs", || {
            let boot = layout.boot();
            if !boot.is_dir() {
                bail!(
                    "{} is not a directory (test mode takes it as the mounted boot filesystem)",
                    boot.display()
                );
            }
            Ok(())
        })?;
        facts.boot = Some(layout.boot());
    } else {
        let udev = *mode == Mode::Systemd;
        let modprobe = Modprobe::find();
        let mut coldplug = Coldplug::new(Path::new("/"), modprobe.clone());
        let mut udevadm = Udev::find();
        step("load modules", || {
            let mut names = vec![
                "loop".to_string(),
                config.image.fstype.clone(),
                "overlay".to_string(),
            ];
            names.extend(config.boot.bootfstype.clone());
            // The bootfs disk's drivers, if the installer named them: loaded
            // now instead of waiting for coldplug/udev to find them.
            names.extend(config.boot.drivers.iter().cloned());
            modprobe.load(&names);
            info!("modules requested: {}", names.join(" "));
            if udev {
                udevadm.trigger_storage();
            } else if config.boot.drivers.is_empty() {
                let n = coldplug.pass();
                info!("coldplug: {n} modaliases");
            } else {
                // The named drivers normally bring up the disk; coldplug
                // only if it has not appeared at the first look (below).
                info!("coldplug: only if the boot device is missing ([boot] drivers named)");
            }
            Ok(())
        })?;
        let device = step("find bootfs", || {
            let text = config.boot.bootfs.as_deref().context(
                "no boot filesystem configured: set [boot] bootfs in /etc/initoverlayfs.conf or rd.initoverlayfs.bootfs=",
            )?;
            let spec: DeviceSpec = text.parse()?;
            let mut resolver = Resolver::new(Path::new("/"), udev);
            let timeout = Duration::from_secs(config.boot.timeout);
            let node = resolver.wait(
                &spec,
                config.boot.bootfs_hint.as_deref(),
                timeout,
                &mut |elapsed| {
                    if udev {
                        udevadm.tick(elapsed);
                    } else {
                        coldplug.pass();
                    }
                },
            )?;
            info!("found {spec} at {}", node.display());
            Ok(node)
        })?;
        // Before any of our mounts exist, so they are all created private.
        if let Err(e) = mounts::make_private(Path::new("/")) {
            warn!("{e:#}; moving /boot may fail");
        }
        step("mount bootfs", || {
            let fstype = match &config.boot.bootfstype {
                Some(t) => t.clone(),
                None => {
                    let t = setup::detect_fstype(&device)?;
                    modprobe.load(std::slice::from_ref(&t));
                    t
                }
            };
            setup::mount_bootfs(
                &layout,
                &device,
                &fstype,
                config.boot.options.as_deref(),
                stack,
            )
        })?;
        facts.boot = Some(layout.boot());
        failure::note(facts);
    }

    let lo = step("attach image", || {
        setup::attach_image(&layout, &config, &kver, Path::new("/dev"))
    })?;
    step("mount image", || {
        setup::mount_image(&layout, &lo, &config.image.fstype, stack)
    })?;
    drop(lo); // the mount now holds the device; unmounting releases it (autoclear)
    step("mount overlay", || setup::mount_overlay(&layout, stack))?;
    step("detach layers", || setup::detach_layers(&layout, stack))?;
    step("move boot", || setup::move_boot(&layout, stack))?;
    facts.boot = Some(layout.merged().join("boot"));
    failure::note(facts);
    stack.keep();
    info!(
        "ready in {} ms: {}",
        start.elapsed().as_millis(),
        layout.merged().display()
    );

    if cli.no_switch_root || *mode != Mode::Pid1 {
        return Ok(());
    }
    step("switch root", || switchroot::switch_root(&layout.merged()))?;
    // The merged tree is `/` now, the boot filesystem at `/boot`.
    facts.boot = Some(PathBuf::from("/boot"));
    failure::note(facts);
    step("exec init", || switchroot::exec_init(&cli.init_args))
}
