//! Reading the RPM spec (`packaging/initoverlayfs.spec`, rendered by
//! `make -f copr/Makefile spec`): the pure-Rust RPM builds take each
//! package's summary, license, dependencies, description and the changelog
//! from it, so the spec is the one place package metadata is written.
//!
//! This is a reader for *our* spec, not a general spec parser: macros other
//! than `%{name}`, `%{version}`, `%{release}` and `%{?dist}` are not expanded
//! in the preamble (the spec uses none there), and `%files` lines are read
//! from `rpmspec --parse` output, where rpm itself has expanded the macros.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::files::Subpackage;

/// A dependency as written in a `Requires:`/`Recommends:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// Package or capability name; may end in `%{?_isa}` (see [`Dep::name_for`]).
    pub name: String,
    /// Comparison and version (`("=", "0.1.0-1")`), if any.
    pub version: Option<(String, String)>,
}

/// One package's preamble.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageMeta {
    /// `Summary:`.
    pub summary: String,
    /// `License:` (a subpackage without one inherits the main package's).
    pub license: String,
    /// `Requires:` lines, in order.
    pub requires: Vec<Dep>,
    /// `Recommends:` lines, in order.
    pub recommends: Vec<Dep>,
    /// `Provides:` lines (the `bundled(crate(…))` ones copr/Makefile fills in).
    pub provides: Vec<Dep>,
    /// `%description` text, lines joined with `\n`, trailing blank lines removed.
    pub description: String,
}

/// One `%changelog` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// Seconds since the epoch of the entry's date (midnight UTC).
    pub time: u32,
    /// `NAME <EMAIL> - VERSION-RELEASE`.
    pub author: String,
    /// The `- …` lines.
    pub text: String,
}

/// What the RPM builds need from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `Name:`.
    pub name: String,
    /// `Version:`.
    pub version: String,
    /// `Release:` without `%{?dist}`.
    pub release: String,
    /// `URL:`.
    pub url: String,
    /// The three packages' preambles.
    pub packages: BTreeMap<Subpackage, PackageMeta>,
    /// `%changelog`, newest first as written.
    pub changelog: Vec<ChangelogEntry>,
}

/// Spec section keywords that end a preamble or `%description`.
const SECTIONS: &[&str] = &[
    "%package",
    "%description",
    "%prep",
    "%build",
    "%install",
    "%check",
    "%files",
    "%changelog",
    "%if",
    "%endif",
    "%post",
    "%pre",
    "%preun",
    "%postun",
];

fn section_word(line: &str) -> Option<&str> {
    let word = line.split_whitespace().next()?;
    SECTIONS.contains(&word).then_some(word)
}

/// The subpackage named by a `%package`/`%description`/`%files` argument.
fn subpackage(arg: Option<&str>) -> Result<Subpackage> {
    match arg {
        None => Ok(Subpackage::Main),
        Some("init") => Ok(Subpackage::Init),
        Some("builder") => Ok(Subpackage::Builder),
        Some(other) => bail!("unknown subpackage {other:?} in the spec"),
    }
}

impl Dep {
    /// The name with `%{?_isa}` expanded for `isa` (`x86-64`: `foo(x86-64)`).
    pub fn name_for(&self, isa: &str) -> String {
        self.name.replace("%{?_isa}", &format!("({isa})"))
    }

    /// The dependency as `rpm -qpR` prints it, for `isa`.
    pub fn display_for(&self, isa: &str) -> String {
        match &self.version {
            Some((op, v)) => format!("{} {op} {v}", self.name_for(isa)),
            None => self.name_for(isa),
        }
    }
}

fn parse_dep(value: &str) -> Result<Dep> {
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [name] => Ok(Dep {
            name: name.to_string(),
            version: None,
        }),
        [name, op, ver] if ["=", "<", ">", "<=", ">="].contains(op) => Ok(Dep {
            name: name.to_string(),
            version: Some((op.to_string(), ver.to_string())),
        }),
        _ => bail!("cannot read dependency {value:?} (expected NAME [OP VERSION])"),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a changelog date `Sun Nov 29 2026` into seconds since the epoch.
fn parse_changelog_date(weekday: &str, month: &str, day: &str, year: &str) -> Result<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let m = MONTHS
        .iter()
        .position(|&x| x == month)
        .with_context(|| format!("bad changelog month {month:?}"))? as i64
        + 1;
    let d: i64 = day
        .parse()
        .with_context(|| format!("bad changelog day {day:?}"))?;
    let y: i64 = year
        .parse()
        .with_context(|| format!("bad changelog year {year:?}"))?;
    ensure!((1..=31).contains(&d), "bad changelog day {day:?}");
    let days = days_from_civil(y, m, d);
    let wd = WEEKDAYS[days.rem_euclid(7) as usize];
    ensure!(
        wd == weekday,
        "changelog date {weekday} {month} {day} {year}: that day is a {wd}"
    );
    u32::try_from(days * 86_400).context("changelog date out of range")
}

