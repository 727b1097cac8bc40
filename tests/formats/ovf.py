#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""OVF descriptors: every hardware profile in templates/profiles/ gives a
descriptor that validates against the DMTF OVF 1.x schemas (xmllint
--nonet), describes the boot disk and the deploy-time scratch disk as the
HEPiX V2 format asks, and carries the profile's hardware."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import Skip, check, main, run  # noqa: E402

NS = {
    "ovf": "http://schemas.dmtf.org/ovf/envelope/1",
    "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
    "vmw": "http://www.vmware.com/schema/ovf",
}
O = "{%s}" % NS["ovf"]
STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
GIB = 1 << 30


def profiles():
    d = os.environ["PROFILES"]
    names = sorted(n[:-5] for n in os.listdir(d) if n.endswith(".conf"))
    check({"vmware", "virtualbox", "generic"} <= set(names), f"profiles: {names}")
    return names


def dump(profile, *scratch, profile_dir=None):
    return run([os.environ["OVF_DUMP"], profile_dir or os.environ["PROFILES"], profile,
                *map(str, scratch)])


def case_schema(work):
    schemas = os.environ["OVF_SCHEMAS"]
    xsd = os.path.join(schemas, "ovf-envelope.xsd")
    if not os.path.exists(xsd):
        raise Skip(f"DMTF schemas not found at {schemas} (../shared beside the repository)")
    for name in profiles():
        for scratch in ((), (GIB, 4)):
            p = dump(name, *scratch)
            check(p.returncode == 0, f"{name}: {p.stderr}")
            path = os.path.join(work, f"{name}.ovf")
            with open(path, "w") as f:
                f.write(p.stdout)
            v = run(["xmllint", "--noout", "--nonet", "--schema", xsd, path])
            check(v.returncode == 0 and "validates" in v.stderr,
                  f"{name} {scratch}: does not validate:\n{v.stderr}")


def case_content(work):
    for name in profiles():
        p = dump(name, 2 * GIB, 4)
        check(p.returncode == 0, p.stderr)
        root = ET.fromstring(p.stdout)
        check(root.tag == O + "Envelope", "root is not an OVF 1.x Envelope")
        files = root.findall("ovf:References/ovf:File", NS)
        check(len(files) == 1, "one File")
        check(files[0].get(O + "href") == "golden-el9-disk1.vmdk", "File href")
        check(files[0].get(O + "size") == "1234567168", "File size")
        disks = root.findall("ovf:DiskSection/ovf:Disk", NS)
        check(len(disks) == 2, "boot and scratch disks")
        boot, scratch = disks
        check(boot.get(O + "fileRef") == "file1" and boot.get(O + "format") == STREAM,
              "boot disk file and format")
        check(boot.get(O + "capacity") == str(10 * GIB), "boot capacity")
        check(boot.get(O + "populatedSize") == str(2 * GIB), "populatedSize")
        check(scratch.get(O + "fileRef") is None, "the scratch disk must have no fileRef")
        check(scratch.get(O + "capacity") == str(8 * GIB), "scratch = 2 GiB per core x 4 vCPUs")
        items = root.findall(".//ovf:VirtualHardwareSection/ovf:Item", NS)

        def rasd(item, field):
            e = item.find("rasd:" + field, NS)
            return e.text if e is not None else None
        by_type = {}
        for it in items:
            by_type.setdefault(rasd(it, "ResourceType"), []).append(it)
        check(rasd(by_type["3"][0], "VirtualQuantity") == "4", "vCPUs")
        check(rasd(by_type["4"][0], "VirtualQuantity") == "2048", "memory MiB")
        disk_items = by_type["17"]
        check(sorted(rasd(d, "HostResource") for d in disk_items) ==
              ["ovf:/disk/scratch1", "ovf:/disk/vmdisk1"], "both disks attached")
        parents = {rasd(d, "Parent") for d in disk_items}
        controllers = [it for it in items if rasd(it, "InstanceID") in parents]
        check(len(controllers) == 1, "disks hang off one controller")
        nic = by_type["10"][0]
        check(rasd(nic, "Connection") == "VM Network", "NIC connection")
        vst = root.find(".//vssd:VirtualSystemType", NS).text
        osec = root.find(".//ovf:OperatingSystemSection", NS)
        check(osec.get(O + "id") == "80", "CIM OS id of RHEL 64-bit")
        prod = root.find(".//ovf:ProductSection", NS)
        check(prod.find("ovf:Product", NS).text == "Golden EL9" and
              prod.find("ovf:Vendor", NS).text == "vmforge tests" and
              prod.find("ovf:Version", NS).text == "1.0.0", "ProductSection")
        if name == "vmware":
            check(vst.startswith("vmx-"), f"vmware VirtualSystemType {vst}")
            check(osec.get("{%s}osType" % NS["vmw"]) == "rhel9_64Guest", "vmw:osType")
            check(rasd(controllers[0], "ResourceSubType") == "lsilogic", "SCSI controller")
            check(rasd(nic, "ResourceSubType") == "VmxNet3", "VMware NIC")
        if name == "virtualbox":
            check(vst == "virtualbox-2.2", f"virtualbox VirtualSystemType {vst}")
            check(rasd(nic, "ResourceSubType") == "E1000", "VirtualBox NIC")
    # Without a scratch disk there is one Disk and one disk Item.
    root = ET.fromstring(dump("vmware").stdout)
    check(len(root.findall("ovf:DiskSection/ovf:Disk", NS)) == 1, "no scratch disk")


