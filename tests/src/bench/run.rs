//! The benchmark run: for each payload, build the three variant disks,
//! then boot them interleaved (a b c a b c …) so drift on the shared host
//! hits every variant alike; record every sample as it comes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::bench::kmsg;
use crate::bench::prepare::{self, Disk};
use crate::bench::record::{Build, Report, Sample, Variant, VmShape};
use crate::bench::{grow, output, shim};
use crate::bootloader::Choice;
use crate::harness::Harness;
use crate::project;
use crate::scenario::FEDORA;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Payload sizes, MiB.
    pub payloads: Vec<u64>,
    /// Boots per variant and payload.
    pub boots: usize,
    /// Output directory (`boot.json`, `boot.md`, `boot.png`).
    pub out: PathBuf,
    /// Guest memory, MiB.
    pub memory_mib: u32,
    /// The variants to build and boot (in boot order).
    pub variants: Vec<Variant>,
    /// erofs compression for (b)/(c) (`--compression` of the installer;
    /// `None` = the installer's choice).
    pub compression: Option<String>,
    /// `[boot] drivers` for (b)/(c): the mini initramfs carries only these
    /// storage drivers (empty = every local storage driver).
    pub drivers: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            payloads: vec![0, 64, 256, 1024],
            boots: 5,
            out: PathBuf::from("target/bench"),
            memory_mib: 4096,
            variants: Variant::ALL.to_vec(),
            compression: None,
            drivers: Vec::new(),
        }
    }
}

/// The largest payload (MiB) every variant fits in the harness's 1 GiB /boot.
pub const MAX_PAYLOAD_IN_1G_BOOT: u64 = 700;
/// /boot size (MiB) of runs with a larger payload.
pub const BIG_BOOT_MIB: u64 = 3072;

