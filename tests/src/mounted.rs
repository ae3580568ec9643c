//! A guest disk image mounted on the host: root filesystem (its subvolume)
//! at a directory, the /boot partition on `DIR/boot`; everything unmounted
//! and detached on drop, in reverse order.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::disk::{self, Partition, TYPE_LINUX, TYPE_ROOT_X86_64};
use crate::loopdev::LoopDevice;
use crate::mount::Mount;

/// The partitions of a Fedora-layout disk image.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The /boot partition (type 8300).
    pub boot: Partition,
    /// The root partition (type 8304).
    pub root: Partition,
}

impl Layout {
    /// Finds /boot and root in `parts` by their GPT types.
    ///
    /// Errors: either is missing.
    pub fn find(parts: &[Partition]) -> Result<Layout> {
        let by_type = |t: &str| {
            parts
                .iter()
                .find(|p| p.type_guid == t)
                .cloned()
                .with_context(|| format!("no partition of type {t}"))
        };
        Ok(Layout {
            boot: by_type(TYPE_LINUX)?,
            root: by_type(TYPE_ROOT_X86_64)?,
        })
    }

    /// Reads the layout of the disk image at `disk`.
    pub fn read(disk: &Path) -> Result<Layout> {
        Layout::find(&disk::read_table(disk)?)
    }
}

/// A mounted guest. Fields are released in reverse order of acquisition
/// by the [`Drop`] impl.
#[derive(Debug)]
pub struct MountedGuest {
    boot_mount: Option<Mount>,
    root_mount: Option<Mount>,
    boot_loop: Option<LoopDevice>,
    root_loop: Option<LoopDevice>,
    dir: PathBuf,
}

impl MountedGuest {
    /// Mounts the guest on `dir` (created; removed again on drop if empty):
    /// the root partition with `root_options` (e.g. `subvol=root`), /boot on
    /// `dir/boot`. Filesystem types are read from the superblocks.
    ///
    /// Errors: partition table, loop device or mount failures.
    pub fn mount(disk: &Path, dir: &Path, root_options: &str) -> Result<MountedGuest> {
        let layout = Layout::read(disk)?;
        let mut g = MountedGuest {
            boot_mount: None,
            root_mount: None,
            boot_loop: None,
            root_loop: None,
            dir: dir.to_path_buf(),
        };
        let root_loop = disk::attach(disk, &layout.root)?;
        let root_type = disk::fs_type(root_loop.path())?;
        g.root_mount = Some(Mount::new(root_loop.path(), dir, &root_type, root_options)?);
        g.root_loop = Some(root_loop);
        let boot_loop = disk::attach(disk, &layout.boot)?;
        let boot_type = disk::fs_type(boot_loop.path())?;
        g.boot_mount = Some(Mount::new(
            boot_loop.path(),
            &dir.join("boot"),
            &boot_type,
            "",
        )?);
        g.boot_loop = Some(boot_loop);
        Ok(g)
    }

    /// The guest's `/` on the host.
    pub fn root(&self) -> &Path {
        &self.dir
    }

    /// The guest's `/boot` on the host.
    pub fn boot(&self) -> PathBuf {
        self.dir.join("boot")
    }

    /// The loop device of the /boot partition.
    pub fn boot_device(&self) -> &Path {
        self.boot_loop.as_ref().expect("mounted").path()
    }

    /// The loop device of the root partition.
    pub fn root_device(&self) -> &Path {
        self.root_loop.as_ref().expect("mounted").path()
    }
}

impl Drop for MountedGuest {
    fn drop(&mut self) {
        rustix::fs::sync();
        drop(self.boot_mount.take());
        drop(self.root_mount.take());
        drop(self.boot_loop.take());
        drop(self.root_loop.take());
        // Never recursive: if an unmount failed, guest files stay untouched.
        let _ = std::fs::remove_dir(&self.dir);
    }
}
