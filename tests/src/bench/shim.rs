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

/// The wrapper script for the real QEMU at `real` with `memory_mib`.
pub fn script(real: &Path, memory_mib: u32) -> String {
    format!(
        "#!/bin/sh\n\
         # initoverlayfs boot benchmark: fixed guest memory (QEMU takes the last -m).\n\
         echo \"bench-shim: {real} ... -m {memory_mib}\" >&2\n\
         exec '{real}' \"$@\" -m {memory_mib}\n",
        real = real.display()
    )
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
