#!/bin/bash
# The main job of README.md: installs what is missing, builds vmforge and the
# offline installer (from Debian packages), starts libvirtd, installs the
# offline example (examples/quickstart/recipe.yaml) in a real libvirt domain,
# customizes it through libguestfs, converts the resulting disk to every
# hypervisor format in one pass, and
# checks every output with qemu-img and gzip. Works offline.
# Outputs land in build/quickstart/.
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

work=build/quickstart
rm -rf "$work"
mkdir -p "$work/out"
chmod 755 "$work" "$work/out"
vmforge=build/orchestrator/vmforge

echo "quickstart: installing examples/quickstart/recipe.yaml (accelerator $VMFORGE_ACCEL)"
disk="$("$vmforge" install examples/quickstart/recipe.yaml -o "$work")"

echo "quickstart: customizing it offline through libguestfs (users, files, first-boot, sysprep)"
"$vmforge" customize examples/quickstart/recipe.yaml --disk "$disk"

echo "quickstart: converting $disk to every format in one pass"
"$vmforge" convert "$disk" --to qcow2,vmdk,vdi,vhd,raw.gz,ova --profile vmware \
    --name quickstart -o "$work/out" --force
# A fixed VHD for Azure, under its own name (it would share quickstart.vhd's).
"$vmforge" convert "$disk" --to vhd:type=fixed --name quickstart-azure -o "$work/out" --force -q

echo "quickstart: checking every output with independent tools"
for pair in qcow2:qcow2 vmdk:vmdk vdi:vdi vhd:vpc; do
    ext=${pair%%:*} fmt=${pair##*:}
    qemu-img compare -q -f raw -F "$fmt" "$disk" "$work/out/quickstart.$ext"
    echo "  quickstart.$ext: identical to the installed disk (qemu-img compare)"
done
qemu-img compare -q -f raw -F vpc "$disk" "$work/out/quickstart-azure.vhd"
echo "  quickstart-azure.vhd: identical to the installed disk (qemu-img compare)"
gzip -dc "$work/out/quickstart.raw.gz" | cmp - "$disk"
echo "  quickstart.raw.gz: gzip -dc gives back the installed disk"
"$vmforge" verify "$work/out/quickstart.ova"
ls -l "$work" "$work/out"
echo "quickstart: done; the base disk is $disk, the images are in $work/out"
