//! Running the two `[build]` argvs of the config (dracut by default)
//! concurrently, chrooted into the root being built when it is not `/`.

use std::path::Path;
use std::thread;

use anyhow::{anyhow, bail, Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::Build;

use crate::chroot;

/// Runs `argv` (already substituted) inside `root`; streams its output when
/// `verbose`, else captures it for the error message.
///
/// Errors: empty argv, the tool cannot be started, or it exits non-zero
/// (the error carries the command line and stderr tail).
pub fn run_argv(root: &Path, argv: &[String], verbose: bool) -> Result<()> {
    let Some((program, args)) = argv.split_first() else {
        bail!("empty build command in [build]");
    };
    let mut cmd = chroot::command(root, program);
    cmd.args(args);
    if verbose {
        cmd.run_inherited()
    } else {
        cmd.run()
    }
}

/// Builds the full initramfs content (`[build] initoverlayfs`) into `full`
/// and the mini initramfs (`[build] initrd`) into `mini`, concurrently
/// (two threads). `full` and `mini` are host paths below `root`; the argvs
/// see them as paths inside `root`.
///
/// Errors: either build fails (both failures are reported), or a build
/// succeeds without writing its output.
pub fn run_builds(
    root: &Path,
    build: &Build,
    kver: &str,
    full: &Path,
    mini: &Path,
    verbose: bool,
) -> Result<()> {
    let full_in = chroot::inside(root, full)?;
    let mini_in = chroot::inside(root, mini)?;
    let full_argv = Build::substitute(&build.initoverlayfs, kver, &full_in.to_string_lossy());
    let mini_argv = Build::substitute(&build.initrd, kver, &mini_in.to_string_lossy());
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| {
            run_argv(root, &full_argv, verbose)
                .context("building the full initramfs ([build] initoverlayfs) failed")
        });
        let b = s.spawn(|| {
            run_argv(root, &mini_argv, verbose)
                .context("building the mini initramfs ([build] initrd) failed")
        });
        (
            a.join()
                .unwrap_or_else(|_| Err(anyhow!("the full build thread panicked"))),
            b.join()
                .unwrap_or_else(|_| Err(anyhow!("the mini build thread panicked"))),
        )
    });
    match (a, b) {
        (Ok(()), Ok(())) => {}
        (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e),
        (Err(e1), Err(e2)) => return Err(e1.context(format!("{e2:#}"))),
    }
    for (path, what) in [(full, "[build] initoverlayfs"), (mini, "[build] initrd")] {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("{what} succeeded but did not write {}", path.display()))?;
        if meta.len() == 0 {
            bail!("{what} wrote an empty {}", path.display());
        }
    }
    Ok(())
}
