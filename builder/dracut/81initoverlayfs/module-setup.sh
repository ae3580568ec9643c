#!/bin/bash
# dracut module "initoverlayfs": the mini initramfs that finds /boot, loop-mounts
# the erofs image of the full initramfs under an overlay and switches into it.
#
# Included ONLY when a build names it (dracut -m/--modules/--add initoverlayfs):
# check() returns 255. A module that returns 0 would be pulled into every plain
# dracut run (e.g. the one a kernel update triggers) and break normal images.
#
# Reads /etc/initoverlayfs.conf of the root being built through
# `initoverlayfs-builder config get` (the one parser of that file):
# [init] mode, [boot] bootfstype (its module; for vfat also the character
# sets its mount needs), [boot] drivers.
# Test hooks (environment): initoverlayfs_conf (config path),
# initoverlayfs_bin (binary to install as /usr/sbin/initoverlayfs),
# initoverlayfs_builder (the initoverlayfs-builder to ask).

# Prints the value of SECTION.KEY ($1.$2) of the config, one line per array
# element, nothing when unset. A bad config stops the build (exit 1): a mini
# image built from guessed values would not boot.
initoverlayfs_conf_get() {
    local _conf="${initoverlayfs_conf:-${dracutsysrootdir-}/etc/initoverlayfs.conf}"
    local _builder="${initoverlayfs_builder:-${dracutsysrootdir-}/usr/bin/initoverlayfs-builder}"
    if ! "$_builder" config get "$1.$2" --config "$_conf"; then
        dfatal "initoverlayfs: cannot read $1.$2 from $_conf (see the error above)"
        exit 1
    fi
}

initoverlayfs_mode() {
    local _mode
    _mode=$(initoverlayfs_conf_get init mode) || exit 1
    echo "$_mode"
}

# called by dracut
check() {
    # Never included unless asked for by name.
    return 255
}

# called by dracut
depends() {
    local _mode
    _mode=$(initoverlayfs_mode) || exit 1
    if [[ $_mode == systemd ]]; then
        # systemd as pid 1, udev (initoverlayfs triggers the storage
        # subsystems; udevd loads their drivers) and journald so the mini
        # phase's log survives the switch. No systemd-modules-load:
        # initoverlayfs loads its modules itself.
        echo systemd udev-rules systemd-journald
    fi
    return 0
}

# The modules to load before initoverlayfs runs: loop, erofs, overlay and the
# /boot filesystem.
initoverlayfs_fs_modules() {
    local _fstype
    _fstype=$(initoverlayfs_conf_get boot bootfstype) || exit 1
    echo loop erofs overlay ${_fstype:+"$_fstype"}
}

# The character set modules a FAT /boot's mount loads (nothing for other
# types): mounting vfat/msdos makes the kernel request nls_cpCODEPAGE and,
# for vfat, nls_IOCHARSET (fat_fill_super() in fs/fat/inode.c; the mount
# fails without them). The mount passes no codepage=/iocharset=, so the
# kernel's defaults apply: CONFIG_FAT_DEFAULT_CODEPAGE and
# CONFIG_FAT_DEFAULT_IOCHARSET from the config of the kernel being built
# for, else Kconfig's own defaults (437, iso8859-1).
# Test hook: initoverlayfs_kconfig (kernel config path).
initoverlayfs_fat_nls_modules() {
    local _fstype _cfg _f _cp="" _io=""
    _fstype=$(initoverlayfs_conf_get boot bootfstype) || exit 1
    case $_fstype in
        vfat | msdos | fat) ;;
        *) return 0 ;;
    esac
    _cfg=${initoverlayfs_kconfig-}
    if [[ -z $_cfg ]]; then
        for _f in "${dracutsysrootdir-}/boot/config-${kernel-}" \
            "${dracutsysrootdir-}/usr/lib/modules/${kernel-}/config" \
            "${dracutsysrootdir-}/lib/modules/${kernel-}/config"; do
            if [[ -r $_f ]]; then
                _cfg=$_f
                break
            fi
        done
    fi
    if [[ -n $_cfg && -r $_cfg ]]; then
        _cp=$(sed -n 's/^CONFIG_FAT_DEFAULT_CODEPAGE=\([0-9]*\)$/\1/p' "$_cfg" | head -n 1)
        _io=$(sed -n 's/^CONFIG_FAT_DEFAULT_IOCHARSET="\([^"]*\)"$/\1/p' "$_cfg" | head -n 1)
    fi
    echo -n "nls_cp${_cp:-437}"
    [[ $_fstype == msdos ]] || echo -n " nls_${_io:-iso8859-1}"
    echo
}

