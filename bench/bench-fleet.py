#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/bench-fleet.py — fleet placement, by simulation: 8 builds over 1, 2
and 4 libvirt hosts (scripts/test-host.sh 1..4: libvirtds in mount
namespaces of their own on 127.0.0.2..5, one install at a time each).

This machine has 2 cores, so real installs cannot show scaling; the builds
install from a variant of the offline installer whose install mostly waits:
the same kernel and initrd, a payload of a few files instead of the root
file system, and a kickstart whose %pre sleeps WAIT seconds (no boot loader,
no %post). Everything else is real: each install boots the installer in a
TCG domain on its host, partitions and formats the disk there, and comes back
through libvirt's API; customize (sysprep none) and convert (one qcow2) run
here, at most -j 2 at once.

Measured per host count, from OUT/fleet-report.json:
  installs  the time until the last install finished (the run's start to
            the latest timeline_milliseconds.install_finished)
  ideal     ceil(8 / hosts) x one install (the median install time of the
            1-host run, where installs never overlap)
  ratio     ideal / installs (target >= 0.85 at 4 hosts)
  median    the run's own median install time: what concurrent TCG guests
            on the 2 shared cores cost each install
  gap       the longest a host's free install slot waited for its next
            build (what placement itself costs)
  after     what came after the last install (customize, convert and the
            report: CPU-bound here, reported apart), and the whole run

  BENCH_WAIT   seconds each install sleeps (default 60)
  BENCH_HOSTS  host counts (default "1 2 4")
"""

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
VMFORGE = os.environ.get("VMFORGE", os.path.join(ROOT, "build", "orchestrator", "vmforge"))
ISO = os.path.join(ROOT, ".cache", "installer", "vmforge-offline-debian12.iso")
HOST = os.path.join(ROOT, "scripts", "test-host.sh")
WAIT = int(os.environ.get("BENCH_WAIT", "60"))
COUNTS = [int(n) for n in os.environ.get("BENCH_HOSTS", "1 2 4").split()]
BUILDS = 8

KICKSTART = """# bench-fleet: an install that mostly waits
text
clearpart --none
{{ partitions }}
bootloader --location=none
{{ rootpw_line }}
network --hostname={{ hostname }}

%pre
sleep {{ wait }}
%end

poweroff
"""

RECIPE = """name: wait{i}
version: "1"
vars:
  hostname: wait{i}
  wait: "{wait}"
disk:
  size: 1G
  partitions:
    - mount: /
      size: rest
      bootable: true
      fstype: ext4
installer:
  iso: {iso}
  kickstart: wait.ks
  inject: initrd
  rootpw_file: rootpw.txt
  timeout: 20m
hardware:
  vcpus: 1
  memory: 512M
customize:
  - sysprep: none
verify:
  hepix: false
targets:
  - name: qcow2
    format: qcow2
