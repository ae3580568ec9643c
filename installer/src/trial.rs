//! Trial boots in the installed system: arming a trial when installing,
//! finding out how the last one went, acting on a failed one in the next
//! boot, and blessing a good one on GRUB.
//!
//! A boot through initoverlayfs is a *trial* until it reaches
//! `boot-complete.target` (see [`crate::loader`] for how each boot loader
//! counts it). When the mini phase fails, the boot-time program leaves a
//! [`FailureRecord`] (EFI variable and/or `/boot/initoverlayfs-failure.txt`,
//! [`initoverlayfs::trial`]) and makes the boot loader start the fallback
//! entry. In that next boot, `initoverlayfs-install --after-boot`
//! (`initoverlayfs-after-boot.service`):
//!
//! 1. logs one journal entry with `MESSAGE_ID=`[`MESSAGE_ID`];
//! 2. makes the fallback entry the default until the next
//!    `initoverlayfs-install`: `LoaderEntryDefault` (systemd-boot) or
//!    grubenv `saved_entry` (GRUB), keeping the old value in the record;
//!    a counted main entry is marked bad (`+0-DONE`), so that boot counting
//!    does not retry it either (the lesson of greenboot#105: a failed
//!    update must not be retried on every boot);
//! 3. marks the record handled (it stays for `--check`).
//!
//! It also notices failures that left no record (the boot never reached a
//! writable place): a main entry whose counter ran out, or GRUB's
//! `boot_counter=-1`. The next install ([`clear_failure`]) removes the
//! records and restores the default it changed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use initoverlayfs::config::Config;
use initoverlayfs::efivar::{self, INITOVERLAYFS_GUID, LOADER_GUID};
use initoverlayfs::grubenv::{self, GrubEnv};
use initoverlayfs::trial::{
    FailureRecord, LOADER_ENTRY_DEFAULT, LOADER_ENTRY_SELECTED, MESSAGE_ID, RECORD_EFIVAR,
    RECORD_FILE,
};
use serde::Serialize;

use crate::atomic;
use crate::bls::{self, Counter};
use crate::entries::{self, EntryFile};
use crate::loader::{self, BootLoader, Kind};
use crate::target::Target;

/// Where the trial's state lives on a target.
#[derive(Debug, Clone)]
pub struct Places {
    /// The efivarfs directory (None offline, or without UEFI).
    pub efivars: Option<PathBuf>,
    /// The boot filesystem's mount point in the target (`/boot`): the
    /// record file is at its root.
    pub boot_mount: String,
    /// GRUB's environment block (target path), when GRUB boots the entries.
    pub grubenv: Option<String>,
}

impl Places {
    /// The places of a target with this boot loader and boot filesystem.
    pub fn new(target: &Target, loader: &BootLoader, boot_mount: &str) -> Places {
        Places {
            efivars: loader::efivars(target),
            boot_mount: boot_mount.to_string(),
            grubenv: (loader.kind == Kind::Grub)
                .then(|| loader.grubenv.clone())
                .flatten(),
        }
    }

    /// The record file's target path.
    pub fn record_file(&self) -> String {
        format!("{}/{RECORD_FILE}", self.boot_mount.trim_end_matches('/'))
    }
}

/// Where a record was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Our EFI variable.
    Efi,
    /// The file (target path).
    File(String),
}

impl Place {
    /// In words, for messages and `--check --json`.
    pub fn describe(&self) -> String {
        match self {
            Place::Efi => format!(
                "EFI variable {}",
                efivar::file_name(RECORD_EFIVAR, INITOVERLAYFS_GUID)
            ),
            Place::File(p) => p.clone(),
        }
    }
}

/// The newest failure record of a target and every place holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The record.
    pub record: FailureRecord,
    /// Where it is (the same record in each).
    pub places: Vec<Place>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the failure records (EFI variable, record file) and returns the
