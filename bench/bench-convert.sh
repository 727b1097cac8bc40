#!/bin/bash
# bench/bench-convert.sh — vmforge convert against the reference tools, measured
# in the same run on the same disk.
#
#   (a) vmforge convert to qcow2 (compressed), streamOptimized VMDK, VDI,
#       fixed VHD and raw.gz in one pass (digests included);
#   (b) the reference pipeline one command after another: qemu-img convert
#       -O qcow2 -c, -O vmdk -o subformat=streamOptimized, -O vdi,
#       -O vpc -o subformat=fixed,force_size=on, pigz -6, and sha256sum of each
#       output;
#   (c) the same reference commands all started at once (each followed by
#       its sha256sum).
#   (d) a 1 TiB sparse disk holding the same data as a 1 GiB disk, both
#       converted by vmforge (dynamic VHD: a fixed 1 TiB VHD is 1 TiB of
#       zeros to hash, by definition).
#   (e) VHDX alone: vmforge convert --to vhdx against qemu-img convert -O vhdx
#       followed by sha256sum (vmforge's output comes with its digest),
#       alternating, ROUNDS times each (default 3), medians; sizes allocated
#       on disk and apparent, vmforge also at qemu-img's block size.
#       Target (issue "UEFI images, Hyper-V Generation 2"): >= 1.5x faster,
#       allocated size <= 1.01x.
#
# Prints wall and CPU seconds, peak RSS, each output's size and the ratios.
# Targets (issue "Foundation and the single-pass disk converter"): (b)/(a) >= 4,
# (c)/(a) >= 2, each compressed output <= 1.05 x the reference's, peak RSS
# < 256 MiB, (d) 1 TiB time close to the 1 GiB time.
#
# Usage: bench/bench-convert.sh [SOURCE_DIR] (default /usr/lib: a few GB of
# real binaries and data). BENCH_ONLY=vhdx runs only (e). Work files go to .cache/bench (override with
# BENCH_DIR); they are removed at the end unless BENCH_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=${1:-/usr/lib}
work=${BENCH_DIR:-$root/.cache/bench}
disk_size=${BENCH_DISK_SIZE:-8G}
vmforge=$root/build/orchestrator/vmforge

[ -x "$vmforge" ] || bash scripts/build.sh build >/dev/null
for t in qemu-img pigz sha256sum /usr/bin/time mkfs.ext4 sfdisk; do
    command -v "$t" >/dev/null || { echo "bench: $t missing (run scripts/setup.sh)" >&2; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"
trap '[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
disk=$work/disk.raw

echo "bench: building a $disk_size disk with an ext4 file system of $src ..."
bash scripts/make-disk.sh "$disk" "$disk_size" "$src" bench
data=$(du -B1 "$disk" | cut -f1)
echo "bench: disk $(stat -c %s "$disk") bytes virtual, $data bytes allocated"
# Warm the page cache equally for everyone.
cat "$disk" >/dev/null

# measure NAME CMD... : runs CMD under /usr/bin/time, records wall, cpu, rss.
declare -A WALL CPU RSS
measure() {
    local name=$1
    shift
    local tf=$work/time.$name
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >/dev/null
    read -r w u s m <"$tf"
    WALL[$name]=$w
    CPU[$name]=$(echo "$u + $s" | bc)
    RSS[$name]=$m
}

# ---- (e) VHDX ---------------------------------------------------------------
bench_vhdx() {
    local out=$work/e rounds=${ROUNDS:-3} i t0 t1
    local -a tv tq
    mkdir -p "$out"
    for ((i = 0; i < rounds; i++)); do
        rm -f "$out"/*
        t0=$(date +%s.%N)
        "$vmforge" convert "$disk" --to vhdx -o "$out" -n v -q >/dev/null
        t1=$(date +%s.%N)
        tv+=("$(echo "$t1 - $t0" | bc)")
        t0=$(date +%s.%N)
        qemu-img convert -f raw -O vhdx "$disk" "$out/q.vhdx"
        sha256sum "$out/q.vhdx" >/dev/null
        t1=$(date +%s.%N)
        tq+=("$(echo "$t1 - $t0" | bc)")
    done
    local mv mq
    mv=$(printf '%s\n' "${tv[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    mq=$(printf '%s\n' "${tq[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    local qblock
    qblock=$(qemu-img info --output=json "$out/q.vhdx" | sed -n 's/.*"cluster-size": \([0-9]*\).*/\1/p')
    "$vmforge" convert "$disk" --to "vhdx:block_size=$((qblock / 1048576))M" -o "$out" -n vq -q \
        >/dev/null
    echo
    echo "== VHDX ($rounds rounds each, medians)"
    echo "vmforge convert --to vhdx:             ${mv} s  (runs: ${tv[*]})"
    echo "qemu-img convert -O vhdx + sha256sum:  ${mq} s  (runs: ${tq[*]})"
    echo "speed-up: $(echo "scale=2; $mq / $mv" | bc)x   (target >= 1.5)"
    printf "%-34s %14s %14s\n" output allocated apparent
    for f in v.vhdx vq.vhdx q.vhdx; do
        printf "%-34s %14s %14s\n" "$f ($(qemu-img info --output=json "$out/$f" |
            sed -n 's/.*"cluster-size": \([0-9]*\).*/\1/p') B blocks)" \
            "$(du -B1 "$out/$f" | cut -f1)" "$(stat -c %s "$out/$f")"
    done
    echo "allocated ratio vmforge/qemu-img: $(echo "scale=3; $(du -B1 "$out/v.vhdx" | cut -f1) / \
