//! Kernel modules: `modprobe -q -b` for what we need, and the pid1-mode
//! minimal coldplug.
//!
//! In pid1 mode there is no udev to load drivers for the hardware, so
//! [`Coldplug::pass`] reads every `modalias` file under `/sys/devices` and
//! asks modprobe (from the initramfs) to load whatever matches, in one
//! `modprobe -q -b -a ALIAS...` run. Loading a bus driver (virtio_pci) makes
//! new devices (virtio0) with new aliases (virtio_blk), so passes repeat
//! while waiting for the boot device. Only the first pass walks all of
//! `/sys/devices` (thousands of entries, several ms); later passes read
//! `/sys/bus/*/devices/*/modalias`, where every device a driver can bind to
//! is listed, which costs a fraction of that. Built-in drivers need nothing; a
//! missing modprobe is logged and skipped.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::CommandRunExt;
use crate::{debug, warn};

/// Where tools are looked for besides `$PATH` (the kernel starts init with
/// no `PATH`; Debian's initramfs keeps modprobe in `/usr/sbin` or `/sbin`).
pub const TOOL_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Finds the executable `name` in `$PATH`, then in [`TOOL_DIRS`].
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(TOOL_DIRS.iter().copied())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A modprobe binary (or none).
#[derive(Debug, Clone)]
pub struct Modprobe {
    path: Option<PathBuf>,
}

impl Modprobe {
    /// Looks up `modprobe` with [`find_tool`].
    pub fn find() -> Modprobe {
        Modprobe {
            path: find_tool("modprobe"),
        }
    }

    /// Uses the given program as modprobe (tests).
    pub fn at(path: &Path) -> Modprobe {
        Modprobe {
            path: Some(path.to_path_buf()),
        }
    }

    /// Runs `modprobe -q -b -a NAMES...` (names or aliases). Best effort:
    /// failures are logged (a module may be built in, or absent and then
    /// the mount that needs it fails with its own error). Returns whether
    /// modprobe ran and succeeded.
    pub fn load(&self, names: &[String]) -> bool {
        match self.try_load(names) {
            Ok(ran) => ran,
            Err(e) => {
                warn!("modprobe: {e:#}");
                false
            }
        }
    }

    /// Like [`Modprobe::load`], for coldplug: some aliases always fail (a
    /// driver that probes nothing, or none at all, as with udev), so a
    /// failure is a one-line debug message, not a console warning.
    pub fn load_quiet(&self, names: &[String]) -> bool {
        match self.try_load(names) {
            Ok(ran) => ran,
            Err(_) => {
                debug!(
                    "coldplug: modprobe failed for some of {} aliases (devices without a loadable driver)",
                    names.len()
                );
                false
            }
        }
    }

    /// Runs modprobe; `Ok(false)` when there is no modprobe to run.
    fn try_load(&self, names: &[String]) -> anyhow::Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        let Some(path) = &self.path else {
            debug!("no modprobe found; not loading {}", names.join(" "));
            return Ok(false);
        };
        Command::new(path)
            .args(["-q", "-b", "-a"])
            .args(names)
            .run()?;
        Ok(true)
    }
}

/// Attribute directories present on many devices that never hold child
/// devices; skipping them halves the directories a `/sys/devices` walk reads.
pub const SKIP_DIRS: &[&str] = &[
    "power",
    "msi_irqs",
    "queue",
    "trace",
    "holders",
    "slaves",
    "mq",
    "integrity",
    "statistics",
];

/// Collects the contents of every `modalias` file below `dir`, not
/// following symlinks (sysfs is full of cycles through them) and not
/// entering [`SKIP_DIRS`].
pub fn collect_modaliases(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if SKIP_DIRS.iter().any(|s| entry.file_name() == *s) {
                continue;
            }
            collect_modaliases(&entry.path(), out);
        } else if ft.is_file() && entry.file_name() == "modalias" {
            if let Ok(text) = fs::read_to_string(entry.path()) {
                let alias = text.trim();
                if !alias.is_empty() {
                    out.push(alias.to_string());
                }
            }
        }
    }
}

