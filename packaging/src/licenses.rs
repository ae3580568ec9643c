//! The `License:` of each package: initoverlayfs' own MIT plus the licenses
//! of every crate statically linked into its binary (Fedora's Rust
//! guidelines ask for that summary), from `cargo tree`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;

use crate::files::Subpackage;

/// The cargo package whose binary a subpackage ships.
pub fn cargo_package(sub: Subpackage) -> &'static str {
    match sub {
        Subpackage::Main => "initoverlayfs-install",
        Subpackage::Init => "initoverlayfs",
        Subpackage::Builder => "initoverlayfs-builder",
    }
}

/// Normalizes one conjunct (`Apache-2.0 OR MIT`, `MIT/Apache-2.0`) into its
/// alternatives sorted and joined by ` OR `.
fn normalize_alternatives(expr: &str) -> String {
    let expr = expr.trim().trim_start_matches('(').trim_end_matches(')');
    let mut alts: Vec<String> = expr
        .replace('/', " OR ")
        .split(" OR ")
        .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|a| !a.is_empty())
        .collect();
    alts.sort();
    alts.dedup();
    alts.join(" OR ")
}

/// Splits an SPDX expression at its top-level ` AND `s into normalized
/// conjuncts: `(MIT OR Apache-2.0) AND Unicode-3.0` gives
/// `{"Apache-2.0 OR MIT", "Unicode-3.0"}`.
pub fn conjuncts(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && expr[i..].starts_with(" AND ") => {
                out.insert(normalize_alternatives(&expr[start..i]));
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.insert(normalize_alternatives(&expr[start..]));
    out.retain(|c| !c.is_empty());
    out
}

/// Parses `cargo tree --prefix none -f {l}` output into conjuncts.
pub fn parse_cargo_tree(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.trim().trim_end_matches("(*)").trim())
        .filter(|l| !l.is_empty())
        .flat_map(conjuncts)
        .collect()
}

/// The license conjuncts of everything `package` links (normal
/// dependencies, host target), from `cargo tree` in `workspace`.
pub fn linked_licenses(workspace: &Path, package: &str) -> Result<BTreeSet<String>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let text = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "tree", "--locked", "-q", "-e", "normal", "--prefix", "none", "-f", "{l}", "-p",
            package,
        ])
        .run_get_string()
        .with_context(|| format!("cannot list the licenses linked into {package}"))?;
    Ok(parse_cargo_tree(&text))
}

/// A `License:` value for `conjuncts`: MIT first, then the rest in order,
/// alternatives in parentheses.
pub fn expression(conjuncts: &BTreeSet<String>) -> String {
    let mut parts = vec!["MIT".to_string()];
    for c in conjuncts.iter().filter(|c| c.as_str() != "MIT") {
        parts.push(if c.contains(" OR ") {
            format!("({c})")
        } else {
            c.clone()
        });
    }
    parts.join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjuncts_normalize() {
        let c = conjuncts("(MIT OR Apache-2.0) AND Unicode-3.0");
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            vec!["Apache-2.0 OR MIT", "Unicode-3.0"]
        );
        assert_eq!(conjuncts("MIT/Apache-2.0"), conjuncts("Apache-2.0 OR MIT"));
        let c = conjuncts("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT");
        assert_eq!(
            c.into_iter().next().unwrap(),
            "Apache-2.0 OR Apache-2.0 WITH LLVM-exception OR MIT"
        );
    }

    #[test]
    fn cargo_tree_output() {
        let text = "MIT\nMIT OR Apache-2.0 (*)\nApache-2.0 OR MIT\nbzip2-1.0.6\n\n";
        let set = parse_cargo_tree(text);
        assert_eq!(set.len(), 3);
        assert_eq!(
            expression(&set),
            "MIT AND (Apache-2.0 OR MIT) AND bzip2-1.0.6"
        );
    }
}
