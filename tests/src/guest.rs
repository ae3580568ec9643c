//! What the harness writes into a guest root tree to make it a bootable,
//! self-reporting Fedora-layout machine: fstab by UUID, machine-id,
//! hostname, the BLS entry as Fedora's kernel-install writes it, and the
//! marker unit that reports a finished boot on the serial console, runs a
//! one-shot action and powers off.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::scenario::Scenario;

/// Bumped when the code of this module changes what it writes (part of
/// the image cache key, with [`fingerprint`]).
pub const GUEST_LAYOUT_VERSION: &str = "guest-1";

/// What the image cache key covers of this module: its version and the
/// marker script and unit texts (so editing them rebuilds the images).
pub fn fingerprint() -> String {
    format!("{GUEST_LAYOUT_VERSION}\n{MARKER_SCRIPT}\n{MARKER_UNIT}")
}

/// The line the marker unit prints once the guest finished booting.
pub const BOOT_OK: &str = "VM-BOOT-OK";
/// Guest path of the one-shot action the marker runs after [`BOOT_OK`]
/// (an executable; renamed away before it runs, so it runs once).
pub const ACTION_PATH: &str = "var/lib/vm-test/action";
/// Printed before the action's output.
pub const ACTION_BEGIN: &str = "VM-ACTION-BEGIN";
/// Printed after the action's output, followed by ` rc=N`.
pub const ACTION_END: &str = "VM-ACTION-END";
/// Prefix of the kernel log lines the marker copies to the console.
pub const DMESG_PREFIX: &str = "VM-DMESG: ";

const MARKER_SCRIPT: &str = r#"#!/bin/sh
# vm-test marker: waits until the boot finished, reports it on the serial
# console, runs the one-shot action (if any) and powers the guest off.
exec >/dev/ttyS0 2>&1
i=0
while ! systemd-analyze time >/dev/null 2>&1 && [ "$i" -lt 600 ]; do
    i=$((i + 1))
    sleep 0.2
done
echo "<2>vm-test: VM-BOOT-OK" >/dev/kmsg
echo "VM-BOOT-OK"
systemd-analyze time
echo "VM-ROOT: $(findmnt -no SOURCE,FSTYPE,OPTIONS /)"
echo "VM-BOOTFS: $(findmnt -no SOURCE,FSTYPE /boot)"
echo "VM-CMDLINE: $(cat /proc/cmdline)"
echo "VM-FAILED-UNITS: $(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
dmesg | grep -E 'initoverlayfs|Switching root|running in system mode|Running in initrd|vm-test:' | sed 's/^/VM-DMESG: /'
# Did the boot let go of /boot? (tests/src/release.rs reads these)
echo "VM-LOOPS: $(for f in /sys/block/loop*/loop/backing_file; do [ -r "$f" ] && cat "$f"; done | tr '\n' ' ')"
echo "VM-EROFS: $(ls /sys/fs/erofs 2>/dev/null | grep -vx features | tr '\n' ' ')"
echo "VM-FSCK: $(journalctl -b -o cat --no-pager -u 'systemd-fsck@*' | tr '\n' '|' | sed 's/|/ | /g')"
journalctl -b -p warning -o cat --no-pager | sed 's/^/VM-WARN: /'
if umount -R /boot && mount /boot && mount -a; then
    echo "VM-BOOT-REMOUNT: ok"
else
    echo "VM-BOOT-REMOUNT: failed"
fi
if [ -x /var/lib/vm-test/action ]; then
    mv /var/lib/vm-test/action /var/lib/vm-test/action.running
    echo "VM-ACTION-BEGIN"
    start=$(date +%s.%N)
    /var/lib/vm-test/action.running
    rc=$?
    end=$(date +%s.%N)
    echo "VM-ACTION-END rc=$rc seconds=$(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')"
    mv /var/lib/vm-test/action.running /var/lib/vm-test/action.done
fi
sync
systemctl poweroff
"#;

const MARKER_UNIT: &str = "[Unit]
Description=VM test marker: report the finished boot on ttyS0, run the one-shot action, power off
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/libexec/vm-boot-ok

[Install]
WantedBy=multi-user.target
";

/// Facts about one guest disk that go into its configuration.
#[derive(Debug, Clone)]
pub struct GuestFacts<'a> {
    /// The layout.
    pub scenario: &'a Scenario,
    /// Kernel release installed in the tree.
    pub kver: &'a str,
    /// Filesystem UUIDs of the ESP (vfat, `XXXX-XXXX`), /boot and root.
    pub esp_uuid: &'a str,
    /// /boot filesystem UUID.
    pub boot_uuid: &'a str,
    /// Root filesystem UUID.
    pub root_uuid: &'a str,
    /// The machine id (32 lower-case hex digits).
    pub machine_id: &'a str,
}

/// A fresh random machine id (32 hex digits, from the kernel's UUID source).
pub fn new_machine_id() -> Result<String> {
    let uuid =
        fs::read_to_string("/proc/sys/kernel/random/uuid").context("cannot read a random uuid")?;
    Ok(uuid.trim().replace('-', ""))
}

