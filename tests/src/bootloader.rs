//! The harness's BLS boot loader: reads `/loader/entries/*.conf` (and
//! `/loader/loader.conf`) from a disk image's /boot partition, orders them
//! per the spec and hands the chosen entry's kernel, initrd(s) and options
//! to QEMU direct kernel boot.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bls::{self, Entry};
use crate::disk;
use crate::mount::Mount;
use crate::mounted::Layout;

/// Which entry to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The default entry (what the machine boots unattended).
    Default,
    /// The first entry after the default in menu order (what a user picks
    /// when the default fails).
    Fallback,
    /// The entry with this id (file name without `.conf`).
    Id(String),
}

/// The menu read from a disk.
#[derive(Debug, Clone)]
pub struct Menu {
    /// Entries in menu order.
    pub entries: Vec<Entry>,
    /// Index of the default entry.
    pub default: usize,
    /// The raw text of each entry file, by id (for byte comparisons).
    pub texts: Vec<(String, String)>,
}

impl Menu {
    /// The entry for `choice`.
    ///
    /// Errors: no such entry (the message lists the menu).
    pub fn pick(&self, choice: &Choice) -> Result<&Entry> {
        let ids = || {
            self.entries
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match choice {
            Choice::Default => Ok(&self.entries[self.default]),
            Choice::Fallback => self
                .entries
                .iter()
                .enumerate()
                .find(|(i, _)| *i != self.default)
                .map(|(_, e)| e)
                .with_context(|| format!("no fallback entry; menu: {}", ids())),
            Choice::Id(id) => self
                .entries
                .iter()
                .find(|e| &e.id == id)
                .with_context(|| format!("no entry {id}; menu: {}", ids())),
        }
    }
}

/// What to boot: files copied out of /boot and the kernel command line.
#[derive(Debug, Clone)]
pub struct BootFiles {
    /// The chosen entry.
    pub entry: Entry,
    /// The kernel image on the host.
    pub kernel: PathBuf,
    /// The initrd (all `initrd` files concatenated) on the host.
    pub initrd: PathBuf,
    /// Size of the initrd in bytes.
    pub initrd_bytes: u64,
}

/// Reads the menu from a mounted /boot filesystem at `boot`.
///
/// Errors: no `loader/entries`, an unparsable entry, or no entry at all.
pub fn read_menu(boot: &Path) -> Result<Menu> {
    let dir = boot.join("loader/entries");
    let mut entries = Vec::new();
    let mut texts = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot list {}", dir.display()))?
        .into_iter()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let text =
            fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let e =
            bls::parse_entry(&name, &text).with_context(|| format!("bad entry {}", p.display()))?;
        texts.push((e.id.clone(), text));
        entries.push(e);
    }
    bls::sort(&mut entries);
    let conf = fs::read_to_string(boot.join("loader/loader.conf")).unwrap_or_default();
    let default = bls::default_index(&entries, bls::loader_conf_default(&conf).as_deref())
        .with_context(|| format!("no boot entries in {}", dir.display()))?;
    Ok(Menu {
        entries,
        default,
        texts,
    })
}

/// Mounts the /boot partition of `disk` on `mnt` and runs `f` on it.
///
/// Errors: the partition cannot be found or mounted, or `f` fails.
pub fn with_boot<T>(disk_path: &Path, mnt: &Path, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let layout = Layout::read(disk_path)?;
    let lo = disk::attach(disk_path, &layout.boot)?;
    let fstype = disk::fs_type(lo.path())?;
    let m = Mount::new(lo.path(), mnt, &fstype, "")?;
    let r = f(m.path());
    drop(m);
    drop(lo);
    let _ = fs::remove_dir(mnt);
    r
}

/// Resolves a path from an entry (relative to the /boot filesystem root).
fn in_boot(boot: &Path, p: &str) -> PathBuf {
    boot.join(p.trim_start_matches('/'))
}

/// Reads the menu of `disk`, picks `choice` and copies its kernel and
/// initrd(s) into `out_dir`. Returns the files and the menu.
///
/// Errors: as [`read_menu`] and [`Menu::pick`], or a file the entry names
/// is missing.
pub fn prepare(disk_path: &Path, choice: &Choice, out_dir: &Path) -> Result<(BootFiles, Menu)> {
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mnt = out_dir.join("boot-mnt");
    with_boot(disk_path, &mnt, |boot| {
        let menu = read_menu(boot)?;
        let entry = menu.pick(choice)?.clone();
        let kernel = out_dir.join("kernel");
        let src = in_boot(boot, &entry.linux);
        fs::copy(&src, &kernel)
            .with_context(|| format!("entry {}: cannot copy {}", entry.id, src.display()))?;
        let initrd = out_dir.join("initrd");
        let mut out = fs::File::create(&initrd)
            .with_context(|| format!("cannot create {}", initrd.display()))?;
        for i in &entry.initrd {
            let src = in_boot(boot, i);
            let data = fs::read(&src)
                .with_context(|| format!("entry {}: cannot read {}", entry.id, src.display()))?;
            out.write_all(&data).context("cannot write the initrd")?;
        }
        drop(out);
        let initrd_bytes = fs::metadata(&initrd)?.len();
        Ok((
            BootFiles {
                entry,
                kernel,
                initrd,
                initrd_bytes,
            },
            menu,
        ))
    })
}
