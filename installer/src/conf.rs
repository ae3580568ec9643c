//! `/etc/initoverlayfs.conf`: reading an existing file (ours, TOML, or
//! upstream's `key value` format), merging it over what detection found,
//! and rendering the result with the shared [`Config`] type.
//!
//! # Upstream files
//!
//! What containers/initoverlayfs has written there, from
//! `bin/initoverlayfs-install` of each release (0.6 to the current one),
//! and how its reader (`conf_read`/`conf_set_pick` in `config-parser.h`)
//! takes it:
//!
//! - 0.6–0.8: one line in kernel command line form,
//!   `fs=[/]initoverlayfs-KVER.img fstype=erofs|ext4`.
//! - 0.9–0.91: `bootfs SPEC`, `bootfstype ext4`,
//!   `fs /initoverlayfs-KVER.img`, `fstype erofs|ext4`, an empty line.
//! - 0.92–0.94: `bootfs SPEC`, `bootfstype ext4`, an empty line.
//! - 0.95 and later: `bootfs SPEC`, `bootfs_hint DEV` (0.995+),
//!   `bootfstype ext4`, `initoverlayfs_builder CMD`, `initrd_builder CMD`,
//!   `udev_trigger CMD` (0.95–0.99), `udev_trigger_generic CMD`
//!   (0.98–0.99), `initoverlayfs_init true` (0.995+, with
//!   `--initoverlayfs-init`), `erofs_compression -zlz4hc,11` (0.98+, not
//!   on RHEL ≤ 9). Until 0.95 every run rewrote the file; since 0.98 it is
//!   written only when missing or blank.
//! - `SPEC` is the first field of the `/etc/fstab` lines matching
//!   `/boot.*ext4`, and `DEV` what `blkid -t SPEC` prints: nothing (the
//!   line is `bootfs ` with a trailing space) when /boot is not ext4 (xfs,
//!   btrfs) or there is no such fstab line (image builds), and further
//!   values on lines of their own when several match. `bootfstype ext4` is
//!   written whatever /boot is. `KVER` is the kernel of that run.
//! - The reader splits a line at the first whitespace after the key (the
//!   value may be empty, the key may stand alone), ignores other lines and
//!   lets the last of a repeated key win; an empty `bootfs` means "do not
//!   mount /boot".
//!
//! Migration: an empty value counts as unset (detection decides); settings
//! that cannot carry over (shell command builders, an image type other
//! than erofs, a `bootfstype` without a `bootfs`) are left out. Each such
//! case is a warning for the user; unknown keys are refused.

