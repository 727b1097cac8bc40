#!/bin/bash
# Starts virtlogd and libvirtd when they are not running (this machine has no
# systemd) and waits for libvirtd's socket. Idempotent. Never starts a
# network: guests use QEMU user-mode networking.
set -euo pipefail
sock=/run/libvirt/libvirt-sock
if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "start-libvirtd: libvirtd is not running and only root can start it" >&2
    exit 1
fi
mkdir -p /run/libvirt
# This machine's daemons, by their PID files: another libvirtd (a test host
# in a mount namespace of its own) does not count.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive /run/virtlogd.pid || virtlogd -d
alive /run/libvirtd.pid || libvirtd -d
for _ in $(seq 1 100); do
    if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "start-libvirtd: libvirtd is up ($(virsh -c qemu:///system version | sed -n 's/^Running hypervisor: //p'))"
        exit 0
    fi
    sleep 0.2
done
echo "start-libvirtd: libvirtd did not come up (see /var/log/libvirt/libvirtd.log)" >&2
exit 1
