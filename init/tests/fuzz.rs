//! Property tests of the boot-time parsers: arbitrary and mutated input never
//! panics (the program runs as pid 1, where a panic is a kernel panic), and
//! what the installer writes reads back the same.
//!
//! 10 000 cases per property by default; `PROPTEST_CASES=1000000 cargo test
//! -p initoverlayfs --test fuzz --release` is the longer run.

use initoverlayfs::cmdline;
use initoverlayfs::config::{Config, MAX_TIMEOUT_SECONDS};
use initoverlayfs::spec::DeviceSpec;
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

/// A config as the installer writes one.
const WRITTEN: &str = r#"[boot]
bootfs = "UUID=1a3a6db4-a7c2-43e5-bed5-9385f26c68ff"
bootfs_hint = "/dev/vda2"
bootfstype = "ext4"
drivers = ["virtio_pci", "virtio_blk"]
timeout = 30
[image]
path = "/initoverlayfs-{kver}.img"
fstype = "erofs"
compression = "lz4hc"
[init]
mode = "pid1"
"#;

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

/// Device specs of every kind, with values as blkid may report them (labels
/// with spaces, even at either end, and quotes).
fn spec() -> impl Strategy<Value = DeviceSpec> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}".prop_map(DeviceSpec::Uuid),
        "[A-Za-z0-9 _'\"-]{1,16}".prop_map(DeviceSpec::Label),
        "[0-9a-f]{8}-0[1-9]".prop_map(DeviceSpec::PartUuid),
        "[A-Za-z0-9 _-]{1,16}".prop_map(DeviceSpec::PartLabel),
        "/dev/[a-z]{2,4}[0-9]".prop_map(DeviceSpec::Path),
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn config_text_never_panics(text in any::<String>()) {
        let _ = Config::from_toml_str(&text);
    }

    #[test]
    fn mutated_config_never_panics(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let _ = Config::from_toml_str(&mutate(WRITTEN, &edits));
    }

    #[test]
    fn cmdline_never_panics(text in any::<String>()) {
        let o = cmdline::parse(&text);
        let mut c = Config::default();
        o.apply(&mut c);
    }

    #[test]
    fn mutated_cmdline_never_panics(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let line = "BOOT_IMAGE=/vmlinuz root=UUID=x ro rd.initoverlayfs.bootfs=\"LABEL=my boot\" \
                    rd.initoverlayfs.timeout=5 rd.initoverlayfs.debug quiet";
        let _ = cmdline::parse(&mutate(line, &edits));
    }

    #[test]
    fn device_specs_round_trip(spec in spec()) {
        prop_assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
    }

    #[test]
    fn device_spec_text_never_panics(text in any::<String>()) {
        if let Ok(s) = text.parse::<DeviceSpec>() {
            let _ = (s.udev_links(), s.canonical(), s.names_same(&s));
        }
    }

    #[test]
    fn written_configs_read_back(
        bootfs in spec(),
        timeout in 0..=MAX_TIMEOUT_SECONDS,
        drivers in prop::collection::vec("[a-z][a-z0-9_]{0,15}", 0..4),
        pid1 in any::<bool>(),
    ) {
        let mut c = Config::from_toml_str(WRITTEN).unwrap();
        c.boot.bootfs = Some(bootfs.to_string());
        c.boot.timeout = timeout;
        c.boot.drivers = drivers;
        c.init.mode = if pid1 { "pid1" } else { "systemd" }.parse().unwrap();
        let text = c.to_toml_string().unwrap();
        prop_assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    }
}
