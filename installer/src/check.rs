//! The compatibility check: a list of checks (pass/warn/fail) over the
//! detection, printed as a table or as the `--check --json` object.

use std::fmt::Write as _;

use initoverlayfs::config::Algorithm;
use serde::Serialize;

use crate::bootfs;
use crate::detect::Detection;
use crate::drivers::{self, Origin};
use crate::kconfig::Availability;
use crate::kernel::KernelSupport;
use crate::layout::{self, Layout};
use crate::plan::{self, Plan};
use crate::space;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth knowing (a guess, a first build…).
    Warn,
    /// Blocks the install.
    Fail,
}

impl Status {
    /// `pass`/`warn`/`fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id (`layout`, `erofs`, `compression`, `space`, …).
    pub id: String,
    /// Outcome.
    pub status: Status,
    /// What was found, in words, with numbers and paths.
    pub detail: String,
}

/// The `--check --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No check failed.
    pub compatible: bool,
    /// Kernel release checked (`--kver`, or empty when detection failed
    /// before it was known).
    pub kver: String,
    /// Layout (null when detection failed).
    pub layout: Option<Layout>,
    /// Kernel support (null when detection failed).
    pub kernel: Option<KernelSupport>,
    /// The compression an install would use (None when impossible).
    pub compression: Option<String>,
    /// The `[boot] drivers` an install would write (empty: every storage
    /// driver goes into the mini initramfs).
    pub drivers: Vec<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The trial boot of the checked kernel: boot loader, counter, and the
    /// last failure the boot-time program recorded (null when detection
    /// failed).
    pub trial: Option<crate::trial::Report>,
}

fn check(id: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        id: id.into(),
        status,
        detail: detail.into(),
    }
}

fn avail_check(id: &str, what: &str, a: Availability, guessed: bool) -> Check {
    match a {
        Availability::Builtin => check(id, Status::Pass, format!("{what} built in")),
        Availability::Module => check(id, Status::Pass, format!("{what} as a module (present)")),
        Availability::Missing => check(
            id,
            Status::Fail,
            format!("{what} missing from the kernel (not enabled, or the module is not installed)"),
        ),
        Availability::Unknown => check(
            id,
            Status::Warn,
            format!(
                "{what}: unknown{}",
                if guessed { " (no kernel config)" } else { "" }
            ),
        ),
    }
}

