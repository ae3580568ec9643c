//! The files an install for one kernel writes, computed from the detection
//! before anything is written.

use anyhow::{bail, Result};

use crate::bls::Entry;
use crate::detect::Detection;
use crate::entries;
use crate::newentry;

/// Suffix of the byte-identical copy of the original initramfs that the
/// fallback entry boots (outside the `initramfs-*.img` globs of other tools).
pub const FALLBACK_INITRD_SUFFIX: &str = ".without-initoverlayfs";

/// What the install writes (all target paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Kernel release.
    pub kver: String,
    /// Where the mini initramfs goes: the main entry's initrd.
    pub mini: String,
    /// The mini initramfs as written in the entry.
    pub mini_entry: String,
    /// The byte-identical copy of the original initramfs (None: first build,
    /// there is no original).
    pub fallback: Option<String>,
    /// The fallback copy as written in the entry.
    pub fallback_in_entry: Option<String>,
    /// The erofs image (on the boot filesystem).
    pub image: String,
    /// The main entry file as it is now (or, when there is none, the
    /// uncounted name an install creates it under).
    pub main_entry: String,
    /// The main entry file after the install: `ID+N.conf` (the trial, see
    /// [`crate::loader`]) when the boot loader counts in file names and
    /// tries are on, `ID.conf` with tries off; `main_entry` under GRUB.
    pub final_entry: String,
    /// Every file of the main entry's id now and the names it may get
    /// (uncounted, trial, counted variants found): recorded in the rollback
    /// generation, so a rollback leaves exactly the recorded ones.
    pub entry_family: Vec<String>,
    /// The main entry text to write after the switch: a new entry when there
    /// is none for kver, or the existing one given the `initrd` line it lacked.
    pub new_main_entry: Option<Entry>,
    /// The fallback entry file and its text (when there is an original).
    pub fallback_entry: Option<(String, Entry)>,
    /// A kernel image copy into `$BOOT` a new entry needs (source, dest).
    pub kernel_copy: Option<(String, String)>,
    /// The config file.
    pub conf: String,
    /// The backup of an upstream-format config being migrated.
    pub conf_backup: Option<String>,
}

impl Plan {
    /// Every path the install may create or replace: they are recorded in
    /// the rollback generation before anything is written.
    pub fn touched(&self) -> Vec<String> {
        let mut v = vec![
            self.conf.clone(),
            self.mini.clone(),
            self.image.clone(),
            self.main_entry.clone(),
        ];
        for p in std::iter::once(&self.final_entry).chain(&self.entry_family) {
            if !v.contains(p) {
                v.push(p.clone());
            }
        }
        v.extend(self.fallback.clone());
        v.extend(self.fallback_entry.as_ref().map(|f| f.0.clone()));
        v.extend(self.kernel_copy.as_ref().map(|k| k.1.clone()));
        v.extend(self.conf_backup.clone());
        v
    }
}

