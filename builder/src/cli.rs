//! The `initoverlayfs-builder` command line (clap derive). Exit codes: 0 on
//! success, 1 on a bad or hostile input or a failing tool, 2 on usage errors.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use initoverlayfs::config::Compression;

use crate::{extract, image, list};

/// Turns a distro initramfs into an erofs image (and lists or extracts it).
#[derive(Debug, Parser)]
#[command(name = "initoverlayfs-builder", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the segments (offset, compression, entries) and entries of an initramfs.
    List {
        /// The initramfs file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Extract an initramfs safely into DIR (absent or empty).
    Extract {
        /// The initramfs file.
        file: PathBuf,
        /// Destination directory (must be absent or empty).
        dir: PathBuf,
    },
    /// Read /etc/initoverlayfs.conf for shell code (the dracut module).
    Config {
        /// What to do with it.
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Turn an initramfs into an erofs image in one step.
    Erofs {
        /// The initramfs file.
        file: PathBuf,
        /// The erofs image to write.
        image: PathBuf,
        /// Image compression: none, lz4, lz4hc, lzma, deflate or zstd, with an optional level (`lz4hc,12`).
        #[arg(long, default_value = "none")]
        compression: Compression,
    },
}

/// `initoverlayfs-builder config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the value of SECTION.KEY (defaults applied): one line, one per
    /// array element, none when unset. Exit 2 on an unknown key or a bad file.
    Get {
        /// The key, e.g. `init.mode`, `boot.bootfstype`, `boot.drivers`.
        key: String,
        /// The config file (a missing file gives the defaults).
        #[arg(long, default_value = "/etc/initoverlayfs.conf")]
        config: PathBuf,
    },
}

/// Parses the arguments and runs; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    if let Cmd::Config {
        action: ConfigCmd::Get { key, config },
    } = &cli.command
    {
        // Exit 2 for a bad question or a bad file: the dracut module must
        // stop the build instead of guessing.
        return match config_get(key, config) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("initoverlayfs-builder: {e:#}");
                2
            }
        };
    }
    match run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("initoverlayfs-builder: {e:#}");
            1
        }
    }
}

/// Prints warnings about the input on stderr, one per line.
fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("initoverlayfs-builder: warning: {w}");
    }
}

/// Runs one subcommand.
pub fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::List { file, json } => {
            let input =
                File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let listing =
                list::list(input).with_context(|| format!("cannot list {}", file.display()))?;
            warn_all(&listing.warnings);
            let text = if json {
                serde_json::to_string_pretty(&listing)? + "\n"
            } else {
                list::render_text(&listing)
            };
            write_stdout(&text)?;
        }
        Cmd::Extract { file, dir } => {
            let (segments, stats) = extract::extract_path(&file, &dir)?;
            warn_all(&stats.warnings.lines());
            eprintln!(
                "initoverlayfs-builder: extracted {} entries ({} files, {} hardlinks, {} bytes, {} skipped) from {} segment(s) into {}",
                stats.entries,
                stats.files,
                stats.hardlinks,
                stats.bytes,
                stats.skipped,
                segments.len(),
                dir.display()
            );
        }
        Cmd::Config {
            action: ConfigCmd::Get { key, config },
        } => config_get(&key, &config)?,
        Cmd::Erofs {
            file,
            image,
            compression,
        } => {
            let (size, made) = image::initramfs_to_erofs(&file, &image, &compression)?;
            warn_all(&made.warnings);
            eprintln!(
                "initoverlayfs-builder: wrote {} ({size} bytes, {})",
                image.display(),
                made.compression
            );
        }
    }
    Ok(())
}

/// Prints the value of `key` in the config file `path`, one line each.
fn config_get(key: &str, path: &std::path::Path) -> Result<()> {
    let config = initoverlayfs::config::Config::load(path)?;
    let mut text = String::new();
    for line in config.lookup(key)? {
        text.push_str(&line);
        text.push('\n');
    }
    write_stdout(&text)
}

/// Writes `text` to stdout; a closed pipe (`list | head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
