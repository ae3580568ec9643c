//! End-to-end VM test and boot benchmark.
//!
//! The harness builds Fedora-layout Debian 12 guests on raw GPT disk images
//! (see [`scenario`]), plays the BLS boot loader ([`bls`]) and boots them
//! with QEMU direct kernel boot ([`qemu`]), reading the serial console
//! ([`serial`]). [`e2e`] is the end-to-end run of issue 5; the `demo` binary
//! and the `vm` integration test call it, and a benchmark can reuse the same
//! pieces ([`image`], [`bootloader`], [`qemu`]).
//!
//! Everything privileged (loop devices, mounts) happens on files under the
//! cargo target directory, behind RAII guards ([`loopdev`], [`mount`]).

pub mod bench;
pub mod bls;
pub mod bootloader;
pub mod cache;
pub mod cli;
pub mod disk;
pub mod e2e;
pub mod guest;
pub mod harness;
pub mod image;
pub mod loopdev;
pub mod mount;
pub mod mounted;
pub mod paths;
pub mod preflight;
pub mod project;
pub mod qemu;
pub mod release;
pub mod report;
pub mod rootfs;
pub mod scenario;
pub mod serial;