/// Runs every check over the detection. `plan` is the install plan when it
/// could be computed (else its error is a failed `boot-entry` check).
pub fn checks(det: &Detection, plan: &anyhow::Result<Plan>) -> Vec<Check> {
    let mut v = Vec::new();
    let l = &det.layout;
    v.push(match (l.kind.supported(), layout::identity_unknown(l)) {
        (false, _) => check(
            "layout",
            Status::Fail,
            format!("{}: {}", l.kind.as_str(), l.detail),
        ),
        (true, Some(doubt)) => check(
            "layout",
            Status::Warn,
            format!("{}: {}; {doubt}", l.kind.as_str(), l.detail),
        ),
        (true, None) => check(
            "layout",
            Status::Pass,
            format!("{}: {}", l.kind.as_str(), l.detail),
        ),
    });
    if !l.skipped.is_empty() {
        v.push(check("mount-tables", Status::Warn, l.skipped.join("; ")));
    }
    let modules_dir = format!("/usr/lib/modules/{}", det.kver);
    let is_dir = |p: &str| det.target.path(p).map(|h| h.is_dir());
    v.push(
        match (
            is_dir(&modules_dir),
            is_dir(&format!("/lib/modules/{}", det.kver)),
        ) {
            (Ok(true), _) | (_, Ok(true)) => {
                check("kver", Status::Pass, format!("kernel {}", det.kver))
            }
            (Err(e), _) | (_, Err(e)) => {
                check("kver", Status::Fail, format!("kernel {}: {e:#}", det.kver))
            }
            _ => check(
                "kver",
                Status::Fail,
                format!("kernel {}: {modules_dir} does not exist", det.kver),
            ),
        },
    );
    let k = &det.kernel;
    v.push(match (&k.config, &k.guess) {
        (Some(c), _) => check("kernel-config", Status::Pass, c.clone()),
        (None, g) => check("kernel-config", Status::Warn, g.clone().unwrap_or_default()),
    });
    let guessed = k.guess.is_some();
    v.push(avail_check(
        "erofs",
        "erofs (CONFIG_EROFS_FS)",
        k.erofs,
        guessed,
    ));
    v.push(avail_check(
        "overlay",
        "overlayfs (CONFIG_OVERLAY_FS)",
        k.overlay,
        guessed,
    ));
    v.push(avail_check(
        "loop",
        "loop devices (CONFIG_BLK_DEV_LOOP)",
        k.loop_dev,
        guessed,
    ));
    if let Some((t, a)) = &k.bootfs {
        v.push(avail_check(
            "bootfs-driver",
            &format!("/boot filesystem {t}"),
            *a,
            guessed,
        ));
    }
    let t = &det.tools;
    let uses_dracut = [&det.config.build.initoverlayfs, &det.config.build.initrd]
        .iter()
        .any(|a| a.first().is_some_and(|p| p == "dracut"));
    match (&t.dracut, uses_dracut) {
        (Some(ver), _) => v.push(check("dracut", Status::Pass, format!("dracut {ver}"))),
        (None, true) => v.push(check("dracut", Status::Fail, "dracut is not installed")),
        (None, false) => v.push(check("dracut", Status::Pass, "not used by [build]")),
    }
    if !t.missing_builders.is_empty() {
        v.push(check(
            "builders",
            Status::Fail,
            format!(
                "[build] programs not found: {}",
                t.missing_builders.join(", ")
            ),
        ));
    }
    if !t.missing_payload.is_empty() {
        v.push(check(
            "initoverlayfs-files",
            Status::Fail,
            format!(
                "not installed in the target (the initoverlayfs packages provide them): {}",
                t.missing_payload.join(", ")
            ),
        ));
    }
    v.push(match &t.mkfs {
        Ok((ver, algs)) => check(
            "mkfs-erofs",
            Status::Pass,
            format!(
                "mkfs.erofs {ver} (compressors: {})",
                algs.iter()
                    .filter(|a| **a != Algorithm::None)
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Err(e) => check(
            "mkfs-erofs",
            Status::Fail,
            format!("mkfs.erofs unusable: {e}"),
        ),
    });
    v.push(match &det.compression {
        Ok(c) => check(
            "compression",
            if guessed && c.algorithm != Algorithm::None {
                Status::Warn
            } else {
                Status::Pass
            },
            format!(
                "{c}{}",
                if guessed {
                    " (kernel support guessed)"
                } else {
                    ""
                }
            ),
        ),
        Err(e) => check("compression", Status::Fail, e.clone()),
    });
    if !l.kind.supported() {
        // Entries and space do not matter on a refused layout.
        return v;
    }
    v.push(bootfs_check(det));
    v.push(drivers_check(det));
    v.push(match (det.entry(), plan) {
        (_, Err(e)) => check("boot-entry", Status::Fail, format!("{e:#}")),
        (Some(e), Ok(_)) => check("boot-entry", Status::Pass, e.path.clone()),
        (None, Ok(p)) => check(
            "boot-entry",
            Status::Warn,
            format!(
                "no BLS entry for {}: {} will be created",
                det.kver, p.final_entry
            ),
        ),
    });
    let legacy: Vec<String> = det
        .entries
        .iter()
        .filter_map(|e| {
            crate::entries::renamed_legacy(&e.file_name).map(|n| {
                format!(
                    "{} (systemd rejects `~`; an install renames it to {n})",
                    e.path
                )
            })
        })
        .collect();
    if !det.skipped_entries.is_empty() || !legacy.is_empty() {
        let mut lines = det.skipped_entries.clone();
        lines.extend(legacy);
        v.push(check("boot-entries", Status::Warn, lines.join("; ")));
    }
    v.push(trial_check(det, &trial_report(det, plan)));
    v.push(match &det.initrd {
        Some(i) => check(
            "initramfs",
            Status::Pass,
            format!(
                "{} ({}, found by {})",
                i.path,
                space::human(i.size),
                i.found_by
            ),
        ),
        None => check(
            "initramfs",
            Status::Warn,
            format!(
                "no initramfs for {} yet: a first build, no fallback entry",
                det.kver
            ),
        ),
    });
    for m in boot_mounts(det) {
        let writable = det.target.path(&m).and_then(|h| {
            rustix::fs::access(&h, rustix::fs::Access::WRITE_OK)
                .map_err(|e| anyhow::Error::from(std::io::Error::from(e)))
        });
        if let Err(e) = writable {
            v.push(check(
                "boot-writable",
                Status::Fail,
                format!("{m} is not writable: {e:#}"),
            ));
        }
    }
    if let (Ok(p), Ok(free)) = (plan, &det.free) {
        let fb = p.fallback.as_ref().and_then(|f| det.target.path(f).ok());
        let fb_exists = fb.as_ref().is_some_and(|f| f.exists());
        let orig = fb
            .filter(|_| fb_exists)
            .and_then(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .or(det.initrd.as_ref().map(|i| i.size));
        let compressed = det
            .compression
            .as_ref()
            .is_ok_and(|c| c.algorithm != Algorithm::None);
        let need = space::estimate(orig, fb_exists, compressed);
        let mount = &det.boot_root.mount;
        v.push(if *free >= need {
            check(
                "space",
                Status::Pass,
                format!(
                    "{} free on {mount}, about {} needed",
                    space::human(*free),
                    space::human(need)
                ),
            )
        } else {
            check(
                "space",
                Status::Fail,
                format!(
                    "{} free on {mount} ({free} bytes), about {} needed ({need} bytes)",
                    space::human(*free),
                    space::human(need)
                ),
            )
        });
    } else if let Err(e) = &det.free {
        v.push(check("space", Status::Fail, e.clone()));
    }
    v
}

/// The `bootfs` check: the config an install writes makes the boot-time
/// program mount the filesystem on `/boot`, showing what `/boot` shows
/// ([`bootfs::verify`]).
fn bootfs_check(det: &Detection) -> Check {
    let boot_mount = det
        .layout
        .boot
        .as_ref()
        .map_or("/boot", |b| b.mount_point.as_str());
    let verdict = det.bootfs.clone().and_then(|facts| {
        bootfs::verify(&det.config, &det.kver, boot_mount, &facts).map_err(|e| format!("{e:#}"))
    });
    match verdict {
        Ok(detail) => check("bootfs", Status::Pass, detail),
        Err(e) => check("bootfs", Status::Fail, e),
    }
}

/// How the trial of the detected kernel stands.
pub fn trial_report(det: &Detection, plan: &anyhow::Result<Plan>) -> crate::trial::Report {
    let installed = plan
        .as_ref()
        .ok()
        .is_some_and(|p| det.target.path(&p.image).is_ok_and(|h| h.is_file()));
    crate::trial::report(
        &det.target,
        &crate::install::trial_places(det),
        &det.loader,
        &det.tries,
        &det.entries,
        &det.kver,
        installed,
    )
}

/// The `trial` check: how a new install is counted, how the last trial
/// went. A failed trial is a warning (running the install again is how to
/// retry, so it must not block it); an unreadable `/etc/kernel/tries` fails.
fn trial_check(det: &Detection, t: &crate::trial::Report) -> Check {
    let counting = match (&det.tries, det.loader.kind) {
        (Err(e), _) => return check("trial", Status::Fail, e.clone()),
        (Ok((0, from)), _) => format!("boot counting off ({from})"),
        (Ok((n, from)), crate::loader::Kind::Grub) => match &det.loader.grubenv {
            Some(g) => format!("{n} tries ({from}) in {g}"),
            None => "no grubenv found: no boot counting".into(),
        },
        (Ok((n, from)), _) => format!("{n} tries ({from}) in the entry name"),
    };
    let detail = format!(
        "{} ({}): {counting}; {}",
        det.loader.kind.as_str(),
        det.loader.found_by,
        t.detail
    );
    // Whether a failed boot can reach the fallback with nobody there.
    let no_way_back = match det.loader.kind {
        crate::loader::Kind::Grub if det.loader.grubenv_in_bootfs.is_none() => Some(
            "GRUB's grubenv is not on the boot filesystem, so a failed boot cannot point GRUB at the fallback entry: it reboots into the same entry",
        ),
        crate::loader::Kind::Unknown => Some(
            "boot loader unknown: a failed boot reaches the fallback entry only if the boot loader implements boot counting",
        ),
        _ => None,
    };
    let status = match (t.state, no_way_back) {
        (crate::trial::State::Failed, _) | (_, Some(_)) => Status::Warn,
        _ => Status::Pass,
    };
    let detail = match no_way_back {
        Some(w) => format!("{detail}; {w}"),
        None => detail,
    };
    check("trial", status, detail)
}

/// The `drivers` check: what goes into the mini initramfs; fails when
/// `--drivers auto` found no device or the config names a non-module.
fn drivers_check(det: &Detection) -> Check {
    let d = &det.config.boot.drivers;
    let text = drivers::describe(d, &det.drivers);
    let bad: Vec<&String> = d.iter().filter(|n| !drivers::valid_name(n)).collect();
    match &det.drivers {
        Origin::Failed(_) => check("drivers", Status::Fail, text),
        _ if !bad.is_empty() => check(
            "drivers",
            Status::Fail,
            format!("[boot] drivers: not kernel module names: {bad:?}"),
        ),
        Origin::Detected(_) if d.is_empty() => check("drivers", Status::Warn, text),
        _ => check("drivers", Status::Pass, text),
    }
}

/// The mount points an install writes to: `$BOOT` and the boot filesystem.
pub fn boot_mounts(det: &Detection) -> Vec<String> {
    let mut v = vec![det.boot_root.mount.clone()];
    if let Some(b) = &det.layout.boot {
        if !v.contains(&b.mount_point) {
            v.push(b.mount_point.clone());
        }
    }
    v
}

/// Builds the report.
pub fn report(det: &Detection) -> Report {
    let has_original = det.initrd.is_some();
    let plan = plan::plan(det, has_original);
    let checks = checks(det, &plan);
    let trial = Some(trial_report(det, &plan));
    Report {
        compatible: checks.iter().all(|c| c.status != Status::Fail),
        kver: det.kver.clone(),
        layout: Some(det.layout.clone()),
        kernel: Some(det.kernel.clone()),
        compression: det
            .compression
            .as_ref()
            .ok()
            .map(|c| c.algorithm.as_str().to_string()),
        drivers: det.config.boot.drivers.clone(),
        checks,
        trial,
    }
}

/// The report when detection itself failed (an input that cannot be read):
/// one failing `detect` check carrying the error chain, so `--check --json`
/// still prints a document. `kver` is `--kver` when given.
pub fn failed_report(kver: Option<&str>, err: &anyhow::Error) -> Report {
    Report {
        compatible: false,
        kver: kver.unwrap_or_default().to_string(),
        layout: None,
        kernel: None,
        compression: None,
        drivers: Vec::new(),
        checks: vec![check("detect", Status::Fail, format!("{err:#}"))],
        trial: None,
    }
}

/// Renders the checks as an aligned text table.
pub fn table(checks: &[Check]) -> String {
    let w = checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
    let mut s = format!("{:<w$}  {:<6}  {}\n", "CHECK", "STATUS", "DETAIL");
    for c in checks {
        let _ = writeln!(s, "{:<w$}  {:<6}  {}", c.id, c.status.as_str(), c.detail);
    }
    s
}
