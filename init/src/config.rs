//! The configuration contract: `/etc/initoverlayfs.conf` (TOML).
//!
//! `initoverlayfs-install` writes it, the dracut module copies it into the
//! mini initramfs, and the boot-time `initoverlayfs` reads it. These types are
//! the only definition of that file; everything else uses them.
//!
//! ```toml
//! [boot]
//! bootfs = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff"
//! bootfs_hint = "/dev/vda2"
//! bootfstype = "btrfs"
//! options = "subvol=/@boot"
//! drivers = ["virtio_blk"]
//! timeout = 30
//! failure = "fallback"
//! fallback_entry = "4c7f2d1e9a8b4f6c8d0e1f2a3b4c5d6e-without_initoverlayfs.{kver}"
//! grubenv = "/grub2/grubenv"
//! tries = 3
//! [image]
//! path = "/initoverlayfs-{kver}.img"
//! fstype = "erofs"
//! compression = "lz4hc"
//! [init]
//! mode = "systemd"
//! [build]
//! initoverlayfs = ["dracut", "--no-hostonly", "--no-compress", "--no-early-microcode", "-o", "initoverlayfs", "--kver", "{kver}", "-f", "{output}"]
//! initrd = ["dracut", "--no-hostonly", "--modules", "initoverlayfs", "--kver", "{kver}", "-f", "{output}"]
//! [rollback]
//! keep = 3
//! ```
//!
//! Unknown keys are an error naming the key and its line; a missing file or
//! section gives the defaults below.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where the config lives, relative to the root (`/` at boot, or a prefix).
pub const CONFIG_PATH: &str = "etc/initoverlayfs.conf";

/// Placeholder for the kernel release (`uname -r`) in paths and argv arrays.
pub const KVER_PLACEHOLDER: &str = "{kver}";
/// Placeholder for the output file in `[build]` argv arrays.
pub const OUTPUT_PLACEHOLDER: &str = "{output}";

/// The whole `/etc/initoverlayfs.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[boot]`: where the boot filesystem is.
    pub boot: Boot,
    /// `[image]`: the erofs image inside it.
    pub image: Image,
    /// `[init]`: how the mini initramfs runs us.
    pub init: Init,
    /// `[build]`: the commands that build the two artefacts.
    pub build: Build,
    /// `[rollback]`: how many install generations the installer keeps.
    pub rollback: Rollback,
}

/// `[boot]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Boot {
    /// The boot filesystem: `UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=` or a
    /// `/dev` path (see [`crate::spec::DeviceSpec`]). Required at boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootfs: Option<String>,
    /// A device path tried before resolving `bootfs` (a path the target
    /// machine has, e.g. `/dev/vda2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootfs_hint: Option<String>,
    /// The boot filesystem type (`ext4`, `xfs`, `vfat`, `btrfs`, …); `None`
    /// lets the kernel try the types it knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootfstype: Option<String>,
    /// Mount data (mount(2)'s `data`, comma-separated, as in fstab's fourth
    /// field) passed when mounting the boot filesystem, so that the mount
    /// shows what the running system's `/boot` shows: `subvol=/@boot` for a
    /// btrfs `/boot` on a subvolume. `None`: no data; a btrfs filesystem then
    /// shows its default subvolume. The installer fills it from the options
    /// that change what the mount shows (it lists which, and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Kernel modules the boot filesystem's disk needs (controller, bus and
    /// disk drivers, e.g. `["virtio_blk"]` or `["ahci", "sd_mod"]`): the
    /// dracut module puts only these into the mini initramfs, and
    /// initoverlayfs loads them before looking for the bootfs. Empty (the
    /// default): every local storage driver goes in (or, in a `--hostonly`
    /// build, those the host has loaded) and coldplug picks. Modules built
    /// into the kernel may be named; they are skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<String>,
    /// Seconds to wait for the boot filesystem's device to appear.
    pub timeout: u64,
    /// What the boot-time program does when the mini phase fails (after
    /// the failure line and the failure record, see [`crate::trial`]):
    /// `fallback` points the boot loader at [`Boot::fallback_entry`] and
    /// reboots; `shell` stays for a person (emergency shell).
    pub failure: FailurePolicy,
    /// The id of the fallback entry (the original initramfs) the boot-time
    /// program makes the boot loader boot next after a failure: the entry
    /// file name without `.conf`, `{kver}` standing for the kernel release
    /// (`TOKEN-without_initoverlayfs.{kver}`). Written by the installer for
    /// the entries it writes; `None`: no fallback entry (a first build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_entry: Option<String>,
    /// GRUB's environment block, as a path inside the boot filesystem
    /// (`/grub2/grubenv`), when GRUB boots the entries: the boot-time
    /// program sets `next_entry` there after a failure, and the trial is
    /// counted with `boot_counter`/`boot_success`. Written by the installer;
    /// `None`: not GRUB, or its grubenv is not on the boot filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grubenv: Option<String>,
    /// How many boots a new install gets to reach `boot-complete.target`
    /// before the boot loader gives up on it (the `+N` of the counted entry
    /// `ID+N.conf`, or GRUB's `boot_counter`); `0` turns boot counting off.
    /// `None`: `/etc/kernel/tries` when it exists, else [`DEFAULT_TRIES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tries: Option<u32>,
}

