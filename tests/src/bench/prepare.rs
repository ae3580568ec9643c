//! Builds one benchmark disk per variant and payload from the harness's
//! pristine fedora image: the payload goes into the guest's root, then
//! (a) one `dracut -f` with `--include` of it rebuilds
//! `/boot/initramfs-KVER.img`, or (b)/(c) the offline
//! `initoverlayfs-install --root` runs with the payload added to the full
//! image build only (`[build] initoverlayfs` argv in the guest's
//! `/etc/initoverlayfs.conf`; the mini initramfs build stays untouched).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::{Build as BuildArgv, Config, CONFIG_PATH};

use crate::bench::payload;
use crate::bench::record::{Build, Variant};
use crate::bootloader;
use crate::harness::Harness;
use crate::image::Image;
use crate::project;
use crate::scenario::FEDORA;

const MIB: u64 = 1024 * 1024;

/// Room a variant needs on /boot besides its payload: the initramfs content
/// without payload is ~40 MB compressed and ~100 MB as an image, and the
/// installer keeps a copy of the original initramfs.
const BOOT_OVERHEAD_MIB: u64 = 200;

/// A built variant disk.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The variant.
    pub variant: Variant,
    /// Payload, MiB.
    pub payload_mib: u64,
    /// The raw disk image (a copy in the run dir).
    pub path: PathBuf,
    /// The BLS entry to boot: the distro's entry (the installer points it
    /// at the mini initramfs and adds a `without_initoverlayfs` fallback).
    pub entry: String,
}

/// The `[build] initoverlayfs` argv with the payload included (the default
/// argv plus `--include GUEST_DIR INITRD_DIR`).
pub fn full_build_argv(payload_mib: u64) -> Vec<String> {
    let mut argv = BuildArgv::default().initoverlayfs;
    if payload_mib > 0 {
        argv.extend([
            "--include".to_string(),
            format!("/{}", payload::GUEST_DIR),
            payload::INITRD_DIR.to_string(),
        ]);
    }
    argv
}

/// The guest config the bench writes before an install: the full build's
/// argv and, if any, the mini initramfs' `drivers` (the installer keeps
/// these explicit settings and merges them over what it detects). Checked
/// against the config contract.
pub fn guest_config(payload_mib: u64, drivers: &[String]) -> Result<String> {
    let argv = serde_json::to_string(&full_build_argv(payload_mib))?;
    let boot = if drivers.is_empty() {
        String::new()
    } else {
        format!("[boot]\ndrivers = {}\n", serde_json::to_string(drivers)?)
    };
    let text = format!(
        "# Written by the initoverlayfs boot benchmark: payload of {payload_mib} MiB in the image.\n\
         {boot}[build]\ninitoverlayfs = {argv}\n"
    );
    Config::from_toml_str(&text).context("the bench's guest config breaks the contract")?;
    Ok(text)
}

/// Free bytes of the filesystem holding `p`.
fn free_bytes(p: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(p).with_context(|| format!("statvfs {}", p.display()))?;
    Ok(st.f_bavail * st.f_frsize)
}

/// Runs `argv` chrooted into `root` inside a private mount namespace
/// (`unshare -m`) with /proc, /sys and /dev bind-mounted: the mounts vanish
/// with the namespace, whatever happens. Streams nothing; the error carries
/// the stderr tail.
fn chroot_run(root: &Path, argv: &[String]) -> Result<()> {
    let script =
        "set -e; r=$1; shift; for d in proc sys dev; do mount --bind /$d \"$r/$d\"; done; \
                  exec chroot \"$r\" \"$@\"";
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(root)
        .args(argv)
        .run()
}

