#!/bin/bash
# Builds vmforge's offline installer from Debian packages: an ISO that boots
# like an Anaconda boot ISO (images/pxeboot/vmlinuz + initrd.img, a .treeinfo,
# stage 2 found through inst.stage2=hd:LABEL=...), reads a kickstart from
# inst.ks= (file:, hd:LABEL=OEMDRV:, http://) and installs a small Debian 12
# system that boots from its own MBR boot loader (extlinux). See README.md
# beside this script for the kickstart subset it honours.
#
# Usage: build.sh OUTDIR      (writes OUTDIR/vmforge-offline-debian12.iso)
#
# Everything comes from Debian's archive: the root filesystem from mmdebstrap
# (with linux-image-amd64, systemd, extlinux), busybox-static for the
# installer's initramfs, and the host's e2fsprogs. The result is cached: a
# second run with the same inputs (this directory's files, the suite, the
# package list) does nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
iso="$out/vmforge-offline-debian12.iso"
mirror="${VMFORGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
volid=VMFORGE_OFFLINE_12

# The installed system: small, but a real Debian that boots with systemd,
# has SSH for the customize stage's key checks, dbus (so logind powers it off on an
# ACPI power-button press), and its own boot loader.
include=linux-image-amd64,systemd-sysv,udev,dbus,extlinux,syslinux-common,grub-efi-amd64-bin,grub2-common,e2fsprogs,tzdata,openssh-server,kmod,initramfs-tools,zstd

key="$( (cat "$here/build.sh" "$here/init" "$here/udhcpc.script"; echo "$suite $include $volid") | sha256sum | cut -c1-16)"
if [ -f "$iso" ] && [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then
    echo "installer: cached $iso"
    exit 0
fi

work="$(mktemp -d "$out/.work.XXXXXX")"
[ -n "${VMFORGE_KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
t0=$(date +%s)

echo "installer: mmdebstrap $suite (minbase + kernel, systemd, extlinux) from $mirror"
# Modules the installed system and the installer need under QEMU/KVM: the
# rest of the kernel's 300+ MiB of modules are dropped so the payload stays
# small. modprobe resolves their dependencies. button and evdev let systemd-logind
# power the guest off on an ACPI power-button press (virsh shutdown).
cat > "$work/modules" <<'EOF'
virtio_pci
virtio_blk
virtio_net
virtio_scsi
virtio_console
virtio_rng
ata_piix
ata_generic
sr_mod
sd_mod
cdrom
isofs
ext4
vfat
nls_cp437
nls_ascii
nls_utf8
crc32c_generic
af_packet
button
evdev
EOF
mmdebstrap --variant=minbase --include="$include" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list > "$1/etc/initramfs-tools/conf.d/vmforge"' \
    --customize-hook="cp '$work/modules' \"\$1/etc/initramfs-tools/modules\"" \
    --customize-hook="$here/prune-modules.sh \"\$1\" '$work/modules'" \
    --customize-hook='chroot "$1" update-initramfs -u -k all' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb' \
    "$suite" "$root" "$mirror" >"$work/mmdebstrap.log" 2>&1 || {
    tail -40 "$work/mmdebstrap.log" >&2
    echo "installer: error: mmdebstrap failed (log above)" >&2
    exit 1
}
kver="$(ls "$root/lib/modules" | head -1)"
echo "installer: root filesystem ready, kernel $kver ($(( $(date +%s) - t0 )) s)"

# The installer's initramfs: busybox-static, the modules above, mke2fs.
ir="$work/initrd"
mkdir -p "$ir"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,lib/modules,usr/share/udhcpc}
(cd "$work" && apt-get download -q busybox-static >/dev/null 2>&1 ||
    { echo "installer: error: apt-get download busybox-static failed" >&2; exit 1; })
dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
cp "$work/bb/bin/busybox" "$ir/bin/busybox"
for applet in $("$ir/bin/busybox" --list); do
    [ -e "$ir/bin/$applet" ] || ln -s busybox "$ir/bin/$applet"
done
# mke2fs from the host (the same Debian release) with the libraries it needs.
copy_bin() {
    local bin="$1" lib
    cp -L "$bin" "$ir/sbin/"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        mkdir -p "$ir$(dirname "$lib")"
        cp -L "$lib" "$ir$lib"
    done
}
copy_bin /sbin/mke2fs
copy_bin /sbin/blkid   # busybox-static has no blkid applet
copy_bin /sbin/mkfs.fat # EFI system partitions (dosfstools)
ln -sf mke2fs "$ir/sbin/mkfs.ext4"
# Kernel modules in load order (dependencies first), from the rootfs' tree.
: > "$ir/lib/modules/load-order"
while read -r m; do
    { modprobe -d "$root" -S "$kver" --show-depends "$m" 2>/dev/null || true; } | while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        path="${path#"$root"}"
        base="$(basename "$path")"
        grep -qx "$base" "$ir/lib/modules/load-order" && continue
        cp "$root$path" "$ir/lib/modules/$base"
        echo "$base" >> "$ir/lib/modules/load-order"
    done
done < "$work/modules"
cp "$here/init" "$ir/init"
cp "$here/udhcpc.script" "$ir/usr/share/udhcpc/default.script"
chmod 0755 "$ir/init" "$ir/usr/share/udhcpc/default.script"

# The ISO: kernel and initrd where Anaconda media keep them, a .treeinfo
# naming them, and the payload (the root filesystem as a tar).
iso_tree="$work/iso"
mkdir -p "$iso_tree/images/pxeboot" "$iso_tree/payload"
cp "$root/boot/vmlinuz-$kver" "$iso_tree/images/pxeboot/vmlinuz"
(cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6) > "$iso_tree/images/pxeboot/initrd.img"
(cd "$root" && tar --numeric-owner --xattrs -cf "$iso_tree/payload/rootfs.tar" .)
cat > "$iso_tree/.treeinfo" <<EOF
[header]
type = productmd.treeinfo
version = 1.2

[release]
name = vmforge offline installer
short = vmforge-offline
version = 12

[general]
family = vmforge offline installer
name = vmforge offline installer 12
version = 12
arch = x86_64
platforms = x86_64

[tree]
arch = x86_64
platforms = x86_64

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = payload/rootfs.tar
EOF
cp "$here/README.md" "$iso_tree/README.md"
# Bootable like an installer ISO (El Torito, isolinux): libosinfo only reads
# bootable media, and a user can boot it by hand.
mkdir -p "$iso_tree/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso_tree/isolinux/"
cat > "$iso_tree/isolinux/isolinux.cfg" <<EOF
DEFAULT install
PROMPT 0
TIMEOUT 1
LABEL install
    KERNEL /images/pxeboot/vmlinuz
    APPEND initrd=/images/pxeboot/initrd.img inst.stage2=hd:LABEL=$volid console=ttyS0,115200
EOF
xorriso -as mkisofs -quiet -R -J -V "$volid" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table -o "$work/out.iso" "$iso_tree" 2>"$work/xorriso.log" || {
    cat "$work/xorriso.log" >&2
    exit 1
}
mv "$work/out.iso" "$iso"
echo "$key" > "$out/.key"
echo "installer: built $iso ($(du -h "$iso" | cut -f1), $(( $(date +%s) - t0 )) s)"
