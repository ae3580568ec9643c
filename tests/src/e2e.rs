//! The end-to-end run of issue 5 on the harness.

use std::time::Duration;

use anyhow::{ensure, Result};

use crate::bootloader::Choice;
use crate::harness::{Boot, Harness};
use crate::scenario::FEDORA;

/// Timeout of a plain boot under TCG (a boot takes 35–60 s here).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

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
