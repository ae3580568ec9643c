//! `/etc/initoverlayfs.conf`: reading an existing file (ours, TOML, or
//! upstream's `key value` format), merging it over what detection found,
//! and rendering the result with the shared [`Config`] type.

use anyhow::{bail, Context, Result};
use initoverlayfs::config::{Compression, Config, InitMode, CONFIG_PATH};

use crate::target::Target;

/// Suffix of the backup kept when an upstream-format file is migrated.
pub const UPSTREAM_BACKUP_SUFFIX: &str = ".upstream-backup";

/// The config file as found on the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Existing {
    /// The explicit settings of the file (TOML tables/keys as written, or
    /// the translation of an upstream file).
    pub explicit: toml::Table,
    /// The raw text, when the file exists.
    pub text: Option<String>,
    /// Whether it was in upstream's `key value` format (to be migrated).
    pub upstream: bool,
    /// Upstream settings that could not be migrated (shell-string builders…).
    pub dropped: Vec<String>,
}

/// The target path of the config (`/etc/initoverlayfs.conf`).
pub fn path() -> String {
    format!("/{CONFIG_PATH}")
}

/// Reads the existing config of `target` (missing → empty).
///
/// Errors: unreadable file, invalid TOML/unknown keys of our format, or an
/// unknown key in an upstream file (the message names file, key and line).
pub fn load(target: &Target) -> Result<Existing> {
    let host = target.path(path())?;
    let Some(text) = target.read_opt(&path())? else {
        return Ok(Existing::default());
    };
    match text.parse::<toml::Table>() {
        Ok(table) => {
            // Validate against the contract now (unknown keys, bad values).
            Config::from_toml_str(&text)
                .with_context(|| format!("invalid config {}", host.display()))?;
            Ok(Existing {
                explicit: table,
                text: Some(text),
                upstream: false,
                dropped: Vec::new(),
            })
        }
        Err(toml_err) => match parse_upstream(&text) {
            Ok((explicit, dropped)) => Ok(Existing {
                explicit,
                text: Some(text),
                upstream: true,
                dropped,
            }),
            Err(up_err) => Err(anyhow::anyhow!(
                "neither TOML ({toml_err}) nor upstream `key value` format ({up_err:#})"
            ))
            .with_context(|| format!("invalid config {}", host.display())),
        },
    }
}

fn set(t: &mut toml::Table, section: &str, key: &str, v: toml::Value) {
    t.entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("sections are tables")
        .insert(key.to_string(), v);
}

