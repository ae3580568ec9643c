//! Installs initoverlayfs: detection, compatibility check, BLS entries, rollback.
//!
//! The binary `initoverlayfs-install` is a dispatch over [`cli::Cli`]; every
//! step lives in its own module here.

pub mod atomic;
pub mod bls;
pub mod bootfs;
pub mod check;
pub mod check_cmd;
pub mod cli;
pub mod compression;
pub mod conf;
pub mod crash;
pub mod detect;
pub mod drivers;
pub mod entries;
pub mod fstab;
pub mod initramfs;
pub mod install;
pub mod interactive;
pub mod journal;
pub mod kconfig;
pub mod kernel;
pub mod kver;
pub mod layout;
pub mod loader;
pub mod lock;
pub mod mountinfo;
pub mod newentry;
pub mod osrelease;
pub mod plan;
pub mod rollback;
pub mod rollback_cmd;
pub mod rpmvercmp;
pub mod space;
pub mod target;
pub mod tools;
pub mod trial;
pub mod trial_cmd;
