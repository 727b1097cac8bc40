# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmforge publish` without a cloud or a host (so that it runs in the
sanitizer tree too): which images of a report go where (--dry-run), the
refusals of bad reports, files and options, each naming what is wrong;
`vmforge build --publish` refused before anything starts when no target
has publish:, and the dry-run plan listing the publish: destinations."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from recipes import BASE  # noqa: E402
from testlib import Failure, check, main, random_bytes, run, vmforge_path  # noqa: E402

MIB = 1 << 20


def publish(*args, rc=0):
    p = run([vmforge_path(), "publish", *map(str, args)],
            env={"OS_CLIENT_CONFIG_FILE": "/nonexistent", "OS_CLOUD": ""})
    if p.returncode != rc:
        raise Failure(f"publish {' '.join(map(str, args))}: exit {p.returncode}, want {rc}\n"
                      f"{p.stdout}{p.stderr}")
    return p


def make_report(work):
    """A report.json as a build writes it, over images vmforge converted."""
    raw = os.path.join(work, "d.raw")
    with open(raw, "wb") as f:
        f.truncate(16 * MIB)
        f.seek(MIB)
        f.write(random_bytes(MIB, seed=7))
    out = os.path.join(work, "out")
    os.makedirs(out)
    p = run([vmforge_path(), "convert", raw, "--to", "qcow2,raw.gz,ova", "-o", out, "-n", "app",
             "--json", "-q", "--no-sync"], check_rc=0)
    conv = json.loads(p.stdout)
    targets = {"qcow2": "kvm", "raw.gz": "xen", "ova": "vmware"}
    arts = []
    for o in conv["artefacts"]:
        fmt = o["format"]
        arts.append({"target": targets[fmt], "path": o["path"], "format": fmt, "spec": fmt,
                     "virtual_size": 16 * MIB, "file_size": os.path.getsize(o["path"]),
                     "sha256": o["sha256"]})
    meta = os.path.join(out, "app.openstack.json")
    with open(meta, "w") as f:
        json.dump({"name": "app-2.0", "min_disk": 1, "min_ram": 512,
                   "properties": {"hw_disk_bus": "virtio"}}, f)
    arts.append({"target": "kvm", "path": meta, "format": "openstack-json",
                 "file_size": os.path.getsize(meta), "sha256": "0" * 64})
    report = os.path.join(out, "report.json")
    with open(report, "w") as f:
        json.dump({"report_format": 1, "recipe": {"name": "app", "version": "2.0"},
                   "artefacts": arts}, f)
    return report, {a["format"]: a["path"] for a in arts}


def case_dry_run(work):
    report, paths = make_report(work)
    p = publish(report, "--to", "glance:c", "--to", "libvirt:qemu:///system/default",
                "--dry-run")
    lines = p.stdout.splitlines()
    want = [
        f"would send {paths['qcow2']} (qcow2, {os.path.getsize(paths['qcow2'])} bytes) "
        "-> glance:c as app-2.0",
        f"would leave out {paths['raw.gz']} (raw.gz, {os.path.getsize(paths['raw.gz'])} bytes) "
        "-> glance:c as app-2.0-xen",
        f"would send {paths['ova']} (ova, {os.path.getsize(paths['ova'])} bytes) "
        "-> glance:c as app-2.0-vmware",
        f"would send {paths['qcow2']} (qcow2, {os.path.getsize(paths['qcow2'])} bytes) "
        "-> libvirt:qemu:///system/default as app-2.0",
        f"would leave out {paths['ova']} (ova, {os.path.getsize(paths['ova'])} bytes) "
        "-> libvirt:qemu:///system/default as app-2.0-vmware",
    ]
    for w in want:
        check(w in lines, f"missing {w!r} in:\n{p.stdout}")
    p = publish(report, "--to", "glance:c", "--only", "vmware", "--dry-run")
    check(len(p.stdout.splitlines()) == 1 and "(ova," in p.stdout, p.stdout)
    # An image file given as such: its name says its format.
    p = publish(paths["qcow2"], "--to", "glance:", "--dry-run")
    check(p.stdout.startswith(f"would send {paths['qcow2']} (qcow2,") and
          p.stdout.rstrip().endswith("as app"), p.stdout)


