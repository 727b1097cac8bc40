# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmforge backup` without a hypervisor: the command line, and shut-off
domains of libvirt's test driver (test:///FILE, a node description read by
the libvirt client library itself). The disks are real files, read by
vmforge and checked with qemu-img; the domains' XML exercises what the
backup reads from a definition (memory units, vCPUs, firmware, buses, NIC
models, MACs) and what it refuses (image formats it does not read, disk
types that are not files)."""

import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import Failure, check, main, random_bytes, run, vmforge_path  # noqa: E402

MIB = 1 << 20
SCHEMAS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "schemas", "ovf-1.x")


def vmforge(*args, rc=0):
    p = run([vmforge_path(), *args])
    if p.returncode != rc:
        raise Failure(f"vmforge {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
                      f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}")
    return p


def node(d, domains):
    path = os.path.join(d, "node.xml")
    with open(path, "w") as f:
        f.write("<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\n")
        for dom in domains:
            f.write(dom)
        f.write("</node>\n")
    return "test://" + path


def domain(name, devices, memory="<memory unit='GiB'>2</memory>", vcpu=4, os_extra=""):
    return f"""<domain type='test'><name>{name}</name>{memory}<vcpu>{vcpu}</vcpu>
<os><type>hvm</type>{os_extra}</os><devices>{devices}</devices>
<test:runstate>5</test:runstate></domain>
"""


def file_disk(path, target, bus, driver=None):
    drv = f"<driver name='qemu' type='{driver}'/>" if driver else ""
    return (f"<disk type='file' device='disk'>{drv}<source file='{path}'/>"
            f"<target dev='{target}' bus='{bus}'/></disk>")


def case_help(work):
    p = vmforge("backup", "--help")
    for opt in ("--to", "--profile", "--generalize", "--connect", "--output", "--no-quiesce",
                "--scratch-dir", "--force", "--json", "blockcommit", "Exit status",
                "--incremental", "--incremental-only", "--method", "--pool", "--remote-dir",
                "--prune", "--dry-run", "backup API", "checkpoint"):
        check(opt in p.stdout or opt in p.stdout.replace("block commit", "blockcommit"),
              f"{opt} not in --help")
    check("backup" in vmforge("--help").stdout, "vmforge --help does not list backup")


def case_usage(work):
    for args, msg in ((["backup"], "give exactly one domain"),
                      (["backup", "a", "b"], "give exactly one domain"),
                      (["backup", "a", "--to", "qcow3"], "--to qcow3:"),
                      (["backup", "a", "--to", "qcow2,qcow2"], "--to names qcow2 twice"),
                      (["backup", "a", "--to", "qcow2", "--profile", "vmware"],
                       "--profile is for OVAs"),
                      (["backup", "a", "--accel", "fast"], "fast"),
                      (["backup", "a", "--method", "copy"], "--method copy: give auto, api or"),
                      (["backup", "a", "--incremental-only"], "--incremental-only goes with"),
                      (["backup", "a", "--pool", "p", "--remote-dir", "/x"], "give one"),
                      (["backup", "a", "--dry-run"], "--dry-run goes with --prune"),
                      (["backup", "--prune", "2"], "usage: vmforge backup --prune KEEP DIR"),
                      (["backup", "--prune", "-1", "d"], "KEEP at least 1"),
                      (["backup", "a", "--incremental", "d", "--generalize"],
                       "--generalize and --incremental do not go together")):
        p = vmforge(*args, rc=2)
        check(msg in p.stderr, f"{args}: {p.stderr}")
        check(not os.listdir(work), f"{args} made files")


def case_test_driver(work):
    """A shut-off two-disk domain of the test driver: images of both disks,
    an OVA whose descriptor has the domain's hardware, the report."""
    top = os.path.join(work, "d.qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", top, "16M"], check_rc=0)
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1M 3M", top], check_rc=0)
    raw = os.path.join(work, "r.raw")
    with open(raw, "wb") as f:
        f.write(random_bytes(2 * MIB, seed=3))
        f.truncate(8 * MIB)
    nic = ("<interface type='network'><source network='lan'/><mac address='52:54:00:aa:bb:cc'/>"
           "<model type='e1000e'/></interface>")
    uri = node(work, [domain("off1", file_disk(top, "vda", "virtio", "qcow2") +
                             file_disk(raw, "sdb", "scsi") + nic,
                             memory="<memory unit='MiB'>1536</memory>", vcpu=3,
                             os_extra="<loader readonly='yes' type='pflash'>/x/CODE.fd</loader>")])
    out = os.path.join(work, "out")
    p = vmforge("backup", "off1", "--connect", uri, "--to", "ova,qcow2", "--profile", "vmware",
                "-o", out, "--json")
    report = json.loads(p.stdout)
    dom = report["domain"]
    check((dom["vcpus"], dom["memory"], dom["firmware"], dom["state"]) ==
          (3, 1536 * MIB, "efi", "shut off"), f"domain {dom}")
    check([(x["target"], x["bus"], x["format"]) for x in report["disks"]] ==
          [("vda", "virtio", "qcow2"), ("sdb", "scsi", "raw")], f"disks {report['disks']}")
    check(report["nics"] == [{"model": "e1000e", "mac": "52:54:00:aa:bb:cc", "network": "lan"}],
          f"nics {report['nics']}")
    for tgt, src, fmt in (("vda", top, "qcow2"), ("sdb", raw, "raw")):
        img = os.path.join(out, f"off1-{tgt}.qcow2")
        q = run(["qemu-img", "compare", "-f", fmt, "-F", "qcow2", src, img])
        check(q.returncode == 0, f"{img}: {q.stdout}")
    with tarfile.open(os.path.join(out, "off1.ova")) as t:
        names = t.getnames()
        ovf = t.extractfile(names[0]).read().decode()
    check(names == ["off1.ovf", "off1.mf", "off1-disk1.vmdk", "off1-disk2.vmdk"], f"{names}")
    for want in ("<rasd:VirtualQuantity>3</rasd:VirtualQuantity>",
                 "<rasd:VirtualQuantity>1536</rasd:VirtualQuantity>",
                 "<rasd:ResourceSubType>E1000e</rasd:ResourceSubType>",
                 "<rasd:Connection>lan</rasd:Connection>",
                 'vmw:value="efi"', "<rasd:Description>sdb</rasd:Description>",
                 "<rasd:AddressOnParent>1</rasd:AddressOnParent>"):
        check(want in ovf, f"{want} not in the descriptor:\n{ovf}")
    check(ovf.count("<rasd:ResourceType>6</rasd:ResourceType>") == 1,
          "virtio and scsi disks should share one SCSI controller")
    xmllint_ok(work, ovf)


