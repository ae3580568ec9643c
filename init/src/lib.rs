//! initoverlayfs boot-time library.
//!
//! Holds the pieces the boot-time `initoverlayfs` program is made of, and the
//! types it shares with the builder and the installer: the configuration
//! contract ([`config`]), the boot filesystem spec ([`spec`]) and the one
//! helper that runs external tools ([`cmd`]).

pub mod cmd;
pub mod config;
pub mod spec;
