//! Building the three binary RPMs with the `rpm` crate, without rpmbuild.
//!
//! Contents come from [`crate::files::FILES`]; metadata (summaries,
//! licenses, dependencies, descriptions, changelog) from the rendered spec
//! ([`crate::spec::Spec`]). What rpmbuild derives by itself is derived here
//! too: shared-library requires of ELF files ([`crate::elf`]), interpreter
//! requires of scripts (`#!/bin/bash` → `/bin/bash`, as rpm's `script.req`),
//! the `NAME(ISA) = V-R` provide, gzip-compressed man pages marked `%doc`,
//! and `config(NAME)` for `%config` files (added by the `rpm` crate).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::elf;
use crate::files::{files_of, owned_dirs, FileEntry, Kind, Source, Subpackage};
use crate::install::gzip;
use crate::spec::{Dep, Spec};

/// Inputs of [`build_all`].
#[derive(Debug, Clone)]
pub struct RpmInputs {
    /// Workspace root (sources of [`Source::Repo`] entries).
    pub workspace: PathBuf,
    /// Cargo target directory; binaries are read from `TARGET/release/`.
    pub target: PathBuf,
    /// Generated shell completions (`completions --out DIR`).
    pub generated: PathBuf,
    /// Where the `.rpm` files are written.
    pub out: PathBuf,
    /// Seconds since the epoch used for build time and file mtimes
    /// (`SOURCE_DATE_EPOCH` semantics), so rebuilds are byte-identical.
    pub source_date: u32,
}

/// rpm's ISA name for a `uname -m` architecture (`%{_isa}` without the
/// parentheses), used for the `NAME(ISA) = V-R` provide.
pub fn isa(arch: &str) -> Result<&'static str> {
    Ok(match arch {
        "x86_64" => "x86-64",
        "aarch64" => "aarch-64",
        "ppc64le" => "ppc-64",
        "s390x" => "s390-64",
        "riscv64" => "riscv-64",
        _ => bail!("no rpm ISA name known for architecture {arch}"),
    })
}

fn dependency(dep: &Dep, isa: &str) -> Result<rpm::Dependency> {
    let name = dep.name_for(isa);
    Ok(match &dep.version {
        None => rpm::Dependency::any(name),
        Some((op, v)) => match op.as_str() {
            "=" => rpm::Dependency::eq(name, v),
            ">=" => rpm::Dependency::greater_eq(name, v),
            "<=" => rpm::Dependency::less_eq(name, v),
            ">" => rpm::Dependency::greater(name, v),
            "<" => rpm::Dependency::less(name, v),
            _ => bail!("unknown dependency operator {op:?} for {name}"),
        },
    })
}

/// The automatic requires of one packaged file's content, as rpmbuild's
/// generators derive them: ELF shared libraries, or a script's interpreter.
pub fn auto_requires(entry: &FileEntry, data: &[u8]) -> Result<Vec<String>> {
    if entry.mode & 0o111 == 0 {
        return Ok(Vec::new());
    }
    if elf::ensure_elf(data).is_ok() {
        return elf::requires(data);
    }
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = std::str::from_utf8(line).context("shebang is not UTF-8")?;
        if let Some(interp) = line.split_whitespace().next() {
            return Ok(vec![interp.to_string()]);
        }
    }
    Ok(Vec::new())
}

/// The content of `entry` as packaged (man pages gzip-compressed); `None`
/// for ghost entries.
fn content(entry: &FileEntry, inputs: &RpmInputs) -> Result<Option<Vec<u8>>> {
    let Some(path) = entry.source_path(&inputs.workspace, &inputs.target, &inputs.generated) else {
        return Ok(None);
    };
    let data = fs::read(&path).with_context(|| {
        let hint = match entry.source {
            Source::Binary(_) => " (run `cargo build --release` first)",
            Source::Generated(_) => " (run `initoverlayfs-packaging completions` first)",
            _ => "",
        };
        format!("cannot read {} for {}{hint}", path.display(), entry.dest)
    })?;
    Ok(Some(if entry.kind == Kind::Man {
        gzip(&data)?
    } else {
        data
    }))
}

