//! `--check [--json]`: print the compatibility report; exit 0 if compatible.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::check;
use crate::cli::Cli;
use crate::detect;
use crate::target::Target;

/// Runs `--check`.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let target = Target::new(cli.root.as_deref())?;
    let det = detect::for_cli(&target, cli)?;
    let report = check::report(&det);
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot serialize the report")?
        );
    } else {
        print!("{}", check::table(&report.checks));
        println!(
            "\n{} for kernel {}",
            if report.compatible {
                "compatible"
            } else {
                "NOT compatible"
            },
            report.kver
        );
    }
    Ok(if report.compatible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
