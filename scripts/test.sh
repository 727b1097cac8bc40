#!/bin/bash
# The test command of README.md (and of CI, through .ci/run): installs what is
# missing (Keystone and Glance too), builds, builds the offline installer,
# starts libvirtd, runs every
# test suite (unit, formats, cli, integration), then the unit and format suites
# again under AddressSanitizer + UndefinedBehaviorSanitizer. Ends with one
# "tests: N passed, N failed, N skipped" line.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || exit 1

status=0
bash scripts/build.sh build || exit 1
# The publish cases' Keystone and Glance (Debian's packages): started in the
# background now, while the installer is built (their first start takes
# about 40 s, mostly Python imports), and waited for by the first publish case.
bash scripts/openstack-services.sh install || exit 1
bash scripts/openstack-services.sh start >build/openstack-services.log 2>&1 &
# The integration suite boots real installs: the offline installer built
# from Debian packages, and a running libvirtd (no systemd here).
bash scripts/setup-installer.sh || exit 1
bash scripts/start-libvirtd.sh || exit 1
meson test -C build --print-errorlogs --num-processes 2 || status=1
# The remote tests' host (scripts/test-host.sh, started by the first of them),
# and the publish tests' services (started above).
# The fleet tests' hosts 2 and 3 (stopped by their case; again here in case
# it died).
for n in 1 2 3; do VMFORGE_TEST_HOST_NUMBER=$n bash scripts/test-host.sh stop; done
wait
bash scripts/openstack-services.sh stop

# Sanitizer tier: a second build tree, the suites that exercise the formats
# library and the converter's threads.
bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug || exit 1
# fuzz-ova: 3000 mutations here (20000 in the plain build): every allocation
# is traced with a full stack, which makes each input about 100 times slower.
FUZZ_ITERATIONS=3000 \
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite formats \
    --suite cli || status=1

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
exit $status
