//! What one benchmark run records (`boot.json`): the VM shape, every
//! variant's host-side build (sizes, wall time), and every boot sample.

use serde::{Deserialize, Serialize};

use crate::bench::kmsg::Milestones;

/// The three things compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// (a) dracut's initramfs only.
    Dracut,
    /// (b) initoverlayfs, systemd mode.
    Systemd,
    /// (c) initoverlayfs, pid1 mode.
    Pid1,
}

impl Variant {
    /// All variants in boot order (a, b, c).
    pub const ALL: [Variant; 3] = [Variant::Dracut, Variant::Systemd, Variant::Pid1];

    /// The letter: `a`, `b`, `c`.
    pub fn letter(self) -> &'static str {
        match self {
            Variant::Dracut => "a",
            Variant::Systemd => "b",
            Variant::Pid1 => "c",
        }
    }

    /// A short name for tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Dracut => "dracut",
            Variant::Systemd => "initoverlayfs-systemd",
            Variant::Pid1 => "initoverlayfs-pid1",
        }
    }

    /// `(a) dracut` etc.
    pub fn label(self) -> String {
        format!("({}) {}", self.letter(), self.name())
    }

    /// The installer's `--init-mode` for the initoverlayfs variants.
    pub fn init_mode(self) -> Option<&'static str> {
        match self {
            Variant::Dracut => None,
            Variant::Systemd => Some("systemd"),
            Variant::Pid1 => Some("pid1"),
        }
    }
}

/// The fixed VM every boot runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmShape {
    /// `tcg` or `kvm`.
    pub accel: String,
    /// QEMU machine type.
    pub machine: String,
    /// vCPUs.
    pub smp: u32,
    /// Guest memory, MiB.
    pub memory_mib: u32,
    /// How the disk is attached.
    pub disk: String,
    /// Host CPUs online (the boots share them with everything else).
    pub host_cpus: usize,
}

/// One variant's host-side build for one payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The variant.
    pub variant: Option<Variant>,
    /// Payload, MiB.
    pub payload_mib: u64,
    /// Wall seconds of the build: one `dracut -f` for (a), the offline
    /// `initoverlayfs-install --root` for (b)/(c).
    pub seconds: Option<f64>,
    /// The dracut initramfs the boot loader loads in (a), bytes.
    pub dracut_initramfs_bytes: Option<u64>,
    /// The mini initramfs the boot loader loads in (b)/(c), bytes.
    pub mini_initramfs_bytes: Option<u64>,
    /// The erofs image on /boot in (b)/(c), bytes.
    pub erofs_image_bytes: Option<u64>,
    /// Why the variant was not built (then it is not booted).
    pub error: Option<String>,
}

/// One boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The variant booted.
    pub variant: Variant,
    /// Payload, MiB.
    pub payload_mib: u64,
    /// Round number (0-based; a round boots a, b, c once each).
    pub round: usize,
    /// The boot's label (its log is `LABEL.log` in the run dir).
    pub label: String,
    /// The harness saw the plain `VM-BOOT-OK` console line (it misses the
    /// line when a kernel message is printed onto the same console line;
    /// see [`Sample::finished`]).
    pub booted: bool,
    /// How QEMU ended.
    pub exit: String,
    /// Host wall seconds from QEMU start to exit.
    pub wall_s: f64,
    /// Bytes of the initrd the boot loader passed.
    pub initrd_bytes: u64,
    /// The milestones (kernel timestamps, seconds).
    pub milestones: Milestones,
    /// Host seconds from QEMU's start to the kernel's start (firmware,
    /// kernel and initrd load), from host arrival times of console lines
    /// ([`crate::bench::shim::kernel_start`]); `None` if not recorded.
    #[serde(default)]
    pub pre_kernel_s: Option<f64>,
    /// Consecutive phases up to `t_root` ([`crate::bench::kmsg::PHASES`]).
    pub phases: Option<Vec<f64>>,
    /// The serial log.
    pub log: String,
}

impl Sample {
    /// The boot finished: the marker's `VM-BOOT-OK` reached the console or
    /// its kernel-log copy (`t_ok`) did.
    pub fn finished(&self) -> bool {
        self.booted || self.milestones.t_ok.is_some()
    }

    /// `t_initrd`, `t_root`, `t_ok` of a finished boot (all `None` if the
    /// boot did not finish: a failed boot has no time).
    pub fn times(&self) -> [Option<f64>; 3] {
        if !self.finished() {
            return [None; 3];
        }
        let m = &self.milestones;
        [m.t_initrd, m.t_root, m.t_ok]
    }
}

/// Everything a run measured: `boot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// UTC start time (RFC 3339, from `date -u`).
    pub started: String,
    /// The guest's kernel release.
    pub kver: String,
    /// The VM shape.
    pub vm: VmShape,
    /// Payload sizes, MiB, in run order.
    pub payloads: Vec<u64>,
    /// Boots per variant and payload requested.
    pub boots: usize,
    /// Builds, one per variant and payload.
    pub builds: Vec<Build>,
    /// Every boot, in boot order.
    pub samples: Vec<Sample>,
    /// Things a reader must know (skipped variants, shims).
    pub notes: Vec<String>,
}

impl Report {
    /// The samples of `v` at `payload` (finished or not).
    pub fn samples_of(&self, v: Variant, payload: u64) -> impl Iterator<Item = &Sample> {
        self.samples
            .iter()
            .filter(move |s| s.variant == v && s.payload_mib == payload)
    }

    /// The build of `v` at `payload`.
    pub fn build_of(&self, v: Variant, payload: u64) -> Option<&Build> {
        self.builds
            .iter()
            .find(|b| b.variant == Some(v) && b.payload_mib == payload)
    }
}
