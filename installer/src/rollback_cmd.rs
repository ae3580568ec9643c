//! `--rollback [GEN]` and `--list-rollbacks [--json]`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::atomic;
use crate::cli::Cli;
use crate::install::LOCK_PATH;
use crate::interactive;
use crate::lock::Lock;
use crate::rollback::{Record, State, Store};
use crate::target::Target;

/// Runs `--rollback [GEN]` (GEN: default the newest generation).
pub fn rollback(cli: &Cli, generation: Option<u64>) -> Result<ExitCode> {
    let target = Target::new(cli.root.as_deref())?;
    let _lock = Lock::acquire(&target.path(LOCK_PATH)?)?;
    let store = Store::new(&target)?;
    store.clean()?;
    // Entries recorded under a name systemd rejects are renamed (and their
    // records with them) first, so the restore acts on the names on disk.
    crate::entries::migrate_legacy_names(&target, &[], &store)
        .context("cannot rename the fallback entries of an earlier release")?;
    let g = match generation {
        Some(id) => store.get(id)?,
        None => match store.list()?.pop() {
            Some(g) => g,
            None => bail!(
                "no rollback generation in {}: nothing to roll back",
                store.dir.display()
            ),
        },
    };
    store.verify(&g)?;
    if interactive::enabled(cli.yes) {
        let _guard = interactive::CursorGuard::new();
        println!("{}", describe(&g.manifest.files));
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Roll back generation {} (kernel {})?",
                g.manifest.id, g.manifest.kver
            ))
            .default(false)
            .interact()
            .context("prompt failed")?;
        if !ok {
            println!("Cancelled; nothing was changed.");
            return Ok(ExitCode::from(1));
        }
    }
    // What a failed trial of this kernel changed (records, the default
    // entry) belongs to the install being undone; read before the restore
    // removes the config that says where it lives.
    let trial_ctx = crate::trial::Installed::gather(&target).ok();
    store.restore(&target, &g)?;
    let forgotten = match &trial_ctx {
        Some(ctx) => crate::trial::clear_failure(&target, &ctx.places, Some(&g.manifest.kver))
            .unwrap_or_else(|e| {
                vec![format!(
                    "warning: could not clear the failure record ({e:#})"
                )]
            }),
        None => Vec::new(),
    };
    let mut dirs: BTreeSet<String> = ["/boot", "/efi", "/boot/efi"].map(String::from).into();
    for r in &g.manifest.files {
        if let Some(p) = Path::new(&r.path).parent() {
            dirs.insert(p.display().to_string());
        }
    }
    for d in dirs {
        let h = target.path(&d)?;
        if h.is_dir() {
            // Staging files of an install killed mid-way go too.
            atomic::clean_staging(&h)?;
            atomic::flush_for_bootloader(&h)?;
        }
    }
    crate::crash::point("rollback: flushed");
    store.delete(&g)?;
    println!(
        "Rolled back generation {} (kernel {}):\n{}",
        g.manifest.id,
        g.manifest.kver,
        describe(&g.manifest.files)
    );
    for f in forgotten {
        println!("  earlier failed trial: {f}");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(files: &[Record]) -> String {
    files
        .iter()
        .map(|r| match &r.state {
            State::Saved { size, .. } => format!("  restore {} ({size} bytes)", r.path),
            State::Absent => format!("  remove  {}", r.path),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--list-rollbacks --json` element.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    id: u64,
    created: u64,
    date: String,
    kver: &'a str,
    in_effect: bool,
    files: &'a [Record],
}

/// Runs `--list-rollbacks`.
pub fn list(cli: &Cli) -> Result<ExitCode> {
    let target = Target::new(cli.root.as_deref())?;
    let store = Store::new(&target)?;
    let gens = store.list()?;
    let listed: Vec<Listed> = gens
        .iter()
        .map(|g| Listed {
            id: g.manifest.id,
            created: g.manifest.created,
            date: utc(g.manifest.created),
            kver: &g.manifest.kver,
            in_effect: store.in_effect(&target, g),
            files: &g.manifest.files,
        })
        .collect();
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&listed).context("cannot serialize")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        println!("No rollback generations in {}.", store.dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<4} {:<20} {:<32} {:<9} FILES",
        "ID", "DATE (UTC)", "KERNEL", "IN EFFECT"
    );
    for l in &listed {
        let saved = l.files.iter().filter(|r| r.state != State::Absent).count();
        println!(
            "{:<4} {:<20} {:<32} {:<9} {} saved, {} added by the install",
            l.id,
            l.date,
            l.kver,
            if l.in_effect { "yes" } else { "no" },
            saved,
            l.files.len() - saved
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
