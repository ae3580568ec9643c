//! Which boot loader reads the entries, which decides how a trial boot is
//! counted and how a failed one reaches the fallback entry:
//!
//! | loader | trial counter | fallback after a failure |
//! | --- | --- | --- |
//! | systemd-boot | the entry file name, `ID+N.conf` (Automatic Boot Assessment) | `LoaderEntryOneShot` (EFI variable) |
//! | GRUB (Fedora's BLS `blscfg`) | grubenv `boot_counter`/`boot_success` | grubenv `next_entry` |
//! | unknown | the entry file name (the Boot Loader Specification's boot counting) | none: the reboot, then boot counting |
//!
//! GRUB reads the entries too, but does not implement the file-name
//! counter: to it `ID+3.conf` is an entry named `ID+3`, which no longer
//! matches `saved_entry=ID`, and nothing would ever drop the counter. So
//! entries are renamed only when GRUB is not the boot loader.
//!
//! Found, in order: live, the `LoaderInfo` EFI variable, which the boot
//! loader that booted the machine sets (`systemd-boot 255.4-1.fc40`; GRUB's
//! `bli` module sets `GRUB 2.12`); then GRUB's files (`/boot/grub2/grub.cfg`,
//! `grubenv`, `/boot/grub/grub.cfg`, `EFI/*/grub.cfg` on the ESP); then
//! systemd-boot's (`EFI/systemd/systemd-boot*.efi`, `loader/loader.conf` on
//! the ESP).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use initoverlayfs::efivar::{self, LOADER_GUID};
use initoverlayfs::trial::LOADER_INFO;
use serde::Serialize;

use crate::layout::Layout;
use crate::target::Target;

/// Environment variable for tests: the efivarfs directory to use instead of
/// `/sys/firmware/efi/efivars` (also offline). Never set it on a real system.
pub const EFIVARS_ENV: &str = "INITOVERLAYFS_INSTALL_EFIVARS";

/// The efivarfs directory the installer reads and writes: the test hook
/// [`EFIVARS_ENV`], else live the kernel's when the machine booted with
/// UEFI, else none (offline trees never get the build host's variables).
pub fn efivars(target: &Target) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(EFIVARS_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let d = Path::new(efivar::EFIVARS);
    (target.live && efivar::available(d)).then(|| d.to_path_buf())
}

/// The kinds of boot loader we tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// systemd-boot.
    SystemdBoot,
    /// GRUB with BLS entries (Fedora, RHEL, CentOS Stream).
    Grub,
    /// Something else reading the entries, or nothing found.
    Unknown,
}

impl Kind {
    /// The JSON/table spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SystemdBoot => "systemd-boot",
            Kind::Grub => "grub",
            Kind::Unknown => "unknown",
        }
    }

    /// Whether the trial is counted in the entry's file name (`ID+N.conf`).
    pub fn counts_in_file_names(self) -> bool {
        self != Kind::Grub
    }
}

/// The detected boot loader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootLoader {
    /// What it is.
    pub kind: Kind,
    /// How it was found, in words.
    pub found_by: String,
    /// GRUB's environment block (target path), when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grubenv: Option<String>,
    /// The same block as a path inside the boot filesystem (`/grub2/grubenv`),
    /// when it is on the boot filesystem the mini initramfs mounts: what
    /// `[boot] grubenv` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grubenv_in_bootfs: Option<String>,
}

/// Where GRUB keeps its environment block, most likely first.
pub const GRUBENV_CANDIDATES: &[&str] = &["/boot/grub2/grubenv", "/boot/grub/grubenv"];

/// The target path a target path really names (symlinks followed; live
/// through the host's filesystem, offline inside the tree), if it exists.
fn real_path(target: &Target, abs: &str) -> Result<Option<String>> {
    let host = target.path(abs)?;
    let host = if target.live {
        match std::fs::canonicalize(&host) {
            Ok(h) => h,
            Err(_) => return Ok(None),
        }
    } else {
        host
    };
    Ok(host.is_file().then(|| target.inner(&host)))
}

fn any_file(target: &Target, dir: &str, pred: &dyn Fn(&str) -> bool) -> Result<Option<String>> {
    let Ok(rd) = std::fs::read_dir(target.path(dir)?) else {
        return Ok(None);
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| pred(n))
        .collect();
    names.sort();
    Ok(names
        .first()
        .map(|n| format!("{}/{n}", dir.trim_end_matches('/'))))
}

