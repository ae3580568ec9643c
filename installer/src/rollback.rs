//! The rollback store: one generation per install, recorded before the
//! install changes anything.
//!
//! Layout (target paths): `/var/lib/initoverlayfs/rollback/GEN/` holding
//! `manifest.json` (kver, date, and for every path the install may touch:
//! its size, mode and blake3 plus the copy under `files/`, or `absent`),
//! and `installed.json` (the blake3 of the mini initramfs the install put
//! in place, written just before it is switched in). A generation directory
//! is built as `.tmp-GEN` and renamed into place, so it exists completely
//! or not at all.
//!
//! Offline, every file the store reads or writes (its own and the recorded
//! ones) is a path of the target resolved by [`Target::path`], so neither
//! the tree's symlinks nor a `copy` in a manifest can reach the build host.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::target::Target;

/// Puts the recorded trial variables back into the GRUB environment block
/// (other variables untouched); nothing when they already are, or when the
/// block is gone.
///
/// Errors: the block exists but cannot be read or rewritten.
pub fn restore_env(target: &Target, e: &EnvBefore) -> Result<()> {
    let path = target.path(&e.file)?;
    if !path.is_file() {
        return Ok(());
    }
    let mut env = initoverlayfs::grubenv::GrubEnv::load(&path)?;
    let before = env.clone();
    for (k, v) in &e.vars {
        match v {
            Some(v) => env.set(k, v)?,
            None => {
                env.unset(k);
            }
        }
    }
    if env != before {
        env.store(&path)?;
    }
    Ok(())
}

/// The boot entry family of a target path: (entries directory, entry id)
/// for `…/loader/entries/NAME.conf`, None for any other file. All names of
/// one id (`ID.conf`, `ID+3.conf`, `ID+1-2.conf`) are one entry whose name
/// changes with its boot counter (systemd-boot renames it at every boot).
pub fn entry_family(path: &str) -> Option<(String, String)> {
    let (dir, name) = path.rsplit_once('/')?;
    if !dir.ends_with("/loader/entries") || !name.ends_with(".conf") {
        return None;
    }
    Some((dir.to_string(), crate::bls::entry_id(name).to_string()))
}

/// The store directory in the target.
pub const STORE: &str = "/var/lib/initoverlayfs/rollback";

/// What a path was before the install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    /// It existed: a copy is kept.
    Saved {
        /// Size in bytes.
        size: u64,
        /// Permission bits.
        mode: u32,
        /// blake3 of the content (hex).
        blake3: String,
        /// The copy, relative to the generation directory.
        copy: String,
        /// Modification time, nanoseconds since the epoch (restored too).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtime_ns: Option<u64>,
    },
    /// It did not exist: a rollback removes it.
    Absent,
}

/// One recorded path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Target path.
    pub path: String,
    /// Its state before the install.
    #[serde(flatten)]
    pub state: State,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Generation number (increasing).
    pub id: u64,
    /// Creation time, seconds since the epoch (UTC).
    pub created: u64,
    /// Kernel release the install was for.
    pub kver: String,
    /// initoverlayfs-install version that wrote it.
    pub version: String,
    /// The recorded paths.
    pub files: Vec<Record>,
    /// Directories (target paths) that did not exist and would be created
    /// for absent files; a rollback removes them again when empty.
    #[serde(default)]
    pub created_dirs: Vec<String>,
    /// GRUB's counting variables before the install armed its trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grubenv: Option<EnvBefore>,
}

/// The variables of GRUB's environment block an install changes (the
/// trial's `boot_counter` and `boot_success`), as they were before it. The
/// block is not saved as a file: GRUB and grubby change other variables in
/// it (`saved_entry` with every kernel update) that a rollback must keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvBefore {
    /// The block (target path).
    pub file: String,
    /// Each variable's value before (None: unset).
    pub vars: BTreeMap<String, Option<String>>,
}

/// The grubenv variables an install changes.
pub const GRUBENV_VARS: [&str; 2] = [
    initoverlayfs::grubenv::BOOT_COUNTER,
    initoverlayfs::grubenv::BOOT_SUCCESS,
];