/// newest. A record that does not parse is reported, not skipped silently.
///
/// Errors: a record exists but cannot be read or parsed (names it).
pub fn read_records(target: &Target, places: &Places) -> Result<Option<Found>> {
    let mut all: Vec<(FailureRecord, Place)> = Vec::new();
    if let Some(dir) = &places.efivars {
        if let Some(bytes) = efivar::read(dir, RECORD_EFIVAR, INITOVERLAYFS_GUID)? {
            let text = String::from_utf8_lossy(&bytes);
            let rec = FailureRecord::parse(&text).with_context(|| {
                format!(
                    "garbled failure record in EFI variable {}",
                    efivar::file_name(RECORD_EFIVAR, INITOVERLAYFS_GUID)
                )
            })?;
            all.push((rec, Place::Efi));
        }
    }
    let file = places.record_file();
    if let Some(text) = target.read_opt(&file)? {
        let rec = FailureRecord::parse(&text)
            .with_context(|| format!("garbled failure record {file}"))?;
        all.push((rec, Place::File(file)));
    }
    let Some(newest) = all.iter().map(|(r, _)| r.time).max() else {
        return Ok(None);
    };
    let mut found: Option<Found> = None;
    for (rec, place) in all.into_iter().filter(|(r, _)| r.time == newest) {
        match &mut found {
            None => {
                found = Some(Found {
                    record: rec,
                    places: vec![place],
                })
            }
            Some(f) => {
                // The same failure in two places; a `handled` mark in either counts.
                if f.record.handled.is_none() {
                    f.record.handled = rec.handled;
                    f.record.previous_default = rec.previous_default.clone();
                }
                f.places.push(place);
            }
        }
    }
    Ok(found)
}

/// Writes `found.record` back to every place of `found`.
///
/// Errors: a place cannot be written (names it).
pub fn write_record(target: &Target, places: &Places, found: &Found) -> Result<()> {
    let text = found.record.to_text();
    for p in &found.places {
        match p {
            Place::Efi => {
                if let Some(dir) = &places.efivars {
                    efivar::write(dir, RECORD_EFIVAR, INITOVERLAYFS_GUID, text.as_bytes())?;
                }
            }
            Place::File(f) => atomic::write(&target.path(f)?, text.as_bytes(), 0o644)
                .with_context(|| format!("cannot update the failure record {f}"))?,
        }
    }
    Ok(())
}

/// Arms a GRUB trial: `boot_counter=tries`, `boot_success=0` (what
/// greenboot sets before a reboot into an update; Fedora's grub.cfg counts
/// down while `boot_success` stays `0`).
///
/// Errors: the block cannot be read or rewritten (names the file).
pub fn arm_grubenv(target: &Target, grubenv: &str, tries: u32) -> Result<()> {
    let p = target.path(grubenv)?;
    let mut env = GrubEnv::load(&p)?;
    env.set(grubenv::BOOT_COUNTER, &tries.to_string())?;
    env.set(grubenv::BOOT_SUCCESS, "0")?;
    env.store(&p)
}

/// Ends a GRUB trial without a verdict (rollback, a failed install):
/// `boot_counter` unset. Returns whether it was set.
///
/// Errors: the block cannot be read or rewritten.
pub fn disarm_grubenv(target: &Target, grubenv: &str) -> Result<bool> {
    let p = target.path(grubenv)?;
    let mut env = GrubEnv::load(&p)?;
    if !env.unset(grubenv::BOOT_COUNTER) {
        return Ok(false);
    }
    env.store(&p)?;
    Ok(true)
}

/// Leaves exactly one file of the entry family: `current` (an existing
/// entry file) renamed to `final_entry`, and every other file of `family`
/// that exists removed — never a counted and an uncounted name of one id
/// side by side. The rename is atomic; the removals come after it.
///
/// Errors: a rename or removal fails (names the files).
pub fn settle_family(
    target: &Target,
    current: Option<&str>,
    final_entry: &str,
    family: &[String],
) -> Result<()> {
    if let Some(cur) = current.filter(|c| *c != final_entry) {
        let from = target.path(cur)?;
        if from.is_file() {
            atomic::rename(&from, &target.path(final_entry)?)?;
        }
    }
    for f in family.iter().filter(|f| *f != final_entry) {
        atomic::remove(&target.path(f)?)?;
    }
    Ok(())
}

