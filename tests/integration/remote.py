# SPDX-License-Identifier: GPL-2.0-or-later
"""Builds on a remote libvirt host that shares nothing with vmforge but the
connection: scripts/test-host.sh's second libvirtd, in a mount namespace of
its own (its own /run/libvirt, /var/lib/libvirt, images), reached over
qemu+ssh (an sshd of its own on 127.0.0.2) and qemu+tcp.

  (the quickstart example built over ssh, every target checked, the bytes
  on the wire: check_quickstart_ssh(), run by fleet.py's case on the
  quickstart it builds on this host)
  install-tcp     `vmforge install` over tcp with a pool made for the run
                  (--remote-dir), the ISO from a volume already on the host
                  (installer: volume:), OEMDRV injection, firmware: uefi
                  (OVMF on the host, its NVRAM a volume of the run): the
                  disk has a FAT ESP with GRUB; the pool and NVRAM go
  sigint          Ctrl-C (the whole process group: ssh too) during a remote
                  install: exit 130, nothing left on the host
  host-killed     the host's sshd and libvirtd killed during an install: a
                  clear error naming the host and what may remain, within the
                  keepalive time; restarted, vmforge doctor removes it,
                  and its accelerator check (a kernel booted on the host)
                  leaves nothing
  refusals        inject: http with a remote host, an unknown host, a pool
                  that does not exist, a pool too small for the media
  backup-ssh      vmforge backup of a domain running on the host, over ssh,
                  full then incremental (the backup API; targets downloaded
                  with sparse streams): each the disk at its time

The cases share the test host (started once, left running for the next
case; scripts/test.sh stops it) and its cached ISO volume."""

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
from build import GUESTFS_ENV, check_report, check_targets, efi_recipe_text  # noqa: E402
from install import libvirt_up, virsh, workdir  # noqa: E402
from testlib import (Failure, check, main, read_until, run, sha256_file,  # noqa: E402
                     vmforge_path)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HOST = os.path.join(ROOT, "scripts", "test-host.sh")
RECIPE = os.path.join(ROOT, "examples", "quickstart", "recipe.yaml")
ISO = os.path.join(ROOT, ".cache", "installer", "vmforge-offline-debian12.iso")
ADDR = "127.0.0.2"
# A lost host is noticed by keepalive (5 s x 5) or at once, then vmforge
# tries to connect again for 20 s: an error within this many seconds.
LOST_WITHIN = 60


def host(*args, n=1):
    """scripts/test-host.sh for test host n (127.0.0.(n+1))."""
    p = run(["bash", HOST, *args], env={"VMFORGE_TEST_HOST_NUMBER": str(n)})
    if p.returncode != 0:
        raise Failure(f"test-host.sh {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout.strip()


def host_up():
    host("start")
    return host("uri", "ssh"), host("uri", "tcp")


def host_virsh(*args, n=1):
    return run(["virsh", "-c", host("uri", "tcp", n=n), *args], check_rc=0).stdout


def host_leftovers(n=1):
    """Domains, pools and volumes of vmforge on test host n (the cached ISO
    volumes are kept on purpose)."""
    found = [f"domain {d}" for d in host_virsh("list", "--all", "--name", n=n).split()]
    found += [f"pool {p}" for p in host_virsh("pool-list", "--all", "--name", n=n).split()
              if p != "default"]
    for line in host_virsh("vol-list", "default", n=n).splitlines()[2:]:
        name = line.split()[0] if line.strip() else ""
        if name and not name.startswith("vmforge-media-"):
            found.append(f"volume {name}")
    return found


def local_leftovers():
    found = [f"domain {d}" for d in virsh("list", "--all", "--name").split()
             if d.startswith("vmforge-")]
    found += [f"pool {p}" for p in virsh("pool-list", "--all", "--name").split()
              if p.startswith("vmforge-")]
    return found


def check_nothing_left(state, *dirs, ignore=None, hosts=(1,)):
    """ignore: a name the test's own objects on the host have in theirs;
    hosts: the test hosts' numbers."""
    left = [f"{x} (host {n})" for n in hosts for x in host_leftovers(n)
            if not ignore or ignore not in x]
    check(not left, f"left on the test host: {left}")
    check(not local_leftovers(), f"left on this machine's libvirtd: {local_leftovers()}")
    records = [f for _, _, files in os.walk(os.path.join(state, "runs")) for f in files]
    check(not records, f"run records left: {records}")
    for d in dirs:
        hidden = [os.path.join(p, n) for p, ds, fs in os.walk(d) for n in ds + fs
                  if n.startswith(".")]
        check(not hidden, f"work files left: {hidden}")


def outdir(work):
    out = os.path.join(workdir(work), "out")
    os.makedirs(out, exist_ok=True)
    return out


def env_for(work):
    """vmforge's state (the records of what runs made on hosts) per case."""
    state = os.path.join(work, "state")
    return state, dict(GUESTFS_ENV, VMFORGE_STATE_DIR=state)


def vmforge(args, env, rc=None, timeout=1800):
    p = run([vmforge_path(), *args], env=env, timeout=timeout)
    if rc is not None and p.returncode != rc:
        raise Failure(f"vmforge {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
                      f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-6000:]}")
    return p