/// Builds one package in memory.
pub fn build_package(
    spec: &Spec,
    sub: Subpackage,
    arch: &str,
    inputs: &RpmInputs,
) -> Result<rpm::Package> {
    let meta = spec.package(sub);
    let evr = format!("{}-{}", spec.version, spec.release);
    let config = rpm::BuildConfig::v4()
        .compression(rpm::CompressionType::Zstd)
        .source_date(inputs.source_date);
    let mut b = rpm::PackageBuilder::new(
        sub.name(),
        &spec.version,
        &meta.license,
        arch,
        &meta.summary,
    );
    b.using_config(config)
        .release(&spec.release)
        .url(&spec.url)
        .description(&meta.description)
        .build_host("localhost")
        .provides(rpm::Dependency::eq(
            format!("{}({})", sub.name(), isa(arch)?),
            &evr,
        ));
    for entry in &spec.changelog {
        b.add_changelog_entry(&entry.author, &entry.text, entry.time);
    }
    let mut requires: BTreeSet<String> = BTreeSet::new();
    for dir in owned_dirs(sub) {
        b.with_dir_entry(rpm::FileOptions::dir(*dir).permissions(0o755))
            .with_context(|| format!("cannot add directory {dir}"))?;
    }
    for entry in files_of(sub) {
        let dest = entry.packaged_path();
        let Some(data) = content(entry, inputs)? else {
            let opts = rpm::FileOptions::ghost(&dest).permissions(entry.mode as u16);
            let opts = if entry.config_noreplace() {
                opts.config().noreplace()
            } else {
                opts
            };
            b.with_ghost(opts)
                .with_context(|| format!("cannot add ghost {dest}"))?;
            continue;
        };
        requires.extend(
            auto_requires(entry, &data).with_context(|| format!("dependencies of {dest}"))?,
        );
        let opts = rpm::FileOptions::new(&dest).permissions(entry.mode as u16);
        let opts = match entry.kind {
            Kind::Man | Kind::Doc => opts.doc(),
            Kind::License => opts.license(),
            Kind::ConfigNoreplace => opts.config().noreplace(),
            Kind::Plain | Kind::GhostConfigNoreplace => opts,
        };
        b.with_file_contents(data, opts)
            .with_context(|| format!("cannot add {dest}"))?;
    }
    for dep in &meta.requires {
        b.requires(dependency(dep, isa(arch)?)?);
    }
    for r in requires {
        b.requires(rpm::Dependency::any(r));
    }
    for dep in &meta.provides {
        b.provides(dependency(dep, isa(arch)?)?);
    }
    for dep in &meta.recommends {
        b.recommends(dependency(dep, isa(arch)?)?);
    }
    b.build()
        .with_context(|| format!("cannot build package {sub}"))
}

/// The file name rpmbuild gives a binary package: `NAME-V-R.ARCH.rpm`.
pub fn file_name(spec: &Spec, sub: Subpackage, arch: &str) -> String {
    format!(
        "{}-{}-{}.{arch}.rpm",
        sub.name(),
        spec.version,
        spec.release
    )
}

/// Builds the three packages for this machine's architecture into
/// `inputs.out`; returns their paths, main package first.
///
/// Errors: a missing input file (no release build, no completions), an
/// unknown architecture, or an unwritable output directory.
pub fn build_all(spec: &Spec, inputs: &RpmInputs) -> Result<Vec<PathBuf>> {
    let arch = std::env::consts::ARCH;
    fs::create_dir_all(&inputs.out)
        .with_context(|| format!("cannot create {}", inputs.out.display()))?;
    Subpackage::ALL
        .into_iter()
        .map(|sub| {
            let pkg = build_package(spec, sub, arch, inputs)?;
            let path = inputs.out.join(file_name(spec, sub, arch));
            pkg.write_file(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// Seconds since the epoch for reproducible builds: `SOURCE_DATE_EPOCH` if
/// set, else the time of the newest changelog entry.
pub fn source_date(spec: &Spec) -> Result<u32> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number"));
    }
    spec.changelog
        .first()
        .map(|e| e.time)
        .context("the spec has no %changelog entry")
}
