//! Did a boot let go of /boot? What the guest's marker reports from the real
//! root (loop devices bound to our image, erofs superblocks, a remount of
//! /boot, the fsck of /boot, the journal's warnings), what the console shows
//! at shutdown, and, on the host after poweroff, whether the /boot
//! filesystem on the disk image was left clean.
//!
//! A boot through initoverlayfs must pass the same checks as a plain boot of
//! the same disk: the image is held only by the initramfs' overlay, which the
//! switch into the real root releases.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::disk;
use crate::loopdev::LoopDevice;
use crate::mounted::Layout;

/// Marker keys (see the marker script in [`crate::guest`]).
pub const LOOPS: &str = "VM-LOOPS";
/// Names under `/sys/fs/erofs` other than `features`: one per mounted erofs.
pub const EROFS: &str = "VM-EROFS";
/// `ok` when `umount /boot && mount /boot` worked in the real root.
pub const BOOT_REMOUNT: &str = "VM-BOOT-REMOUNT";
/// The log lines of the `systemd-fsck@` units (joined with ` | `).
pub const FSCK: &str = "VM-FSCK";
/// Prefix of each `journalctl -b -p warning` line the marker prints.
pub const WARN_PREFIX: &str = "VM-WARN: ";
/// What systemd-shutdown prints when a loop device stays bound at poweroff.
pub const FINALIZE_LOOPS_FAILED: &str = "Failed to finalize loop devices";

/// What a boot's console says about the image and /boot in the real root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuestRelease {
    /// Backing files of bound loop devices.
    pub loops: Vec<String>,
    /// Mounted erofs filesystems (`/sys/fs/erofs/<dev>`).
    pub erofs: Vec<String>,
    /// Whether /boot could be unmounted and mounted again.
    pub remount_ok: bool,
    /// The fsck units' log lines.
    pub fsck: String,
    /// Whether systemd-shutdown failed to detach a loop device.
    pub finalize_failed: bool,
}

impl GuestRelease {
    /// Reads the marker lines and the shutdown messages of a console log.
    /// Errors: the marker's release lines are missing (an old marker, or a
    /// boot that did not finish).
    pub fn parse(lines: &[String]) -> Result<GuestRelease> {
        let value = |key: &str| {
            crate::serial::marker_value(lines, key)
                .with_context(|| format!("no {key}: line on the console"))
        };
        let words = |v: String| v.split_whitespace().map(str::to_string).collect();
        Ok(GuestRelease {
            loops: words(value(LOOPS)?),
            erofs: words(value(EROFS)?),
            remount_ok: value(BOOT_REMOUNT)? == "ok",
            fsck: value(FSCK)?,
            finalize_failed: lines.iter().any(|l| l.contains(FINALIZE_LOOPS_FAILED)),
        })
    }

    /// What is wrong, one item per fault (empty: /boot was let go).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.loops.is_empty() {
            p.push(format!("loop devices still bound to {:?}", self.loops));
        }
        if !self.erofs.is_empty() {
            p.push(format!("erofs still mounted: {:?}", self.erofs));
        }
        if !self.remount_ok {
            p.push("umount /boot && mount /boot failed in the real root".into());
        }
        if self.fsck.contains("in use") || self.fsck.contains("Cannot continue") {
            p.push(format!("the fsck of /boot did not run: {}", self.fsck));
        }
        if self.finalize_failed {
            p.push(format!("shutdown: {FINALIZE_LOOPS_FAILED}"));
        }
        p
    }
}

/// The journal's warnings of a boot, normalized so that two boots of the
/// same disk compare: numbers (pids, times, sizes, addresses) become `#`.
pub fn warnings(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix(WARN_PREFIX))
        .map(normalize)
        .collect()
}

fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            // 42, 3.5, 7, 0xffff9a: one `#`.
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_hexdigit() || *n == 'x' || *n == '.')
            {
                chars.next();
            }
            out.push('#');
        } else {
            out.push(c);
        }
    }
    out
}

/// Warnings that come and go from one boot to the next under TCG emulation
/// on a loaded host, whatever the initramfs: the kernel's clock and CPU
/// calibration, udevd's note on a slow worker, and kmod's race between two
/// concurrent loads of acpi_cpufreq (one per vCPU; the driver finds no
/// P-states in QEMU and fails with ENODEV while the other reads its state).
const TIMING_NOISE: &[&str] = &[
    "is taking a long time",
    "/sys/module/acpi_cpufreq/initstate",
    "tsc: ",
    "APIC calibration",
    "mtrr: ",
    "Unstable clock",
    "trace_clock",
    "keep using the local clock",
    "clocksource",
    "hrtimer: interrupt took",
];

/// Warnings of `ours` that the plain boot's `plain` lacks, apart from our
/// own `initoverlayfs:` lines and [`TIMING_NOISE`].
pub fn new_warnings(ours: &BTreeSet<String>, plain: &BTreeSet<String>) -> Vec<String> {
    ours.difference(plain)
        .filter(|w| !w.contains("initoverlayfs"))
        .filter(|w| !TIMING_NOISE.iter().any(|n| w.contains(n)))
        .cloned()
        .collect()
}

