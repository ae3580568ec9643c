//! The end-to-end run of issue 5 on the harness: plain boot, live in-guest
//! install, boot through initoverlayfs, live rollback, offline installs
//! (fedora pid1, centos systemd) with their boots, offline rollback, and the
//! failure path (missing image → clear error, fallback entry boots).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs::config::{Config, CONFIG_PATH};

use crate::bootloader::Choice;
use crate::guest;
use crate::harness::{Boot, Harness};
use crate::image::Image;
use crate::project;
use crate::release::{self, GuestRelease};
use crate::report::Sizes;
use crate::scenario::{Scenario, CENTOS, FEDORA};
use crate::serial;

/// Timeout of a plain boot under TCG (a boot takes 35–60 s here).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// Timeout of the boot that runs the live install in the guest (two dracut
/// runs and mkfs.erofs under TCG).
pub const LIVE_INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);
/// The start of the boot program's error line on the console.
pub const INIT_ERROR: &str = "initoverlayfs: error";

/// The one-shot action of step 1: check, then install live with the
/// bootfs disk's drivers detected from /sys (dracut's hostonly, for the mini
/// initramfs), reporting both.
const LIVE_INSTALL_ACTION: &str = r#"echo "== initoverlayfs-install --check --json"
initoverlayfs-install --check --json
echo "VM-CHECK-RC=$?"
echo "== initoverlayfs-install --drivers auto -y"
initoverlayfs-install --drivers auto -y"#;

/// What the fedora pid1 offline install names as the bootfs disk's drivers:
/// the guest's virtio disk (virtio_pci is a module in Debian's kernel).
const OFFLINE_DRIVERS: &str = "virtio_pci,virtio_blk";

/// The one-shot action of step 3: live rollback.
const LIVE_ROLLBACK_ACTION: &str = r#"echo "== initoverlayfs-install --rollback -y"
initoverlayfs-install --rollback -y"#;

/// Everything a run measured.
#[derive(Debug, Default)]
pub struct RunRecord {
    /// Every boot in order.
    pub boots: Vec<Boot>,
    /// Sizes of the fedora artefacts (live install).
    pub sizes: Sizes,
    /// Guest seconds the live install took (TCG).
    pub live_install_seconds: Option<f64>,
    /// Host seconds of each offline install.
    pub offline_install_seconds: Vec<(String, f64)>,
}

/// Step 1 without the project: the fedora image's default entry boots the
/// distro's dracut initramfs to `VM-BOOT-OK`.
///
/// Errors: the image cannot be built or the guest does not finish booting.
pub fn plain_boot(h: &mut Harness) -> Result<Boot> {
    let img = h.image(&FEDORA)?;
    let disk = h.copy(&img, "fedora-plain")?;
    let b = h.boot(&disk, &Choice::Default, "fedora-0-plain", BOOT_TIMEOUT, &[])?;
    ensure!(b.booted(), b.failure("no VM-BOOT-OK"));
    Ok(b)
}

/// blake3 of every BLS entry and every initramfs in the guest's /boot, by
/// path relative to /boot (what must be byte-identical after a rollback).
pub fn boot_snapshot(boot: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    let entries = boot.join("loader/entries");
    for e in
        std::fs::read_dir(&entries).with_context(|| format!("cannot list {}", entries.display()))?
    {
        files.push(e?.path());
    }
    for e in std::fs::read_dir(boot).with_context(|| format!("cannot list {}", boot.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if p.is_file() && (name.starts_with("initramfs-") || name.starts_with("initoverlayfs")) {
            files.push(p);
        }
    }
    for p in files {
        let data = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let rel = p
            .strip_prefix(boot)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        out.insert(rel, blake3::hash(&data).to_hex().to_string());
    }
    Ok(out)
}

/// Differences between two snapshots, one line per path.
pub fn snapshot_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => d.push(format!("{k}: removed")),
            Some(w) if w != v => d.push(format!("{k}: changed")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        d.push(format!("{k}: added"));
    }
    d
}

