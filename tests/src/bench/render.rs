//! `boot.md`: the tables of a [`Report`] — medians with min–max per
//! variant and payload, ratios to (a), slopes, sizes and build times, and
//! where the time goes (phases from kmsg timestamps, the program's steps).

use std::fmt::Write as _;

use crate::bench::kmsg::PHASES;
use crate::bench::record::{Report, Sample, Variant};
use crate::bench::stats::{self, Summary};

const MIB: f64 = 1024.0 * 1024.0;

/// `12.34 (11.90–13.02)`, or `-`.
pub fn cell(s: Option<Summary>) -> String {
    s.map_or("-".into(), |s| {
        format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
    })
}

/// `0.52×`, or `-`.
pub fn times(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}×"))
}

fn mib(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| format!("{:.1}", b as f64 / MIB))
}

fn secs(t: Option<f64>) -> String {
    t.map_or("-".into(), |t| format!("{t:.1}"))
}

/// Summary of milestone `i` (0 `t_initrd`, 1 `t_root`, 2 `t_ok`) over the
/// finished boots of `v` at `p`.
pub fn summary(r: &Report, v: Variant, p: u64, i: usize) -> Option<Summary> {
    let xs: Vec<f64> = r.samples_of(v, p).filter_map(|s| s.times()[i]).collect();
    stats::summarize(&xs)
}

/// `(payload, t_root)` of every finished boot of `v`.
pub fn root_points(r: &Report, v: Variant) -> Vec<(f64, f64)> {
    r.samples
        .iter()
        .filter(|s| s.variant == v)
        .filter_map(|s| s.times()[1].map(|t| (s.payload_mib as f64, t)))
        .collect()
}

fn finished(r: &Report, v: Variant, p: u64) -> Vec<&Sample> {
    r.samples_of(v, p).filter(|s| s.finished()).collect()
}

/// The main table: milestones per payload and variant, ratios to (a).
pub fn main_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| payload MiB | variant | boots ok | t_initrd s | t_root s | t_ok s | t_root ÷ (a) | t_ok ÷ (a) |"
    );
    let _ = writeln!(s, "|---:|---|---:|---|---|---|---:|---:|");
    for &p in &r.payloads {
        let a_root = summary(r, Variant::Dracut, p, 1).map(|x| x.median);
        let a_ok = summary(r, Variant::Dracut, p, 2).map(|x| x.median);
        for v in Variant::ALL {
            let n = r.samples_of(v, p).count();
            if n == 0 && r.build_of(v, p).is_none() {
                continue;
            }
            let ok = finished(r, v, p).len();
            let root = summary(r, v, p, 1);
            let okt = summary(r, v, p, 2);
            let (rr, ro) = if v == Variant::Dracut {
                (String::new(), String::new())
            } else {
                (
                    times(stats::ratio(root.map(|x| x.median), a_root)),
                    times(stats::ratio(okt.map(|x| x.median), a_ok)),
                )
            };
            let _ = writeln!(
                s,
                "| {p} | {} | {ok}/{n} | {} | {} | {} | {rr} | {ro} |",
                v.label(),
                cell(summary(r, v, p, 0)),
                cell(root),
                cell(okt),
            );
        }
    }
    s
}

/// `(payload, value)` of every finished boot of `v`, the value taken by `f`.
pub fn points(r: &Report, v: Variant, f: impl Fn(&Sample) -> Option<f64>) -> Vec<(f64, f64)> {
    r.samples
        .iter()
        .filter(|s| s.variant == v && s.finished())
        .filter_map(|s| f(s).map(|t| (s.payload_mib as f64, t)))
        .collect()
}

