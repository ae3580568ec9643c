//! Crash points for the kill-at-every-step test.
//!
//! With `INITOVERLAYFS_INSTALL_CRASH_AT=N` in the environment, the N-th call
//! of [`point`] in a run kills the process with SIGKILL (nothing runs after
//! it: no destructors, no cleanup), exactly as a power cut or `kill -9`
//! between two steps would. Unset (always, outside tests) it does nothing.

use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming the crash point number (1-based).
pub const CRASH_ENV: &str = "INITOVERLAYFS_INSTALL_CRASH_AT";

static COUNT: AtomicU32 = AtomicU32::new(0);

/// Marks a point between two steps (`name` is printed when it fires).
pub fn point(name: &str) {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    let Some(at) = std::env::var(CRASH_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return;
    };
    if n == at {
        eprintln!("initoverlayfs-install: crash point {n} ({name}): SIGKILL");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // kill(2) of ourselves with SIGKILL does not return.
        std::process::abort();
    }
}
