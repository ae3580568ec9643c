//! Everything the check and the install need to know about the target,
//! gathered once before anything is written.

use anyhow::{Context, Result};
use initoverlayfs::config::{Compression, Config, InitMode};
use initoverlayfs::spec::DeviceSpec;

use crate::cli::Cli;
use crate::conf::{self, Existing};
use crate::drivers::{self, DriversArg, Origin};
use crate::entries::{self, EntryFile};
use crate::initramfs::{self, CurrentInitrd};
use crate::kernel::{self, KernelSupport};
use crate::layout::{self, BootRoot, Layout};
use crate::loader::{self, BootLoader};
use crate::osrelease::OsRelease;
use crate::target::Target;
use crate::tools::{self, Tools};
use crate::{bootfs, compression, kver, space};

/// The result of detection.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The target.
    pub target: Target,
    /// Kernel release installed for.
    pub kver: String,
    /// os-release of the target.
    pub os: OsRelease,
    /// Layout.
    pub layout: Layout,
    /// `$BOOT`.
    pub boot_root: BootRoot,
    /// BLS entries found in `$BOOT/loader/entries`.
    pub entries: Vec<EntryFile>,
    /// Entry files skipped as unreadable (what and why), as systemd skips them.
    pub skipped_entries: Vec<String>,
    /// The entry token (kernel-install's: entry-token file, machine-id, os ID).
    pub token: Option<String>,
    /// The existing config file.
    pub existing: Existing,
    /// The config an install would write.
    pub config: Config,
    /// Where `config.boot.drivers` came from (`--drivers`, the file, auto).
    pub drivers: Origin,
    /// Kernel support.
    pub kernel: KernelSupport,
    /// Build tools.
    pub tools: Tools,
    /// The chosen compression, or why the requested one is impossible.
    pub compression: Result<Compression, String>,
    /// The current initramfs of kver.
    pub initrd: Option<CurrentInitrd>,
    /// Free bytes on /boot, or why unknown.
    pub free: Result<u64, String>,
    /// What decides whether boot finds `/boot` as `config` says (live: the
    /// mounts and the spec's device; offline: the fstab), or why unknown.
    pub bootfs: Result<bootfs::Facts, String>,
    /// The boot loader reading the entries (decides how the trial is counted).
    pub loader: BootLoader,
    /// The boot counter a new trial gets and where it came from, or why it
    /// cannot be read (`/etc/kernel/tries` not a number).
    pub tries: Result<(u32, String), String>,
    /// The efivarfs directory (live UEFI boots only, or the test hook).
    pub efivars: Option<std::path::PathBuf>,
}

impl Detection {
    /// The entry booting kver today.
    pub fn entry(&self) -> Option<&EntryFile> {
        entries::find_for_kver(&self.entries, &self.kver)
    }

    /// The boot counter a new trial gets (0: none, also when unreadable;
    /// the `trial` check fails then).
    pub fn tries(&self) -> u32 {
        self.tries.as_ref().map_or(0, |t| t.0)
    }
}

/// The id of the main entry of `kver`: the existing entry's, else the one
/// an install creates (`TOKEN-KVER`).
pub fn main_entry_id(entry: Option<&EntryFile>, token: Option<&str>, kver: &str) -> String {
    match entry {
        Some(e) => e.id().to_string(),
        None => format!("{}-{kver}", token.unwrap_or("linux")),
    }
}

/// `[boot] fallback_entry` for the fallback of main entry `main_id`: the
/// fallback's id ([`entries::fallback_id`]) with the kernel release written
/// `{kver}`, so one config serves every kernel whose entries follow the
/// same pattern.
pub fn fallback_template(main_id: &str, kver: &str) -> String {
    entries::fallback_id(main_id).replace(kver, initoverlayfs::config::KVER_PLACEHOLDER)
}

/// kernel-install's entry token: `KERNEL_INSTALL_ENTRY_TOKEN`,
/// `/etc/kernel/entry-token`, `KERNEL_INSTALL_MACHINE_ID`, `/etc/machine-id`,
/// then os-release `IMAGE_ID`/`ID`.
pub fn entry_token(target: &Target, os: &OsRelease) -> Result<Option<String>> {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(t) = env("KERNEL_INSTALL_ENTRY_TOKEN") {
        return Ok(Some(t));
    }
    if let Some(t) = target.read_opt("/etc/kernel/entry-token")? {
        if !t.trim().is_empty() {
            return Ok(Some(t.trim().to_string()));
        }
    }
    if let Some(t) = env("KERNEL_INSTALL_MACHINE_ID") {
        return Ok(Some(t));
    }
    if let Some(t) = target.read_opt("/etc/machine-id")? {
        let t = t.trim();
        if !t.is_empty() && t != "uninitialized" {
            return Ok(Some(t.to_string()));
        }
    }
    Ok(os.get("IMAGE_ID").or(os.get("ID")).map(str::to_string))
}

/// [`detect`] with the command line's `--kver`, `--compression`,
/// `--init-mode` and `--drivers`.
///
/// Errors: as [`detect`].
pub fn for_cli(target: &Target, cli: &Cli) -> Result<Detection> {
    detect(
        target,
        cli.kver.as_deref(),
        cli.compression,
        cli.init_mode,
        cli.drivers.as_ref(),
    )
}

