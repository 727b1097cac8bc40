# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmforge build`, for real: the quickstart example (examples/quickstart/)
installed by the offline installer in a TCG libvirt domain, customized
through libguestfs and written to every target in one convert pass; each
target checked with independent tools (qemu-img, libyal's qcowinfo, vmdkinfo
and vhdiinfo, 7-Zip, xmllint with the DMTF OVF schemas, virt-xml-validate,
virt-v2v --print-source, gzip); report.json checked against the files; a
second run takes the base disk from the cache (the install does not run);
SIGINT during the install and SIGTERM during the convert leave a clean state
and a later run works; a build waits for another holding the cache entry; a
full output folder fails with the path and the space needed; vmforge doctor.

The cases share one cache (VMFORGE_TEST_FIXTURES/build-cache): the
quickstart case makes its base disk (with --rebuild, so the install always
runs there), the others reuse it."""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from install import URI, libvirt_up, virsh, workdir  # noqa: E402
from testlib import (Failure, Skip, check, gunzip_equals, main, ovf_schema,  # noqa: E402
                     read_until, run, sha256_file, vmforge_path)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECIPE = os.path.join(ROOT, "examples", "quickstart", "recipe.yaml")
SCHEMAS = os.path.join(ROOT, "..", "shared", "schemas", "ovf-1.x")
GIB = 1 << 30
GUESTFS_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"


def cache_dir():
    fixtures = os.environ.get("VMFORGE_TEST_FIXTURES")
    if not fixtures:
        raise Failure("VMFORGE_TEST_FIXTURES is not set")
    d = os.path.join(fixtures, "build-cache")
    os.makedirs(d, exist_ok=True)
    return d


def build_cmd(out, *extra, recipe=RECIPE):
    return [vmforge_path(), "build", recipe, "-o", out, "--accel", "tcg", "--connect", URI,
            "--cache-dir", cache_dir(), *extra]


def build(out, *extra, rc=0, recipe=RECIPE):
    p = run(build_cmd(out, *extra, recipe=recipe), env=GUESTFS_ENV)
    if p.returncode != rc:
        raise Failure(f"vmforge build {' '.join(extra)}: exit {p.returncode}, expected {rc}\n"
                      f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-6000:]}")
    return p


def ensure_cached(work):
    """The quickstart base disk is in the shared cache (made once)."""
    with open(os.path.join(cache_dir(), "test.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = os.path.join(work, "warm")
        build(out, "--only", "vdi", "-q", "--no-sync")
        shutil.rmtree(out)


def leftovers(out):
    """Domains, pools, work folders and temporary files a build may leave."""
    found = []
    for dom in virsh("list", "--all", "--name").split():
        if dom.startswith("vmforge-"):
            found.append("domain " + dom)
    for pool in virsh("pool-list", "--all", "--name").split():
        if pool.startswith("vmforge-"):
            found.append("pool " + pool)
    for dirpath, dirs, files in os.walk(out):
        for name in dirs + files:
            if name.startswith("."):
                found.append(os.path.join(dirpath, name))
    for name in os.listdir(os.path.join(cache_dir(), "base")):
        if ".new-" in name or ".old-" in name:
            found.append("cache " + name)
    return found


def check_clean(out):
    left = leftovers(out)
    check(not left, f"left behind: {left}")


def qemu_info(path, fmt):
    p = run(["qemu-img", "info", "--output=json", "-f", fmt, path], check_rc=0)
    return json.loads(p.stdout)


def compare(base, path, fmt):
    p = run(["qemu-img", "compare", "-f", "raw", "-F", fmt, base, path])
    check(p.returncode == 0, f"qemu-img compare {path}: {p.stdout}{p.stderr}")


def extract_ova(ova, dest):
    with tarfile.open(ova) as t:
        names = t.getnames()
        t.extractall(dest)
    return names


def ova_tool_checks(ova, x):
    """What tools that share no code with vmforge's writer say of an OVA:
    7-Zip tests it, vmforge verify passes, it unpacks into `x` with the
    descriptor and manifest first, the descriptor passes xmllint with the
    DMTF schema, vmdkinfo reads every VMDK. Returns (member names, the
    descriptor's text, the VMDKs' paths)."""
    out = run(["7zz", "t", ova], check_rc=0).stdout
    check("Everything is Ok" in out and "Warning" not in out, f"7zz t {ova}:\n{out}")
    p = run([vmforge_path(), "verify", ova])
    check(p.returncode == 0, f"vmforge verify {ova}: {p.stdout}{p.stderr}")
    names = extract_ova(ova, x)
    check(names[0].endswith(".ovf") and names[1].endswith(".mf"), f"members {names}")
    ovf = os.path.join(x, names[0])
    # DMTF's schema (../shared's copy), with VirtualBox's vbox:Machine as a
    # Section as vmforge verify takes it.
    p = run(["xmllint", "--noout", "--nonet", "--schema", ovf_schema(x, SCHEMAS), ovf])
    check(p.returncode == 0, f"xmllint {ovf}: {p.stderr}")
    vmdks = [os.path.join(x, n) for n in names if n.endswith(".vmdk")]
    for v in vmdks:
        run(["vmdkinfo", v], check_rc=0)
    return names, open(ovf).read(), vmdks


def v2v_print_source(ova, label):
    """virt-v2v -i ova ... --print-source: it must read the appliance."""
    env = dict(os.environ, LIBGUESTFS_BACKEND="direct")
    p = subprocess.run(["virt-v2v", "-i", "ova", ova, "--print-source"],
                       capture_output=True, text=True, env=env, timeout=900)
    outp = p.stdout + p.stderr
    check(p.returncode == 0, f"virt-v2v {label}: exit {p.returncode}\n{outp}")
    return outp


def check_ova(work, ova, base, profile, vst, scratch_bytes, name="quickstart"):
    names, text, vmdks = ova_tool_checks(ova, os.path.join(work, profile + "-x"))
    check(names[0] == f"{name}.ovf" and names[1] == f"{name}.mf", f"members {names}")
    check(f"<vssd:VirtualSystemType>{vst}</vssd:VirtualSystemType>" in text, f"{profile}: VST")
    # The scratch disk: an empty streamOptimized VMDK behind file2.
    check(re.search(rf'<Disk ovf:capacity="{scratch_bytes}"[^>]*ovf:fileRef="file2"', text),
          f"{profile}: no scratch disk of {scratch_bytes} bytes with a file in the descriptor")
    check(len(vmdks) == 2 and os.path.getsize(vmdks[1]) < 64 * 1024,
          f"{profile}: the scratch disk is not a small VMDK member: {vmdks}")
    check(qemu_info(vmdks[1], "vmdk")["virtual-size"] == scratch_bytes, "scratch VMDK size")
    check("<rasd:VirtualQuantity>2</rasd:VirtualQuantity>" in text, f"{profile}: vCPUs")
    compare(base, vmdks[0], "vmdk")
    # virt-v2v, an importer, reads the whole appliance: both disks, no warning.
    outp = v2v_print_source(ova, profile)
    for want in (f"source name: {name}", "nr vCPUs: 2", f"memory: {GIB}", "\t0 [", "\t1 ["):
        check(want in outp, f"virt-v2v {profile}: {want!r} not in\n{outp}")
    check("warning" not in outp.lower(), f"virt-v2v {profile} warned:\n{outp}")


def check_report(out, report, expect_install):
    check(report["report_format"] == 1, "report_format")
    with open(RECIPE, "rb") as f:
        check(report["recipe"]["sha256"] == hashlib.sha256(f.read()).hexdigest(), "recipe sha256")
    v = report["versions"]
    for k in ("vmforge", "libvirt", "qemu", "libguestfs"):
        check(v.get(k) and re.match(r"\d+\.\d+", v[k]), f"version of {k}: {v.get(k)}")
    stages = {s["name"]: s for s in report["stages"]}
    check(list(stages) == ["install", "customize", "verify", "convert", "package"],
          f"stages {list(stages)}")
    check(stages["install"]["status"] == expect_install, f"install {stages['install']}")
    if expect_install == "ran":
        check(stages["install"]["milliseconds"] > 1000, "install took no time")
    check(stages["convert"]["status"] == "ran", "convert did not run")
    for a in report["artefacts"]:
        path = a["path"]
        check(os.path.isfile(path), f"{path} is in the report, not on disk")
        check(a["file_size"] == os.path.getsize(path), f"{path}: size in the report")
        check(a["sha256"] == sha256_file(path), f"{path}: digest in the report")
        check(path.startswith(out + os.sep), f"{path} is outside {out}")
    base = report["base_disk"]
    check(base["virtual_size"] == 4 * GIB, f"base disk {base}")
    check(len(base["cache_key"]) == 64, "cache key")
    return {(a["target"], a["format"]): a for a in report["artefacts"]}


def check_targets(d, out, arts, base, name="quickstart", size=4 * GIB, version="1.0"):
    """Every target of the quickstart example (or of a recipe with the same
    targets: `name`, a disk of `size` bytes), checked with tools that share
    no code with vmforge against the base disk `base`."""
    scratch = 2 * 2 * GIB  # per_core 2G × 2 vCPUs
    # kvm: compressed qcow2, libvirt domain XML, OpenStack metadata.
    q = arts[("kvm", "qcow2")]["path"]
    info = qemu_info(q, "qcow2")
    check(info["virtual-size"] == size, f"qcow2 virtual size {info['virtual-size']}")
    check(os.path.getsize(q) < 0.6 * os.path.getsize(os.path.join(out, "vdi", f"{name}.vdi")),
          "the qcow2 is not compressed")
    run(["qemu-img", "check", "-f", "qcow2", q], check_rc=0)
    run(["qcowinfo", q], check_rc=0)
    compare(base, q, "qcow2")
    for t in ("kvm", "xen"):
        x = os.path.join(out, t, f"{name}.xml")
        p = run(["virt-xml-validate", x, "domain"])
        check(p.returncode == 0, f"virt-xml-validate {x}: {p.stdout}{p.stderr}")
        dom = ET.parse(x).getroot()
        check(dom.get("type") == ("kvm" if t == "kvm" else "xen"), f"{x}: type")
        disks = dom.findall("devices/disk")
        check(len(disks) == 2 and disks[1].find("serial").text == "scratch", f"{x}: disks")
        sc = dom.find("metadata/{https://github.com/vmforge/vmforge/xmlns/deploy/1}scratch")
        check(sc is not None and int(sc.get("bytes")) == scratch, f"{x}: scratch metadata")
    os_meta = json.load(open(os.path.join(out, "kvm", f"{name}.openstack.json")))
    check(os_meta["disk_format"] == "qcow2" and os_meta["container_format"] == "bare",
          f"openstack formats {os_meta}")
    check(os_meta["properties"]["hw_disk_bus"] == "virtio", "hw_disk_bus")
    check(os_meta["sha256"] == sha256_file(q) and os_meta["file"] == f"{name}.qcow2",
          "openstack metadata names another file")
    check(os_meta["flavor"]["ephemeral"] == 4 and os_meta["min_disk"] == size // GIB, os_meta)
    cmd = os_meta["command"]
    check(cmd[:3] == ["openstack", "image", "create"] and "hw_disk_bus=virtio" in cmd
          and cmd[-1] == f"{name}-{version}", f"command {cmd}")

    # xen/hepix: raw.gz (gzip's own check and content) and xl configuration.
    gz = arts[("xen", "raw.gz")]["path"]
    check(gunzip_equals(gz, base), "raw.gz does not unpack to the base disk (gzip -dc | cmp)")
    cfg = open(os.path.join(out, "xen", f"{name}.cfg")).read()
    settings = {}
    for line in cfg.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings[k.strip()] = eval(v.strip(), {})  # xl's syntax is Python's for these
    check(settings["name"] == name and settings["vcpus"] == 2
          and settings["memory"] == 1024, f"xl.cfg {settings}")
    check(len(settings["disk"]) == 2 and "vdev=xvdb" in settings["disk"][1], settings["disk"])
    check(f"truncate -s {scratch} " in cfg, "xl.cfg does not say how to make the scratch disk")

    # vmware and virtualbox OVAs.
    check_ova(d, arts[("vmware", "ova")]["path"], base, "vmware", "vmx-14", scratch, name)
    check_ova(d, arts[("virtualbox", "ova")]["path"], base, "virtualbox", "virtualbox-2.2",
              scratch, name)

    # azure: fixed VHD, whole MiB.
    vhd = arts[("azure", "vhd")]["path"]
    info = qemu_info(vhd, "vpc")
    check(info["virtual-size"] % (1 << 20) == 0 and info["virtual-size"] >= size,
          f"vhd virtual size {info['virtual-size']}")
    check(os.path.getsize(vhd) == info["virtual-size"] + 512, "not a fixed VHD")
    p = run(["vhdiinfo", vhd], check_rc=0)
    check("Fixed" in p.stdout, f"vhdiinfo: {p.stdout}")
    compare(base, vhd, "vpc")

    # vdi
    vdi = arts[("vdi", "vdi")]["path"]
    run(["qemu-img", "check", "-f", "vdi", vdi], check_rc=0)
    compare(base, vdi, "vdi")


def case_quickstart(work):
    libvirt_up()
    d = workdir(work)
    out = os.path.join(d, "out")
    p = build(out, "--rebuild")
    check_clean(out)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    check(report["base_disk"]["cache"] in ("miss", "rebuilt"), report["base_disk"])
    arts = check_report(out, report, "ran")
    base = report["base_disk"]["path"]
    for line in ("kvm/quickstart.qcow2", "xen/quickstart.raw.gz", "vmware/quickstart.ova",
                 "virtualbox/quickstart.ova", "azure/quickstart.vhd", "vdi/quickstart.vdi",
                 "Report: "):
        check(line in p.stdout, f"{line!r} not in the summary:\n{p.stdout}")
    # The password never reaches a log or the report.
    secret = open(os.path.join(ROOT, "examples", "quickstart", "rootpw.txt")).read().strip()
    for dirpath, _, files in os.walk(out):
        for name in files:
            if name.endswith((".json", ".log", ".xml", ".cfg")):
                check(secret not in open(os.path.join(dirpath, name), errors="replace").read(),
                      f"{name} holds the root password")

    check_targets(d, out, arts, base)

    # A second run, targets changed: the base disk comes from the cache.
    console = os.path.join(out, "logs", "quickstart-install-console.log")
    before = os.stat(console).st_mtime_ns
    out2 = os.path.join(d, "out2")
    p = build(out2, "--only", "kvm,azure", "--json")
    report2 = json.loads(p.stdout)
    check(report2["base_disk"]["cache"] == "hit", report2["base_disk"])
    check(report2["base_disk"]["cache_key"] == report["base_disk"]["cache_key"], "another key")
    check_report(out2, report2, "cached")
    check("install, customize: skipped; the base disk is in the cache" in p.stderr, p.stderr)
    check(not os.path.exists(os.path.join(out2, "logs")), "the install ran (it wrote logs)")
    check(os.stat(console).st_mtime_ns == before, "the first run's console log changed")
    check(sorted(os.listdir(out2)) == ["azure", "kvm", "report.json"], os.listdir(out2))
    # Same base disk, same inputs: the same bytes.
    q = arts[("kvm", "qcow2")]["path"]
    check(sha256_file(os.path.join(out2, "kvm", "quickstart.qcow2")) == sha256_file(q),
          "the qcow2 of the second run differs")
    check_clean(out2)


def case_sigint_install(work):
    """SIGINT while the installer runs: exit 130, no domain, pool, work
    folder or cache entry left."""
    libvirt_up()
    d = workdir(work)
    out = os.path.join(d, "out")
    before = set(os.listdir(os.path.join(cache_dir(), "base")))
    # Another hostname: another base disk, so the install must run.
    proc = subprocess.Popen(build_cmd(out, "--var", f"hostname=sig{os.getpid()}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **GUESTFS_ENV))
    seen, _ = read_until(proc, "install: booting the installer", "install: 5%")
    running = [n for n in virsh("list", "--name").split() if n.startswith("vmforge-install-")]
    check(running, f"no installer domain ran:\n{seen}")
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    check(proc.returncode == 130, f"exit {proc.returncode}\n{seen}{err}")
    check_clean(out)
    after = set(os.listdir(os.path.join(cache_dir(), "base")))
    check({n for n in after - before if not n.endswith(".lock")} == set(),
          f"the interrupted install left a cache entry: {after - before}")
    check(not [f for f in os.listdir(out) if f.endswith(".raw")], os.listdir(out))


def case_sigterm_convert(work):
    """SIGTERM while converting: exit 143, no image under a final name, no
    temporary file, the cache entry intact; the next run works."""
    libvirt_up()
    d = workdir(work)
    ensure_cached(d)
    out = os.path.join(d, "out")
    proc = subprocess.Popen(build_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **GUESTFS_ENV))
    seen = ""
    while True:
        line = proc.stderr.readline()
        seen += line
        if "convert:" in line and "build:" not in line or not line:
            break
    check("skipped; the base disk is in the cache" in seen, seen)
    time.sleep(1.5)
    check(proc.poll() is None, f"the convert ended before the signal:\n{seen}")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    check(proc.returncode == 143, f"exit {proc.returncode}\n{seen}{err}")
    check("interrupted" in err, err)
    images = [os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs]
    check(not images, f"files after an interrupted convert: {images}")
    check(os.listdir(out) == [], f"folders after an interrupted convert: {os.listdir(out)}")
    check_clean(out)
    # The cache entry is whole: the next run uses it and succeeds.
    p = build(out, "--only", "vdi,xen")
    report = json.load(open(os.path.join(out, "report.json")))
    check(report["base_disk"]["cache"] == "hit", report["base_disk"])
    compare(report["base_disk"]["path"], os.path.join(out, "vdi", "quickstart.vdi"), "vdi")
    check_clean(out)


def case_lock(work):
    """A build waits while another holds the base disk's cache entry."""
    libvirt_up()
    d = workdir(work)
    ensure_cached(d)
    plan = run([vmforge_path(), "build", RECIPE, "--dry-run", "--cache-dir", cache_dir()],
               check_rc=0).stdout
    key = re.search(r"cache key ([0-9a-f]{64})", plan).group(1)
    out = os.path.join(d, "out")
    with open(os.path.join(cache_dir(), "base", key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen(build_cmd(out, "--only", "vdi"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        line = ""
        for _ in range(50):
            line = proc.stderr.readline()
            if "waiting" in line or not line:
                break
        check("another build is making this base disk; waiting for it" in line, line)
        time.sleep(2)
        check(proc.poll() is None, "the build did not wait for the lock")
        check(not os.path.exists(os.path.join(out, "vdi")), "it converted while locked out")
    _, err = proc.communicate(timeout=300)
    check(proc.returncode == 0, f"exit {proc.returncode}: {err}")
    check(os.path.exists(os.path.join(out, "vdi", "quickstart.vdi")), "no image after the wait")


@contextlib.contextmanager
def small_tmpfs(d, size):
    """A folder of `size` (e.g. "48m") on its own tmpfs, unmounted afterwards;
    the case is skipped where tmpfs cannot be mounted."""
    out = os.path.join(d, "small")
    os.mkdir(out)
    p = run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", out])
    if p.returncode != 0:
        raise Skip(f"cannot mount a small tmpfs here: {p.stderr.strip()}")
    try:
        yield out
    finally:
        run(["umount", out])


def case_disk_full(work):
    """A full output folder: the path and the space needed, exit 4, no image."""
    libvirt_up()
    d = workdir(work)
    ensure_cached(d)
    with small_tmpfs(d, "48m") as out:
        # Uncompressed: refused before writing.
        p = build(out, "--only", "vdi", rc=4)
        check(re.search(rf"{re.escape(out)}: not enough free space: .* free, the uncompressed "
                        r"targets alone need", p.stderr), p.stderr)
        # Compressed: it runs out on the way, names the folder and the need.
        p = build(out, "--only", "kvm", rc=4)
        check("No space left on device" in p.stderr and f"{out} has " in p.stderr
              and "the targets need up to" in p.stderr, p.stderr)
        files = [os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs]
        check(not files, f"files left in the full folder: {files}")


def case_install_disk_full(work):
    """The disk fills while the installer writes: the guest is stopped on its
    write error, the build fails at once with the folder, the space free and
    the space the disk may need (not after the idle timeout), exit 4, and
    nothing is left."""
    libvirt_up()
    d = workdir(work)
    with small_tmpfs(d, "160m") as out:
        t0 = time.time()
        p = build(out, "--var", f"hostname=full{os.getpid()}", rc=4)
        took = time.time() - t0
        check(re.search(rf"{re.escape(out)}: no space left while the installer wrote the disk "
                        r"\(.* free; the disk may need up to 4\.0 GiB there\)", p.stderr),
              p.stderr)
        check("warning: " in p.stderr and "the install fails if the guest writes more" in p.stderr,
              "no warning before the install")
        check(took < 240, f"it took {took:.0f} s: the full disk was not noticed")
        check_clean(out)
        check([f for f in os.listdir(out) if f != "logs"] == [], os.listdir(out))


def case_doctor(work):
    libvirt_up()
    d = workdir(work)
    p = run([vmforge_path(), "doctor", RECIPE, "-o", d, "--accel", "tcg", "--connect", URI,
             "--cache-dir", cache_dir()], env=GUESTFS_ENV)
    check(p.returncode == 0, f"doctor: exit {p.returncode}\n{p.stdout}{p.stderr}")
    for want in (r"ok +libvirtd +qemu:///system answers", r"ok +accelerator +tcg runs guests",
                 r"ok +libguestfs +the appliance launched", r"(ok|warn) +output space",
                 r"ok +media", r"ok +backup API +this host backs up running domains through "
                 r"libvirt's backup API", r"Ready to build"):
        check(re.search(want, p.stdout), f"{want!r} not in:\n{p.stdout}")
    check_clean(d)
    # No libvirtd behind the URI: the failure and its fix, exit 1.
    p = run([vmforge_path(), "doctor", "--no-guests", "--connect",
             "qemu:///system?socket=/nonexistent/libvirt-sock"])
    check(p.returncode == 1, f"exit {p.returncode}: {p.stdout}")
    check(re.search(r"FAIL +libvirtd", p.stdout) and "fix: start it" in p.stdout, p.stdout)


def efi_recipe_text(src, firmware):
    """The offline example's recipe text with `firmware` (uefi or both) and
    an EFI system partition of 64 MiB before /."""
    for old, new in (
            ("  partitions:\n    - mount: /", "  partitions:\n    - mount: /boot/efi\n      size: 64M\n"
             "      type: efi\n      fstype: vfat\n    - mount: /"),
            ("hardware:\n", f"firmware: {firmware}\n\nhardware:\n")):
        check(old in src, f"the quickstart recipe changed: no {old!r}")
        src = src.replace(old, new)
    return src


def uefi_recipe(d):
    """The offline example made to boot both ways: firmware: both, an EFI
    system partition before /, the boot check on, a Hyper-V Generation 2, a
    VMware, a VirtualBox and a KVM target."""
    src = efi_recipe_text(open(RECIPE).read(), "both")
    iso = os.path.join(ROOT, ".cache", "installer", "vmforge-offline-debian12.iso")
    for old, new in (
            ("name: quickstart", "name: golden-uefi"),
            ("iso: ../../.cache/installer/vmforge-offline-debian12.iso", f"iso: {iso}"),
            ("rootpw_file: rootpw.txt",
             f"rootpw_file: {os.path.join(ROOT, 'examples', 'quickstart', 'rootpw.txt')}"),
            ("  boot: false", "  boot: true")):
        check(old in src, f"the quickstart recipe changed: no {old!r}")
        src = src.replace(old, new)
    src = src[:src.index("targets:\n  - platform: kvm")] + (
        "targets:\n  - platform: kvm\n  - platform: vmware\n  - platform: virtualbox\n"
        "  - platform: hyperv-gen2\n\n"
        + src[src.index("convert:"):])
    path = os.path.join(d, "uefi.yaml")
    with open(path, "w") as f:
        f.write(src)
    return path


def check_uefi_disk(base):
    """The installed disk, read with guestfish: an ESP (0xEF, FAT) holding
    GRUB at the removable-media path, its grub.cfg, the ESP in fstab; the MBR
    boot code for BIOS."""
    script = ("part-get-mbr-id /dev/sda 1\nvfs-type /dev/sda1\n"
              "mount-ro /dev/sda1 /boot/efi\nls /boot/efi/EFI/BOOT\necho ---\ncat /etc/fstab\n"
              "cat /boot/grub/grub.cfg\n")
    p = run(["guestfish", "--ro", "-a", base, "-m", "/dev/sda2"], input=script, env=GUESTFS_ENV)
    check(p.returncode == 0, f"guestfish: {p.stderr}")
    lines = p.stdout.split("---")[0].split()
    check(lines[:2] == ["0xef", "vfat"], f"partition 1 is not a FAT ESP (0xEF): {p.stdout}")
    check("BOOTX64.EFI" in lines, f"no GRUB at /EFI/BOOT/BOOTX64.EFI on the ESP: {p.stdout}")
    check(re.search(r"^\s*linux /boot/vmlinuz-\S+ root=UUID=", p.stdout, re.M),
          f"/boot/grub/grub.cfg boots no kernel:\n{p.stdout}")
    check(re.search(r"^UUID=\S+ /boot/efi vfat", p.stdout, re.M), f"fstab:\n{p.stdout}")
    with open(base, "rb") as f:
        mbr = f.read(512)
    check(mbr[:440] != bytes(440) and mbr[510:] == b"\x55\xaa", "no BIOS boot code in the MBR")


def check_uefi_targets(d, out, base):
    """What each target tells its hypervisor: UEFI."""
    vhdx = os.path.join(out, "hyperv-gen2", "golden-uefi.vhdx")
    check(qemu_info(vhdx, "vhdx")["virtual-size"] == 4 * GIB, "vhdx size")
    run(["qemu-img", "check", "-f", "vhdx", vhdx], check_rc=0)
    compare(base, vhdx, "vhdx")
    check("(4294967296 bytes)" in run(["vhdiinfo", vhdx], check_rc=0).stdout, "vhdiinfo")
    x = os.path.join(out, "kvm", "golden-uefi.xml")
    p = run(["virt-xml-validate", x, "domain"])
    check(p.returncode == 0, f"virt-xml-validate {x}: {p.stdout}{p.stderr}")
    check(ET.parse(x).getroot().find("os").get("firmware") == "efi", f"{x}: not firmware='efi'")
    props = json.load(open(os.path.join(out, "kvm", "golden-uefi.openstack.json")))["properties"]
    check(props["hw_firmware_type"] == "uefi" and props["hw_machine_type"] == "q35", props)
    ova = os.path.join(out, "vmware", "golden-uefi.ova")
    _, text, _ = ova_tool_checks(ova, os.path.join(d, "uefi-x"))
    check(re.search(r'<vmw:Config [^>]*vmw:key="firmware" [^>]*vmw:value="efi"', text),
          "the OVF does not ask for EFI firmware")
    outp = v2v_print_source(ova, "uefi")
    for want in ("firmware: uefi", "\t0 [", "\t1 ["):
        check(want in outp, f"virt-v2v: {want!r} not in\n{outp}")
    # VirtualBox reads the firmware from its own machine configuration.
    _, text, _ = ova_tool_checks(os.path.join(out, "virtualbox", "golden-uefi.ova"),
                                 os.path.join(d, "uefi-vbox-x"))
    vbox = "{http://www.virtualbox.org/ovf/machine}"
    m = ET.fromstring(text).find(f"{{{OVF_NS}}}VirtualSystem/{vbox}Machine")
    check(m is not None and m.find(f"{{{OVF_NS}}}Hardware/{{{OVF_NS}}}Firmware").get("type")
          == "EFI", "the VirtualBox OVA has no vbox:Machine with EFI firmware")
    images = [i.get("uuid").strip("{}") for i in m.iter(f"{{{OVF_NS}}}Image")]
    disks = [x.get(f"{vbox}uuid") for x in ET.fromstring(text).iter(f"{{{OVF_NS}}}Disk")]
    check(len(images) == 2 and images == disks, f"attached images {images}, disks {disks}")


def case_uefi(work):
    """firmware: both, for real: installed under OVMF, the boot check boots
    it with OVMF and with SeaBIOS, every target says UEFI; no NVRAM left."""
    libvirt_up()
    d = workdir(work)
    out = os.path.join(d, "out")
    p = build(out, "--rebuild", recipe=uefi_recipe(d))
    for want in ('boot check (UEFI): "golden login:"', 'boot check (BIOS): "golden login:"'):
        check(want in p.stderr, f"{want!r} not in:\n{p.stderr[-3000:]}")
    # OVMF announces the boot entry it starts (BdsDxe); SeaBIOS does not.
    logs = os.path.join(out, "logs")
    for log, ovmf in (("golden-uefi-boot-console.log", True),
                      ("golden-uefi-boot-console-bios.log", False)):
        text = open(os.path.join(logs, log), errors="replace").read()
        check(("BdsDxe: starting" in text) == ovmf and "golden login:" in text,
              f"{log}: {'no' if ovmf else 'an'} OVMF boot")
    report = json.load(open(os.path.join(out, "report.json")))
    check(report["base_disk"]["firmware"] == "both", report["base_disk"])
    base = report["base_disk"]["path"]
    check_uefi_disk(base)
    check_uefi_targets(d, out, base)
    check_clean(out)
    nvram = "/var/lib/libvirt/qemu/nvram"
    left = [f for f in (os.listdir(nvram) if os.path.isdir(nvram) else []) if "vmforge" in f]
    check(not left, f"NVRAM files left by vmforge's domains: {left}")
    left = [os.path.join(dp, f) for dp, _, fs in os.walk(d) for f in fs if f.endswith("VARS.fd")]
    check(not left, f"NVRAM files left: {left}")


if __name__ == "__main__":
    main({
        "uefi": case_uefi,
        "quickstart": case_quickstart,
        "sigint-install": case_sigint_install,
        "sigterm-convert": case_sigterm_convert,
        "lock": case_lock,
        "disk-full": case_disk_full,
        "install-disk-full": case_install_disk_full,
        "doctor": case_doctor,
    })
