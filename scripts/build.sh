#!/bin/bash
# Configures and builds vmforge in build/ (or the directory given), with any
# extra meson options after it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
else
    meson setup "$dir" "$@"
fi
ninja -C "$dir"
