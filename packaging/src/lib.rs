//! RPM file list and pure-Rust RPM builds.