/// The guest's config (`/etc/initoverlayfs.conf`) and the host path of the
/// erofs image it names, with the image's size.
///
/// Errors: the config is unreadable or the image missing.
pub fn image_of(root: &Path, kver: &str) -> Result<(Config, PathBuf, u64)> {
    let cfg = Config::load(&root.join(CONFIG_PATH))?;
    let img = root.join("boot").join(cfg.image.path_for(kver));
    let size = std::fs::metadata(&img)
        .with_context(|| format!("no erofs image at {}", img.display()))?
        .len();
    Ok((cfg, img, size))
}

/// The program's own `initoverlayfs:` lines of a boot.
fn init_lines(b: &Boot) -> Vec<&str> {
    b.timeline
        .initoverlayfs
        .iter()
        .map(|(_, l)| l.as_str())
        .collect()
}

/// Asserts that `b` booted through initoverlayfs: the program attached and
/// mounted the erofs image, the switch into it happened, and the real root
/// is `/` at the end.
fn assert_through_initoverlayfs(b: &Boot, root_dev: &str) -> Result<()> {
    ensure!(b.booted(), b.failure("no VM-BOOT-OK"));
    let lines = init_lines(b);
    ensure!(
        lines
            .iter()
            .any(|l| l.contains("attached") && l.contains(".img")),
        b.failure(&format!(
            "no initoverlayfs line shows the loop-attached image; its lines: {lines:#?}"
        ))
    );
    ensure!(
        lines.iter().any(|l| l.contains("mounted overlay")),
        b.failure(&format!(
            "no initoverlayfs line shows the overlay; its lines: {lines:#?}"
        ))
    );
    let switched = lines.iter().any(|l| l.contains("switched root"))
        || b.log.contains("Finished pre-initoverlayfs-switch-root")
        || b.log.lines.iter().any(|l| {
            l.contains("pre-initoverlayfs-switch-root.service") && l.contains("Deactivated")
        });
    ensure!(
        switched,
        b.failure("no sign of the switch root into the image")
    );
    let root = serial::marker_value(&b.log.lines, "VM-ROOT").unwrap_or_default();
    ensure!(
        root.starts_with(root_dev),
        b.failure(&format!("/ is {root:?}, not the real root {root_dev}"))
    );
    Ok(())
}

/// Asserts that boot `b` of `disk` let go of /boot: in the real root no
/// loop device is bound to an image and no erofs is mounted, /boot unmounts
/// and mounts again and its fsck ran; shutdown detached every loop device;
/// and, read on the host after poweroff, the /boot filesystem is clean.
/// Plain boots pass the same checks (the reference).
///
/// Errors: each fault found, with the boot's console report.
fn assert_released(b: &Boot, disk: &Path) -> Result<()> {
    let mut problems = GuestRelease::parse(&b.log.lines)
        .map_err(|e| b.failure(&format!("{e:#}")))?
        .problems();
    if release::boot_fs_dirty(disk)? {
        problems.push(
            "after poweroff the /boot filesystem needs recovery (it was not cleanly unmounted)"
                .into(),
        );
    }
    ensure!(
        problems.is_empty(),
        b.failure(&format!("/boot was not let go: {}", problems.join("; ")))
    );
    Ok(())
}

/// Asserts that the journal of `ours` has no warning that the plain boot
/// `plain` of the same disk lacks, apart from our own `initoverlayfs:` lines.
fn assert_no_new_warnings(ours: &Boot, plain: &Boot) -> Result<()> {
    let new = release::new_warnings(
        &release::warnings(&ours.log.lines),
        &release::warnings(&plain.log.lines),
    );
    ensure!(
        new.is_empty(),
        ours.failure(&format!(
            "warnings the plain boot {} lacks: {new:#?}",
            plain.label
        ))
    );
    Ok(())
}

/// Asserts a plain boot (no initoverlayfs).
fn assert_plain(b: &Boot) -> Result<()> {
    ensure!(b.booted(), b.failure("no VM-BOOT-OK"));
    let lines = init_lines(b);
    ensure!(
        lines.is_empty(),
        b.failure(&format!("initoverlayfs ran in a plain boot: {lines:#?}"))
    );
    Ok(())
}

