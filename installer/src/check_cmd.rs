//! `--check [--json]`: print the compatibility report; exit 0 if compatible.
//! The report is printed even when an input cannot be read: detection
//! errors become a failing `detect` check.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::check;
use crate::cli::Cli;
use crate::detect;
use crate::drivers;
use crate::target::Target;

/// Runs `--check`.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let target = Target::new(cli.root.as_deref());
    if let Ok(t) = &target {
        // A refused argument is a usage error, not a finding about the system.
        drivers::refuse_offline_auto(cli.drivers.as_ref(), t)?;
    }
    let report = match target.and_then(|t| detect::for_cli(&t, cli)) {
        Ok(det) => check::report(&det),
        Err(e) => check::failed_report(cli.kver.as_deref(), &e),
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot serialize the report")?
        );
    } else {
        print!("{}", check::table(&report.checks));
        let verdict = if report.compatible {
            "compatible"
        } else {
            "NOT compatible"
        };
        match report.kver.as_str() {
            "" => println!("\n{verdict}"),
            k => println!("\n{verdict} for kernel {k}"),
        }
    }
    Ok(if report.compatible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
