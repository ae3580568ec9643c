//! The end-to-end VM test (issue 5): `cargo test -p initoverlayfs-tests --test vm`.
//! Needs root, `/dev/loop-control` and the host tools of `.ci/install-deps`;
//! skips with the reason printed only when one of them is really absent.

fn main() -> std::process::ExitCode {
    initoverlayfs_tests::cli::test_main()
}
