//! `cargo run --release -p initoverlayfs-tests --bin bench -- [--payloads 0,64,256,1024] [--boots 5] [--out target/bench]`:
//! the boot-time benchmark (see `initoverlayfs_tests::bench`).

fn main() -> std::process::ExitCode {
    initoverlayfs_tests::bench::cli::main(std::env::args().skip(1).collect())
}
