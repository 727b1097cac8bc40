#!/bin/bash
# mmdebstrap customize hook: keeps only the kernel modules named in LIST (and
# their dependencies) in ROOT, then rebuilds modules.dep. The installed test
# system runs under QEMU/KVM only; a full module tree would triple its size.
# Usage: prune-modules.sh ROOT LIST
set -euo pipefail
root="$1"
list="$2"
for kdir in "$root"/lib/modules/*; do
    kver="$(basename "$kdir")"
    keep="$(mktemp)"
    while read -r m; do
        modprobe -d "$root" -S "$kver" --show-depends "$m" 2>/dev/null |
            awk -v root="$root" '$1 == "insmod" { p = $2; if (index(p, root) == 1) p = substr(p, length(root) + 1); print p }' >> "$keep"
    done < "$list"
    find "$kdir/kernel" -name '*.ko*' | while read -r ko; do
        grep -qxF "${ko#"$root"}" "$keep" || rm -f "$ko"
    done
    rm -f "$keep"
    find "$kdir/kernel" -type d -empty -delete
    depmod -b "$root" "$kver"
done