/// Restores the default entry setting `rec.previous_default` recorded, if
/// the current one is still the fallback that [`after_boot`] set. Returns
/// what was done, in words.
fn restore_default(
    target: &Target,
    places: &Places,
    rec: &FailureRecord,
) -> Result<Option<String>> {
    let (Some(prev), Some(fb)) = (&rec.previous_default, &rec.fallback_entry) else {
        return Ok(None);
    };
    if let Some(value) = prev.strip_prefix(&format!("{LOADER_ENTRY_DEFAULT}=")) {
        let Some(dir) = &places.efivars else {
            return Ok(None);
        };
        let current = efivar::read_string(dir, LOADER_ENTRY_DEFAULT, LOADER_GUID)?;
        if current.as_deref() != Some(format!("{fb}.conf").as_str()) {
            return Ok(None);
        }
        if value.is_empty() {
            efivar::remove(dir, LOADER_ENTRY_DEFAULT, LOADER_GUID)?;
            return Ok(Some(format!(
                "removed {LOADER_ENTRY_DEFAULT} (it named the fallback entry)"
            )));
        }
        efivar::write_string(dir, LOADER_ENTRY_DEFAULT, LOADER_GUID, value)?;
        return Ok(Some(format!("{LOADER_ENTRY_DEFAULT} is {value} again")));
    }
    if let Some(value) = prev.strip_prefix(&format!("{}=", grubenv::SAVED_ENTRY)) {
        let Some(env_path) = &places.grubenv else {
            return Ok(None);
        };
        let p = target.path(env_path)?;
        let mut env = GrubEnv::load(&p)?;
        if env.get(grubenv::SAVED_ENTRY) != Some(fb.as_str()) {
            return Ok(None);
        }
        if value.is_empty() {
            env.unset(grubenv::SAVED_ENTRY);
        } else {
            env.set(grubenv::SAVED_ENTRY, value)?;
        }
        env.store(&p)?;
        return Ok(Some(format!("grubenv saved_entry is {value:?} again")));
    }
    Ok(None)
}

/// After a new install (or re-arm, or rollback) for `kver` (None: any):
/// restores the default entry the handling of a failed trial changed, and
/// removes the failure records of that kernel. Returns what was done, in
/// words (empty when there was nothing).
///
/// Errors: a record or default cannot be read, written or removed.
pub fn clear_failure(target: &Target, places: &Places, kver: Option<&str>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let Some(found) = read_records(target, places)? else {
        return Ok(done);
    };
    if kver.is_some_and(|k| found.record.kver != k && !found.record.kver.is_empty()) {
        return Ok(done);
    }
    if let Some(what) = restore_default(target, places, &found.record)? {
        done.push(what);
    }
    for p in &found.places {
        match p {
            Place::Efi => {
                if let Some(dir) = &places.efivars {
                    efivar::remove(dir, RECORD_EFIVAR, INITOVERLAYFS_GUID)?;
                }
            }
            Place::File(f) => atomic::remove(&target.path(f)?)?,
        }
        done.push(format!("removed the failure record {}", p.describe()));
    }
    Ok(done)
}

/// The main entry of `kver` and its counter.
fn main_entry<'a>(
    entries: &'a [EntryFile],
    kver: &str,
) -> Option<(&'a EntryFile, Option<Counter>)> {
    entries::find_for_kver(entries, kver).map(|e| (e, bls::split_counter(&e.file_name).1))
}

/// How the trial of a kernel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// initoverlayfs is not installed for the kernel.
    None,
    /// A trial is counting: the install has not yet booted to `boot-complete.target`.
    Running,
    /// The install booted fine (its counter is gone), or is not counted.
    Good,
    /// The last boot through initoverlayfs failed.
    Failed,
}

/// The failure record as `--check --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureView {
    /// Seconds since the epoch (the failed boot's clock).
    pub time: u64,
    /// The same as `YYYY-MM-DDTHH:MM:SSZ`.
    pub time_utc: String,
    /// The kernel that failed.
    pub kver: String,
    /// `pid1` or `systemd`.
    pub mode: String,
    /// The step that failed.
    pub step: String,
    /// The failure line.
    pub error: String,
    /// The entry that was booted.
    pub entry: Option<String>,
    /// The fallback entry's id.
    pub fallback_entry: Option<String>,
    /// What the failed boot did to reach the fallback.
    pub action: String,
    /// When a later boot acted on it (made the fallback the default).
    pub handled_utc: Option<String>,
    /// Where the record is.
    pub recorded_in: Vec<String>,
}