/// Detects everything about `target` for `kver` (None: default kver).
/// `wanted`/`mode`/`drivers_arg` are the command line's compression, init
/// mode and `--drivers`.
///
/// Errors: unreadable fstab, mountinfo, entries directory or config file,
/// no kernel release to install for, or `--drivers auto` offline.
pub fn detect(
    target: &Target,
    kver_arg: Option<&str>,
    wanted: Option<Compression>,
    mode: Option<InitMode>,
    drivers_arg: Option<&DriversArg>,
) -> Result<Detection> {
    drivers::refuse_offline_auto(drivers_arg, target)?;
    let kver = kver::resolve(target, kver_arg)?;
    let os = OsRelease::parse(
        &target
            .read_opt("/etc/os-release")?
            .or(target.read_opt("/usr/lib/os-release")?)
            .unwrap_or_default(),
    );
    let layout = layout::detect(target).context("cannot detect the partition layout")?;
    let boot_root = layout::boot_root(target, &layout)?;
    let entries::Listing {
        entries,
        skipped: skipped_entries,
    } = entries::list(target, &boot_root)?;
    let token = entry_token(target, &os)?;
    let existing = conf::load(target)?;
    let bootfstype = layout.boot.as_ref().map(|b| b.fstype.clone());
    let kernel = kernel::detect(target, &kver, bootfstype.as_deref(), &os)
        .with_context(|| format!("cannot read the kernel config of {kver}"))?;

    // What the file and the command line say, before detection fills the rest.
    let base = conf::merged(&Config::default(), &existing, None, mode, None)?;
    let tools = tools::detect(target, &base);
    let explicit_comp = wanted.or_else(|| {
        conf::is_explicit(&existing, "image", "compression").then_some(base.image.compression)
    });
    let mkfs_algs = tools.mkfs.as_ref().map(|m| m.1.clone()).unwrap_or_default();
    let compression = compression::choose(
        explicit_comp,
        &kernel.compression,
        &mkfs_algs,
        &format!("kernel {kver}"),
    )
    .map_err(|e| format!("{e:#}"));

    let mut detected = Config::default();
    if let Some(b) = &layout.boot {
        detected.boot.bootfs = Some(normalized(&b.source));
        detected.boot.bootfstype = Some(b.fstype.clone());
        detected.boot.options = b.options.clone();
        // A hint must be a path the target machine has: only live, and only
        // when the spec is not already that path.
        if target.live {
            detected.boot.bootfs_hint = b.device.clone().filter(|d| *d != b.source);
        }
    }
    if let Ok(c) = &compression {
        detected.image.compression = *c;
    }
    let (cli_drivers, drivers) = drivers::resolve(
        drivers_arg,
        layout.boot.as_ref(),
        conf::is_explicit(&existing, "boot", "drivers"),
    );
    let mut config = conf::merged(&detected, &existing, wanted, mode, cli_drivers.as_deref())?;
    // A spec from an older file is written back in the form boot parses.
    config.boot.bootfs = config.boot.bootfs.as_deref().map(normalized);
    let boot_mount = layout
        .boot
        .as_ref()
        .map_or("/boot", |b| b.mount_point.as_str());
    let bootfs = bootfs::gather(target, &config, boot_mount).map_err(|e| format!("{e:#}"));

    let entry = entries::find_for_kver(&entries, &kver);
    let initrd = initramfs::discover(target, &boot_root, entry, token.as_deref(), &kver)?;
    let efivars = loader::efivars(target);
    let loader = loader::detect(target, &layout, efivars.as_deref())?;
    // Installer-managed keys: what the boot-time program needs to fall back.
    // The fallback entry exists when there is an original initramfs (else
    // an earlier install's value stays).
    if initrd.is_some() {
        let main_id = main_entry_id(entry, token.as_deref(), &kver);
        config.boot.fallback_entry = Some(fallback_template(&main_id, &kver));
    }
    config.boot.grubenv = match loader.kind {
        loader::Kind::Grub => loader.grubenv_in_bootfs.clone(),
        _ => None,
    };
    let tries = loader::tries(target, config.boot.tries)
        .and_then(|t| loader::check_tries(t.0).map(|()| t))
        .map_err(|e| format!("{e:#}"));
    let free = target
        .path(&boot_root.mount)
        .and_then(|m| space::available(&m))
        .map_err(|e| format!("{e:#}"));
    Ok(Detection {
        target: target.clone(),
        kver,
        os,
        layout,
        boot_root,
        entries,
        skipped_entries,
        token,
        existing,
        config,
        drivers,
        kernel,
        tools,
        compression,
        initrd,
        free,
        bootfs,
        loader,
        tries,
        efivars,
    })
}

/// `spec` in the normalized form of the shared parser (`UUID='x'` →
/// `UUID=x`); as written when it does not parse (the `bootfs` check then
/// fails, naming the parse error).
fn normalized(spec: &str) -> String {
    spec.parse::<DeviceSpec>()
        .map_or_else(|_| spec.to_string(), |s| s.to_string())
}