/// Whether `dumpe2fs -h` output shows a journal that needs replaying.
/// Errors: no `Filesystem features:` line.
pub fn ext4_needs_recovery(dumpe2fs: &str) -> Result<bool> {
    let features = dumpe2fs
        .lines()
        .find_map(|l| l.strip_prefix("Filesystem features:"))
        .context("no `Filesystem features:` line in dumpe2fs -h output")?;
    Ok(features.split_whitespace().any(|f| f == "needs_recovery"))
}

/// Whether `xfs_logprint -t` output shows a dirty log.
/// Errors: no `state: <…>` in the output.
pub fn xfs_log_dirty(logprint: &str) -> Result<bool> {
    let state = logprint
        .split("state: <")
        .nth(1)
        .and_then(|s| s.split('>').next())
        .context("no `state: <…>` in xfs_logprint -t output")?;
    match state {
        "CLEAN" => Ok(false),
        "DIRTY" => Ok(true),
        other => bail!("unknown xfs log state {other:?}"),
    }
}

/// Whether the /boot filesystem of the powered-off guest `disk` needs a
/// journal/log replay (ext4 `needs_recovery`, xfs log `<DIRTY>`), read
/// without mounting it (a mount would replay it). Other types: `Ok(false)`.
///
/// Errors: the partition table, loop device or the tool fails.
pub fn boot_fs_dirty(disk: &Path) -> Result<bool> {
    let layout = Layout::read(disk)?;
    let lo: LoopDevice = disk::attach(disk, &layout.boot)?;
    let dev = lo.path();
    match disk::fs_type(dev)?.as_str() {
        "ext4" | "ext3" | "ext2" => {
            let out = Command::new("dumpe2fs")
                .arg("-h")
                .arg(dev)
                .run_get_string()?;
            ext4_needs_recovery(&out)
        }
        "xfs" => {
            let out = Command::new("xfs_logprint")
                .arg("-t")
                .arg(dev)
                .run_get_string()?;
            xfs_log_dirty(&out)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn held_image_is_every_kind_of_problem() {
        let l = lines(
            "VM-LOOPS: /initoverlayfs-6.1.0-50-amd64.img\n\
             VM-EROFS: loop0\n\
             VM-BOOT-REMOUNT: failed\n\
             VM-FSCK: /dev/vda2 is in use. | e2fsck: Cannot continue, aborting.\n\
             [  60.1] systemd-shutdown[1]: Failed to finalize loop devices, ignoring.\n",
        );
        let r = GuestRelease::parse(&l).unwrap();
        assert_eq!(r.loops, vec!["/initoverlayfs-6.1.0-50-amd64.img"]);
        assert_eq!(r.problems().len(), 5, "{:?}", r.problems());
    }

    #[test]
    fn released_boot_has_no_problem() {
        let l = lines(
            "VM-LOOPS: \nVM-EROFS: \nVM-BOOT-REMOUNT: ok\n\
             VM-FSCK: /dev/vda2: clean, 31/65536 files, 25406/262144 blocks\n",
        );
        let r = GuestRelease::parse(&l).unwrap();
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        assert!(GuestRelease::parse(&lines("VM-LOOPS: \n")).is_err());
    }

    #[test]
    fn warnings_compare_across_boots() {
        let plain = warnings(&lines(
            "VM-WARN: kvm: no hardware support for 'kvm_intel'\nVM-WARN: pid 412 took 3.5s\n",
        ));
        let ours = warnings(&lines(
            "VM-WARN: kvm: no hardware support for 'kvm_intel'\n\
             VM-WARN: pid 977 took 12.25s\n\
             VM-WARN: tsc: Unable to calibrate against PIT\n\
             VM-WARN: cpu0: Worker [407] processing SEQNUM=1711 is taking a long time\n\
             VM-WARN: could not read from '/sys/module/acpi_cpufreq/initstate': No such device\n\
             VM-WARN: initoverlayfs: overlay without volatile\n\
             VM-WARN: block device autoloading is deprecated and will be removed.\n",
        ));
        assert_eq!(
            new_warnings(&ours, &plain),
            vec!["block device autoloading is deprecated and will be removed."]
        );
        assert_eq!(
            normalize("loop0: dev 7:0 at 0xffff9a"),
            "loop#: dev #:# at #"
        );
    }

    #[test]
    fn reads_fs_tools_output() {
        let ext = "Filesystem volume name:   boot\n\
                   Filesystem features:      has_journal ext_attr resize_inode dir_index filetype needs_recovery extent 64bit\n";
        assert!(ext4_needs_recovery(ext).unwrap());
        assert!(!ext4_needs_recovery(&ext.replace("needs_recovery ", "")).unwrap());
        assert!(ext4_needs_recovery("nothing").is_err());
        let xfs = "xfs_logprint:\n    log tail: 2 head: 8 state: <DIRTY>\n";
        assert!(xfs_log_dirty(xfs).unwrap());
        assert!(!xfs_log_dirty(&xfs.replace("DIRTY", "CLEAN")).unwrap());
        assert!(xfs_log_dirty("").is_err());
    }
}
