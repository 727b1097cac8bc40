#!/bin/bash
# What the import stage of a recipe with base: (issue 18) costs against the
# tools one would use by hand, in the same run, on the same image: the
# quickstart example's qcow2 output (4 GiB, about 230 MiB of data) as the
# "vendor image".
#   grown:  vmforge's import stage with base: size: 12G (the copy into a
#           sparse raw disk, then the last partition and its ext4 grown in a
#           libguestfs appliance), against `virt-resize --expand /dev/sda1`
#           into a 12 GiB raw file (one pass and one appliance launch too).
#   as is:  the import stage without size:, against
#           `qemu-img convert -O raw` (sparse).
# vmforge's figure is the import stage's own time from report.json (the
# customize and convert stages that follow are left out).
#
# Usage: bench/bench-import.sh [RUNS]   (default 3; medians printed)
# Needs: the offline installer (scripts/setup-installer.sh), libvirtd
# (scripts/start-libvirtd.sh), a built vmforge (scripts/build.sh build).
# VMFORGE_ACCEL (default tcg) is used for both.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs="${1:-3}"
vmforge=$PWD/build/orchestrator/vmforge
work="$PWD/build/bench-import"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"

echo "bench-import: building the quickstart example's qcow2 (the vendor image)"
"$vmforge" build examples/quickstart/recipe.yaml --only kvm -o "$work/qs" \
    --cache-dir "$work/cache" --accel "$VMFORGE_ACCEL" -q >/dev/null
mv "$work/qs/kvm/quickstart.qcow2" "$work/vendor.qcow2"

recipe() { # recipe NAME [SIZE_LINE]
    cat > "$work/$1.yaml" <<YAML
name: $1
base:
  image: vendor.qcow2
$2
customize:
  - sysprep: none
targets:
  - {name: q, format: qcow2, compress: false}
YAML
}
recipe grown "  size: 12G"
recipe asis ""

import_ms() { # import_ms RECIPE: the import stage's milliseconds
    "$vmforge" build "$work/$1.yaml" --rebuild -o "$work/out-$1" --cache-dir "$work/cache" \
        --accel "$VMFORGE_ACCEL" -q --json --no-sync |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print([s["milliseconds"] for s in r["stages"] if s["name"]=="import"][0] / 1000)'
}

for f in grown resize asis convert; do : > "$work/$f.txt"; done
for i in $(seq 1 "$runs"); do
    import_ms grown >> "$work/grown.txt"
    rm -f "$work/ref.raw"
    truncate -s 12G "$work/ref.raw"
    s=$(now)
    virt-resize -q --expand /dev/sda1 "$work/vendor.qcow2" "$work/ref.raw" >/dev/null
    echo "$(now) - $s" | bc >> "$work/resize.txt"
    import_ms asis >> "$work/asis.txt"
    rm -f "$work/ref.raw"
    s=$(now)
    qemu-img convert -O raw "$work/vendor.qcow2" "$work/ref.raw"
    echo "$(now) - $s" | bc >> "$work/convert.txt"
done
grown=$(median < "$work/grown.txt")
resize=$(median < "$work/resize.txt")
asis=$(median < "$work/asis.txt")
conv=$(median < "$work/convert.txt")
printf 'bench-import: %d runs, accelerator %s\n' "$runs" "$VMFORGE_ACCEL"
printf '  vmforge import + grow to 12G:           %6.2f s (median)\n' "$grown"
printf '  virt-resize --expand into 12G raw:      %6.2f s (median)\n' "$resize"
printf '  ratio virt-resize / vmforge:            %6.2f\n' "$(echo "$resize / $grown" | bc -l)"
printf '  vmforge import, no grow:                %6.2f s (median)\n' "$asis"
printf '  qemu-img convert -O raw:                %6.2f s (median)\n' "$conv"
printf '  ratio qemu-img / vmforge:               %6.2f\n' "$(echo "$conv / $asis" | bc -l)"
