#!/bin/bash
# make-disk.sh DISK SIZE SOURCE_DIR [LABEL]
#
# Makes a realistic raw disk from files already on this machine: a sparse
# file of SIZE (e.g. 2G), an MBR (msdos) partition table with one bootable
# Linux partition starting at 1 MiB, and in it an ext4 file system populated
# from SOURCE_DIR with mkfs.ext4 -d. Free space stays sparse, like a freshly
# installed and trimmed guest. Used by the quickstart example and the
# benchmark.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 DISK SIZE SOURCE_DIR [LABEL]" >&2
    exit 2
fi
disk=$1 size=$2 src=$3 label=${4:-vmforge-demo}

rm -f "$disk"
truncate -s "$size" "$disk"
bytes=$(stat -c %s "$disk")
# One primary partition, type 83, bootable, 1 MiB aligned (what vmforge's
# install stage will make too).
sfdisk --quiet "$disk" <<PARTS
label: dos
start=2048, type=83, bootable
PARTS
part_kib=$(( (bytes - 1048576) / 1024 ))
# Fixed UUID and hash seed: the same SOURCE_DIR gives the same disk.
mkfs.ext4 -q -F -L "$label" -U 6f0c5a9e-6b1a-4c53-9d1e-2f8a7c1b3d40 \
    -E offset=1048576,hash_seed=3a1c9f7e-0b2d-4e5f-8a6b-7c8d9e0f1a2b,root_owner=0:0 \
    -d "$src" "$disk" "${part_kib}k"
