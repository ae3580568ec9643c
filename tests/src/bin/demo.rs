//! `cargo run --release -p initoverlayfs-tests --bin demo`: builds a
//! Fedora-layout VM, boots it through initoverlayfs and prints a table.

fn main() -> std::process::ExitCode {
    initoverlayfs_tests::cli::demo_main()
}
