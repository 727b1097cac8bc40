#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""OVA appliances, checked with tools that share no code with vmforge:
GNU tar and Python's tarfile (member order and metadata), xmllint with the
DMTF schemas (the descriptor), sha*sum (the manifest), qemu-img and 7-Zip
(the embedded VMDK), virt-v2v --print-source (an importer)."""
import io
import os
import re
import struct
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import (MIB, Disk, Skip, check, convert_json, main, ovf_schema,  # noqa: E402
                     random_bytes, run, sha256_file, text_bytes, vmforge)

O = "{http://schemas.dmtf.org/ovf/envelope/1}"
GIB = 1 << 30


def disk(work, size=96 * MIB):
    d = Disk(os.path.join(work, "disk.raw"), size)
    d.write(MIB, random_bytes(3 * MIB, 21))
    d.write(40 * MIB, text_bytes(4 * MIB))
    d.write(size - 4096, random_bytes(4096, 22))
    return d


def make_ova(work, d, *extra, name="app", env=None, outdir="out"):
    out = os.path.join(work, outdir)
    os.makedirs(out, exist_ok=True)
    r = convert_json(d.path, out, "ova", name, extra=extra, env=env)
    art = r["artefacts"][0]
    check(art["format"] == "ova" and art["path"].endswith(f"{name}.ova"), f"artefact {art}")
    check(art["sha256"] == sha256_file(art["path"]), "reported OVA digest")
    return art


def extract(work, ova):
    x = os.path.join(work, "x")
    os.makedirs(x, exist_ok=True)
    run(["tar", "xf", ova, "-C", x], check_rc=0)
    return x


def case_tar_layout(work):
    d = disk(work)
    art = make_ova(work, d, "--scratch", "20G")
    p = run(["tar", "tvf", art["path"]], check_rc=0)
    lines = p.stdout.splitlines()
    names = [line.split()[-1] for line in lines]
    check(names == ["app.ovf", "app.mf", "app-disk1.vmdk", "app-disk2.vmdk"],
          f"member order: {names}")
    for line in lines:
        check(line.startswith("-rw-r--r-- 0/0"), f"mode/owner: {line}")
        check(" 1970-01-01 00:00 " in line, f"mtime not 0: {line}")
    with tarfile.open(art["path"]) as t:
        members = t.getmembers()
        check([m.name for m in members] == names, "tarfile order")
        check(all(m.isfile() and m.uid == 0 and m.gid == 0 and m.mode == 0o644 for m in members),
              "tarfile metadata")
    check(os.path.getsize(art["path"]) % 512 == 0, "OVA size is not a multiple of 512")
    # Defined for deploy time: no member for it.
    art = make_ova(work, d, "--scratch", "20G", "--scratch-at-deploy", outdir="deploy")
    with tarfile.open(art["path"]) as t:
        check(t.getnames() == ["app.ovf", "app.mf", "app-disk1.vmdk"], f"{t.getnames()}")


def case_descriptor(work):
    d = disk(work)
    schemas = os.environ["OVF_SCHEMAS"]
    xsd = os.path.join(schemas, "ovf-envelope.xsd")
    art = make_ova(work, d, "--scratch-per-core", "2G", "--vcpus", "4", "--memory", "4G",
                   "--os", "rhel9", "--product", "Golden", "--vendor", "Tests",
                   "--product-version", "9.4")
    x = extract(work, art["path"])
    ovf = os.path.join(x, "app.ovf")
    if os.path.exists(xsd):
        v = run(["xmllint", "--noout", "--nonet", "--schema", xsd, ovf])
        check(v.returncode == 0, f"descriptor does not validate:\n{v.stderr}")
    root = ET.parse(ovf).getroot()
    files = root.findall(f"{O}References/{O}File")
    for f in files:
        check(int(f.get(O + "size")) == os.path.getsize(os.path.join(x, f.get(O + "href"))),
              f"File ovf:size of {f.get(O + 'href')} != member size")
    vmdk = os.path.join(x, files[0].get(O + "href"))
    disks = root.findall(f"{O}DiskSection/{O}Disk")
    check(int(disks[0].get(O + "capacity")) == art["virtual_size"], "Disk capacity")
    check(int(disks[1].get(O + "capacity")) == 8 * GIB and disks[1].get(O + "fileRef") == "file2"
          and files[1].get(O + "href") == "app-disk2.vmdk",
          "scratch: 2 GiB x 4 vCPUs, an empty VMDK behind file2")
    # The scratch disk: 8 GiB for qemu-img, no data at all, a few KiB.
    scratch = os.path.join(x, "app-disk2.vmdk")
    check(os.path.getsize(scratch) < 64 * 1024, f"empty VMDK of {os.path.getsize(scratch)} bytes")
    info = run(["qemu-img", "info", "--output=json", "-f", "vmdk", scratch], check_rc=0).stdout
    check(f'"virtual-size": {8 * GIB}' in info, f"scratch VMDK: {info}")
    p = run(["qemu-img", "check", "-f", "vmdk", scratch])
    check(p.returncode == 0, p.stdout + p.stderr)
    p = run(["qemu-img", "map", "--output=json", "-f", "vmdk", scratch], check_rc=0)
    check('"data": true' not in p.stdout, f"the scratch VMDK holds data: {p.stdout}")
    check(f"({8 * GIB} bytes)" in run(["vmdkinfo", scratch], check_rc=0).stdout, "vmdkinfo")
    # scratch at deploy: the Disk has no file.
    dep = make_ova(work, d, "--scratch", "8G", "--scratch-at-deploy", outdir="deploy")
    xd = os.path.join(work, "xd")
    os.mkdir(xd)
    run(["tar", "xf", dep["path"], "-C", xd], check_rc=0)
    droot = ET.parse(os.path.join(xd, "app.ovf")).getroot()
    ddisks = droot.findall(f"{O}DiskSection/{O}Disk")
    check(len(droot.findall(f"{O}References/{O}File")) == 1 and ddisks[1].get(O + "fileRef")
          is None and int(ddisks[1].get(O + "capacity")) == 8 * GIB, "deploy-time scratch disk")
    check(root.find(f".//{O}VirtualSystem").get(O + "id") == "app", "VirtualSystem id")
    # The embedded VMDK is the disk.
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", d.path, vmdk])
    check(p.returncode == 0, f"qemu-img compare: {p.stdout}{p.stderr}")
    p = run(["qemu-img", "check", "-f", "vmdk", vmdk])
    check(p.returncode == 0, p.stdout + p.stderr)
    p = run(["7zz", "t", art["path"]])
    check(p.returncode == 0 and "Everything is Ok" in p.stdout, p.stdout[-1500:])


def case_manifest(work):
    d = disk(work)
    for alg, tool in (("sha256", "sha256sum"), ("sha1", "sha1sum"), ("sha512", "sha512sum")):
        art = make_ova(work, d, "--manifest", alg, outdir=alg)
        x = extract(work, art["path"])
        with open(os.path.join(x, "app.mf")) as f:
            mf = f.read()
        sums = run([tool, "app.ovf", "app-disk1.vmdk"], check_rc=0, cwd=x).stdout.split("\n")
        want = "".join(f"{alg.upper()}({s.split()[1]})= {s.split()[0]}\n" for s in sums if s)
        check(mf == want, f"{alg} manifest:\n{mf}\nexpected:\n{want}")
        for f in os.listdir(x):
            os.unlink(os.path.join(x, f))
    # The virtualbox profile does not offer SHA-512.
    p = vmforge("convert", d.path, "--to", "ova", "--profile", "virtualbox", "--manifest",
                "sha512", "-o", work, rc=2)
    check("takes manifest sha1, sha256" in p.stderr, p.stderr)


def case_profiles(work):
    d = disk(work)
    seen = {}
    for prof in ("vmware", "virtualbox", "generic"):
        art = make_ova(work, d, "--profile", prof, outdir=prof)
        x = extract(work, art["path"])
        root = ET.parse(os.path.join(x, "app.ovf")).getroot()
        vst = root.find(".//{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
                        "CIM_VirtualSystemSettingData}VirtualSystemType").text
        with open(os.path.join(x, "app-disk1.vmdk"), "rb") as f:
            desc = f.read(4096).decode("latin-1")
        seen[prof] = (vst, [ln for ln in desc.splitlines() if "adapterType" in ln][0])
        for f in os.listdir(x):
            os.unlink(os.path.join(x, f))
    check(seen["vmware"][0] == "vmx-14" and "lsilogic" in seen["vmware"][1], f"{seen}")
    check(seen["virtualbox"][0] == "virtualbox-2.2" and '"ide"' in seen["virtualbox"][1],
          f"{seen}")
    p = vmforge("convert", d.path, "--to", "ova", "--profile", "hyperv", "-o", work, rc=2)
    check('no hardware profile "hyperv"' in p.stderr and "generic, virtualbox, vmware" in p.stderr,
          p.stderr)


def case_reproducible(work):
    d = disk(work)
    a = make_ova(work, d, "--scratch", "10G", outdir="a")
    b = make_ova(work, d, "--scratch", "10G", outdir="b")
    check(a["sha256"] == b["sha256"], "two runs give different OVAs")
    c = make_ova(work, d, "--scratch", "10G", outdir="c", env={"SOURCE_DATE_EPOCH": "1700000000"})
    with tarfile.open(c["path"]) as t:
        check(all(m.mtime == 1700000000 for m in t.getmembers()), "SOURCE_DATE_EPOCH mtime")


def case_large_member(work):
    """Members of 8 GiB and more: the header must still be read right."""
    for size in (8 * GIB - 1, 8 * GIB, 3 * 1024 * GIB + 12345):
        p = subprocess.run([os.environ["OVF_DUMP"], "--tar-header", "big.vmdk", str(size)],
                           capture_output=True)
        check(p.returncode == 0 and len(p.stdout) == 512, f"header for {size}")
        info = tarfile.TarInfo.frombuf(p.stdout, "utf-8", "surrogateescape")
        check(info.size == size and info.name == "big.vmdk", f"tarfile reads {info.size}")
        hdr = os.path.join(work, "h.tar")
        with open(hdr, "wb") as f:
            f.write(p.stdout)
        listing = run(["tar", "tvf", hdr]).stdout  # data is missing: tar complains after listing
        check(f" {size} " in listing, f"GNU tar lists {listing!r} for {size}")


def case_errors(work):
    d = disk(work)
    for args, frag in ((("--scratch", "lots"), "--scratch"),
                       (("--scratch", "1G", "--scratch-per-core", "1G"), "either --scratch"),
                       (("--vcpus", "9999"), "--vcpus"),
                       (("--memory", "1000"), "whole number of MiB"),
                       (("--os", "plan9"), "--os"),
                       (("--manifest", "md5"), "--manifest"),
                       (("--scratch-at-deploy",), "--scratch-at-deploy needs --scratch")):
        p = vmforge("convert", d.path, "--to", "ova", "-o", work, *args, rc=2)
        check(frag in p.stderr, f"{args}: {p.stderr}")
    # An empty VMDK holds at most 2 TiB; the message says what to do instead.
    p = vmforge("convert", d.path, "--to", "ova", "-o", work, "--scratch", "3T", rc=5)
    check("at most 2 TiB" in p.stderr and "deploy time" in p.stderr, p.stderr)
    p = vmforge("convert", d.path, "--to", "qcow2", "--scratch", "1G", "-o", work, rc=2)
    check("go with --to ova" in p.stderr, p.stderr)
    check(not [f for f in os.listdir(work) if f.endswith((".ova", ".qcow2"))], "outputs left")


def case_ovf_dir(work):
    """--ovf-dir: the unpacked appliance, byte for byte the OVA's members."""
    d = disk(work)
    unpacked = os.path.join(work, "unpacked")
    os.mkdir(unpacked)
    art = make_ova(work, d, "--ovf-dir", unpacked, "--system-type", "vmx-14 vmx-19",
                   "--scratch", "4G")
    x = extract(work, art["path"])
    check(sorted(os.listdir(unpacked)) == sorted(os.listdir(x)), f"{os.listdir(unpacked)}")
    for name in os.listdir(x):
        check(sha256_file(os.path.join(x, name)) == sha256_file(os.path.join(unpacked, name)),
              f"{name} differs between the OVA and --ovf-dir")
    with open(os.path.join(unpacked, "app.ovf")) as f:
        check("<vssd:VirtualSystemType>vmx-14 vmx-19</vssd:VirtualSystemType>" in f.read(),
              "--system-type")
    # An existing file in --ovf-dir stops the run before anything is written.
    os.unlink(art["path"])
    p = vmforge("convert", d.path, "--to", "ova", "-o", os.path.join(work, "out"), "-n", "app",
                "--ovf-dir", unpacked, rc=4)
    check("app.ovf already exists" in p.stderr, p.stderr)
    check(not os.path.exists(art["path"]), "the OVA was written anyway")
    p = vmforge("convert", d.path, "--to", "ova", "-o", work, "--ovf-dir",
                os.path.join(work, "nodir"), rc=4)
    check("is not a directory" in p.stderr, p.stderr)


