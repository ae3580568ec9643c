//! Extraction throughput against the upstream pipeline
//! (`skipcpio FILE | zcat | cpio -id`), on a ~200 MiB initramfs made from
//! this host's /usr (real binaries and libraries), gzip and zstd.
//!
//! Run: `cargo run --release -p initoverlayfs-builder --example extract_bench`
//! (as root, so owners are preserved as in production). Prints MiB/s of
//! uncompressed cpio data and the ratio; best of 3 runs each. An optional
//! argument picks the work directory (default /var/tmp; /dev/shm takes the
//! disk out of the measurement).

use std::fs::{self, File};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use initoverlayfs_builder::extract::extract_to_temp;

const TARGET_BYTES: u64 = 200 << 20;
const RUNS: usize = 3;

fn sh(script: &str) -> Result<()> {
    let st = Command::new("sh").arg("-c").arg(script).status()?;
    if !st.success() {
        bail!("`{script}` failed: {st}");
    }
    Ok(())
}

fn best<F: FnMut() -> Result<()>>(mut f: F) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

fn mibs(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() -> Result<()> {
    // Work directory: argv[1] (e.g. /dev/shm to measure CPU, not the disk).
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/var/tmp".into());
    let tmp = tempfile::Builder::new()
        .prefix("extract-bench.")
        .tempdir_in(&dir)?;
    println!("work directory: {dir}");
    let list = tmp.path().join("files");
    // Files from /usr up to TARGET_BYTES, with their directories.
    sh(&format!(
        "cd / && find usr -xdev -type f -size -8M -printf '%s %p\\n' 2>/dev/null | LC_ALL=C sort -k2 | \
         awk -v max={TARGET_BYTES} '{{ if (t + $1 > max) exit; t += $1; print $2 }}' > {list}",
        list = list.display()
    ))
    .context("cannot pick files")?;
    let cpio = tmp.path().join("main.cpio");
    sh(&format!(
        "cd / && {{ sed 's|/[^/]*$||' {list} | sort -u | while read d; do p=$d; while [ \"$p\" != usr ] && [ -n \"$p\" ]; do echo $p; p=${{p%/*}}; done; echo usr; done | sort -u; cat {list}; }} | \
         cpio --quiet -o -H newc > {cpio}",
        list = list.display(),
        cpio = cpio.display()
    ))?;
    let raw = fs::metadata(&cpio)?.len();
    println!(
        "initramfs content: {:.1} MiB of newc cpio",
        raw as f64 / (1 << 20) as f64
    );
    let skipcpio = if Path::new("/usr/lib/dracut/skipcpio").exists() {
        "/usr/lib/dracut/skipcpio"
    } else {
        "cat"
    };
    for (name, comp, decomp) in [
        ("gzip", "gzip -6 -c", "zcat"),
        ("zstd", "zstd -q -15 -T0 -c", "zstd -q -dc"),
    ] {
        let img = tmp.path().join(format!("initramfs.{name}"));
        sh(&format!("{comp} < {} > {}", cpio.display(), img.display()))?;
        let ours = best(|| {
            let ex = extract_to_temp(File::open(&img)?, tmp.path())?;
            drop(ex);
            Ok(())
        })?;
        let out = tmp.path().join("pipeline");
        let pipeline = best(|| {
            let _ = fs::remove_dir_all(&out);
            fs::create_dir_all(&out)?;
            sh(&format!(
                "cd {} && {skipcpio} {} | {decomp} | cpio -id --quiet",
                out.display(),
                img.display()
            ))
        })?;
        let _ = fs::remove_dir_all(&out);
        println!(
            "{name}: {:.1} MiB compressed; initoverlayfs-builder {:.0} MiB/s ({:.2} s), \
             `{skipcpio} | {decomp} | cpio -id` {:.0} MiB/s ({:.2} s); ratio {:.2}x",
            fs::metadata(&img)?.len() as f64 / (1 << 20) as f64,
            mibs(raw, ours),
            ours.as_secs_f64(),
            mibs(raw, pipeline),
            pipeline.as_secs_f64(),
            pipeline.as_secs_f64() / ours.as_secs_f64()
        );
    }
    let status = fs::read_to_string("/proc/self/status")?;
    if let Some(hwm) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!(
            "peak memory of this process: {}",
            hwm.trim_start_matches("VmHWM:").trim()
        );
    }
    Ok(())
}