"""


def sh(*argv, env=None):
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout


def host(n, *args):
    return sh("bash", HOST, *args, env=dict(os.environ, VMFORGE_TEST_HOST_NUMBER=str(n))).strip()


def waiting_iso(d):
    """The offline ISO with a payload of a few files (same label, kernel,
    initrd and .treeinfo)."""
    iso = os.path.join(ROOT, ".cache", "bench-fleet", "wait.iso")
    if os.path.exists(iso) and os.path.getmtime(iso) > os.path.getmtime(ISO):
        return iso
    tree = os.path.join(d, "tree")
    sh("xorriso", "-osirrox", "on", "-indev", ISO, "-extract", "/", tree)
    sh("chmod", "-R", "u+w", tree)
    label = [ln.split(":", 1)[1].strip().strip("'") for ln in
             sh("xorriso", "-indev", ISO, "-pvd_info").splitlines() if ln.startswith("Volume Id")][0]
    payload = os.path.join(d, "payload")
    # What libguestfs's inspection takes for a Debian root (customize
    # inspects the disk).
    for sub in ("etc", "proc", "sys", "dev", "tmp", "root", "bin", "sbin", "usr/bin", "usr/sbin",
                "var/lib"):
        os.makedirs(os.path.join(payload, sub))
    with open(os.path.join(payload, "etc", "os-release"), "w") as f:
        f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                'VERSION_ID="12"\nID=debian\n')
    with open(os.path.join(payload, "etc", "debian_version"), "w") as f:
        f.write("12.0\n")
    with open(os.path.join(payload, "etc", "shadow"), "w") as f:
        f.write("root:*:20000:0:99999:7:::\n")
    with open(os.path.join(payload, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    sh("tar", "--numeric-owner", "-C", payload, "-cf",
       os.path.join(tree, "payload", "rootfs.tar"), ".")
    os.makedirs(os.path.dirname(iso), exist_ok=True)
    sh("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", label, "-b",
       "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size",
       "4", "-boot-info-table", "-o", iso + ".new", tree)
    os.chmod(iso + ".new", 0o644)
    os.rename(iso + ".new", iso)
    return iso


def recipes(d, iso):
    with open(os.path.join(d, "wait.ks"), "w") as f:
        f.write(KICKSTART)
    with open(os.path.join(d, "rootpw.txt"), "w") as f:
        f.write("bench-fleet\n")
    paths = []
    for i in range(1, BUILDS + 1):
        paths.append(os.path.join(d, f"wait{i}.yaml"))
        with open(paths[-1], "w") as f:
            f.write(RECIPE.format(i=i, wait=WAIT, iso=iso))
    return paths


def run_fleet(d, paths, n):
    hosts = os.path.join(d, f"hosts-{n}.yaml")
    with open(hosts, "w") as f:
        f.write("hosts:\n" + "".join(f"  - uri: {host(k, 'uri', 'tcp')}\n    installs: 1\n"
                                     for k in range(1, n + 1)))
    out, cache = os.path.join(d, f"out-{n}"), os.path.join(d, f"cache-{n}")
    env = dict(os.environ, LIBGUESTFS_BACKEND_SETTINGS="force_tcg",
               VMFORGE_STATE_DIR=os.path.join(d, "state"))
    t0 = time.monotonic()
    p = subprocess.run([VMFORGE, "build", *paths, "--hosts", hosts, "-o", out, "--cache-dir",
                        cache, "--accel", "tcg", "--no-sync", "-j", "2", "-q"],
                       capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{n} hosts: exit {p.returncode}\n{p.stdout}{p.stderr[-3000:]}\n(kept: {d})")
    rep = json.load(open(os.path.join(out, "fleet-report.json")))
    b = rep["builds"]
    return {
        "installs": max(x["timeline_milliseconds"]["install_finished"] for x in b) / 1000,
        "each": [x["install_milliseconds"] / 1000 for x in b],
        "wall": wall,
        "placed": [h["installs_placed"] for h in rep["hosts"]],
        "gap": placement_gap(b),
    }


def placement_gap(builds):
    """The longest time a host's slot stayed free while builds waited: from
    an install's end to the start of the next build on that host (seconds)."""
    by_host = {}
    for x in builds:
        t = x["timeline_milliseconds"]
        by_host.setdefault(x["host"], []).append((t["started"], t["install_finished"]))
    gaps = [nxt[0] - prev[1] for runs in by_host.values()
            for prev, nxt in zip(sorted(runs), sorted(runs)[1:])]
    return max(gaps, default=0) / 1000


def main():
    for path in (VMFORGE, ISO):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing (scripts/build.sh build; scripts/setup-installer.sh)")
    d = tempfile.mkdtemp(prefix="bench-fleet-", dir=os.path.join(ROOT, "build"))
    os.chmod(d, 0o755)
    started = []
    try:
        iso = waiting_iso(d)
        paths = recipes(d, iso)
        for k in range(1, max(COUNTS) + 1):
            host(k, "start")
            started.append(k)
        res = {n: run_fleet(d, paths, n) for n in COUNTS}
    finally:
        for k in started[1:]:
            host(k, "stop")
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
    one = statistics.median(res[min(COUNTS)]["each"])
    print(f"8 builds, installs sleeping {WAIT} s; one install {one:.1f} s "
          f"(median of the {min(COUNTS)}-host run)")
    print(f"{'hosts':>5} {'installs':>9} {'ideal':>7} {'ratio':>6} {'median':>7} {'gap':>6} "
          f"{'after':>7} {'run':>7}  installs per host")
    for n, r in res.items():
        ideal = math.ceil(BUILDS / n) * one
        print(f"{n:5d} {r['installs']:8.1f}s {ideal:6.1f}s {ideal / r['installs']:6.3f} "
              f"{statistics.median(r['each']):6.1f}s {r['gap']:5.2f}s "
              f"{r['wall'] - r['installs']:6.1f}s {r['wall']:6.1f}s  {r['placed']}")
    print("median: the run's median install; gap: the longest a free install slot waited "
          "for its next build")


if __name__ == "__main__":
    main()
