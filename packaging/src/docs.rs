//! Man pages and shell completions generated from the clap definitions of
//! `initoverlayfs-install` and `initoverlayfs-builder` (clap_mangen,
//! clap_complete). The generated man pages are committed under `man/`;
//! [`stale_man_pages`] tells whether they still match the code.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap_complete::Shell;

/// A user-facing CLI: its clap definition and man section.
#[derive(Debug)]
pub struct Cli {
    /// The program name (also the man page name).
    pub name: &'static str,
    /// The man section: 8 for the root-only installer, 1 for the builder.
    pub section: &'static str,
    /// The clap definition, with the workspace version.
    pub command: clap::Command,
}

/// The CLIs we ship man pages and completions for.
pub fn clis() -> Vec<Cli> {
    let version = env!("CARGO_PKG_VERSION");
    vec![
        Cli {
            name: "initoverlayfs-install",
            section: "8",
            command: initoverlayfs_install::cli::command()
                .name("initoverlayfs-install")
                .version(version),
        },
        Cli {
            name: "initoverlayfs-builder",
            section: "1",
            command: <initoverlayfs_builder::cli::Cli as clap::CommandFactory>::command()
                .name("initoverlayfs-builder")
                .version(version),
        },
    ]
}

/// The date in the generated pages' title line: the date of the last change
/// to their layout, fixed so that regenerating is reproducible (the version
/// comes from Cargo.toml).
pub const MAN_DATE: &str = "2026-11-29";

/// The `Man` renderer for `cmd` with our title line.
fn man_for(cmd: clap::Command, section: &str) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .section(section)
        .date(MAN_DATE)
        .source(format!("initoverlayfs {}", env!("CARGO_PKG_VERSION")))
        .manual(if section == "8" {
            "System Administration"
        } else {
            "User Commands"
        })
}

/// roff text without its `.SH` lines (to nest a subcommand's sections).
fn without_headings(roff: Vec<u8>) -> Result<String> {
    let text = String::from_utf8(roff).context("clap_mangen wrote non-UTF-8 roff")?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// Renders the man page of `cli` (roff source): clap_mangen's sections for
/// the program, then one `COMMANDS` section documenting every subcommand
/// in place (synopsis, description, options), instead of pointing to
/// per-subcommand pages we do not ship.
pub fn man_page(cli: &Cli) -> Result<Vec<u8>> {
    let mut cmd = cli.command.clone().disable_help_subcommand(true);
    cmd.build();
    let man = man_for(cmd.clone(), cli.section);
    let mut out = Vec::new();
    let ctx = || format!("cannot render the man page of {}", cli.name);
    man.render_title(&mut out).with_context(ctx)?;
    man.render_name_section(&mut out).with_context(ctx)?;
    man.render_synopsis_section(&mut out).with_context(ctx)?;
    man.render_description_section(&mut out).with_context(ctx)?;
    man.render_options_section(&mut out).with_context(ctx)?;
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        out.extend_from_slice(b".SH COMMANDS\n");
        for sub in subs {
            let full = format!("{} {}", cli.name, sub.get_name());
            let sub_man = man_for(sub.clone().bin_name(&full), cli.section);
            out.extend_from_slice(format!(".SS \"{}\"\n", full.replace('-', "\\-")).as_bytes());
            let mut part = Vec::new();
            sub_man
                .render_synopsis_section(&mut part)
                .with_context(ctx)?;
            part.extend_from_slice(b".PP\n");
            sub_man
                .render_description_section(&mut part)
                .with_context(ctx)?;
            sub_man
                .render_options_section(&mut part)
                .with_context(ctx)?;
            out.extend_from_slice(without_headings(part)?.as_bytes());
        }
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        let mut part = Vec::new();
        man.render_extra_section(&mut part).with_context(ctx)?;
        out.extend_from_slice(b".SH NOTES\n");
        out.extend_from_slice(without_headings(part)?.as_bytes());
    }
    let see_also = clis()
        .iter()
        .filter(|c| c.name != cli.name)
        .map(|c| format!(".BR {} ({}),", c.name.replace('-', "\\-"), c.section))
        .chain([
            ".BR initoverlayfs (8),".to_string(),
            ".BR initoverlayfs.conf (5)".to_string(),
        ])
        .collect::<Vec<_>>()
        .join("\n");
    out.extend_from_slice(format!(".SH \"SEE ALSO\"\n{see_also}\n").as_bytes());
    Ok(out)
}

