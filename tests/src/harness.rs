//! The harness a test or benchmark drives: the cache, the chosen
//! accelerator, a per-run work directory, and "boot this disk's entry and
//! tell me what happened".

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bootloader::{self, BootFiles, Choice, Menu};
use crate::cache::Cache;
use crate::image::{self, Image};
use crate::mounted::MountedGuest;
use crate::paths::Paths;
use crate::qemu::{self, Accel, BootLog, BootSpec};
use crate::rootfs;
use crate::scenario::Scenario;
use crate::serial::{self, Timeline};

/// One boot's record.
#[derive(Debug, Clone)]
pub struct Boot {
    /// A short label (`fedora-1-plain`), also the log's file name.
    pub label: String,
    /// What the boot loader booted.
    pub files: BootFiles,
    /// The menu the boot loader saw.
    pub menu: Menu,
    /// The console record.
    pub log: BootLog,
    /// Milestones parsed from the console.
    pub timeline: Timeline,
}

impl Boot {
    /// True if the guest reported a finished boot.
    pub fn booted(&self) -> bool {
        self.timeline.boot_ok_seen
    }

    /// An error carrying the label, the log path and the relevant console
    /// lines: for a guest that booted, the marker's report and the
    /// program's lines; otherwise the console tail.
    pub fn failure(&self, what: &str) -> anyhow::Error {
        let detail = if self.booted() {
            self.log
                .lines
                .iter()
                .filter(|l| {
                    l.starts_with("VM-") && !l.starts_with(crate::guest::DMESG_PREFIX)
                        || l.contains(crate::serial::PROGRAM_PREFIX.trim_end())
                })
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            self.log.tail(40)
        };
        anyhow::anyhow!(
            "{}: {what} (exit {:?} after {:.0} s; log {}); console:\n{detail}",
            self.label,
            self.log.exit,
            self.log.wall.as_secs_f64(),
            self.log.path.display(),
        )
    }
}

/// The harness state for one run.
#[derive(Debug)]
pub struct Harness {
    /// Where things live.
    pub paths: Paths,
    /// The artefact cache.
    pub cache: Cache,
    /// This run's directory under `TARGET/vm/` (logs, disk copies).
    pub run_dir: PathBuf,
    /// The root-tree tarball.
    pub rootfs: PathBuf,
    /// Its cache key.
    pub rootfs_key: String,
    accel: Option<Accel>,
}

impl Harness {
    /// Prepares a run: ensures the root tree (mmdebstrap on a cold cache)
    /// and creates `TARGET/vm/RUN_NAME` (emptied first).
    ///
    /// Errors: the root tree cannot be built, or the run dir not created.
    pub fn new(run_name: &str) -> Result<Harness> {
        let paths = Paths::detect();
        let cache = Cache::new(&paths.cache);
        let run_dir = paths.vm.join(run_name);
        if run_dir.exists() {
            std::fs::remove_dir_all(&run_dir)
                .with_context(|| format!("cannot clear {}", run_dir.display()))?;
        }
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        let (rootfs, _) = rootfs::ensure(&cache)?;
        Ok(Harness {
            paths,
            cache,
            run_dir,
            rootfs,
            rootfs_key: rootfs::cache_key(),
            accel: None,
        })
    }

    /// The pristine image of `scenario` (built on a cold cache).
    pub fn image(&self, scenario: &Scenario) -> Result<Image> {
        image::ensure(
            &self.cache,
            &self.paths.vm,
            scenario,
            &self.rootfs,
            &self.rootfs_key,
        )
    }

    /// A fresh writable copy of `img` named `NAME.raw` in the run dir.
    pub fn copy(&self, img: &Image, name: &str) -> Result<PathBuf> {
        let to = self.run_dir.join(format!("{name}.raw"));
        image::copy_sparse(&img.path, &to)?;
        Ok(to)
    }

    /// Mounts the guest on disk `disk` (root + /boot) for host-side work.
    pub fn mount(&self, disk: &Path, scenario: &Scenario, name: &str) -> Result<MountedGuest> {
        MountedGuest::mount(
            disk,
            &self.run_dir.join(format!("mnt-{name}")),
            &scenario.root_mount_options(),
        )
    }

    /// The accelerator (probed once, with `kernel`).
    pub fn accel(&mut self, kernel: &Path) -> Result<Accel> {
        if let Some(a) = self.accel {
            return Ok(a);
        }
        let a = qemu::choose_accel(kernel, &self.paths.vm)?;
        self.accel = Some(a);
        Ok(a)
    }

    /// Plays the boot loader on `disk`: picks `choice`, boots it with a hard
    /// timeout of `timeout` (sized for TCG), stopping early on a dead end or
    /// a line in `stop_on`. The log is `RUN_DIR/LABEL.log`. A guest failure
    /// is not an error here: callers judge the returned [`Boot`].
    ///
    /// Errors: the menu cannot be read, the entry's files are missing, or
    /// QEMU cannot run.
    pub fn boot(
        &mut self,
        disk: &Path,
        choice: &Choice,
        label: &str,
        timeout: Duration,
        stop_on: &[&str],
    ) -> Result<Boot> {
        let dir = self.run_dir.join(format!("{label}-boot"));
        let (files, menu) = bootloader::prepare(disk, choice, &dir)
            .with_context(|| format!("{label}: boot loader"))?;
        let accel = self.accel(&files.kernel)?;
        eprintln!(
            "vm: {label}: booting entry {} (initrd {} bytes, {accel:?})",
            files.entry.id, files.initrd_bytes
        );
        let log_path = self.run_dir.join(format!("{label}.log"));
        let log = qemu::boot(&BootSpec {
            kernel: &files.kernel,
            initrd: Some(&files.initrd),
            append: &files.entry.options,
            disk: Some(disk),
            log: &log_path,
            timeout: accel.scale(timeout),
            accel,
            stop_on,
            echo_all: std::env::var_os("INITOVERLAYFS_VM_VERBOSE").is_some(),
        })?;
        let timeline = serial::timeline(&log.lines);
        eprintln!(
            "vm: {label}: {:?} after {:.1} s{}",
            log.exit,
            log.wall.as_secs_f64(),
            if timeline.boot_ok_seen {
                ", VM-BOOT-OK"
            } else {
                ""
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Boot {
            label: label.to_string(),
            files,
            menu,
            log,
            timeline,
        })
    }
}