/// Detects the boot loader of `target` (see the module docs).
///
/// Errors: a path cannot be resolved in the target (a symlink loop).
pub fn detect(target: &Target, layout: &Layout, efivars: Option<&Path>) -> Result<BootLoader> {
    let esp = layout.esp.as_ref().map(|e| e.mount_point.clone());
    let boot_mount = layout.boot.as_ref().map(|b| b.mount_point.clone());
    let mut grubenv = None;
    for c in GRUBENV_CANDIDATES {
        if let Some(p) = real_path(target, c)? {
            grubenv = Some(p);
            break;
        }
    }
    let under = |p: &str, dir: &str| {
        let dir = dir.trim_end_matches('/');
        p.starts_with(&format!("{dir}/"))
    };
    let grubenv_in_bootfs = match (&grubenv, &boot_mount) {
        (Some(g), Some(b)) if under(g, b) && !esp.as_deref().is_some_and(|e| under(g, e)) => {
            Some(format!(
                "/{}",
                g[b.trim_end_matches('/').len()..].trim_start_matches('/')
            ))
        }
        _ => None,
    };
    let mk = |kind, found_by: String| BootLoader {
        kind,
        found_by,
        grubenv: grubenv.clone(),
        grubenv_in_bootfs: grubenv_in_bootfs.clone(),
    };

    if let Some(dir) = efivars {
        if let Ok(Some(info)) = efivar::read_string(dir, LOADER_INFO, LOADER_GUID) {
            let kind = if info.starts_with("systemd-boot") {
                Kind::SystemdBoot
            } else if info.starts_with("GRUB") {
                Kind::Grub
            } else {
                Kind::Unknown
            };
            return Ok(mk(kind, format!("LoaderInfo EFI variable: {info}")));
        }
    }
    let mut grub_files = Vec::new();
    for p in ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"] {
        if real_path(target, p)?.is_some() {
            grub_files.push(p.to_string());
        }
    }
    grub_files.extend(grubenv.clone());
    if let Some(e) = &esp {
        let efi = format!("{}/EFI", e.trim_end_matches('/'));
        if let Ok(rd) = std::fs::read_dir(target.path(&efi)?) {
            let mut vendors: Vec<String> = rd
                .flatten()
                .map(|d| d.file_name().to_string_lossy().into_owned())
                .collect();
            vendors.sort();
            for v in vendors {
                let cfg = format!("{efi}/{v}/grub.cfg");
                if real_path(target, &cfg)?.is_some() {
                    grub_files.push(cfg);
                }
            }
        }
    }
    if let Some(first) = grub_files.first() {
        return Ok(mk(Kind::Grub, format!("GRUB files: {first}")));
    }
    if let Some(e) = &esp {
        let sd = any_file(
            target,
            &format!("{}/EFI/systemd", e.trim_end_matches('/')),
            &|n| n.starts_with("systemd-boot") && n.ends_with(".efi"),
        )?;
        let conf = format!("{}/loader/loader.conf", e.trim_end_matches('/'));
        let found = sd.or(real_path(target, &conf)?);
        if let Some(f) = found {
            return Ok(mk(Kind::SystemdBoot, format!("systemd-boot files: {f}")));
        }
    }
    Ok(mk(
        Kind::Unknown,
        "no LoaderInfo EFI variable, no GRUB or systemd-boot files".into(),
    ))
}

/// The boot counter a new trial gets and where that number came from:
/// `[boot] tries` when the config sets it, else `/etc/kernel/tries` (what
/// kernel-install reads for the same purpose), else
/// [`initoverlayfs::config::DEFAULT_TRIES`].
///
/// Errors: `/etc/kernel/tries` is not a whole number (kernel-install
/// refuses it too), or cannot be read.
pub fn tries(target: &Target, configured: Option<u32>) -> Result<(u32, String)> {
    if let Some(n) = configured {
        return Ok((n, "[boot] tries".into()));
    }
    if let Some(text) = target.read_opt("/etc/kernel/tries")? {
        let t = text.trim();
        let n: u32 = t.parse().with_context(|| {
            format!(
                "/etc/kernel/tries holds {t:?}, not a number of tries; fix it or set [boot] tries"
            )
        })?;
        return Ok((n, "/etc/kernel/tries".into()));
    }
    Ok((initoverlayfs::config::DEFAULT_TRIES, "default".into()))
}