def xmllint_ok(work, ovf_text):
    path = os.path.join(work, "check.ovf")
    with open(path, "w") as f:
        f.write(ovf_text)
    p = run(["xmllint", "--noout", "--nonet", "--schema",
             os.path.join(SCHEMAS, "ovf-envelope.xsd"), path])
    check(p.returncode == 0, f"xmllint: {p.stderr}")


def case_controllers(work):
    """Three IDE disks in the generic profile: two per IDE controller, so a
    second controller is made; no NIC in the domain, none in the OVF."""
    disks = ""
    for i, t in enumerate(("hda", "hdb", "hdd")):
        path = os.path.join(work, f"{t}.raw")
        with open(path, "wb") as f:
            f.write(bytes([i + 1]) * 4096)
            f.truncate(MIB)
        disks += file_disk(path, t, "ide", "raw")
    uri = node(work, [domain("ide3", disks)])
    out = os.path.join(work, "out")
    vmforge("backup", "ide3", "--connect", uri, "--to", "ova", "-o", out, "-q")
    with tarfile.open(os.path.join(out, "ide3.ova")) as t:
        ovf = t.extractfile("ide3.ovf").read().decode()
    xmllint_ok(work, ovf)
    for want in ("<rasd:ElementName>IDE Controller 0</rasd:ElementName>",
                 "<rasd:ElementName>IDE Controller 1</rasd:ElementName>"):
        check(want in ovf, f"{want} not in the descriptor")
    check(ovf.count("<rasd:ResourceType>5</rasd:ResourceType>") == 2, "two IDE controllers")
    check("<rasd:ResourceType>10</rasd:ResourceType>" not in ovf, "a NIC the domain has not")
    parents = [int(x) for x in __import__("re").findall(r"<rasd:Parent>(\d+)</rasd:Parent>", ovf)]
    check(len(parents) == 3 and parents[0] == parents[1] != parents[2], f"parents {parents}")


def case_refusals(work):
    """What cannot be read is refused by name, with exit 3 and no files."""
    img = os.path.join(work, "x.img")
    with open(img, "wb") as f:
        f.truncate(MIB)
    doms = [
        domain("vmdk1", file_disk(img, "vda", "virtio", "vmdk")),
        domain("nvme1", "<disk type='nvme' device='disk'><driver name='qemu' type='raw'/>"
                        "<source type='pci' managed='yes' namespace='1'><address domain='0x0000' "
                        "bus='0x01' slot='0x00' function='0x0'/></source>"
                        "<target dev='vda' bus='virtio'/></disk>"),
        domain("fake1", file_disk(img, "vda", "virtio", "qcow2")),
        domain("nodisk", ""),
    ]
    uri = node(work, doms)
    out = os.path.join(work, "out")
    for name, msg in (("vmdk1", "disk vda of vmdk1 is a vmdk image"),
                      ("nvme1", "<disk type='nvme'>, which vmforge backup cannot read"),
                      ("fake1", "libvirt says disk vda is qcow2, but it is not a qcow2 image"),
                      ("nodisk", "nodisk has no disks to back up"),
                      ("absent", 'no domain "absent"')):
        p = vmforge("backup", name, "--connect", uri, "--to", "qcow2", "-o", out, rc=3)
        check(msg in p.stderr, f"{name}: {p.stderr}")
        check(not os.listdir(out), f"{name}: files left: {os.listdir(out)}")