impl Spec {
    /// Parses a rendered spec (no `@VERSION@` placeholders left).
    ///
    /// Errors: a placeholder left, a missing `Name`/`Version`/`Release`/
    /// `Summary`, an unknown subpackage, an unreadable dependency or
    /// changelog line.
    pub fn parse(text: &str) -> Result<Spec> {
        ensure!(
            !text.contains("@VERSION@")
                && !text.contains("@RELEASE@")
                && !text.contains("@BUNDLED_"),
            "the spec still has @…@ placeholders: render it with `make -f copr/Makefile spec`"
        );
        let mut tags: BTreeMap<&str, String> = BTreeMap::new();
        let mut packages: BTreeMap<Subpackage, PackageMeta> = BTreeMap::new();
        let mut changelog = Vec::new();
        // Where we are: preamble of a package, its description, or elsewhere.
        enum State {
            Preamble(Subpackage),
            Description(Subpackage),
            Changelog,
            Other,
        }
        let mut state = State::Preamble(Subpackage::Main);
        for (no, line) in text.lines().enumerate() {
            let ctx = || format!("spec line {}: {line:?}", no + 1);
            if let Some(word) = section_word(line) {
                let arg = line.split_whitespace().nth(1);
                state = match word {
                    "%package" => State::Preamble(subpackage(arg).with_context(ctx)?),
                    "%description" => State::Description(subpackage(arg).with_context(ctx)?),
                    "%changelog" => State::Changelog,
                    _ => State::Other,
                };
                continue;
            }
            match state {
                State::Preamble(sub) => {
                    if line.starts_with('#') {
                        continue;
                    }
                    let Some((tag, value)) = line.split_once(':') else {
                        continue;
                    };
                    if tag.contains(char::is_whitespace) || tag.starts_with('%') {
                        continue;
                    }
                    let value = value.trim();
                    let pkg = packages.entry(sub).or_default();
                    match tag {
                        "Summary" => pkg.summary = value.to_string(),
                        "License" => pkg.license = value.to_string(),
                        "Requires" => pkg.requires.push(parse_dep(value).with_context(ctx)?),
                        "Recommends" => pkg.recommends.push(parse_dep(value).with_context(ctx)?),
                        "Provides" => pkg.provides.push(parse_dep(value).with_context(ctx)?),
                        "Name" | "Version" | "Release" | "URL" if sub == Subpackage::Main => {
                            tags.insert(tag, value.to_string());
                        }
                        _ => {}
                    }
                }
                State::Description(sub) => {
                    let pkg = packages.entry(sub).or_default();
                    if !pkg.description.is_empty() {
                        pkg.description.push('\n');
                    }
                    pkg.description.push_str(line);
                }
                State::Changelog => {
                    if let Some(head) = line.strip_prefix("* ") {
                        let w: Vec<&str> = head.splitn(5, ' ').collect();
                        ensure!(
                            w.len() == 5,
                            "{}: expected `* Www Mmm DD YYYY NAME <EMAIL> - EVR`",
                            ctx()
                        );
                        let time =
                            parse_changelog_date(w[0], w[1], w[2], w[3]).with_context(ctx)?;
                        changelog.push(ChangelogEntry {
                            time,
                            author: w[4].to_string(),
                            text: String::new(),
                        });
                    } else if !line.trim().is_empty() {
                        let entry = changelog.last_mut().with_context(|| {
                            format!("{}: text before the first `*` entry", ctx())
                        })?;
                        if !entry.text.is_empty() {
                            entry.text.push('\n');
                        }
                        entry.text.push_str(line);
                    }
                }
                State::Other => {}
            }
        }
        let tag = |t: &str| {
            tags.get(t)
                .cloned()
                .with_context(|| format!("the spec has no {t}: tag"))
        };
        let name = tag("Name")?;
        let version = tag("Version")?;
        let release = tag("Release")?.replace("%{?dist}", "");
        let url = tag("URL")?;
        let expand = |s: &str| {
            s.replace("%{name}", &name)
                .replace("%{version}", &version)
                .replace("%{release}", &release)
        };
        let main_license = packages
            .get(&Subpackage::Main)
            .map(|p| p.license.clone())
            .unwrap_or_default();
        for sub in Subpackage::ALL {
            let pkg = packages
                .get_mut(&sub)
                .with_context(|| format!("the spec has no package {sub}"))?;
            ensure!(!pkg.summary.is_empty(), "package {sub} has no Summary");
            ensure!(
                !pkg.description.trim().is_empty(),
                "package {sub} has no %description"
            );
            if pkg.license.is_empty() {
                pkg.license = main_license.clone();
            }
            pkg.description = pkg.description.trim_end().to_string();
            for dep in pkg.requires.iter_mut().chain(pkg.recommends.iter_mut()) {
                dep.name = expand(&dep.name);
                if let Some((_, v)) = &mut dep.version {
                    *v = expand(v);
                }
            }
        }
        Ok(Spec {
            name,
            version,
            release,
            url,
            packages,
            changelog,
        })
    }

    /// The metadata of `sub` (always present after [`Spec::parse`]).
    pub fn package(&self, sub: Subpackage) -> &PackageMeta {
        &self.packages[&sub]
    }
}