def recipe_copy(work, edit=None):
    d = os.path.join(work, "recipe")
    shutil.copytree(os.path.dirname(RECIPE), d)
    path = os.path.join(d, "recipe.yaml")
    text = open(path).read().replace("../../.cache/installer/", os.path.dirname(ISO) + "/")
    if edit:
        text = edit(text)
    with open(path, "w") as f:
        f.write(text)
    return path


def check_quickstart_ssh(d, out, cache, ssh):
    """The quickstart example built over ssh on test host 1 into `out` (the
    fleet test builds it, beside other recipes on other hosts): every target
    checked as for the local build, the bytes on the wire within 1.1 x the
    installer media and the base disk's data, the disk straight into the
    cache entry."""
    report = json.load(open(os.path.join(out, "report.json")))
    arts = check_report(out, report, "ran")
    check_targets(d, out, arts, report["base_disk"]["path"])
    h = report["host"]
    check(h["uri"] == ssh and h["pool"] == "default", f"report host {h}")
    check(re.fullmatch(r"[0-9a-f]{64}", h["installed_sha256"] or ""), f"installed digest {h}")
    wire = h["bytes_sent"] + h["bytes_received"]
    budget = 1.1 * (os.path.getsize(ISO) + report["base_disk"]["data_bytes"])
    check(wire <= budget, f"{wire} bytes on the wire, more than 1.1 x media and data ({budget:.0f})")
    check(h["bytes_received"] >= 0.5 * report["base_disk"]["data_bytes"],
          f"received {h['bytes_received']}: the disk did not come back through the connection")
    # The installed disk came back into the cache entry itself.
    leftovers = [n for n in os.listdir(os.path.join(cache, "base")) if ".work-" in n or ".new-" in n]
    check(not leftovers, f"cache work folders left: {leftovers}")


