//! The BLS entries of `$BOOT/loader/entries`: listing, finding the entry of
//! a kernel release, and naming/deriving the fallback entry.

use anyhow::{Context, Result};

use crate::bls::{entry_id, Entry};
use crate::layout::BootRoot;
use crate::target::Target;

/// Marks the fallback entry's id: `ID~without-initoverlayfs.conf`. The `~`
/// makes it sort *before* the main entry in rpm/systemd version order, so it
/// never becomes the default by sorting.
pub const FALLBACK_MARK: &str = "~without-initoverlayfs";
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

    /// Whether this is a fallback entry made by the installer.
    pub fn is_fallback(&self) -> bool {
        self.id().ends_with(FALLBACK_MARK)
    }
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
    let host = target.path(&dir);
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
        let parsed = std::fs::read(e.path())
            .map_err(anyhow::Error::from)
            .and_then(|b| String::from_utf8(b).map_err(|_| anyhow::anyhow!("not UTF-8 text")))
            .and_then(|t| Entry::parse(&t));
        match parsed {
            Ok(entry) => out.entries.push(EntryFile {
                path: format!("{dir}/{name}"),
                file_name: name,
                entry,
            }),
            Err(err) => out.skipped.push(format!("{dir}/{name}: {err:#} (skipped)")),
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

/// The fallback entry's file name for a main entry file name.
pub fn fallback_file_name(main_file_name: &str) -> String {
    format!("{}{FALLBACK_MARK}.conf", entry_id(main_file_name))
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
                &format!("abc-{k}{FALLBACK_MARK}.conf"),
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
        assert!(es[1].is_fallback());
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
        assert_eq!(
            fallback_file_name("m-6.5.6+2-1.conf"),
            "m-6.5.6~without-initoverlayfs.conf"
        );
    }
}
