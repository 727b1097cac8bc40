#!/bin/bash
# Builds (or finds cached) vmforge's offline installer ISO from Debian
# packages into .cache/installer/ — what the integration tests and the
# offline example (examples/quickstart/) install with. See tests/installer/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash tests/installer/build.sh "${VMFORGE_INSTALLER_DIR:-.cache/installer}"