/// The guest's `/etc/fstab`: /, /boot and /boot/efi by UUID.
pub fn fstab(f: &GuestFacts) -> String {
    let s = f.scenario;
    let root_opts = match s.root_mount_options().as_str() {
        "" => "defaults".to_string(),
        o => format!("defaults,{o}"),
    };
    format!(
        "# Written by the initoverlayfs VM test (layout {name}).\n\
         UUID={root} / {rootfs} {root_opts} 0 {root_pass}\n\
         UUID={boot} /boot {bootfs} defaults 1 2\n\
         UUID={esp} /boot/efi vfat umask=0077,shortname=winnt 0 2\n",
        name = s.name,
        root = f.root_uuid,
        rootfs = s.root_fs.name(),
        root_pass = if s.root_fs == crate::scenario::Fs::Ext4 {
            1
        } else {
            0
        },
        boot = f.boot_uuid,
        bootfs = s.boot_fs.name(),
        esp = f.esp_uuid,
    )
}

/// The file name of the BLS entry: `MACHINEID-KVER.conf`.
pub fn bls_entry_name(f: &GuestFacts) -> String {
    format!("{}-{}.conf", f.machine_id, f.kver)
}

/// The BLS entry as Fedora's kernel-install writes it (paths relative to the
/// /boot filesystem).
pub fn bls_entry(f: &GuestFacts) -> String {
    format!(
        "title Debian GNU/Linux ({kver}) 12 (bookworm)\n\
         version {kver}\n\
         linux /vmlinuz-{kver}\n\
         initrd /initramfs-{kver}.img\n\
         options {options}\n\
         grub_users $grub_users\n\
         grub_arg --unrestricted\n\
         grub_class debian\n",
        kver = f.kver,
        options = f.scenario.kernel_options(f.root_uuid),
    )
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", p.display()))
}

fn link(root: &Path, rel: &str, target: &str) -> Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let _ = fs::remove_file(&p);
    symlink(target, &p).with_context(|| format!("cannot link {} -> {target}", p.display()))
}

/// Writes the guest configuration into `root` (the guest's `/`, with its
/// /boot partition mounted on `root/boot`).
///
/// Errors: any file cannot be written.
pub fn configure(root: &Path, f: &GuestFacts) -> Result<()> {
    write(root, "etc/fstab", &fstab(f), 0o644)?;
    write(
        root,
        "etc/machine-id",
        &format!("{}\n", f.machine_id),
        0o444,
    )?;
    write(
        root,
        "etc/hostname",
        &format!("iofs-{}\n", f.scenario.name),
        0o644,
    )?;
    fs::create_dir_all(root.join("boot/efi")).context("cannot create /boot/efi")?;
    // With console=ttyS0 the serial getty's vhangup() swallows the marker's output.
    link(
        root,
        "etc/systemd/system/serial-getty@ttyS0.service",
        "/dev/null",
    )?;
    link(
        root,
        "etc/systemd/system/default.target",
        "/usr/lib/systemd/system/multi-user.target",
    )?;
    write(root, "usr/local/libexec/vm-boot-ok", MARKER_SCRIPT, 0o755)?;
    write(
        root,
        "etc/systemd/system/vm-boot-ok.service",
        MARKER_UNIT,
        0o644,
    )?;
    link(
        root,
        "etc/systemd/system/multi-user.target.wants/vm-boot-ok.service",
        "/etc/systemd/system/vm-boot-ok.service",
    )?;
    fs::create_dir_all(root.join("var/lib/vm-test")).context("cannot create /var/lib/vm-test")?;
    write(
        root,
        &format!("boot/loader/entries/{}", bls_entry_name(f)),
        &bls_entry(f),
        0o644,
    )?;
    write(
        root,
        "etc/kernel/cmdline",
        &format!("{}\n", f.scenario.kernel_options(f.root_uuid)),
        0o644,
    )?;
    Ok(())
}

/// Installs `script` (a shell script body) as the one-shot action the marker
/// runs after the next [`BOOT_OK`].
pub fn set_action(root: &Path, script: &str) -> Result<()> {
    write(root, ACTION_PATH, &format!("#!/bin/sh\n{script}\n"), 0o755)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{CENTOS, FEDORA};

    fn facts(s: &Scenario) -> GuestFacts<'_> {
        GuestFacts {
            scenario: s,
            kver: "6.1.0-50-amd64",
            esp_uuid: "ABCD-1234",
            boot_uuid: "b-uuid",
            root_uuid: "r-uuid",
            machine_id: "0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn fedora_fstab_and_entry() {
        let f = facts(&FEDORA);
        let t = fstab(&f);
        assert!(
            t.contains("UUID=r-uuid / btrfs defaults,subvol=root 0 0\n"),
            "{t}"
        );
        assert!(t.contains("UUID=b-uuid /boot ext4 defaults 1 2\n"), "{t}");
        assert!(t.contains("UUID=ABCD-1234 /boot/efi vfat"), "{t}");
        assert_eq!(
            bls_entry_name(&f),
            "0123456789abcdef0123456789abcdef-6.1.0-50-amd64.conf"
        );
        let e = crate::bls::parse_entry(&bls_entry_name(&f), &bls_entry(&f)).unwrap();
        assert_eq!(e.linux, "/vmlinuz-6.1.0-50-amd64");
        assert_eq!(e.initrd, vec!["/initramfs-6.1.0-50-amd64.img"]);
        assert!(e.options.contains("rootflags=subvol=root"));
        assert!(e.other.contains(&("grub_class".into(), "debian".into())));
    }

    #[test]
    fn centos_fstab() {
        let t = fstab(&facts(&CENTOS));
        assert!(t.contains("UUID=r-uuid / xfs defaults 0 0\n"), "{t}");
        assert!(t.contains("/boot xfs defaults"), "{t}");
    }
}
