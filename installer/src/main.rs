//! `initoverlayfs-install`: dispatch over the command line; the work is in
//! the `initoverlayfs_install` library.

use std::process::ExitCode;

use initoverlayfs_install::cli::{Cli, Mode};
use initoverlayfs_install::{check_cmd, install, rollback_cmd, trial_cmd};

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let result = match cli.mode() {
        Mode::Check => check_cmd::run(&cli),
        Mode::Install => install::run(&cli),
        Mode::Rollback(generation) => rollback_cmd::rollback(&cli, generation),
        Mode::ListRollbacks => rollback_cmd::list(&cli),
        Mode::AfterBoot => trial_cmd::after_boot(&cli),
        Mode::Bless => trial_cmd::bless(&cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("initoverlayfs-install: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
