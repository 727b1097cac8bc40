#!/bin/bash
# Installs every package vmforge needs to build, test and run its example,
# from Debian's archive, on a fresh Debian 12 (run as root). Idempotent: when
# everything is installed already it does nothing.
set -euo pipefail

PACKAGES=(
    # build
    build-essential meson ninja-build pkg-config
    libglib2.0-dev libjson-glib-dev zlib1g-dev libdeflate-dev libssl-dev libxml2-dev libarchive-dev
    # independent readers the tests and the example check outputs with
    qemu-utils libvmdk-utils libvhdi-utils libqcow-utils
    python3 python3-libvmdk python3-libvhdi python3-libqcow
    7zip pigz libxml2-utils groff-base virt-v2v
    # the install stage: libvirt, QEMU, and the libraries vmforge links
    libvirt-daemon-system libvirt-clients libvirt-dev qemu-system-x86
    libyaml-dev libfdisk-dev libblkid-dev libosinfo-1.0-dev osinfo-db libmicrohttpd-dev libcrypt-dev
    # publishing: HTTP to Keystone and Glance
    libcurl4-openssl-dev
    # the customize stage: libguestfs (its appliance is built by supermin from
    # the host's kernel), guestfish for the tests' independent read-back;
    # xfs in the appliance (growing a base: image's xfs)
    libguestfs-dev libguestfs-tools libguestfs-xfs supermin linux-image-amd64 openssh-client
    # building the offline installer from Debian packages (tests/installer/)
    mmdebstrap xorriso isolinux syslinux-common extlinux cpio gzip
    # UEFI: mkfs.fat for the installed systems' ESP (copied into the offline
    # installer), OVMF for the domains that install and boot them
    dosfstools ovmf
    # making test and benchmark disks, measuring
    e2fsprogs fdisk util-linux coreutils time bc
    # the remote test host (scripts/test-host.sh): its own sshd, on a loopback address
    openssh-server
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run this script as root (it uses apt-get)" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages install, they do not start services (an sshd on every address,
# a libvirtd): vmforge's scripts start what they need, where they need it.
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=yes
fi
trap '[ "$own_policy" = yes ] && rm -f "$policy"' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