# called by dracut
installkernel() {
    # Always, even in hostonly mode: the host need not have them loaded now.
    local _fs _nls
    _fs=$(initoverlayfs_fs_modules) || exit 1
    _nls=$(initoverlayfs_fat_nls_modules) || exit 1
    # shellcheck disable=SC2086
    hostonly='' instmods $_fs $_nls
    # efivarfs: after a failure, initoverlayfs writes LoaderEntryOneShot and
    # its failure record into EFI variables (built in on Fedora; a module
    # elsewhere; absent on machines without UEFI, which instmods skips).
    hostonly='' instmods efivarfs

    # The bootfs disk's drivers, when the config names them ([boot] drivers,
    # e.g. from `initoverlayfs-install --drivers auto`): only those.
    local _drivers
    _drivers=$(initoverlayfs_conf_get boot drivers) || exit 1
    if [[ -n $_drivers ]]; then
        # shellcheck disable=SC2086
        hostonly='' instmods $_drivers
        return 0
    fi

    # Otherwise drivers for any disk holding /boot: local controllers only (a /boot on
    # iSCSI, FCoE, NVMe-oF, NBD or Ceph needs the network stack and is out of scope;
    # add such drivers with `--add-drivers` in [build] initrd, or build with
    # --hostonly). In hostonly builds dracut keeps only the modules the host
    # has loaded (instmods passes -H), so this list is the upper bound.
    instmods \
        "=drivers/ata" nvme vmd "=drivers/mmc/host" mmc_block \
        virtio_pci virtio_blk virtio_scsi xen-blkfront hv_storvsc hv_vmbus \
        sd_mod sr_mod usb-storage uas xhci-pci xhci-hcd ehci-pci ehci-hcd ohci-pci uhci-hcd \
        megaraid_sas mpt3sas mptspi mptsas hpsa smartpqi aacraid vmw_pvscsi \
        "=drivers/pci/host" "=drivers/pci/controller"
    return 0
}

# called by dracut
install() {
    local _mode _bin _d
    _mode=$(initoverlayfs_mode) || exit 1
    _bin="${initoverlayfs_bin:-${dracutsysrootdir-}/usr/sbin/initoverlayfs}"

    if [[ ! -x $_bin ]]; then
        dfatal "initoverlayfs: $_bin is missing (install the initoverlayfs package)"
        # dracut ignores install()'s status: exit, or it writes an image that cannot boot.
        exit 1
    fi
    inst_binary "$_bin" /usr/sbin/initoverlayfs

    local _conf="${initoverlayfs_conf:-${dracutsysrootdir-}/etc/initoverlayfs.conf}"
    if [[ -r $_conf ]]; then
        inst_simple "$_conf" /etc/initoverlayfs.conf
    else
        dwarn "initoverlayfs: $_conf is missing; the boot-time program will use its defaults"
    fi

    # Mount points: the boot filesystem, the erofs image, the overlay's
    # upper/work, and the new root.
    for _d in /boot /initrofs /overlay /initoverlayfs /dev /proc /sys /run /tmp; do
        inst_dir "$_d"
    done

    # Tools the boot-time program runs and the kernel calls (request_module).
    inst_multiple -o modprobe kmod
    inst_multiple -o /etc/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf

    # systemd needs /etc/initrd-release to run as an initrd (usually made by
    # dracut's base module, which this mini image does not include).
    if [[ ! -e ${initdir}/usr/lib/initrd-release ]]; then
        mkdir -p "${initdir}/usr/lib" "${initdir}/etc"
        {
            if [[ -r ${dracutsysrootdir-}/etc/os-release ]]; then
                grep -hE -ve '^VERSION=' -ve '^PRETTY_NAME' "${dracutsysrootdir-}/etc/os-release"
            fi
            echo 'VARIANT="initoverlayfs mini initramfs"'
            echo 'VARIANT_ID=initoverlayfs'
        } > "${initdir}/usr/lib/initrd-release"
        ln -sf ../usr/lib/initrd-release "${initdir}/etc/initrd-release"
    fi

    if [[ $_mode == systemd ]]; then
        local _unit _src _dir
        for _unit in pre-initoverlayfs.target pre-initoverlayfs.service pre-initoverlayfs-switch-root.service \
            pre-initoverlayfs-failure.service; do
            # The package installs them in /usr/lib/systemd/system; dracut's
            # unit dir may be /lib/systemd/system on systems without merged /usr.
            _src=""
            for _dir in ${initoverlayfs_unitdir:+"$initoverlayfs_unitdir"} \
                "${dracutsysrootdir-}$systemdsystemunitdir" \
                "${dracutsysrootdir-}/usr/lib/systemd/system" "${dracutsysrootdir-}/lib/systemd/system"; do
                if [[ -f $_dir/$_unit ]]; then
                    _src="$_dir/$_unit"
                    break
                fi
            done
            if [[ -z $_src ]] || ! inst_simple "$_src" "$systemdsystemunitdir/$_unit"; then
                dfatal "initoverlayfs: unit $_unit is missing (install the initoverlayfs package)"
                exit 1
            fi
        done
        # Our target is the mini initramfs' default target (the systemd module
        # set multi-user.target; initrd.target is not in this image).
        ln_r "$systemdsystemunitdir/pre-initoverlayfs.target" "$systemdsystemunitdir/default.target"
        # systemd in an initrd starts initrd.target, not default.target, and
        # logs "Unit initrd.target not found." before falling back: here our
        # target is the initrd's target (an alias; the full initramfs has its own).
        ln_r "$systemdsystemunitdir/pre-initoverlayfs.target" "$systemdsystemunitdir/initrd.target"
        $SYSTEMCTL -q --root "$initdir" set-default pre-initoverlayfs.target
        # What initoverlayfs loads itself; the file also marks an image built
        # with this module (the builder refuses such a full image: a loop).
        mkdir -p "${initdir}/etc/modules-load.d"
        local _fs
        _fs=$(initoverlayfs_fs_modules) || exit 1
        echo "$_fs" | tr ' ' '\n' > "${initdir}/etc/modules-load.d/initoverlayfs.conf"
        inst_multiple -o systemctl
    else
        # pid1 mode: the kernel runs initoverlayfs as /init; it loads modules
        # with modprobe itself and switches root on its own.
        ln_r /usr/sbin/initoverlayfs /init
        ln_r /usr/sbin/initoverlayfs /sbin/init
    fi
    return 0
}
