//! Installs initoverlayfs: detection, compatibility check, BLS entries, rollback.
