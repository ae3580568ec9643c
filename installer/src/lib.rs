//! Installs initoverlayfs: detection, compatibility check, BLS entries, rollback.
//!
//! The binary `initoverlayfs-install` is a dispatch over [`cli::Cli`]; every
//! step lives in its own module here.

pub mod bls;
pub mod fstab;
pub mod kconfig;
pub mod mountinfo;
pub mod osrelease;
pub mod rpmvercmp;