/// Slopes per 100 MiB of payload (least squares over every finished boot)
/// of `t_root`, `t_initrd` and the initramfs unpack phase, with the median
/// run-to-run spread (max − min) of `t_root` over the payloads for
/// comparison.
pub fn slope_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| variant | t_root slope s / 100 MiB | median spread of t_root s | t_initrd slope | initramfs unpack slope |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let fmt = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:+.2}"));
    for v in Variant::ALL {
        let spreads: Vec<f64> = r
            .payloads
            .iter()
            .filter_map(|&p| summary(r, v, p, 1).map(|x| x.spread()))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            v.label(),
            fmt(stats::slope_per_100_mib(&root_points(r, v))),
            secs(stats::median(&spreads)),
            fmt(stats::slope_per_100_mib(&points(r, v, |x| x.times()[0]))),
            fmt(stats::slope_per_100_mib(&points(r, v, |x| {
                x.phases.as_ref().map(|p| p[1])
            }))),
        );
    }
    s
}

/// Host-side sizes and build wall times.
pub fn sizes_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| payload MiB | dracut initramfs MiB | mini (b) MiB | mini (b) ÷ dracut | erofs (b) MiB | mini (c) MiB | mini (c) ÷ dracut | erofs (c) MiB | dracut -f s | installer (b) s | ÷ dracut -f | installer (c) s | ÷ dracut -f |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for &p in &r.payloads {
        let a = r.build_of(Variant::Dracut, p);
        let b = r.build_of(Variant::Systemd, p);
        let c = r.build_of(Variant::Pid1, p);
        let full = a.and_then(|x| x.dracut_initramfs_bytes);
        let pct = |m: Option<u64>| match (m, full) {
            (Some(m), Some(f)) if f > 0 => format!("{:.1} %", 100.0 * m as f64 / f as f64),
            _ => "-".into(),
        };
        let dr = a.and_then(|x| x.seconds);
        let _ = writeln!(
            s,
            "| {p} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mib(full),
            mib(b.and_then(|x| x.mini_initramfs_bytes)),
            pct(b.and_then(|x| x.mini_initramfs_bytes)),
            mib(b.and_then(|x| x.erofs_image_bytes)),
            mib(c.and_then(|x| x.mini_initramfs_bytes)),
            pct(c.and_then(|x| x.mini_initramfs_bytes)),
            mib(c.and_then(|x| x.erofs_image_bytes)),
            secs(dr),
            secs(b.and_then(|x| x.seconds)),
            times(stats::ratio(b.and_then(|x| x.seconds), dr)),
            secs(c.and_then(|x| x.seconds)),
            times(stats::ratio(c.and_then(|x| x.seconds), dr)),
        );
    }
    s
}

/// Where the time goes: the median of each phase (seconds) per payload and
/// variant, and the guest's `systemd-analyze time` medians.
pub fn phase_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(s, "| payload MiB | variant | before the kernel (host) |");
    for p in PHASES {
        let _ = write!(s, " {p} |");
    }
    let _ = writeln!(s, " = t_root | analyze: kernel + initrd + userspace |");
    let _ = writeln!(
        s,
        "|---:|---|---:|{}---:|---|",
        "---:|".repeat(PHASES.len())
    );
    for &p in &r.payloads {
        for v in Variant::ALL {
            let fin = finished(r, v, p);
            if fin.is_empty() {
                continue;
            }
            let pre: Vec<f64> = fin.iter().filter_map(|x| x.pre_kernel_s).collect();
            let _ = write!(
                s,
                "| {p} | {} | {} |",
                v.label(),
                stats::median(&pre).map_or("-".into(), |m| format!("{m:.2}"))
            );
            for i in 0..PHASES.len() {
                let xs: Vec<f64> = fin
                    .iter()
                    .filter_map(|x| x.phases.as_ref().map(|ph| ph[i]))
                    .collect();
                let _ = write!(
                    s,
                    " {} |",
                    stats::median(&xs).map_or("-".into(), |m| format!("{m:.2}"))
                );
            }
            let root: Vec<f64> = fin.iter().filter_map(|x| x.times()[1]).collect();
            let an = |f: fn(&crate::bench::kmsg::Analyze) -> Option<f64>| {
                let xs: Vec<f64> = fin
                    .iter()
                    .filter_map(|x| x.milestones.analyze.as_ref().and_then(f))
                    .collect();
                stats::median(&xs).map_or("-".into(), |m| format!("{m:.1}"))
            };
            let _ = writeln!(
                s,
                " {} | {} + {} + {} |",
                stats::median(&root).map_or("-".into(), |m| format!("{m:.2}")),
                an(|a| a.kernel),
                an(|a| a.initrd),
                an(|a| a.userspace),
            );
        }
    }
    s
}

