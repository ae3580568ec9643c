//! Turns a distro initramfs into an erofs image and builds the mini initramfs.
