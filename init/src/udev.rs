//! systemd mode: make udev (re)announce storage devices so the
//! `/dev/disk/by-*` link for the boot filesystem appears.
//!
//! First `udevadm trigger --action=add` for the storage subsystems
//! ([`STORAGE_SUBSYSTEMS`]); if the device is still missing after
//! [`FULL_TRIGGER_AFTER`], one full `udevadm trigger --action=add` (SD cards
//! behind `mmc`/`platform` devices are easy to miss). Waiting itself is done
//! by polling for the link ([`crate::resolve::Resolver::wait`]), which is what
//! `udevadm settle --exit-if-exists` does, without blocking on unrelated
//! events.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::cmd::CommandRunExt;
use crate::modules::find_tool;
use crate::{info, warn};

/// Subsystems triggered first: the block layer and the buses disks hang off.
pub const STORAGE_SUBSYSTEMS: &[&str] = &[
    "block", "pci", "virtio", "scsi", "nvme", "ata", "mmc", "usb",
];

/// How long to wait for the boot device before a full trigger.
pub const FULL_TRIGGER_AFTER: Duration = Duration::from_secs(3);

/// udevadm, if present, and whether the full trigger already ran.
#[derive(Debug)]
pub struct Udev {
    udevadm: Option<PathBuf>,
    full_done: bool,
}

impl Udev {
    /// Finds `udevadm`.
    pub fn find() -> Udev {
        Udev {
            udevadm: find_tool("udevadm"),
            full_done: false,
        }
    }

    fn trigger(&self, subsystems: &[&str]) {
        let Some(udevadm) = &self.udevadm else {
            warn!("udevadm not found; not triggering udev");
            return;
        };
        let mut cmd = Command::new(udevadm);
        cmd.args(["trigger", "--action=add"]);
        for s in subsystems {
            cmd.arg(format!("--subsystem-match={s}"));
        }
        if let Err(e) = cmd.run() {
            warn!("{e:#}");
        }
    }

    /// Triggers the storage subsystems.
    pub fn trigger_storage(&self) {
        if self.udevadm.is_some() {
            info!("udev: triggering {}", STORAGE_SUBSYSTEMS.join(" "));
        }
        self.trigger(STORAGE_SUBSYSTEMS);
    }

    /// Called while waiting: after [`FULL_TRIGGER_AFTER`], triggers all
    /// devices once.
    pub fn tick(&mut self, elapsed: Duration) {
        if !self.full_done && elapsed >= FULL_TRIGGER_AFTER {
            self.full_done = true;
            if self.udevadm.is_none() {
                return;
            }
            info!(
                "udev: boot device still missing after {} s, triggering all devices",
                elapsed.as_secs()
            );
            self.trigger(&[]);
        }
    }
}
