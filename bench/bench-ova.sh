#!/bin/bash
# bench/bench-ova.sh — what packaging an OVA costs over the bare VMDK.
#
# Converts the same disk to a streamOptimized VMDK alone and to an OVA
# (descriptor, manifest, the VMDK streamed into the tar), alternating,
# ROUNDS times each, and prints the median wall times and their ratio.
# Target (issue "OVF/OVA appliances"): the OVA costs at most 5 % more.
#
# Usage: bench/bench-ova.sh [SOURCE_DIR] (default /usr/lib/x86_64-linux-gnu).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=${1:-/usr/lib/x86_64-linux-gnu}
work=${BENCH_DIR:-$root/.cache/bench-ova}
rounds=${ROUNDS:-3}
vmforge=$root/build/orchestrator/vmforge
[ -x "$vmforge" ] || bash scripts/build.sh build >/dev/null

rm -rf "$work"
mkdir -p "$work/out"
trap 'rm -rf "$work"' EXIT
bash scripts/make-disk.sh "$work/disk.raw" 4G "$src" bench
echo "bench: disk of $src, $(du -B1 "$work/disk.raw" | cut -f1) bytes allocated"
cat "$work/disk.raw" >/dev/null

run() { # FORMAT → wall seconds
    local t0 t1
    rm -f "$work/out"/*
    t0=$(date +%s.%N)
    "$vmforge" convert "$work/disk.raw" --to "$1" -o "$work/out" -n disk -q >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

vmdk=() ova=()
for i in $(seq "$rounds"); do
    vmdk+=("$(run vmdk)")
    ova+=("$(run ova)")
done
mv=$(median "${vmdk[@]}")
mo=$(median "${ova[@]}")
echo "vmdk alone: ${vmdk[*]} s (median $mv)"
echo "ova:        ${ova[*]} s (median $mo)"
echo "OVA / VMDK wall time: $(echo "scale=3; $mo / $mv" | bc)   (target <= 1.05)"
