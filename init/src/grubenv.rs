//! GRUB's environment block (`grubenv`), read and written in its own
//! format (grub-core/lib/envblk.c, what `grub-editenv` and GRUB's
//! `load_env`/`save_env` use):
//!
//! ```text
//! # GRUB Environment Block\n        the signature, first
//! # WARNING: Do not edit …\n         comment lines start with `#` (kept)
//! saved_entry=4c7f…-6.5.6\n          NAME=VALUE lines; `\` and newline in
//! boot_counter=2\n                   a value are escaped with a `\`
//! ##########…                        `#` padding up to the block size
//! ```
//!
//! The block has a fixed size (1024 bytes from `grub-editenv create`): GRUB
//! writes it in place, sector by sector, and cannot grow it. [`GrubEnv::store`]
//! rewrites the existing file in place with the same size for the same
//! reason; a variable that does not fit is an error, never a larger file.
//!
//! The variables Fedora's grub2 uses for boot counting (its
//! `/etc/grub.d/08_fallback_counting` and `10_reset_boot_success`, as
//! greenboot sets them): `boot_counter` (decremented by GRUB on each boot
//! while `boot_success` is `0`; at `0` GRUB boots menu entry 1 and stores
//! `-1`), `boot_success` (reset to `0` by GRUB on each boot, set to `1` by
//! the booted system once it is good); plus `next_entry` (a one-shot
//! default, cleared by GRUB when used) and `saved_entry` (the default with
//! `GRUB_DEFAULT=saved`).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The first line of every block.
pub const SIGNATURE: &str = "# GRUB Environment Block\n";
/// The size `grub-editenv create` gives a new block.
pub const DEFAULT_SIZE: usize = 1024;

/// `boot_counter`: tries left before Fedora's GRUB falls back.
pub const BOOT_COUNTER: &str = "boot_counter";
/// `boot_success`: `1` once the booted system says it is good.
pub const BOOT_SUCCESS: &str = "boot_success";
/// `next_entry`: the entry id GRUB boots once (then clears it).
pub const NEXT_ENTRY: &str = "next_entry";
/// `saved_entry`: the default entry id with `GRUB_DEFAULT=saved`.
pub const SAVED_ENTRY: &str = "saved_entry";

/// One line of the block after the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A `#` comment line or a line without `=` (kept verbatim, no newline).
    Other(String),
    /// `NAME=VALUE` (the value unescaped).
    Var(String, String),
}

/// A parsed environment block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEnv {
    size: usize,
    items: Vec<Item>,
}

