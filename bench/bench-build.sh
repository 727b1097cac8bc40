#!/bin/bash
# Measures `vmforge build` of the quickstart example, in the same run:
#  (a) a cold build (install, customize, every target) against
#  (b) the same work as separate commands a user would script by hand
#      (vmforge install; vmforge customize; vmforge convert --to ...), to show
#      what the pipeline itself costs (target: (a)/(b) <= 1.05);
#  (c) a warm build (base disk from the cache: the six targets only) against
#  (d) the same six images from the same base disk with the reference tools,
#      one command after another: qemu-img convert (qcow2 -c,
#      streamOptimized VMDK, VDI, fixed VHD), pigz for raw.gz, and tar for two
#      OVAs around the VMDK (target: (d)/(c) >= 2).
#
# Usage: bench/bench-build.sh [RUNS]   (default 1; medians printed)
# Needs: the offline installer (scripts/setup-installer.sh), libvirtd
# (scripts/start-libvirtd.sh), a built vmforge (scripts/build.sh build).
# VMFORGE_ACCEL (default tcg) is used throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1}"
. bench/lib.sh
vmforge=$PWD/build/orchestrator/vmforge
recipe=examples/quickstart/recipe.yaml
work="$PWD/build/bench-build"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"

: > "$work/a.txt"; : > "$work/b.txt"; : > "$work/c.txt"; : > "$work/d.txt"
for i in $(seq 1 "$runs"); do
    rm -rf "$work/cache" "$work/a" "$work/b"
    mkdir -p "$work/b"
    chmod 755 "$work/b"
    s=$(now)
    "$vmforge" build "$recipe" -o "$work/a" --cache-dir "$work/cache" -q >/dev/null
    echo "$(now) - $s" | bc >> "$work/a.txt"

    s=$(now)
    disk=$("$vmforge" install "$recipe" -o "$work/b" -q)
    "$vmforge" customize "$recipe" --disk "$disk" -q
    "$vmforge" convert "$disk" --to qcow2,raw.gz,vdi -o "$work/b" -q >/dev/null
    "$vmforge" convert "$disk" --to ova --profile vmware --scratch 4G -o "$work/b" -n vmw -q >/dev/null
    "$vmforge" convert "$disk" --to ova --profile virtualbox --scratch 4G -o "$work/b" -n vbox -q >/dev/null
    "$vmforge" convert "$disk" --to vhd:type=fixed -o "$work/b" -q >/dev/null
    echo "$(now) - $s" | bc >> "$work/b.txt"

    rm -rf "$work/a"
    s=$(now)
    "$vmforge" build "$recipe" -o "$work/a" --cache-dir "$work/cache" -q >/dev/null
    echo "$(now) - $s" | bc >> "$work/c.txt"

    base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_disk"]["path"])' \
        "$work/a/report.json")
    d="$work/d"
    rm -rf "$d"
    mkdir -p "$d"
    s=$(now)
    qemu-img convert -c -f raw -O qcow2 "$base" "$d/q.qcow2"
    pigz -c "$base" > "$d/q.raw.gz"
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$base" "$d/q.vmdk"
    qemu-img convert -f raw -O vdi "$base" "$d/q.vdi"
    qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$base" "$d/q.vhd"
    # An OVA by hand: vmforge's descriptor (writing one is not timed), a
    # manifest of the VMDK's digest, tar.
    tar -xOf "$work/a/vmware/quickstart.ova" quickstart.ovf > "$d/ref.ovf"
    for p in vmw vbox; do
        (cd "$d" && sha256sum q.vmdk ref.ovf > "$p.mf" && tar -cf "$p.ova" ref.ovf "$p.mf" q.vmdk)
    done
    sha256sum "$d"/q.* >/dev/null
    echo "$(now) - $s" | bc >> "$work/d.txt"
done
a=$(median < "$work/a.txt"); b=$(median < "$work/b.txt")
c=$(median < "$work/c.txt"); dd=$(median < "$work/d.txt")
printf 'bench-build: %s run(s), accel %s, %s cores\n' "$runs" "$VMFORGE_ACCEL" "$(nproc)"
printf '  (a) vmforge build, cold cache          %7.1f s\n' "$a"
printf '  (b) install + customize + 4 converts   %7.1f s   (a)/(b) = %.2f (target <= 1.05)\n' \
    "$b" "$(echo "$a / $b" | bc -l)"
printf '  (c) vmforge build, warm cache          %7.1f s\n' "$c"
printf '  (d) qemu-img, pigz, tar, sha256sum     %7.1f s   (d)/(c) = %.2f (target >= 2)\n' \
    "$dd" "$(echo "$dd / $c" | bc -l)"