impl FailureView {
    fn of(f: &Found) -> FailureView {
        let r = &f.record;
        FailureView {
            time: r.time,
            time_utc: crate::rollback_cmd::utc(r.time),
            kver: r.kver.clone(),
            mode: r.mode.clone(),
            step: r.step.clone(),
            error: r.error.clone(),
            entry: r.entry.clone(),
            fallback_entry: r.fallback_entry.clone(),
            action: r.action.clone(),
            handled_utc: r.handled.map(crate::rollback_cmd::utc),
            recorded_in: f.places.iter().map(Place::describe).collect(),
        }
    }
}

/// The `"trial"` object of `--check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How the trial of the checked kernel stands.
    pub state: State,
    /// The same in words, with what to do.
    pub detail: String,
    /// The boot loader and how it counts.
    pub loader: BootLoader,
    /// The counter a new install gets (None: unreadable).
    pub tries: Option<u32>,
    /// Where that number came from (`[boot] tries`, `/etc/kernel/tries`, `default`).
    pub tries_from: Option<String>,
    /// The main entry's file name now.
    pub entry: Option<String>,
    /// Its boot counter, when it has one.
    pub tries_left: Option<u32>,
    /// Failed attempts its counter records.
    pub tries_done: Option<u32>,
    /// GRUB's counting variables, when GRUB boots the entries.
    pub grub_boot_counter: Option<String>,
    /// `boot_success` in grubenv.
    pub grub_boot_success: Option<String>,
    /// The last failure recorded by the boot-time program (None: none).
    pub last_failure: Option<FailureView>,
}

/// How the trial of `kver` stands on the target: the failure record first,
/// then the main entry's counter (systemd-boot), then grubenv (GRUB).
/// `installed`: whether initoverlayfs is installed for `kver`.
/// Unreadable state is part of the detail, never an error: `--check` must
/// print.
pub fn report(
    target: &Target,
    places: &Places,
    loader: &BootLoader,
    tries: &std::result::Result<(u32, String), String>,
    entries: &[EntryFile],
    kver: &str,
    installed: bool,
) -> Report {
    let mut problems = Vec::new();
    let found = read_records(target, places).unwrap_or_else(|e| {
        problems.push(format!("{e:#}"));
        None
    });
    let main = main_entry(entries, kver);
    let grub = places.grubenv.as_ref().and_then(|g| {
        target
            .path(g)
            .and_then(|p| GrubEnv::load(&p))
            .map_err(|e| problems.push(format!("{e:#}")))
            .ok()
    });
    let grub_get = |k: &str| grub.as_ref().and_then(|g| g.get(k)).map(str::to_string);
    let boot_counter = grub_get(grubenv::BOOT_COUNTER);
    let counter = main.and_then(|m| m.1);
    let (state, mut detail) = if let Some(f) = &found {
        let r = &f.record;
        let when = crate::rollback_cmd::utc(r.time);
        let fb = r.fallback_entry.as_deref().unwrap_or("(none configured)");
        let default = match r.handled {
            Some(_) => format!("the fallback entry {fb} is the default"),
            None => format!("the fallback entry {fb} becomes the default once this boot's initoverlayfs-after-boot.service has run"),
        };
        (
            State::Failed,
            format!(
                "the boot through initoverlayfs of kernel {} failed at {when} in step \"{}\": {}; {default} until initoverlayfs-install runs again (to retry) or --rollback",
                if r.kver.is_empty() { "?" } else { &r.kver },
                r.step,
                r.error
            ),
        )
    } else if let (Some((e, _)), Some(c)) = (main, counter.filter(|c| c.bad())) {
        (
            State::Failed,
            format!(
                "{} ran out of tries ({} failed boots) and left no failure record (the boot failed before it could write one); run initoverlayfs-install to retry",
                e.file_name, c.done
            ),
        )
    } else if boot_counter.as_deref() == Some("-1") {
        (
            State::Failed,
            "GRUB's boot_counter ran out (grubenv boot_counter=-1): the trial never reached boot-complete.target and left no failure record; run initoverlayfs-install to retry".into(),
        )
    } else if let (Some((e, _)), Some(c)) = (main, counter) {
        (
            State::Running,
            format!(
                "{} is on trial: {} tries left, {} done; systemd-bless-boot drops the counter once a boot reaches boot-complete.target",
                e.file_name, c.left, c.done
            ),
        )
    } else if boot_counter.is_some() && installed {
        (
            State::Running,
            format!(
                "GRUB trial: boot_counter={}; initoverlayfs-bless.service clears it once a boot reaches boot-complete.target",
                boot_counter.as_deref().unwrap_or_default()
            ),
        )
    } else if installed {
        (
            State::Good,
            format!("kernel {kver} boots through initoverlayfs (no trial running)"),
        )
    } else {
        (
            State::None,
            format!("initoverlayfs is not installed for kernel {kver}"),
        )
    };
    if !problems.is_empty() {
        detail.push_str(&format!(" (could not read: {})", problems.join("; ")));
    }
    let (tries_n, tries_from) = match tries {
        Ok((n, from)) => (Some(*n), Some(from.clone())),
        Err(_) => (None, None),
    };
    Report {
        state,
        detail,
        loader: loader.clone(),
        tries: tries_n,
        tries_from,
        entry: main.map(|m| m.0.file_name.clone()),
        tries_left: counter.map(|c| c.left),
        tries_done: counter.map(|c| c.done),
        grub_boot_counter: boot_counter,
        grub_boot_success: grub_get(grubenv::BOOT_SUCCESS),
        last_failure: found.as_ref().map(FailureView::of),
    }
}