def case_virt_v2v(work):
    if not os.path.exists("/usr/bin/virt-v2v"):
        raise Skip("virt-v2v is not installed")
    d = disk(work)
    # With the scratch disk as an empty VMDK: virt-v2v (2.2,
    # input/parse_ovf_from_ova.ml) wants a file behind every disk Item and
    # stops with "error parsing disk fileRef" on a deploy-time disk.
    env = dict(os.environ, LIBGUESTFS_BACKEND="direct")
    expect = {"vmware": ("[scsi]", "[vmxnet3]"), "virtualbox": ("[sata]", "[e1000]"),
              "generic": ("[ide]", "[e1000]")}
    for prof, (bus, nic) in expect.items():
        art = make_ova(work, d, "--profile", prof, "--vcpus", "3", "--memory", "3G",
                       "--scratch", "5G", outdir=prof)
        p = subprocess.run(["virt-v2v", "-i", "ova", art["path"], "--print-source"],
                           capture_output=True, text=True, env=env, timeout=600)
        out = p.stdout + p.stderr
        check(p.returncode == 0, f"{prof}: virt-v2v exit {p.returncode}:\n{out}")
        check("warning" not in out.lower(), f"{prof}: virt-v2v warned:\n{out}")
        for want in ("source name: app", "memory: 3221225472", "nr vCPUs: 3", "0 " + bus,
                     "1 " + bus, nic):
            check(want in out, f"{prof}: {want!r} not in:\n{out}")
    # A flipped byte in the disk: virt-v2v's manifest check rejects it.
    bad = os.path.join(work, "bad.ova")
    with open(art["path"], "rb") as f:
        data = bytearray(f.read())
    vmdk_at = data.find(b"KDMV", 1536)
    data[vmdk_at + 70000] ^= 0xFF
    with open(bad, "wb") as f:
        f.write(data)
    p = subprocess.run(["virt-v2v", "-i", "ova", bad, "--print-source"],
                       capture_output=True, text=True, env=env, timeout=600)
    check(p.returncode != 0, f"virt-v2v accepted a corrupted OVA:\n{p.stdout}")