/// The file name of `cli`'s man page: `NAME.SECTION`.
pub fn man_file_name(cli: &Cli) -> String {
    format!("{}.{}", cli.name, cli.section)
}

/// Writes the generated man pages into `dir`; returns their paths.
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clis()
        .iter()
        .map(|cli| {
            let path = dir.join(man_file_name(cli));
            fs::write(&path, man_page(cli)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// The committed man pages in `dir` that differ from what the code
/// generates now (missing files count as stale).
pub fn stale_man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for cli in clis() {
        let path = dir.join(man_file_name(&cli));
        let fresh = man_page(&cli)?;
        if fs::read(&path).ok().as_deref() != Some(fresh.as_slice()) {
            stale.push(path);
        }
    }
    Ok(stale)
}

/// The shells we generate completions for, with the file name each expects
/// for `name` (the layout [`crate::files::Source::Generated`] paths use).
pub fn completion_files(name: &str) -> [(Shell, String); 3] {
    [
        (Shell::Bash, format!("bash/{name}")),
        (Shell::Zsh, format!("zsh/_{name}")),
        (Shell::Fish, format!("fish/{name}.fish")),
    ]
}

/// Writes bash, zsh and fish completions of every CLI under `dir`
/// (`bash/NAME`, `zsh/_NAME`, `fish/NAME.fish`); returns their paths.
pub fn write_completions(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for mut cli in clis() {
        for (shell, rel) in completion_files(cli.name) {
            let path = dir.join(rel);
            let parent = path.parent().expect("completion paths have a directory");
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cli.command, cli.name, &mut out);
            fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{Source, FILES};
    use std::process::Command;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn committed_man_pages_are_fresh() {
        let stale = stale_man_pages(&workspace().join("man")).unwrap();
        assert!(
            stale.is_empty(),
            "stale generated man pages {stale:?}: run `cargo run -p initoverlayfs-packaging -- man`"
        );
    }

    #[test]
    fn generated_pages_are_shipped_in_the_right_package() {
        for cli in clis() {
            let src = format!("man/{}", man_file_name(&cli));
            let entry = FILES
                .iter()
                .find(|f| matches!(f.source, Source::Repo(p) if p == src));
            let entry = entry.unwrap_or_else(|| panic!("{src} is not in files.rs"));
            assert!(entry
                .dest
                .ends_with(&format!("/man{}/{}", cli.section, man_file_name(&cli))));
        }
    }

    #[test]
    fn pages_have_the_version_and_no_subcommand_page_references() {
        for cli in clis() {
            let page = String::from_utf8(man_page(&cli).unwrap()).unwrap();
            assert!(page.contains(&format!("initoverlayfs {}", env!("CARGO_PKG_VERSION"))));
            assert!(
                !page.contains(&format!("{}\\-help", cli.name.replace('-', "\\-"))),
                "{page}"
            );
        }
    }

    #[test]
    fn completions_land_where_files_rs_expects_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_completions(dir.path()).unwrap();
        let generated: Vec<&str> = FILES
            .iter()
            .filter_map(|f| match f.source {
                Source::Generated(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(written.len(), generated.len());
        for rel in generated {
            let path = dir.path().join(rel);
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(text.len() > 100, "{rel} is nearly empty");
            let shell = rel.split('/').next().unwrap();
            // Syntax check with the shell itself when it is installed.
            let Ok(out) = Command::new(shell).arg("-n").arg(&path).output() else {
                eprintln!("{shell} not installed: {rel} not syntax-checked");
                continue;
            };
            assert!(
                out.status.success(),
                "{shell} -n {rel}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
