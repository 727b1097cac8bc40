# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmforge backup`, for real: persistent libvirt domains under TCG.

The running guest is the offline installer's kernel and initramfs with an
/init of our own: it writes numbered records, one 512-byte sector each,
synchronously (O_DIRECT + fsync), to its disk, a qcow2 overlay on a raw
backing file, for as long as it runs. A backup taken while it writes must
hold exactly the disk at the snapshot: the records up to some K and the
original bytes after them (qemu-img compare against the final disk with the
records written after K put back to what they were). The records written
during the backup must be on the domain's disk afterwards, the disk chain
must be what it was, and no overlay may be left. The OVA is checked with
vmforge verify, xmllint (DMTF schemas), 7-Zip and virt-v2v --print-source.

Through libvirt's backup API (api-*): a full backup and two incremental
ones while the guest writes, each (through its chain of qcow2 backing
files) the disk at its time, each incremental image holding about what was
written since the one before; a deleted checkpoint; --prune; Ctrl-C and a
libvirtd restart during the job of a big disk (nothing left, the domain on
its own disks). The snapshot path (--method snapshot, what hosts without
the API get) keeps the cases running, sigint and libvirtd-restart.

Also: a shut-off domain with two disks on different buses, two NICs and
UEFI firmware; a domain that does not exist; a disk on network storage;
SIGINT and a libvirtd restart in the middle of a running domain's backup
(the overlay is committed afterwards)."""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from build import ova_tool_checks, v2v_print_source  # noqa: E402
from install import URI, iso, libvirt_up, virsh, workdir  # noqa: E402
from testlib import Failure, check, main, random_bytes, run, sha256_file, vmforge_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MIB = 1 << 20
DISK_SIZE = 64 * MIB
RECORD_SECTOR = 16384  # records start at 8 MiB
MAGIC = b"vmforge-writer "

WRITER_INIT = r"""#!/bin/sh
# The backup test's guest: writes record N to sector START+N, synchronously,
# until powered off.
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
while read -r mod; do insmod "/lib/modules/$mod" 2>/dev/null; done < /lib/modules/load-order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
echo "writer: ready"
n=0
while [ $n -lt 50000 ]; do
    printf 'vmforge-writer %08d\n' $n |
        dd of=/dev/vda bs=512 seek=$((START + n)) conv=notrunc,sync,fsync oflag=direct 2>/dev/null
    n=$((n + 1))
    [ $((n % 20)) -eq 0 ] && echo "writer: $n"
done
echo "writer: done"
while true; do sleep 60; done
""".replace("START", str(RECORD_SECTOR))


def writer_media(d):
    """The installer's kernel, and its initramfs with our /init appended (a
    second gzipped newc archive overrides the first one's /init)."""
    kernel, initrd = os.path.join(d, "vmlinuz"), os.path.join(d, "writer.img")
    run(["xorriso", "-osirrox", "on", "-indev", iso(), "-extract", "/images/pxeboot/vmlinuz",
         kernel, "-extract", "/images/pxeboot/initrd.img", initrd], check_rc=0)
    root = os.path.join(d, "initroot")
    os.makedirs(root)
    with open(os.path.join(root, "init"), "w") as f:
        f.write(WRITER_INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    p = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"init\n", cwd=root,
                       capture_output=True, check=True)
    os.chmod(initrd, 0o644)
    with open(initrd, "ab") as f:
        f.write(b"\0" * (-f.tell() % 4))
        f.write(gzip.compress(p.stdout))
    for f in (kernel, initrd):
        os.chmod(f, 0o644)
    return kernel, initrd