/// What the installed system knows about its trial, gathered without the
/// full detection (the units run early in every boot).
#[derive(Debug)]
pub struct Installed {
    /// The target.
    pub target: Target,
    /// The config in effect.
    pub config: Config,
    /// The boot loader.
    pub loader: BootLoader,
    /// Where the state lives.
    pub places: Places,
    /// The BLS entries.
    pub entries: Vec<EntryFile>,
}

impl Installed {
    /// Gathers it for `target`.
    ///
    /// Errors: the layout, entries or config cannot be read.
    pub fn gather(target: &Target) -> Result<Installed> {
        let layout = crate::layout::detect(target).context("cannot detect the partition layout")?;
        let boot_root = crate::layout::boot_root(target, &layout)?;
        let entries = entries::list(target, &boot_root)?.entries;
        let config = Config::load(&target.path(crate::conf::path())?)?;
        let efivars = loader::efivars(target);
        let loader = loader::detect(target, &layout, efivars.as_deref())?;
        let boot_mount = layout
            .boot
            .as_ref()
            .map_or("/boot".to_string(), |b| b.mount_point.clone());
        let places = Places::new(target, &loader, &boot_mount);
        Ok(Installed {
            target: target.clone(),
            config,
            loader,
            places,
            entries,
        })
    }
}

/// Synthesizes the record of a failed trial that left none: a main entry
/// of ours whose counter ran out, or GRUB's expired `boot_counter`.
fn recordless_failure(ctx: &Installed) -> Option<FailureRecord> {
    let bad = ctx
        .entries
        .iter()
        .find(|e| !e.is_fallback() && bls::split_counter(&e.file_name).1.is_some_and(|c| c.bad()));
    let template = ctx.config.boot.fallback_entry.as_deref();
    if let Some(e) = bad {
        let kver = e.entry.get("version").unwrap_or_default().to_string();
        return Some(FailureRecord {
            time: now(),
            kver: kver.clone(),
            mode: String::new(),
            step: "unknown".into(),
            error: format!(
                "{} ran out of boot tries without reaching boot-complete.target; the failed boots left no record (no EFI variables, /boot not reached)",
                e.file_name
            ),
            entry: Some(e.file_name.clone()),
            fallback_entry: Some(entries::fallback_id(e.id())),
            action: "boot counting: the boot loader skipped the bad entry".into(),
            handled: None,
            previous_default: None,
        });
    }
    let env = ctx.places.grubenv.as_ref()?;
    let g = GrubEnv::load(&ctx.target.path(env).ok()?).ok()?;
    if g.get(grubenv::BOOT_COUNTER) != Some("-1") {
        return None;
    }
    // The counter is global: the trial is the newest install's.
    let kver = crate::rollback::Store::new(&ctx.target)
        .and_then(|s| s.list())
        .ok()
        .and_then(|gens| gens.last().map(|g| g.manifest.kver.clone()))
        .unwrap_or_default();
    Some(FailureRecord {
        time: now(),
        kver: kver.clone(),
        mode: String::new(),
        step: "unknown".into(),
        error: "GRUB's boot_counter ran out (boot_counter=-1): the trial boots never reached boot-complete.target and left no record".into(),
        entry: g.get(grubenv::SAVED_ENTRY).map(str::to_string),
        fallback_entry: initoverlayfs::trial::fallback_entry_id(template, &kver),
        action: "GRUB fallback counting: menu entry 1".into(),
        handled: None,
        previous_default: None,
    })
}