/// Boot counting tries when neither `[boot] tries` nor `/etc/kernel/tries` says.
pub const DEFAULT_TRIES: u32 = 3;

impl Default for Boot {
    fn default() -> Self {
        Boot {
            bootfs: None,
            bootfs_hint: None,
            bootfstype: None,
            options: None,
            drivers: Vec::new(),
            timeout: 30,
            failure: FailurePolicy::default(),
            fallback_entry: None,
            grubenv: None,
            tries: None,
        }
    }
}

/// `[boot] failure`: what a failed mini phase ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Point the boot loader at the fallback entry and reboot after a few
    /// seconds: no person needed.
    #[default]
    Fallback,
    /// Stay for a person: an emergency shell (pid1 mode) or systemd's
    /// `emergency.target` (systemd mode), as for debugging.
    Shell,
}

impl FailurePolicy {
    /// The config/command line spelling: `fallback` or `shell`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fallback => "fallback",
            FailurePolicy::Shell => "shell",
        }
    }
}

impl FromStr for FailurePolicy {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fallback" => Ok(FailurePolicy::Fallback),
            "shell" => Ok(FailurePolicy::Shell),
            _ => bail!("unknown failure policy {s:?} (expected fallback or shell)"),
        }
    }
}

/// `[image]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Image {
    /// Path of the image inside the boot filesystem; `{kver}` is replaced by
    /// the kernel release.
    pub path: String,
    /// Filesystem type of the image (`erofs`).
    pub fstype: String,
    /// The compression the installer chose for the image.
    pub compression: Compression,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            path: format!("/initoverlayfs-{KVER_PLACEHOLDER}.img"),
            fstype: "erofs".into(),
            compression: Compression::default(),
        }
    }
}

impl Image {
    /// The image path inside the boot filesystem for `kver`, without the
    /// leading `/` (so it can be joined under a mount point).
    pub fn path_for(&self, kver: &str) -> String {
        self.path
            .replace(KVER_PLACEHOLDER, kver)
            .trim_start_matches('/')
            .to_string()
    }
}

/// `[init]` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Init {
    /// How the mini initramfs runs `initoverlayfs`.
    pub mode: InitMode,
}

/// How the mini initramfs runs `initoverlayfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitMode {
    /// A systemd mini initramfs: `pre-initoverlayfs.service` runs
    /// `initoverlayfs --systemd`, then systemd switches root.
    #[default]
    Systemd,
    /// `initoverlayfs` is `/init` (pid 1) and switches root itself.
    Pid1,
}

impl InitMode {
    /// The config/CLI spelling: `systemd` or `pid1`.
    pub fn as_str(self) -> &'static str {
        match self {
            InitMode::Systemd => "systemd",
            InitMode::Pid1 => "pid1",
        }
    }
}

impl fmt::Display for InitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InitMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "systemd" => Ok(InitMode::Systemd),
            "pid1" => Ok(InitMode::Pid1),
            _ => bail!("unknown init mode {s:?} (expected systemd or pid1)"),
        }
    }
}

