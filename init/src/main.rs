//! `initoverlayfs`: see [`initoverlayfs::app`] and [`initoverlayfs::cli`].

fn main() {
    std::process::exit(initoverlayfs::app::main(std::env::args().collect()))
}