/// `installed.json`: what the install put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Target path of the mini initramfs.
    pub mini: String,
    /// Its blake3.
    pub mini_blake3: String,
}

/// A generation on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Host path of its directory entry in the store (renamed and removed
    /// as such; its files are reached through [`Store`], resolved in the target).
    pub dir: PathBuf,
    /// Its name in the store (`12`, `.undo-12`).
    pub name: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its installed.json, once written.
    pub installed: Option<Installed>,
}

impl Generation {
    /// The record of `path`.
    pub fn record(&self, path: &str) -> Option<&Record> {
        self.manifest.files.iter().find(|r| r.path == path)
    }

    /// The target path of `rel` in this generation's directory.
    fn inner(&self, rel: &str) -> String {
        format!("{STORE}/{}/{rel}", self.name)
    }

    /// Host path of the copy of `path` (resolved in `target`), when it was saved.
    ///
    /// Errors: as [`Target::path`].
    pub fn saved_copy(&self, target: &Target, path: &str) -> Result<Option<PathBuf>> {
        match self.record(path).map(|r| &r.state) {
            Some(State::Saved { copy, .. }) => target.path(self.inner(copy)).map(Some),
            Some(State::Absent) | None => Ok(None),
        }
    }
}

/// The store of a target.
#[derive(Debug, Clone)]
pub struct Store {
    /// Host path of the store directory (resolved in the target).
    pub dir: PathBuf,
    /// The target, to resolve the files of generations.
    target: Target,
    /// GRUB's environment block whose trial variables new generations
    /// record ([`Store::with_grubenv`]).
    grubenv: Option<String>,
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Result<T> {
    let text = fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("garbled {}", p.display()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// The store of `target`.
    ///
    /// Errors: the store's path cannot be resolved in the target
    /// ([`Target::path`]: a symlink loop).
    pub fn new(target: &Target) -> Result<Store> {
        Ok(Store {
            dir: target.path(STORE)?,
            target: target.clone(),
            grubenv: None,
        })
    }

    /// New generations also record the trial variables of the GRUB
    /// environment block `grubenv` (target path), which the install changes.
    pub fn with_grubenv(mut self, grubenv: Option<String>) -> Store {
        self.grubenv = grubenv;
        self
    }

    /// The trial variables of the store's grubenv now (or as `carry` has them).
    fn env_before(&self, carry: Option<&Generation>) -> Result<Option<EnvBefore>> {
        if let Some(e) = carry.and_then(|g| g.manifest.grubenv.clone()) {
            return Ok(Some(e));
        }
        let Some(file) = &self.grubenv else {
            return Ok(None);
        };
        let env = initoverlayfs::grubenv::GrubEnv::load(&self.target.path(file)?)?;
        let vars = GRUBENV_VARS
            .iter()
            .map(|k| (k.to_string(), env.get(k).map(str::to_string)))
            .collect();
        Ok(Some(EnvBefore {
            file: file.clone(),
            vars,
        }))
    }

    /// Host path of `rel` (`12/manifest.json`) in the store, resolved in
    /// the target.
    fn host(&self, rel: &str) -> Result<PathBuf> {
        self.target.path(format!("{STORE}/{rel}"))
    }

    /// Removes half-written (`.tmp-*`) and half-deleted (`.trash-*`)
    /// generations left by a killed run.
    pub fn clean(&self) -> Result<()> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-")
                || name.starts_with(".trash-")
                || name.starts_with(".undo-")
            {
                fs::remove_dir_all(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
        Ok(())
    }

    /// Every complete generation, oldest first.
    ///
    /// Errors: the store or a manifest cannot be read.
    pub fn list(&self) -> Result<Vec<Generation>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", self.dir.display())),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", self.dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.parse::<u64>().is_err() {
                continue;
            }
            let manifest: Manifest = read_json(&self.host(&format!("{name}/manifest.json"))?)?;
            let inst = self.host(&format!("{name}/installed.json"))?;
            let installed = if inst.exists() {
                Some(read_json(&inst)?)
            } else {
                None
            };
            out.push(Generation {
                dir: e.path(),
                name,
                manifest,
                installed,
            });
        }
        out.sort_by_key(|g| g.manifest.id);
        Ok(out)
    }

    /// Generation `id`.
    pub fn get(&self, id: u64) -> Result<Generation> {
        self.list()?
            .into_iter()
            .find(|g| g.manifest.id == id)
            .with_context(|| format!("no rollback generation {id} in {}", self.dir.display()))
    }

    /// Records the current state of `paths` as a new generation for `kver`.
    /// Paths recorded in `carry` (an earlier generation of the same kernel
    /// still describing the state before initoverlayfs) take that record,
    /// so the rollback target stays the true original across re-runs.
    ///
    /// Errors: a file cannot be copied or the generation cannot be written
    /// (nothing is left behind: the `.tmp-` directory is removed).
    pub fn create(
        &self,
        target: &Target,
        kver: &str,
        paths: &[String],
        carry: Option<&Generation>,
    ) -> Result<Generation> {
        atomic::create_parents(&self.dir.join("x"))?;
        // Ids are never reused (a printed "--rollback N" keeps its meaning):
        // the highest id ever given is kept in `last-id`.
        let last_file = self.host("last-id")?;
        let last_given = fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let id = self
            .list()?
            .last()
            .map(|g| g.manifest.id)
            .unwrap_or(0)
            .max(last_given)
            + 1;
        atomic::write(&last_file, format!("{id}\n").as_bytes(), 0o644)?;
        let tmp = self.dir.join(format!(".tmp-{id}"));
        let res = self.fill(target, kver, paths, carry, id, &tmp);
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let name = id.to_string();
        let dir = self.dir.join(&name);
        atomic::rename(&tmp, &dir)?;
        let manifest: Manifest = read_json(&dir.join("manifest.json"))?;
        Ok(Generation {
            dir,
            name,
            manifest,
            installed: None,
        })
    }

    /// Records the current state of `paths` (never carried) in a hidden
    /// `.undo-ID` directory that [`Store::list`] does not show: what an
    /// install that carries an earlier generation restores when it fails,
    /// so that a failed re-run leaves the system as it was before the
    /// re-run (not before initoverlayfs). Removed with [`Store::discard`],
    /// or by [`Store::clean`] after a kill.
    pub fn create_undo(
        &self,
        target: &Target,
        kver: &str,
        paths: &[String],
        id: u64,
    ) -> Result<Generation> {
        let tmp = self.dir.join(format!(".tmp-undo-{id}"));
        if let Err(e) = self.fill(target, kver, paths, None, id, &tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let name = format!(".undo-{id}");
        let dir = self.dir.join(&name);
        atomic::rename(&tmp, &dir)?;
        let manifest: Manifest = read_json(&dir.join("manifest.json"))?;
        Ok(Generation {
            dir,
            name,
            manifest,
            installed: None,
        })
    }

    /// Removes a hidden undo record.
    pub fn discard(&self, g: &Generation) -> Result<()> {
        fs::remove_dir_all(&g.dir).with_context(|| format!("cannot remove {}", g.dir.display()))
    }

    /// Records `paths` into the new directory `tmp` of the store (made
    /// afresh, so that what lies below it is ours: host joins are safe there).
    fn fill(
        &self,
        target: &Target,
        kver: &str,
        paths: &[String],
        carry: Option<&Generation>,
        id: u64,
        tmp: &Path,
    ) -> Result<()> {
        // Not following whatever a killed run or someone else left there.
        match fs::remove_dir_all(tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", tmp.display()))
            }
            _ => {}
        }
        let files = tmp.join("files");
        for d in [tmp, files.as_path()] {
            fs::create_dir(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let mut records = Vec::new();
        let mut seen = HashMap::new();
        // The entry families the carried generation describes: a name of
        // such a family it does not record did not exist before
        // initoverlayfs (a trial name, renamed by the boot loader since).
        let carried_families: Vec<(String, String)> = carry
            .map(|g| {
                g.manifest
                    .files
                    .iter()
                    .filter_map(|r| entry_family(&r.path))
                    .collect()
            })
            .unwrap_or_default();
        for (n, path) in paths.iter().enumerate() {
            if seen.insert(path.clone(), ()).is_some() {
                continue;
            }
            let copy_name = format!("files/{n}");
            let dest = tmp.join(&copy_name);
            let carried = carry.and_then(|g| g.record(path).map(|r| (g, r)));
            let family_carried = entry_family(path).is_some_and(|f| carried_families.contains(&f));
            let state = if carried.is_none() && family_carried {
                State::Absent
            } else if let Some((g, r)) = carried {
                match &r.state {
                    State::Saved {
                        size,
                        mode,
                        blake3,
                        copy,
                        mtime_ns,
                    } => {
                        let src = self.host(&format!("{}/{copy}", g.name))?;
                        if fs::hard_link(&src, &dest).is_err() {
                            atomic::copy(&src, &dest)?;
                        }
                        State::Saved {
                            size: *size,
                            mode: *mode,
                            blake3: blake3.clone(),
                            copy: copy_name,
                            mtime_ns: *mtime_ns,
                        }
                    }
                    State::Absent => State::Absent,
                }
            } else {
                let host = target.path(path)?;
                match fs::symlink_metadata(&host) {
                    Ok(m) if m.is_file() => {
                        use std::os::unix::fs::MetadataExt;
                        let size = atomic::copy(&host, &dest)?;
                        State::Saved {
                            size,
                            mode: m.mode() & 0o7777,
                            blake3: atomic::hash_file(&dest)?,
                            copy: copy_name,
                            mtime_ns: m
                                .modified()
                                .ok()
                                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                                .and_then(|d| u64::try_from(d.as_nanos()).ok()),
                        }
                    }
                    Ok(_) => bail!("{path} is not a regular file: refusing to replace it"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::Absent,
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot stat {}", host.display()))
                    }
                }
            };
            records.push(Record {
                path: path.clone(),
                state,
            });
        }
        let mut created_dirs: Vec<String> = carry
            .map(|g| g.manifest.created_dirs.clone())
            .unwrap_or_default();
        for r in records.iter().filter(|r| r.state == State::Absent) {
            let mut dir = std::path::Path::new(&r.path).parent();
            while let Some(d) = dir {
                if d == std::path::Path::new("/") || target.path(d)?.exists() {
                    break;
                }
                let d_str = d.display().to_string();
                if !created_dirs.contains(&d_str) {
                    created_dirs.push(d_str);
                }
                dir = d.parent();
            }
        }
        let manifest = Manifest {
            id,
            created: now(),
            kver: kver.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            files: records,
            created_dirs,
            grubenv: self.env_before(carry)?,
        };
        let text = serde_json::to_vec_pretty(&manifest).context("cannot serialize manifest")?;
        atomic::write(&tmp.join("manifest.json"), &text, 0o644)?;
        atomic::fsync_dir(&files)?;
        atomic::fsync_dir(tmp)
    }

    /// Rewrites every generation's record of target path `from` to `to` (a
    /// file renamed outside an install, e.g. a legacy entry name). A
    /// generation that already records `to` keeps that record and drops the
    /// one of `from`. Each manifest is replaced atomically.
    ///
    /// Errors: the store cannot be listed or a manifest written.
    pub fn rename_records(&self, from: &str, to: &str) -> Result<()> {
        for g in self.list()? {
            if g.record(from).is_none() {
                continue;
            }
            let mut m = g.manifest.clone();
            if g.record(to).is_some() {
                m.files.retain(|r| r.path != from);
            } else {
                for r in m.files.iter_mut().filter(|r| r.path == from) {
                    r.path = to.to_string();
                }
            }
            let text = serde_json::to_vec_pretty(&m).context("cannot serialize manifest")?;
            atomic::write(&g.dir.join("manifest.json"), &text, 0o644)?;
        }
        Ok(())
    }

    /// Writes `installed.json` of `g` atomically.
    pub fn set_installed(&self, g: &mut Generation, inst: Installed) -> Result<()> {
        let text = serde_json::to_vec_pretty(&inst).context("cannot serialize installed.json")?;
        atomic::write(&self.target.path(g.inner("installed.json"))?, &text, 0o644)?;
        g.installed = Some(inst);
        Ok(())
    }

    /// Checks every saved copy of `g` against its manifest (size, blake3).
    ///
    /// Errors: a copy is missing or differs (names the path and both hashes).
    pub fn verify(&self, g: &Generation) -> Result<()> {
        for r in &g.manifest.files {
            if let State::Saved {
                size, blake3, copy, ..
            } = &r.state
            {
                let p = self.target.path(g.inner(copy))?;
                let meta = fs::metadata(&p).with_context(|| {
                    format!(
                        "generation {}: copy of {} is missing ({})",
                        g.manifest.id,
                        r.path,
                        p.display()
                    )
                })?;
                let h = atomic::hash_file(&p)?;
                if meta.len() != *size || h != *blake3 {
                    bail!(
                        "generation {}: the copy of {} is corrupt ({}: {} bytes, blake3 {h}; manifest: {size} bytes, blake3 {blake3}); nothing was changed",
                        g.manifest.id,
                        r.path,
                        p.display(),
                        meta.len()
                    );
                }
            }
        }
        Ok(())
    }

    /// Restores the state recorded in `g`: saved files byte-identically
    /// (first), then removes the files that were absent (BLS entries
    /// before the files they point at). Verifies everything first.
    ///
    /// Errors: verification fails (nothing written), or a write fails.
    pub fn restore(&self, target: &Target, g: &Generation) -> Result<()> {
        self.verify(g)?;
        for r in &g.manifest.files {
            if let State::Saved {
                mode,
                copy,
                mtime_ns,
                ..
            } = &r.state
            {
                let dest = target.path(&r.path)?;
                let src = target.path(g.inner(copy))?;
                let unchanged = dest.is_file()
                    && atomic::hash_file(&dest).ok().as_deref()
                        == match &r.state {
                            State::Saved { blake3, .. } => Some(blake3.as_str()),
                            State::Absent => None,
                        };
                if !unchanged {
                    let mut f = fs::File::open(&src)
                        .with_context(|| format!("cannot open {}", src.display()))?;
                    atomic::write_from(&dest, &mut f, *mode)
                        .with_context(|| format!("cannot restore {}", r.path))?;
                }
                if let Some(ns) = mtime_ns {
                    let t = UNIX_EPOCH + std::time::Duration::from_nanos(*ns);
                    let f = fs::File::options()
                        .write(true)
                        .open(&dest)
                        .with_context(|| format!("cannot open {}", dest.display()))?;
                    f.set_modified(t)
                        .and_then(|()| f.sync_all())
                        .with_context(|| format!("cannot set the mtime of {}", dest.display()))?;
                }
                crate::crash::point("rollback: restored a file");
            }
        }
        let mut absent: Vec<&Record> = g
            .manifest
            .files
            .iter()
            .filter(|r| r.state == State::Absent)
            .collect();
        absent.sort_by_key(|r| !r.path.ends_with(".conf"));
        for r in absent {
            atomic::remove(&target.path(&r.path)?)?;
            crate::crash::point("rollback: removed a file");
        }
        self.reset_entry_families(target, g)?;
        if let Some(e) = &g.manifest.grubenv {
            restore_env(target, e)?;
            crate::crash::point("rollback: grubenv restored");
        }
        // Deepest first; only when empty (someone else may use them now).
        let mut dirs = g.manifest.created_dirs.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        for d in dirs {
            let h = target.path(&d)?;
            if fs::remove_dir(&h).is_ok() {
                if let Some(p) = h.parent() {
                    atomic::fsync_dir(p)?;
                }
            }
        }
        Ok(())
    }

    /// Leaves of every entry family `g` records exactly the names it saved:
    /// other names of the same id (the boot loader renamed our trial entry
    /// `ID+3.conf` to `ID+2-1.conf`, or blessed it to `ID.conf` where the
    /// original was `ID+1-2.conf`) are removed.
    ///
    /// Errors: the entries directory cannot be listed, or a file removed.
    fn reset_entry_families(&self, target: &Target, g: &Generation) -> Result<()> {
        let mut families: Vec<(String, String)> = g
            .manifest
            .files
            .iter()
            .filter_map(|r| entry_family(&r.path))
            .collect();
        families.sort();
        families.dedup();
        for (dir, id) in families {
            let host = target.path(&dir)?;
            let Ok(rd) = fs::read_dir(&host) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".conf") && crate::bls::entry_id(n) == id)
                .collect();
            names.sort();
            for name in names {
                let path = format!("{dir}/{name}");
                let saved = matches!(g.record(&path).map(|r| &r.state), Some(State::Saved { .. }));
                if !saved {
                    atomic::remove(&host.join(&name))?;
                    crate::crash::point("rollback: removed a renamed entry");
                }
            }
        }
        Ok(())
    }

    /// Deletes generation `g` (renamed away first, so it is never half there).
    pub fn delete(&self, g: &Generation) -> Result<()> {
        let trash = self.dir.join(format!(".trash-{}", g.manifest.id));
        atomic::rename(&g.dir, &trash)?;
        fs::remove_dir_all(&trash).with_context(|| format!("cannot remove {}", trash.display()))
    }

    /// Whether `g`'s install is what the target boots now (its mini
    /// initramfs is in place).
    pub fn in_effect(&self, target: &Target, g: &Generation) -> bool {
        g.installed.as_ref().is_some_and(|i| {
            let hash = target.path(&i.mini).and_then(|h| atomic::hash_file(&h));
            hash.ok().as_deref() == Some(i.mini_blake3.as_str())
        })
    }

    /// The newest generation of `kver` that still describes the state before
    /// initoverlayfs: the file at `mini` is either the install's mini
    /// initramfs or still the recorded original (an interrupted install).
    pub fn consistent(
        &self,
        target: &Target,
        kver: &str,
        mini: &str,
    ) -> Result<Option<Generation>> {
        let host = target.path(mini)?;
        let current = if host.is_file() {
            Some(atomic::hash_file(&host)?)
        } else {
            None
        };
        for g in self.list()?.into_iter().rev() {
            if g.manifest.kver != kver {
                continue;
            }
            let Some(r) = g.record(mini) else { continue };
            let original = match &r.state {
                State::Saved { blake3, .. } => Some(blake3.clone()),
                State::Absent => None,
            };
            let installed = g.installed.as_ref().map(|i| i.mini_blake3.clone());
            if current == original || (current.is_some() && current == installed) {
                return Ok(Some(g));
            }
            // The newest generation of this kernel no longer matches: the
            // initramfs was regenerated since, so that is the new original.
            return Ok(None);
        }
        Ok(None)
    }

    /// Deletes the oldest generations beyond `keep`, except those in effect.
    pub fn prune(&self, target: &Target, keep: u32) -> Result<Vec<u64>> {
        let gens = self.list()?;
        let excess = gens.len().saturating_sub(keep as usize);
        let mut pruned = Vec::new();
        for g in gens.iter().take(excess) {
            if self.in_effect(target, g) {
                continue;
            }
            self.delete(g)?;
            pruned.push(g.manifest.id);
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::entry_family;

    #[test]
    fn entry_families() {
        let f = |d: &str, i: &str| Some((d.to_string(), i.to_string()));
        assert_eq!(
            entry_family("/boot/loader/entries/m-6.1+2-1.conf"),
            f("/boot/loader/entries", "m-6.1")
        );
        assert_eq!(
            entry_family("/efi/loader/entries/m-6.1.conf"),
            f("/efi/loader/entries", "m-6.1")
        );
        assert_eq!(entry_family("/boot/initramfs-6.1.img"), None);
        assert_eq!(entry_family("/boot/loader/loader.conf"), None);
    }
}
