//! `cargo run -p initoverlayfs-tests --bin vm-boot -- DISK [ENTRY-ID|--fallback]`:
//! boots one entry of a guest disk image with the harness's boot loader and
//! prints the milestones (a debugging aid for every crate).

fn main() -> std::process::ExitCode {
    initoverlayfs_tests::cli::vm_boot_main(std::env::args().skip(1).collect())
}