def case_install_tcp(work):
    libvirt_up()
    _, tcp = host_up()
    state, env = env_for(work)
    # The ISO already on the host, under a name of the user's.
    vol = f"test-media-{os.getpid()}.iso"
    host_virsh("vol-create-as", "default", vol, str(os.path.getsize(ISO)), "--format", "raw")
    try:
        host_virsh("vol-upload", vol, ISO, "--pool", "default")
        recipe = recipe_copy(work, lambda t: efi_recipe_text(t.replace(
            "  inject: initrd ", f"  volume: default/{vol}\n  inject: oemdrv "), "uefi"))
        out = outdir(work)
        p = vmforge(["install", recipe, "-o", out, "--accel", "tcg", "--connect", tcp,
                     "--remote-dir", "/var/lib/libvirt/runs"], env, rc=0)
        disk = os.path.join(out, "quickstart.raw")
        check(p.stdout.strip() == disk and os.path.isfile(disk), p.stdout)
        # The digest taken as the disk arrived is the file's (sha256sum), and
        # the disk came back sparse.
        m = re.search(r"downloaded from \S+, SHA-256 ([0-9a-f]{64})", p.stderr)
        check(m and m.group(1) == sha256_file(disk), f"digest {m and m.group(1)} of {disk}")
        st = os.stat(disk)
        check(st.st_size == 4 << 30 and st.st_blocks * 512 < 600 << 20,
              f"{disk}: {st.st_blocks * 512} bytes allocated of {st.st_size}")
        # firmware: uefi: a FAT ESP (0xEF) holding GRUB at the removable-media
        # path, ext4 for /, and no BIOS boot code in the MBR.
        gf = run(["guestfish", "--ro", "-a", disk, "-m", "/dev/sda2", "-m", "/dev/sda1:/boot/efi"],
                 input="part-get-mbr-id /dev/sda 1\nvfs-type /dev/sda1\nvfs-type /dev/sda2\n"
                 "ls /boot/efi/EFI/BOOT\n", env=dict(os.environ, **GUESTFS_ENV), check_rc=0).stdout
        check(gf.split()[:3] == ["0xef", "vfat", "ext4"] and "BOOTX64.EFI" in gf.split(),
              f"not an ESP with GRUB and an ext4 root:\n{gf}")
        with open(disk, "rb") as f:
            check(f.read(440) == bytes(440), "firmware: uefi wrote BIOS boot code in the MBR")
        # The installer domain ran under OVMF on the host: the kernel it
        # booted directly started as an EFI application (its EFI stub).
        console = open(os.path.join(out, "logs", "quickstart-install-console.log"),
                       errors="replace").read()
        check("EFI stub:" in console and "installing the EFI boot loader" in p.stderr,
              f"the install did not run under OVMF:\n{console[:2000]}")
        # Its NVRAM was a volume of the run's pool, not a file libvirt keeps.
        nvram = os.path.join(os.environ.get("VMFORGE_TEST_HOST_DIR")
                             or os.path.join(ROOT, ".cache", "test-host"), "lib", "qemu", "nvram")
        check(not (os.path.isdir(nvram) and os.listdir(nvram)),
              f"NVRAM left on the host: {os.listdir(nvram) if os.path.isdir(nvram) else ''}")
        # Only the MBR, the kernel, the initrd and the OEMDRV image went up.
        check("upload installer media" not in p.stderr, "the ISO was uploaded again")
        sent = re.findall(r"upload disk: ([0-9.]+ \w+) sent", p.stderr)
        check(sent and sent[0].endswith(("KiB", "bytes")), f"the disk upload sent {sent}")
        check(not [n for n in host_virsh("pool-list", "--all", "--name").split()
                   if n.startswith("vmforge-")], "the run's pool is still there")
    finally:
        host_virsh("vol-delete", vol, "--pool", "default")
    check_nothing_left(state, out)


def start_install(work, uri, env, extra=()):
    out = outdir(work)
    proc = subprocess.Popen([vmforge_path(), "install", RECIPE, "-o", out, "--accel", "tcg",
                             "--connect", uri, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env),
                            start_new_session=True)
    seen, started = read_until(proc, "install: booting the installer", "install: 5%")
    if not started:
        raise Failure(f"the remote install did not start:\n{seen}")
    return proc, out, seen


def case_sigint(work):
    libvirt_up()
    ssh, _ = host_up()
    state, env = env_for(work)
    proc, out, seen = start_install(work, ssh, env)
    time.sleep(3)
    # As a terminal's Ctrl-C: the whole process group, the ssh process too.
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    check(proc.returncode == 130, f"exit {proc.returncode}\n{seen}{err}")
    check("interrupted" in err, err)
    check(not [f for f in os.listdir(out) if f.endswith(".raw")], os.listdir(out))
    check_nothing_left(state, out)


