//! The project's own pieces for the guest: a release build of the three
//! binaries, installed into a guest tree with the packaging crate's file
//! list (the same list the RPMs ship).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use initoverlayfs::cmd::CommandRunExt;
use initoverlayfs_packaging::files::{FileEntry, Kind, Source, BINARIES};
use initoverlayfs_packaging::install::{install_into, Sources};

use crate::paths::Paths;

/// Builds the release binaries of [`BINARIES`] with cargo (`$CARGO`, the
/// cargo running us, or `cargo`), output streamed.
///
/// Errors: cargo fails (compile error in a crate).
pub fn build_release(paths: &Paths) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&paths.workspace)
        .args(["build", "--release", "--locked"])
        .arg("--target-dir")
        .arg(&paths.target);
    for (bin, _) in BINARIES {
        cmd.args(["--bin", bin]);
    }
    cmd.run_inherited()
        .context("cannot build the project's release binaries")
}

/// The entries the guest gets: programs, units, dracut module and plugin
/// (what boots and installs); man pages, docs and completions are left out.
pub fn guest_filter(f: &FileEntry) -> bool {
    f.kind == Kind::Plain && matches!(f.source, Source::Binary(_) | Source::Repo(_))
}

/// Installs the project's files into the guest tree `root` at the packaged
/// paths. Returns the installed destinations.
///
/// Errors: a source file is missing (not built, or not written yet by its
/// crate) or the tree is not writable.
pub fn install_into_guest(paths: &Paths, root: &Path) -> Result<Vec<String>> {
    let done = install_into(
        root,
        Sources {
            workspace: &paths.workspace,
            target: &paths.target,
            generated: None,
        },
        guest_filter,
    )
    .context("cannot install the project into the guest")?;
    Ok(done.iter().map(|f| f.dest.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use initoverlayfs_packaging::files::FILES;

    #[test]
    fn guest_gets_what_boots_and_installs() {
        let dests: Vec<&str> = FILES
            .iter()
            .filter(|f| guest_filter(f))
            .map(|f| f.dest)
            .collect();
        for needed in [
            "/usr/sbin/initoverlayfs",
            "/usr/bin/initoverlayfs-install",
            "/usr/bin/initoverlayfs-builder",
            "/usr/lib/dracut/modules.d/81initoverlayfs/module-setup.sh",
            "/usr/lib/kernel/install.d/94-initoverlayfs.install",
            "/usr/lib/systemd/system/pre-initoverlayfs.service",
        ] {
            assert!(
                dests.contains(&needed),
                "{needed} not installed into the guest"
            );
        }
        assert!(!dests.iter().any(|d| d.contains("/man/")), "{dests:?}");
        assert!(!dests.contains(&"/etc/initoverlayfs.conf"));
    }
}
