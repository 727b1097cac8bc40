#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/bench-backup.py — `vmforge backup` of a running domain against the
same backup done by hand with the reference tools, its backup-API path
against its snapshot path, and an incremental backup against a full one, in
the same run.

The domain is the backup tests' writer guest (the offline installer's
kernel, an /init writing one synchronous record after another) on a qcow2
overlay of a 4 GiB raw disk holding an ext4 copy of SOURCE_DIR. It writes
throughout. Each round, alternating:
  (a) vmforge backup DOMAIN --method snapshot --to qcow2,vmdk  (snapshot,
      one read of the chain for both formats, shallow active commit with
      pivot);
  (b) by hand: virsh snapshot-create-as --disk-only --atomic --no-metadata,
      qemu-img convert -c -O qcow2, qemu-img convert -O vmdk
      (streamOptimized), virsh blockcommit --active --shallow --pivot --wait,
      rm of the overlay;
  (c) vmforge backup DOMAIN --method api --to qcow2,vmdk  (a push job into a
      qcow2 target, which is then read once for both formats; the domain
      never leaves its disk);
  (d) 1 % of the disk (41 MiB) written through QEMU's block layer (HMP
      qemu-io, as guest writes: the dirty bitmap sees them), then
      vmforge backup --incremental (c's folder) --to qcow2,vmdk.
Printed: the wall time of each, the time the domain spent on the overlay
(snapshot to pivot) for (a) and (b), medians and the ratios. Targets: (b)/(a)
>= 1.5 and no longer on the overlay with vmforge than by hand; (a)/(c)
>= 1.0 (the API path no slower than the snapshot path); (d)/(c) <= 0.1 for
the qcow2 alone (--to qcow2: the incremental image is the job's target,
nothing to convert) and reported for qcow2,vmdk (whose VMDK is whole).

Usage: bench/bench-backup.py [SOURCE_DIR] (default /usr/lib/x86_64-linux-gnu)
       ROUNDS=3 for more rounds. Needs libvirtd, the offline installer and a
       built vmforge (scripts/test.sh sets all of them up).
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("VMFORGE_INSTALLER_ISO",
                      os.path.join(ROOT, ".cache", "installer", "vmforge-offline-debian12.iso"))
os.environ.setdefault("VMFORGE", os.path.join(ROOT, "build", "orchestrator", "vmforge"))

from backup import (Background, define, domain_xml, records_written, remove_domain,  # noqa: E402
                    wait_for, writer_media)
from install import URI, libvirt_up, virsh  # noqa: E402


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def vmforge_round(name, out):
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    bg = Background([os.environ["VMFORGE"], "backup", name, "--connect", URI, "-o", out,
                     "--to", "qcow2,vmdk", "--method", "snapshot"])
    bg.wait_line("snapshot taken", timeout=600)
    t_snap = time.monotonic()
    bg.wait_line("overlay removed", timeout=1800)
    t_pivot = time.monotonic()
    rc, err = bg.finish()
    t1 = time.monotonic()
    if rc != 0:
        sys.exit(f"vmforge backup failed ({rc}):\n{err[-3000:]}")
    return t1 - t0, t_pivot - t_snap


def api_round(name, out, *extra, to="qcow2,vmdk"):
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    subprocess.run([os.environ["VMFORGE"], "backup", name, "--connect", URI, "-o", out, "--to",
                    to, "--method", "api", "-q", *extra], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def change_one_percent(name, round_no):
    """41 MiB written through the disk's block backend, as the guest's
    writes are (past the records, a different place each round)."""
    where = 1024 + 64 * round_no
    sh("virsh", "-q", "-c", URI, "qemu-monitor-command", name, "--hmp",
       f'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend '
       f'"write -P {0x41 + round_no} {where}M 41M"')


def reference_round(name, top, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    overlay = top + ".bench-overlay.qcow2"
    t0 = time.monotonic()
    sh("virsh", "-q", "-c", URI, "snapshot-create-as", name, "--disk-only", "--atomic",
       "--no-metadata", "--diskspec", f"vda,snapshot=external,file={overlay}")
    t_snap = time.monotonic()
    sh("qemu-img", "convert", "-U", "-c", "-f", "qcow2", "-O", "qcow2", top,
       os.path.join(out, "vda.qcow2"))
    sh("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "vmdk", "-o",
       "subformat=streamOptimized", top, os.path.join(out, "vda.vmdk"))
    sh("virsh", "-q", "-c", URI, "blockcommit", name, "vda", "--active", "--shallow", "--pivot",
       "--wait")
    t_pivot = time.monotonic()
    os.unlink(overlay)
    t1 = time.monotonic()
    return t1 - t0, t_pivot - t_snap


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/x86_64-linux-gnu"
    rounds = int(os.environ.get("ROUNDS", "1"))
    libvirt_up()
    work = os.path.join(ROOT, ".cache", "bench-backup")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)
    base = os.path.join(work, "base.raw")
    sh("bash", os.path.join(ROOT, "scripts", "make-disk.sh"), base, "4G", src, "bench")
    top = os.path.join(work, "disk.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top)
    kernel, initrd = writer_media(work)
    console = os.path.join(work, "console.log")
    name = f"bkbench-{os.getpid()}"
    define(work, domain_xml(name, [("file", "qcow2", top, "vda", "virtio")], kernel=kernel,
                            initrd=initrd, console=console))
    try:
        virsh("start", name)
        wait_for(lambda: records_written(console) >= 20, "the guest to write")
        used = int(subprocess.run(["du", "-B1", base], capture_output=True, text=True,
                                  check=True).stdout.split()[0])
        print(f"bench: 4 GiB disk, {used / 2**30:.2f} GiB allocated ({src}); guest writing")
        a, b, c, d, cq, dq = [], [], [], [], [], []
        for r in range(rounds):
            a.append(vmforge_round(name, os.path.join(work, "a")))
            b.append(reference_round(name, top, os.path.join(work, "b")))
            c.append(api_round(name, os.path.join(work, "c")))
            change_one_percent(name, 2 * r)
            d.append(api_round(name, os.path.join(work, "d"), "--incremental",
                               os.path.join(work, "c")))
            cq.append(api_round(name, os.path.join(work, "cq"), to="qcow2"))
            change_one_percent(name, 2 * r + 1)
            dq.append(api_round(name, os.path.join(work, "dq"), "--incremental",
                                os.path.join(work, "cq"), to="qcow2"))
        n = records_written(console)
        wait_for(lambda: records_written(console) > n, "the guest to go on writing")
        for label, runs in (("(a) vmforge backup --to qcow2,vmdk", a),
                            ("(b) snapshot + qemu-img x2 + blockcommit", b)):
            walls = ", ".join(f"{w:.1f}" for w, _ in runs)
            ovl = ", ".join(f"{o:.1f}" for _, o in runs)
            print(f"{label}: wall {walls} s; on the overlay {ovl} s")
        wa, wb = statistics.median(w for w, _ in a), statistics.median(w for w, _ in b)
        oa, ob = statistics.median(o for _, o in a), statistics.median(o for _, o in b)
        print(f"wall (b)/(a): {wb / wa:.2f}x (target >= 1.5); "
              f"time on the overlay (b)/(a): {ob / oa:.2f}x (target >= 1)")
        for label, runs in (("(c) vmforge backup --method api --to qcow2,vmdk", c),
                            ("(d) the same, --incremental after 1 % changed", d),
                            ("(c') vmforge backup --method api --to qcow2", cq),
                            ("(d') the same, --incremental after 1 % changed", dq)):
            print(f"{label}: wall {', '.join(f'{x:.1f}' for x in runs)} s")
        mc, md = statistics.median(c), statistics.median(d)
        mcq, mdq = statistics.median(cq), statistics.median(dq)
        print(f"API against snapshot path, wall (a)/(c): {wa / mc:.2f}x (target >= 1.0); "
              f"the domain spent 0 s on an overlay with (c)")
        print(f"incremental against full: (d')/(c') {mdq / mcq:.3f} (target <= 0.1); "
              f"with a VMDK too (d)/(c) {md / mc:.3f}")
        inc = os.path.join(work, "dq", f"{name}-vda.qcow2")
        print(f"  the incremental qcow2: {os.path.getsize(inc):,} bytes for 41 MiB changed")
        for f in ("a/%s-vda.qcow2" % name, "a/%s-vda.vmdk" % name, "b/vda.qcow2", "b/vda.vmdk",
                  "c/%s-vda.qcow2" % name, "c/%s-vda.vmdk" % name):
            print(f"  {f.split('/')[0]} {os.path.basename(f)}: "
                  f"{os.path.getsize(os.path.join(work, f)):,} bytes")
    finally:
        remove_domain(name)  # with its checkpoints' metadata
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
