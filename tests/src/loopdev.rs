//! Loop devices over a byte range of a file (one partition of a raw disk
//! image): the host's loop driver does not scan partition tables, so each
//! partition gets its own `losetup -o OFFSET --sizelimit SIZE` device.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

/// An attached loop device; detached (`losetup -d`) on drop.
#[derive(Debug)]
pub struct LoopDevice {
    dev: PathBuf,
}

impl LoopDevice {
    /// Attaches `size` bytes of `file` starting at byte `offset` to a free
    /// loop device.
    ///
    /// Errors: `losetup` fails (no free device, no `/dev/loop-control`, …).
    pub fn attach(file: &Path, offset: u64, size: u64) -> Result<LoopDevice> {
        let out = Command::new("losetup")
            .args(["-f", "--show", "-o"])
            .arg(offset.to_string())
            .arg("--sizelimit")
            .arg(size.to_string())
            .arg(file)
            .run_get_string()
            .with_context(|| format!("cannot attach {} at {offset}+{size}", file.display()))?;
        let name = out.trim();
        anyhow::ensure!(
            name.starts_with("/dev/loop"),
            "losetup printed {out:?}, not a loop device"
        );
        Ok(LoopDevice {
            dev: PathBuf::from(name),
        })
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.dev
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // A device still busy right after an unmount is released a moment later.
        for attempt in 0..10 {
            match Command::new("losetup").arg("-d").arg(&self.dev).run() {
                Ok(()) => return,
                Err(e) if attempt == 9 => {
                    eprintln!("vm: cannot detach {}: {e:#}", self.dev.display())
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(300)),
            }
        }
    }
}
