#!/bin/bash
# Measures what a customization costs over a bare libguestfs appliance launch,
# in the same run and under the same accelerator: a 10-operation customize
# list (one appliance launch for all of it, sysprep and fstrim included)
# against `guestfish -a DISK run` (launch, nothing else) on the same disk.
#
# Usage: bench/bench-customize.sh [RUNS]   (default 3; medians printed)
# Needs: the offline installer (scripts/setup-installer.sh), libvirtd
# (scripts/start-libvirtd.sh), a built vmforge (scripts/build.sh build).
# VMFORGE_ACCEL (default tcg) is used for both.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
accel="${VMFORGE_ACCEL:-tcg}"
vmforge=build/orchestrator/vmforge
work="build/bench-customize"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
export LIBGUESTFS_BACKEND=direct
[ "$accel" = tcg ] && export LIBGUESTFS_BACKEND_SETTINGS=force_tcg

echo "bench-customize: installing the offline example as the base disk"
"$vmforge" install examples/quickstart/recipe.yaml -o "$work" --accel "$accel" -q >/dev/null
base="$work/quickstart.raw"

ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/key"
echo "bench-password" > "$work/pw.txt"
echo "uploaded" > "$work/up.txt"
cat > "$work/recipe.yaml" <<YAML
name: bench
disk: {size: 4G, partitions: [{mount: /}]}
installer: {kernel: /dev/null, initrd: /dev/null}
customize:
  - hostname: bench1
  - timezone: Europe/Zurich
  - root_password_file: pw.txt
  - user: {name: alice, groups: [adm], ssh_key_files: [key.pub]}
  - write: {path: /etc/motd, content: "bench\n", mode: "0644"}
  - upload: {src: up.txt, path: /opt/up.txt}
  - mkdir: {path: /srv/data, mode: "0750", owner: alice}
  - append_line: {path: /etc/hosts, line: "10.0.0.1 db"}
  - run: "echo ran > /root/ran"
  - firstboot: "echo first > /root/first"
YAML

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work/bare.txt"
: > "$work/custom.txt"
for i in $(seq 1 "$runs"); do
    cp --sparse=always "$base" "$work/disk.raw"
    s=$(date +%s.%N)
    guestfish -a "$work/disk.raw" run
    echo "$(date +%s.%N) - $s" | bc >> "$work/bare.txt"
    s=$(date +%s.%N)
    "$vmforge" customize "$work/recipe.yaml" --disk "$work/disk.raw" --accel "$accel" -q
    echo "$(date +%s.%N) - $s" | bc >> "$work/custom.txt"
done
bare=$(median < "$work/bare.txt")
custom=$(median < "$work/custom.txt")
printf 'bench-customize: %d runs, accelerator %s\n' "$runs" "$accel"
printf '  guestfish -a disk run (bare launch):        %6.1f s (median)\n' "$bare"
printf '  vmforge customize, 10 operations + sysprep: %6.1f s (median)\n' "$custom"
printf '  ratio customize / bare launch:              %6.2f\n' "$(echo "$custom / $bare" | bc -l)"