def verify(path, rc):
    p = vmforge("verify", path, rc=rc)
    return p.stdout


def retar(work, src_ova, out_name, order=None, edit=None):
    """Rebuilds an OVA with Python's tarfile: members in `order` (default:
    as they were), after edit(name, bytes) -> bytes."""
    with tarfile.open(src_ova) as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
        names = [m.name for m in t.getmembers()]
    out = os.path.join(work, out_name)
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
        for name in order or names:
            data = members[name]
            if edit:
                data = edit(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out


def vmdk_gd(b):
    """(offset of the grain directory, offset of the first grain table) of a
    stream VMDK, from its footer."""
    footer = len(b) - 1024
    gd = struct.unpack_from("<Q", b, footer + 56)[0] * 512
    return gd, struct.unpack_from("<I", b, gd)[0] * 512


def bump_gd_entry(b):
    b = bytearray(b)
    gd, _ = vmdk_gd(b)
    struct.pack_into("<I", b, gd, struct.unpack_from("<I", b, gd)[0] + 1)
    return bytes(b)


def bump_gt_entry(b):
    b = bytearray(b)
    _, gt = vmdk_gd(b)
    struct.pack_into("<I", b, gt, struct.unpack_from("<I", b, gt)[0] + 1)
    return bytes(b)


def bad_first_grain_lba(b):
    b = bytearray(b)
    overhead = struct.unpack_from("<Q", b, 64)[0] * 512
    struct.pack_into("<Q", b, overhead, 1 << 40)
    return bytes(b)


def case_verify(work):
    d = disk(work)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         os.path.join(work, "key.pem"), "-out", os.path.join(work, "cert.pem"), "-days", "3650",
         "-subj", "/CN=vmforge test"], check_rc=0)
    good = []
    for prof in ("vmware", "virtualbox", "generic"):
        good.append(make_ova(work, d, "--profile", prof, "--scratch", "8G", outdir=prof)["path"])
    good.append(make_ova(work, d, "--manifest", "sha1", outdir="sha1")["path"])
    signed = make_ova(work, d, "--sign", os.path.join(work, "key.pem"), "--cert",
                      os.path.join(work, "cert.pem"), outdir="signed")["path"]
    with tarfile.open(signed) as t:
        check([m.name for m in t.getmembers()] == ["app.ovf", "app.mf", "app.cert",
                                                   "app-disk1.vmdk"], "signed member order")
    for path in good + [signed]:
        out = verify(path, 0)
        check(out.strip() == f"{path}: OK", f"verify {path}: {out}")
    # The OpenSSL command line agrees with the signature.
    x = extract(work, signed)
    with open(os.path.join(x, "app.cert")) as f:
        first = f.readline()
    sig = bytes.fromhex(first.split("= ")[1].strip())
    with open(os.path.join(work, "sig.bin"), "wb") as f:
        f.write(sig)
    pub = run(["openssl", "x509", "-in", os.path.join(x, "app.cert"), "-pubkey", "-noout"],
              check_rc=0).stdout
    with open(os.path.join(work, "pub.pem"), "w") as f:
        f.write(pub)
    p = run(["openssl", "dgst", "-sha256", "-verify", os.path.join(work, "pub.pem"), "-signature",
             os.path.join(work, "sig.bin"), os.path.join(x, "app.mf")])
    check(p.returncode == 0 and "Verified OK" in p.stdout, f"openssl: {p.stdout}{p.stderr}")

    base = good[0]
    # A byte flipped in the disk.
    flipped = os.path.join(work, "flipped.ova")
    with open(base, "rb") as f:
        data = bytearray(f.read())
    data[data.find(b"KDMV", 1536) + 70000] ^= 0xFF
    with open(flipped, "wb") as f:
        f.write(data)
    out = verify(flipped, 6)
    check("app-disk1.vmdk: SHA256 digest does not match the manifest" in out, out)
    # A reordered archive.
    out = verify(retar(work, base, "reordered.ova", ["app-disk1.vmdk", "app.ovf", "app.mf"]), 6)
    check("the first member is app-disk1.vmdk, not the .ovf" in out, out)
    # A wrong ovf:size.
    def bump_size(name, b):
        if name != "app.ovf":
            return b
        text = b.decode()
        size = text.split('ovf:size="')[1].split('"')[0]
        return text.replace(f'ovf:size="{size}"', f'ovf:size="{int(size) + 512}"').encode()
    out = verify(retar(work, base, "size.ova", edit=bump_size), 6)
    check("ovf:size of app-disk1.vmdk is" in out, out)
    # A manifest line in the "SHA256 (x) = y" form.
    def spaced(name, b):
        if name != "app.mf":
            return b
        return b.decode().replace("SHA256(", "SHA256 (").replace(")= ", ") = ").encode()
    out = verify(retar(work, base, "spaced.ova", edit=spaced), 6)
    check("app.mf line 1 is not in the form SHA256(name)= hex" in out, out)
    # A manifest changed after signing.
    def resign(name, b):
        if name != "app.mf":
            return b
        return b[:-2] + (b"1" if b[-2:-1] == b"0" else b"0") + b"\n"
    out = verify(retar(work, signed, "resigned.ova", edit=resign), 6)
    check("the signature of app.mf does not verify" in out, out)
    # One line per problem, each naming the file.
    check(all(line.startswith(os.path.join(work, "resigned.ova") + ": ")
              for line in out.splitlines()), out)
    # The stream VMDK's structure, walked as it streams past (the manifest
    # also disagrees in each case; the structural line is what is checked).
    for label, change, want in (
            ("truncated", lambda b: b[:-512], "ends at byte"),
            ("trailing", lambda b: b + bytes(512), "data after the end-of-stream marker"),
            ("gd-entry", bump_gd_entry, "grain directory entry 0 is"),
            ("grain-lba", bad_first_grain_lba, "is not a grain boundary inside the disk"),
            ("gt-entry", bump_gt_entry, "not a grain of its range")):
        out = verify(retar(work, base, f"{label}.ova", edit=lambda name, b, c=change:
                           c(b) if name == "app-disk1.vmdk" else b), 6)
        check(f"app-disk1.vmdk: {want}" in out or want in out, f"{label}: {out}")
    p = vmforge("verify", os.path.join(work, "missing.ova"), rc=3)
    check("is not a file" in p.stderr, p.stderr)


