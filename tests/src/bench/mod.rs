//! The boot-time benchmark (issue 7): the fedora scenario booted with
//! (a) dracut's initramfs, (b) initoverlayfs in systemd mode and (c) in
//! pid1 mode, each with 0–1024 MiB of unread, incompressible payload in the
//! initrd content, interleaved boots, kernel-timestamp milestones from the
//! serial console; writes `boot.json`, `boot.md` and `boot.png`.
//!
//! Built on the harness's public API ([`crate::harness`], [`crate::image`],
//! [`crate::serial`]); a benchmark, not a test: it prints numbers and never
//! fails on them.

pub mod cli;
pub mod grow;
pub mod kmsg;
pub mod output;
pub mod payload;
pub mod plot;
pub mod prepare;
pub mod record;
pub mod render;
pub mod run;
pub mod shim;
pub mod stats;
