//! `mkfs.erofs` (erofs-utils): detecting its version and compressors, and
//! building reproducible images.
//!
//! Facts (erofs-utils sources): 1.5 prints its version on the first line of a
//! bare `mkfs.erofs` run (no `-V`) and lists "Available compressors are: …"
//! in `--help`; 1.6+ has `-V` ("mkfs.erofs (erofs-utils) 1.8.2" followed by
//! "available compressors: …"). `-T` gives every file the same time in 1.5
//! (even with `--preserve-mtime`, measured); `SOURCE_DATE_EPOCH` fixes the
//! build time and, with `--preserve-mtime`, keeps per-file mtimes (measured
//! on 1.5: byte-identical images across runs). Newer versions clamp file
//! times to `SOURCE_DATE_EPOCH`, so we pass the newest mtime of the tree.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::{Algorithm, Compression};

use crate::chroot;

/// The `mkfs.erofs` found on a system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkfsErofs {
    /// Version (`1.5`, `1.8.2`, …); empty if it could not be told.
    pub version: String,
    /// Compressors it offers, always starting with [`Algorithm::None`].
    pub compressors: Vec<Algorithm>,
}

impl MkfsErofs {
    /// Errors unless `c` is one of [`MkfsErofs::compressors`]; the message
    /// lists the available ones.
    pub fn check(&self, c: &Compression) -> Result<()> {
        if self.compressors.contains(&c.algorithm) {
            return Ok(());
        }
        let names: Vec<&str> = self.compressors.iter().map(|a| a.as_str()).collect();
        bail!(
            "mkfs.erofs {} cannot compress with {} (it offers: {})",
            self.version,
            c.algorithm.as_str(),
            names.join(", ")
        )
    }
}

/// Compressor names in a `mkfs.erofs --help` or `-V` text: the lists after
/// "Available compressors are:" / "available compressors:", and (1.7+ help)
/// indented names under "Available compressors". Unknown names are skipped;
/// `libdeflate` counts as `deflate`.
pub fn parse_compressors(text: &str) -> Vec<Algorithm> {
    let mut found = vec![Algorithm::None];
    let mut add = |word: &str| {
        let word = if word == "libdeflate" {
            "deflate"
        } else {
            word
        };
        if let Ok(a) = word.parse::<Algorithm>() {
            if !found.contains(&a) {
                found.push(a);
            }
        }
    };
    let mut in_list = false;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if let Some(i) = lower.find("available compressors") {
            let rest = &line[i..];
            match rest.split_once(':') {
                Some((_, list)) if !list.trim().is_empty() => {
                    for w in list.split(|c: char| c == ',' || c.is_whitespace()) {
                        add(w.trim());
                    }
                    in_list = false;
                }
                _ => in_list = true,
            }
            continue;
        }
        if in_list {
            let t = line.trim_start();
            if t.is_empty() || !line.starts_with(char::is_whitespace) {
                in_list = false;
                continue;
            }
            add(t
                .split(|c: char| c.is_whitespace() || c == '[')
                .next()
                .unwrap_or(""));
        }
    }
    found
}

/// The version in a `mkfs.erofs -V` or bare-run text: the last word of the
/// first line starting with `mkfs.erofs `, if it starts with a digit.
pub fn parse_version(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("mkfs.erofs "))
        .and_then(|l| l.split_whitespace().last())
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

/// Detects the host's `mkfs.erofs` (from `PATH`).
///
/// Errors: `mkfs.erofs` is not installed.
pub fn detect() -> Result<MkfsErofs> {
    detect_in(Path::new("/"))
}