/// Hard timeout of one boot: the harness's 300 s plus one second per MiB
/// of payload (a TCG guest decompresses a big initramfs slowly).
pub fn boot_timeout(payload_mib: u64) -> Duration {
    Duration::from_secs(300 + payload_mib)
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .run_get_string()
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The sample of one finished (or failed) boot.
fn sample(v: Variant, payload_mib: u64, round: usize, b: &crate::harness::Boot) -> Sample {
    let milestones = kmsg::milestones(&b.log.lines);
    let phases = kmsg::phases(&milestones);
    Sample {
        variant: v,
        payload_mib,
        round,
        label: b.label.clone(),
        booted: b.booted(),
        exit: format!("{:?}", b.log.exit),
        wall_s: b.log.wall.as_secs_f64(),
        initrd_bytes: b.files.initrd_bytes,
        milestones,
        phases,
        pre_kernel_s: None,
        log: b.log.path.display().to_string(),
    }
}

fn fmt_t(t: Option<f64>) -> String {
    t.map_or("-".into(), |t| format!("{t:.2}"))
}

/// Runs the benchmark, writing the outputs into `opts.out` after every
/// boot (so an interrupted run keeps what it measured).
///
/// Errors: the harness, image or project build fails, or the outputs
/// cannot be written. A variant that fails to build or boot is recorded
/// and skipped, never an error.
pub fn run(opts: &Options) -> Result<Report> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let out = std::fs::canonicalize(&opts.out)?;
    let real_qemu = shim::install(&out.join("shim"), opts.memory_mib)?;
    // One harness run dir per output dir, so two runs can go side by side.
    let name = out
        .file_name()
        .map_or("bench".into(), |n| format!("bench-{}", n.to_string_lossy()));
    let mut h = Harness::new(&name)?;
    project::build_release(&h.paths)?;
    let mut img = h.image(&FEDORA)?;
    let max = opts.payloads.iter().copied().max().unwrap_or(0);
    let grown = max > MAX_PAYLOAD_IN_1G_BOOT;
    if grown {
        img = grow::ensure(&h, &img, BIG_BOOT_MIB)?;
    }
    let mut report = Report {
        started: sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
        kver: img.kver.clone(),
        vm: VmShape {
            accel: "unknown".into(),
            machine: "q35".into(),
            smp: 2,
            memory_mib: opts.memory_mib,
            disk: "virtio-blk, raw, cache=unsafe".into(),
            host_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        },
        payloads: opts.payloads.clone(),
        boots: opts.boots,
        builds: Vec::new(),
        samples: Vec::new(),
        notes: vec![
            String::new(),
            format!(
                "guest memory set by a PATH wrapper around {} that appends -m {}",
                real_qemu.display(),
                opts.memory_mib
            ),
            if grown {
                format!("/boot grown to {BIG_BOOT_MIB} MiB for the payloads over {MAX_PAYLOAD_IN_1G_BOOT} MiB (root partition moved, same filesystems)")
            } else {
                "Fedora's 1 GiB /boot as the harness lays it out".into()
            },
            format!(
                "erofs compression: {}",
                opts.compression.as_deref().unwrap_or("the installer's choice")
            ),
            if opts.drivers.is_empty() {
                "mini initramfs storage drivers: all local ones (no [boot] drivers)".into()
            } else {
                format!("mini initramfs storage drivers: [boot] drivers = {:?}", opts.drivers)
            },
            "kernel command line of the BLS entry as the harness writes it (no `quiet`: every kmsg line goes to the serial console)".into(),
        ],
    };
    report.notes[0] = format!(
        "source: {}",
        Command::new("git")
            .arg("-C")
            .arg(&h.paths.workspace)
            .args(["describe", "--always", "--dirty"])
            .run_get_string()
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e:#})"))
    );
    let mut broken: Vec<Variant> = Vec::new();
    for &p in &opts.payloads {
        let mut disks: Vec<Disk> = Vec::new();
        for &v in &opts.variants {
            let mut b = Build {
                variant: Some(v),
                payload_mib: p,
                ..Build::default()
            };
            // Built even when an earlier boot of the variant failed (sizes
            // and build time still count); such a disk is not booted.
            match prepare::build(
                &h,
                &img,
                v,
                p,
                opts.compression.as_deref(),
                &opts.drivers,
                &mut b,
            ) {
                Ok(d) => disks.push(d),
                Err(e) => {
                    eprintln!("bench: {} with {p} MiB: not built: {e:#}", v.label());
                    b.error = Some(format!("{e:#}"));
                }
            }
            eprintln!(
                "bench: {} {p} MiB: build {} s, sizes dracut {:?} mini {:?} erofs {:?}",
                v.label(),
                fmt_t(b.seconds),
                b.dracut_initramfs_bytes,
                b.mini_initramfs_bytes,
                b.erofs_image_bytes
            );
            report.builds.push(b);
        }
        output::write_all(&report, &out)?;
        for round in 0..opts.boots {
            for d in &disks {
                if broken.contains(&d.variant) {
                    continue;
                }
                let label = format!("{}-{p}mib-{round}", d.variant.letter());
                let host_ts = h.run_dir.join(format!("{label}.hostts"));
                let _ = std::fs::remove_file(&host_ts);
                std::env::set_var(shim::HOST_TS_ENV, &host_ts);
                let b = h.boot(
                    &d.path,
                    &Choice::Id(d.entry.clone()),
                    &label,
                    boot_timeout(p),
                    &[],
                )?;
                report.vm.accel = format!("{:?}", h.accel(&b.files.kernel)?).to_lowercase();
                let mut s = sample(d.variant, p, round, &b);
                s.pre_kernel_s = std::fs::read_to_string(&host_ts)
                    .ok()
                    .and_then(|t| shim::kernel_start(&t));
                let [ti, tr, tk] = s.times();
                eprintln!(
                    "bench: {label}: t_initrd {} t_root {} t_ok {} (wall {:.0} s){}",
                    fmt_t(ti),
                    fmt_t(tr),
                    fmt_t(tk),
                    s.wall_s,
                    if s.finished() { "" } else { " FAILED" }
                );
                if !s.finished() {
                    eprintln!("{}", b.failure("boot did not finish"));
                    broken.push(d.variant);
                    report.notes.push(format!(
                        "{} stopped after the failed boot {label} (log {})",
                        d.variant.label(),
                        s.log
                    ));
                }
                report.samples.push(s);
                output::write_all(&report, &out)?;
            }
        }
        for d in disks {
            let _ = std::fs::remove_file(&d.path);
        }
    }
    Ok(report)
}

/// Merges recorded reports in order: payloads in ascending order, builds
/// and samples concatenated (a build recorded twice keeps its first
/// record), notes concatenated; VM shape and kernel of the first.
pub fn merge(reports: Vec<Report>) -> Option<Report> {
    let mut it = reports.into_iter();
    let mut m = it.next()?;
    for r in it {
        m.started = format!("{} + {}", m.started, r.started);
        if r.vm != m.vm {
            m.notes
                .push(format!("a merged run had another VM shape: {:?}", r.vm));
        }
        m.payloads.extend(r.payloads);
        m.boots = m.boots.max(r.boots);
        m.builds.extend(r.builds);
        m.samples.extend(r.samples);
        m.notes.extend(r.notes);
    }
    m.payloads.sort_unstable();
    m.payloads.dedup();
    m.notes.dedup();
    Some(m)
}

/// Reads recorded `boot.json` files, merges them ([`merge`]) and writes
/// the outputs into `out`.
///
/// Errors: a file cannot be read or parsed, or the outputs not written.
pub fn rerender(inputs: &[PathBuf], out: &Path) -> Result<Report> {
    let mut reports = Vec::new();
    for json in inputs {
        let text = std::fs::read_to_string(json)
            .with_context(|| format!("cannot read {}", json.display()))?;
        reports.push(
            serde_json::from_str::<Report>(&text)
                .with_context(|| format!("cannot parse {}", json.display()))?,
        );
    }
    let report = merge(reports).context("nothing to render")?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    output::write_all(&report, out)?;
    Ok(report)
}