def make_chain(d, name="disk", size=DISK_SIZE):
    """A qcow2 overlay (with data of its own) on a raw backing file whose
    first half is data. Returns (overlay, backing)."""
    base = os.path.join(d, name + "-base.raw")
    with open(base, "wb") as f:
        if size == DISK_SIZE:
            f.write(random_bytes(DISK_SIZE // 2, seed=hash(name) & 0xffff))
        else:  # a big disk, for a job that lasts: 1 MiB of random bytes, again and again
            block = random_bytes(MIB, seed=hash(name) & 0xffff)
            for _ in range(size // 2 // MIB):
                f.write(block)
        f.truncate(size)
    top = os.path.join(d, name + ".qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.basename(base), "-F", "raw",
         top], check_rc=0)
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 40M 2M", "-c", "write -z 1M 1M", top],
        check_rc=0)
    return top, base


def domain_xml(name, disks, nics=(("virtio", "52:54:00:b0:00:01"),), kernel=None, initrd=None,
               console=None, firmware=None, extra_devices=""):
    """disks: (type, driver, source, target, bus)."""
    os_extra = ""
    if kernel:
        os_extra = (f"<kernel>{kernel}</kernel><initrd>{initrd}</initrd>"
                    "<cmdline>console=ttyS0 quiet</cmdline>")
    if firmware == "efi":
        os_extra += ("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>")
    devs = ""
    for kind, driver, source, target, bus in disks:
        attr = {"file": "file", "block": "dev"}.get(kind)
        src = f"<source {attr}='{source}'/>" if attr else source
        devs += (f"<disk type='{kind}' device='disk'><driver name='qemu' type='{driver}'/>"
                 f"{src}<target dev='{target}' bus='{bus}'/></disk>")
    for model, mac in nics:
        devs += f"<interface type='user'><mac address='{mac}'/><model type='{model}'/></interface>"
    if console:
        devs += f"<serial type='file'><source path='{console}'/><target port='0'/></serial>"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>{os_extra}</os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>{devs}{extra_devices}</devices>
</domain>
"""


def define(d, xml):
    path = os.path.join(d, "domain.xml")
    with open(path, "w") as f:
        f.write(xml)
    virsh("define", path)


def remove_domain(name):
    run(["virsh", "-c", URI, "destroy", name])
    run(["virsh", "-c", URI, "undefine", name, "--nvram", "--checkpoints-metadata"])
    run(["virsh", "-c", URI, "undefine", name, "--checkpoints-metadata"])


def domain_name(tag):
    return f"bktest-{tag}-{os.getpid()}"


def wait_for(pred, what, timeout=300, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


def records_written(console):
    """The last count the writer printed on its console."""
    try:
        text = open(console, errors="replace").read()
    except FileNotFoundError:
        return 0
    counts = re.findall(r"writer: (\d+)", text)
    return int(counts[-1]) if counts else (0 if "writer: ready" not in text else 1)


def to_raw(image, out, fmt=None):
    argv = ["qemu-img", "convert", "-O", "raw", image, out]
    if fmt:
        argv[2:2] = ["-f", fmt]
    run(argv, check_rc=0)
    return out


def read_records(raw):
    """The sequence numbers found from RECORD_SECTOR on, in order, until the
    first sector that is not a record."""
    seq = []
    with open(raw, "rb") as f:
        f.seek(RECORD_SECTOR * 512)
        while True:
            s = f.read(512)
            if len(s) < 512 or not s.startswith(MAGIC):
                break
            seq.append(int(s[len(MAGIC):len(MAGIC) + 8]))
    return seq


def chain_of(image):
    p = run(["qemu-img", "info", "--backing-chain", "--output=json", "-U", image], check_rc=0)
    return [(x["filename"], x["format"]) for x in json.loads(p.stdout)]


def disk_sources(name, inactive=False):
    args = ["domblklist", name, "--details"] + (["--inactive"] if inactive else [])
    out = virsh(*args)
    return [line.split() for line in out.strip().splitlines()]


def leftover_overlays(d):
    return [f for f in os.listdir(d) if "vmforge-backup-" in f]


def check_ova(work, ova, expect):
    """An appliance from a backup, read with independent tools."""
    _, text, vmdks = ova_tool_checks(ova, os.path.join(work, os.path.basename(ova) + "-x"))
    for want in expect.get("ovf", ()):
        check(want in text, f"{want!r} not in the descriptor:\n{text}")
    outp = v2v_print_source(ova, os.path.basename(ova))
    for want in expect.get("v2v", ()):
        check(re.search(want, outp), f"virt-v2v --print-source: {want!r} not in\n{outp}")
    return vmdks


def backup(name, out, *extra, rc=0):
    p = run([vmforge_path(), "backup", name, "--connect", URI, "-o", out, *extra])
    if p.returncode != rc:
        raise Failure(f"vmforge backup: exit {p.returncode}, expected {rc}\n"
                      f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-5000:]}")
    return p


class Writer:
    """The running writer domain on a qcow2-on-raw chain (vda); with
    raw_disk, also a raw data disk (vdb) it does not write to."""

    def __init__(self, work, tag, size=DISK_SIZE, raw_disk=False):
        libvirt_up()
        self.d = workdir(work)
        self.name = domain_name(tag)
        self.top, self.base = make_chain(self.d, size=size)
        self.initial = to_raw(self.top, os.path.join(self.d, "initial.raw"))
        kernel, initrd = writer_media(self.d)
        self.console = os.path.join(self.d, "console.log")
        disks = [("file", "qcow2", self.top, "vda", "virtio")]
        self.data = None
        if raw_disk:
            self.data = os.path.join(self.d, "data.raw")
            with open(self.data, "wb") as f:
                f.write(random_bytes(2 * MIB, seed=11))
                f.truncate(16 * MIB)
            disks.append(("file", "raw", self.data, "vdb", "virtio"))
        self.disks = [["file", "disk", t, src] for _, _, src, t, _ in disks]
        define(self.d, domain_xml(self.name, disks, kernel=kernel, initrd=initrd,
                                  console=self.console))
        self.chain = chain_of(self.top)
        self.inactive = virsh("dumpxml", "--inactive", self.name)
        virsh("start", self.name)
        wait_for(lambda: records_written(self.console) >= 40, "the guest to write 40 records")

    def check_disks(self):
        """Running on its own disks, the chain as it was, no overlay."""
        state = virsh("domstate", self.name).strip()
        check(state == "running", f"the domain is {state!r}")
        live = disk_sources(self.name)
        check(live == self.disks, f"live disks: {live}")
        check(chain_of(self.top) == self.chain, f"chain {chain_of(self.top)} != {self.chain}")
        check(not leftover_overlays(self.d), f"overlays left: {leftover_overlays(self.d)}")

    def check_restored(self):
        """After a backup: check_disks, the persistent definition as it was;
        more records keep coming."""
        self.check_disks()
        check(virsh("dumpxml", "--inactive", self.name) == self.inactive,
              "the persistent definition changed")
        n = records_written(self.console)
        wait_for(lambda: records_written(self.console) > n + 20,
                 "the guest to go on writing after the backup")

    def stop(self):
        """Destroyed: every record it wrote was synchronous, so all are on
        the disk. Returns the disk's content as raw."""
        virsh("destroy", self.name)
        final = to_raw(self.top, os.path.join(self.d, "final.raw"))
        return final

    def close(self):
        remove_domain(self.name)


def snapshot_time_image(w, final, k, out):
    """The disk as it was when record k was the last one: the final disk
    with the sectors of later records put back to their initial bytes."""
    shutil.copyfile(final, out)
    later = read_records(final)[k + 1:]
    with open(w.initial, "rb") as src, open(out, "r+b") as dst:
        for n in later:
            src.seek((RECORD_SECTOR + n) * 512)
            dst.seek((RECORD_SECTOR + n) * 512)
            dst.write(src.read(512))
    return out


def check_backup_content(w, out, final, before):
    """The backup's qcow2 is the disk at the snapshot; the domain's disk
    holds the records written during and after it."""
    img = os.path.join(out, f"{w.name}-vda.qcow2")
    run(["qemu-img", "check", img], check_rc=0)
    seq = read_records(to_raw(img, os.path.join(w.d, "backup.raw")))
    check(seq == list(range(len(seq))), f"the backup's records are not 0..K: {seq[:10]}...")
    k = len(seq) - 1
    check(k + 1 >= before, f"the backup has {k + 1} records; {before} were written before it")
    fseq = read_records(final)
    check(fseq == list(range(len(fseq))), "the domain's records are not in order")
    check(len(fseq) > k + 1 + 20,
          f"the domain's disk has {len(fseq)} records, the backup {k + 1}: the writes made "
          "during and after the backup are missing")
    expect = snapshot_time_image(w, final, k, os.path.join(w.d, "expect.raw"))
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", expect, img])
    check(p.returncode == 0, f"the backup is not the disk at the snapshot: {p.stdout}")
    return expect


def case_running(work):
    w = Writer(work, "run")
    try:
        out = os.path.join(w.d, "out")
        before = records_written(w.console)
        p = backup(w.name, out, "--to", "ova,qcow2", "--profile", "vmware", "--json",
                   "--method", "snapshot")
        err = p.stderr
        check("snapshot taken, crash-consistent" in err, err[-2000:])
        check("committing the writes made during the backup" in err, err[-2000:])
        report = json.loads(p.stdout)
        check(report["method"] == "snapshot" and report["method_reason"] == "--method snapshot",
              f"method {report['method']} ({report['method_reason']})")
        check(report["consistency"] == "crash-consistent", f"consistency {report['consistency']}")
        check(report["quiesce_error"] and "agent" in report["quiesce_error"],
              f"quiesce_error {report['quiesce_error']}")
        check(report["domain"]["state"] == "running", "state")
        w.check_restored()
        expect = check_backup_content(w, out, w.stop(), before)
        vmdks = check_ova(work, os.path.join(out, f"{w.name}.ova"), {
            "ovf": ["<vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>",
                    "<rasd:Address>52:54:00:b0:00:01</rasd:Address>",
                    'vmw:key="firmware" vmw:value="bios"',
                    "<rasd:VirtualQuantity>256</rasd:VirtualQuantity>"],
            "v2v": [rf"source name: {w.name}", "nr vCPUs: 1", rf"memory: {256 * MIB}",
                    r"firmware: bios", r"52:54:00:b0:00:01"]})
        check(len(vmdks) == 1, f"{len(vmdks)} VMDKs")
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", expect, vmdks[0]])
        check(p.returncode == 0, f"the OVA's disk is not the disk at the snapshot: {p.stdout}")
        for a in report["artefacts"]:
            check(a["sha256"] == sha256_file(a["path"]), f"{a['path']}: digest in the report")
        check(os.path.isfile(os.path.join(out, f"{w.name}.xml")), "the domain XML is missing")
        check(not [f for f in os.listdir(out) if f.startswith(".")], "staging left in the output")
    finally:
        w.close()


class Background:
    """vmforge backup in the background, its stderr collected line by line."""

    def __init__(self, argv):
        self.lines = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        import threading
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def wait_line(self, needle, timeout=300):
        return wait_for(lambda: needle in self.text() or self.proc.poll() is not None,
                        f"{needle!r} from vmforge backup", timeout=timeout, step=0.05)

    def finish(self, timeout=600):
        self.proc.wait(timeout=timeout)
        self.t.join(timeout=10)
        return self.proc.returncode, self.text()


def case_sigint(work):
    """Ctrl-C after the snapshot: the overlay is still committed, exit 130,
    no image kept."""
    w = Writer(work, "int")
    try:
        out = os.path.join(w.d, "out")
        bg = Background([vmforge_path(), "backup", w.name, "--connect", URI, "-o", out,
                         "--to", "qcow2,vmdk,raw.gz", "--method", "snapshot"])
        bg.wait_line("snapshot taken")
        bg.proc.send_signal(signal.SIGINT)
        rc, err = bg.finish()
        check(rc == 130, f"exit {rc}\n{err[-3000:]}")
        check("interrupted; no image was kept and the domain runs on its own disks again" in err,
              err[-2000:])
        w.check_restored()
        check(not os.path.isdir(out) or not os.listdir(out), f"left in the output: {os.listdir(out)}")
    finally:
        w.close()


def libvirtd_pid():
    with open("/run/libvirtd.pid") as f:
        return int(f.read().strip())


def restart_libvirtd():
    """Stops libvirtd (started by scripts/start-libvirtd.sh), waits for it to
    be gone, and a few seconds later starts it again."""
    pid = libvirtd_pid()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "libvirtd to stop", timeout=60)
    time.sleep(3)
    run(["bash", os.path.join(ROOT, "scripts", "start-libvirtd.sh")], check_rc=0)