/// `--after-boot` (`initoverlayfs-after-boot.service`, early in every
/// boot): acts once on a failed trial, see the module docs. Returns what
/// was done, in words.
///
/// Errors: the state cannot be read, or the default cannot be changed.
pub fn after_boot(ctx: &Installed, journal: &Path) -> Result<String> {
    let found = match read_records(&ctx.target, &ctx.places)? {
        Some(f) => Some(f),
        None => recordless_failure(ctx).map(|record| Found {
            record,
            places: match &ctx.places.efivars {
                Some(_) => vec![Place::Efi],
                None => vec![Place::File(ctx.places.record_file())],
            },
        }),
    };
    let Some(mut found) = found else {
        return Ok("no failed trial".into());
    };
    if found.record.handled.is_some() {
        return Ok(format!(
            "the failed trial of {} was handled already; `initoverlayfs-install --check` shows it",
            crate::rollback_cmd::utc(found.record.time)
        ));
    }
    let r = found.record.clone();
    let mut done = Vec::new();
    let fb = r.fallback_entry.clone();
    // The fallback is the default from now on.
    if let Some(fb) = &fb {
        match (&ctx.loader.kind, &ctx.places.efivars, &ctx.places.grubenv) {
            (Kind::Grub, _, Some(env)) => {
                let p = ctx.target.path(env)?;
                let mut g = GrubEnv::load(&p)?;
                let prev = g.get(grubenv::SAVED_ENTRY).unwrap_or_default().to_string();
                g.set(grubenv::SAVED_ENTRY, fb)?;
                g.unset(grubenv::BOOT_COUNTER);
                g.store(&p)?;
                found.record.previous_default = Some(format!("{}={prev}", grubenv::SAVED_ENTRY));
                done.push(format!("grubenv saved_entry={fb} (GRUB_DEFAULT=saved)"));
            }
            (_, Some(dir), _) => {
                let prev = efivar::read_string(dir, LOADER_ENTRY_DEFAULT, LOADER_GUID)?
                    .unwrap_or_default();
                efivar::write_string(
                    dir,
                    LOADER_ENTRY_DEFAULT,
                    LOADER_GUID,
                    &format!("{fb}.conf"),
                )?;
                found.record.previous_default = Some(format!("{LOADER_ENTRY_DEFAULT}={prev}"));
                done.push(format!("{LOADER_ENTRY_DEFAULT}={fb}.conf"));
            }
            _ => done.push(
                "no way to change the default entry here (no EFI variables, no grubenv)".into(),
            ),
        }
    }
    // A counted main entry is not retried by boot counting either.
    if ctx.loader.kind.counts_in_file_names() && !r.kver.is_empty() {
        if let Some((e, Some(c))) = main_entry(&ctx.entries, &r.kver) {
            if !c.bad() {
                let dir = e.path.rsplit_once('/').map_or("", |p| p.0);
                let bad = format!("{dir}/{}+0-{}.conf", e.id(), c.done);
                atomic::rename(&ctx.target.path(&e.path)?, &ctx.target.path(&bad)?)?;
                done.push(format!("marked {} bad ({bad})", e.file_name));
            }
        }
    }
    found.record.handled = Some(now());
    write_record(&ctx.target, &ctx.places, &found)?;
    let booted = ctx.places.efivars.as_ref().and_then(|d| {
        efivar::read_string(d, LOADER_ENTRY_SELECTED, LOADER_GUID)
            .ok()
            .flatten()
    });
    let message = format!(
        "initoverlayfs: the trial boot of kernel {} failed at {} in step \"{}\": {}; this boot ({}) uses the original initramfs; {}",
        if r.kver.is_empty() { "?" } else { &r.kver },
        crate::rollback_cmd::utc(r.time),
        r.step,
        r.error,
        booted.as_deref().unwrap_or("entry unknown"),
        if done.is_empty() {
            "nothing else to do".to_string()
        } else {
            format!("{} until initoverlayfs-install runs again", done.join(", "))
        }
    );
    let time = r.time.to_string();
    let fields = [
        ("MESSAGE", message.as_str()),
        ("MESSAGE_ID", MESSAGE_ID),
        ("PRIORITY", "3"),
        ("SYSLOG_IDENTIFIER", "initoverlayfs-install"),
        ("INITOVERLAYFS_KVER", r.kver.as_str()),
        ("INITOVERLAYFS_STEP", r.step.as_str()),
        ("INITOVERLAYFS_ERROR", r.error.as_str()),
        ("INITOVERLAYFS_FAILED_AT", time.as_str()),
        (
            "INITOVERLAYFS_FALLBACK_ENTRY",
            fb.as_deref().unwrap_or_default(),
        ),
        ("INITOVERLAYFS_ACTION", r.action.as_str()),
    ];
    if let Err(e) = crate::journal::send(journal, &fields) {
        eprintln!("initoverlayfs-install: {e:#}; the message was: {message}");
    }
    Ok(message)
}