/// Measures the artefacts of an installed guest on `disk`: the default
/// entry's initrd (the mini initramfs), the fallback entry's initrd (the
/// distro's full one) and the erofs image the config names.
///
/// Errors: the guest cannot be mounted, the menu has no fallback entry, or
/// the image is missing.
pub fn measure_sizes(h: &Harness, disk: &Path, s: &Scenario, kver: &str) -> Result<Sizes> {
    let g = h.mount(disk, s, "measure")?;
    let menu = crate::bootloader::read_menu(&g.boot())?;
    let mini = menu.pick(&Choice::Default)?.initrd_bytes(&g.boot())?;
    let full = menu.pick(&Choice::Fallback)?.initrd_bytes(&g.boot())?;
    let (_, _, image) = image_of(g.root(), kver)?;
    Ok(Sizes {
        full_initramfs: Some(full),
        mini_initramfs: Some(mini),
        erofs_image: Some(image),
    })
}

/// Offline install of `scenario` in `mode` on a fresh copy named `name`,
/// then a boot through initoverlayfs (recorded in `rec`, with the sizes if
/// none are recorded yet). Returns the disk.
fn offline_install_and_boot(
    h: &mut Harness,
    img: &Image,
    name: &str,
    mode: &str,
    extra: &[&str],
    rec: &mut RunRecord,
) -> Result<PathBuf> {
    let s = img.scenario;
    let disk = h.copy(img, name)?;
    install_project(h, &disk, &s, name)?;
    let mut args = vec!["--init-mode", mode, "-y"];
    args.extend(extra);
    let secs = offline(h, &disk, &s, name, &args)?;
    rec.offline_install_seconds
        .push((format!("{} {mode}", s.name), secs));
    if rec.sizes.mini_initramfs.is_none() {
        rec.sizes = measure_sizes(h, &disk, &s, &img.kver)?;
    }
    let b = h.boot(
        &disk,
        &Choice::Default,
        &format!("{name}-boot"),
        BOOT_TIMEOUT,
        &[],
    )?;
    rec.boots.push(b);
    let b = rec.boots.last().expect("just pushed");
    assert_through_initoverlayfs(b, "/dev/vda3")?;
    assert_released(b, &disk)?;
    Ok(disk)
}

/// Puts the project's files into the guest on `disk`.
fn install_project(h: &Harness, disk: &Path, s: &Scenario, name: &str) -> Result<()> {
    let g = h.mount(disk, s, name)?;
    let files = project::install_into_guest(&h.paths, g.root())?;
    eprintln!(
        "vm: {name}: installed {} project files into the guest",
        files.len()
    );
    Ok(())
}

/// Runs the host's `initoverlayfs-install --root MNT ARGS…` on `disk`
/// (the image-builder path). Returns the host seconds it took.
fn offline(h: &Harness, disk: &Path, s: &Scenario, name: &str, args: &[&str]) -> Result<f64> {
    let g = h.mount(disk, s, name)?;
    let bin = h.paths.target.join("release/initoverlayfs-install");
    let t = Instant::now();
    let mut cmd = Command::new(&bin);
    cmd.arg("--root").arg(g.root()).args(args);
    eprintln!("vm: {name}: {}", initoverlayfs::cmd::command_line(&cmd));
    let out = cmd.run_get_output()?;
    let secs = t.elapsed().as_secs_f64();
    for l in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        eprintln!("    > {l}");
    }
    if !out.status.success() {
        bail!(
            "{name}: `{}` failed ({}) after {secs:.0} s",
            initoverlayfs::cmd::command_line(&cmd),
            out.status
        );
    }
    Ok(secs)
}

