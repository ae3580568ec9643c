//! The guest layouts: which filesystems hold /boot and /, as Fedora and
//! CentOS Stream install them by default (minus LVM).

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use initoverlayfs::cmd::CommandRunExt;

/// A filesystem type the harness can create on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// btrfs.
    Btrfs,
}

impl Fs {
    /// The kernel / fstab name.
    pub fn name(self) -> &'static str {
        match self {
            Fs::Ext4 => "ext4",
            Fs::Xfs => "xfs",
            Fs::Btrfs => "btrfs",
        }
    }

    /// Creates the filesystem on `dev` with `label`.
    ///
    /// Errors: the `mkfs.*` tool fails.
    pub fn mkfs(self, dev: &Path, label: &str) -> Result<()> {
        let mut cmd = match self {
            Fs::Ext4 => {
                let mut c = Command::new("mkfs.ext4");
                c.args(["-q", "-F", "-L", label]);
                c
            }
            Fs::Xfs => {
                let mut c = Command::new("mkfs.xfs");
                c.args(["-q", "-f", "-L", label]);
                c
            }
            Fs::Btrfs => {
                let mut c = Command::new("mkfs.btrfs");
                c.args(["-q", "-f", "-L", label]);
                c
            }
        };
        cmd.arg(dev).run()
    }
}

/// One guest layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Short name, used in file names and reports.
    pub name: &'static str,
    /// Filesystem of the /boot partition.
    pub boot_fs: Fs,
    /// Filesystem of the root partition.
    pub root_fs: Fs,
    /// btrfs subvolume holding `/`, if any (`rootflags=subvol=…`).
    pub root_subvol: Option<&'static str>,
    /// Filesystem label of the root filesystem.
    pub root_label: &'static str,
}

/// Fedora Workstation's default: ext4 /boot, btrfs / on subvolume `root`.
pub const FEDORA: Scenario = Scenario {
    name: "fedora",
    boot_fs: Fs::Ext4,
    root_fs: Fs::Btrfs,
    root_subvol: Some("root"),
    root_label: "fedora",
};

/// CentOS Stream's default without LVM: xfs /boot, xfs /.
pub const CENTOS: Scenario = Scenario {
    name: "centos",
    boot_fs: Fs::Xfs,
    root_fs: Fs::Xfs,
    root_subvol: None,
    root_label: "cs_root",
};

impl Scenario {
    /// Mount options for `/` (host mount, fstab and `rootflags=`): e.g.
    /// `subvol=root`, or empty.
    pub fn root_mount_options(&self) -> String {
        self.root_subvol
            .map(|s| format!("subvol={s}"))
            .unwrap_or_default()
    }

    /// The kernel command line of the scenario's BLS entry, for a root
    /// filesystem with UUID `root_uuid`.
    pub fn kernel_options(&self, root_uuid: &str) -> String {
        let mut o = format!("root=UUID={root_uuid} ro");
        if let Some(s) = self.root_subvol {
            o.push_str(&format!(" rootflags=subvol={s}"));
        }
        o.push_str(" console=ttyS0");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fedora_cmdline_has_subvol() {
        assert_eq!(
            FEDORA.kernel_options("abc"),
            "root=UUID=abc ro rootflags=subvol=root console=ttyS0"
        );
        assert_eq!(CENTOS.kernel_options("x"), "root=UUID=x ro console=ttyS0");
        assert_eq!(FEDORA.root_mount_options(), "subvol=root");
        assert_eq!(CENTOS.root_mount_options(), "");
    }
}
