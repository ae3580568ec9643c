//! The command line (clap derive). Man pages and shell completions are
//! generated from [`command`] by the packaging crate.

use std::path::PathBuf;

use clap::{ArgGroup, CommandFactory, Parser};
use initoverlayfs::config::{Compression, InitMode};

use crate::drivers::DriversArg;

/// The end of `-h` (and where `--help` and the man page start theirs).
const AFTER_HELP: &str = "Exit status: 0 success (or compatible), 1 incompatible or failed, 2 usage error.\n\
Trial boots: a new install boots as a trial until boot-complete.target; a failed one falls\n\
back to the entry with the original initramfs by itself. --check shows how the last trial\n\
went; running the install again starts a new trial (see --help).\n\
Examples:\n  initoverlayfs-install --check\n  initoverlayfs-install -y\n  \
initoverlayfs-install --drivers auto -y\n  \
initoverlayfs-install --rollback\n  initoverlayfs-install --root /mnt/image --kver 6.8.5-301.fc40.x86_64 -y";

/// The end of `--help` and the NOTES of the man page: exit status, trial
/// boots, examples.
const AFTER_LONG_HELP: &str =
    "Exit status: 0 success (or compatible), 1 incompatible or failed, 2 usage error.

Trial boots. A new install boots as a trial until a boot through it reaches \
boot-complete.target; a failed trial falls back to the entry with the original initramfs \
(the fallback entry, TOKEN-without_initoverlayfs.KVER.conf) by itself, with nobody at the \
console.
  Counting: with systemd-boot the main entry is renamed ID+N.conf (systemd's Automatic \
Boot Assessment; systemd-bless-boot.service drops the counter once the boot is good); \
with GRUB, grubenv boot_counter=N and boot_success=0 (initoverlayfs-bless.service marks \
the boot good). N is [boot] tries, else /etc/kernel/tries, else 3; 0 turns counting off.
  Failure: the boot-time program records the step, the error line and the time (EFI \
variable InitoverlayfsFailure-be959c55-40d9-4c10-860c-80208b70afc6, and \
/boot/initoverlayfs-failure.txt), points the boot loader at the fallback entry \
(LoaderEntryOneShot, or grubenv next_entry) and reboots; see initoverlayfs(8) for what \
each boot loader covers.
  The boot after a failed trial: initoverlayfs-after-boot.service (--after-boot) logs one \
journal entry, MESSAGE_ID=fa4ae00695d14a53af819a01fcf610e6, and makes the fallback entry \
the default (LoaderEntryDefault, or grubenv saved_entry), so that the failed install is \
not retried on every boot.
  What happened: --check (the trial line) and --check --json (\"trial\": state none, \
running, good or failed; last_failure with step, error, time_utc); \
journalctl MESSAGE_ID=fa4ae00695d14a53af819a01fcf610e6.
  Again: running initoverlayfs-install again (no rebuild needed) starts a new trial and \
restores the default entry; --rollback removes initoverlayfs.

Examples:
  initoverlayfs-install --check
  initoverlayfs-install -y
  initoverlayfs-install --drivers auto -y
  initoverlayfs-install --check --json | jq .trial
  initoverlayfs-install --rollback
  initoverlayfs-install --root /mnt/image --kver 6.8.5-301.fc40.x86_64 -y";

/// Install initoverlayfs for a kernel: detect the layout, check the kernel,
/// build the erofs image and the mini initramfs, and point the boot entry at
/// them, keeping a fallback entry and rollback copies.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "initoverlayfs-install",
    version,
    group(ArgGroup::new("mode").args(["check", "rollback", "list_rollbacks", "after_boot", "bless"]).multiple(false)),
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// Rebuild even when the install for this kernel is already in effect.
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Kernel release to install for [default: `uname -r`; with --root, the
    /// newest kernel under DIR/usr/lib/modules by rpm version order].
    #[arg(long, value_name = "KVER")]
    pub kver: Option<String>,

    /// Work on the offline tree DIR (image builders): paths under DIR,
    /// resolved as in a chroot (its symlinks and .. never lead out of DIR; a
    /// symlink loop is refused), layout from DIR/etc/fstab, builders run
    /// chrooted into DIR.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not ask questions (non-interactive runs never ask anyway).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Detect and show what would be done, change nothing.
    #[arg(long, conflicts_with_all = ["check", "rollback", "list_rollbacks"])]
    pub dry_run: bool,

    /// erofs compression of the image: none, lz4, lz4hc, lzma, deflate or
    /// zstd, with an optional level [default: the best of lz4hc > lz4 > none
    /// both the kernel and mkfs.erofs support].
    #[arg(long, value_name = "ALG[,LEVEL]", conflicts_with_all = ["rollback", "list_rollbacks"])]
    pub compression: Option<Compression>,

    /// How the mini initramfs runs initoverlayfs [default: systemd].
    #[arg(long, value_name = "MODE", value_parser = parse_mode, conflicts_with_all = ["check", "rollback", "list_rollbacks"])]
    pub init_mode: Option<InitMode>,

    /// Kernel modules the boot filesystem's disk needs ([boot] drivers): the
    /// mini initramfs gets only these. `auto` detects them on the running
    /// system (from /sys; not with --root), `all` names none (every storage
    /// driver goes in), or a list such as `virtio_blk` or `ahci,sd_mod`
    /// [default: keep what /etc/initoverlayfs.conf says].
    #[arg(long, value_name = "SPEC", value_parser = parse_drivers, conflicts_with_all = ["rollback", "list_rollbacks"])]
    pub drivers: Option<DriversArg>,

    /// Stream the builders' output.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Check compatibility only (exit 0 if compatible, 1 if not).
    #[arg(long)]
    pub check: bool,

    /// Machine-readable output (with --check or --list-rollbacks).
    #[arg(long)]
    pub json: bool,

    /// Restore the files recorded before install GENERATION [default: the
    /// newest] and remove what that install added.
    #[arg(long, value_name = "GENERATION", num_args = 0..=1)]
    pub rollback: Option<Option<u64>>,

    /// List the rollback generations (id, date, kernel, files).
    #[arg(long)]
    pub list_rollbacks: bool,

    /// Act once on a failed trial boot (run early in every boot by
    /// initoverlayfs-after-boot.service): log it to the journal
    /// (MESSAGE_ID=fa4ae00695d14a53af819a01fcf610e6) and make the fallback
    /// entry the default until the next install.
    #[arg(long, conflicts_with_all = ["dry_run", "compression", "init_mode", "drivers", "force", "kver"])]
    pub after_boot: bool,

    /// Mark a GRUB trial boot good (run by initoverlayfs-bless.service once
    /// boot-complete.target is reached): grubenv boot_success=1,
    /// boot_counter unset. systemd-boot entries are blessed by
    /// systemd-bless-boot.service.
    #[arg(long, conflicts_with_all = ["dry_run", "compression", "init_mode", "drivers", "force", "kver"])]
    pub bless: bool,
}

fn parse_drivers(s: &str) -> Result<DriversArg, String> {
    s.parse().map_err(|e: anyhow::Error| format!("{e:#}"))
}

fn parse_mode(s: &str) -> Result<InitMode, String> {
    s.parse().map_err(|e: anyhow::Error| format!("{e:#}"))
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Install (the default).
    Install,
    /// `--check`.
    Check,
    /// `--rollback [GEN]`.
    Rollback(Option<u64>),
    /// `--list-rollbacks`.
    ListRollbacks,
    /// `--after-boot`.
    AfterBoot,
    /// `--bless`.
    Bless,
}

impl Cli {
    /// The mode selected by the flags.
    pub fn mode(&self) -> Mode {
        if self.check {
            Mode::Check
        } else if let Some(g) = self.rollback {
            Mode::Rollback(g)
        } else if self.list_rollbacks {
            Mode::ListRollbacks
        } else if self.after_boot {
            Mode::AfterBoot
        } else if self.bless {
            Mode::Bless
        } else {
            Mode::Install
        }
    }

    /// Parses the process arguments, exiting 2 on usage errors (clap's
    /// convention), including `--json` without `--check`/`--list-rollbacks`.
    pub fn parse_args() -> Cli {
        let cli = Cli::parse();
        if cli.json && !(cli.check || cli.list_rollbacks) {
            command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--json needs --check or --list-rollbacks",
                )
                .exit();
        }
        cli
    }
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        let c = Cli::try_parse_from(["x", "--rollback"]).unwrap();
        assert_eq!(c.mode(), Mode::Rollback(None));
        let c = Cli::try_parse_from(["x", "--rollback", "3", "-y"]).unwrap();
        assert_eq!(c.mode(), Mode::Rollback(Some(3)));
        let c = Cli::try_parse_from(["x", "--check", "--json", "--kver", "6.1"]).unwrap();
        assert_eq!(c.mode(), Mode::Check);
        let c =
            Cli::try_parse_from(["x", "--compression", "lz4hc,9", "--init-mode", "pid1"]).unwrap();
        assert_eq!(c.compression.unwrap().to_string(), "lz4hc,9");
        assert_eq!(c.init_mode, Some(InitMode::Pid1));
        assert!(Cli::try_parse_from(["x", "--check", "--rollback"]).is_err());
        let c = Cli::try_parse_from(["x", "--after-boot"]).unwrap();
        assert_eq!(c.mode(), Mode::AfterBoot);
        let c = Cli::try_parse_from(["x", "--bless", "--root", "/mnt"]).unwrap();
        assert_eq!(c.mode(), Mode::Bless);
        assert!(Cli::try_parse_from(["x", "--bless", "--after-boot"]).is_err());
        assert!(Cli::try_parse_from(["x", "--after-boot", "--force"]).is_err());
        assert!(Cli::try_parse_from(["x", "--compression", "brotli"]).is_err());
        command().debug_assert();
    }

    #[test]
    fn parses_drivers() {
        let c = Cli::try_parse_from(["x", "--drivers", "auto"]).unwrap();
        assert_eq!(c.drivers, Some(DriversArg::Auto));
        let c = Cli::try_parse_from(["x", "--drivers", "all", "--dry-run"]).unwrap();
        assert_eq!(c.drivers, Some(DriversArg::All));
        let c = Cli::try_parse_from(["x", "--check", "--drivers=ahci,sd_mod"]).unwrap();
        assert_eq!(
            c.drivers,
            Some(DriversArg::List(vec!["ahci".into(), "sd_mod".into()]))
        );
        assert_eq!(Cli::try_parse_from(["x"]).unwrap().drivers, None);
        let err = Cli::try_parse_from(["x", "--drivers", "virtio blk"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a kernel module name"), "{err}");
        assert!(Cli::try_parse_from(["x", "--drivers"]).is_err());
        assert!(Cli::try_parse_from(["x", "--rollback", "--drivers", "all"]).is_err());
    }
}
