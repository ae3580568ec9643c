//! The entry points of the `demo` binary and the `vm` test, kept here so the
//! binaries only dispatch.

use std::process::ExitCode;
use std::time::Instant;

use crate::harness::Harness;
use crate::preflight;
use crate::report::{self, Sizes};

/// The `vm` integration test: the full end-to-end run; exit 0 also when the
/// machine lacks a capability (printed as a skip).
pub fn test_main() -> ExitCode {
    if let Some(why) = preflight::missing_capability() {
        println!("vm test SKIPPED: {why}");
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    let r = Harness::new("test").and_then(|mut h| crate::e2e::plain_boot(&mut h).map(|b| (h, b)));
    match r {
        Ok((_h, b)) => {
            println!("{}", report::table(&Sizes::default(), &[&b]));
            println!("vm test passed in {:.0} s", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "vm test FAILED after {:.0} s: {e:#}",
                start.elapsed().as_secs_f64()
            );
            ExitCode::FAILURE
        }
    }
}

/// The demo: the fedora scenario, with the table printed at the end.
pub fn demo_main() -> ExitCode {
    if let Some(why) = preflight::missing_capability() {
        eprintln!("demo: cannot run: {why}");
        return ExitCode::FAILURE;
    }
    let start = Instant::now();
    let r = Harness::new("demo").and_then(|mut h| crate::e2e::plain_boot(&mut h).map(|b| (h, b)));
    match r {
        Ok((_h, b)) => {
            println!("{}", report::table(&Sizes::default(), &[&b]));
            println!("demo done in {:.0} s", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "demo FAILED after {:.0} s: {e:#}",
                start.elapsed().as_secs_f64()
            );
            ExitCode::FAILURE
        }
    }
}
