//! `initoverlayfs`: see [`initoverlayfs::app`] and [`initoverlayfs::cli`].
//!
//! `no_main`: Rust's usual start-up code reopens closed stdin/stdout/stderr
//! on `/dev/null` and aborts when it cannot. As pid 1 of an initramfs
//! without `/dev/console`, the kernel starts us with those fds closed and
//! before any `/dev` exists, so that abort would be a kernel panic. The C
//! `main` below skips it; [`std::env::args`] still works (glibc hands argv to
//! std's init-array hook), and `initoverlayfs::early` opens the console
//! once devtmpfs is mounted.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    initoverlayfs::app::main(std::env::args().collect())
}
