//! The bench's fixed VM memory. The harness starts `qemu-system-x86_64`
//! with `-m 2048` (enough for its tests, not for a 1 GiB-payload
//! initramfs, which the kernel holds twice while unpacking). Rather than
//! change the harness's QEMU command, the bench puts a wrapper first in
//! `PATH` that runs the real QEMU with the same arguments plus `-m N`
//! (QEMU takes the last `-m`), and says so on QEMU's stderr, which the
//! harness records in every serial log as `qemu: bench-shim: …`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The program the harness runs.
pub const QEMU: &str = "qemu-system-x86_64";

/// Environment variable naming the file where the wrapper records, for
/// each console line with a kernel timestamp, the host seconds since QEMU
/// started and that timestamp (`HOST KERNEL` per line); unset = no record.
pub const HOST_TS_ENV: &str = "BENCH_HOST_TS";

/// The wrapper script for the real QEMU at `real` with `memory_mib`: QEMU
/// is exec'd (the harness's child pid stays QEMU's, so its kill reaches
/// QEMU); with [`HOST_TS_ENV`] set, stdout first goes through a perl filter
/// that passes every line on unbuffered and records host arrival times.
pub fn script(real: &Path, memory_mib: u32) -> String {
    format!(
        "#!/bin/bash\n\
         # initoverlayfs boot benchmark: fixed guest memory (QEMU takes the last -m).\n\
         echo \"bench-shim: {real} ... -m {memory_mib}\" >&2\n\
         if [ -n \"${{{HOST_TS_ENV}:-}}\" ]; then\n\
         \x20   exec > >(exec perl -MTime::HiRes=time -e '{PERL}' \"${HOST_TS_ENV}\")\n\
         fi\n\
         exec '{real}' \"$@\" -m {memory_mib}\n",
        real = real.display()
    )
}

/// The host-side line timer (perl: in every Debian system as perl-base).
const PERL: &str = r#"my $t0 = time; open(my $s, ">", $ARGV[0]) or die "$ARGV[0]: $!"; $s->autoflush(1); $| = 1; while (my $l = <STDIN>) { print $l; printf $s "%.4f %s\n", time - $t0, $1 if $l =~ /\[\s*(\d+\.\d+)\]/; }"#;

/// When the kernel started, in host seconds since QEMU started: the
/// smallest `host - kernel` over the recorded lines (a line reaches the
/// host no earlier than its kernel timestamp; console lines printed live
/// arrive within milliseconds). This is the firmware + kernel and initrd
/// load time that kernel timestamps do not see. `None` without lines.
pub fn kernel_start(record: &str) -> Option<f64> {
    record
        .lines()
        .filter_map(|l| {
            let (h, k) = l.split_once(' ')?;
            Some(h.parse::<f64>().ok()? - k.trim().parse::<f64>().ok()?)
        })
        .min_by(f64::total_cmp)
}

/// The first executable `name` in the `PATH`-style list `path`, skipping `skip`.
pub fn which(name: &str, path: &str, skip: &Path) -> Option<PathBuf> {
    path.split(':')
        .filter(|d| !d.is_empty() && Path::new(d) != skip)
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Writes the wrapper into `dir` and puts `dir` first in this process's
/// `PATH` (call before any thread is started). Returns the real QEMU.
///
/// Errors: no QEMU in `PATH`, or the wrapper cannot be written.
pub fn install(dir: &Path, memory_mib: u32) -> Result<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let real = which(QEMU, &path, dir).with_context(|| format!("no {QEMU} in PATH"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let w = dir.join(QEMU);
    std::fs::write(&w, script(&real, memory_mib))
        .with_context(|| format!("cannot write {}", w.display()))?;
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", w.display()))?;
    std::env::set_var("PATH", format!("{}:{path}", dir.display()));
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_start_is_the_smallest_offset() {
        let rec = "3.2000 0.000000\n3.2100 1.500000\n4.9000 1.700000\n9.0000 5.000000\nbad\n";
        let t = kernel_start(rec).unwrap();
        assert!((t - 1.71).abs() < 1e-9, "{t}");
        assert_eq!(kernel_start(""), None);
    }

    #[test]
    fn wrapper_records_host_times_and_passes_lines() {
        // The real script around `cat` instead of QEMU.
        let dir = std::env::temp_dir().join(format!("bench-shim-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = dir.join("wrapper");
        std::fs::write(&w, script(Path::new("/bin/echo"), 64)).unwrap();
        let rec = dir.join("rec");
        let out = std::process::Command::new("bash")
            .arg(&w)
            .arg("[    1.250000] hello")
            .env(HOST_TS_ENV, &rec)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[    1.250000] hello -m 64\n"
        );
        // The filter may finish just after the wrapper exits.
        let mut text = String::new();
        for _ in 0..50 {
            text = std::fs::read_to_string(&rec).unwrap_or_default();
            if !text.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let (h, k) = text.trim().split_once(' ').unwrap();
        assert_eq!(k, "1.250000");
        assert!(h.parse::<f64>().unwrap() >= 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrapper_appends_memory_and_finds_the_real_binary() {
        let s = script(Path::new("/usr/bin/qemu-system-x86_64"), 4096);
        assert!(
            s.contains("exec '/usr/bin/qemu-system-x86_64' \"$@\" -m 4096\n"),
            "{s}"
        );
        let dir = std::env::temp_dir().join(format!("bench-shim-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let list = format!("{}:{}", dir.display(), bin.display());
        assert_eq!(which("tool", &list, Path::new("/nonexistent")), Some(exe));
        assert_eq!(which("tool", &list, &bin), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