def fake_backup(root, name, uuid, started, checkpoint=None, parent=None, extra=()):
    """A backup folder as vmforge leaves it: the report (only what --prune
    reads), the domain XML and an image."""
    d = os.path.join(root, name)
    os.makedirs(d)
    img = os.path.join(d, "web-vda.qcow2")
    with open(img, "wb") as f:
        f.write(b"image")
    for e in extra:
        open(os.path.join(d, e), "w").close()
    open(os.path.join(d, "web.xml"), "w").close()
    report = {"kind": "backup", "started": started, "checkpoint": checkpoint,
              "domain": {"name": "web", "uuid": uuid},
              "incremental": {"parent": f"../{parent}", "parent_checkpoint": "x"} if parent else None,
              "artefacts": [{"path": "/elsewhere/now/web-vda.qcow2", "format": "qcow2"}]}
    with open(os.path.join(d, "web.report.json"), "w") as f:
        json.dump(report, f)
    return d


def case_prune(work):
    """--prune on folders alone (the domain is not on the test driver: only
    files go): the newest kept with what it builds on, the rest removed,
    a folder with a file of the user's left with it; --dry-run first."""
    uuid = "6f1c0c5e-0000-4000-8000-000000000001"
    dirs = [fake_backup(work, "d5", uuid, "2026-11-28T01:00:00Z"),
            fake_backup(work, "d1", uuid, "2026-11-29T01:00:00Z", "ck1", extra=["notes.txt"]),
            fake_backup(work, "d2", uuid, "2026-11-30T01:00:00Z", "ck2", parent="d1"),
            fake_backup(work, "d3", uuid, "2026-12-01T01:00:00+02:00", "ck3"),
            fake_backup(work, "d4", uuid, "2026-12-02T01:00:00Z", "ck4", parent="d3")]
    uri = "test:///default"
    p = vmforge("backup", "--prune", "1", "-n", "--connect", uri, *dirs)
    check("2 backups kept, 3 to be removed" in p.stdout, p.stdout + p.stderr)
    check(all(os.path.isfile(os.path.join(d, "web.report.json")) for d in dirs), "dry run removed")
    p = vmforge("backup", "--prune", "1", "--connect", uri, *dirs)
    check("2 backups kept, 3 removed" in p.stdout, p.stdout + p.stderr)
    check("is not on test:///default any more: only its backups' files are removed" in p.stderr,
          p.stderr)
    check(sorted(os.listdir(work)) == ["d1", "d3", "d4"], f"left: {sorted(os.listdir(work))}")
    check(os.listdir(os.path.join(work, "d1")) == ["notes.txt"], "d1 should keep only the notes")
    check("keeps files vmforge did not make" in p.stderr, p.stderr)
    for d in ("d3", "d4"):
        check(len(os.listdir(os.path.join(work, d))) == 3, f"{d} lost files")


def case_prune_refusals(work):
    a = fake_backup(work, "a", "6f1c0c5e-0000-4000-8000-00000000000a", "2026-11-28T01:00:00Z")
    b = fake_backup(work, "b", "6f1c0c5e-0000-4000-8000-00000000000b", "2026-11-29T01:00:00Z")
    p = vmforge("backup", "--prune", "1", a, b, rc=2)
    check("prune one domain's backups at a time" in p.stderr, p.stderr)
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    p = vmforge("backup", "--prune", "1", a, empty, rc=3)
    check("holds no NAME.report.json" in p.stderr, p.stderr)
    p = vmforge("backup", "--prune", "1", a, os.path.join(work, "nowhere"), rc=3)
    check("nowhere: No such file or directory" in p.stderr, p.stderr)
    check(sorted(os.listdir(a)) == ["web-vda.qcow2", "web.report.json", "web.xml"], "a changed")


if __name__ == "__main__":
    main({
        "prune": case_prune,
        "prune-refusals": case_prune_refusals,
        "help": case_help,
        "usage": case_usage,
        "test-driver": case_test_driver,
        "controllers": case_controllers,
        "refusals": case_refusals,
    })