VBOX = "{http://www.virtualbox.org/ovf/machine}"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"


def rasd(item, name):
    e = item.find(RASD + name)
    return e.text if e is not None else None


def check_vbox_machine(root, vcpus, mib, os_type):
    """<vbox:Machine> says what the OVF's hardware says, with EFI: the CPUs,
    the memory, the adapters, each controller with the disks on it, each
    disk's image by the vbox:uuid of its Disk, at the port its Item has.
    Returns the controllers: [(type, name, [(port, device)...])]."""
    vs = root.find(f"{O}VirtualSystem")
    m = vs.find(VBOX + "Machine")
    check(m is not None and m.get(O + "required") == "false", "no optional vbox:Machine")
    check(m.get("version") == "1.16-linux" and m.get("OSType") == os_type
          and re.fullmatch(r"\{[0-9a-f-]{36}\}", m.get("uuid")) and m.get("name") == "app",
          f"vbox:Machine attributes {m.attrib}")
    check(m[0].tag == O + "Info", "the first child of vbox:Machine is not an ovf:Info")
    hw = m.find(O + "Hardware")
    check(hw.find(O + "CPU").get("count") == str(vcpus)
          and hw.find(O + "Memory").get("RAMSize") == str(mib), "CPUs or memory")
    check(hw.find(O + "Firmware").get("type") == "EFI", "the firmware is not EFI")
    check([(o.get("position"), o.get("device")) for o in hw.findall(f"{O}Boot/{O}Order")]
          == [("1", "HardDisk")], "boot order")
    items = vs.findall(f"{O}VirtualHardwareSection/{O}Item")
    nics = [i for i in items if rasd(i, "ResourceType") == "10"]
    adapters = hw.findall(f"{O}Network/{O}Adapter")
    check(len(adapters) == len(nics) and all(a.find(O + "NAT") is not None for a in adapters)
          and [a.get("type") for a in adapters] == ["82540EM"] * len(nics), "adapters")
    uuids = {d.get(O + "diskId"): d.get(VBOX + "uuid")
             for d in root.findall(f"{O}DiskSection/{O}Disk")}
    check(all(uuids.values()) and len(set(uuids.values())) == len(uuids), f"vbox:uuid {uuids}")
    disks = {rasd(i, "HostResource").split("/")[-1]: i for i in items
             if rasd(i, "ResourceType") == "17"}
    ctls = []
    for sc in m.findall(f"{O}StorageControllers/{O}StorageController"):
        ide = sc.get("type") == "PIIX4"
        att = []
        for ad in sc.findall(O + "AttachedDevice"):
            image = ad.find(O + "Image").get("uuid").strip("{}")
            disk_id = [k for k, v in uuids.items() if v == image]
            check(len(disk_id) == 1, f"image {image} is no Disk's vbox:uuid")
            addr = int(rasd(disks[disk_id[0]], "AddressOnParent"))
            port, dev = int(ad.get("port")), int(ad.get("device"))
            check((port, dev) == ((addr // 2, addr % 2) if ide else (addr, 0)),
                  f"{disk_id[0]} at AddressOnParent {addr}, attached at {port}:{dev}")
            att.append((port, dev))
        ctls.append((sc.get("type"), sc.get("name"), att))
    check(sum(len(a) for _, _, a in ctls) == len(uuids), f"not every disk attached: {ctls}")
    return ctls


def vbox_ova(work, d, outdir, *extra, env=None):
    art = make_ova(work, d, "--firmware", "efi", "--vcpus", "3", "--memory", "3G",
                   "--scratch", "5G", *extra, outdir=outdir, env=env)
    x = os.path.join(work, outdir + "-x")
    os.makedirs(x)
    run(["tar", "xf", art["path"], "-C", x], check_rc=0)
    return art, os.path.join(x, "app.ovf")


def case_vbox_machine(work):
    """firmware efi with the virtualbox profile: VirtualBox's own machine
    configuration, consistent with the OVF; DMTF's schema refuses it, and
    takes it as a Section with templates/schemas/ovf.xsd (what vmforge
    verify uses); virt-v2v still reads the appliance. Not for BIOS, not for other profiles."""
    d = disk(work)
    art, ovf = vbox_ova(work, d, "sata", "--profile", "virtualbox", "--os", "debian12")
    root = ET.parse(ovf).getroot()
    ctls = check_vbox_machine(root, 3, 3072, "Debian_64")
    check(ctls == [("AHCI", "SATA", [(0, 0), (1, 0)])], f"controllers {ctls}")
    vmw = "{http://www.vmware.com/schema/ovf}"
    check(root.find(f".//{vmw}Config").get(vmw + "value") == "efi",
          "no vmw:Config firmware efi")
    xsd = os.path.join(os.environ["OVF_SCHEMAS"], "ovf-envelope.xsd")
    if os.path.exists(xsd):
        v = run(["xmllint", "--noout", "--nonet", "--schema", xsd, ovf])
        check(v.returncode != 0 and "Machine': This element is not expected" in v.stderr,
              f"the DMTF schema alone took vbox:Machine:\n{v.stderr}")
        # vmforge's templates/schemas/ovf.xsd (vbox:Machine as a Section)
        # over ../shared's copy of DMTF's schemas.
        v = run(["xmllint", "--noout", "--nonet", "--schema",
                 ovf_schema(work, os.environ["OVF_SCHEMAS"]), ovf])
        check(v.returncode == 0, f"with vbox:Machine as a Section:\n{v.stderr}")
    vmforge("verify", art["path"])
    again, _ = vbox_ova(work, d, "again", "--profile", "virtualbox", "--os", "debian12")
    check(again["sha256"] == art["sha256"], "the same input gave another appliance")
    if os.path.exists("/usr/bin/virt-v2v"):
        p = subprocess.run(["virt-v2v", "-i", "ova", art["path"], "--print-source"],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, LIBGUESTFS_BACKEND="direct"))
        out = p.stdout + p.stderr
        check(p.returncode == 0 and "firmware: uefi" in out and "\t1 [sata]" in out
              and "warning" not in out.lower(), f"virt-v2v:\n{out}")
    # IDE (a profile of the tests' own): two channels of master and slave.
    tdir = os.path.join(work, "templates", "profiles")
    os.makedirs(tdir)
    src = open(os.path.join(os.environ["VMFORGE_TEMPLATES"], "profiles",
                            "virtualbox.conf")).read()
    with open(os.path.join(tdir, "vbide.conf"), "w") as f:
        f.write(src.replace("resource-type=20\nresource-subtype=AHCI\nname=sataController0",
                            "resource-type=5\nresource-subtype=PIIX4\nname=ideController0"))
    env = dict(os.environ, VMFORGE_TEMPLATES=os.path.dirname(tdir))
    _, ovf = vbox_ova(work, d, "ide", "--profile", "vbide", env=env)
    ctls = check_vbox_machine(ET.parse(ovf).getroot(), 3, 3072, "Linux_64")
    check(ctls == [("PIIX4", "IDE", [(0, 0), (0, 1)])], f"IDE controllers {ctls}")
    # A NIC VirtualBox has no name for in the profile: refused, naming it.
    with open(os.path.join(tdir, "vbnonic.conf"), "w") as f:
        f.write(src.replace("E1000=82540EM\n", ""))
    p = vmforge("convert", d.path, "--to", "ova", "--profile", "vbnonic", "--firmware", "efi",
                "-o", work, rc=2, env=env)
    check("profile vbnonic: [vbox-nics] has no entry for E1000" in p.stderr, p.stderr)
    # More vCPUs than VirtualBox runs: refused, with its limits; not for BIOS.
    p = vmforge("convert", d.path, "--to", "ova", "--profile", "virtualbox", "--firmware", "efi",
                "--vcpus", "65", "-o", work, rc=2)
    check("takes 1 to 64 vCPUs and 4 MiB to 2097152 MiB of memory (65 vCPUs, 2048 MiB asked)"
          in p.stderr, p.stderr)
    make_ova(work, d, "--profile", "virtualbox", "--vcpus", "65", outdir="many-bios")
    # BIOS, or another profile: no vbox:Machine.
    for outdir, extra in (("bios", ("--profile", "virtualbox", "--firmware", "bios")),
                          ("vmware", ("--profile", "vmware"))):
        _, ovf = vbox_ova(work, d, outdir, *extra)
        text = open(ovf).read()
        check("vbox:" not in text and "virtualbox.org" not in text, f"{outdir}: vbox:Machine")
    p = vmforge("convert", d.path, "--to", "ova", "--firmware", "uefi", "-o", work, rc=2)
    check('--firmware "uefi": give bios or efi' in p.stderr, p.stderr)
    p = vmforge("convert", d.path, "--to", "vdi", "--firmware", "efi", "-o", work, rc=2)
    check("--firmware go with --to ova" in p.stderr, p.stderr)


CASES = {n[5:].replace("_", "-"): f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    main(CASES)