/// The program's own steps in the boot with the median `t_root` of `v` at
/// `p`: each timestamped `initoverlayfs:` line, seconds since the first.
pub fn program_steps(r: &Report, v: Variant, p: u64) -> Option<String> {
    let mut fin = finished(r, v, p);
    fin.retain(|x| !x.milestones.program.is_empty() && x.times()[1].is_some());
    if fin.is_empty() {
        return None;
    }
    fin.sort_by(|a, b| {
        a.times()[1]
            .unwrap_or(0.0)
            .total_cmp(&b.times()[1].unwrap_or(0.0))
    });
    let m = fin[fin.len() / 2];
    let t0 = m.milestones.program[0].0;
    let mut s = format!(
        "{} with {p} MiB, boot `{}` (first line at {t0:.3} s):\n\n```\n",
        v.label(),
        m.label
    );
    for (t, l) in &m.milestones.program {
        let _ = writeln!(s, "+{:7.3} s  {l}", t - t0);
    }
    s.push_str("```\n");
    Some(s)
}

/// The whole `boot.md`.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Boot benchmark ({})\n", r.started);
    let _ = writeln!(
        s,
        "Fedora-layout guest (ext4 /boot, btrfs / on subvolume `root`), kernel {}; VM: {} accelerator, {} {} vCPUs, {} MiB, {}; host CPUs {} (shared). \
         {} boot(s) per variant and payload, interleaved a b c. Times are kernel timestamps in seconds: \
         `t_initrd` first systemd start in an initrd, `t_root` systemd start in the real root, `t_ok` the marker after `multi-user.target`; \
         cells are median (min–max).\n",
        r.kver, r.vm.accel, r.vm.machine, r.vm.smp, r.vm.memory_mib, r.vm.disk, r.vm.host_cpus, r.boots
    );
    s.push_str(&main_table(r));
    s.push_str("\n## Growth with the unread payload\n\n");
    s.push_str(&slope_table(r));
    s.push_str("\n## Host side: sizes and build wall time\n\n");
    s.push_str(&sizes_table(r));
    s.push_str(
        "\n## Where the time goes\n\nConsecutive phases (median seconds) that add up to `t_root`: kernel until the initramfs unpack starts \
         (`Trying to unpack rootfs image as initramfs`; the time before the kernel — firmware, kernel and initrd load by QEMU, \
         from host arrival times of console lines — is shown apart: kernel timestamps start after it), the unpack (until `Freeing initrd memory`), until the first userspace \
         (initrd systemd or our pid 1), the mini init (first → last `initoverlayfs:` line with a kernel timestamp; without \
         any, systemd mode counts from the mini systemd to the image's systemd), until the full initrd systemd starts, \
         and that systemd until the real root's systemd starts.\n\n",
    );
    s.push_str(&phase_table(r));
    for v in [Variant::Systemd, Variant::Pid1] {
        for &p in &r.payloads {
            if let Some(t) = program_steps(r, v, p) {
                s.push_str("\n### Our steps\n\n");
                s.push_str(&t);
                break;
            }
        }
    }
    let failed: Vec<&Sample> = r.samples.iter().filter(|x| !x.finished()).collect();
    if !failed.is_empty() || r.builds.iter().any(|b| b.error.is_some()) {
        s.push_str("\n## Failures\n\n");
        for b in r.builds.iter().filter(|b| b.error.is_some()) {
            let _ = writeln!(
                s,
                "- build {} {} MiB: {}",
                b.variant.map_or("?".into(), |v| v.label()),
                b.payload_mib,
                b.error.as_deref().unwrap_or("")
            );
        }
        for x in failed {
            let _ = writeln!(s, "- boot `{}`: {} (log `{}`)", x.label, x.exit, x.log);
        }
    }
    if !r.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::kmsg::Milestones;
    use crate::bench::record::{Build, VmShape};

    fn sample(v: Variant, p: u64, round: usize, root: f64, booted: bool) -> Sample {
        Sample {
            variant: v,
            payload_mib: p,
            round,
            label: format!("{}-{p}-{round}", v.letter()),
            booted,
            exit: "Exited".into(),
            wall_s: 40.0,
            initrd_bytes: 1,
            milestones: Milestones {
                t_initrd: Some(root / 2.0),
                t_root: Some(root),
                t_ok: booted.then_some(root + 20.0),
                ..Milestones::default()
            },
            phases: Some(vec![1.0, 2.0, 0.5, 0.0, 0.0, root - 3.5]),
            pre_kernel_s: Some(0.75),
            log: "x.log".into(),
        }
    }

    fn report() -> Report {
        let mut samples = Vec::new();
        for (p, a) in [(0u64, 20.0), (256, 30.0)] {
            for round in 0..3 {
                let d = round as f64 * 0.5;
                samples.push(sample(Variant::Dracut, p, round, a + d, true));
                samples.push(sample(Variant::Systemd, p, round, 20.0 + d, true));
                samples.push(sample(Variant::Pid1, p, round, 10.0 + d, round != 2));
            }
        }
        Report {
            started: "2026-11-29T20:00:00Z".into(),
            kver: "6.1.0-50-amd64".into(),
            vm: VmShape {
                accel: "tcg".into(),
                machine: "q35".into(),
                smp: 2,
                memory_mib: 4096,
                disk: "virtio".into(),
                host_cpus: 2,
            },
            payloads: vec![0, 256],
            boots: 3,
            builds: vec![
                Build {
                    variant: Some(Variant::Dracut),
                    payload_mib: 0,
                    seconds: Some(60.0),
                    dracut_initramfs_bytes: Some(40 << 20),
                    ..Build::default()
                },
                Build {
                    variant: Some(Variant::Systemd),
                    payload_mib: 0,
                    seconds: Some(66.0),
                    mini_initramfs_bytes: Some(8 << 20),
                    erofs_image_bytes: Some(90 << 20),
                    ..Build::default()
                },
            ],
            samples,
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn tables_show_medians_ranges_and_ratios() {
        let r = report();
        let t = main_table(&r);
        assert!(
            t.contains("| 256 | (a) dracut | 3/3 | 15.25 (15.00–15.50) | 30.50 (30.00–31.00) | 50.50 (50.00–51.00) |  |  |"),
            "{t}"
        );
        // (b) at 256 MiB: 20.5 / 30.5.
        assert!(t.contains("| 0.67× |"), "{t}");
        // A failed boot counts in n but not in the times.
        assert!(
            t.contains(
                "| 0 | (c) initoverlayfs-pid1 | 2/3 | 5.12 (5.00–5.25) | 10.25 (10.00–10.50)"
            ),
            "{t}"
        );
        let sl = slope_table(&r);
        assert!(
            sl.contains("| (a) dracut | +3.91 | 1.0 | +1.95 | +0.00 |"),
            "{sl}"
        );
        assert!(sl.contains("| (b) initoverlayfs-systemd | +0.00 |"), "{sl}");
        let sz = sizes_table(&r);
        assert!(
            sz.contains(
                "| 0 | 40.0 | 8.0 | 20.0 % | 90.0 | - | - | - | 60.0 | 66.0 | 1.10× | - | - |"
            ),
            "{sz}"
        );
        let ph = phase_table(&r);
        assert!(
            ph.contains(
                "| 0 | (a) dracut | 0.75 | 1.00 | 2.00 | 0.50 | 0.00 | 0.00 | 17.00 | 20.50 | - + - + - |"
            ),
            "{ph}"
        );
        // The marker's kmsg copy alone also marks a finished boot.
        let mut glued = sample(Variant::Pid1, 0, 3, 10.0, false);
        glued.milestones.t_ok = Some(30.0);
        assert!(glued.finished());
        assert_eq!(glued.times()[1], Some(10.0));
        assert!(!sample(Variant::Pid1, 0, 3, 10.0, false).finished());
        let md = markdown(&r);
        assert!(
            md.contains("## Failures") && md.contains("- a note"),
            "{md}"
        );
    }
}
