//! Property tests of the installer's parsers of system files: arbitrary and
//! mutated input never panics, and the BLS entries we rewrite read back the
//! same.
//!
//! 10 000 cases per property by default; `PROPTEST_CASES=1000000 cargo test
//! -p initoverlayfs-install --test fuzz --release` is the longer run.

use initoverlayfs_install::bls::Entry;
use initoverlayfs_install::kconfig::KernelConfig;
use initoverlayfs_install::osrelease::OsRelease;
use initoverlayfs_install::{conf, fstab, mountinfo};
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    ProptestConfig {
        cases: n,
        // Nothing written into the source tree; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const FSTAB: &str = "# /etc/fstab\nUUID=2b1f7a3c-0c5e-4d43 / btrfs subvol=root,compress=zstd:1 0 0\n\
UUID=aa-bb /boot ext4 defaults 1 2   # boot partition\nLABEL=my\\040boot /boot/efi vfat umask=0077,shortname=winnt 0 2\n\
/dev/mapper/swap none swap defaults 0 0\n";
const MOUNTINFO: &str =
    "22 1 252:3 /root / rw,relatime shared:1 - btrfs /dev/vda3 rw,subvolid=256,subvol=/root\n\
61 22 252:2 / /boot rw,relatime shared:31 - ext4 /dev/vda2 rw\n\
62 61 252:1 / /boot/efi rw,relatime shared:32 - vfat /dev/vda1 rw,fmask=0077\n";
const ENTRY: &str = "title Fedora Linux (6.8.5-301.fc40.x86_64) 40 (Workstation Edition)\n\
version 6.8.5-301.fc40.x86_64\nlinux /vmlinuz-6.8.5-301.fc40.x86_64\n\
initrd /initramfs-6.8.5-301.fc40.x86_64.img\noptions root=UUID=x ro rhgb quiet\n\
grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class fedora\n";
const UPSTREAM: &str = "bootfs UUID=aa-bb\nbootfs_hint /dev/vda2\nbootfstype ext4\n\
initoverlayfs_builder dracut -N -f -v -M --reproducible -o \"initoverlayfs\"\n\
initrd_builder dracut -N -f -v -M --reproducible -m \"kernel-modules udev-rules initoverlayfs systemd base\" -o \"bash systemd-initrd i18n kernel-modules-extra\"\n\
udev_trigger udevadm trigger --type=devices --action=add --subsystem-match=module --subsystem-match=block\n\
erofs_compression -z lz4hc\n";

/// `text` with `edits` applied: (position, byte) pairs, each replacing,
/// inserting or deleting one byte (chosen by the byte's low bits).
fn mutate(text: &str, edits: &[(usize, u8)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(pos, byte) in edits {
        let i = pos % (b.len() + 1);
        match byte % 3 {
            0 if i < b.len() => b[i] = byte,
            1 => b.insert(i, byte),
            _ if i < b.len() => {
                b.remove(i);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)
}

/// Reads `text` with every parser.
fn parse_all(text: &str) {
    let f = fstab::parse(text);
    let _ = fstab::find(&f.entries, "/boot");
    let m = mountinfo::parse(text);
    let _ = mountinfo::find(&m.mounts, "/boot");
    if let Ok(e) = Entry::parse(text) {
        let _ = (e.get("linux"), e.to_string());
    }
    let _ = OsRelease::parse(text);
    let _ = KernelConfig::parse(text);
    let _ = conf::parse_upstream(text);
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        parse_all(&text);
    }

    #[test]
    fn mutated_system_files_never_panic(e in edits()) {
        for base in [FSTAB, MOUNTINFO, ENTRY, UPSTREAM] {
            parse_all(&mutate(base, &e));
        }
    }

    #[test]
    fn entries_read_back_after_a_rewrite(e in edits(), initrd in "/[a-z0-9._-]{1,30}") {
        if let Ok(mut entry) = Entry::parse(&mutate(ENTRY, &e)) {
            entry.set("initrd", &initrd);
            let text = entry.to_string();
            let again = Entry::parse(&text).unwrap();
            prop_assert_eq!(again.get("initrd"), Some(initrd.as_str()));
            prop_assert_eq!(again.to_string(), text);
        }
    }
}
