//! `initoverlayfs-packaging`: dispatches to the library.

use clap::Parser;

fn main() {
    let args = initoverlayfs_packaging::cli::Args::parse();
    if let Err(e) = initoverlayfs_packaging::cli::run(args) {
        eprintln!("initoverlayfs-packaging: {e:#}");
        std::process::exit(1);
    }
}