def case_refusals(work):
    report, paths = make_report(work)
    cases = [
        ((report,), 2, "give where to: --to glance:CLOUD"),
        (("--to", "glance:c"), 2, "give a report.json or image files"),
        ((report, "--to", "ftp:x"), 2, "--to ftp:x: give glance:[CLOUD] or libvirt:URI/POOL"),
        ((report, "--to", "libvirt:qemu:///system"), 2, "libvirt:URI/POOL[/NAME]"),
        ((report, "--to", "libvirt:qemu:///system/a/b/c"), 2, "libvirt:URI/POOL[/NAME]"),
        ((report, "--to", "glance:c", "--name", "x"), 2, "--name names one image; 3 are selected"),
        ((report, "--to", "glance:c", "--only", "esx"), 3,
         "--only esx: no image of target esx (there are: kvm, xen, vmware)"),
        ((report, "--to", "glance:c", "--only", "xen"), 2, "glance:c takes no raw.gz file"),
        ((report, "--to", "libvirt:qemu:///system/p", "--only", "vmware"), 2,
         "takes no ova file"),
        ((report, "--to", "glance:c", "--upload", "ftp"), 2, "--upload ftp: give auto, import"),
        ((report, "--to", "glance:c", "--limit-rate", "fast"), 2, "--limit-rate fast"),
        ((report, "--to", "glance:c", "--visibility", "all"), 2, "--visibility all"),
        ((os.path.join(work, "none.json"), "--to", "glance:c"), 3, "none.json"),
        ((paths["qcow2"] + ".x", "--to", "glance:c"), 3, ".qcow2.x"),
        ((report, "--to", "glance:nosuch"), 3,
         "cloud nosuch: $OS_CLIENT_CONFIG_FILE names /nonexistent, which does not exist"),
    ]
    for args, rc, text in cases:
        p = publish(*args, rc=rc)
        check(text in p.stderr, f"{args}: {p.stderr!r} lacks {text!r}")
    # A file that is not what its name says; an image changed since the report.
    fake = os.path.join(work, "fake.vmdk")
    with open(fake, "wb") as f:
        f.write(b"\0" * 4096)
    p = publish(fake, "--to", "glance:c", rc=3)
    check("its name says VMDK, its content is not an image format (raw)" in p.stderr, p.stderr)
    with open(paths["qcow2"], "ab") as f:
        f.write(b"\0" * 512)
    p = publish(report, "--to", "glance:c", "--dry-run", rc=3)
    check("changed since" in p.stderr and "report.json was written" in p.stderr, p.stderr)
    # The report is untouched by a refused publish.
    with open(report) as f:
        check("published" not in json.load(f), "a refused publish wrote into the report")


def case_build(work):
    os.chmod(work, 0o755)
    for f in ("vmlinuz", "initrd.img"):
        with open(os.path.join(work, f), "w") as fh:
            fh.write(f"fake {f}\n")
    recipe = os.path.join(work, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(BASE + "targets:\n  - platform: kvm\n  - platform: vmware\n")
    base = [vmforge_path(), "build", recipe, "--cache-dir", os.path.join(work, "cache"),
            "-o", os.path.join(work, "out"), "--accel", "tcg"]
    p = run(base + ["--publish"])
    check(p.returncode == 2 and "--publish: no target of" in p.stderr and
          "has a publish: key" in p.stderr, f"{p.returncode}: {p.stderr}")
    check(not os.path.exists(os.path.join(work, "out")), "a refused --publish started the build")
    p = run(base + ["--force-publish", "--dry-run"])
    check(p.returncode == 2 and "--force-publish goes with --publish" in p.stderr, p.stderr)
    with open(recipe, "w") as f:
        f.write(BASE + "targets:\n  - platform: kvm\n    publish:\n"
                "      glance: {cloud: prod, name: \"${name}-golden\"}\n"
                "      libvirt: [qemu+ssh://root@kvm3/system/images, qemu:///system/default/x.qcow2]\n")
    p = run(base + ["--dry-run", "--publish"], check_rc=0)
    for line in ("publish    kvm          glance:prod as ",
                 "publish    kvm          libvirt:qemu+ssh://root@kvm3/system/images",
                 "publish    kvm          libvirt:qemu:///system/default/x.qcow2"):
        check(line in p.stdout, f"plan lacks {line!r}:\n{p.stdout}")
    check("-golden (with --publish)" in p.stdout, p.stdout)


if __name__ == "__main__":
    main({"dry-run": case_dry_run, "refusals": case_refusals, "build": case_build})
