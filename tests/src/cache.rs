//! A content-keyed cache of slow artefacts (root-tree tarballs, pristine disk
//! images): each entry is one file named `NAME-KEY.EXT`, created atomically
//! (built under a temporary name, then renamed), so an interrupted build
//! never leaves a half entry behind.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Bumped whenever the harness changes how it builds cached artefacts, so
/// stale entries are not reused.
pub const HARNESS_VERSION: &str = "vm-harness-1";

/// A cache key: the first 16 hex digits of the blake3 hash of
/// [`HARNESS_VERSION`] and `parts` (each part length-prefixed, so
/// `["ab","c"]` and `["a","bc"]` differ).
pub fn key(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in std::iter::once(HARNESS_VERSION).chain(parts.iter().copied()) {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created on first use).
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    /// The path of entry `name` with `key` and extension `ext`.
    pub fn path(&self, name: &str, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{name}-{key}.{ext}"))
    }

    /// Returns the entry, building it first if it is absent: `build` gets a
    /// temporary path in the cache directory to write, which is renamed into
    /// place once `build` succeeds (and removed if it fails). Returns the
    /// entry's path and whether it was built now (`false` = cache hit).
    ///
    /// Errors: the cache directory cannot be created, `build` fails (its
    /// error, with context naming the entry), or the rename fails.
    pub fn get_or_build(
        &self,
        name: &str,
        key: &str,
        ext: &str,
        build: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<(PathBuf, bool)> {
        let path = self.path(name, key, ext);
        if path.exists() {
            return Ok((path, false));
        }
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create cache dir {}", self.dir.display()))?;
        let tmp = self
            .dir
            .join(format!(".{name}-{key}.{ext}.tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let built =
            build(&tmp).with_context(|| format!("cannot build cache entry {}", path.display()));
        if let Err(e) = built {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        self.prune(name, ext, &path);
        Ok((path, true))
    }
}

impl Cache {
    /// Removes the other (stale) entries `NAME-*.EXT` besides `keep`.
    fn prune(&self, name: &str, ext: &str, keep: &Path) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let (prefix, suffix) = (format!("{name}-"), format!(".{ext}"));
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let stale_key = n
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(&suffix))
                .is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()));
            if stale_key && e.path() != keep {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_separates_parts() {
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&[]).len(), 16);
    }

    #[test]
    fn builds_once_then_hits() {
        let dir = std::env::temp_dir().join(format!("iofs-cache-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let c = Cache::new(&dir);
        let (p, built) = c
            .get_or_build("x", "k", "txt", |t| Ok(fs::write(t, "hi")?))
            .unwrap();
        assert!(built);
        assert_eq!(fs::read_to_string(&p).unwrap(), "hi");
        let (p2, built2) = c
            .get_or_build("x", "k", "txt", |_| panic!("must not rebuild"))
            .unwrap();
        assert_eq!(p, p2);
        assert!(!built2);
        let err = c
            .get_or_build("y", "k", "txt", |t| {
                fs::write(t, "half")?;
                anyhow::bail!("boom")
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("boom"));
        let stale = c.path("x", "0123456789abcdef", "txt");
        fs::write(&stale, "old").unwrap();
        c.get_or_build("x", "fedcba9876543210", "txt", |t| Ok(fs::write(t, "new")?))
            .unwrap();
        assert!(!stale.exists(), "stale entry kept");
        assert!(p.exists(), "an entry without a hex key is not pruned");
        assert!(!c.path("y", "k", "txt").exists());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "temp file left behind"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