def case_libvirtd_restart(work):
    """libvirtd stopped right after the snapshot and started again a few
    seconds later: vmforge reconnects, commits, and the backup is whole."""
    w = Writer(work, "lvd")
    restarted = False
    try:
        out = os.path.join(w.d, "out")
        before = records_written(w.console)
        bg = Background([vmforge_path(), "backup", w.name, "--connect", URI, "-o", out,
                         "--to", "qcow2", "--method", "snapshot"])
        bg.wait_line("snapshot taken")
        restart_libvirtd()
        restarted = True
        rc, err = bg.finish()
        check(rc == 0, f"exit {rc}\n{err[-3000:]}")
        check("lost the connection to libvirtd" in err and "reconnected to libvirtd" in err,
              f"no reconnection reported:\n{err[-3000:]}")
        w.check_restored()
        check_backup_content(w, out, w.stop(), before)
    finally:
        if not restarted:
            run(["bash", os.path.join(ROOT, "scripts", "start-libvirtd.sh")])
        w.close()


def case_shutoff(work):
    """A shut-off domain with a qcow2-on-raw disk on virtio, a raw disk on
    SATA, a cdrom, two NICs and UEFI firmware: each disk read where it is,
    its files unchanged; the OVA describes all of it."""
    libvirt_up()
    d = workdir(work)
    name = domain_name("off")
    top, base = make_chain(d, "sys")
    data = os.path.join(d, "data.raw")
    with open(data, "wb") as f:
        f.write(random_bytes(3 * MIB, seed=7))
        f.seek(20 * MIB)
        f.write(b"end of the data disk")
        f.truncate(24 * MIB)
    define(d, domain_xml(name, [("file", "qcow2", top, "vda", "virtio"),
                                ("file", "raw", data, "sda", "sata")],
                         nics=(("e1000", "52:54:00:b0:00:0a"), ("virtio", "52:54:00:b0:00:0b")),
                         firmware="efi",
                         extra_devices="<disk type='file' device='cdrom'><target dev='hdc' "
                                       "bus='ide'/><readonly/></disk>"))
    sums = {f: sha256_file(f) for f in (top, base, data)}
    try:
        out = os.path.join(d, "out")
        p = backup(name, out, "--to", "ova,raw.gz,vmdk", "--profile", "vmware")
        check("not backed up: hdc (cdrom)" in p.stderr, p.stderr[-2000:])
        check("OVF: disk sda (sata) on SATA Controller 0" in p.stderr, p.stderr[-2000:])
        check({f: sha256_file(f) for f in sums} == sums, "a disk of the domain was changed")
        report = json.load(open(os.path.join(out, f"{name}.report.json")))
        check(report["consistency"] == "offline" and report["domain"]["state"] == "shut off",
              f"{report['consistency']}, {report['domain']['state']}")
        check(report["domain"]["firmware"] == "efi", "firmware")
        files = sorted(os.listdir(out))
        want = sorted([f"{name}-vda.raw.gz", f"{name}-sda.raw.gz", f"{name}-vda.vmdk",
                       f"{name}-sda.vmdk", f"{name}.ova", f"{name}.xml", f"{name}.report.json"])
        check(files == want, f"outputs {files}")
        for tgt, src, fmt in (("vda", top, "qcow2"), ("sda", data, "raw")):
            raw = os.path.join(d, f"{tgt}.raw")
            with gzip.open(os.path.join(out, f"{name}-{tgt}.raw.gz")) as g, open(raw, "wb") as f:
                shutil.copyfileobj(g, f, 4 * MIB)
            p = run(["qemu-img", "compare", "-f", fmt, "-F", "raw", src, raw])
            check(p.returncode == 0, f"{tgt}.raw.gz differs from the disk: {p.stdout}")
            p = run(["qemu-img", "compare", "-f", fmt, "-F", "vmdk", src,
                     os.path.join(out, f"{name}-{tgt}.vmdk")])
            check(p.returncode == 0, f"{tgt}.vmdk differs from the disk: {p.stdout}")
        vmdks = check_ova(work, os.path.join(out, f"{name}.ova"), {
            "ovf": ["<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>",
                    "<rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>",
                    "<rasd:ResourceSubType>E1000</rasd:ResourceSubType>",
                    "<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>",
                    "<rasd:Address>52:54:00:b0:00:0a</rasd:Address>",
                    "<rasd:Address>52:54:00:b0:00:0b</rasd:Address>",
                    'vmw:key="firmware" vmw:value="efi"'],
            "v2v": [rf"source name: {name}", r"firmware: uefi", r"52:54:00:b0:00:0a \[e1000\]",
                    r"\[scsi\]", r"\[sata\]"]})
        check(len(vmdks) == 2, f"{len(vmdks)} VMDKs in the OVA")
        for vmdk, (src, fmt) in zip(sorted(vmdks), ((top, "qcow2"), (data, "raw"))):
            p = run(["qemu-img", "compare", "-f", fmt, "-F", "vmdk", src, vmdk])
            check(p.returncode == 0, f"{vmdk} differs from {src}: {p.stdout}")
        # A second run refuses to overwrite and changes nothing.
        before = {f: os.path.getmtime(os.path.join(out, f)) for f in files}
        p = backup(name, out, "--to", "ova,raw.gz,vmdk", rc=4)
        check("exists (--force replaces it)" in p.stderr, p.stderr[-1000:])
        check({f: os.path.getmtime(os.path.join(out, f)) for f in files} == before, "files changed")
    finally:
        remove_domain(name)


