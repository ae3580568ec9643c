//! The program: parse the command line, pick the mode, run the steps in
//! order and apply the failure policy ([`crate::failure`]).
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
use crate::config::{Config, CONFIG_PATH};
use crate::log::{self, Sink};
use crate::modules::{Coldplug, Modprobe};
use crate::mounts::{self, MountStack};
use crate::resolve::Resolver;
use crate::setup::{self, Layout};
use crate::spec::DeviceSpec;
use crate::udev::Udev;
use crate::{cmdline, early, failure, info, switchroot, sys, warn};

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
/// (0 ok, 1 failure, 2 usage). As pid 1 it never returns.
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
    if pid1 {
        std::panic::set_hook(Box::new(|p| {
            failure::pid1(
                &anyhow::anyhow!("internal error: {p}"),
                &Layout::new(Path::new("/")).merged(),
            )
        }));
    }
    match run(&cli, &mode) {
        Ok(()) if !pid1 => 0,
        Ok(()) => failure::pid1(
            &anyhow::anyhow!("--no-switch-root given to pid 1; nothing to hand over to"),
            &Layout::new(mode.root()).merged(),
        ),
        Err(e) if pid1 => failure::pid1(&e, &Layout::new(mode.root()).merged()),
        Err(e) => {
            failure::report(&e);
            if mode == Mode::Systemd {
                failure::report_to_kmsg(&e);
            }
            1
        }
    }
}

/// Runs the steps; in pid1 mode (with switch root) ends in exec of init,
/// so `Ok` only comes back from systemd and test runs.
pub fn run(cli: &Cli, mode: &Mode) -> Result<()> {
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
    let mut config = step("read config", || Config::load(&config_path))?;
    let overrides = cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    overrides.apply(&mut config);
    // The command line's values must pass the same checks as the file's.
    step("read config", || {
        config
            .validate()
            .context("after the rd.initoverlayfs.* overrides")
    })?;
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
    // pid1: a failure keeps what is mounted (the emergency shell may be the image's).
    let mut stack = MountStack::new(*mode != Mode::Pid1);
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
                &mut stack,
            )
        })?;
    }

    let lo = step("attach image", || {
        setup::attach_image(&layout, &config, &kver, Path::new("/dev"))
    })?;
    step("mount image", || {
        setup::mount_image(&layout, &lo, &config.image.fstype, &mut stack)
    })?;
    drop(lo); // the mount now holds the device; unmounting releases it (autoclear)
    step("mount overlay", || {
        setup::mount_overlay(&layout, &mut stack)
    })?;
    step("detach layers", || {
        setup::detach_layers(&layout, &mut stack)
    })?;
    step("move boot", || setup::move_boot(&layout, &mut stack))?;
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
    step("exec init", || switchroot::exec_init(&cli.init_args))
}