fn all_output(cmd: &mut Command) -> Result<String> {
    let out = cmd.run_get_output()?;
    Ok(format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Detects the `mkfs.erofs` inside `root` (run chrooted when `root != /`).
///
/// Errors: `mkfs.erofs` is not installed there (or cannot be started).
pub fn detect_in(root: &Path) -> Result<MkfsErofs> {
    let help =
        all_output(chroot::command(root, "mkfs.erofs").arg("--help")).with_context(|| {
            format!(
                "cannot run mkfs.erofs in {} (is erofs-utils installed?)",
                root.display()
            )
        })?;
    if !help.contains("-z") {
        bail!(
            "mkfs.erofs in {} printed no usable --help:\n{help}",
            root.display()
        );
    }
    let vtext = all_output(chroot::command(root, "mkfs.erofs").arg("-V"))?;
    let version = parse_version(&vtext)
        .or_else(|| {
            // 1.5 has no -V: a bare run prints "mkfs.erofs 1.5" first.
            all_output(&mut chroot::command(root, "mkfs.erofs"))
                .ok()
                .and_then(|t| parse_version(&t))
        })
        .unwrap_or_default();
    let mut compressors = parse_compressors(&help);
    for a in parse_compressors(&vtext) {
        if !compressors.contains(&a) {
            compressors.push(a);
        }
    }
    Ok(MkfsErofs {
        version,
        compressors,
    })
}

/// The reproducibility and content flags: per-file mtimes kept, fixed UUID,
/// owners kept, no xattrs (the host's SELinux labels of the extracted tree
/// must not leak into the image). The build time comes from
/// `SOURCE_DATE_EPOCH` (see [`mkfs_in`]).
pub fn reproducible_args(uuid: &str) -> Vec<String> {
    vec![
        "--preserve-mtime".into(),
        format!("-U{uuid}"),
        "-x-1".into(),
    ]
}

/// Runs `mkfs.erofs` inside `root` on `tree` writing `out` (both host paths
/// below `root`); verify it with [`fsck_in`] afterwards. `epoch` (seconds)
/// is the image build time: pass the newest mtime in the tree.
///
/// Errors: the compression is not offered, or mkfs fails (with its command
/// line and stderr).
pub fn mkfs_in(
    root: &Path,
    mkfs: &MkfsErofs,
    tree: &Path,
    out: &Path,
    compression: &Compression,
    uuid: &str,
    epoch: u64,
) -> Result<()> {
    mkfs.check(compression)?;
    let mut cmd = chroot::command(root, "mkfs.erofs");
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
    cmd.args(reproducible_args(uuid));
    if compression.algorithm != Algorithm::None {
        cmd.arg(format!("-z{compression}"));
    }
    cmd.arg(chroot::inside(root, out)?)
        .arg(chroot::inside(root, tree)?);
    cmd.run().context("mkfs.erofs failed")
}

/// Verifies `image` (host path below `root`) with `fsck.erofs` if installed;
/// skipped (with a note on stderr) otherwise.
///
/// Errors: fsck.erofs rejects the image (its output is in the message).
pub fn fsck_in(root: &Path, image: &Path) -> Result<()> {
    let mut cmd = chroot::command(root, "fsck.erofs");
    cmd.arg(chroot::inside(root, image)?);
    let missing = match cmd.run_get_output() {
        Err(_) => true,
        // chroot(8) exits 127 when the program is not in the root.
        Ok(out) if !chroot::is_live(root) && out.status.code() == Some(127) => true,
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => bail!(
            "`{}` rejects the new image ({}): {}{}",
            initoverlayfs::cmd::command_line(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    };
    if missing {
        eprintln!(
            "initoverlayfs-builder: fsck.erofs not found in {}; image not verified",
            root.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mkfs.erofs --help` of erofs-utils 1.5 (Debian 12), tail.
    const HELP_1_5: &str = " --quiet               quiet execution (do not write anything to standard output.)\n\nAvailable compressors are: lz4hc, lz4\n";
    /// `mkfs.erofs -V` of erofs-utils 1.8.
    const V_1_8: &str = "mkfs.erofs (erofs-utils) 1.8.2\navailable compressors: lz4, lz4hc, lzma, deflate, libdeflate, zstd\n";
    /// `mkfs.erofs --help` of 1.7+: indented list.
    const HELP_1_7: &str = "Usage: [OPTIONS] FILE SOURCE(s)\n -zX[,level=Y]         X=compressor (Y=compression level, Z=dictionary size, optional)\n\nAvailable compressors are:\n  lz4\n  lz4hc   [<level=3..12>, default=9]\n  lzma    [<level=0..109>, default=6]\n  deflate [<level=0..9>, default=1]\n\nOther options:\n";

    #[test]
    fn compressors_from_recorded_outputs() {
        assert_eq!(
            parse_compressors(HELP_1_5),
            vec![Algorithm::None, Algorithm::Lz4hc, Algorithm::Lz4]
        );
        assert_eq!(
            parse_compressors(V_1_8),
            vec![
                Algorithm::None,
                Algorithm::Lz4,
                Algorithm::Lz4hc,
                Algorithm::Lzma,
                Algorithm::Deflate,
                Algorithm::Zstd
            ]
        );
        assert_eq!(
            parse_compressors(HELP_1_7),
            vec![
                Algorithm::None,
                Algorithm::Lz4,
                Algorithm::Lz4hc,
                Algorithm::Lzma,
                Algorithm::Deflate
            ]
        );
    }

    #[test]
    fn versions_from_recorded_outputs() {
        assert_eq!(
            parse_version("mkfs.erofs 1.5\n<E> erofs: missing argument: FILE"),
            Some("1.5".into())
        );
        assert_eq!(parse_version(V_1_8), Some("1.8.2".into()));
        assert_eq!(
            parse_version("mkfs.erofs: invalid option -- 'V'\nusage:"),
            None
        );
    }

    #[test]
    fn check_names_available_compressors() {
        let m = MkfsErofs {
            version: "1.5".into(),
            compressors: parse_compressors(HELP_1_5),
        };
        assert!(m.check(&"lz4hc,12".parse().unwrap()).is_ok());
        let err = format!("{:#}", m.check(&"zstd".parse().unwrap()).unwrap_err());
        assert!(err.contains("none, lz4hc, lz4"), "{err}");
    }
}
