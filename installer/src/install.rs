//! The install transaction (one per run).
//!
//! Order of the writes, so that a SIGKILL at any instant leaves a bootable
//! default entry and a working rollback:
//! 1. lock; detect and check everything (no write yet);
//! 2. record the rollback generation (complete before anything changes);
//! 3. write `/etc/initoverlayfs.conf` (the dracut module reads it);
//! 4. build the image and the mini initramfs into staging files on /boot;
//! 5. the fallback copy of the original initramfs, then its fallback entry;
//! 6. the image into place; note the mini initramfs' hash in the generation;
//! 7. check that the written config resolves as it will at boot (the spec
//!    names the device on /boot, the options show what /boot shows, the
//!    image is there), give the main entry its trial name (`ID+N.conf`,
//!    see [`crate::loader`]; one atomic rename), then the switch: rename the
//!    mini initramfs over the entry's initrd (a new entry, when there was
//!    none, is written after that); on GRUB arm the trial in grubenv;
//! 8. syncfs /boot (+ freeze/thaw on xfs), prune old generations, and
//!    forget an earlier failed trial of this kernel (its failure record,
//!    the default entry its handling changed).
//!
//! Until 7 the entry boots the original initramfs; from 7 on the mini one
//! with its image already in place. Any error after 2 restores the
//! generation and deletes it, leaving the system unchanged.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use initoverlayfs::config::Config;

use crate::atomic;
use crate::bootfs;
use crate::check::{self, Status};
use crate::cli::Cli;
use crate::conf;
use crate::crash::point;
use crate::detect::{self, Detection};
use crate::drivers;
use crate::entries;
use crate::interactive;
use crate::lock::Lock;
use crate::plan::{self, Plan};
use crate::rollback::{Generation, Installed, Store};
use crate::space::human;
use crate::target::Target;
use crate::trial;

/// The lock file (target path), shared with `--rollback`.
pub const LOCK_PATH: &str = "/var/lib/initoverlayfs/lock";

/// What an install did, for the summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The generation recorded.
    pub generation: u64,
    /// Size of the original initramfs (None: first build).
    pub before: Option<u64>,
    /// Size of the mini initramfs.
    pub mini_bytes: u64,
    /// Size of the erofs image.
    pub image_bytes: u64,
    /// Size of the full initramfs the image holds.
    pub full_bytes: u64,
    /// Wall time of the build's steps.
    pub times: initoverlayfs_builder::StepTimes,
}