/// Renders `packaging/initoverlayfs.spec` of the checkout at `workspace`
/// into `outdir` with `make -f copr/Makefile spec` (which fills the version
/// from Cargo.toml and the release and changelog from git) and returns the
/// rendered text.
pub fn render(workspace: &Path, outdir: &Path) -> Result<String> {
    Command::new("make")
        .arg("-s")
        .arg("-f")
        .arg(workspace.join("copr/Makefile"))
        .arg("spec")
        .arg(format!("outdir={}", outdir.display()))
        .run_get_string()
        .context("cannot render the spec")?;
    let path = outdir.join("initoverlayfs.spec");
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// One line of a `%files` section, as rpm expanded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesLine {
    /// The package whose `%files` section holds the line.
    pub subpackage: Subpackage,
    /// Directives before the path: `%license`, `%doc`, `%dir`, `%ghost`,
    /// `%config(noreplace)`, `%attr(…)`.
    pub directives: Vec<String>,
    /// The path or glob (absolute, or relative for `%license`/`%doc`).
    pub path: String,
}

/// Reads the `%files` sections of a spec whose macros rpm already expanded
/// (`rpmspec --parse` output).
pub fn files_sections(parsed: &str) -> Result<Vec<FilesLine>> {
    let mut out = Vec::new();
    let mut current = None;
    for line in parsed.lines() {
        if let Some(word) = section_word(line) {
            current = match word {
                "%files" => Some(subpackage(line.split_whitespace().nth(1))?),
                _ => None,
            };
            continue;
        }
        let Some(sub) = current else { continue };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let path = words.pop().context("empty %files line")?;
        ensure!(!path.starts_with('%'), "%files line {line:?} has no path");
        out.push(FilesLine {
            subpackage: sub,
            directives: words,
            path,
        });
    }
    Ok(out)
}

/// `rpmspec --parse FILE`: the spec with every macro expanded by rpm.
pub fn rpmspec_parse(spec: &Path) -> Result<String> {
    Command::new("rpmspec")
        .arg("--parse")
        .arg(spec)
        .run_get_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_dates() {
        assert_eq!(parse_changelog_date("Thu", "Jan", "01", "1970").unwrap(), 0);
        assert_eq!(
            parse_changelog_date("Sun", "Nov", "29", "2026").unwrap(),
            1_795_910_400
        );
        let err = format!(
            "{:#}",
            parse_changelog_date("Mon", "Nov", "29", "2026").unwrap_err()
        );
        assert!(err.contains("that day is a Sun"), "{err}");
    }

    #[test]
    fn deps() {
        assert_eq!(parse_dep("dracut").unwrap().version, None);
        let d = parse_dep("%{name}-init = %{version}-%{release}").unwrap();
        assert_eq!(
            d.version,
            Some(("=".into(), "%{version}-%{release}".into()))
        );
        assert!(parse_dep("a b").is_err());
    }

    const MINI: &str = "\
Name: x
Version: 1.2
Release: 3%{?dist}
Summary: main one
License: MIT
URL: https://example.org
Requires: %{name}-init%{?_isa} = %{version}-%{release}
Recommends: zstd
Provides: bundled(crate(anyhow)) = 1.0.1

%description
Main text.

%package init
Summary: init one
%description init
Init text.
%package builder
Summary: builder one
License: MIT AND Apache-2.0
%description builder
Builder text.
%prep
%files
%license LICENSE
/usr/bin/x
%files init
%ghost %config(noreplace) /etc/x.conf
%changelog
* Sun Nov 29 2026 A B <a@b> - 1.2-3
- first
- second
";

    #[test]
    fn parses_a_small_spec() {
        let s = Spec::parse(MINI).unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_str(), s.release.as_str()),
            ("x", "1.2", "3")
        );
        let main = s.package(Subpackage::Main);
        assert_eq!(main.description, "Main text.");
        assert_eq!(main.requires[0].name, "x-init%{?_isa}");
        assert_eq!(
            main.requires[0].display_for("x86-64"),
            "x-init(x86-64) = 1.2-3"
        );
        assert_eq!(main.requires[0].version, Some(("=".into(), "1.2-3".into())));
        assert_eq!(main.recommends[0].name, "zstd");
        assert_eq!(
            main.provides[0].display_for("x86-64"),
            "bundled(crate(anyhow)) = 1.0.1"
        );
        assert_eq!(s.package(Subpackage::Init).license, "MIT");
        assert_eq!(s.package(Subpackage::Builder).license, "MIT AND Apache-2.0");
        assert_eq!(s.changelog.len(), 1);
        assert_eq!(s.changelog[0].author, "A B <a@b> - 1.2-3");
        assert_eq!(s.changelog[0].text, "- first\n- second");
        let files = files_sections(MINI).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[2].subpackage, Subpackage::Init);
        assert_eq!(files[2].directives, vec!["%ghost", "%config(noreplace)"]);
    }

    #[test]
    fn placeholders_are_refused() {
        let template = include_str!("../initoverlayfs.spec");
        let err = format!("{:#}", Spec::parse(template).unwrap_err());
        assert!(err.contains("make -f copr/Makefile spec"), "{err}");
    }
}
