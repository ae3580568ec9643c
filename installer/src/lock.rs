//! The install/rollback lock: an exclusive `flock` on
//! `/var/lib/initoverlayfs/lock` of the target, waited for up to 30 s.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::fs::{flock, FlockOperation};

/// How long a second run waits for the lock.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Test hook: overrides the wait, in seconds (the lock test uses 2).
pub const WAIT_ENV: &str = "INITOVERLAYFS_INSTALL_LOCK_WAIT";

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock at `path`, polling every 100 ms for up to the wait.
    ///
    /// Errors: the lock file cannot be created, or another run holds the
    /// lock longer than the wait (the message says so and names the file).
    pub fn acquire(path: &Path) -> Result<Lock> {
        let wait = std::env::var(WAIT_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_WAIT);
        crate::atomic::create_parents(path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    if start.elapsed() >= wait {
                        bail!(
                            "another initoverlayfs-install is running (lock {} held for more than {} s); try again when it has finished",
                            path.display(),
                            wait.as_secs()
                        );
                    }
                    if !told {
                        eprintln!(
                            "initoverlayfs-install: waiting for another run to finish (lock {})",
                            path.display()
                        );
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
            }
        }
    }
}
