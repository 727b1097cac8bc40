#!/bin/bash
# The main job of README.md: installs what is missing, builds vmforge, makes
# a demo disk (MBR, ext4 with /usr/share/doc and /usr/include), converts it
# to every hypervisor format in one pass, and checks every output with
# qemu-img and gzip. Works offline. Outputs land in build/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh build

work=build/quickstart
rm -rf "$work"
mkdir -p "$work/src" "$work/out"
cp -a /usr/share/doc "$work/src/doc"
cp -a /usr/include "$work/src/include"
echo "quickstart: making a 1 GiB demo disk (MBR + ext4) in $work/demo.raw"
bash scripts/make-disk.sh "$work/demo.raw" 1G "$work/src"

echo "quickstart: converting it to every format in one pass"
build/orchestrator/vmforge convert "$work/demo.raw" --to qcow2,vmdk,vdi,vhd,raw.gz \
    --name demo -o "$work/out" --force
# A fixed VHD for Azure, under its own name (it would share demo.vhd's).
build/orchestrator/vmforge convert "$work/demo.raw" --to vhd:type=fixed \
    --name demo-azure -o "$work/out" --force -q

echo "quickstart: checking every output with independent tools"
for pair in qcow2:qcow2 vmdk:vmdk vdi:vdi vhd:vpc; do
    ext=${pair%%:*} fmt=${pair##*:}
    qemu-img compare -q -f raw -F "$fmt" "$work/demo.raw" "$work/out/demo.$ext"
    echo "  demo.$ext: identical to the source (qemu-img compare)"
done
qemu-img compare -q -f raw -F vpc "$work/demo.raw" "$work/out/demo-azure.vhd"
echo "  demo-azure.vhd: identical to the source (qemu-img compare)"
gzip -dc "$work/out/demo.raw.gz" | cmp - "$work/demo.raw"
echo "  demo.raw.gz: gzip -dc gives back the source"
ls -l "$work/out"
echo "quickstart: done; the images are in $work/out"