/// Runs an install (the default mode).
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let target = Target::new(cli.root.as_deref())?;
    // Before the lock: a refused run must not even create the lock's directory.
    drivers::refuse_offline_auto(cli.drivers.as_ref(), &target)?;
    let _lock = if cli.dry_run {
        None
    } else {
        Some(Lock::acquire(&target.path(LOCK_PATH)?)?)
    };
    let mut det = detect::for_cli(&target, cli)?;
    for w in &det.existing.warnings {
        eprintln!(
            "initoverlayfs-install: warning: migrating {}: {w}",
            conf::path()
        );
    }
    let report = check::report(&det);
    let ask = interactive::enabled(cli.yes) && !cli.dry_run;
    if ask {
        print!("{}", check::table(&report.checks));
    }
    if !report.compatible {
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("  {}: {}", c.id, c.detail))
            .collect();
        eprintln!(
            "initoverlayfs-install: cannot install for kernel {} (nothing was changed):\n{}",
            det.kver,
            failed.join("\n")
        );
        return Ok(ExitCode::from(1));
    }
    if ask {
        match interactive::ask(&det)? {
            Some((c, m)) => {
                det.config.image.compression = c;
                det.config.init.mode = m;
            }
            None => {
                println!("Cancelled; nothing was changed.");
                return Ok(ExitCode::from(1));
            }
        }
    }

    let store = Store::new(&target)?.with_grubenv(
        (det.loader.kind == crate::loader::Kind::Grub && det.tries() > 0)
            .then(|| det.loader.grubenv.clone())
            .flatten(),
    );
    if !cli.dry_run {
        store.clean()?;
        for m in check::boot_mounts(&det) {
            atomic::clean_staging(&target.path(&m)?)?;
        }
        let renamed =
            entries::migrate_legacy_names(&target, &[det.boot_root.entries_dir()], &store)
                .context("cannot rename the fallback entries of an earlier release")?;
        for (old, new) in renamed {
            println!("renamed fallback entry {old} -> {new} (systemd rejects `~` in entry names)");
        }
    }
    // The mini initramfs path does not depend on whether there is an original.
    let mini = plan::plan(&det, true)?.mini;
    let carry = store.consistent(&target, &det.kver, &mini)?;
    let original: Option<PathBuf> = match &carry {
        Some(g) => match g.saved_copy(&target, &mini)? {
            Some(copy) => Some(copy),
            None => det
                .initrd
                .as_ref()
                .filter(|i| i.path != mini)
                .map(|i| target.path(&i.path))
                .transpose()?,
        },
        None => det
            .initrd
            .as_ref()
            .map(|i| target.path(&i.path))
            .transpose()?,
    };
    let plan = plan::plan(&det, original.is_some())?;
    // An existing TOML file that already says everything is kept as the
    // user wrote it (comments and all); otherwise it is rewritten.
    let conf_current = !det.existing.upstream
        && det
            .existing
            .text
            .as_deref()
            .is_some_and(|t| Config::from_toml_str(t).ok().as_ref() == Some(&det.config));
    let conf_text = if conf_current {
        None
    } else {
        Some(det.config.to_toml_string()?)
    };
    if cli.dry_run {
        for e in &det.entries {
            if let Some(new) = entries::renamed_legacy(&e.file_name) {
                println!(
                    "Dry run: an install would rename {} to {new} (systemd rejects `~` in entry names).",
                    e.path
                );
            }
        }
    }
    let in_effect = carry.as_ref().is_some_and(|g| store.in_effect(&target, g));
    let places = trial_places(&det);
    if in_effect && !cli.force && conf_current && target.path(&plan.image)?.is_file() {
        let state = trial::report(
            &target,
            &places,
            &det.loader,
            &det.tries,
            &det.entries,
            &det.kver,
            true,
        );
        // Another kernel's failure record does not make this one's trial failed.
        let this_kernel = match &state.last_failure {
            Some(f) => f.kver.is_empty() || f.kver == det.kver,
            None => true,
        };
        if state.state == trial::State::Failed && this_kernel && !cli.dry_run {
            // Running the installer again after a failed trial is how a
            // user asks for another one: same build, trial counter reset.
            rearm(&det, &plan, &places)?;
            println!(
                "initoverlayfs is installed for kernel {} (generation {}); its last trial had failed:
  {}
A new trial is armed: {}.",
                det.kver,
                carry.as_ref().map(|g| g.manifest.id).unwrap_or_default(),
                state.detail,
                describe_trial(&det, &plan)
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "initoverlayfs is already installed for kernel {} (generation {}); use --force to rebuild.",
            det.kver,
            carry.as_ref().map(|g| g.manifest.id).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if cli.dry_run {
        print_plan(&det, &plan, original.as_deref());
        return Ok(ExitCode::SUCCESS);
    }

    point("before the rollback generation");
    let mut gen = store
        .create(&target, &det.kver, &plan.touched(), carry.as_ref())
        .context("cannot record the rollback generation (nothing was changed)")?;
    point("rollback generation recorded");
    // A re-run's generation holds the true original (carried); a failure
    // must restore the state before this run instead.
    let undo = match &carry {
        Some(_) => Some(
            store
                .create_undo(&target, &det.kver, &plan.touched(), gen.manifest.id)
                .context("cannot record the current state (nothing was changed)")
                .inspect_err(|_| {
                    let _ = store.delete(&gen);
                })?,
        ),
        None => None,
    };
    point("undo state recorded");
    let outcome = match transaction(
        &det,
        &plan,
        &places,
        conf_text.as_deref(),
        original.as_deref(),
        &store,
        &mut gen,
        cli.verbose,
    ) {
        Ok(o) => o,
        Err(e) => {
            let undone = match &undo {
                Some(u) => store
                    .restore(&target, u)
                    .and_then(|()| store.delete(&gen))
                    .and_then(|()| store.discard(u)),
                None => store
                    .restore(&target, &gen)
                    .and_then(|()| store.delete(&gen)),
            };
            for m in check::boot_mounts(&det) {
                if let Ok(h) = target.path(&m) {
                    let _ = atomic::clean_staging(&h);
                }
            }
            return Err(match undone {
                Ok(()) => e.context("install failed; the previous state was restored"),
                Err(u) => e.context(format!(
                    "install failed, and restoring generation {} failed too ({u:#}); run `initoverlayfs-install --rollback {}`",
                    gen.manifest.id, gen.manifest.id
                )),
            });
        }
    };
    if let Some(u) = &undo {
        store.discard(u)?;
    }
    if let Some(old) = carry.as_ref().filter(|g| g.manifest.id != gen.manifest.id) {
        // Its records live on in the new generation.
        store.delete(old)?;
    }
    let pruned = store.prune(&target, det.config.rollback.keep.max(1))?;
    point("pruned");
    let forgotten = forget_failure(&det, &places);
    print_summary(&det, &plan, &outcome, &pruned, cli.root.as_deref());
    for f in forgotten {
        println!("  earlier failed trial: {f}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the trial state of the detected target lives.
pub fn trial_places(det: &Detection) -> trial::Places {
    let boot_mount = det
        .layout
        .boot
        .as_ref()
        .map_or("/boot", |b| b.mount_point.as_str());
    trial::Places::new(&det.target, &det.loader, boot_mount)
}

/// After an install or re-arm for `det.kver`: the failure records of that
/// kernel go, and a default entry their handling changed is restored.
/// Best effort: a failure here is a warning (the install itself is done).
fn forget_failure(det: &Detection, places: &trial::Places) -> Vec<String> {
    match trial::clear_failure(&det.target, places, Some(&det.kver)) {
        Ok(done) => done,
        Err(e) => vec![format!(
            "warning: could not clear it ({e:#}); `initoverlayfs-install --check` may still report it"
        )],
    }
}

/// The trial a finished install starts, in words.
fn describe_trial(det: &Detection, plan: &Plan) -> String {
    let tries = det.tries();
    let name = plan.final_entry.rsplit('/').next().unwrap_or_default();
    let fallback = plan
        .fallback_entry
        .as_ref()
        .map(|(p, _)| p.rsplit('/').next().unwrap_or_default().to_string());
    let counting = match (det.loader.kind, tries) {
        (_, 0) => "boot counting off ([boot] tries = 0)".to_string(),
        (crate::loader::Kind::Grub, n) => match &det.loader.grubenv {
            Some(g) => format!("GRUB counts {n} boots in {g} (boot_counter)"),
            None => "GRUB without a grubenv: no boot counting".to_string(),
        },
        (_, n) => format!("entry {name}: {n} boots to reach boot-complete.target"),
    };
    match fallback {
        Some(f) => format!("{counting}; a failed boot falls back to {f}"),
        None => format!("{counting}; no fallback entry (there was no initramfs before)"),
    }
}

/// Re-arms the trial of an install in effect whose last trial failed: the
/// main entry gets its fresh counter (`ID+N.conf`), GRUB's counter is set
/// again, and the failure is forgotten. Files stay as the in-effect
/// generation recorded them (a rollback restores the entry's names).
fn rearm(det: &Detection, plan: &Plan, places: &trial::Places) -> Result<()> {
    let t = &det.target;
    trial::settle_family(
        t,
        det.entry().map(|e| e.path.as_str()),
        &plan.final_entry,
        &plan.entry_family,
    )?;
    if let (crate::loader::Kind::Grub, Some(g), n) = (det.loader.kind, &places.grubenv, det.tries())
    {
        if n > 0 {
            trial::arm_grubenv(t, g, n)?;
        }
    }
    for m in check::boot_mounts(det) {
        atomic::flush_for_bootloader(&t.path(&m)?)?;
    }
    for f in forget_failure(det, places) {
        println!("  {f}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn transaction(
    det: &Detection,
    plan: &Plan,
    places: &trial::Places,
    conf_text: Option<&str>,
    original: Option<&Path>,
    store: &Store,
    gen: &mut Generation,
    verbose: bool,
) -> Result<Outcome> {
    // Host paths resolved inside the target (Target::path).
    let t = &det.target;
    let host = |p: &str| t.path(p);

    // 3. the config
    if let (Some(backup), Some(old)) = (&plan.conf_backup, &det.existing.text) {
        atomic::write(&host(backup)?, old.as_bytes(), 0o644)?;
        point("upstream config backed up");
    }
    if let Some(text) = conf_text {
        atomic::write(&host(&plan.conf)?, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", plan.conf))?;
        point("config written");
    }

    // 4. build into staging files next to their final names
    let image = host(&plan.image)?;
    let mini = host(&plan.mini)?;
    let image_stage = atomic::staging_path(&image);
    let mini_stage = atomic::staging_path(&mini);
    atomic::create_parents(&image)?;
    atomic::create_parents(&mini)?;
    let report = build(det, &det.config, &image_stage, &mini_stage, verbose)?;
    // Initramfs contents can be secret (keys, hostonly configs): both get
    // the original initramfs' permissions, 0600 when there is none.
    let mode = original
        .and_then(|o| std::fs::metadata(o).ok())
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .unwrap_or(0o600);
    for f in [&image_stage, &mini_stage] {
        let file =
            std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
        atomic::set_mode(&file, f, mode)?;
    }
    point("built");

    // 5. fallback copy + entry
    let mut before = None;
    if let (Some(fb), Some(orig)) = (&plan.fallback, original) {
        let fbh = host(fb)?;
        let want = atomic::hash_file(orig)?;
        before = Some(std::fs::metadata(orig).map(|m| m.len()).unwrap_or(0));
        if !(fbh.is_file() && atomic::hash_file(&fbh)? == want) {
            atomic::copy(orig, &fbh)?;
        }
        point("fallback initramfs copied");
    }
    if let Some((path, entry)) = &plan.fallback_entry {
        atomic::write(&host(path)?, entry.to_string().as_bytes(), 0o644)?;
        point("fallback entry written");
    }
    if let Some((src, dst)) = &plan.kernel_copy {
        atomic::copy(&host(src)?, &host(dst)?)?;
        point("kernel copied");
    }

    // 6. image into place, then remember what the mini initramfs is
    atomic::rename(&image_stage, &image)?;
    point("image in place");
    let mini_blake3 = atomic::hash_file(&mini_stage)?;
    store.set_installed(
        gen,
        Installed {
            mini: plan.mini.clone(),
            mini_blake3,
        },
    )?;
    point("installed.json written");

    // 7. the switch, once the config the mini initramfs carries resolves
    // as it will at boot: a refusal here leaves the original entry in use.
    let boot_mount = det
        .layout
        .boot
        .as_ref()
        .map_or("/boot", |b| b.mount_point.as_str());
    bootfs::verify_written(&det.target, &det.kver, boot_mount).context(
        "the boot-time program would not find the image as configured; the boot entry was not switched",
    )?;
    point("boot filesystem verified");
    // The trial: the entry's counted name before the mini initramfs goes
    // live (one rename; never two names of one id side by side).
    if let Some(e) = det.entry() {
        trial::settle_family(t, Some(&e.path), &plan.final_entry, &plan.entry_family)?;
        point("trial entry named");
    }
    atomic::rename(&mini_stage, &mini)?;
    point("mini initramfs switched in");
    if let Some(entry) = &plan.new_main_entry {
        atomic::write(
            &host(&plan.final_entry)?,
            entry.to_string().as_bytes(),
            0o644,
        )?;
        point("new entry written");
    }
    if let (crate::loader::Kind::Grub, Some(g)) = (det.loader.kind, &places.grubenv) {
        if det.tries() > 0 {
            trial::arm_grubenv(t, g, det.tries())
                .with_context(|| format!("cannot arm the trial in {g}"))?;
            point("grubenv trial armed");
        }
    }

    // 8. durable for the boot loader
    for m in check::boot_mounts(det) {
        atomic::flush_for_bootloader(&host(&m)?)?;
    }
    point("boot filesystems flushed");
    Ok(Outcome {
        generation: gen.manifest.id,
        before,
        mini_bytes: report.initrd_bytes,
        image_bytes: report.image_bytes,
        full_bytes: report.full_initramfs_bytes,
        times: report.times,
    })
}

/// Runs the builder, with a spinner on a terminal unless `-v` streams output.
fn build(
    det: &Detection,
    config: &Config,
    image_out: &Path,
    initrd_out: &Path,
    verbose: bool,
) -> Result<initoverlayfs_builder::BuildReport> {
    use std::io::IsTerminal;
    let spinner = (!verbose && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!(
            "building the erofs image and the mini initramfs for {} (dracut takes a minute)",
            det.kver
        ));
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let req = initoverlayfs_builder::BuildRequest {
        config,
        kver: &det.kver,
        root: det.target.build_root(),
        image_out,
        initrd_out,
        verbose,
    };
    let r = initoverlayfs_builder::build(&req)
        .with_context(|| format!("building for kernel {} failed", det.kver));
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    // Entries the kernel would not unpack from the full initramfs are not
    // in the image either; the user should know.
    for w in r.iter().flat_map(|report| &report.warnings) {
        eprintln!("initoverlayfs-install: warning: {w}");
    }
    r
}

fn print_plan(det: &Detection, plan: &Plan, original: Option<&Path>) {
    println!(
        "Dry run for kernel {}: nothing is changed. An install would:",
        det.kver
    );
    println!(
        "  record a rollback generation of: {}",
        plan.touched().join(", ")
    );
    println!(
        "  write {} ({}, init mode {})",
        plan.conf, det.config.image.compression, det.config.init.mode
    );
    println!(
        "  build {} (erofs image) and {} (mini initramfs)",
        plan.image, plan.mini
    );
    println!(
        "  mini initramfs drivers: {}",
        drivers::describe(&det.config.boot.drivers, &det.drivers)
    );
    if let (Some(fb), Some(o)) = (&plan.fallback, original) {
        println!(
            "  copy the original initramfs {} to {fb}",
            det.target.inner(o)
        );
    }
    if let Some((p, _)) = &plan.fallback_entry {
        println!("  write the fallback entry {p}");
    }
    if plan.new_main_entry.is_some() && det.entry().is_none() {
        println!("  create the entry {}", plan.final_entry);
    } else if plan.final_entry != plan.main_entry {
        println!(
            "  rename the entry {} to {} (its initrd becomes the mini initramfs)",
            plan.main_entry, plan.final_entry
        );
    } else {
        println!(
            "  keep the entry {} (its initrd becomes the mini initramfs)",
            plan.main_entry
        );
    }
    println!("  trial: {}", describe_trial(det, plan));
}

fn print_summary(det: &Detection, plan: &Plan, o: &Outcome, pruned: &[u64], root: Option<&Path>) {
    let root_arg = root
        .map(|r| format!(" --root {}", r.display()))
        .unwrap_or_default();
    println!(
        "initoverlayfs installed for kernel {} (rollback generation {}).",
        det.kver, o.generation
    );
    match o.before {
        Some(b) => println!(
            "  initramfs loaded by the boot loader: {} -> {} (mini initramfs {})",
            human(b),
            human(o.mini_bytes),
            plan.mini
        ),
        None => println!("  mini initramfs {}: {}", plan.mini, human(o.mini_bytes)),
    }
    println!(
        "  erofs image {}: {} ({} compression; full initramfs {})",
        plan.image,
        human(o.image_bytes),
        det.config.image.compression,
        human(o.full_bytes)
    );
    println!("  build steps: {}", o.times);
    println!(
        "  mini initramfs drivers: {}",
        drivers::describe(&det.config.boot.drivers, &det.drivers)
    );
    if let Some((p, _)) = &plan.fallback_entry {
        println!("  fallback boot entry: {p}");
    } else {
        println!("  no fallback entry: there was no initramfs before this install");
    }
    println!("  trial: {}", describe_trial(det, plan));
    if !pruned.is_empty() {
        println!("  pruned old rollback generations: {pruned:?}");
    }
    println!(
        "Next: reboot; then `journalctl -b -o short-monotonic | grep initoverlayfs` shows it ran."
    );
    println!(
        "Undo: initoverlayfs-install{root_arg} --rollback {}",
        o.generation
    );
}