/// Steps 1–3 on the fedora image: live install in the guest, boot through
/// initoverlayfs, live rollback, plain boot with byte-identical /boot files.
fn live(h: &mut Harness, img: &Image, rec: &mut RunRecord) -> Result<()> {
    let disk = h.copy(img, "fedora-live")?;
    install_project(h, &disk, &FEDORA, "fedora-live")?;
    let before = {
        let g = h.mount(&disk, &FEDORA, "fedora-live")?;
        guest::set_action(g.root(), LIVE_INSTALL_ACTION)?;
        boot_snapshot(&g.boot())?
    };
    let b1 = h.boot(
        &disk,
        &Choice::Default,
        "fedora-1-live-install",
        LIVE_INSTALL_TIMEOUT,
        &[],
    )?;
    rec.sizes.full_initramfs = Some(b1.files.initrd_bytes);
    let action = serial::action_output(&b1.log.lines);
    rec.live_install_seconds = action.as_ref().and_then(|a| a.seconds);
    rec.boots.push(b1);
    let b1 = rec.boots.last().expect("just pushed");
    assert_plain(b1)?;
    let action = action.ok_or_else(|| b1.failure("the live install did not finish"))?;
    ensure!(
        action.lines.iter().any(|l| l.trim() == "VM-CHECK-RC=0"),
        b1.failure(&format!(
            "--check --json did not report compatible:\n{}",
            action.lines.join("\n")
        ))
    );
    ensure!(
        action.rc == 0,
        b1.failure(&format!(
            "initoverlayfs-install -y failed (rc {}):\n{}",
            action.rc,
            action.lines.join("\n")
        ))
    );
    {
        let g = h.mount(&disk, &FEDORA, "fedora-live")?;
        let (cfg, _, size) = image_of(g.root(), &img.kver)?;
        rec.sizes.erofs_image = Some(size);
        // --drivers auto walked /sys from /dev/vda2: the virtio disk's
        // driver (and its PCI transport's) must be what the config names.
        ensure!(
            cfg.boot.drivers.iter().any(|d| d == "virtio_blk"),
            b1.failure(&format!(
                "--drivers auto did not find virtio_blk for /boot (config: {:?})",
                cfg.boot.drivers
            ))
        );
        guest::set_action(g.root(), LIVE_ROLLBACK_ACTION)?;
    }

    let b2 = h.boot(
        &disk,
        &Choice::Default,
        "fedora-2-initoverlayfs",
        BOOT_TIMEOUT,
        &[],
    )?;
    rec.sizes.mini_initramfs = Some(b2.files.initrd_bytes);
    rec.boots.push(b2);
    let b2 = rec.boots.last().expect("just pushed");
    assert_through_initoverlayfs(b2, "/dev/vda3")?;
    assert_released(b2, &disk)?;
    ensure!(
        b2.files.initrd_bytes < rec.sizes.full_initramfs.unwrap_or(0),
        b2.failure("the mini initramfs is not smaller than the full one")
    );
    let rb = serial::action_output(&b2.log.lines)
        .ok_or_else(|| b2.failure("the live rollback did not finish"))?;
    ensure!(
        rb.rc == 0,
        b2.failure(&format!(
            "--rollback -y failed (rc {}):\n{}",
            rb.rc,
            rb.lines.join("\n")
        ))
    );

    let b3 = h.boot(
        &disk,
        &Choice::Default,
        "fedora-3-rolled-back",
        BOOT_TIMEOUT,
        &[],
    )?;
    rec.boots.push(b3);
    let b3 = rec.boots.last().expect("just pushed");
    assert_plain(b3)?;
    assert_released(b3, &disk)?;
    assert_no_new_warnings(&rec.boots[rec.boots.len() - 2], b3)?;
    let after = {
        let g = h.mount(&disk, &FEDORA, "fedora-live")?;
        boot_snapshot(&g.boot())?
    };
    let diff = snapshot_diff(&before, &after);
    ensure!(
        diff.is_empty(),
        b3.failure(&format!("/boot differs from before the install: {diff:?}"))
    );
    Ok(())
}

