//! RPM file list and pure-Rust RPM builds.
//!
//! [`files`] is the single list of installed files shared by the spec, the
//! pure-Rust RPM builds and the VM test.

pub mod cli;
pub mod docs;
pub mod elf;
pub mod files;
pub mod install;
pub mod licenses;
#[cfg(feature = "rpm-crate")]
pub mod rpms;
pub mod spec;

pub use files::{files, FileEntry, Kind, Source, Subpackage};