/// Computes the plan. `has_original` says whether an original initramfs
/// exists (the current one, or, when an install is in effect, the fallback
/// copy of the true original).
///
/// Errors: no entry and no way to create one (no kernel image/cmdline), or
/// the image path escaping the boot filesystem.
pub fn plan(det: &Detection, has_original: bool) -> Result<Plan> {
    let kver = &det.kver;
    let br = &det.boot_root;
    let bm = br.mount.trim_end_matches('/');
    let boot_mount = det
        .layout
        .boot
        .as_ref()
        .map(|b| b.mount_point.clone())
        .unwrap_or_else(|| "/boot".into());
    let rel = det.config.image.path_for(kver);
    if rel.split('/').any(|c| c == "..") || rel.is_empty() {
        bail!(
            "[image] path {:?} must stay inside the boot filesystem",
            det.config.image.path
        );
    }
    let image = format!("{}/{rel}", boot_mount.trim_end_matches('/'));

    let entry = det.entry();
    let (main_entry, new_main_entry, kernel_copy, mini, mini_entry);
    let current_in_boot = det
        .initrd
        .as_ref()
        .filter(|i| br.entry_path(&i.path).is_some())
        .map(|i| i.path.clone());
    match entry {
        Some(e) => {
            if e.entry.get("linux").is_none() {
                bail!(
                    "BLS entry {} has no `linux` line (a unified kernel image?): initoverlayfs needs a kernel and an initrd line",
                    e.path
                );
            }
            main_entry = e.path.clone();
            kernel_copy = None;
            let tok = crate::initramfs::entry_initrd(e, kver).map(str::to_string);
            match tok {
                Some(t) => {
                    mini = br.resolve(&t);
                    mini_entry = t;
                    new_main_entry = None;
                }
                None => {
                    // The entry boots without an initrd: give it one.
                    mini = current_in_boot.unwrap_or_else(|| format!("{bm}/initramfs-{kver}.img"));
                    mini_entry = br.entry_path(&mini).unwrap_or_default();
                    let mut updated = e.entry.clone();
                    updated.set("initrd", &mini_entry);
                    new_main_entry = Some(updated);
                }
            }
        }
        None => {
            let (linux, copy) =
                newentry::kernel_image(&det.target, br, det.token.as_deref(), kver)?;
            mini = match current_in_boot {
                Some(p) => p,
                None if linux.ends_with("/linux") => {
                    br.resolve(&format!("{}/initrd", linux.trim_end_matches("/linux")))
                }
                None => format!("{bm}/initramfs-{kver}.img"),
            };
            mini_entry = br.entry_path(&mini).unwrap_or_default();
            let (options, _) = newentry::cmdline(&det.target, &det.layout)?;
            let token = det.token.clone().unwrap_or_else(|| "linux".into());
            let name = format!("{token}-{kver}.conf");
            if !entries::valid_entry_name(&name) {
                bail!(
                    "cannot create the boot entry {name:?}: systemd accepts only letters, digits and `+ - _ .` in entry names; set an entry token made of those in /etc/kernel/entry-token"
                );
            }
            main_entry = format!("{}/{name}", br.entries_dir());
            if det.target.path(&main_entry)?.exists() {
                bail!(
                    "{main_entry} exists but could not be read as a boot entry for {kver}; fix or remove it first"
                );
            }
            let machine_id = det
                .target
                .read_opt("/etc/machine-id")
                .ok()
                .flatten()
                .map(|m| m.trim().to_string())
                .filter(|m| m.len() == 32);
            new_main_entry = Some(newentry::make(
                &det.os,
                kver,
                machine_id.as_deref(),
                &options,
                &linux,
                &mini_entry,
            ));
            kernel_copy = copy;
        }
    }
    let (fallback, fallback_in_entry, fallback_entry) = if has_original {
        let fb = format!("{mini}{FALLBACK_INITRD_SUFFIX}");
        let fb_entry = format!("{mini_entry}{FALLBACK_INITRD_SUFFIX}");
        let main_name = main_entry.rsplit('/').next().unwrap_or_default();
        let fb_name = entries::fallback_file_name(main_name);
        let main_text = match (&new_main_entry, entry) {
            (Some(n), _) => n.clone(),
            (None, Some(e)) => e.entry.clone(),
            (None, None) => unreachable!("an entry exists or is created"),
        };
        let fb_id = crate::bls::entry_id(&fb_name).to_string();
        let fe = entries::make_fallback(&main_text, &mini_entry, &fb_entry, &fb_id);
        (
            Some(fb),
            Some(fb_entry),
            Some((format!("{}/{fb_name}", br.entries_dir()), fe)),
        )
    } else {
        (None, None, None)
    };
    // The trial: the main entry's name after the install.
    let dir = br.entries_dir();
    let main_name = main_entry
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let id = crate::bls::entry_id(&main_name).to_string();
    let final_entry = if det.loader.kind.counts_in_file_names() {
        format!("{dir}/{}", crate::bls::counted_name(&id, det.tries()))
    } else {
        main_entry.clone()
    };
    let mut entry_family: Vec<String> = det
        .entries
        .iter()
        .filter(|e| e.id() == id && e.path.rsplit_once('/').map(|p| p.0) == Some(dir.as_str()))
        .map(|e| e.path.clone())
        .collect();
    let uncounted = format!("{dir}/{id}.conf");
    if !entry_family.contains(&uncounted) {
        entry_family.push(uncounted);
    }
    let conf = crate::conf::path();
    let conf_backup = det
        .existing
        .upstream
        .then(|| format!("{conf}{}", crate::conf::UPSTREAM_BACKUP_SUFFIX));
    Ok(Plan {
        kver: kver.clone(),
        mini,
        mini_entry,
        fallback,
        fallback_in_entry,
        image,
        main_entry,
        final_entry,
        entry_family,
        new_main_entry,
        fallback_entry,
        kernel_copy,
        conf,
        conf_backup,
    })
}