/// `[build]` section: argv arrays; `{kver}` and `{output}` are substituted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Build {
    /// Builds the full initrd content (uncompressed) that becomes the erofs image.
    pub initoverlayfs: Vec<String>,
    /// Builds the mini initramfs that the boot loader loads.
    pub initrd: Vec<String>,
}

impl Default for Build {
    fn default() -> Self {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Build {
            // Our module is omitted (`-o`): the full image must not loop back into us.
            // CPU microcode loads only from the boot loader's initrd (the mini one,
            // which keeps dracut's early-microcode default): in the image it is dead weight.
            initoverlayfs: argv(&[
                "dracut",
                "--no-hostonly",
                "--no-compress",
                "--no-early-microcode",
                "-o",
                "initoverlayfs",
                "--kver",
                KVER_PLACEHOLDER,
                "-f",
                OUTPUT_PLACEHOLDER,
            ]),
            initrd: argv(&[
                "dracut",
                "--no-hostonly",
                "--modules",
                "initoverlayfs",
                "--kver",
                KVER_PLACEHOLDER,
                "-f",
                OUTPUT_PLACEHOLDER,
            ]),
        }
    }
}

impl Build {
    /// Substitutes `{kver}` and `{output}` in `argv`.
    pub fn substitute(argv: &[String], kver: &str, output: &str) -> Vec<String> {
        argv.iter()
            .map(|a| {
                a.replace(KVER_PLACEHOLDER, kver)
                    .replace(OUTPUT_PLACEHOLDER, output)
            })
            .collect()
    }
}

/// `[rollback]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rollback {
    /// How many install generations to keep; older ones are pruned.
    pub keep: u32,
}

impl Default for Rollback {
    fn default() -> Self {
        Rollback { keep: 3 }
    }
}

/// erofs compression algorithm, as `mkfs.erofs -z` and the kernel name them.
///
/// Kernel support: lz4/lz4hc need `CONFIG_EROFS_FS_ZIP`, lzma
/// `CONFIG_EROFS_FS_ZIP_LZMA`, deflate `CONFIG_EROFS_FS_ZIP_DEFLATE` (6.6+),
/// zstd `CONFIG_EROFS_FS_ZIP_ZSTD` (6.10+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// Uncompressed image.
    None,
    /// LZ4 (fast compression).
    Lz4,
    /// LZ4 high compression (same decompressor as lz4).
    Lz4hc,
    /// LZMA (MicroLZMA in erofs).
    Lzma,
    /// DEFLATE.
    Deflate,
    /// Zstandard.
    Zstd,
}

impl Algorithm {
    /// Every algorithm, in the order of the names above.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::None,
        Algorithm::Lz4,
        Algorithm::Lz4hc,
        Algorithm::Lzma,
        Algorithm::Deflate,
        Algorithm::Zstd,
    ];

    /// The name used by `mkfs.erofs -z` and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::None => "none",
            Algorithm::Lz4 => "lz4",
            Algorithm::Lz4hc => "lz4hc",
            Algorithm::Lzma => "lzma",
            Algorithm::Deflate => "deflate",
            Algorithm::Zstd => "zstd",
        }
    }
}

impl FromStr for Algorithm {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .with_context(|| {
                format!(
                    "unknown compression {s:?} (expected none, lz4, lz4hc, lzma, deflate or zstd)"
                )
            })
    }
}

/// A compression choice with an optional level: `lz4hc`, `lz4hc,12`, `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The level passed to mkfs.erofs (`-zALG,LEVEL`), if any.
    pub level: Option<u32>,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            algorithm: Algorithm::None,
            level: None,
        }
    }
}

impl FromStr for Compression {
    type Err = anyhow::Error;
    /// Errors: an unknown algorithm, a level that is not a number, or a level
    /// on `none`.
    fn from_str(s: &str) -> Result<Self> {
        let (alg, level) = match s.split_once(',') {
            Some((a, l)) => {
                let level = l
                    .trim()
                    .parse::<u32>()
                    .with_context(|| format!("compression {s:?}: level {l:?} is not a number"))?;
                (a, Some(level))
            }
            None => (s, None),
        };
        let algorithm: Algorithm = alg.trim().parse()?;
        if algorithm == Algorithm::None && level.is_some() {
            bail!("compression {s:?}: \"none\" takes no level");
        }
        Ok(Compression { algorithm, level })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm.as_str())?;
        if let Some(level) = self.level {
            write!(f, ",{level}")?;
        }
        Ok(())
    }
}