def case_no_domain(work):
    libvirt_up()
    out = os.path.join(work, "out")
    p = backup("bktest-no-such-domain", out, "--to", "qcow2", rc=3)
    check('no domain "bktest-no-such-domain" on qemu:///system' in p.stderr, p.stderr)
    check(not os.path.isdir(out) or not os.listdir(out), "files were made")


def case_network_disk(work):
    """A disk on NBD is refused by name before anything is done (nothing
    is contacted: the domain is shut off and its source is never opened)."""
    libvirt_up()
    d = workdir(work)
    name = domain_name("net")
    top, _ = make_chain(d)
    nbd = ("<source protocol='nbd' name='export1'><host name='127.0.0.1' port='10809'/></source>")
    define(d, domain_xml(name, [("file", "qcow2", top, "vda", "virtio"),
                                ("network", "raw", nbd, "vdb", "virtio")]))
    try:
        out = os.path.join(d, "out")
        p = backup(name, out, "--to", "ova,qcow2", rc=3)
        check("disk vdb of " + name + " is on network storage (nbd://127.0.0.1/export1, "
              "protocol nbd)" in p.stderr, p.stderr)
        check(not os.path.isdir(out) or not os.listdir(out), f"files were made: {os.listdir(out)}")
    finally:
        remove_domain(name)