impl Default for GrubEnv {
    fn default() -> Self {
        GrubEnv::new()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl GrubEnv {
    /// An empty block of [`DEFAULT_SIZE`] bytes (as `grub-editenv create`).
    pub fn new() -> GrubEnv {
        GrubEnv {
            size: DEFAULT_SIZE,
            items: Vec::new(),
        }
    }

    /// Parses a block. Lines that are neither comments nor `NAME=VALUE`
    /// are kept and ignored, as GRUB ignores them.
    ///
    /// Errors: no signature, not UTF-8, or NUL bytes.
    pub fn parse(bytes: &[u8]) -> Result<GrubEnv> {
        let text = std::str::from_utf8(bytes).context("grubenv is not UTF-8 text")?;
        let Some(body) = text.strip_prefix(SIGNATURE) else {
            bail!("not a GRUB environment block (it does not start with {SIGNATURE:?})");
        };
        if text.contains('\0') {
            bail!("grubenv contains NUL bytes");
        }
        let mut items = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            if rest.starts_with('#') {
                match rest.find('\n') {
                    Some(i) => {
                        items.push(Item::Other(rest[..i].to_string()));
                        rest = &rest[i + 1..];
                    }
                    // The padding: `#` up to the end, no newline.
                    None => break,
                }
                continue;
            }
            // NAME=VALUE up to an unescaped newline.
            let mut line = String::new();
            let mut end = rest.len();
            let mut chars = rest.char_indices();
            let mut escaped = false;
            for (i, c) in chars.by_ref() {
                if escaped {
                    line.push(c);
                    escaped = false;
                } else if c == '\\' {
                    line.push(c);
                    escaped = true;
                } else if c == '\n' {
                    end = i + 1;
                    break;
                } else {
                    line.push(c);
                }
            }
            let raw = &rest[..end];
            rest = &rest[end..];
            match line.split_once('=') {
                Some((name, value)) if valid_name(name) => {
                    items.push(Item::Var(name.to_string(), unescape(value)))
                }
                _ => items.push(Item::Other(raw.trim_end_matches('\n').to_string())),
            }
        }
        Ok(GrubEnv {
            size: bytes.len(),
            items,
        })
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items.iter().find_map(|i| match i {
            Item::Var(n, v) if n == name => Some(v.as_str()),
            _ => None,
        })
    }

    /// Every variable, in block order.
    pub fn vars(&self) -> Vec<(&str, &str)> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Var(n, v) => Some((n.as_str(), v.as_str())),
                Item::Other(_) => None,
            })
            .collect()
    }

    /// Sets `name` in place, or appends it after the last line (where
    /// `grub-editenv set` puts a new variable).
    ///
    /// Errors: `name` is not letters, digits and `_`, or the value has a NUL.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        if !valid_name(name) {
            bail!("{name:?} is not a grubenv variable name (letters, digits, _)");
        }
        if value.contains('\0') {
            bail!("the value of {name} contains a NUL byte");
        }
        for i in &mut self.items {
            if let Item::Var(n, v) = i {
                if n == name {
                    *v = value.to_string();
                    return Ok(());
                }
            }
        }
        self.items
            .push(Item::Var(name.to_string(), value.to_string()));
        Ok(())
    }

    /// Removes `name`; returns whether it was set.
    pub fn unset(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items
            .retain(|i| !matches!(i, Item::Var(n, _) if n == name));
        self.items.len() != before
    }

    /// The block's bytes: signature, lines, `#` padding to its size.
    ///
    /// Errors: the lines do not fit the block (names the sizes).
    pub fn render(&self) -> Result<Vec<u8>> {
        let mut s = String::from(SIGNATURE);
        for i in &self.items {
            match i {
                Item::Other(line) => s.push_str(line),
                Item::Var(n, v) => {
                    s.push_str(n);
                    s.push('=');
                    s.push_str(&escape(v));
                }
            }
            s.push('\n');
        }
        if s.len() > self.size {
            bail!(
                "the variables need {} bytes, more than the {}-byte GRUB environment block holds",
                s.len(),
                self.size
            );
        }
        let mut bytes = s.into_bytes();
        bytes.resize(self.size, b'#');
        Ok(bytes)
    }

    /// Reads and parses the block at `path`.
    ///
    /// Errors: unreadable, or as [`GrubEnv::parse`] (the message names the file).
    pub fn load(path: &Path) -> Result<GrubEnv> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        GrubEnv::parse(&bytes).with_context(|| format!("{}", path.display()))
    }

    /// Writes the block over the existing file at `path` in place (same
    /// size, same blocks on disk, as GRUB's `save_env` does) and syncs it.
    ///
    /// Errors: the file does not exist, has another size than the block, or
    /// cannot be written (the message names the file).
    pub fn store(&self, path: &Path) -> Result<()> {
        let bytes = self
            .render()
            .with_context(|| format!("cannot update {}", path.display()))?;
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        let len = f
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        if len != bytes.len() as u64 {
            bail!(
                "{} is {len} bytes, the block is {}: not rewriting it in place",
                path.display(),
                bytes.len()
            );
        }
        f.write_all_at(&bytes, 0)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes a new block file at `path` (for tests and tools that create
    /// one; GRUB itself needs the file to exist before it can save to it).
    ///
    /// Errors: the file exists, or cannot be written.
    pub fn create(&self, path: &Path) -> Result<()> {
        let bytes = self.render()?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '\\' || c == '\n' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block shaped like Fedora's /boot/grub2/grubenv (the variables its
    /// grubby and grub.cfg keep there), `#` padding to 1024 bytes.
    fn fedora_block() -> Vec<u8> {
        let mut v = b"# GRUB Environment Block\n\
saved_entry=4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-6.5.12-300.fc39.x86_64\n\
menu_auto_hide=1\n\
boot_success=0\n\
boot_indeterminate=0\n"
            .to_vec();
        v.resize(1024, b'#');
        v
    }

    #[test]
    fn reads_and_edits_a_fedora_block() {
        let mut env = GrubEnv::parse(&fedora_block()).unwrap();
        assert_eq!(
            env.get(SAVED_ENTRY),
            Some("4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-6.5.12-300.fc39.x86_64")
        );
        assert_eq!(env.get(BOOT_SUCCESS), Some("0"));
        assert_eq!(env.get(BOOT_COUNTER), None);
        assert_eq!(
            env.render().unwrap(),
            fedora_block(),
            "unchanged round trip"
        );
        env.set(BOOT_COUNTER, "3").unwrap();
        env.set(BOOT_SUCCESS, "1").unwrap();
        assert!(env.unset("menu_auto_hide"));
        assert!(!env.unset("menu_auto_hide"));
        let out = env.render().unwrap();
        assert_eq!(out.len(), 1024);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with(
            "# GRUB Environment Block\nsaved_entry=4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-6.5.12-300.fc39.x86_64\n\
             boot_success=1\nboot_indeterminate=0\nboot_counter=3\n#"
        ), "{text}");
        assert!(text.trim_end_matches('#').ends_with("boot_counter=3\n"));
        assert_eq!(GrubEnv::parse(&out).unwrap(), env);
    }

    #[test]
    fn escapes_backslash_and_newline_as_grub_does() {
        let mut env = GrubEnv::new();
        env.set("a", "x\\y\nz").unwrap();
        let out = env.render().unwrap();
        assert!(out.starts_with(b"# GRUB Environment Block\na=x\\\\y\\\nz\n#"));
        assert_eq!(GrubEnv::parse(&out).unwrap().get("a"), Some("x\\y\nz"));
    }

    #[test]
    fn keeps_comments_refuses_what_is_not_a_block() {
        let mut b = b"# GRUB Environment Block\n# WARNING: Do not edit this file by tools other than grub-editenv!!!\nx=1\n".to_vec();
        b.resize(1024, b'#');
        let env = GrubEnv::parse(&b).unwrap();
        assert_eq!(env.vars(), vec![("x", "1")]);
        assert_eq!(env.render().unwrap(), b);
        assert!(GrubEnv::parse(b"saved_entry=x\n").is_err());
        assert!(GrubEnv::parse(b"# GRUB Environment Block\n\xff").is_err());
        assert!(GrubEnv::new().set("a b", "x").is_err());
        assert!(GrubEnv::new().set("a", "x\0").is_err());
    }

    #[test]
    fn a_full_block_is_an_error_not_a_bigger_file() {
        let mut env = GrubEnv::new();
        env.set("big", &"x".repeat(1000)).unwrap();
        let err = format!("{:#}", env.render().unwrap_err());
        assert!(err.contains("1024-byte"), "{err}");
    }

    #[test]
    fn stores_in_place_with_the_same_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grubenv");
        GrubEnv::new().create(&p).unwrap();
        assert!(GrubEnv::new().create(&p).is_err(), "never overwrites");
        let mut env = GrubEnv::load(&p).unwrap();
        env.set(NEXT_ENTRY, "a-without_initoverlayfs.6.1").unwrap();
        env.store(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 1024);
        assert_eq!(
            GrubEnv::load(&p).unwrap().get(NEXT_ENTRY),
            Some("a-without_initoverlayfs.6.1")
        );
        std::fs::write(&p, b"# GRUB Environment Block\n").unwrap();
        let err = format!("{:#}", env.store(&p).unwrap_err());
        assert!(err.contains("not rewriting it in place"), "{err}");
        assert!(GrubEnv::new().store(&dir.path().join("none")).is_err());
    }
}