/// Removes the erofs image of the installed guest on `disk`, boots the
/// default entry (must show the program's error and stop, not hang), then
/// the fallback entry (must boot).
fn failure_path(
    h: &mut Harness,
    disk: &Path,
    s: &Scenario,
    kver: &str,
    tag: &str,
    rec: &mut RunRecord,
) -> Result<()> {
    {
        let g = h.mount(disk, s, tag)?;
        let (_, img, _) = image_of(g.root(), kver)?;
        std::fs::remove_file(&img).with_context(|| format!("cannot remove {}", img.display()))?;
    }
    let bf = h.boot(
        disk,
        &Choice::Default,
        &format!("{tag}-no-image"),
        BOOT_TIMEOUT,
        &[INIT_ERROR],
    )?;
    rec.boots.push(bf);
    let bf = rec.boots.last().expect("just pushed");
    ensure!(
        !bf.booted(),
        bf.failure("booted although the erofs image is gone")
    );
    ensure!(
        bf.log.contains(INIT_ERROR),
        bf.failure("no clear initoverlayfs error on the console")
    );
    ensure!(
        bf.log.exit != crate::qemu::Exit::TimedOut,
        bf.failure("the failed boot hung until the timeout")
    );
    let fb = h.boot(
        disk,
        &Choice::Fallback,
        &format!("{tag}-fallback"),
        BOOT_TIMEOUT,
        &[],
    )?;
    rec.boots.push(fb);
    let fb = rec.boots.last().expect("just pushed");
    assert_plain(fb)?;
    assert_released(fb, disk)
}

/// Step 4 (+5) for fedora in pid1 mode: offline install from the host, boot
/// through initoverlayfs, then the failure path.
fn offline_fedora_pid1(h: &mut Harness, fedora: &Image, rec: &mut RunRecord) -> Result<()> {
    let fd = offline_install_and_boot(
        h,
        fedora,
        "fedora-4-offline-pid1",
        "pid1",
        &["--drivers", OFFLINE_DRIVERS],
        rec,
    )?;
    // The named drivers reached the boot: loaded up front, coldplug held back.
    let b = rec.boots.last().expect("just booted");
    let lines = init_lines(b);
    ensure!(
        lines
            .iter()
            .any(|l| l.contains("modules requested:") && l.contains("virtio_blk"))
            && lines.iter().any(|l| l.contains("coldplug: only if")),
        b.failure(&format!(
            "the pid1 boot did not load [boot] drivers first; its lines: {lines:#?}"
        ))
    );
    let through = rec.boots.len() - 1;
    failure_path(h, &fd, &FEDORA, &fedora.kver, "fedora-5", rec)?;
    let fallback = rec.boots.last().expect("just booted");
    assert_no_new_warnings(&rec.boots[through], fallback)
}

/// Step 4 (+5) for centos (xfs /boot) in systemd mode: offline install,
/// boot through initoverlayfs, offline rollback on a copy and a plain boot,
/// then the failure path.
fn offline_centos_systemd(h: &mut Harness, centos: &Image, rec: &mut RunRecord) -> Result<()> {
    let cd = offline_install_and_boot(h, centos, "centos-4-offline-systemd", "systemd", &[], rec)?;
    let rd = h.run_dir.join("centos-4-offline-rollback.raw");
    crate::image::copy_sparse(&cd, &rd)?;
    offline(
        h,
        &rd,
        &CENTOS,
        "centos-4-offline-rollback",
        &["--rollback", "-y"],
    )?;
    let b = h.boot(
        &rd,
        &Choice::Default,
        "centos-4-offline-rolled-back",
        BOOT_TIMEOUT,
        &[],
    )?;
    rec.boots.push(b);
    let rolled_back = rec.boots.last().expect("just pushed");
    assert_plain(rolled_back)?;
    assert_released(rolled_back, &rd)?;
    assert_no_new_warnings(&rec.boots[rec.boots.len() - 2], rolled_back)?;
    failure_path(h, &cd, &CENTOS, &centos.kver, "centos-5", rec)
}

/// Step 4 for centos (xfs /boot) in pid1 mode: offline install and a boot
/// through initoverlayfs that must let go of /boot like the others (the
/// release checks need both modes on both /boot filesystems).
fn offline_centos_pid1(h: &mut Harness, centos: &Image, rec: &mut RunRecord) -> Result<()> {
    offline_install_and_boot(
        h,
        centos,
        "centos-6-offline-pid1",
        "pid1",
        &["--drivers", OFFLINE_DRIVERS],
        rec,
    )
    .map(|_| ())
}

/// One independent group of steps.
type Group<'a> = dyn Fn(&mut Harness, &mut RunRecord) -> Result<()> + 'a;

