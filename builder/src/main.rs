//! `initoverlayfs-builder`: dispatches to the library.

fn main() {
    std::process::exit(initoverlayfs_builder::cli::main());
}