/// Translates upstream's `key value` config into our TOML tables; returns
/// (explicit settings, human notes about settings not migrated).
///
/// Errors: a line without a value or an unknown key (names the line).
pub fn parse_upstream(text: &str) -> Result<(toml::Table, Vec<String>)> {
    let mut t = toml::Table::new();
    let mut dropped = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = idx + 1;
        let (key, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .with_context(|| format!("line {n}: {raw:?} has no value"))?;
        let s = |v: &str| toml::Value::String(v.to_string());
        match key {
            "bootfs" => set(&mut t, "boot", "bootfs", s(value)),
            "bootfs_hint" => set(&mut t, "boot", "bootfs_hint", s(value)),
            "bootfstype" => set(&mut t, "boot", "bootfstype", s(value)),
            "fs" => {
                let p = value
                    .replace("$(uname -r)", "{kver}")
                    .replace("${kver}", "{kver}");
                let p = p
                    .strip_prefix("/boot/")
                    .map(|r| format!("/{r}"))
                    .unwrap_or(p);
                set(&mut t, "image", "path", s(&p))
            }
            "fstype" => set(&mut t, "image", "fstype", s(value)),
            "erofs_compression" => {
                let v = value.trim_start_matches("-z");
                let c: Compression = v
                    .parse()
                    .with_context(|| format!("line {n}: erofs_compression {value:?}"))?;
                set(&mut t, "image", "compression", s(&c.to_string()))
            }
            "initoverlayfs_builder" | "initrd_builder" | "initoverlayfs_init" => dropped.push(
                format!("{key} {value:?} (shell command; the [build] defaults are used instead)"),
            ),
            _ => bail!("line {n}: unknown upstream key {key:?}"),
        }
    }
    Ok((t, dropped))
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The config to write: `detected` with the existing file's explicit
/// settings over it, and this run's command-line choices over both
/// (`cli_drivers`: the resolved `--drivers` list, empty for `all`).
///
/// Errors: the merged result does not fit the contract.
pub fn merged(
    detected: &Config,
    existing: &Existing,
    cli_compression: Option<Compression>,
    cli_mode: Option<InitMode>,
    cli_drivers: Option<&[String]>,
) -> Result<Config> {
    let mut table = toml::Table::try_from(detected).context("cannot serialize config")?;
    merge(&mut table, &existing.explicit);
    let mut cfg: Config = table
        .try_into()
        .context("existing config settings do not fit the config format")?;
    if let Some(c) = cli_compression {
        cfg.image.compression = c;
    }
    if let Some(m) = cli_mode {
        cfg.init.mode = m;
    }
    if let Some(d) = cli_drivers {
        cfg.boot.drivers = d.to_vec();
    }
    Ok(cfg)
}

/// Whether the existing file explicitly sets `[section] key`.
pub fn is_explicit(existing: &Existing, section: &str, key: &str) -> bool {
    existing
        .explicit
        .get(section)
        .and_then(|s| s.as_table())
        .is_some_and(|s| s.contains_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use initoverlayfs::config::Algorithm;

    #[test]
    fn migrates_upstream_format() {
        let text = include_str!("../tests/fixtures/conf/upstream.conf");
        let (t, dropped) = parse_upstream(text).unwrap();
        let ex = Existing {
            explicit: t,
            text: Some(text.into()),
            upstream: true,
            dropped,
        };
        let cfg = merged(&Config::default(), &ex, None, None, None).unwrap();
        assert_eq!(
            cfg.boot.bootfs.as_deref(),
            Some("UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff")
        );
        assert_eq!(cfg.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert_eq!(cfg.boot.bootfstype.as_deref(), Some("ext4"));
        assert_eq!(cfg.image.path, "/initoverlayfs-{kver}.img");
        assert_eq!(cfg.image.compression.to_string(), "lz4hc,12");
        assert_eq!(ex.dropped.len(), 2);
        assert!(parse_upstream("bootfs\n").is_err());
        let err = format!("{:#}", parse_upstream("# x\nfoo bar\n").unwrap_err());
        assert!(err.contains("line 2") && err.contains("foo"), "{err}");
    }

    #[test]
    fn explicit_settings_win_cli_wins_over_all() {
        let mut det = Config::default();
        det.boot.bootfs = Some("UUID=detected".into());
        det.image.compression = "lz4hc".parse().unwrap();
        let explicit: toml::Table = "[image]\ncompression = \"lz4\"\n[rollback]\nkeep = 5\n"
            .parse()
            .unwrap();
        let ex = Existing {
            explicit,
            ..Default::default()
        };
        let c = merged(&det, &ex, None, None, None).unwrap();
        assert_eq!(c.image.compression.algorithm, Algorithm::Lz4);
        assert_eq!(c.rollback.keep, 5);
        assert_eq!(c.boot.bootfs.as_deref(), Some("UUID=detected"));
        assert!(is_explicit(&ex, "image", "compression"));
        assert!(!is_explicit(&ex, "boot", "bootfs"));
        let c = merged(&det, &ex, "none".parse().ok(), Some(InitMode::Pid1), None).unwrap();
        assert_eq!(c.image.compression.algorithm, Algorithm::None);
        assert_eq!(c.init.mode, InitMode::Pid1);
    }

    #[test]
    fn drivers_persist_unless_the_command_line_says_otherwise() {
        let ex = Existing {
            explicit: "[boot]\ndrivers = [\"virtio_blk\"]\n".parse().unwrap(),
            ..Default::default()
        };
        let det = Config::default();
        assert_eq!(
            merged(&det, &ex, None, None, None).unwrap().boot.drivers,
            ["virtio_blk"]
        );
        assert!(is_explicit(&ex, "boot", "drivers"));
        let named = ["ahci".to_string(), "sd_mod".to_string()];
        let c = merged(&det, &ex, None, None, Some(&named)).unwrap();
        assert_eq!(c.boot.drivers, named);
        let c = merged(&det, &ex, None, None, Some(&[])).unwrap();
        assert!(c.boot.drivers.is_empty());
        assert!(!c.to_toml_string().unwrap().contains("drivers"));
    }
}
