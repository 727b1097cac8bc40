# SPDX-License-Identifier: GPL-2.0-or-later
"""Customize stage, for real: the offline test image installed once (cached
for the suite), customized through libguestfs under TCG, and every result
read back with guestfish (a separate libguestfs client) and by booting the
image in libvirt: first-boot scripts ran exactly once, the machine-id was
empty in the image and is set after boot, SSH host keys were removed and
made again, the user's key is in place with the right permissions."""

import fcntl
import os
import shutil
import struct
import subprocess
import sys
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated, still in Debian's Python 3.11; the hash check needs it

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from install import URI, boot_until, install, libvirt_up, recipe, virsh, workdir  # noqa: E402
from testlib import Failure, check, main, run, sha256_file, vmforge_path  # noqa: E402

GUESTFS_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
ALICE_PW = "alice-Pa55-word"


def base_disk():
    """The installed offline image, made once per build tree (under a lock)
    and copied by each case."""
    cache = os.environ.get("VMFORGE_TEST_FIXTURES")
    if not cache:
        raise Failure("VMFORGE_TEST_FIXTURES is not set")
    os.makedirs(cache, exist_ok=True)
    os.chmod(cache, 0o755)
    disk = os.path.join(cache, "tbase.raw")
    with open(os.path.join(cache, "tbase.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(disk):
            d = os.path.join(cache, "tbase-work")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            os.chmod(d, 0o755)
            install(recipe(d, "tbase"), d)
            os.rename(os.path.join(d, "tbase.raw"), disk)
            shutil.rmtree(d, ignore_errors=True)
    return disk


def copy_disk(d, name="disk.raw"):
    out = os.path.join(d, name)
    run(["cp", "--sparse=always", base_disk(), out], check_rc=0)
    return out


def guestfish(disk, script, ro=True):
    p = run(["guestfish", "--ro" if ro else "--rw", "-a", disk, "-i"], input=script,
            env=GUESTFS_ENV)
    if p.returncode != 0:
        raise Failure(f"guestfish failed: {p.stderr}\nscript:\n{script}")
    return p.stdout


MARK = "@@vmforge-test@@"


def gf_inspect(disk, read=(), stat=(), script=""):
    """In one appliance launch (each costs about 35 s under TCG here): the
    contents of the `read` paths (None when a path does not exist), the
    (mode, uid, gid) of the `stat` paths (None likewise), and what the
    guestfish `script` prints. Returns (contents, stats, output)."""
    import re
    text = "".join(f"echo {MARK}r{p}\nexists {p}\n-cat {p}\n" for p in read)
    text += "".join(f"echo {MARK}s{p}\n-lstatns {p}\n" for p in stat)
    out = guestfish(disk, text + f"echo {MARK}x\n" + script)
    parts = re.split(rf"^{MARK}(.*)\n", out, flags=re.M)
    contents, stats = {}, {}
    for i in range(1, len(parts), 2):
        kind, path, body = parts[i][0], parts[i][1:], parts[i + 1]
        if kind == "r":
            exists, _, t = body.partition("\n")
            # guestfish ends what cat printed with a newline of its own.
            contents[path] = (t[:-1] if t.endswith("\n") else t) if exists == "true" else None
        elif kind == "s":
            f = dict((k.strip(), int(v)) for k, v in
                     (line.split(":", 1) for line in body.splitlines() if ":" in line))
            stats[path] = (f["st_mode"], f["st_uid"], f["st_gid"]) if f else None
    return contents, stats, parts[-1]


def gf_read(disk, paths):
    """Contents of each guest file (None when it does not exist)."""
    return gf_inspect(disk, read=paths)[0]


def e2_read(disk, paths):
    """Contents of files (None when absent) of the ext4 file system on the
    disk's first MBR partition, read at rest with e2fsprogs' debugfs: no
    appliance to launch (guestfish takes about 35 s under TCG). For disks
    no guest is running on."""
    dev = e2_device(disk)
    return {path: debugfs(dev, "cat", path) for path in paths}


def e2_ls(disk, directory):
    """Names in a directory of the disk's first partition (debugfs)."""
    out = debugfs(e2_device(disk), "ls -p", directory) or ""
    # ls -p: /INODE/MODE/UID/GID/NAME/SIZE/ a line
    return [line.split("/")[5] for line in out.splitlines()
            if line.count("/") >= 6 and line.split("/")[5] not in (".", "..")]


def e2_device(disk):
    """DISK?offset=N, the first MBR partition as e2fsprogs opens it, once
    its ext4 is known to be unmounted cleanly (debugfs replays no journal)."""
    with open(disk, "rb") as f:
        mbr = f.read(512)
    check(mbr[510:] == b"\x55\xaa", f"{disk}: no MBR")
    dev = f"{disk}?offset={struct.unpack_from('<I', mbr, 446 + 8)[0] * 512}"
    sb = run(["dumpe2fs", "-h", dev], check_rc=0).stdout
    check("needs_recovery" not in sb, f"{disk}: the file system was not unmounted cleanly")
    return dev


def debugfs(dev, request, path):
    """What debugfs's request prints for path; None when there is no path."""
    p = subprocess.run(["debugfs", "-R", f"{request} {path}", dev], capture_output=True)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0 and "Bad magic" not in err, f"debugfs {request} {path}: {err}")
    return None if "File not found" in err else p.stdout.decode(errors="replace")


def customize(recipe_path, disk, rc=0, extra=()):
    p = run([vmforge_path(), "customize", recipe_path, "--disk", disk, "--accel", "tcg", *extra])
    if p.returncode != rc:
        raise Failure(f"vmforge customize: exit {p.returncode}, expected {rc}\n"
                      f"stderr: {p.stderr[-4000:]}")
    return p


def write_recipe(d, customize_yaml):
    path = os.path.join(d, "recipe.yaml")
    with open(path, "w") as f:
        f.write("name: tcust\ndisk:\n  size: 3G\n  partitions:\n    - mount: /\n"
                "installer:\n  kernel: /dev/null\n  initrd: /dev/null\n"
                "customize:\n" + customize_yaml)
    return path


def shutdown_after_boot(disk, d, marker):
    """Boots until `marker`, then an ACPI power-off so what the guest wrote
    reaches the disk."""
    name = f"vmforge-test-boot-{os.getpid()}"
    boot_until(disk, marker, d, keep=True)
    virsh("shutdown", name)
    deadline = time.time() + 300
    while time.time() < deadline:
        if name not in virsh("list", "--name").split():
            return
        time.sleep(2)
    run(["virsh", "-c", URI, "destroy", name])
    raise Failure("the guest did not power off within 300 s of an ACPI shutdown")


OPERATIONS = """  - hostname: web1
  - timezone: America/New_York
  - root_password_file: root.pw
  - user:
      name: alice
      groups: [adm, sudo]
      shell: /bin/bash
      ssh_key_files: [key.pub]
      password_file: alice.pw
  - write: {path: /etc/motd, content: "managed by vmforge\\n", mode: "0640", owner: "root:adm"}
  - upload: {src: up.txt, path: /opt/app/up.txt, mode: "0600", owner: alice}
  - mkdir: {path: /srv/data, mode: "0750", owner: "alice:alice"}
  - chmod: {path: /srv/data, mode: "0770"}
  - chown: {path: /opt/app, owner: "alice:adm"}
  - delete: /etc/vmforge-release
  - symlink: {target: /etc/motd, link: /etc/motd.link}
  - append_line: {path: /etc/hosts, line: "10.1.2.3 db"}
  - run: "echo hello from run; id -un > /root/run-user"
  - firstboot: "echo ran >> /var/lib/firstboot-count"
  - firstboot: {script: second.sh, name: second}
  - selinux_relabel: true
  - packages: [htop]
"""


def case_operations(work):
    libvirt_up()
    d = workdir(work)
    disk = copy_disk(d)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f",
         os.path.join(d, "key")], check_rc=0)
    for name, text in (("root.pw", "root-Pa55\n"), ("alice.pw", ALICE_PW + "\n"),
                       ("up.txt", "uploaded file\n"),
                       ("second.sh", "cat /var/lib/firstboot-count > /var/lib/firstboot-second\n")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    path = write_recipe(d, OPERATIONS)
    p = customize(path, disk)
    check("packages htop: skipped: the appliance has no network" in p.stderr,
          "the offline package install was not skipped with a message")
    n = OPERATIONS.count("\n  - ")  + 1
    check(n == 17, f"{n} operations in the list")
    for i in range(1, n + 1):
        check(f"[{i}/{n}]" in p.stderr, f"operation {i} logged no line")
    log = open(os.path.join(d, "logs", "tcust-customize.log")).read()
    check("hello from run" in log, "the run command's output is not in the log")
    for secret in ("root-Pa55", ALICE_PW):
        check(secret not in log + p.stderr, "a plain password reached the log")

    files, st, out = gf_inspect(
        disk, read=["/etc/hostname", "/etc/timezone", "/etc/shadow", "/etc/group", "/etc/motd",
                    "/opt/app/up.txt", "/home/alice/.ssh/authorized_keys", "/etc/hosts",
                    "/root/run-user", "/etc/vmforge-release", "/etc/machine-id", "/etc/passwd"],
        stat=["/home/alice/.ssh", "/home/alice/.ssh/authorized_keys", "/etc/motd",
              "/opt/app/up.txt", "/srv/data", "/opt/app"],
        script="readlink /etc/motd.link\n-glob ls /etc/ssh/ssh_host_*\n")
    check(files["/etc/hostname"] == "web1\n", f"hostname: {files['/etc/hostname']!r}")
    check("127.0.1.1\tweb1" in files["/etc/hosts"], "/etc/hosts does not name web1")
    check(files["/etc/hosts"].rstrip("\n").endswith("10.1.2.3 db"), "append_line missing")
    check(files["/etc/timezone"] == "America/New_York\n", "timezone")
    shadow = {l.split(":")[0]: l.split(":")[1] for l in files["/etc/shadow"].splitlines() if l}
    check(crypt.crypt("root-Pa55", shadow["root"]) == shadow["root"], "root's password")
    check(crypt.crypt(ALICE_PW, shadow["alice"]) == shadow["alice"], "alice's password")
    passwd = {l.split(":")[0]: l.split(":") for l in files["/etc/passwd"].splitlines() if l}
    uid, gid = int(passwd["alice"][2]), int(passwd["alice"][3])
    check(passwd["alice"][6] == "/bin/bash", "alice's shell")
    groups = {l.split(":")[0]: l.split(":") for l in files["/etc/group"].splitlines() if l}
    check("alice" in groups["adm"][3].split(",") and "alice" in groups["sudo"][3].split(","),
          "alice is not in adm and sudo")
    adm = int(groups["adm"][2])
    with open(os.path.join(d, "key.pub")) as f:
        check(files["/home/alice/.ssh/authorized_keys"] == f.read(), "authorized_keys content")
    check(files["/etc/motd"] == "managed by vmforge\n", "write content")
    check(files["/opt/app/up.txt"] == "uploaded file\n", "upload content")
    check(files["/root/run-user"] == "root\n", "the run command did not run as root")
    check(files["/etc/vmforge-release"] is None, "delete left the file")
    check(files["/etc/machine-id"] == "", "machine-id is not empty in the image")
    check(st["/home/alice/.ssh"] == (0o40700, uid, gid), f".ssh: {st['/home/alice/.ssh']}")
    check(st["/home/alice/.ssh/authorized_keys"] == (0o100600, uid, gid),
          f"authorized_keys: {st['/home/alice/.ssh/authorized_keys']}")
    check(st["/etc/motd"] == (0o100640, 0, adm), f"/etc/motd: {st['/etc/motd']}")
    check(st["/opt/app/up.txt"] == (0o100600, uid, gid), f"up.txt: {st['/opt/app/up.txt']}")
    check(st["/srv/data"] == (0o40770, uid, gid), f"/srv/data: {st['/srv/data']}")
    check(st["/opt/app"][1:] == (uid, adm), f"/opt/app: {st['/opt/app']}")
    check(out.splitlines()[0] == "/etc/motd", "symlink")
    check("ssh_host_" not in out, "SSH host keys were left in the image")

    # Boot it twice: the first-boot scripts run once, in order; the machine
    # gets its own id and new host keys.
    shutdown_after_boot(disk, d, "web1 login:")
    after = e2_read(disk, ["/var/lib/firstboot-count", "/var/lib/firstboot-second",
                           "/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key.pub",
                           "/var/log/vmforge-firstboot.log"])
    check(after["/var/lib/firstboot-count"] == "ran\n", f"count: {after['/var/lib/firstboot-count']!r}")
    check(after["/var/lib/firstboot-second"] == "ran\n", "the first-boot scripts ran out of order")
    mid = (after["/etc/machine-id"] or "").strip()
    check(len(mid) == 32 and all(c in "0123456789abcdef" for c in mid),
          f"machine-id after boot: {mid!r}")
    check(after["/etc/ssh/ssh_host_ed25519_key.pub"], "no SSH host key after first boot")
    shutdown_after_boot(disk, d, "web1 login:")
    again = e2_read(disk, ["/var/lib/firstboot-count", "/etc/machine-id"])
    check(again["/var/lib/firstboot-count"] == "ran\n", "a first-boot script ran twice")
    check(again["/etc/machine-id"].strip() == mid, "the machine-id changed on the second boot")


def case_sysprep(work):
    """Every default sysprep operation removes its state."""
    d = workdir(work)
    disk = copy_disk(d)
    state = (
        "mkdir -p /var/lib/dhcp /etc/udev/rules.d /var/cache/apt/archives /home/bob /var/log/app\n"
        "echo lease > /var/lib/dhcp/dhclient.eth0.leases\n"
        "echo 'rm -rf /' > /root/.bash_history\n"
        "echo ls > /home/bob/.bash_history\n"
        "echo junk > /tmp/junk; mkdir -p /var/tmp/dir; echo x > /var/tmp/dir/f\n"
        "echo 'SUBSYSTEM==net' > /etc/udev/rules.d/70-persistent-net.rules\n"
        "head -c 512 /dev/urandom > /var/lib/systemd/random-seed\n"
        "echo deb > /var/cache/apt/archives/foo_1.0_amd64.deb; echo bin > /var/cache/apt/pkgcache.bin\n"
        "echo secret-log-line > /var/log/app/app.log; echo old > /var/log/app/app.log.1\n"
        "gzip -c /etc/hostname > /var/log/app/app.log.2.gz\n"
        "echo 0123456789abcdef0123456789abcdef > /etc/machine-id\n"
    )
    with open(os.path.join(d, "state.sh"), "w") as f:
        f.write(state)
    path = write_recipe(d, "  - run: {script: state.sh}\n  - sysprep: default\n")
    p = customize(path, disk)
    for name in ("machine-id", "ssh-hostkeys", "logfiles", "bash-history", "tmp-files",
                 "dhcp-leases", "net-rules", "random-seed", "package-cache"):
        check(f"sysprep {name}:" in p.stderr, f"sysprep {name} not logged")
    files = e2_read(disk, ["/var/lib/dhcp/dhclient.eth0.leases", "/root/.bash_history",
                           "/home/bob/.bash_history", "/tmp/junk", "/var/tmp/dir/f",
                           "/etc/udev/rules.d/70-persistent-net.rules",
                           "/var/lib/systemd/random-seed",
                           "/var/cache/apt/archives/foo_1.0_amd64.deb",
                           "/var/cache/apt/pkgcache.bin", "/var/log/app/app.log",
                           "/var/log/app/app.log.1", "/var/log/app/app.log.2.gz",
                           "/etc/machine-id"])
    out = " ".join(e2_ls(disk, "/etc/ssh") + e2_ls(disk, "/usr/lib/vmforge/firstboot/scripts"))
    for path_, content in files.items():
        if path_ in ("/var/log/app/app.log", "/etc/machine-id"):
            check(content == "", f"{path_} is not empty: {content!r}")
        else:
            check(content is None, f"{path_} survived sysprep")
    check("ssh_host_" not in out and "ssh-hostkeys" in out,
          "host keys not removed, or not scheduled to be made again at first boot")


def case_run_fails(work):
    """A failing run fails the stage with the command's output and recipe
    line, and leaves the disk as it was."""
    d = workdir(work)
    disk = copy_disk(d)
    before = sha256_file(disk)
    path = write_recipe(d, "  - hostname: changed\n  - run: |\n      echo about to fail\n"
                           "      echo on stderr >&2\n      exit 3\n")
    p = customize(path, disk, rc=7)
    check("recipe.yaml:11: run: exited with status 3" in p.stderr, p.stderr[-2000:])
    check("about to fail" in p.stderr and "on stderr" in p.stderr, "the output was not shown")
    check(sha256_file(disk) == before,
          "a failed customize changed the disk")
    check(not [f for f in os.listdir(d) if f.startswith(".disk.raw.customize")],
          "the working copy was left behind")


def case_lvm(work):
    """A guest with an LVM volume group fails the HEPiX check."""
    d = workdir(work)
    disk = os.path.join(d, "lvm.raw")
    with open(disk, "wb") as f:
        f.truncate(256 << 20)
    p = run(["guestfish", "-a", disk], input="run\npart-disk /dev/sda mbr\npvcreate /dev/sda1\n"
            "vgcreate vgtest /dev/sda1\nlvcreate root vgtest 64\nmkfs ext4 /dev/vgtest/root\n",
            env=GUESTFS_ENV)
    check(p.returncode == 0, f"making the LVM image failed: {p.stderr}")
    before = sha256_file(disk)
    path = write_recipe(d, "  - hostname: x\n")
    p = customize(path, disk, rc=6)
    check("breaks the HEPiX rules" in p.stderr and "LVM volume group vgtest" in p.stderr
          and "LVM physical volume /dev/sda1" in p.stderr, p.stderr[-1500:])
    check(sha256_file(disk) == before, "the disk was changed")


def case_boot_check(work):
    """verify: boot: true boots the result on a throw-away overlay until the
    marker; the image itself is not booted (its machine-id stays empty). A
    marker that never comes fails the stage and leaves the disk as it was."""
    libvirt_up()
    d = workdir(work)
    disk = copy_disk(d)
    path = write_recipe(d, "  - hostname: booted\n")
    with open(path, "a") as f:
        f.write("verify:\n  boot: true\n  marker: \"booted login:\"\n  timeout: 10m\n")
    p = customize(path, disk)
    check('boot check: "booted login:" after' in p.stderr, p.stderr[-1500:])
    blog = open(os.path.join(d, "logs", "tcust-boot-console.log"), errors="replace").read()
    check("booted login:" in blog, "the boot console log lacks the marker")
    files = e2_read(disk, ["/etc/machine-id", "/etc/hostname"])
    check(files["/etc/hostname"] == "booted\n", "the customization was not kept")
    check(files["/etc/machine-id"] == "", "the image itself was booted (machine-id is set)")
    left = [x for x in virsh("list", "--all", "--name").split() if "vmforge-boot-tcust" in x]
    left += [x for x in virsh("pool-list", "--all", "--name").split() if "vmforge-boot-tcust" in x]
    left += [x for x in os.listdir(d) if x.startswith(".vmforge-boot") or ".customize-" in x]
    check(not left, f"left behind: {left}")
    before = sha256_file(disk)
    path = write_recipe(d, "  - hostname: never\n")
    with open(path, "a") as f:
        f.write("verify:\n  boot: true\n  marker: \"no such marker\"\n  timeout: 30s\n")
    p = customize(path, disk, rc=7)
    check("\"no such marker\" did not appear on the console within 30 s" in p.stderr, p.stderr[-1500:])
    check("last " in p.stderr and "booted image's console" in p.stderr, "no console tail shown")
    check(sha256_file(disk) == before,
          "a failed boot check changed the disk")


def case_sigint(work):
    """Ctrl-C during a customization: exit 130, the disk as it was, no work
    copy left."""
    import signal
    d = workdir(work)
    disk = copy_disk(d)
    before = sha256_file(disk)
    path = write_recipe(d, "  - hostname: interrupted\n  - run: \"sleep 30\"\n"
                           "  - write: {path: /etc/after, content: x}\n")
    proc = subprocess.Popen([vmforge_path(), "customize", path, "--disk", disk, "--accel", "tcg"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    log = os.path.join(d, "logs", "tcust-customize.log")
    deadline = time.time() + 300
    while time.time() < deadline:
        if os.path.exists(log) and "[2/3] run" in open(log).read():
            break
        if proc.poll() is not None:
            raise Failure("vmforge ended early: " + proc.stderr.read())
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    check(proc.returncode == 130, f"exit {proc.returncode}; stderr {err[-1500:]}")
    check("interrupted" in err and "unchanged" in err, err[-1000:])
    check(sha256_file(disk) == before,
          "an interrupted customize changed the disk")
    check(not [f for f in os.listdir(d) if ".customize-" in f], "the working copy was left")


if __name__ == "__main__":
    main({
        "operations": case_operations,
        "sysprep": case_sysprep,
        "run-fails": case_run_fails,
        "lvm": case_lvm,
        "boot-check": case_boot_check,
        "sigint": case_sigint,
    })
