//! The `initoverlayfs-packaging` command line (developer tool, not shipped).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use initoverlayfs::cmd::CommandRunExt;

use crate::docs;
use crate::files::{Source, BINARIES, FILES};
#[cfg(feature = "rpm-crate")]
use crate::{rpms, spec};

/// RPM packaging of initoverlayfs: file list, pure-Rust RPMs, man pages, completions.
#[derive(Debug, Parser)]
#[command(name = "initoverlayfs-packaging", version)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the installed-file list (source, destination, mode, package, kind).
    Files,
    /// Build the three binary RPMs with the rpm crate from `cargo build --release` output.
    #[cfg(feature = "rpm-crate")]
    Rpm {
        /// Output directory.
        #[arg(long, default_value = "target/rpms")]
        out: PathBuf,
        /// Use the existing release build instead of running `cargo build --release`.
        #[arg(long)]
        no_build: bool,
    },
    /// Regenerate the clap-generated man pages (initoverlayfs-install.8, initoverlayfs-builder.1).
    Man {
        /// Output directory.
        #[arg(long, default_value = "man")]
        out: PathBuf,
        /// Only check that the pages in --out are up to date (exit 1 if stale).
        #[arg(long)]
        check: bool,
    },
    /// Print the spec's `License:` line of each package (MIT + the linked crates' licenses).
    Licenses,
    /// Generate bash, zsh and fish completions (DIR/bash/NAME, DIR/zsh/_NAME, DIR/fish/NAME.fish).
    Completions {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The workspace root (this crate's parent directory).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("packaging/ has a parent")
        .to_path_buf()
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else `WORKSPACE/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// `cargo build --release --locked` of the three shipped binaries.
pub fn build_release() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "--release", "--locked"]);
    for (bin, _) in BINARIES {
        cmd.args(["--bin", bin]);
    }
    cmd.run_inherited()
}

/// Renders the spec, generates completions and builds the RPMs into `out`;
/// returns their paths.
#[cfg(feature = "rpm-crate")]
pub fn rpm(out: &Path, build: bool) -> Result<Vec<PathBuf>> {
    use anyhow::Context;
    if build {
        build_release().context("release build failed")?;
    }
    let target = target_dir();
    let work = target.join("packaging");
    let generated = work.join("completions");
    docs::write_completions(&generated)?;
    let spec = spec::Spec::parse(&spec::render(&workspace(), &work)?)?;
    let inputs = rpms::RpmInputs {
        workspace: workspace(),
        target,
        generated,
        out: out.to_path_buf(),
        source_date: rpms::source_date(&spec)?,
    };
    rpms::build_all(&spec, &inputs)
}

/// Runs the CLI.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Files => {
            for f in FILES {
                let source = match f.source {
                    Source::Binary(b) => format!("target/release/{b}"),
                    Source::Repo(p) => p.to_string(),
                    Source::Generated(p) => format!("completions/{p}"),
                    Source::Ghost => "-".into(),
                };
                println!(
                    "{source}\t{}\t{:o}\t{}\t{:?}",
                    f.dest, f.mode, f.subpackage, f.kind
                );
            }
        }
        #[cfg(feature = "rpm-crate")]
        Cmd::Rpm { out, no_build } => {
            for path in rpm(&out, !no_build)? {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("{}\t{size} bytes", path.display());
            }
        }
        Cmd::Man { out, check } => {
            if check {
                let stale = docs::stale_man_pages(&out)?;
                if !stale.is_empty() {
                    let list: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
                    bail!(
                        "stale man pages: {} (run `cargo run -p initoverlayfs-packaging -- man`)",
                        list.join(", ")
                    );
                }
            } else {
                for path in docs::write_man_pages(&out)? {
                    println!("{}", path.display());
                }
            }
        }
        Cmd::Licenses => {
            for sub in crate::files::Subpackage::ALL {
                let set = crate::licenses::linked_licenses(
                    &workspace(),
                    crate::licenses::cargo_package(sub),
                )?;
                println!("{sub}: License: {}", crate::licenses::expression(&set));
            }
        }
        Cmd::Completions { out } => {
            for path in docs::write_completions(&out)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
