//! The BLS entries of `$BOOT/loader/entries`: listing, finding the entry of
//! a kernel release, naming/deriving the fallback entry, and renaming the
//! fallback entries older releases wrote under names systemd rejects.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use crate::atomic;
use crate::bls::{entry_id, Entry};
use crate::layout::BootRoot;
use crate::rollback::Store;
use crate::target::Target;

/// Marks the fallback entry's id: `TOKEN-without_initoverlayfs.KVER.conf`
/// for the main entry `TOKEN-KVER.conf` (see [`fallback_id`] for why there).
/// Letters, digits and `_` only: no `-`, which grub's blscfg splits file
/// names at, and nothing systemd rejects in an entry name.
pub const FALLBACK_MARK: &str = "without_initoverlayfs";
/// The fallback id suffix of releases before 0.2 (`ID~without-initoverlayfs`):
/// systemd (`bootctl`, logind, systemd-boot's `efi_loader_entry_name_valid`)
/// rejects `~` in entry names, so such entries are renamed
/// ([`migrate_legacy_names`]).
pub const LEGACY_FALLBACK_SUFFIX: &str = "~without-initoverlayfs";
/// Appended to the fallback entry's title.
pub const FALLBACK_TITLE_SUFFIX: &str = " (without initoverlayfs)";

/// One entry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    /// Target path (`/boot/loader/entries/ID.conf`).
    pub path: String,
    /// File name (`ID.conf`, maybe with a boot counter).
    pub file_name: String,
    /// The parsed entry.
    pub entry: Entry,
}

impl EntryFile {
    /// The entry id (file name without `.conf` and boot counter).
    pub fn id(&self) -> &str {
        entry_id(&self.file_name)
    }

    /// Whether this is a fallback entry made by the installer (either name).
    pub fn is_fallback(&self) -> bool {
        is_fallback_id(self.id())
    }
}

/// Whether `id` names a fallback entry: a `-`-separated field that is
/// [`FALLBACK_MARK`] or starts with `FALLBACK_MARK.`, or the legacy suffix.
pub fn is_fallback_id(id: &str) -> bool {
    id.ends_with(LEGACY_FALLBACK_SUFFIX)
        || id.split('-').any(|f| {
            f.strip_prefix(FALLBACK_MARK)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
}

/// Whether systemd accepts `name` as a boot loader entry (file) name:
/// `efi_loader_entry_name_valid()` (systemd src/basic/efivars.c in v252,
/// src/shared/efi-api.c later): a valid file name made of ASCII letters,
/// digits and `+ - _ .` only. (v254+ also allows `@`; v252, Debian 12's,
/// does not, so neither do we.)
pub fn valid_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b))
}

/// The entries of a directory, and the files skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The entries read, sorted by file name.
    pub entries: Vec<EntryFile>,
    /// One line per `*.conf` file that could not be read as an entry (binary,
    /// not UTF-8, unreadable): what and why. systemd skips those too
    /// (`boot_entries_find()` in src/shared/bootspec.c goes on to the next file).
    pub skipped: Vec<String>,
}

/// Lists `*.conf` in the entries directory of `boot`, sorted by name; a
/// missing directory gives none. A file that cannot be read as an entry is
/// skipped and named in [`Listing::skipped`].
///
/// Errors: the directory exists but cannot be listed.
pub fn list(target: &Target, boot: &BootRoot) -> Result<Listing> {
    let dir = boot.entries_dir();
    let host = target.path(&dir)?;
    let rd = match std::fs::read_dir(&host) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", host.display())),
    };
    let mut out = Listing::default();
    for e in rd {
        let e = e.with_context(|| format!("cannot list {}", host.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".conf") || name.starts_with('.') {
            continue;
        }
        // An entry may be a symlink: resolved inside the target too (a link
        // that loops or leads out of the tree is an error, not a skip).
        let path = format!("{dir}/{name}");
        let file = target.path(&path)?;
        let parsed = std::fs::read(&file)
            .map_err(anyhow::Error::from)
            .and_then(|b| String::from_utf8(b).map_err(|_| anyhow::anyhow!("not UTF-8 text")))
            .and_then(|t| Entry::parse(&t));
        match parsed {
            Ok(entry) => out.entries.push(EntryFile {
                path,
                file_name: name,
                entry,
            }),
            Err(err) => out.skipped.push(format!("{path}: {err:#} (skipped)")),
        }
    }
    out.entries.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    out.skipped.sort();
    Ok(out)
}

/// The (non-fallback) entry booting `kver`: an id ending in `-KVER` (or
/// equal to it) first, then `version KVER`, then a `linux` path ending in
/// `KVER` or `/KVER/linux`. Rescue entries never match.
pub fn find_for_kver<'a>(entries: &'a [EntryFile], kver: &str) -> Option<&'a EntryFile> {
    let cands: Vec<&EntryFile> = entries
        .iter()
        .filter(|e| !e.is_fallback() && !e.id().contains("rescue"))
        .collect();
    let suffix = format!("-{kver}");
    cands
        .iter()
        .find(|e| e.id() == kver || e.id().ends_with(&suffix))
        .or_else(|| cands.iter().find(|e| e.entry.get("version") == Some(kver)))
        .or_else(|| {
            cands.iter().find(|e| {
                e.entry
                    .get("linux")
                    .is_some_and(|l| l.ends_with(&suffix) || l.ends_with(&format!("/{kver}/linux")))
            })
        })
        .copied()
}

