#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/bench-publish.py — `vmforge publish` of a qcow2 into Glance against
`openstack image create --file` of the same file into the same Glance, in
the same run, for each of Glance's two ways of receiving data.

Glance and Keystone are scripts/openstack-services.sh's (Debian's packages,
sqlite, the file store, on 127.0.0.1). The image is a qcow2 (uncompressed)
of a raw disk holding SIZE_MIB of random data among zeros, listed in a
report.json as a build's image is (so vmforge checks what it sends against
the report's SHA-256). Each round runs, in an order that rotates:
  (a) vmforge publish REPORT --to glance:vmforge-test --force --upload put
  (b) openstack image create --disk-format qcow2 --container-format bare
      --file IMAGE                       (the issue's reference: a PUT)
  (c) vmforge publish ... --upload import   (glance-direct: stage, import;
      vmforge's default where the cloud offers it)
  (d) openstack image create ... --import --file IMAGE, then the image polled
      until active (the client returns while Glance still imports; vmforge
      waits for the active image and checks its hash)
vmforge takes SHA-512 and SHA-256 as it sends and compares Glance's
os_hash_value once the image is active; the client does neither. Each image
is deleted after its run. Printed: each wall time, the medians, the ratios
(b)/(a) and (d)/(c) (target >= 1.0), and how many bytes vmforge read from
files (/proc/PID/io rchar, polled until it exits) against the image's size
(target: about 1.0, the file read once).

  BENCH_SIZE_MIB   data in the image (default 1024)
  ROUNDS           rounds (default 5)
"""

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
VMFORGE = os.environ.get("VMFORGE") or os.path.join(ROOT, "build", "orchestrator", "vmforge")
OS_DIR = os.path.join(ROOT, ".cache", "openstack")
ENV = dict(os.environ, OS_CLIENT_CONFIG_FILE=os.path.join(OS_DIR, "clouds.yaml"),
           OS_CLIENT_SECURE_FILE="/nonexistent", OS_CLOUD="")
MIB = 1 << 20
GLANCE = f"http://127.0.0.1:{os.environ.get('GLANCE_PORT') or 9292}"
OPENSTACK = ["/usr/bin/python3", "/usr/bin/openstack", "--os-cloud", "vmforge-test"]


def sh(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV, **kw)


def make_image(work, size_mib):
    raw = os.path.join(work, "bench.raw")
    with open(raw, "wb") as f:
        f.truncate(2 * size_mib * MIB)
        for i in range(size_mib):
            f.seek(2 * i * MIB)
            f.write(os.urandom(MIB))
    sh([VMFORGE, "convert", raw, "--to", "qcow2:compress=off", "-o", work, "-n", "bench", "-q"])
    os.unlink(raw)
    qcow2 = os.path.join(work, "bench.qcow2")
    h = hashlib.sha256()
    with open(qcow2, "rb") as f:
        for block in iter(lambda: f.read(8 * MIB), b""):
            h.update(block)
    report = os.path.join(work, "report.json")
    with open(report, "w") as f:
        json.dump({"report_format": 1, "recipe": {"name": "bench", "version": "1"},
                   "artefacts": [{"target": "kvm", "path": qcow2, "format": "qcow2",
                                  "spec": "qcow2:compress=off", "virtual_size": 0,
                                  "file_size": os.path.getsize(qcow2),
                                  "sha256": h.hexdigest()}]}, f)
    return qcow2, report


def run_vmforge(report, how):
    """Wall time and bytes read (rchar) of one vmforge publish."""
    t0 = time.monotonic()
    p = subprocess.Popen([VMFORGE, "publish", report, "--to", "glance:vmforge-test", "--force",
                          "--upload", how, "--name", "bench-" + how, "-q", "--json"], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rchar = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/io") as f:
                rchar = int([ln for ln in f if ln.startswith("rchar")][0].split()[1])
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    out, err = p.communicate()
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"vmforge publish failed: {err}")
    return wall, rchar, json.loads(out)["published"][0]["id"]


TOKEN = []


def wait_active(image_id):
    """`openstack image create --import` returns while Glance still imports:
    poll the image (plain HTTP, 50 ms) until it is active, as vmforge does."""
    if not TOKEN:
        TOKEN.append(sh(OPENSTACK + ["token", "issue", "-f", "value", "-c", "id"]).stdout.strip())
    req = urllib.request.Request(f"{GLANCE}/v2/images/{image_id}",
                                 headers={"X-Auth-Token": TOKEN[0]})
    while True:
        with urllib.request.urlopen(req) as r:
            status = json.load(r)["status"]
        if status == "active":
            return
        if status in ("killed", "deleted"):
            sys.exit(f"reference import: image {status}")
        time.sleep(0.05)


def run_reference(qcow2, *extra):
    t0 = time.monotonic()
    out = sh(OPENSTACK + ["image", "create", "--disk-format", "qcow2", "--container-format",
                          "bare", *extra, "--file", qcow2, "bench-ref", "-f", "value",
                          "-c", "id"])
    image_id = out.stdout.strip()
    wait_active(image_id)
    return time.monotonic() - t0, image_id


RUNS = {
    "a": ("vmforge --upload put   ", lambda q, r: run_vmforge(r, "put")),
    "b": ("openstack create --file", lambda q, r: run_reference(q)),
    "c": ("vmforge --upload import", lambda q, r: run_vmforge(r, "import")),
    "d": ("openstack create --import", lambda q, r: run_reference(q, "--import")),
}


def main():
    size = int(os.environ.get("BENCH_SIZE_MIB", "1024"))
    rounds = int(os.environ.get("ROUNDS", "5"))
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "openstack-services.sh"), "start"],
                   check=True)
    walls = {k: [] for k in RUNS}
    reads = []
    with tempfile.TemporaryDirectory(prefix="bench-publish-", dir=os.path.join(ROOT, "build")) \
            as work:
        qcow2, report = make_image(work, size)
        fsize = os.path.getsize(qcow2)
        print(f"image: {fsize / MIB:.0f} MiB qcow2 ({size} MiB of data)")
        keys = list(RUNS)
        for r in range(rounds):
            for which in keys[r % 4:] + keys[:r % 4]:
                res = RUNS[which][1](qcow2, report)
                walls[which].append(res[0])
                if len(res) == 3:
                    reads.append(res[1] / fsize)
                sh(OPENSTACK + ["image", "delete", res[-1]])
                print(f"round {r + 1} ({which}): {res[0]:.2f} s")
    med = {k: statistics.median(v) for k, v in walls.items()}
    for k, (label, _) in RUNS.items():
        print(f"({k}) {label}  median {med[k]:.2f} s  ({' '.join(f'{x:.2f}' for x in walls[k])})")
    print(f"PUT:    ratio (b)/(a) {med['b'] / med['a']:.2f}  (target >= 1.0)")
    print(f"import: ratio (d)/(c) {med['d'] / med['c']:.2f}  (target >= 1.0)")
    print(f"vmforge read {statistics.median(reads):.3f} x the image's size from files "
          f"(target about 1.0: read once)")

if __name__ == "__main__":
    main()
