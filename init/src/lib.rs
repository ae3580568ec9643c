//! initoverlayfs boot-time library.
//!
//! Holds the pieces the boot-time `initoverlayfs` program is made of, and the
//! types it shares with the builder and the installer: the configuration
//! contract ([`config`]), the boot filesystem spec ([`spec`]) and the one
//! helper that runs external tools ([`cmd`]).
//!
//! The program ([`app::main`]): [`cli`] (its options), [`cmdline`] (kernel
//! command line overrides), [`log`], [`early`] (pid1 API mounts),
//! [`modules`] (modprobe, coldplug), [`udev`] (systemd mode triggers),
//! [`resolve`] (spec -> device, with [`superblock`] and [`parttable`]),
//! [`loopdev`], [`mounts`], [`setup`] (bootfs, image, overlay),
//! [`switchroot`] and [`failure`] (the failure policy: the record of
//! [`trial`], the boot loader's fallback through [`efivar`] or [`grubenv`]).

pub mod log;

pub mod app;
pub mod cli;
pub mod cmd;
pub mod cmdline;
pub mod config;
pub mod early;
pub mod efivar;
pub mod failure;
pub mod grubenv;
pub mod loopdev;
pub mod modules;
pub mod mounts;
pub mod parttable;
pub mod resolve;
pub mod setup;
pub mod spec;
pub mod superblock;
pub mod switchroot;
pub mod sys;
pub mod trial;
pub mod udev;
