//! Shared-library requirements of ELF binaries, as rpm's `elfdeps --requires`
//! derives them (the `rpm` crate does not; rpmbuild does, via
//! `/usr/lib/rpm/elfdeps`).
//!
//! Only little-endian ELF64 (x86_64, aarch64, ppc64le) is handled; that is
//! what `cargo build` produces on the architectures we package for.
//! Layout source: the System V gABI and the LSB "Symbol Versioning" chapter
//! (`Elf64_Ehdr`, `Elf64_Shdr`, `Elf64_Dyn`, `Elf64_Verneed`, `Elf64_Vernaux`).

use anyhow::{bail, ensure, Context, Result};

const SHT_DYNAMIC: u32 = 6;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_HASH: u64 = 4;
const DT_GNU_HASH: u64 = 0x6fff_fef5;

/// One section header (the fields we use).
#[derive(Debug, Clone, Copy)]
struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    info: usize,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    let s = b
        .get(off..off + 2)
        .with_context(|| format!("ELF truncated at {off}"))?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    let s = b
        .get(off..off + 4)
        .with_context(|| format!("ELF truncated at {off}"))?;
    Ok(u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    let s = b
        .get(off..off + 8)
        .with_context(|| format!("ELF truncated at {off}"))?;
    Ok(u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

fn usize_at(b: &[u8], off: usize) -> Result<usize> {
    usize::try_from(u64_at(b, off)?).context("ELF offset overflows usize")
}

/// The NUL-terminated string at `off` in the string table section `strtab`.
fn str_at<'a>(b: &'a [u8], strtab: &Section, off: usize) -> Result<&'a str> {
    let start = strtab.offset + off;
    let end = strtab.offset + strtab.size;
    let bytes = b
        .get(start..end)
        .with_context(|| format!("string {off} outside its table"))?;
    let len = bytes
        .iter()
        .position(|&c| c == 0)
        .context("unterminated ELF string")?;
    std::str::from_utf8(&bytes[..len]).context("ELF string is not UTF-8")
}

fn sections(b: &[u8]) -> Result<Vec<Section>> {
    ensure!(b.get(..4) == Some(b"\x7fELF".as_slice()), "not an ELF file");
    ensure!(
        b.get(4) == Some(&2),
        "not a 64-bit ELF file (only ELF64 is supported)"
    );
    ensure!(b.get(5) == Some(&1), "not a little-endian ELF file");
    let shoff = usize_at(b, 0x28)?;
    let shentsize = usize::from(u16_at(b, 0x3a)?);
    let shnum = usize::from(u16_at(b, 0x3c)?);
    ensure!(shentsize >= 64, "ELF section header size {shentsize} < 64");
    (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            Ok(Section {
                kind: u32_at(b, h + 4)?,
                offset: usize_at(b, h + 0x18)?,
                size: usize_at(b, h + 0x20)?,
                link: u32_at(b, h + 0x28)? as usize,
                info: u32_at(b, h + 0x2c)? as usize,
            })
        })
        .collect()
}

/// The RPM `Requires:` of an ELF64 little-endian file, in the spelling and
/// order of `elfdeps --requires`: first one `LIB(VERSION)(64bit)` per needed
/// symbol version (`.gnu.version_r`), then `LIB()(64bit)` per `DT_NEEDED`
/// entry, then `rtld(GNU_HASH)` when the file has only a GNU hash table.
///
/// Errors: not an ELF64 little-endian file, or a truncated/corrupt one. A
/// static binary (no dynamic section) has no requirements.
pub fn requires(elf: &[u8]) -> Result<Vec<String>> {
    let secs = sections(elf)?;
    let strtab_of = |s: &Section| -> Result<Section> {
        secs.get(s.link)
            .copied()
            .with_context(|| format!("section link {} out of range", s.link))
    };
    let mut out = Vec::new();
    for s in secs.iter().filter(|s| s.kind == SHT_GNU_VERNEED) {
        let strtab = strtab_of(s)?;
        let mut need = s.offset;
        for _ in 0..s.info {
            let count = u16_at(elf, need + 2)?;
            let file = str_at(elf, &strtab, u32_at(elf, need + 4)? as usize)?;
            let mut aux = need + u32_at(elf, need + 8)? as usize;
            for _ in 0..count {
                let name = str_at(elf, &strtab, u32_at(elf, aux + 8)? as usize)?;
                out.push(format!("{file}({name})(64bit)"));
                let next = u32_at(elf, aux + 12)? as usize;
                if next == 0 {
                    break;
                }
                aux += next;
            }
            let next = u32_at(elf, need + 12)? as usize;
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    let (mut hash, mut gnu_hash) = (false, false);
    for s in secs.iter().filter(|s| s.kind == SHT_DYNAMIC) {
        let strtab = strtab_of(s)?;
        for off in (s.offset..s.offset + s.size).step_by(16) {
            match u64_at(elf, off)? {
                DT_NULL => break,
                DT_NEEDED => {
                    let name = str_at(elf, &strtab, usize_at(elf, off + 8)?)?;
                    out.push(format!("{name}()(64bit)"));
                }
                DT_HASH => hash = true,
                DT_GNU_HASH => gnu_hash = true,
                _ => {}
            }
        }
    }
    if gnu_hash && !hash {
        out.push("rtld(GNU_HASH)".into());
    }
    Ok(out)
}

/// [`requires`] of the file at `path`; errors name the file.
pub fn requires_of(path: &std::path::Path) -> Result<Vec<String>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    requires(&data).with_context(|| format!("cannot read ELF dependencies of {}", path.display()))
}

/// Bails unless `bytes` start with the ELF magic (for callers that want a
/// clear error before [`requires`]).
pub fn ensure_elf(bytes: &[u8]) -> Result<()> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        bail!("not an ELF file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    use initoverlayfs::cmd::CommandRunExt;

    /// Compares with rpm's own generator on real binaries of this machine.
    #[test]
    fn matches_rpm_elfdeps() {
        let elfdeps = Path::new("/usr/lib/rpm/elfdeps");
        if !elfdeps.exists() {
            eprintln!(
                "skipping: {} missing (Debian package rpm)",
                elfdeps.display()
            );
            return;
        }
        let test_exe = std::env::current_exe().unwrap();
        for bin in [
            Path::new("/usr/bin/ls"),
            Path::new("/usr/bin/rpm"),
            test_exe.as_path(),
        ] {
            let ours = requires_of(bin).unwrap();
            let theirs = Command::new(elfdeps)
                .arg("--requires")
                .arg(bin)
                .run_get_string()
                .unwrap();
            let theirs: Vec<&str> = theirs.lines().collect();
            assert_eq!(ours, theirs, "{}", bin.display());
            assert!(ours.iter().any(|r| r == "libc.so.6()(64bit)"), "{ours:?}");
        }
    }

    #[test]
    fn rejects_non_elf() {
        let err = format!("{:#}", requires(b"#!/bin/sh\n").unwrap_err());
        assert!(err.contains("not an ELF"), "{err}");
        assert!(ensure_elf(b"\x7fELF").is_ok());
        let err = format!("{:#}", requires(b"\x7fELF\x02\x01\x01").unwrap_err());
        assert!(err.contains("truncated"), "{err}");
    }
}