use anyhow::{bail, Context, Result};
use initoverlayfs::config::{Compression, Config, Image, InitMode, CONFIG_PATH, KVER_PLACEHOLDER};

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
    /// One message per upstream setting that was empty or is not migrated
    /// (shell-string builders…), naming its line, for the user.
    pub warnings: Vec<String>,
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
                warnings: Vec::new(),
            })
        }
        Err(toml_err) => match parse_upstream(&text) {
            Ok((explicit, warnings)) => Ok(Existing {
                explicit,
                text: Some(text),
                upstream: true,
                warnings,
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

/// Every key upstream's installer has written or its reader knows.
const UPSTREAM_KEYS: [&str; 12] = [
    "bootfs",
    "bootfs_hint",
    "bootfstype",
    "fs",
    "fstype",
    "erofs_compression",
    "initoverlayfs_builder",
    "initrd_builder",
    "initoverlayfs_init",
    "udev_trigger",
    "udev_trigger_generic",
    "scsi.addr",
];

/// Where the image goes, from upstream's `fs`: `$(uname -r)`/`${kver}`
/// become `{kver}`, a `/boot/` prefix goes (our path is inside the boot
/// filesystem). Upstream 0.6–0.9 wrote the kernel of the run itself
/// (`/initoverlayfs-6.5.5-200.fc38.x86_64.img`), which would give every
/// kernel the same image: that form becomes the per-kernel default, with a
/// note.
fn image_path(value: &str) -> (String, Option<String>) {
    let p = value
        .replace("$(uname -r)", KVER_PLACEHOLDER)
        .replace("${kver}", KVER_PLACEHOLDER)
        .replace("$kver", KVER_PLACEHOLDER);
    let p = match p.strip_prefix("/boot/") {
        Some(r) => format!("/{r}"),
        None if p.starts_with('/') => p,
        None => format!("/{p}"),
    };
    let fixed_kver = p
        .strip_prefix("/initoverlayfs-")
        .and_then(|r| r.strip_suffix(".img"))
        .is_some_and(|k| k.starts_with(|c: char| c.is_ascii_digit()) && !k.contains('/'));
    if fixed_kver {
        let ours = Image::default().path;
        let note = format!(
            "{value:?} names the kernel of upstream's last run; each kernel gets its own image at {ours:?}"
        );
        return (ours, Some(note));
    }
    (p, None)
}

/// Splits an upstream line the way its reader does: the key up to the
/// first whitespace, the rest (trimmed, maybe empty) as the value.
fn key_value(line: &str) -> (&str, &str) {
    match line.split_once(char::is_whitespace) {
        Some((k, v)) => (k, v.trim()),
        None => (line, ""),
    }
}

/// Translates upstream's config (all forms it has written, see the module
/// docs) into our TOML tables; returns (explicit settings, one warning per
/// setting that was empty or is not migrated).
///
/// Errors: an unknown key (names the line).
pub fn parse_upstream(text: &str) -> Result<(toml::Table, Vec<String>)> {
    let mut t = toml::Table::new();
    let mut warnings = Vec::new();
    // The key of the previous line when it was bootfs/bootfs_hint: values
    // of several fstab matches follow on lines of their own.
    let mut continues: Option<&str> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = idx + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = key_value(line);
        let pairs: Vec<(&str, &str)> = match key.split_once('=') {
            // 0.6–0.8: `fs=… fstype=…` on one line.
            Some((k, _)) if UPSTREAM_KEYS.contains(&k) => line
                .split_whitespace()
                .map(|w| w.split_once('=').unwrap_or((w, "")))
                .collect(),
            _ if UPSTREAM_KEYS.contains(&key) => vec![(key, value)],
            _ if value.is_empty() && continues.is_some() => {
                let after = continues.unwrap_or_default();
                warnings.push(format!(
                    "line {n}: {line:?} is a further value of `{after}` (upstream found several); \
                     ignored, as upstream does"
                ));
                continue;
            }
            _ => bail!("line {n}: unknown upstream key {key:?}"),
        };
        continues = None;
        for (key, value) in pairs {
            upstream_setting(&mut t, &mut warnings, n, key, value)?;
            if matches!(key, "bootfs" | "bootfs_hint") {
                continues = Some(key);
            }
        }
    }
    // Upstream writes `bootfstype ext4` whatever /boot is; without a bootfs
    // (its fstab search found no ext4 /boot) it says nothing about /boot.
    let boot = t.get_mut("boot").and_then(|b| b.as_table_mut());
    if let Some(boot) = boot.filter(|b| !b.contains_key("bootfs")) {
        for key in ["bootfstype", "bootfs_hint"] {
            if let Some(v) = boot.remove(key) {
                warnings.push(format!(
                    "{key} {v} is not migrated: without a bootfs it does not describe this /boot \
                     (upstream writes bootfstype ext4 for any /boot); the detected /boot is used"
                ));
            }
        }
    }
    Ok((t, warnings))
}

/// Applies one upstream `key value` (line `n`) to `t`, or explains in
/// `warnings` why it is not migrated.
fn upstream_setting(
    t: &mut toml::Table,
    warnings: &mut Vec<String>,
    n: usize,
    key: &str,
    value: &str,
) -> Result<()> {
    let s = |v: &str| toml::Value::String(v.to_string());
    let (section, field) = match key {
        "bootfs" | "bootfs_hint" | "bootfstype" => ("boot", key),
        "fs" => ("image", "path"),
        "fstype" => ("image", "fstype"),
        "erofs_compression" => ("image", "compression"),
        "initoverlayfs_init" => ("init", "mode"),
        _ => ("", key),
    };
    if value.is_empty() {
        // As upstream's reader: the last line wins, and empty means unset.
        if let Some(sec) = t.get_mut(section).and_then(|v| v.as_table_mut()) {
            sec.remove(field);
        }
        warnings.push(format!(
            "line {n}: `{key}` has no value (upstream writes it so when it detects nothing, \
             e.g. an xfs /boot or an image build); treated as unset"
        ));
        return Ok(());
    }
    match key {
        "bootfs" | "bootfs_hint" | "bootfstype" => set(t, section, field, s(value)),
        "fs" => {
            let (path, note) = image_path(value);
            if let Some(note) = note {
                warnings.push(format!("line {n}: fs {note}"));
            }
            set(t, section, field, s(&path))
        }
        "fstype" if value == "erofs" => set(t, section, field, s(value)),
        "fstype" => warnings.push(format!(
            "line {n}: fstype {value:?} is not migrated: the image is rebuilt as erofs"
        )),
        "erofs_compression" => match value.trim_start_matches("-z").parse::<Compression>() {
            Ok(c) => set(t, section, field, s(&c.to_string())),
            Err(e) => warnings.push(format!(
                "line {n}: erofs_compression {value:?} is not migrated ({e:#}); \
                 the detected compression is used"
            )),
        },
        "initoverlayfs_init" => match value {
            "true" => set(t, section, field, s(InitMode::Pid1.as_str())),
            "false" => set(t, section, field, s(InitMode::Systemd.as_str())),
            _ => warnings.push(format!(
                "line {n}: initoverlayfs_init {value:?} is neither true nor false; not migrated"
            )),
        },
        "initoverlayfs_builder" | "initrd_builder" | "udev_trigger" | "udev_trigger_generic" => {
            warnings.push(format!(
                "line {n}: {key} {value:?} is a shell command and is not migrated \
                 (the [build] defaults are used; initoverlayfs triggers udev itself)"
            ))
        }
        _ => warnings.push(format!(
            "line {n}: {key} {value:?} has no equivalent here; not migrated"
        )),
    }
    Ok(())
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

    /// The config `merged` makes of an upstream text over `Config::default()`,
    /// and the warnings.
    fn migrate(text: &str) -> (Config, Vec<String>) {
        let (t, warnings) = parse_upstream(text).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        let ex = Existing {
            explicit: t,
            text: Some(text.into()),
            upstream: true,
            warnings,
        };
        let cfg = merged(&Config::default(), &ex, None, None, None).unwrap();
        (cfg, ex.warnings)
    }

    fn fixture(name: &str) -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conf/upstream/");
        std::fs::read_to_string(format!("{dir}{name}")).unwrap()
    }

    const UUID: &str = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff";

    #[test]
    fn migrates_upstream_format() {
        let (cfg, warnings) = migrate(include_str!("../tests/fixtures/conf/upstream.conf"));
        assert_eq!(
            cfg.boot.bootfs.as_deref(),
            Some("UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff")
        );
        assert_eq!(cfg.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert_eq!(cfg.boot.bootfstype.as_deref(), Some("ext4"));
        assert_eq!(cfg.image.path, "/initoverlayfs-{kver}.img");
        assert_eq!(cfg.image.compression.to_string(), "lz4hc,12");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let err = format!("{:#}", parse_upstream("# x\nfoo bar\n").unwrap_err());
        assert!(err.contains("line 2") && err.contains("foo"), "{err}");
    }

    #[test]
    fn nothing_detected_upstream_means_unset_here() {
        // 0.995+ on an xfs /boot, or in an image build: `bootfs ` and
        // `bootfs_hint ` are empty, `bootfstype ext4` is written anyway.
        let (cfg, warnings) = migrate(&fixture("v0.995-nothing-found.conf"));
        let d = Config::default();
        assert_eq!(cfg.boot, d.boot, "detection decides /boot");
        assert_eq!(cfg.image, d.image);
        let all = warnings.join("\n");
        for needle in [
            "line 1: `bootfs` has no value",
            "line 2: `bootfs_hint` has no value",
            "bootfstype \"ext4\" is not migrated",
            "line 4: initoverlayfs_builder",
            "line 5: initrd_builder",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
        assert_eq!(warnings.len(), 5, "{all}");
    }

    #[test]
    fn every_released_upstream_form_migrates() {
        // 0.6–0.8: kernel command line form, the run's own kernel in `fs`.
        let (cfg, w) = migrate(&fixture("v0.8.conf"));
        assert_eq!(cfg.image.path, "/initoverlayfs-{kver}.img");
        assert_eq!(cfg.image.fstype, "erofs");
        assert!(w.len() == 1 && w[0].contains("6.5.5-200.fc38"), "{w:?}");
        // 0.9 with an ext4 image (no mkfs.erofs then): we build erofs.
        let (cfg, w) = migrate(&fixture("v0.9-ext4-image.conf"));
        assert_eq!(cfg.boot.bootfs.as_deref(), Some(UUID));
        assert_eq!(cfg.boot.bootfstype.as_deref(), Some("ext4"));
        assert_eq!(cfg.image.fstype, "erofs");
        assert_eq!(cfg.image.path, "/initoverlayfs-{kver}.img");
        assert!(w.iter().any(|w| w.contains("fstype \"ext4\"")), "{w:?}");
        // 0.99: the udev trigger commands are shell strings too.
        let (cfg, w) = migrate(&fixture("v0.99.conf"));
        assert_eq!(cfg.boot.bootfs.as_deref(), Some(UUID));
        assert_eq!(cfg.image.compression.to_string(), "lz4hc,11");
        let shell: Vec<&String> = w.iter().filter(|w| w.contains("shell command")).collect();
        assert_eq!(shell.len(), 4, "{w:?}");
        assert!(w.iter().any(|w| w.contains("line 6: udev_trigger_generic")));
        // Current, with --initoverlayfs-init: initoverlayfs is pid 1.
        let (cfg, w) = migrate(&fixture("head-pid1.conf"));
        assert_eq!(cfg.init.mode, InitMode::Pid1);
        assert_eq!(cfg.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert_eq!(w.len(), 2, "{w:?}");
        // Two fstab lines matched: the extra values stand on their own
        // lines; upstream's reader ignores them and so do we.
        let (cfg, w) = migrate(&fixture("head-two-fstab-matches.conf"));
        assert_eq!(cfg.boot.bootfs.as_deref(), Some(UUID));
        assert_eq!(cfg.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert!(w[0].contains("line 2: \"LABEL=oldboot\" is a further value of `bootfs`"));
        assert!(w[1].contains("line 4: \"/dev/vdb2\" is a further value of `bootfs_hint`"));
        // Such a line anywhere else is still an unknown key.
        assert!(parse_upstream("bootfstype ext4\nLABEL=x\n").is_err());
    }

    #[test]
    fn empty_values_in_every_form() {
        for (text, what) in [
            ("bootfs\n", "no space"),
            ("bootfs \n", "trailing space"),
            ("bootfs \t \r\n", "trailing whitespace"),
            ("bootfs UUID=x\nbootfs \n", "a later empty line wins"),
        ] {
            let (t, w) = parse_upstream(text).unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert!(
                t.get("boot").and_then(|b| b.get("bootfs")).is_none(),
                "{what}"
            );
            assert!(
                w.iter().any(|w| w.contains("`bootfs` has no value")),
                "{what}: {w:?}"
            );
        }
        // Each key empty on its own: unset, one warning, no error.
        for key in UPSTREAM_KEYS {
            let (cfg, w) = migrate(&format!("{key} \n"));
            assert_eq!(cfg, Config::default(), "{key}");
            assert_eq!(w.len(), 1, "{key}: {w:?}");
        }
        // Trailing whitespace after a value is not part of it.
        let (cfg, w) = migrate("bootfs UUID=x  \t\nbootfstype ext4 \r\n");
        assert_eq!(cfg.boot.bootfs.as_deref(), Some("UUID=x"));
        assert_eq!(cfg.boot.bootfstype.as_deref(), Some("ext4"));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn upstream_values_we_cannot_use_are_warned_about() {
        let (cfg, w) =
            migrate("erofs_compression -zlz4hc -Eall-fragments\ninitoverlayfs_init maybe\n");
        assert_eq!(cfg, Config::default());
        assert!(
            w[0].contains("erofs_compression") && w[0].contains("not migrated"),
            "{w:?}"
        );
        assert!(w[1].contains("neither true nor false"), "{w:?}");
        let (cfg, _) = migrate("fs /boot/initoverlayfs-$(uname -r).img\n");
        assert_eq!(cfg.image.path, "/initoverlayfs-{kver}.img");
        let (cfg, w) = migrate("fs /images/custom.img\n");
        assert_eq!(cfg.image.path, "/images/custom.img");
        assert!(w.is_empty());
        let (cfg, _) = migrate("initoverlayfs_init false\n");
        assert_eq!(cfg.init.mode, InitMode::Systemd);
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
