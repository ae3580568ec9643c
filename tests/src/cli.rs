//! The entry points of the `demo` binary and the `vm` test, kept here so the
//! binaries only dispatch.

use std::process::ExitCode;
use std::time::Instant;

use crate::e2e::{self, RunRecord};
use crate::harness::Harness;
use crate::preflight;
use crate::report::{self, Sizes};

/// Prints the table and the install timings of a run.
fn print_record(rec: &RunRecord) {
    let boots: Vec<_> = rec.boots.iter().collect();
    println!("{}", report::table(&rec.sizes, &boots));
    if let Some(s) = rec.live_install_seconds {
        println!("live in-guest install (check + install, TCG): {s:.1} s");
    }
    for (what, s) in &rec.offline_install_seconds {
        println!("offline install from the host ({what}): {s:.1} s");
    }
}

/// Runs `steps` on a fresh harness named `run`, prints the record, and
/// returns the exit code.
fn run(name: &str, steps: fn(&mut Harness, &mut RunRecord) -> anyhow::Result<()>) -> ExitCode {
    let start = Instant::now();
    let mut rec = RunRecord::default();
    let r = Harness::new(name).and_then(|mut h| steps(&mut h, &mut rec));
    print_record(&rec);
    let secs = start.elapsed().as_secs_f64();
    match r {
        Ok(()) => {
            println!("{name}: passed in {secs:.0} s");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: FAILED after {secs:.0} s: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `vm` integration test: the full end-to-end run; exit 0 also when the
/// machine lacks a capability (printed as a skip).
pub fn test_main() -> ExitCode {
    if let Some(why) = preflight::missing_capability() {
        println!("vm test SKIPPED: {why}");
        return ExitCode::SUCCESS;
    }
    run("vm-test", e2e::full)
}

/// The demo: the fedora scenario, with the table printed at the end.
pub fn demo_main() -> ExitCode {
    if let Some(why) = preflight::missing_capability() {
        eprintln!("demo: cannot run: {why}");
        return ExitCode::FAILURE;
    }
    run("demo", e2e::demo)
}

/// `vm-boot DISK [ENTRY-ID|--fallback]`: one boot of an existing disk image
/// (logs under `TARGET/vm/vm-boot/`).
pub fn vm_boot_main(args: Vec<String>) -> ExitCode {
    let Some(disk) = args.first() else {
        eprintln!("usage: vm-boot DISK [ENTRY-ID|--fallback]");
        return ExitCode::from(2);
    };
    let choice = match args.get(1).map(String::as_str) {
        None => crate::bootloader::Choice::Default,
        Some("--fallback") => crate::bootloader::Choice::Fallback,
        Some(id) => crate::bootloader::Choice::Id(id.to_string()),
    };
    let r = Harness::new("vm-boot").and_then(|mut h| {
        h.boot(
            std::path::Path::new(disk),
            &choice,
            "vm-boot",
            crate::e2e::BOOT_TIMEOUT,
            &[],
        )
    });
    match r {
        Ok(b) => {
            println!("{}", report::table(&Sizes::default(), &[&b]));
            for (t, l) in &b.timeline.initoverlayfs {
                println!("{} {l}", t.map_or("-".into(), |t| format!("{t:.3}")));
            }
            if b.booted() {
                ExitCode::SUCCESS
            } else {
                eprintln!("{:#}", b.failure("no VM-BOOT-OK"));
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("vm-boot: {e:#}");
            ExitCode::FAILURE
        }
    }
}