/// Refuses a tries value systemd-boot cannot count with (its counters are
/// C ints; kernel-install takes any unsigned number, but a trial of more
/// than 1000 boots is no trial).
///
/// Errors: more than 1000.
pub fn check_tries(n: u32) -> Result<()> {
    if n > 1000 {
        bail!("{n} tries is not a trial: use 1 to 1000, or 0 to turn boot counting off");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{classify, FsInfo, Mounts};

    fn fs(mount: &str, fstype: &str) -> FsInfo {
        FsInfo {
            source: format!("UUID={mount}"),
            fstype: fstype.into(),
            device: None,
            subvol: None,
            options: None,
            dev: None,
            mount_point: mount.into(),
        }
    }

    fn tree(files: &[&str]) -> (tempfile::TempDir, Target, Layout) {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let p = t.path().join(f.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let target = Target::new(Some(t.path())).unwrap();
        let layout = classify(
            &Mounts {
                root: Some(fs("/", "xfs")),
                boot: Some(fs("/boot", "ext4")),
                esp: Some(fs("/boot/efi", "vfat")),
            },
            false,
        );
        (t, target, layout)
    }

    #[test]
    fn grub_files_make_grub_and_name_the_grubenv() {
        let (_t, target, layout) = tree(&["/boot/grub2/grubenv", "/boot/efi/EFI/fedora/grub.cfg"]);
        let l = detect(&target, &layout, None).unwrap();
        assert_eq!(l.kind, Kind::Grub);
        assert_eq!(l.found_by, "GRUB files: /boot/grub2/grubenv");
        assert_eq!(l.grubenv.as_deref(), Some("/boot/grub2/grubenv"));
        assert_eq!(l.grubenv_in_bootfs.as_deref(), Some("/grub2/grubenv"));
        assert!(!l.kind.counts_in_file_names());
    }

    #[test]
    fn a_grubenv_on_the_esp_is_not_the_boot_filesystems() {
        // Fedora before 34 on UEFI: /boot/grub2/grubenv -> ../efi/EFI/fedora/grubenv.
        let (t, target, layout) = tree(&[
            "/boot/efi/EFI/fedora/grubenv",
            "/boot/efi/EFI/fedora/grub.cfg",
        ]);
        std::fs::create_dir_all(t.path().join("boot/grub2")).unwrap();
        std::os::unix::fs::symlink(
            "../efi/EFI/fedora/grubenv",
            t.path().join("boot/grub2/grubenv"),
        )
        .unwrap();
        let l = detect(&target, &layout, None).unwrap();
        assert_eq!(l.kind, Kind::Grub);
        assert_eq!(l.grubenv.as_deref(), Some("/boot/efi/EFI/fedora/grubenv"));
        assert_eq!(l.grubenv_in_bootfs, None);
    }

    #[test]
    fn systemd_boot_files_and_the_loader_info_variable() {
        let (_t, target, layout) = tree(&["/boot/efi/EFI/systemd/systemd-bootx64.efi"]);
        let l = detect(&target, &layout, None).unwrap();
        assert_eq!(l.kind, Kind::SystemdBoot);
        assert_eq!(
            l.found_by,
            "systemd-boot files: /boot/efi/EFI/systemd/systemd-bootx64.efi"
        );
        assert!(l.kind.counts_in_file_names());
        // LoaderInfo (live) wins over files: GRUB files left over from an
        // earlier install do not matter when systemd-boot booted us.
        let (_t, target, layout) = tree(&["/boot/grub2/grub.cfg"]);
        let efi = tempfile::tempdir().unwrap();
        efivar::write_string(
            efi.path(),
            LOADER_INFO,
            LOADER_GUID,
            "systemd-boot 252.39-1~deb12u2",
        )
        .unwrap();
        let l = detect(&target, &layout, Some(efi.path())).unwrap();
        assert_eq!(l.kind, Kind::SystemdBoot);
        assert_eq!(
            l.found_by,
            "LoaderInfo EFI variable: systemd-boot 252.39-1~deb12u2"
        );
        efivar::write_string(efi.path(), LOADER_INFO, LOADER_GUID, "GRUB 2.12").unwrap();
        assert_eq!(
            detect(&target, &layout, Some(efi.path())).unwrap().kind,
            Kind::Grub
        );
        let (_t, target, layout) = tree(&[]);
        assert_eq!(detect(&target, &layout, None).unwrap().kind, Kind::Unknown);
    }

    #[test]
    fn tries_come_from_the_config_kernel_install_or_the_default() {
        let (t, target, _) = tree(&[]);
        assert_eq!(tries(&target, None).unwrap(), (3, "default".into()));
        std::fs::create_dir_all(t.path().join("etc/kernel")).unwrap();
        std::fs::write(t.path().join("etc/kernel/tries"), "5\n").unwrap();
        assert_eq!(
            tries(&target, None).unwrap(),
            (5, "/etc/kernel/tries".into())
        );
        assert_eq!(tries(&target, Some(2)).unwrap(), (2, "[boot] tries".into()));
        std::fs::write(t.path().join("etc/kernel/tries"), "three\n").unwrap();
        let err = format!("{:#}", tries(&target, None).unwrap_err());
        assert!(err.contains("/etc/kernel/tries holds \"three\""), "{err}");
        assert!(check_tries(1000).is_ok() && check_tries(0).is_ok());
        assert!(check_tries(1001).is_err());
    }
}
