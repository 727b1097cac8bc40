#!/bin/bash
# The main job of README.md: installs what is missing, builds vmforge and the
# offline installer (from Debian packages), starts libvirtd, checks the host
# (vmforge doctor), then builds the offline example
# (examples/quickstart/recipe.yaml) with `vmforge build`: one install in a
# real libvirt domain, customize through libguestfs, every target (kvm,
# xen, vmware, virtualbox, azure, vdi) from one convert pass. Then it checks
# every image with independent tools. Works offline.
# Outputs land in build/quickstart/out/ (report.json lists them); the base
# disk is cached in build/quickstart/cache/, so a second run skips the install.
#
# VMFORGE_ACCEL picks the accelerator: tcg by default here (it runs
# everywhere, also where nested KVM hangs guests); set VMFORGE_ACCEL=auto on a
# host with working KVM for full speed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh build
bash scripts/setup-installer.sh
bash scripts/start-libvirtd.sh
export VMFORGE_ACCEL="${VMFORGE_ACCEL:-tcg}"
export VMFORGE_CACHE_DIR="${VMFORGE_CACHE_DIR:-$PWD/build/quickstart/cache}"
# libguestfs runs its appliance directly (not through libvirt's session).
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"

work=build/quickstart
out=$work/out
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$work" "$out"
vmforge=build/orchestrator/vmforge

echo "quickstart: vmforge doctor (can this host build?)"
"$vmforge" doctor examples/quickstart/recipe.yaml -o "$out"

echo "quickstart: vmforge build examples/quickstart/recipe.yaml (accelerator $VMFORGE_ACCEL)"
"$vmforge" build examples/quickstart/recipe.yaml -o "$out"

echo "quickstart: checking every image with independent tools"
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_disk"]["path"])' \
    "$out/report.json")
for pair in kvm/quickstart.qcow2:qcow2 vdi/quickstart.vdi:vdi azure/quickstart.vhd:vpc; do
    file=${pair%%:*} fmt=${pair##*:}
    qemu-img compare -q -f raw -F "$fmt" "$base" "$out/$file"
    echo "  $file: identical to the base disk (qemu-img compare)"
done
gzip -dc "$out/xen/quickstart.raw.gz" | cmp - "$base"
echo "  xen/quickstart.raw.gz: gzip -dc gives back the base disk"
for ova in vmware/quickstart.ova virtualbox/quickstart.ova; do
    "$vmforge" verify "$out/$ova"
done
for xml in kvm/quickstart.xml xen/quickstart.xml; do
    virt-xml-validate "$out/$xml" domain
done
echo "quickstart: done; the images are in $out, listed in $out/report.json"
