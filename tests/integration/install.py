# SPDX-License-Identifier: GPL-2.0-or-later
"""Install stage, for real: a running libvirtd, TCG guests, the offline
installer built from Debian packages (tests/installer/). Each case installs
(or refuses to) and checks the result with independent tools: sfdisk for the
partition table, blkid and debugfs for the file system, virsh for leftovers,
and a boot of the installed disk from its own MBR boot loader. The OEMDRV
install runs through a restart of this machine's libvirtd."""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import Failure, check, main, read_until, run, vmforge_path  # noqa: E402

URI = "qemu:///system"
PASSWORD = "s3cret-Pa55word-for-tests"
HERE = os.path.dirname(os.path.abspath(__file__))


def iso():
    path = os.environ.get("VMFORGE_INSTALLER_ISO", "")
    if not os.path.exists(path):
        raise Failure(f"VMFORGE_INSTALLER_ISO={path!r}: the offline installer is not built "
                      "(scripts/setup-installer.sh builds it)")
    return path


def virsh(*args):
    return run(["virsh", "-q", "-c", URI, *args], check_rc=0).stdout


def libvirt_up():
    p = run(["virsh", "-c", URI, "version"])
    if p.returncode != 0:
        raise Failure("libvirtd is not reachable (scripts/start-libvirtd.sh starts it): " + p.stderr)


def recipe(d, name, inject="initrd", kickstart=None, extra_installer="", disk_extra=""):
    with open(os.path.join(d, "rootpw.txt"), "w") as f:
        f.write(PASSWORD + "\n")
    ks = f"  kickstart: {kickstart}\n" if kickstart else "  kickstart: offline\n"
    text = f"""name: {name}
version: "7"
vars:
  hostname: {name}-host
  timezone: Europe/Zurich
disk:
  size: 3G
  partitions:
    - mount: /
      size: 2500M
      bootable: true
      fstype: ext4
    - mount: swap
      size: rest
{disk_extra}installer:
  iso: {iso()}
{ks}  inject: {inject}
  rootpw_file: rootpw.txt
  timeout: 20m
  idle_timeout: 5m
{extra_installer}hardware:
  vcpus: 2
  memory: 1G
"""
    path = os.path.join(d, "recipe.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def install(path, outdir, *extra, rc=0):
    p = run([vmforge_path(), "install", path, "-o", outdir, "--accel", "tcg", "--connect", URI,
             *extra])
    if p.returncode != rc:
        raise Failure(f"vmforge install: exit {p.returncode}, expected {rc}\n"
                      f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-5000:]}")
    return p


def leftovers(name, outdir):
    """Domains, pools and work folders a build of `name` may have left."""
    found = []
    for dom in virsh("list", "--all", "--name").split():
        if name in dom:
            found.append("domain " + dom)
    for pool in virsh("pool-list", "--all", "--name").split():
        if name in pool:
            found.append("pool " + pool)
    for entry in os.listdir(outdir):
        if entry.startswith(".vmforge-"):
            found.append("folder " + entry)
    return found


def check_clean(name, outdir):
    left = leftovers(name, outdir)
    check(not left, f"left behind: {left}")


def partition_table(disk):
    import json
    p = run(["sfdisk", "--json", disk], check_rc=0)
    return json.loads(p.stdout)["partitiontable"]


def extract_partition(disk, start, size, out):
    run(["dd", f"if={disk}", f"of={out}", "bs=1M", f"skip={start * 512 // (1 << 20)}",
         f"count={size * 512 // (1 << 20)}", "conv=sparse", "status=none"], check_rc=0)


def debugfs_cat(image, path):
    p = run(["debugfs", "-R", f"cat {path}", image], check_rc=0)
    return p.stdout


