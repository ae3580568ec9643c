//! The demo's table: artefact sizes and, per boot, the kernel timestamps of
//! the boot's milestones.

use std::fmt::Write as _;

use crate::harness::Boot;

/// Sizes of the boot artefacts, in bytes (`None` = not measured).
#[derive(Debug, Clone, Default)]
pub struct Sizes {
    /// The distro's full initramfs (`/boot/initramfs-KVER.img`).
    pub full_initramfs: Option<u64>,
    /// The mini initramfs initoverlayfs installed.
    pub mini_initramfs: Option<u64>,
    /// The erofs image.
    pub erofs_image: Option<u64>,
}

fn mib(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| {
        format!("{:.1} MiB ({b} B)", b as f64 / 1048576.0)
    })
}

fn secs(t: Option<f64>) -> String {
    t.map_or("-".into(), |t| format!("{t:.3}"))
}

/// Renders the sizes and one row per boot.
pub fn table(sizes: &Sizes, boots: &[&Boot]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "sizes:");
    let _ = writeln!(s, "  full initramfs  {}", mib(sizes.full_initramfs));
    let _ = writeln!(s, "  mini initramfs  {}", mib(sizes.mini_initramfs));
    let _ = writeln!(s, "  erofs image     {}", mib(sizes.erofs_image));
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<28} {:>12} {:>14} {:>16} {:>11} {:>8}  initoverlayfs lines",
        "boot (kernel timestamps, s)",
        "initrd size",
        "initrd systemd",
        "switch real root",
        "VM-BOOT-OK",
        "wall s"
    );
    for b in boots {
        let tl = &b.timeline;
        let _ = writeln!(
            s,
            "{:<28} {:>12} {:>14} {:>16} {:>11} {:>8.1}  {}",
            b.label,
            b.files.initrd_bytes,
            secs(tl.first_initrd_systemd()),
            secs(tl.real_root_switch()),
            secs(tl.boot_ok),
            b.log.wall.as_secs_f64(),
            tl.initoverlayfs.len()
        );
    }
    s
}