def case_host_killed(work):
    libvirt_up()
    ssh, _ = host_up()
    state, env = env_for(work)
    proc, out, seen = start_install(work, ssh, env)
    time.sleep(2)
    killed = time.time()
    host("kill")
    try:
        _, err = proc.communicate(timeout=LOST_WITHIN + 60)
    finally:
        host("start")
    took = time.time() - killed
    check(proc.returncode == 8, f"exit {proc.returncode}\n{seen}{err}")
    check(took <= LOST_WITHIN, f"the lost host was reported after {took:.0f} s")
    check(f"lost the connection to libvirt on {ADDR}" in err, err)
    m = re.search(r"What may remain there: (.*?)\. The next vmforge run", err)
    check(m and "vmforge-install-quickstart-" in m.group(1) and "volume vmforge-quickstart-" in m.group(1),
          f"the error does not say what may remain: {err}")
    # The host is back: doctor finds what the dead run left, and removes it.
    p = vmforge(["doctor", "--no-guests", "--connect", ssh], env, rc=0)
    check(re.search(r"ok +leftovers +removed what earlier runs left on " + re.escape(ADDR), p.stdout),
          p.stdout)
    check_nothing_left(state, out)
    # With guests: the accelerator check boots a kernel uploaded to the host,
    # and leaves nothing there either.
    p = vmforge(["doctor", "--connect", ssh], dict(env, **GUESTFS_ENV), rc=0)
    check(re.search(r"ok +leftovers +none", p.stdout), p.stdout)
    check(re.search(r"ok +pool +pool default on " + re.escape(ADDR), p.stdout), p.stdout)
    check(re.search(r"ok +accelerator +tcg runs guests", p.stdout), p.stdout)
    check_nothing_left(state, out)


def case_refusals(work):
    libvirt_up()
    ssh, tcp = host_up()
    state, env = env_for(work)
    out = outdir(work)
    # inject: http cannot reach this machine from the host's guests.
    http = recipe_copy(work, lambda t: t.replace("  inject: initrd ", "  inject: http "))
    p = vmforge(["install", http, "-o", out, "--connect", "qemu+ssh://root@127.0.0.9/system"],
                env, rc=2)
    check("inject: http" in p.stderr and "initrd" in p.stderr and "oemdrv" in p.stderr, p.stderr)
    p = vmforge(["build", http, "-o", out, "--connect", tcp, "--dry-run"], env, rc=2)
    check("inject: http" in p.stderr, p.stderr)
    # No host there.
    unknown = ssh.replace(ADDR, "127.0.0.9")
    p = vmforge(["install", RECIPE, "-o", out, "--connect", unknown], env, rc=8)
    check("cannot connect to libvirt on 127.0.0.9" in p.stderr, p.stderr)
    # A pool that does not exist.
    p = vmforge(["install", RECIPE, "-o", out, "--connect", tcp, "--pool", "nosuch"], env, rc=3)
    check("storage pool nosuch on " + ADDR in p.stderr and "pool-list" in p.stderr, p.stderr)
    # A pool too small for the installer media: refused before any upload.
    host("small-pool", "tiny", "64M")
    p = vmforge(["install", RECIPE, "-o", out, "--connect", tcp, "--pool", "tiny"], env, rc=4)
    check(re.search(r"storage pool tiny on 127\.0\.0\.2 has [0-9.]+ MiB free; the upload alone "
                    r"needs", p.stderr), p.stderr)
    check(not host_virsh("vol-list", "tiny").splitlines()[2:] or
          not host_virsh("vol-list", "tiny").split("\n", 2)[2].strip(), "volumes in the tiny pool")
    host("remove-pool", "tiny")
    check_nothing_left(state, out)


