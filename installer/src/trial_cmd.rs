//! `--after-boot` and `--bless`: the installed system's side of a trial
//! boot, run by `initoverlayfs-after-boot.service` and
//! `initoverlayfs-bless.service` (see [`crate::trial`]).

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::Cli;
use crate::install::LOCK_PATH;
use crate::lock::Lock;
use crate::target::Target;
use crate::trial::{self, Installed};

fn gather(cli: &Cli) -> Result<(Installed, Lock)> {
    let target = Target::new(cli.root.as_deref())?;
    let lock = Lock::acquire(&target.path(LOCK_PATH)?)?;
    let ctx = Installed::gather(&target).context("cannot read the installed state")?;
    Ok((ctx, lock))
}

/// Runs `--after-boot`: acts once on a failed trial (journal message,
/// fallback entry as the default) and prints what it did.
pub fn after_boot(cli: &Cli) -> Result<ExitCode> {
    let (ctx, _lock) = gather(cli)?;
    let said = trial::after_boot(&ctx, &crate::journal::socket())?;
    println!("initoverlayfs-install: {said}");
    Ok(ExitCode::SUCCESS)
}

/// Runs `--bless`: a GRUB trial that reached `boot-complete.target` is good.
pub fn bless(cli: &Cli) -> Result<ExitCode> {
    let (ctx, _lock) = gather(cli)?;
    let said = trial::bless(&ctx)?;
    println!("initoverlayfs-install: {said}");
    Ok(ExitCode::SUCCESS)
}