def check_installed(d, name, disk):
    """The disk vmforge made and the installer filled, read with other tools."""
    pt = partition_table(disk)
    check(pt["label"] == "dos", f"partition table is {pt['label']}, expected dos (MBR)")
    parts = pt["partitions"]
    check(len(parts) == 2, f"{len(parts)} partitions, expected 2")
    root, swap = parts
    check(root["start"] == 2048, f"first partition starts at sector {root['start']}, not 2048")
    check(root.get("bootable") is True, "the root partition is not marked bootable")
    check(root["type"] == "83" and swap["type"] == "82", f"types {root['type']}, {swap['type']}")
    check(root["size"] == 2500 * 2048, f"root partition has {root['size']} sectors")
    check(swap["start"] % 2048 == 0, "the swap partition is not 1 MiB aligned")
    with open(disk, "rb") as f:
        mbr = f.read(512)
    with open("/usr/lib/EXTLINUX/mbr.bin", "rb") as f:
        boot = f.read()
    check(mbr[:len(boot)] == boot, "the MBR's boot code is not extlinux's mbr.bin")
    check(mbr[510:] == b"\x55\xaa", "no MBR signature")
    part = os.path.join(d, "root.img")
    extract_partition(disk, root["start"], root["size"], part)
    fstype = run(["blkid", "-p", "-o", "value", "-s", "TYPE", part], check_rc=0).stdout.strip()
    check(fstype == "ext4", f"root partition holds {fstype!r}, expected ext4")
    check(debugfs_cat(part, "/etc/hostname").strip() == f"{name}-host", "hostname not applied")
    check(debugfs_cat(part, "/etc/timezone").strip() == "Europe/Zurich", "timezone not applied")
    check("installed by vmforge" in debugfs_cat(part, "/etc/vmforge-release"),
          "%post did not run")
    shadow = debugfs_cat(part, "/etc/shadow")
    root_hash = [line for line in shadow.splitlines() if line.startswith("root:")][0].split(":")[1]
    check(root_hash.startswith("$y$") or root_hash.startswith("$6$"),
          f"root's password is not a yescrypt/SHA-512 hash: {root_hash[:4]}...")
    # The hash really is of the password (crypt it again with its own salt).
    import crypt  # noqa: deprecated but present in Debian's Python 3.11
    check(crypt.crypt(PASSWORD, root_hash) == root_hash, "the hash is not of the given password")
    swap_t = run(["blkid", "-p", "-o", "value", "-s", "TYPE", "-O",
                  str(swap["start"] * 512), disk]).stdout.strip()
    check(swap_t == "swap", f"swap partition holds {swap_t!r}")
    os.unlink(part)


def check_secrets(outdir):
    """The plain password is nowhere in the output folder; the kickstart is 0600."""
    for root, _, files in os.walk(outdir):
        for fn in files:
            path = os.path.join(root, fn)
            if fn.endswith(".raw"):
                continue
            with open(path, "rb") as f:
                check(PASSWORD.encode() not in f.read(), f"the plain password is in {path}")
            if fn.endswith("-ks.cfg"):
                mode = os.stat(path).st_mode & 0o777
                check(mode == 0o600, f"{path} has mode {oct(mode)}, expected 0600")


def boot_until(disk, marker, d, seconds=600, keep=False):
    """Boots `disk` from its own boot loader (no kernel given) in a libvirt
    domain of the test's own, until `marker` appears on its serial console.
    The domain is destroyed then, unless `keep` (it is on failure)."""
    name = f"vmforge-test-boot-{os.getpid()}"
    log = os.path.join(d, "boot-console.log")
    xml = f"""<domain type='qemu'>
  <name>{name}</name><memory unit='MiB'>1024</memory><vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features><cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
    <serial type='file'><source path='{log}'/><target port='0'/></serial>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>"""
    xml_path = os.path.join(d, "boot.xml")
    with open(xml_path, "w") as f:
        f.write(xml)
    if os.path.exists(log):
        os.unlink(log)
    virsh("create", xml_path)
    found = False
    try:
        deadline = time.time() + seconds
        while time.time() < deadline:
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
            if marker in text:
                found = True
                return text
            time.sleep(2)
        raise Failure(f"{marker!r} did not appear on the console within {seconds} s; "
                      f"last lines:\n" + "\n".join(text.splitlines()[-20:]))
    finally:
        if not (keep and found):
            run(["virsh", "-c", URI, "destroy", name])


def workdir(work):
    """The case's folder, traversable by QEMU (which runs as libvirt-qemu)."""
    os.chmod(work, 0o755)
    return work


