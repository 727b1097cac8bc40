#!/bin/bash
# Measures `vmforge build` of the quickstart example on a remote libvirt
# host against the same build on this machine's libvirtd, in the same run:
#  (a) --connect qemu:///system: vmforge's own pool on a local folder, the
#      disk renamed into place;
#  (b) --connect qemu+ssh://root@127.0.0.2/system: scripts/test-host.sh's
#      second libvirtd (its own mount namespace, sshd on 127.0.0.2): every
#      volume uploaded and the installed disk downloaded through libvirt's
#      sparse streams, over ssh.
# Both cold (install, customize, every target), the ISO already cached on the
# host (it is uploaded once per host and pool; the first run uploads it and
# is reported apart). Prints the wall times, (b)/(a) (target <= 1.15) and the
# bytes on the wire from report.json against the installer media and the
# base disk's data.
#
# Usage: bench/bench-remote.sh [RUNS]   (default 1; medians printed)
# Needs: the offline installer, libvirtd, a built vmforge (as bench-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1}"
. bench/lib.sh
vmforge=${VMFORGE:-$PWD/build/orchestrator/vmforge}
recipe=examples/quickstart/recipe.yaml
iso=.cache/installer/vmforge-offline-debian12.iso
work="$PWD/build/bench-remote"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
export VMFORGE_STATE_DIR="$work/state"
bash scripts/test-host.sh start
remote=$(bash scripts/test-host.sh uri ssh)

field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

build() { # build URI OUT
    rm -rf "$work/cache" "$2"
    local s
    s=$(now)
    "$vmforge" build "$recipe" -o "$2" --cache-dir "$work/cache" --connect "$1" -q >/dev/null
    echo "$(now) - $s" | bc
}

# The ISO on the host, once (what a first remote build also does).
s=$(now)
"$vmforge" install "$recipe" -o "$work" --connect "$remote" -q > /dev/null
first=$(echo "$(now) - $s" | bc)
rm -f "$work"/quickstart.raw

: > "$work/a.txt"; : > "$work/b.txt"
for i in $(seq 1 "$runs"); do
    build qemu:///system "$work/a" >> "$work/a.txt"
    build "$remote" "$work/b" >> "$work/b.txt"
done
a=$(median < "$work/a.txt"); b=$(median < "$work/b.txt")
sent=$(field "$work/b/report.json" 'r["host"]["bytes_sent"]')
received=$(field "$work/b/report.json" 'r["host"]["bytes_received"]')
data=$(field "$work/b/report.json" 'r["base_disk"]["data_bytes"]')
media=$(stat -c %s "$iso")
bash scripts/test-host.sh stop
printf 'bench-remote: %s run(s), accel %s, %s cores\n' "$runs" "$VMFORGE_ACCEL" "$(nproc)"
printf '  first remote install (uploads the ISO)     %7.1f s\n' "$first"
printf '  (a) vmforge build, local libvirtd          %7.1f s\n' "$a"
printf '  (b) vmforge build, qemu+ssh test host      %7.1f s   (b)/(a) = %.2f (target <= 1.15)\n' \
    "$b" "$(echo "$b / $a" | bc -l)"
printf '  on the wire (b): %s bytes sent, %s received; the base disk holds %s bytes of data\n' \
    "$sent" "$received" "$data"
printf '  sent + received / (media %s + data) = %.3f (the tests bound it at 1.1)\n' \
    "$media" "$(echo "($sent + $received) / ($media + $data)" | bc -l)"
printf '  received / data = %.3f (the disk comes back sparse: data only)\n' \
    "$(echo "$received / $data" | bc -l)"