/// `--bless` (`initoverlayfs-bless.service`, after `boot-complete.target`):
/// on GRUB, a running trial is good: `boot_success=1`, `boot_counter`
/// unset (as greenboot's `greenboot-grub2-set-success` does). systemd-boot
/// entries are blessed by `systemd-bless-boot.service`. Returns what was
/// done, in words.
///
/// Errors: grubenv cannot be read or written.
pub fn bless(ctx: &Installed) -> Result<String> {
    let Some(env) = &ctx.places.grubenv else {
        return Ok(match ctx.loader.kind {
            Kind::Grub => "GRUB without a grubenv: nothing to bless".into(),
            _ => "not GRUB: systemd-bless-boot.service blesses counted entries".into(),
        });
    };
    let p = ctx.target.path(env)?;
    let mut g = GrubEnv::load(&p)?;
    match g.get(grubenv::BOOT_COUNTER) {
        None => Ok("no GRUB trial running".into()),
        Some(c) => {
            let c = c.to_string();
            g.set(grubenv::BOOT_SUCCESS, "1")?;
            g.unset(grubenv::BOOT_COUNTER);
            g.store(&p)?;
            Ok(format!(
                "this boot reached boot-complete.target: grubenv boot_success=1, boot_counter ({c}) unset"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: u64) -> FailureRecord {
        FailureRecord {
            time,
            kver: "6.1".into(),
            mode: "systemd".into(),
            step: "mount image".into(),
            error: "mount image: boom".into(),
            entry: None,
            fallback_entry: Some("m-without_initoverlayfs.6.1".into()),
            action: "x".into(),
            handled: None,
            previous_default: None,
        }
    }

    fn places(root: &Path, efi: Option<&Path>) -> (Target, Places) {
        std::fs::create_dir_all(root.join("boot")).unwrap();
        let target = Target::new(Some(root)).unwrap();
        let p = Places {
            efivars: efi.map(Path::to_path_buf),
            boot_mount: "/boot".into(),
            grubenv: None,
        };
        (target, p)
    }

    #[test]
    fn newest_record_wins_and_both_places_are_named() {
        let t = tempfile::tempdir().unwrap();
        let efi = tempfile::tempdir().unwrap();
        let (target, p) = places(t.path(), Some(efi.path()));
        assert_eq!(read_records(&target, &p).unwrap(), None);
        std::fs::write(t.path().join("boot").join(RECORD_FILE), rec(5).to_text()).unwrap();
        efivar::write(
            efi.path(),
            RECORD_EFIVAR,
            INITOVERLAYFS_GUID,
            rec(9).to_text().as_bytes(),
        )
        .unwrap();
        let f = read_records(&target, &p).unwrap().unwrap();
        assert_eq!((f.record.time, f.places.clone()), (9, vec![Place::Efi]));
        std::fs::write(t.path().join("boot").join(RECORD_FILE), rec(9).to_text()).unwrap();
        let mut f = read_records(&target, &p).unwrap().unwrap();
        assert_eq!(
            f.places,
            vec![
                Place::Efi,
                Place::File("/boot/initoverlayfs-failure.txt".into())
            ]
        );
        f.record.handled = Some(10);
        write_record(&target, &p, &f).unwrap();
        assert_eq!(
            read_records(&target, &p).unwrap().unwrap().record.handled,
            Some(10)
        );
        let done = clear_failure(&target, &p, Some("6.1")).unwrap();
        assert_eq!(done.len(), 2, "{done:?}");
        assert_eq!(read_records(&target, &p).unwrap(), None);
        std::fs::write(t.path().join("boot").join(RECORD_FILE), "garbage").unwrap();
        let err = format!("{:#}", read_records(&target, &p).unwrap_err());
        assert!(
            err.contains("garbled failure record /boot/initoverlayfs-failure.txt"),
            "{err}"
        );
    }

    #[test]
    fn another_kernels_record_stays() {
        let t = tempfile::tempdir().unwrap();
        let (target, p) = places(t.path(), None);
        std::fs::write(t.path().join("boot").join(RECORD_FILE), rec(5).to_text()).unwrap();
        assert!(clear_failure(&target, &p, Some("6.2")).unwrap().is_empty());
        assert!(read_records(&target, &p).unwrap().is_some());
    }

    #[test]
    fn the_default_is_restored_only_while_it_is_ours() {
        let t = tempfile::tempdir().unwrap();
        let efi = tempfile::tempdir().unwrap();
        let (target, p) = places(t.path(), Some(efi.path()));
        let mut r = rec(5);
        r.previous_default = Some("LoaderEntryDefault=".into());
        efivar::write_string(
            efi.path(),
            LOADER_ENTRY_DEFAULT,
            LOADER_GUID,
            "m-without_initoverlayfs.6.1.conf",
        )
        .unwrap();
        assert!(restore_default(&target, &p, &r).unwrap().is_some());
        assert_eq!(
            efivar::read_string(efi.path(), LOADER_ENTRY_DEFAULT, LOADER_GUID).unwrap(),
            None
        );
        // The user changed it since: leave it.
        efivar::write_string(efi.path(), LOADER_ENTRY_DEFAULT, LOADER_GUID, "other.conf").unwrap();
        r.previous_default = Some("LoaderEntryDefault=mine.conf".into());
        assert_eq!(restore_default(&target, &p, &r).unwrap(), None);
        assert_eq!(
            efivar::read_string(efi.path(), LOADER_ENTRY_DEFAULT, LOADER_GUID)
                .unwrap()
                .as_deref(),
            Some("other.conf")
        );
    }

    #[test]
    fn grub_arm_disarm_and_bless() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("boot/grub2")).unwrap();
        GrubEnv::new()
            .create(&t.path().join("boot/grub2/grubenv"))
            .unwrap();
        let target = Target::new(Some(t.path())).unwrap();
        arm_grubenv(&target, "/boot/grub2/grubenv", 3).unwrap();
        let g = GrubEnv::load(&t.path().join("boot/grub2/grubenv")).unwrap();
        assert_eq!(g.vars(), vec![("boot_counter", "3"), ("boot_success", "0")]);
        assert!(disarm_grubenv(&target, "/boot/grub2/grubenv").unwrap());
        assert!(!disarm_grubenv(&target, "/boot/grub2/grubenv").unwrap());
        assert!(arm_grubenv(&target, "/boot/grub2/none", 3).is_err());
    }

    #[test]
    fn settles_one_file_per_entry_id() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("boot/loader/entries");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("m-6.1.conf"), "title M\n").unwrap();
        std::fs::write(dir.join("m-6.1+0-3.conf"), "title stale\n").unwrap();
        let target = Target::new(Some(t.path())).unwrap();
        let e = |n: &str| format!("/boot/loader/entries/{n}");
        settle_family(
            &target,
            Some(&e("m-6.1.conf")),
            &e("m-6.1+3.conf"),
            &[e("m-6.1.conf"), e("m-6.1+0-3.conf"), e("m-6.1+3.conf")],
        )
        .unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["m-6.1+3.conf"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("m-6.1+3.conf")).unwrap(),
            "title M\n"
        );
    }
}
