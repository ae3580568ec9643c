//! The `bench` binary's command line:
//! `bench [--payloads 0,64,256,1024] [--boots 5] [--out target/bench] [--memory MIB]
//! [--variants a,b,c] [--compression ALG] [--drivers MOD,MOD]`
//! or `bench [--out DIR] --render RUN1/boot.json [RUN2/boot.json …]` (merge
//! recorded runs and re-render the tables and plot into DIR).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::bench::record::Variant;
use crate::bench::run::{self, Options};
use crate::preflight;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run the benchmark.
    Run(Options),
    /// Merge recorded `boot.json` files (in order) and render them into the
    /// output directory.
    Render {
        /// The recorded runs.
        inputs: Vec<PathBuf>,
        /// Where the merged `boot.json`, `boot.md` and `boot.png` go.
        out: PathBuf,
    },
}

/// Parses the arguments (without the program name).
///
/// Errors: an unknown flag, a missing or malformed value.
pub fn parse(args: &[String]) -> Result<Action> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--payloads" => {
                o.payloads = val()?
                    .split(',')
                    .map(|p| p.trim().parse::<u64>().with_context(|| format!("bad payload {p:?} (MiB)")))
                    .collect::<Result<_>>()?;
            }
            "--boots" => o.boots = val()?.parse().context("bad --boots")?,
            "--out" => o.out = PathBuf::from(val()?),
            "--variants" => {
                o.variants = val()?
                    .split(',')
                    .map(|v| match v.trim() {
                        "a" => Ok(Variant::Dracut),
                        "b" => Ok(Variant::Systemd),
                        "c" => Ok(Variant::Pid1),
                        x => bail!("bad variant {x:?} (a, b or c)"),
                    })
                    .collect::<Result<_>>()?;
            }
            "--compression" => o.compression = Some(val()?.to_string()),
            "--drivers" => {
                o.drivers = val()?
                    .split(',')
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty())
                    .collect();
            }
            "--memory" => o.memory_mib = val()?.parse().context("bad --memory (MiB)")?,
            "--render" => {
                let inputs: Vec<PathBuf> = it.by_ref().map(PathBuf::from).collect();
                if inputs.is_empty() {
                    bail!("--render needs at least one boot.json");
                }
                return Ok(Action::Render { inputs, out: o.out });
            }
            "-h" | "--help" => bail!(
                "usage: bench [--payloads 0,64,256,1024] [--boots 5] [--out target/bench] [--memory 4096] [--variants a,b,c] [--compression ALG] [--drivers MOD,MOD] | [--out DIR] --render boot.json..."
            ),
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if o.boots == 0 || o.payloads.is_empty() {
        bail!("need at least one payload and one boot");
    }
    Ok(Action::Run(o))
}

/// The `bench` binary: runs, prints `boot.md`, exits 0 whatever the
/// numbers say (1 only if the run itself could not proceed).
pub fn main(args: Vec<String>) -> ExitCode {
    let r = parse(&args).and_then(|a| match a {
        Action::Render { inputs, out } => {
            run::rerender(&inputs, &out).map(|r| (r, out.join("boot.md")))
        }
        Action::Run(o) => {
            if let Some(why) = preflight::missing_capability() {
                bail!("cannot run: {why}");
            }
            run::run(&o).map(|r| (r, o.out.join("boot.md")))
        }
    });
    match r {
        Ok((report, md)) => {
            println!("{}", crate::bench::render::markdown(&report));
            println!("bench: wrote {} (and boot.json, boot.png)", md.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_flags() {
        let Action::Run(o) =
            parse(&args("--payloads 0,256 --boots 3 --out x --memory 6144")).unwrap()
        else {
            panic!()
        };
        assert_eq!(o.payloads, [0, 256]);
        assert_eq!((o.boots, o.memory_mib), (3, 6144));
        assert_eq!(o.out, PathBuf::from("x"));
        let Action::Run(o) = parse(&args("--variants c,a --compression none")).unwrap() else {
            panic!()
        };
        assert_eq!(o.variants, [Variant::Pid1, Variant::Dracut]);
        assert_eq!(o.compression.as_deref(), Some("none"));
        let Action::Run(o) = parse(&args("--drivers virtio_pci,virtio_blk")).unwrap() else {
            panic!()
        };
        assert_eq!(o.drivers, ["virtio_pci", "virtio_blk"]);
        assert!(parse(&args("--variants d")).is_err());
        assert_eq!(parse(&[]).unwrap(), Action::Run(Options::default()));
        assert_eq!(
            parse(&args("--out m --render a/boot.json b/boot.json")).unwrap(),
            Action::Render {
                inputs: vec!["a/boot.json".into(), "b/boot.json".into()],
                out: "m".into()
            }
        );
        assert!(parse(&args("--render")).is_err());
        assert!(parse(&args("--payloads 1,x")).is_err());
        assert!(parse(&args("--boots")).is_err());
        assert!(parse(&args("--boots 0")).is_err());
        assert!(parse(&args("--frob")).is_err());
    }
}