/// The whole issue-5 run: builds the project (release) and both images,
/// then runs the four independent groups, each to its first failure:
/// `live` (fedora, steps 1–3), `fedora-pid1` and `centos-systemd` (steps
/// 4–5), `centos-pid1` (step 4); `$INITOVERLAYFS_VM_GROUPS` (comma-separated names) runs a subset. `rec` holds
/// what was measured even when a group fails.
///
/// Errors: every failed group's first failure, with console tails.
pub fn full(h: &mut Harness, rec: &mut RunRecord) -> Result<()> {
    project::build_release(&h.paths)?;
    let fedora = h.image(&FEDORA)?;
    let centos = h.image(&CENTOS)?;
    let mut failures = Vec::new();
    let groups: [(&str, &Group); 4] = [
        ("live", &|h, rec| live(h, &fedora, rec)),
        ("fedora-pid1", &|h, rec| {
            offline_fedora_pid1(h, &fedora, rec)
        }),
        ("centos-systemd", &|h, rec| {
            offline_centos_systemd(h, &centos, rec)
        }),
        ("centos-pid1", &|h, rec| {
            offline_centos_pid1(h, &centos, rec)
        }),
    ];
    let selected = std::env::var("INITOVERLAYFS_VM_GROUPS").unwrap_or_default();
    let selected: Vec<&str> = selected.split(',').filter(|g| !g.is_empty()).collect();
    for (name, group) in groups {
        if !selected.is_empty() && !selected.contains(&name) {
            eprintln!("vm: group {name}: not selected by INITOVERLAYFS_VM_GROUPS");
            continue;
        }
        let t = Instant::now();
        match group(h, rec) {
            Ok(()) => eprintln!(
                "vm: group {name}: passed in {:.0} s",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!(
                    "vm: group {name}: FAILED after {:.0} s: {e:#}",
                    t.elapsed().as_secs_f64()
                );
                failures.push(format!("{name}: {e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} groups failed:\n{}",
            failures.len(),
            groups.len(),
            failures.join("\n\n")
        );
    }
    Ok(())
}

/// The demo: the fedora scenario: a plain boot, then offline installs from
/// the host (as an image builder would: about a minute each) in systemd and
/// pid1 mode, each booted through initoverlayfs. The live in-guest install
/// (8+ minutes of dracut under TCG) is left to the `vm` test.
///
/// Errors: the first failure of each part, all of them reported.
pub fn demo(h: &mut Harness, rec: &mut RunRecord) -> Result<()> {
    project::build_release(&h.paths)?;
    let fedora = h.image(&FEDORA)?;
    let disk = h.copy(&fedora, "fedora-0-plain")?;
    let plain = h.boot(&disk, &Choice::Default, "fedora-0-plain", BOOT_TIMEOUT, &[])?;
    assert_plain(&plain)?;
    assert_released(&plain, &disk)?;
    rec.boots.push(plain.clone());
    let mut failures = Vec::new();
    for mode in ["systemd", "pid1"] {
        let name = format!("fedora-offline-{mode}");
        let r = offline_install_and_boot(h, &fedora, &name, mode, &[], rec)
            .and_then(|_| assert_no_new_warnings(rec.boots.last().expect("just booted"), &plain));
        if let Err(e) = r {
            eprintln!("demo: {name}: FAILED: {e:#}");
            failures.push(format!("{name}: {e:#}"));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sees_entries_and_initramfs_changes() {
        let dir = std::env::temp_dir().join(format!("iofs-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("loader/entries")).unwrap();
        std::fs::write(dir.join("loader/entries/m-6.1.conf"), "linux /vmlinuz\n").unwrap();
        std::fs::write(dir.join("initramfs-6.1.img"), "full").unwrap();
        std::fs::write(dir.join("vmlinuz-6.1"), "kernel").unwrap();
        let a = boot_snapshot(&dir).unwrap();
        assert_eq!(a.len(), 2, "{a:?}");
        std::fs::write(dir.join("initramfs-6.1.img"), "mini").unwrap();
        std::fs::write(dir.join("initoverlayfs-6.1.img"), "erofs").unwrap();
        let b = boot_snapshot(&dir).unwrap();
        assert_eq!(
            snapshot_diff(&a, &b),
            vec!["initramfs-6.1.img: changed", "initoverlayfs-6.1.img: added"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