/// Builds the disk of `variant` with `payload_mib` MiB of payload from the
/// pristine `img`, filling `build` with sizes and the build's wall time;
/// `compression` is passed to the installer (`--compression`) if given,
/// `drivers` goes into the guest config's `[boot] drivers`.
///
/// Errors: /boot is too small for the payload, the build tool fails, or an
/// artefact is missing afterwards.
pub fn build(
    h: &Harness,
    img: &Image,
    variant: Variant,
    payload_mib: u64,
    compression: Option<&str>,
    drivers: &[String],
    build: &mut Build,
) -> Result<Disk> {
    let name = format!("bench-{}-{payload_mib}", variant.letter());
    let path = h.copy(img, &name)?;
    let g = h.mount(&path, &FEDORA, &name)?;
    let root = g.root();
    let kver = &img.kver;
    let need = (payload_mib + BOOT_OVERHEAD_MIB) * MIB;
    let free = free_bytes(&g.boot())?;
    if free < need {
        bail!(
            "/boot has {} MiB free, the variant needs about {} MiB (payload + {BOOT_OVERHEAD_MIB} MiB): \
             the harness's fedora layout has a 1 GiB /boot",
            free / MIB,
            need / MIB
        );
    }
    let entry_id = bootloader::read_menu(&g.boot())?
        .pick(&bootloader::Choice::Default)?
        .id
        .clone();
    payload::write(&root.join(payload::GUEST_DIR), payload_mib)?;
    match variant.init_mode() {
        None => {
            let out = format!("/boot/initramfs-{kver}.img");
            let mut argv: Vec<String> =
                ["dracut", "-q", "--no-hostonly", "--kver", kver, "-f", &out]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            if payload_mib > 0 {
                argv.extend([
                    "--include".into(),
                    format!("/{}", payload::GUEST_DIR),
                    payload::INITRD_DIR.into(),
                ]);
            }
            eprintln!("bench: {name}: chroot dracut {}", argv[1..].join(" "));
            let t = Instant::now();
            chroot_run(root, &argv).with_context(|| format!("{name}: dracut -f failed"))?;
            build.seconds = Some(t.elapsed().as_secs_f64());
            let p = g.boot().join(format!("initramfs-{kver}.img"));
            build.dracut_initramfs_bytes = Some(
                std::fs::metadata(&p)
                    .with_context(|| format!("no {}", p.display()))?
                    .len(),
            );
        }
        Some(mode) => {
            project::install_into_guest(&h.paths, root)?;
            let cfg = root.join(CONFIG_PATH);
            std::fs::write(&cfg, guest_config(payload_mib, drivers)?)
                .with_context(|| format!("cannot write {}", cfg.display()))?;
            let bin = h.paths.target.join("release/initoverlayfs-install");
            let mut cmd = Command::new(&bin);
            cmd.arg("--root")
                .arg(root)
                .args(["--init-mode", mode, "-y"]);
            if let Some(c) = compression {
                cmd.args(["--compression", c]);
            }
            eprintln!("bench: {name}: {}", initoverlayfs::cmd::command_line(&cmd));
            let t = Instant::now();
            let out = cmd.run_get_output()?;
            let secs = t.elapsed().as_secs_f64();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            for l in text.lines() {
                eprintln!("    > {l}");
            }
            if !out.status.success() {
                bail!("{name}: initoverlayfs-install failed ({})", out.status);
            }
            build.seconds = Some(secs);
            build.erofs_image_bytes = Some(crate::e2e::image_of(root, kver)?.2);
            // The distro's entry by id, whatever the menu order.
            let menu = bootloader::read_menu(&g.boot())?;
            let entry = menu.pick(&bootloader::Choice::Id(entry_id.clone()))?;
            build.mini_initramfs_bytes = Some(entry.initrd_bytes(&g.boot())?);
        }
    }
    drop(g);
    Ok(Disk {
        variant,
        payload_mib,
        path,
        entry: entry_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_only_in_the_full_build() {
        let cfg = Config::from_toml_str(&guest_config(256, &[]).unwrap()).unwrap();
        let full = cfg.build.initoverlayfs.join(" ");
        assert!(
            full.ends_with("--include /var/lib/bench-payload /bench-payload"),
            "{full}"
        );
        assert!(full.contains("-o initoverlayfs"), "{full}");
        assert_eq!(cfg.build.initrd, BuildArgv::default().initrd);
        let none = Config::from_toml_str(&guest_config(0, &[]).unwrap()).unwrap();
        assert_eq!(none.build, BuildArgv::default());
        assert!(none.boot.drivers.is_empty());
        let drivers = vec!["virtio_pci".to_string(), "virtio_blk".to_string()];
        let narrow = Config::from_toml_str(&guest_config(0, &drivers).unwrap()).unwrap();
        assert_eq!(narrow.boot.drivers, drivers);
        assert_eq!(narrow.build, BuildArgv::default());
    }
}