$(du -B1 "$out/q.vhdx" | cut -f1)" | bc) (default blocks), $(echo "scale=3; \
$(du -B1 "$out/vq.vhdx" | cut -f1) / $(du -B1 "$out/q.vhdx" | cut -f1)" | bc) (same blocks)  \
(target <= 1.01)"
    rm -rf "$out"
}
if [ "${BENCH_ONLY:-}" = vhdx ]; then
    bench_vhdx
    exit 0
fi

# ---- (a) vmforge ----------------------------------------------------------
out_a=$work/a
mkdir -p "$out_a"
measure a "$vmforge" convert "$disk" --to qcow2,vmdk,vdi,vhd:type=fixed,raw.gz -o "$out_a" \
    -n disk -q
rm -f "$out_a"/*.vdi "$out_a"/*.vhd   # keep what the size comparison needs; free space

# ---- (b) reference, sequential ---------------------------------------------
out_b=$work/b
mkdir -p "$out_b"
ref_pipeline() {
    local o=$1
    qemu-img convert -f raw -O qcow2 -c "$disk" "$o/disk.qcow2" && sha256sum "$o/disk.qcow2"
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$disk" "$o/disk.vmdk" &&
        sha256sum "$o/disk.vmdk"
    qemu-img convert -f raw -O vdi "$disk" "$o/disk.vdi" && sha256sum "$o/disk.vdi"
    qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$disk" "$o/disk.vhd" &&
        sha256sum "$o/disk.vhd"
    pigz -6 -c "$disk" >"$o/disk.raw.gz" && sha256sum "$o/disk.raw.gz"
}
export -f ref_pipeline
export disk
measure b bash -c "ref_pipeline $out_b"
rm -f "$out_b"/*.vdi "$out_b"/*.vhd

# ---- (c) reference, all at once --------------------------------------------
out_c=$work/c
mkdir -p "$out_c"
ref_parallel() {
    local o=$1
    (qemu-img convert -f raw -O qcow2 -c "$disk" "$o/disk.qcow2" && sha256sum "$o/disk.qcow2") &
    (qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$disk" "$o/disk.vmdk" &&
        sha256sum "$o/disk.vmdk") &
    (qemu-img convert -f raw -O vdi "$disk" "$o/disk.vdi" && sha256sum "$o/disk.vdi") &
    (qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$disk" "$o/disk.vhd" &&
        sha256sum "$o/disk.vhd") &
    (pigz -6 -c "$disk" >"$o/disk.raw.gz" && sha256sum "$o/disk.raw.gz") &
    wait
}
export -f ref_parallel
measure c bash -c "ref_parallel $out_c"
rm -rf "$out_c"

# ---- report ---------------------------------------------------------------
ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "== convert to qcow2 -c, streamOptimized vmdk, vdi, fixed vhd, raw.gz (+ sha256 of each)"
printf "%-34s %9s %9s %12s\n" run wall_s cpu_s peak_rss_MiB
for r in a b c; do
    case $r in
    a) label="(a) vmforge convert, one pass" ;;
    b) label="(b) reference, sequential" ;;
    c) label="(c) reference, all at once" ;;
    esac
    printf "%-34s %9s %9s %12s\n" "$label" "${WALL[$r]}" "${CPU[$r]}" "$((RSS[$r] / 1024))"
done
echo "speed-up (b)/(a): $(ratio "${WALL[b]}" "${WALL[a]}")x   (target >= 4)"
echo "speed-up (c)/(a): $(ratio "${WALL[c]}" "${WALL[a]}")x   (target >= 2)"
echo "peak RSS (a): $((RSS[a] / 1024)) MiB   (target < 256)"
echo
printf "%-10s %14s %14s %8s\n" output vmforge reference ratio
for f in qcow2 vmdk raw.gz; do
    sa=$(stat -c %s "$out_a/disk.$f")
    sb=$(stat -c %s "$out_b/disk.$f")
    printf "%-10s %14s %14s %8s\n" "$f" "$sa" "$sb" "$(echo "scale=3; $sa / $sb" | bc)"
done
echo "(target: every ratio <= 1.05)"
rm -rf "$out_a" "$out_b"

# ---- (d) 1 TiB sparse vs 1 GiB ---------------------------------------------
echo
echo "== 1 TiB sparse disk holding the data of a 1 GiB disk"
small=$work/small.raw
big=$work/big.raw
truncate -s 1G "$small"
dd if="$disk" of="$small" bs=1M count=1024 conv=notrunc,sparse status=none
truncate -s 1T "$big"
dd if="$small" of="$big" bs=1M conv=notrunc,sparse status=none
cat "$small" >/dev/null
for r in small big; do
    mkdir -p "$work/d-$r"
    measure "d_$r" "$vmforge" convert "$work/$r.raw" --to qcow2,vmdk,vdi,vhd,raw.gz \
        -o "$work/d-$r" -n disk -q
    rm -rf "$work/d-$r"
done
printf "%-24s %9s %9s %12s\n" disk wall_s cpu_s peak_rss_MiB
printf "%-24s %9s %9s %12s\n" "1 GiB" "${WALL[d_small]}" "${CPU[d_small]}" "$((RSS[d_small] / 1024))"
printf "%-24s %9s %9s %12s\n" "1 TiB, same data" "${WALL[d_big]}" "${CPU[d_big]}" "$((RSS[d_big] / 1024))"
echo "time ratio 1 TiB / 1 GiB: $(ratio "${WALL[d_big]}" "${WALL[d_small]}")x"

bench_vhdx