def install_through_restart(path, out):
    """vmforge install while this machine's libvirtd is stopped (by its PID)
    during the install and started again 3 s later, as an upgrade or a
    crash does: the guest goes on, vmforge reconnects and finishes."""
    proc = subprocess.Popen([vmforge_path(), "install", path, "-o", out, "--accel", "tcg",
                             "--connect", URI], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen, _ = read_until(proc, "install: 10%")
    with open("/run/libvirtd.pid") as f:
        os.kill(int(f.read().strip()), signal.SIGTERM)
    time.sleep(3)
    run(["bash", os.path.join(HERE, "..", "..", "scripts", "start-libvirtd.sh")], check_rc=0)
    stdout, err = proc.communicate(timeout=1200)
    check(proc.returncode == 0, f"exit {proc.returncode} through a libvirtd restart:\n{seen}{err}")
    check("lost the connection to libvirt on this host" in err and "reconnected" in err,
          f"the restart was not reported:\n{err}")
    return subprocess.CompletedProcess(proc.args, 0, stdout, seen + err)


def install_case(work, inject, boot=False, restart=False):
    libvirt_up()
    d = workdir(work)
    name = f"t{inject}{os.getpid()}"
    path = recipe(d, name, inject=inject)
    out = os.path.join(d, "out")
    os.mkdir(out)
    p = install_through_restart(path, out) if restart else install(path, out)
    disk = os.path.join(out, name + ".raw")
    check(p.stdout.strip() == disk, f"stdout is {p.stdout!r}, expected the disk's path")
    check(os.path.exists(disk) and os.path.getsize(disk) == 3 << 30, "no 3 GiB base disk")
    check_clean(name, out)
    console = open(os.path.join(out, "logs", f"{name}-install-console.log"), errors="replace").read()
    check("vmforge-installer: installation complete" in console, "no success line in the log")
    expect = {"initrd": "inst.ks=file:/ks.cfg", "oemdrv": "inst.ks=hd:LABEL=OEMDRV:/ks.cfg",
              "http": "inst.ks=http://10.0.2.2:"}[inject]
    xml = open(os.path.join(out, "logs", f"{name}-install-domain.xml")).read()
    check(expect in xml, f"the kernel command line lacks {expect}")
    check("<interface type=\"user\">" in xml, "the installer's NIC is not user-mode networking")
    alog = os.path.join(out, "logs", f"{name}-install-anaconda.log")
    check(os.path.exists(alog) and "vmforge-installer: installation complete" in open(alog).read(),
          "the installer's log channel (org.fedoraproject.anaconda.log.0) was not captured")
    check(f"vmforge-installer: kickstart {expect[len('inst.ks='):]}" in console,
          "the installer did not read the kickstart the way it was injected")
    if inject == "http":
        port = int(re.search(r"10\.0\.2\.2:(\d+)/", xml).group(1))
        import socket
        s = socket.socket()
        try:
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        finally:
            s.close()
        check(refused, f"the answer-file server still listens on port {port}")
    check_installed(d, name, disk)
    check_secrets(out)
    if boot:
        text = boot_until(disk, f"{name}-host login:", d)
        check("Debian GNU/Linux 12" in text, "the booted system is not the installed Debian")


def case_inject_initrd(work):
    install_case(work, "initrd", boot=True)


def case_inject_oemdrv(work):
    install_case(work, "oemdrv", restart=True)


def case_inject_http(work):
    install_case(work, "http")


def case_timeout(work):
    """An installer that never powers off: the timeout fires, the domain is
    destroyed, the console's tail is shown, --keep-failed keeps the disk."""
    libvirt_up()
    d = workdir(work)
    name = f"ttimeout{os.getpid()}"
    with open(os.path.join(HERE, "..", "..", "templates", "kickstart", "offline.ks")) as f:
        ks = f.read().replace("\npoweroff\n", "\n# no poweroff: the installer waits\n")
    with open(os.path.join(d, "wait.ks"), "w") as f:
        f.write(ks)
    path = recipe(d, name, kickstart="wait.ks")
    out = os.path.join(d, "out")
    os.mkdir(out)
    t0 = time.time()
    p = install(path, out, "--idle-timeout", "40s", "--timeout", "15m", "--keep-failed", rc=7)
    check(time.time() - t0 < 600, "the idle timeout did not stop the install in time")
    check("no console output and no disk I/O for 40 s" in p.stderr, f"stderr: {p.stderr[-2000:]}")
    check("waiting (as Anaconda does)" in p.stderr, "the console's last lines were not shown")
    check("whole console log:" in p.stderr and "-install-console.log" in p.stderr,
          "the log's path was not given")
    check(os.path.exists(os.path.join(out, name + ".failed.raw")), "--keep-failed kept no disk")
    check(not os.path.exists(os.path.join(out, name + ".raw")), "a failed install left a base disk")
    check_clean(name, out)


def refused(work, tag, ks_name, ks_text):
    """Installs with a kickstart that must be refused before anything starts:
    exit 3, nothing left behind. Returns (folder, output folder, recipe, result)."""
    libvirt_up()
    d = workdir(work)
    name = f"t{tag}{os.getpid()}"
    with open(os.path.join(d, ks_name), "w") as f:
        f.write(ks_text)
    path = recipe(d, name, kickstart=ks_name)
    out = os.path.join(d, "out")
    os.makedirs(out, exist_ok=True)
    p = install(path, out, rc=3)
    check_clean(name, out)
    check(not os.path.exists(os.path.join(out, "logs")), "a refused recipe wrote logs")
    return d, out, path, p


def case_undefined_var(work):
    d, _, _, p = refused(work, "undef", "undef.ks",
                         "text\nclearpart --none\n{{ partitions }}\n\n"
                         "network --hostname={{ nosuchvar }}\npoweroff\n")
    check(f"{d}/undef.ks:5:" in p.stderr and "undefined variable \"nosuchvar\"" in p.stderr,
          f"the error does not name the template line: {p.stderr}")


def case_lvm_kickstart(work):
    d, out, path, p = refused(work, "lvm", "lvm.ks",
                              "text\nclearpart --none\n{{ partitions }}\npart pv.01 --onpart=vda2\n"
                              "volgroup vg0 pv.01\nlogvol / --vgname=vg0 --name=root --size=1000\n"
                              "poweroff\n")
    name = f"tlvm{os.getpid()}"
    check(f"{d}/lvm.ks:4:" in p.stderr and "LVM" in p.stderr and "HEPiX" in p.stderr,
          f"the LVM kickstart was not refused with its line: {p.stderr}")
    for ks, what in (("autopart\n", "autopart"), ("clearpart --all\n", "clearpart"),
                     ("part /home --size=100\n", "without --onpart")):
        with open(os.path.join(d, "bad.ks"), "w") as f:
            f.write("text\nclearpart --none\n{{ partitions }}\n" + ks + "poweroff\n")
        path = recipe(d, name, kickstart="bad.ks")
        p = install(path, out, rc=3)
        check(what in p.stderr and "bad.ks:4:" in p.stderr, f"{ks.strip()}: {p.stderr}")
    with open(os.path.join(d, "gpt.yaml"), "w") as f:
        f.write(open(path).read().replace("disk:\n", "disk:\n  label: gpt\n"))
    p = install(os.path.join(d, "gpt.yaml"), out, rc=3)
    check("gpt.yaml:7:10:" in p.stderr and "HEPiX" in p.stderr and "msdos" in p.stderr,
          f"a GPT disk was not refused: {p.stderr}")
    check_clean(name, out)


def case_sigint(work):
    """Ctrl-C while the installer runs: the domain is destroyed, nothing kept.
    This install boots a kernel and initrd given directly (the ISO still
    serves stage 2)."""
    libvirt_up()
    d = workdir(work)
    name = f"tsigint{os.getpid()}"
    run(["xorriso", "-osirrox", "on", "-indev", iso(),
         "-extract", "/images/pxeboot/vmlinuz", os.path.join(d, "vmlinuz"),
         "-extract", "/images/pxeboot/initrd.img", os.path.join(d, "initrd.img")], check_rc=0)
    path = recipe(d, name, extra_installer="  kernel: vmlinuz\n  initrd: initrd.img\n")
    out = os.path.join(d, "out")
    os.mkdir(out)
    proc = subprocess.Popen([vmforge_path(), "install", path, "-o", out, "--accel", "tcg",
                             "--connect", URI], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    log = os.path.join(out, "logs", f"{name}-install-console.log")
    deadline = time.time() + 600
    while time.time() < deadline:
        if os.path.exists(log) and "installing the system" in open(log, errors="replace").read():
            break
        if proc.poll() is not None:
            raise Failure("vmforge ended before the install got going: " + proc.stderr.read())
        time.sleep(0.5)
    else:
        proc.kill()
        raise Failure("the installer never started installing")
    running = [x for x in virsh("list", "--name").split() if name in x]
    check(running, "no installer domain was running when the signal was sent")
    xml = virsh("dumpxml", running[0])
    check("/vmlinuz</kernel>" in xml and ".vmforge-" in xml,
          "the given kernel was not staged as a volume of the build's pool")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    check(proc.returncode == 130, f"exit {proc.returncode}, expected 130; stderr {err[-2000:]}")
    check("interrupted" in err, f"stderr: {err[-1000:]}")
    check(not os.path.exists(os.path.join(out, name + ".raw")), "an interrupted install left a disk")
    check_clean(name, out)


def case_unreachable_output(work):
    """An output folder QEMU cannot reach (a 0700 parent): refused with the
    folder and the fix named, before anything is written."""
    libvirt_up()
    d = workdir(work)
    path = recipe(d, f"tunreach{os.getpid()}")
    private = os.path.join(d, "private")
    out = os.path.join(private, "out")
    os.makedirs(out)
    os.chmod(private, 0o700)
    p = install(path, out, rc=4)
    check(f"{private}: QEMU" in p.stderr and f"chmod o+x {private}" in p.stderr, p.stderr)
    check(os.listdir(out) == [], f"a refused install wrote {os.listdir(out)}")


if __name__ == "__main__":
    main({
        "inject-initrd": case_inject_initrd,
        "inject-oemdrv": case_inject_oemdrv,
        "inject-http": case_inject_http,
        "timeout": case_timeout,
        "undefined-var": case_undefined_var,
        "lvm-kickstart": case_lvm_kickstart,
        "sigint": case_sigint,
        "unreachable-output": case_unreachable_output,
    })