/// The fallback entry's id for the main entry id `main_id`: [`FALLBACK_MARK`]
/// and a `.` inserted before the first `-`-separated field that starts with
/// a digit (`TOKEN-6.1.0-13-amd64` → `TOKEN-without_initoverlayfs.6.1.0-13-amd64`),
/// else `-without_initoverlayfs` appended; characters systemd rejects in
/// entry names become `_`.
///
/// Why there: boot loaders sort entries newest first by comparing ids (file
/// names) as versions, and without `~` (which systemd rejects) no suffix
/// sorts below its base in any of them, since a longer version is newer.
/// A letter field where the main id has the kernel release's first digit
/// is older in systemd's `strverscmp_improved()` and in grub blscfg's
/// `vercmp()`/`split_cmp()` (numbers are newer than letters), so the
/// fallback never sorts above its main entry and never becomes the default
/// by sorting. Where entries carry `sort-key` (kernel-install ≥ 251),
/// systemd orders by sort-key, machine-id and version first: the fallback
/// keeps all three, so it sorts right after its main entry. Entry ids with
/// no kernel release in them (`arch.conf`) get the mark appended; those
/// cannot be ordered by name.
pub fn fallback_id(main_id: &str) -> String {
    let at = main_id
        .match_indices('-')
        .map(|(i, _)| i)
        .find(|&i| main_id[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
    let id = match at {
        Some(i) => format!("{}-{FALLBACK_MARK}.{}", &main_id[..i], &main_id[i + 1..]),
        None => format!("{main_id}-{FALLBACK_MARK}"),
    };
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The fallback entry's file name for a main entry file name (its boot
/// counter, if any, dropped): `fallback_id(ID).conf`.
pub fn fallback_file_name(main_file_name: &str) -> String {
    format!("{}.conf", fallback_id(entry_id(main_file_name)))
}

/// The current name of a fallback entry file written under the legacy name
/// `ID~without-initoverlayfs.conf` (None for any other name).
pub fn renamed_legacy(file_name: &str) -> Option<String> {
    let main_id = file_name
        .strip_suffix(".conf")?
        .strip_suffix(LEGACY_FALLBACK_SUFFIX)?;
    Some(format!("{}.conf", fallback_id(main_id)))
}

/// Renames the fallback entries written under the legacy
/// `ID~without-initoverlayfs.conf` name to [`fallback_file_name`] — those in
/// the entries directories `dirs` (target paths) and those any rollback
/// generation of `store` records — and rewrites the generations' records to
/// the new path, so that a rollback restores or removes the entry under the
/// name that is on disk. An `id` key equal to the old id is updated. Safe
/// to rerun after a crash: files first, then records, both idempotent.
/// Returns the (old, new) target paths renamed or re-recorded.
///
/// Errors: a file cannot be read or written, or a manifest rewritten.
pub fn migrate_legacy_names(
    target: &Target,
    dirs: &[String],
    store: &Store,
) -> Result<Vec<(String, String)>> {
    let mut legacy = BTreeSet::new();
    for g in store.list()? {
        for r in &g.manifest.files {
            if let Some((dir, name)) = r.path.rsplit_once('/') {
                if renamed_legacy(name).is_some() {
                    legacy.insert((dir.to_string(), name.to_string()));
                }
            }
        }
    }
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(target.path(dir)?) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if renamed_legacy(&name).is_some() {
                legacy.insert((dir.trim_end_matches('/').to_string(), name));
            }
        }
    }
    let mut done = Vec::new();
    for (dir, name) in legacy {
        let new_name = renamed_legacy(&name).expect("only legacy names were collected");
        let (old, new) = (format!("{dir}/{name}"), format!("{dir}/{new_name}"));
        let host = target.path(&old)?;
        if let Ok(meta) = std::fs::symlink_metadata(&host) {
            if meta.is_file() {
                let bytes = std::fs::read(&host)
                    .with_context(|| format!("cannot read {}", host.display()))?;
                let old_id = entry_id(&name);
                let bytes = match std::str::from_utf8(&bytes).map(Entry::parse) {
                    Ok(Ok(mut e)) if e.get("id") == Some(old_id) => {
                        e.set("id", entry_id(&new_name));
                        e.to_string().into_bytes()
                    }
                    _ => bytes,
                };
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
                atomic::write(&target.path(&new)?, &bytes, mode)?;
                atomic::remove(&host)?;
            }
        }
        store.rename_records(&old, &new)?;
        done.push((old, new));
    }
    Ok(done)
}

/// Derives the fallback entry from the main one: every key, comment and
/// the order kept; title suffixed, `initrd` token `main_initrd` replaced by
/// `fallback_initrd`, and an `id` key (Fedora) renamed to the new id.
pub fn make_fallback(
    main: &Entry,
    main_initrd: &str,
    fallback_initrd: &str,
    fallback_id: &str,
) -> Entry {
    let mut e = main.clone();
    let title = main
        .get("title")
        .or_else(|| main.get("version"))
        .unwrap_or("Linux")
        .to_string();
    e.set("title", &format!("{title}{FALLBACK_TITLE_SUFFIX}"));
    e.replace_token("initrd", main_initrd, fallback_initrd);
    if e.get("id").is_some() {
        e.set("id", fallback_id);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ef(name: &str, text: &str) -> EntryFile {
        EntryFile {
            path: format!("/boot/loader/entries/{name}"),
            file_name: name.into(),
            entry: Entry::parse(text).unwrap(),
        }
    }

    #[test]
    fn finds_entry_of_kver() {
        let k = "6.5.6-300.fc39.x86_64";
        let es = vec![
            ef(
                "abc-0-rescue.conf",
                "title R\nversion 6.5.6-300.fc39.x86_64\n",
            ),
            ef(
                &format!("abc-{FALLBACK_MARK}.{k}.conf"),
                "version 6.5.6-300.fc39.x86_64\n",
            ),
            ef(
                &format!("abc-{k}{LEGACY_FALLBACK_SUFFIX}.conf"),
                "version 6.5.6-300.fc39.x86_64\n",
            ),
            ef(
                &format!("abc-{k}+3.conf"),
                "title F\nversion 6.5.6-300.fc39.x86_64\n",
            ),
            ef("zzz.conf", "linux /vmlinuz-6.1\n"),
        ];
        assert_eq!(
            find_for_kver(&es, k).unwrap().file_name,
            format!("abc-{k}+3.conf")
        );
        assert_eq!(find_for_kver(&es, "6.1").unwrap().file_name, "zzz.conf");
        assert!(find_for_kver(&es, "7.0").is_none());
        assert!(es[1].is_fallback() && es[2].is_fallback());
        assert!(!es[0].is_fallback() && !es[3].is_fallback());
    }

    #[test]
    fn fallback_keeps_fedora_fields() {
        let main = Entry::parse(include_str!(
            "../tests/fixtures/bls/fedora-6.5.6-300.fc39.x86_64.conf"
        ))
        .unwrap();
        let fb = make_fallback(
            &main,
            "/initramfs-6.5.6-300.fc39.x86_64.img",
            "/initramfs-6.5.6-300.fc39.x86_64.img.without-initoverlayfs",
            "x",
        );
        let text = fb.to_string();
        assert!(text.starts_with(
            "title Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Workstation Edition) (without initoverlayfs)\n"
        ));
        assert!(text.contains(
            "initrd /initramfs-6.5.6-300.fc39.x86_64.img.without-initoverlayfs $tuned_initrd\n"
        ));
        assert!(
            text.contains("grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class fedora\n")
        );
    }

    #[test]
    fn fallback_names_are_valid_unique_and_recognised() {
        let cases = [
            // (main file name, fallback file name)
            (
                "4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-6.5.6-300.fc39.x86_64.conf",
                "4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-without_initoverlayfs.6.5.6-300.fc39.x86_64.conf",
            ),
            (
                "debian-6.1.0-13-amd64.conf",
                "debian-without_initoverlayfs.6.1.0-13-amd64.conf",
            ),
            // the boot counter is not part of the id
            ("m-6.5.6+2-1.conf", "m-without_initoverlayfs.6.5.6.conf"),
            // a machine id starting with a digit is not the kernel release
            ("0f1e-6.8.5.conf", "0f1e-without_initoverlayfs.6.8.5.conf"),
            ("arch.conf", "arch-without_initoverlayfs.conf"),
            // `~` (and anything else systemd rejects) is replaced
            ("a~b-6.1.conf", "a_b-without_initoverlayfs.6.1.conf"),
        ];
        for (main, fb) in cases {
            assert_eq!(fallback_file_name(main), fb, "{main}");
            assert!(valid_entry_name(fb), "{fb}");
            assert_ne!(fallback_file_name(main), main);
            assert!(is_fallback_id(entry_id(fb)), "{fb}");
            assert!(!is_fallback_id(entry_id(main)), "{main}");
        }
        assert!(!valid_entry_name("m-6.5.6~without-initoverlayfs.conf"));
        assert!(!valid_entry_name("a b.conf") && !valid_entry_name("a@b.conf"));
        assert!(!valid_entry_name("") && !valid_entry_name(".."));
        assert!(valid_entry_name("A-z_0.9+1.conf"));
        assert_eq!(
            renamed_legacy("debian-6.1.0-13-amd64~without-initoverlayfs.conf").as_deref(),
            Some("debian-without_initoverlayfs.6.1.0-13-amd64.conf")
        );
        assert_eq!(renamed_legacy("debian-6.1.0-13-amd64.conf"), None);
        assert!(!is_fallback_id("without_initoverlayfsx-6.1"));
    }
}