/// Collects `/sys/bus/*/devices/*/modalias` under `sys` (the devices of
/// every bus, through the bus' symlinks).
pub fn collect_bus_modaliases(sys: &Path, out: &mut Vec<String>) {
    let Ok(buses) = fs::read_dir(sys.join("bus")) else {
        return;
    };
    for bus in buses.flatten() {
        let Ok(devices) = fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Ok(text) = fs::read_to_string(dev.path().join("modalias")) {
                let alias = text.trim();
                if !alias.is_empty() {
                    out.push(alias.to_string());
                }
            }
        }
    }
}

/// Minimal coldplug state: the aliases already handed to modprobe.
#[derive(Debug)]
pub struct Coldplug {
    sys: PathBuf,
    passes: u32,
    modprobe: Modprobe,
    seen: HashSet<String>,
}

impl Coldplug {
    /// Coldplug of `ROOT/sys` with `modprobe`.
    pub fn new(root: &Path, modprobe: Modprobe) -> Coldplug {
        Coldplug {
            sys: root.join("sys"),
            passes: 0,
            modprobe,
            seen: HashSet::new(),
        }
    }

    /// One pass: loads drivers for aliases not seen before. Returns how many
    /// new aliases there were. The first pass walks `/sys/devices`, later
    /// ones the bus device lists.
    pub fn pass(&mut self) -> usize {
        let mut all = Vec::new();
        if self.passes == 0 {
            collect_modaliases(&self.sys.join("devices"), &mut all);
        } else {
            collect_bus_modaliases(&self.sys, &mut all);
        }
        self.passes += 1;
        let mut new: Vec<String> = all
            .into_iter()
            .filter(|a| self.seen.insert(a.clone()))
            .collect();
        new.sort();
        if !new.is_empty() {
            debug!("coldplug: {} new modaliases", new.len());
            self.modprobe.load_quiet(&new);
        }
        new.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn coldplug_loads_each_alias_once_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let pci = root.join("sys/devices/pci0000:00/0000:00:04.0");
        fs::create_dir_all(pci.join("virtio1")).unwrap();
        fs::create_dir_all(pci.join("power")).unwrap();
        fs::write(pci.join("power/modalias"), "not:a-device\n").unwrap();
        fs::write(
            pci.join("modalias"),
            "pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00\n",
        )
        .unwrap();
        // A cycle like sysfs' "subsystem"/"driver" links must not be followed.
        std::os::unix::fs::symlink(root.join("sys/devices"), pci.join("subsystem")).unwrap();
        let log = root.join("calls");
        let fake = root.join("modprobe");
        fs::write(
            &fake,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();

        let mut cp = Coldplug::new(root, Modprobe::at(&fake));
        assert_eq!(cp.pass(), 1);
        assert_eq!(cp.pass(), 0, "nothing new, modprobe not run again");
        // The driver made a new device with its own alias, listed on its bus.
        fs::write(pci.join("virtio1/modalias"), "virtio:d00000002v00001AF4\n").unwrap();
        fs::create_dir_all(root.join("sys/bus/virtio/devices")).unwrap();
        std::os::unix::fs::symlink(
            pci.join("virtio1"),
            root.join("sys/bus/virtio/devices/virtio1"),
        )
        .unwrap();
        fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
        std::os::unix::fs::symlink(&pci, root.join("sys/bus/pci/devices/0000:00:04.0")).unwrap();
        assert_eq!(cp.pass(), 1);
        assert_eq!(cp.pass(), 0);
        let calls = fs::read_to_string(&log).unwrap();
        assert_eq!(
            calls,
            "-q -b -a pci:v00001AF4d00001042sv00001AF4sd00001100bc01sc00i00\n-q -b -a virtio:d00000002v00001AF4\n"
        );
    }

    #[test]
    fn missing_modprobe_is_not_fatal() {
        let m = Modprobe { path: None };
        assert!(!m.load(&["loop".to_string()]));
        assert!(m.load(&[]));
        assert!(find_tool("sh").is_some());
    }
}
