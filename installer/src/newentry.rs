//! Creating the BLS entry of a kernel that has none yet (image builders,
//! first boot), the way kernel-install's `90-loaderentry.install` does.

use anyhow::{bail, Result};
use initoverlayfs::spec::DeviceSpec;

use crate::bls::Entry;
use crate::layout::{BootRoot, Layout};
use crate::osrelease::OsRelease;
use crate::target::Target;

/// The kernel command line for a new entry and where it came from:
/// `/etc/kernel/cmdline`, `/usr/lib/kernel/cmdline`, live `/proc/cmdline`
/// (without `BOOT_IMAGE=`/`initrd=`), else offline `root=SPEC ro` (+
/// `rootflags=subvol=…` or `subvolid=…` for a btrfs subvolume) from the
/// target's fstab, so nothing of the build host leaks into the entry.
///
/// Errors: offline, no cmdline file and no `/` line in the fstab.
pub fn cmdline(target: &Target, layout: &Layout) -> Result<(String, String)> {
    for p in ["/etc/kernel/cmdline", "/usr/lib/kernel/cmdline"] {
        if let Some(t) = target.read_opt(p)? {
            let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if !t.is_empty() {
                return Ok((t, p.to_string()));
            }
        }
    }
    if target.live {
        let t = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let t: Vec<&str> = t
            .split_whitespace()
            .filter(|w| !w.starts_with("BOOT_IMAGE=") && !w.starts_with("initrd="))
            .collect();
        return Ok((t.join(" "), "/proc/cmdline".into()));
    }
    let Some(root) = &layout.root else {
        bail!("no kernel command line for a new boot entry: create /etc/kernel/cmdline in the target (its fstab has no / line either)");
    };
    // The spec as the shared parser writes it (`UUID='…'` unquoted, as
    // libblkid reads fstab), in kernel quotes when it holds a space.
    let spec = root
        .source
        .parse::<DeviceSpec>()
        .map_or_else(|_| root.source.clone(), |s| s.to_string());
    let mut c = if spec.contains(char::is_whitespace) {
        format!("root=\"{spec}\" ro")
    } else {
        format!("root={spec} ro")
    };
    // The btrfs subvolume however the fstab names it (subvol= or subvolid=).
    if let Some(o) = &root.options {
        c.push_str(&format!(" rootflags={o}"));
    }
    Ok((c, "/etc/fstab".into()))
}

/// Where a new entry's kernel is: (entry path of the kernel, optional copy
/// (source, destination) as target paths when it must first be copied to `$BOOT`).
///
/// Errors: no kernel image for `kver` anywhere.
pub fn kernel_image(
    target: &Target,
    boot: &BootRoot,
    token: Option<&str>,
    kver: &str,
) -> Result<(String, Option<(String, String)>)> {
    let m = boot.mount.trim_end_matches('/');
    let mut cands = vec![format!("{m}/vmlinuz-{kver}")];
    if let Some(t) = token {
        cands.push(format!("{m}/{t}/{kver}/linux"));
    }
    for c in &cands {
        if target.path(c)?.is_file() {
            if let Some(e) = boot.entry_path(c) {
                return Ok((e, None));
            }
        }
    }
    let src = format!("/usr/lib/modules/{kver}/vmlinuz");
    if target.path(&src)?.is_file() {
        let dst = cands[0].clone();
        let e = boot
            .entry_path(&dst)
            .unwrap_or_else(|| format!("/vmlinuz-{kver}"));
        return Ok((e, Some((src, dst))));
    }
    bail!(
        "no kernel image for {kver}: none of {} nor {src} exists",
        cands.join(", ")
    )
}

/// The new entry, with kernel-install's keys and order.
pub fn make(
    os: &OsRelease,
    kver: &str,
    machine_id: Option<&str>,
    options: &str,
    linux: &str,
    initrd: &str,
) -> Entry {
    let mut text = format!("title {} ({kver})\nversion {kver}\n", os.pretty_name());
    if let Some(id) = machine_id {
        text.push_str(&format!("machine-id {id}\n"));
    }
    if let Some(k) = os.get("IMAGE_ID").or(os.get("ID")) {
        text.push_str(&format!("sort-key {k}\n"));
    }
    text.push_str(&format!(
        "options {options}\nlinux {linux}\ninitrd {initrd}\n"
    ));
    Entry::parse(&text).expect("generated entries are well-formed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fstab, layout};

    fn offline_cmdline(fstab_text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::new(Some(dir.path())).unwrap();
        let l = layout::classify(
            &layout::mounts_from_fstab(&fstab::parse(fstab_text).entries),
            false,
        );
        cmdline(&target, &l).unwrap().0
    }

    #[test]
    fn offline_root_is_written_as_boot_reads_it() {
        assert_eq!(
            offline_cmdline(
                "UUID='aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' / btrfs subvol=root 0 0\n"
            ),
            "root=UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee ro rootflags=subvol=root"
        );
        assert_eq!(
            offline_cmdline("UUID=r / btrfs subvolid=256,compress=zstd 0 0\n"),
            "root=UUID=r ro rootflags=subvolid=256"
        );
        assert_eq!(
            offline_cmdline("LABEL=my\\040root / ext4 defaults 1 1\n"),
            "root=\"LABEL=my root\" ro"
        );
    }
}
