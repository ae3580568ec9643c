//! The program's own command line.
//!
//! ```text
//! initoverlayfs [--systemd] [--prefix DIR] [--no-switch-root] [INIT-ARGS...]
//! initoverlayfs --systemd --on-failure
//! ```
//!
//! * no options, pid 1: **pid1 mode** — it is `/init` of the mini initramfs:
//!   early mounts, module loading and coldplug, find and mount the boot
//!   filesystem, loop-mount the image under an overlay, switch root and exec
//!   the real init with the remaining arguments.
//! * `--systemd`: **systemd mode** — run by `pre-initoverlayfs.service`; no
//!   early mounts, udev finds devices, stops once `/initoverlayfs` is ready
//!   (systemd switches root). Exit 0 on success, 1 on failure.
//! * `--prefix DIR`: **test mode** — every path lives under DIR
//!   (`DIR/etc/initoverlayfs.conf`, `DIR/boot`, `DIR/initrofs`, `DIR/overlay`,
//!   `DIR/initoverlayfs`); `DIR/boot` is taken as the already-mounted boot
//!   filesystem; no early mounts, modules, device lookup or switch root.
//!   Implies `--no-switch-root`. Run it inside `unshare -m`.
//! * `--no-switch-root`: stop after the overlay is mounted and exit 0.
//! * `--systemd --on-failure`: run by `pre-initoverlayfs-failure.service`
//!   (the `OnFailure=` unit of the mini initramfs' services): applies
//!   `[boot] failure` to a failure the program did not handle itself.
//!
//! Exit status outside pid1 mode: 0 success, 1 a step failed, 2 bad usage.
//! When running as pid 1, unknown arguments are not errors: the kernel passes
//! the command line words it does not know to init, and we hand them on to
//! the real init.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// One-screen usage text for `--help`.
pub const USAGE: &str = "\
usage: initoverlayfs [--systemd] [--prefix DIR] [--no-switch-root] [INIT-ARGS...]
       initoverlayfs --systemd --on-failure

Boot-time half of initoverlayfs: finds the boot filesystem, loop-mounts the
erofs image from it under a tmpfs-backed overlay at /initoverlayfs and, as
pid 1, switches root into it.

  --systemd          run from pre-initoverlayfs.service (udev, no switch root)
  --prefix DIR       test mode: all paths under DIR, DIR/boot already mounted
  --no-switch-root   stop once /initoverlayfs is mounted
  --on-failure       (with --systemd) a unit of the mini initramfs failed:
                     record it and fall back, as [boot] failure says
  -h, --help         this text
  -V, --version      print the version
";

/// Parsed options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cli {
    /// `--systemd`.
    pub systemd: bool,
    /// `--prefix DIR`.
    pub prefix: Option<PathBuf>,
    /// `--no-switch-root` (also implied by `--prefix`).
    pub no_switch_root: bool,
    /// `--on-failure` (needs `--systemd`).
    pub on_failure: bool,
    /// Arguments handed on to the real init (pid1 mode).
    pub init_args: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Do the work.
    Run(Cli),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// Parses `args` (without `argv[0]`). `pid1`: we run as pid 1, so unknown
/// words go to [`Cli::init_args`] instead of being errors.
///
/// Errors: `--prefix` without a value, `--on-failure` without `--systemd`,
/// an unknown option when not pid 1.
pub fn parse(args: &[String], pid1: bool) -> Result<Action> {
    let mut cli = Cli::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--systemd" => cli.systemd = true,
            "--no-switch-root" => cli.no_switch_root = true,
            "--on-failure" if !pid1 => cli.on_failure = true,
            "--prefix" => {
                let dir = it.next().context("--prefix needs a directory")?;
                cli.prefix = Some(PathBuf::from(dir));
            }
            "-h" | "--help" if !pid1 => return Ok(Action::Help),
            "-V" | "--version" if !pid1 => return Ok(Action::Version),
            other => {
                if let Some(dir) = other.strip_prefix("--prefix=") {
                    cli.prefix = Some(PathBuf::from(dir));
                } else if pid1 {
                    cli.init_args.push(other.to_string());
                } else {
                    bail!("unknown argument {other:?} (see --help)");
                }
            }
        }
    }
    if cli.on_failure && (!cli.systemd || cli.prefix.is_some()) {
        bail!("--on-failure is for systemd mode: use --systemd --on-failure");
    }
    if let Some(p) = &cli.prefix {
        if p.as_os_str().is_empty() {
            bail!("--prefix needs a directory");
        }
        cli.no_switch_root = true;
    }
    Ok(Action::Run(cli))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options() {
        let Action::Run(c) = parse(&args(&["--systemd"]), false).unwrap() else {
            panic!()
        };
        assert!(c.systemd && c.prefix.is_none() && !c.no_switch_root);
        let Action::Run(c) =
            parse(&args(&["--prefix", "/tmp/x", "--no-switch-root"]), false).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.prefix, Some(PathBuf::from("/tmp/x")));
        assert!(c.no_switch_root);
        let Action::Run(c) = parse(&args(&["--prefix=/d"]), false).unwrap() else {
            panic!()
        };
        assert_eq!(c.prefix, Some(PathBuf::from("/d")));
        assert!(c.no_switch_root, "--prefix implies --no-switch-root");
        let Action::Run(c) = parse(&args(&["--systemd", "--on-failure"]), false).unwrap() else {
            panic!()
        };
        assert!(c.systemd && c.on_failure);
        let err = parse(&args(&["--on-failure"]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--systemd --on-failure"), "{err}");
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&args(&["--help"]), false).unwrap(), Action::Help);
        assert_eq!(parse(&args(&["-V"]), false).unwrap(), Action::Version);
    }

    #[test]
    fn unknown_argument_is_an_error_unless_pid1() {
        let err = parse(&args(&["--bogus"]), false).unwrap_err().to_string();
        assert!(err.contains("unknown argument \"--bogus\""), "{err}");
        let Action::Run(c) = parse(&args(&["single", "--help", "splash"]), true).unwrap() else {
            panic!()
        };
        assert_eq!(c.init_args, args(&["single", "--help", "splash"]));
        assert!(parse(&args(&["--prefix"]), false).is_err());
    }
}