impl Serialize for Compression {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))
    }
}

/// The largest config file read, in bytes. What the installer writes is
/// well under 4 KiB; the boot-time program runs as pid 1, where reading an
/// unbounded file (a mistake, or a device node) must not exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// The longest `[boot] timeout` accepted, in seconds (one hour): longer is
/// a typo that would hold a failed boot for days.
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;

impl Config {
    /// Parses the TOML text of a config file and checks its values
    /// ([`Config::validate`]). Errors name the offending key and its line
    /// (from the TOML parser's span), or the key and why its value is wrong.
    pub fn from_toml_str(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: `[boot] bootfs` is a device spec,
    /// `timeout` at most [`MAX_TIMEOUT_SECONDS`], `options` and `drivers` are
    /// single words a mount(2) data string or modprobe accepts, `[image] path`
    /// stays inside the boot filesystem and `fstype` is set.
    ///
    /// Errors: the first bad value, naming its key and what to write instead.
    pub fn validate(&self) -> Result<()> {
        let b = &self.boot;
        if let Some(spec) = &b.bootfs {
            spec.parse::<crate::spec::DeviceSpec>()
                .context("[boot] bootfs")?;
        }
        if b.timeout > MAX_TIMEOUT_SECONDS {
            bail!(
                "[boot] timeout = {} is more than {MAX_TIMEOUT_SECONDS} seconds; write a shorter wait",
                b.timeout
            );
        }
        let bad_word =
            |v: &str| v.is_empty() || v.contains(|c: char| c.is_whitespace() || c.is_control());
        if let Some(o) = &b.options {
            if bad_word(o) {
                bail!("[boot] options = {o:?}: write comma-separated mount options without spaces");
            }
        }
        if let Some(t) = &b.bootfstype {
            if bad_word(t) || t.contains('/') {
                bail!("[boot] bootfstype = {t:?} is not a filesystem type name (e.g. \"ext4\")");
            }
        }
        for d in &b.drivers {
            if bad_word(d) || d.contains('/') {
                bail!("[boot] drivers: {d:?} is not a kernel module name (e.g. \"virtio_blk\")");
            }
        }
        let rel = self.image.path_for("KVER");
        if rel.is_empty() || rel.split('/').any(|c| c == "..") || rel.contains('\0') {
            bail!(
                "[image] path = {:?} must name a file inside the boot filesystem (e.g. \"/initoverlayfs-{{kver}}.img\")",
                self.image.path
            );
        }
        if bad_word(&self.image.fstype) {
            bail!(
                "[image] fstype = {:?} is not a filesystem type name (\"erofs\")",
                self.image.fstype
            );
        }
        Ok(())
    }

    /// Reads `path` (at most [`MAX_CONFIG_BYTES`]); a missing file gives the
    /// defaults. Errors: unreadable or too large file, invalid TOML, unknown
    /// keys or bad values (the message names the file, key and line).
    pub fn load(path: &Path) -> Result<Config> {
        use std::io::Read;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read config {}", path.display()))
            }
        };
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            bail!(
                "config {} is larger than {MAX_CONFIG_BYTES} bytes: not an initoverlayfs.conf",
                path.display()
            );
        }
        Config::from_toml_str(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Every `SECTION.KEY` of the file (what [`Config::lookup`] answers).
    pub const KEYS: &'static [&'static str] = &[
        "boot.bootfs",
        "boot.bootfs_hint",
        "boot.bootfstype",
        "boot.options",
        "boot.drivers",
        "boot.timeout",
        "boot.tries",
        "boot.failure",
        "boot.fallback_entry",
        "boot.grubenv",
        "image.path",
        "image.fstype",
        "image.compression",
        "init.mode",
        "build.initoverlayfs",
        "build.initrd",
        "rollback.keep",
    ];

    /// The value of `key` (`SECTION.KEY`, e.g. `init.mode`), defaults
    /// applied, as lines for a shell: a string or number is one line, an
    /// array one line per element, an unset key none. This is how shell
    /// code (the dracut module) reads the file: with this parser, never its own.
    ///
    /// Errors: `key` is not one of [`Config::KEYS`].
    pub fn lookup(&self, key: &str) -> Result<Vec<String>> {
        if !Config::KEYS.contains(&key) {
            bail!(
                "unknown config key {key:?} (expected one of: {})",
                Config::KEYS.join(", ")
            );
        }
        let (section, name) = key.split_once('.').expect("KEYS are SECTION.KEY");
        let table = toml::Table::try_from(self).context("cannot serialize config")?;
        let value = table
            .get(section)
            .and_then(|s| s.as_table())
            .and_then(|s| s.get(name));
        let line = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(match value {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items.iter().map(line).collect(),
            Some(v) => vec![line(v)],
        })
    }

    /// Renders the config as TOML, with a header saying who wrote it.
    pub fn to_toml_string(&self) -> Result<String> {
        let body = toml::to_string(self).context("cannot serialize config")?;
        Ok(format!(
            "# /etc/initoverlayfs.conf: written by initoverlayfs-install; see initoverlayfs.conf(5).\n\
             # Copied into the mini initramfs and read at boot by initoverlayfs(8).\n\n{body}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_answers_every_key_and_only_those() {
        let c = Config::from_toml_str(FULL).unwrap();
        let table = toml::Table::try_from(&c).unwrap();
        let mut written: Vec<String> = table
            .iter()
            .flat_map(|(s, t)| {
                let keys: Vec<String> = t
                    .as_table()
                    .unwrap()
                    .keys()
                    .map(|k| format!("{s}.{k}"))
                    .collect();
                keys
            })
            .collect();
        written.sort();
        let mut known: Vec<String> = Config::KEYS.iter().map(|k| k.to_string()).collect();
        known.sort();
        assert_eq!(
            written, known,
            "FULL sets every key; KEYS must list them all"
        );
        assert_eq!(c.lookup("init.mode").unwrap(), vec!["pid1"]);
        assert_eq!(
            c.lookup("boot.drivers").unwrap(),
            vec!["virtio_pci", "virtio_blk"]
        );
        assert_eq!(c.lookup("boot.timeout").unwrap(), vec!["30"]);
        assert_eq!(c.lookup("image.compression").unwrap(), vec!["lz4hc,12"]);
        let d = Config::default();
        assert_eq!(d.lookup("init.mode").unwrap(), vec!["systemd"]);
        assert!(d.lookup("boot.bootfstype").unwrap().is_empty());
        let err = d.lookup("init.moed").unwrap_err().to_string();
        assert!(err.contains("unknown config key \"init.moed\""), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, want) in [
            ("[boot]\nbootfs = \"vda2\"\n", "[boot] bootfs"),
            ("[boot]\ntimeout = 100000\n", "[boot] timeout = 100000"),
            ("[boot]\noptions = \"subvol=a b\"\n", "[boot] options"),
            ("[boot]\nbootfstype = \"\"\n", "[boot] bootfstype"),
            ("[boot]\ndrivers = [\"../x\"]\n", "[boot] drivers: \"../x\""),
            ("[image]\npath = \"/../etc/shadow\"\n", "[image] path"),
            ("[image]\npath = \"\"\n", "[image] path"),
            ("[image]\nfstype = \"\"\n", "[image] fstype"),
        ] {
            let err = format!("{:#}", Config::from_toml_str(text).unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
        }
        assert!(Config::from_toml_str("[boot]\ntimeout = 3600\n").is_ok());
    }

    #[test]
    fn oversized_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.conf");
        let mut text = "# padding\n".repeat(7000);
        text.push_str("[boot]\ntimeout = 5\n");
        std::fs::write(&p, &text).unwrap();
        let err = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(err.contains("larger than 65536 bytes"), "{err}");
        std::fs::write(&p, "[boot]\ntimeout = 5\n").unwrap();
        assert_eq!(Config::load(&p).unwrap().boot.timeout, 5);
    }

    const FULL: &str = r#"
[boot]
bootfs = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff"
bootfs_hint = "/dev/vda2"
bootfstype = "ext4"
options = "subvol=/@boot"
drivers = ["virtio_pci", "virtio_blk"]
timeout = 30
failure = "shell"
fallback_entry = "m-without_initoverlayfs.{kver}"
grubenv = "/grub2/grubenv"
tries = 5
[image]
path = "/initoverlayfs-{kver}.img"
fstype = "erofs"
compression = "lz4hc,12"
[init]
mode = "pid1"
[build]
initoverlayfs = ["dracut", "-f", "{output}", "--kver", "{kver}"]
initrd = ["mkinitrd", "{output}"]
"#;

    #[test]
    fn parses_full_file() {
        let c = Config::from_toml_str(FULL).unwrap();
        assert_eq!(
            c.boot.bootfs.as_deref(),
            Some("UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff")
        );
        assert_eq!(c.boot.bootfs_hint.as_deref(), Some("/dev/vda2"));
        assert_eq!(c.boot.bootfstype.as_deref(), Some("ext4"));
        assert_eq!(c.boot.options.as_deref(), Some("subvol=/@boot"));
        assert_eq!(c.boot.drivers, ["virtio_pci", "virtio_blk"]);
        assert_eq!(c.boot.failure, FailurePolicy::Shell);
        assert_eq!(
            c.boot.fallback_entry.as_deref(),
            Some("m-without_initoverlayfs.{kver}")
        );
        assert_eq!(c.boot.grubenv.as_deref(), Some("/grub2/grubenv"));
        assert_eq!(c.boot.tries, Some(5));
        assert_eq!(c.image.compression.algorithm, Algorithm::Lz4hc);
        assert_eq!(c.image.compression.level, Some(12));
        assert_eq!(c.init.mode, InitMode::Pid1);
        assert_eq!(c.build.initrd, vec!["mkinitrd", "{output}"]);
        assert_eq!(c.rollback.keep, 3);
        assert_eq!(
            c.image.path_for("6.1.0-9-amd64"),
            "initoverlayfs-6.1.0-9-amd64.img"
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.boot.timeout, 30);
        assert_eq!(c.boot.failure, FailurePolicy::Fallback);
        assert_eq!((c.boot.fallback_entry.as_ref(), c.boot.tries), (None, None));
        assert_eq!(c.image.fstype, "erofs");
        assert_eq!(c.init.mode, InitMode::Systemd);
        assert!(c.build.initoverlayfs.contains(&"--no-compress".to_string()));
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("nope.conf")).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[boot]\nbootfs = \"LABEL=boot\"\nbootfz = \"x\"\n";
        let err = format!("{:#}", Config::from_toml_str(text).unwrap_err());
        assert!(err.contains("bootfz"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = format!("{:#}", Config::from_toml_str("[boots]\n").unwrap_err());
        assert!(err.contains("boots"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn bad_failure_policy_is_an_error() {
        let err = format!(
            "{:#}",
            Config::from_toml_str("[boot]\nfailure = \"panic\"\n").unwrap_err()
        );
        assert!(err.contains("panic") && err.contains("line 2"), "{err}");
        assert_eq!("shell".parse::<FailurePolicy>().unwrap().as_str(), "shell");
        assert!("Shell".parse::<FailurePolicy>().is_err());
    }

    #[test]
    fn bad_compression_is_an_error() {
        let err = format!(
            "{:#}",
            Config::from_toml_str("[image]\ncompression = \"brotli\"\n").unwrap_err()
        );
        assert!(err.contains("unknown compression \"brotli\""), "{err}");
    }

    #[test]
    fn round_trips() {
        let c = Config::from_toml_str(FULL).unwrap();
        let text = c.to_toml_string().unwrap();
        assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    }

    #[test]
    fn compression_parsing() {
        assert_eq!(
            "none".parse::<Compression>().unwrap(),
            Compression::default()
        );
        assert_eq!(
            "lz4hc,9".parse::<Compression>().unwrap().to_string(),
            "lz4hc,9"
        );
        assert!("none,3".parse::<Compression>().is_err());
        assert!("lz4,x".parse::<Compression>().is_err());
    }

    #[test]
    fn build_substitution() {
        let argv = Build::substitute(&Build::default().initrd, "6.1.0", "/tmp/out.img");
        assert!(argv.contains(&"6.1.0".to_string()));
        assert!(argv.contains(&"/tmp/out.img".to_string()));
        assert!(!argv.iter().any(|a| a.contains('{')));
    }
}
