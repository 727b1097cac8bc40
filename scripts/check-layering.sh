#!/bin/sh
# formats/ is pure data transformation: it must never include libvirt or
# libguestfs headers (design.md, "Layout"). Fails listing the offending lines.
dir=${1:-formats}
if grep -nE '#[[:space:]]*include[[:space:]]*[<"](libvirt|guestfs|libguestfs)' "$dir"/*.c "$dir"/*.h; then
    echo "formats/ must not include libvirt or libguestfs headers" >&2
    exit 1
fi
exit 0
