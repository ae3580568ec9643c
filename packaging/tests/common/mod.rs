//! Helpers shared by the packaging integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::Command;

/// Whether `tool` is on `PATH` (tests skip, saying why, when it is not).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The workspace root (the packaging crate's parent directory).
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("packaging/ has a parent")
}