def case_generalize(work):
    """--generalize: sysprep on the backup's copy of a shut-off domain whose
    disk is a qcow2 overlay of the installed test image (which has SSH host
    keys); the domain's disk keeps them and is not written at all."""
    libvirt_up()
    fixtures = os.environ.get("VMFORGE_TEST_FIXTURES")
    base = os.path.join(fixtures or "", "tbase.raw")
    if not os.path.exists(base):
        from customize import base_disk
        base = base_disk()
    d = workdir(work)
    name = domain_name("gen")
    top = os.path.join(d, "os.qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top], check_rc=0)
    define(d, domain_xml(name, [("file", "qcow2", top, "vda", "virtio")]))
    before = sha256_file(top), sha256_file(base)
    try:
        out = os.path.join(d, "out")
        backup(name, out, "--to", "qcow2", "--generalize", "--accel", "tcg")
        check((sha256_file(top), sha256_file(base)) == before, "the domain's disks were changed")
        log = open(os.path.join(out, f"{name}-generalize.log")).read()
        check("sysprep ssh-hostkeys: 6 items" in log, log[-1500:])
        img = os.path.join(out, f"{name}-vda.qcow2")
        run(["qemu-img", "check", img], check_rc=0)
        # One appliance reads both: the backup as sda, the domain's disk as sdb.
        env = dict(os.environ, LIBGUESTFS_BACKEND="direct",
                   LIBGUESTFS_BACKEND_SETTINGS="force_tcg")
        script = ("run\nmount-ro /dev/sda1 /\nglob-expand /etc/ssh/ssh_host_*\n"
                  "glob-expand /usr/lib/vmforge/firstboot/scripts/*\necho @@\numount-all\n"
                  "mount-ro /dev/sdb1 /\nglob-expand /etc/ssh/ssh_host_*\n")
        got = run(["guestfish", "--ro", "--format=qcow2", "-a", img, "-a", top], env=env,
                  input=script)
        check(got.returncode == 0, got.stderr)
        mine, theirs = got.stdout.split("@@\n", 1)
        check("ssh_host_" not in mine and "ssh-hostkeys" in mine,
              f"the backup still has host keys, or no first-boot script: {mine!r}")
        check(theirs.count("/etc/ssh/ssh_host_") == 6, f"the domain's disk lost keys: {theirs!r}")
    finally:
        remove_domain(name)


# ---- libvirt's backup API (issue 15) ----------------------------------------------------------

CLUSTER = 64 * 1024


def checkpoints(name, uri=URI):
    return run(["virsh", "-c", uri, "checkpoint-list", name, "--name"], check_rc=0).stdout.split()


def allocated(image):
    """Bytes the image itself holds (not its backing files), by qemu-img map."""
    p = run(["qemu-img", "map", "-U", "--output=json", image], check_rc=0)
    return sum(x["length"] for x in json.loads(p.stdout) if x["depth"] == 0 and x["data"])


def touched_clusters(k0, k1):
    """Bytes of the 64 KiB clusters holding the records k0+1..k1."""
    first = (RECORD_SECTOR + k0 + 1) * 512 // CLUSTER
    last = (RECORD_SECTOR + k1) * 512 // CLUSTER
    return (last - first + 1) * CLUSTER


def records_in(image, scratch):
    """The records a backup holds, read through its chain by qemu-img."""
    seq = read_records(to_raw(image, scratch))
    os.unlink(scratch)
    check(seq == list(range(len(seq))), f"{image}: the records are not 0..K: {seq[:8]}...")
    return len(seq) - 1


def api_backups(w, outs, first_extra):
    """A full backup into outs[0], then each next one incremental from the
    one before, the guest writing in between; the domain checked after each
    (own disks, same chain, no overlay). Returns the reports."""
    reports = []
    for i, out in enumerate(outs):
        if i:
            n = records_written(w.console)
            wait_for(lambda: records_written(w.console) >= n + 150, "150 more records")
        extra = first_extra if i == 0 else ["--incremental", outs[i - 1]]
        if i == len(outs) - 1:
            extra = extra + ["--to", "ova", "--profile", "vmware"]
        p = backup(w.name, out, "--json", "--method", "api", *extra)
        reports.append(json.loads(p.stdout))
        check("stays on its own disks" in p.stderr, p.stderr[-2000:])
        w.check_disks()
    return reports


def check_api_reports(w, outs, reports):
    for i, r in enumerate(reports):
        check(r["method"] == "backup-api" and r["checkpoint"], f"backup {i}: {r['method']}")
        check(r["consistency"] == "crash-consistent" and "agent" in r["quiesce_error"],
              f"backup {i}: {r['consistency']} {r['quiesce_error']}")
        disk, raw = r["disks"]
        check(raw["target"] == "vdb" and raw["mode"] == "full", f"backup {i}: {raw}")
        if i == 0:
            check(r["incremental"] is None and disk["mode"] == "full", f"backup 0: {r['incremental']}")
            continue
        check("vdb is a raw disk: no dirty bitmaps" in raw["mode_reason"], f"backup {i}: {raw}")
        parent = os.path.basename(outs[i - 1])
        check(r["incremental"] == {"parent": f"../{parent}",
                                   "parent_checkpoint": reports[i - 1]["checkpoint"]},
              f"backup {i}: incremental {r['incremental']}")
        check(disk["mode"] == "incremental" and
              disk["backing_file"] == f"../{parent}/{w.name}-vda.qcow2", f"backup {i}: {disk}")
        for a in r["artefacts"]:
            check(a["sha256"] == sha256_file(a["path"]), f"{a['path']}: digest in the report")
    got = sorted(checkpoints(w.name))
    check(got == sorted(r["checkpoint"] for r in reports), f"checkpoints on the domain: {got}")
    ck = virsh("checkpoint-dumpxml", w.name, got[0])
    check("<disk name='vda' checkpoint='bitmap'" in ck and "<disk name='vdb' checkpoint='no'/>" in ck,
          f"the checkpoint's disks:\n{ck}")


def check_api_images(w, outs, final):
    """Each backup (its chain) is the disk at its time; each incremental
    image holds about what was written since the one before."""
    images = [os.path.join(o, f"{w.name}-vda.qcow2") for o in outs]
    chain = chain_of(images[-1])
    want = [os.path.realpath(i) for i in reversed(images)]
    check([os.path.realpath(f) for f, _ in chain] == want and all(f == "qcow2" for _, f in chain),
          f"the last backup's chain: {chain}")
    ks = []
    for i, img in enumerate(images):
        data = os.path.join(outs[i], f"{w.name}-vdb.qcow2")
        check(len(chain_of(data)) == 1, f"the raw disk's backup {data} has a backing file")
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", w.data, data])
        check(p.returncode == 0, f"backup {i} of the raw disk: {p.stdout}")
        run(["qemu-img", "check", img], check_rc=0)
        k = records_in(img, os.path.join(w.d, "b.raw"))
        if ks:
            check(k > ks[-1], f"backup {i} holds {k + 1} records, the one before {ks[-1] + 1}")
        ks.append(k)
        expect = snapshot_time_image(w, final, k, os.path.join(w.d, f"expect{i}.raw"))
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", expect, img])
        check(p.returncode == 0, f"backup {i} is not the disk at its time: {p.stdout}")
        if i:
            alloc, bound = allocated(img), touched_clusters(ks[i - 1], k)
            check((k - ks[i - 1]) * 512 <= alloc <= bound * 1.1 + 3 * CLUSTER,
                  f"incremental {i}: {alloc} bytes allocated for records {ks[i - 1] + 1}..{k} "
                  f"({bound} bytes of clusters)")
            print(f"incremental {i}: {alloc} bytes for {k - ks[i - 1]} records ({bound} bytes of "
                  "clusters written)")
    return ks, expect


def check_api_outputs(w, outs, expect):
    """The last backup's other outputs come from its chain: the OVA (with
    independent tools), and vmforge convert reads the chain back."""
    vmdks = check_ova(w.d, os.path.join(outs[-1], f"{w.name}.ova"), {
        "ovf": ['vmw:key="firmware" vmw:value="bios"'],
        "v2v": [rf"source name: {w.name}", r"firmware: bios"]})
    check(len(vmdks) == 2, f"{len(vmdks)} VMDKs in the OVA")
    for vmdk, want in zip(sorted(vmdks), (expect, w.data)):
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", want, vmdk])
        check(p.returncode == 0, f"the OVA's {vmdk} is not the disk at the last backup: {p.stdout}")
    conv = os.path.join(w.d, "converted")
    os.makedirs(conv)
    run([vmforge_path(), "convert", os.path.join(outs[-1], f"{w.name}-vda.qcow2"), "--to",
         "raw", "-o", conv, "-n", "back"], check_rc=0)
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", expect, os.path.join(conv, "back.raw")])
    check(p.returncode == 0, f"vmforge convert of the incremental chain: {p.stdout}")


def check_missing_checkpoint(w, parent, out):
    """The checkpoint of the backup in `parent` deleted: --incremental-only
    fails and makes nothing; without it, a full backup, saying why."""
    ck = json.load(open(os.path.join(parent, f"{w.name}.report.json")))["checkpoint"]
    virsh("checkpoint-delete", w.name, ck)
    p = backup(w.name, out, "--incremental", parent, "--incremental-only", rc=1)
    check(f"checkpoint {ck} of the backup in {parent} no longer exists" in p.stderr and
          "--incremental-only: no backup taken" in p.stderr, p.stderr[-2000:])
    check(not os.path.isdir(out) or not os.listdir(out), f"files made: {os.listdir(out)}")
    p = backup(w.name, out, "--incremental", parent, "--json")
    r = json.loads(p.stdout)
    check(f"checkpoint {ck} of the backup in {parent} no longer exists" in p.stderr and
          "taking a full backup" in p.stderr, p.stderr[-2000:])
    check(r["incremental"] is None and r["full_reason"] and r["disks"][0]["mode"] == "full",
          f"report: {r['incremental']} {r['full_reason']}")
    check(chain_of(os.path.join(out, f"{w.name}-vda.qcow2"))[1:] == [], "the full one has a backing")
    return r["checkpoint"]


def check_prune(w, outs, newest, newest_ck):
    """--prune 2 keeps everything (the newest incremental needs its
    parents); --prune 1 --dry-run removes nothing; --prune 1 removes the
    chain and its checkpoints, the newest backup stays."""
    dirs = outs + [newest]
    p = run([vmforge_path(), "backup", "--connect", URI, "--prune", "2", *dirs], check_rc=0)
    check("4 backups kept, 0 removed" in p.stdout, p.stdout + p.stderr)
    p = run([vmforge_path(), "backup", "--connect", URI, "--prune", "1", "-n", *dirs], check_rc=0)
    check("1 backup kept, 3 to be removed" in p.stdout and all(map(os.path.isdir, outs)), p.stdout)
    p = run([vmforge_path(), "backup", "--connect", URI, "--prune", "1", *dirs], check_rc=0)
    check("1 backup kept, 3 removed" in p.stdout, p.stdout + p.stderr)
    check(not any(map(os.path.exists, outs)), f"left: {[o for o in outs if os.path.exists(o)]}")
    check(checkpoints(w.name) == [newest_ck], f"checkpoints left: {checkpoints(w.name)}")
    run(["qemu-img", "check", os.path.join(newest, f"{w.name}-vda.qcow2")], check_rc=0)


def case_api_chain(work):
    """A full backup through the backup API while the guest writes, then two
    incremental ones; a deleted checkpoint; --prune."""
    w = Writer(work, "api", raw_disk=True)
    try:
        outs = [os.path.join(w.d, n) for n in ("full", "inc1", "inc2")]
        reports = api_backups(w, outs, ["--to", "qcow2"])
        check_api_reports(w, outs, reports)
        newest = os.path.join(w.d, "full2")
        newest_ck = check_missing_checkpoint(w, outs[-1], newest)
        final = w.stop()
        ks, expect = check_api_images(w, outs, final)
        check_api_outputs(w, outs, expect)
        virsh("start", w.name)  # libvirt deletes checkpoints of running domains only
        check_prune(w, outs, newest, newest_ck)
    finally:
        w.close()


def check_stopped(w, out, err):
    """After an interrupted or lost job: no job, no target, no checkpoint,
    nothing in the output folder, the domain on its own disks."""
    check("the backup job is stopped, its targets and checkpoint removed" in err, err[-3000:])
    check(virsh("domjobinfo", w.name).split("\n")[0].split()[-1] == "None", "a job still runs")
    check(checkpoints(w.name) == [], f"checkpoints left: {checkpoints(w.name)}")
    check(not os.path.isdir(out) or not os.listdir(out), f"left in the output: {os.listdir(out)}")
    pools = [p for p in virsh("pool-list", "--all", "--name").split() if p.startswith("vmforge-")]
    check(not pools, f"pools left: {pools}")
    w.check_restored()


def case_api_interrupted(work):
    """A job of a 2 GiB disk (half of it data, so it lasts seconds): Ctrl-C
    during it, then libvirtd stopped and started again during it."""
    w = Writer(work, "apiint", size=2048 * MIB)
    restarted = True
    try:
        out = os.path.join(w.d, "out")
        argv = [vmforge_path(), "backup", w.name, "--connect", URI, "-o", out, "--to", "qcow2"]
        bg = Background(argv)
        bg.wait_line("backup job started")
        w.check_disks()  # during the job: on its own disk, its chain as it was
        check("backup job: done" not in bg.text(), "the job ended before it could be checked")
        bg.proc.send_signal(signal.SIGINT)
        rc, err = bg.finish()
        check(rc == 130 and "aborting the backup job" in err, f"exit {rc}\n{err[-3000:]}")
        check_stopped(w, out, err)
        bg = Background(argv)
        bg.wait_line("backup job started")
        restarted = False
        restart_libvirtd()
        restarted = True
        rc, err = bg.finish()
        check(rc == 1 and "lost the connection to this host during the backup job" in err and
              "reconnected" in err, f"exit {rc}\n{err[-3000:]}")
        check_stopped(w, out, err)
    finally:
        if not restarted:
            run(["bash", os.path.join(ROOT, "scripts", "start-libvirtd.sh")])
        w.close()


if __name__ == "__main__":
    main({
        "api-chain": case_api_chain,
        "api-interrupted": case_api_interrupted,
        "running": case_running,
        "sigint": case_sigint,
        "libvirtd-restart": case_libvirtd_restart,
        "shutoff": case_shutoff,
        "no-domain": case_no_domain,
        "network-disk": case_network_disk,
        "generalize": case_generalize,
    })