def case_manifest_line(work):
    for alg, tag in (("sha1", "SHA1"), ("sha256", "SHA256"), ("sha512", "SHA512")):
        p = run([os.environ["OVF_DUMP"], "--manifest-line", alg, "a.ovf", "00ff"], check_rc=0)
        check(p.stdout == f"{tag}(a.ovf)= 00ff\n", f"manifest line: {p.stdout!r}")


def case_bad_profiles(work):
    good = open(os.path.join(os.environ["PROFILES"], "generic.conf")).read()
    cases = {
        "nokey": (good.replace("virtual-system-type=vmx-14\n", ""),
                  ["nokey.conf", "[profile]", "virtual-system-type"]),
        "badmf": (good.replace("manifest=sha256", "manifest=md5"), ["badmf.conf", "md5"]),
        "noos": (good.replace("linux=101\n", ""), ["noos.conf", "linux"]),
        "badrt": (good.replace("resource-type=5", "resource-type=ide"),
                  ["badrt.conf", "resource-type"]),
        "syntax": ("[profile\n", ["syntax.conf"]),
        # VirtualBox's machine configuration: its OS table needs the default,
        # a controller its type and name.
        "vboxos": (good + "\n[vbox]\nsettings-version=1.16-linux\n[vbox-os]\nrhel9=RedHat_64\n",
                   ["vboxos.conf", "[vbox-os]", "linux"]),
        "vboxctl": (good + "\n[vbox]\nsettings-version=1.16-linux\n[vbox-os]\nlinux=Linux_64\n"
                    "[vbox-controllers]\nPIIX4=PIIX4\n",
                    ["vboxctl.conf", "[vbox-controllers] PIIX4", "Type;Name"]),
        "vboxver": (good + "\n[vbox]\n", ["vboxver.conf", "[vbox]", "settings-version"]),
    }
    for name, (text, fragments) in cases.items():
        with open(os.path.join(work, name + ".conf"), "w") as f:
            f.write(text)
    for name, (_, fragments) in cases.items():
        p = dump(name, profile_dir=work)
        check(p.returncode == 1, f"{name}: exit {p.returncode}")
        for frag in fragments:
            check(frag in p.stderr, f"{name}: {frag!r} not in {p.stderr!r}")
    p = dump("nosuch", profile_dir=os.environ["PROFILES"])
    check(p.returncode == 1 and 'no hardware profile "nosuch"' in p.stderr and
          "generic, virtualbox, vmware" in p.stderr, p.stderr)
    p = dump("../etc/passwd")
    check(p.returncode == 1 and "not a profile name" in p.stderr, p.stderr)


CASES = {n[5:].replace("_", "-"): f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    main(CASES)