class RemoteWriter:
    """The backup tests' writer guest, defined on the test host: its
    qcow2-on-raw disk, kernel and initramfs uploaded as volumes of the host's
    default pool (nothing shared but the connection)."""

    def __init__(self, work):
        import backup as bk
        self.bk = bk
        self.d = workdir(work)
        self.name = f"bkremote-{os.getpid()}"
        self.top, self.base = bk.make_chain(self.d, name=self.name)
        self.initial = bk.to_raw(self.top, os.path.join(self.d, "initial.raw"))
        kernel, initrd = bk.writer_media(self.d)
        self.vols = {}
        for path in (self.base, self.top, kernel, initrd):
            self.vols[path] = self.upload(path)
        # The qcow2's backing file is named relative to it: the pool's folder.
        xml = bk.domain_xml(self.name, [("file", "qcow2", self.vols[self.top], "vda", "virtio")],
                            kernel=self.vols[kernel], initrd=self.vols[initrd])
        path = os.path.join(self.d, "domain.xml")
        with open(path, "w") as f:
            f.write(xml)
        host_virsh("define", path)
        host_virsh("start", self.name)
        self.wait_writes(40)

    def upload(self, path):
        vol = os.path.basename(path)
        vol = vol if vol.startswith(self.name) else f"{self.name}-{vol}"
        host_virsh("vol-create-as", "default", vol, str(os.path.getsize(path)), "--format", "raw")
        host_virsh("vol-upload", vol, path, "--pool", "default")
        return host_virsh("vol-path", vol, "--pool", "default").strip()

    def writes(self):
        out = host_virsh("domblkstat", self.name, "vda")
        return int(re.search(r"wr_req\s+(\d+)", out).group(1))

    def wait_writes(self, n):
        w0 = self.writes()
        self.bk.wait_for(lambda: self.writes() >= w0 + n, f"{n} writes of the guest")

    def check_disks(self):
        out = host_virsh("domblklist", self.name)
        check(self.vols[self.top] in out and "vmforge" not in out, f"the domain's disks:\n{out}")
        check(host_virsh("domstate", self.name).strip() == "running", "not running")

    def final(self):
        """Destroyed, its disk downloaded (with its backing file beside it)
        and read as raw."""
        host_virsh("destroy", self.name)
        down = os.path.join(self.d, "down")
        os.makedirs(down)
        for path in (self.base, self.top):
            name = os.path.basename(path)
            host_virsh("vol-download", name, os.path.join(down, name), "--pool", "default")
        return self.bk.to_raw(os.path.join(down, os.path.basename(self.top)),
                              os.path.join(self.d, "final.raw"))

    def close(self):
        run(["virsh", "-c", host("uri", "tcp"), "destroy", self.name])
        run(["virsh", "-c", host("uri", "tcp"), "undefine", self.name, "--checkpoints-metadata"])
        for vol in self.vols.values():
            run(["virsh", "-c", host("uri", "tcp"), "vol-delete", vol])


def case_backup_ssh(work):
    """A running domain on the test host backed up over ssh through the
    backup API, in full and then incrementally: the targets come back with
    sparse streams; each backup is the disk at its time; nothing is left on
    the host."""
    libvirt_up()
    ssh, _ = host_up()
    state, env = env_for(work)
    w = RemoteWriter(work)
    bk = w.bk
    try:
        outs = [os.path.join(w.d, "full"), os.path.join(w.d, "inc")]
        for i, out in enumerate(outs):
            if i:
                w.wait_writes(150)
            extra = ["--incremental", outs[0]] if i else ["--to", "qcow2,vmdk"]
            p = vmforge(["backup", w.name, "--connect", ssh, "-o", out, "--json", *extra], env,
                        rc=0)
            r = json.loads(p.stdout)
            check(r["method"] == "backup-api" and r["disks"][0]["mode"] == ("incremental" if i else
                                                                            "full"),
                  f"backup {i}: {r['method']} {r['disks'][0]}")
            check("fetch vda" in p.stderr, f"the target was not downloaded:\n{p.stderr[-2000:]}")
            w.check_disks()
        check_nothing_left(state, *outs, ignore=w.name)
        check(len(host_virsh("checkpoint-list", w.name, "--name").split()) == 2, "checkpoints")
        final = w.final()
        ks = []
        for i, out in enumerate(outs):
            img = os.path.join(out, f"{w.name}-vda.qcow2")
            ks.append(bk.records_in(img, os.path.join(w.d, "b.raw")))
            expect = bk.snapshot_time_image(w, final, ks[-1], os.path.join(w.d, f"e{i}.raw"))
            p = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", expect, img])
            check(p.returncode == 0, f"backup {i} is not the disk at its time: {p.stdout}")
            if i == 0:
                p = run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", expect,
                         os.path.join(out, f"{w.name}-vda.vmdk")])
                check(p.returncode == 0, f"the VMDK is not the disk: {p.stdout}")
        alloc, bound = bk.allocated(img), bk.touched_clusters(ks[0], ks[1])
        check(ks[1] > ks[0] and alloc <= bound * 1.1 + 3 * bk.CLUSTER,
              f"incremental: {alloc} bytes for records {ks[0] + 1}..{ks[1]} ({bound})")
    finally:
        w.close()
    check_nothing_left(state)


if __name__ == "__main__":
    main({
        "backup-ssh": case_backup_ssh,
        "install-tcp": case_install_tcp,
        "sigint": case_sigint,
        "host-killed": case_host_killed,
        "refusals": case_refusals,
    })
