# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmforge build` without a hypervisor: bad recipes (targets, scratch,
convert) each give their message with file, line and column; the dry-run
plan; the cache key follows what determines the base disk and nothing else
(targets do not change it; the customize list, an uploaded file's content and
the root password do); --only; --help."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from recipes import BASE  # noqa: E402  (the minimal recipe of the install tests)
from testlib import Failure, check, main, run, vmforge_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

KVM = "targets:\n  - platform: kvm\n"

# (text appended to BASE, expected exit status, regex the message must match)
BAD = {
    "no-targets": ("", 3, r"recipe.yaml:1:1: the recipe has no targets: list; add one, e.g. targets: \[\{platform: kvm\}\] \(platforms: azure, hepix, hyperv, hyperv-gen2, kvm, openstack, virtualbox, vmware, xen\)"),
    "targets-not-list": ("targets: kvm\n", 3, r"recipe.yaml:11:10: targets must be a list \(- platform: kvm\), found a value"),
    "targets-empty": ("targets: []\n", 3, r"recipe.yaml:11:10: targets is empty; name at least one"),
    "target-scalar": ("targets:\n  - kvm\n", 3, r"recipe.yaml:12:5: a target is a mapping .* write - platform: kvm"),
    "unknown-platform": ("targets:\n  - platform: kvmm\n", 3, r"recipe.yaml:12:15: unknown platform \"kvmm\"; did you mean \"kvm\"\?"),
    "unknown-format": ("targets:\n  - format: qcow\n", 3, r"recipe.yaml:12:13: unknown format \"qcow\"; did you mean \"qcow2\"\?"),
    "unknown-target-key": (KVM + "    compres: true\n", 3, r"recipe.yaml:13:5: unknown key \"compres\" in a target; did you mean \"compress\"\?"),
    "no-format": ("targets:\n  - name: x\n", 3, r"recipe.yaml:12:5: target needs a platform: \(e.g. kvm, vmware\) or a format:"),
    "duplicate-name": (KVM + "  - platform: kvm\n", 3, r"recipe.yaml:13:5: two targets are named \"kvm\" \(the other is on line 12\); give this one name:"),
    "bad-name": ("targets:\n  - name: my target\n    format: raw\n", 3, r"recipe.yaml:12:11: target name \"my target\": letters, digits"),
    "compress-vhd": ("targets:\n  - format: vhd\n    compress: true\n", 3, r"recipe.yaml:13:15: compress: only qcow2 has a choice \(vhd is never compressed\)"),
    "bad-option-value": ("targets:\n  - format: vhd\n    options: {type: fixd}\n", 3, r"recipe.yaml:13:14: target vhd: .*fixd"),
    "unknown-option": ("targets:\n  - format: qcow2\n    options: {cluster: 2M}\n", 3, r"recipe.yaml:13:14: target qcow2: .*cluster"),
    "profile-not-ova": ("targets:\n  - format: qcow2\n    profile: vmware\n", 3, r"recipe.yaml:13:5: profile: only OVA targets have one \(this one is qcow2\)"),
    "unknown-profile": ("targets:\n  - format: ova\n    profile: esx\n", 3, r"recipe.yaml:13:14: .*esx"),
    "bad-manifest": ("targets:\n  - platform: vmware\n    manifest: md5\n", 3, r"recipe.yaml:13:15: manifest \"md5\": give sha1, sha256 or sha512"),
    "bad-os": ("targets:\n  - platform: vmware\n    os: debain12\n", 3, r"recipe.yaml:13:9: os \"debain12\" is not in profile vmware's \[os\] table; did you mean \"debian12\"\?"),
    "properties-not-openstack": ("targets:\n  - platform: vmware\n    properties: {a: b}\n", 3, r"recipe.yaml:13:17: properties: only OpenStack targets"),
    "relative-image-dir": (KVM + "    image_dir: images\n", 3, r"recipe.yaml:13:16: image_dir \"images\": give an absolute path on the hypervisor host"),
    "bad-scratch": ("scratch:\n  size: lots\n" + KVM, 3, r"recipe.yaml:12:9: scratch size \"lots\" is not a size"),
    "scratch-both": ("scratch:\n  size: 10G\n  per_core: 5G\n" + KVM, 3, r"recipe.yaml:13:13: scratch: give size or per_core, not both"),
    "scratch-key": ("scratch:\n  per_cores: 5G\n" + KVM, 3, r"recipe.yaml:12:3: unknown key \"per_cores\" in scratch; did you mean \"per_core\"\?"),
    "gen2-bios": ("targets:\n  - platform: hyperv-gen2\n", 3, r"recipe.yaml:12:15: platform hyperv-gen2 boots with UEFI only; give the recipe firmware: uefi \(or both\) and an EFI system partition"),
    "scratch-as": ("scratch:\n  size: 10G\n  as: later\n" + KVM, 3, r"recipe.yaml:13:7: scratch as: \"later\" is not file \(an empty disk file in OVAs, the default\) or deploy"),
    "vhdx-block": ("targets:\n  - format: vhdx\n    options: {block_size: 3M}\n", 3, r"recipe.yaml:13:14: target vhdx: vhdx option block_size: \"3M\" is not one of: 1M, 2M, 4M, 8M, 16M, 32M, 64M, 128M, 256M"),
    "bad-level": ("convert:\n  level: 11\n" + KVM, 3, r"recipe.yaml:12:10: convert level \"11\": give 1 \(fastest\) to 9 \(smallest\)"),
    "publish-not-mapping": (KVM + "    publish: glance\n", 3, r"recipe.yaml:13:14: publish must be a mapping \(glance:, libvirt:\)"),
    "publish-key": (KVM + "    publish: {glanse: c}\n", 3, r"recipe.yaml:13:15: unknown key \"glanse\" in publish; did you mean \"glance\"\?"),
    "publish-visibility": (KVM + "    publish:\n      glance: {cloud: c, visibility: everyone}\n", 3, r"recipe.yaml:14:38: publish: glance: visibility everyone: give private, shared, community or public"),
    "publish-name-var": (KVM + "    publish:\n      glance: {name: \"x-${nosuch}\"}\n", 3, r"recipe.yaml:14:22: publish: glance: name \"x-\$\{nosuch\}\": \$\{nosuch\} is not defined"),
    "publish-tags": (KVM + "    publish:\n      glance: {tags: {a: b}}\n", 3, r"recipe.yaml:14:22: publish: glance: tags must be a value or a list of values"),
    "publish-rawgz": ("targets:\n  - platform: xen\n    publish: {glance: c}\n", 3, r"recipe.yaml:13:23: publish: glance: Glance has no format for gzip-compressed raw \(target xen\)"),
    "publish-ova-pool": ("targets:\n  - platform: vmware\n    publish: {libvirt: \"qemu:///system/default\"}\n", 3, r"recipe.yaml:13:24: publish: libvirt: a storage pool holds disks; target vmware makes ova"),
    "publish-pool-uri": (KVM + "    publish: {libvirt: default}\n", 3, r"recipe.yaml:13:24: publish: libvirt: default: give URI/POOL\[/NAME\]"),
    "bad-customize": ("customize:\n  - hostnme: x\n" + KVM, 3, r"recipe.yaml:12:5: unknown key \"hostnme\" in a customize operation"),
}


def prepare(work):
    os.chmod(work, 0o755)
    for f in ("vmlinuz", "initrd.img"):
        with open(os.path.join(work, f), "w") as fh:
            fh.write(f"fake {f}\n")


def build(work, recipe, *extra, rc=0):
    p = run([vmforge_path(), "build", recipe, "--dry-run", "--cache-dir",
             os.path.join(work, "cache"), "-o", os.path.join(work, "out"), "--accel", "tcg",
             *extra])
    if p.returncode != rc:
        raise Failure(f"build {recipe} {' '.join(extra)}: exit {p.returncode}, want {rc}\n"
                      f"{p.stdout}{p.stderr}")
    return p


def case_bad_targets(work):
    prepare(work)
    failures = []
    for name, (extra, rc, pattern) in BAD.items():
        path = os.path.join(work, "recipe.yaml")
        with open(path, "w") as f:
            f.write(BASE + extra)
        p = run([vmforge_path(), "build", path, "--dry-run", "--cache-dir",
                 os.path.join(work, "cache"), "-o", os.path.join(work, "out")])
        if p.returncode != rc or not re.search(pattern, p.stderr):
            failures.append(f"{name}: exit {p.returncode} (want {rc}), stderr: {p.stderr.strip()}")
        if p.stdout:
            failures.append(f"{name}: printed a plan for a bad recipe")
        if os.path.exists(os.path.join(work, "out")):
            failures.append(f"{name}: made the output folder")
    check(len(BAD) >= 10, "fewer than ten kinds of bad recipe")
    check(not failures, "\n".join(failures))


def key_of(p):
    m = re.search(r"cache key ([0-9a-f]{64})", p.stdout)
    check(m, f"no cache key in the plan:\n{p.stdout}")
    return m.group(1)


def case_dry_run(work):
    prepare(work)
    with open(os.path.join(work, "rootpw.txt"), "w") as f:
        f.write("first-Secret-pw\n")
    with open(os.path.join(work, "motd"), "w") as f:
        f.write("hello\n")
    recipe = os.path.join(work, "recipe.yaml")
    body = BASE + "  rootpw_file: rootpw.txt\nhardware:\n  vcpus: 4\n  memory: 2G\n"
    custom = "customize:\n  - upload: {src: motd, path: /etc/motd}\n  - hostname: web1\n"
    targets = ("scratch:\n  per_core: 5G\nconvert:\n  level: 7\ntargets:\n"
               "  - platform: kvm\n  - platform: xen\n  - platform: vmware\n"
               "  - platform: virtualbox\n    manifest: sha1\n  - platform: azure\n"
               "  - name: plain\n    format: qcow2\n    compress: false\n")

    def write(b=body, c=custom, t=targets):
        with open(recipe, "w") as f:
            f.write(b + c + t)

    write()
    p = build(work, recipe)
    plan = p.stdout
    for want in ("Plan for bad", "not in the cache: made now", "customize  2 operations, then the "
                 "default sysprep", "deflate level 7",
                 "kvm          qcow2:compress=on        kvm/bad.qcow2, bad.xml, bad.openstack.json",
                 "xen          raw.gz                   xen/bad.raw.gz, bad.xml, bad.cfg",
                 "vmware       ova                      vmware/bad.ova",
                 "azure        vhd:type=fixed           azure/bad.vhd",
                 "plain        qcow2:compress=off       plain/bad.qcow2",
                 "scratch    20.0 GiB (5.0 GiB per vCPU), created empty at deploy time; OVAs "
                 "carry it as an empty VMDK"):
        check(want in plan, f"{want!r} not in the plan:\n{plan}")
    check("first-Secret-pw" not in p.stdout + p.stderr, "the password was printed")
    check(not os.path.exists(os.path.join(work, "out")), "a dry run made the output folder")
    key = key_of(p)
    check(key_of(build(work, recipe)) == key, "the key changed between two identical runs")
    # Only the targets change: same base disk.
    write(t="targets:\n  - platform: hyperv\n")
    check(key_of(build(work, recipe)) == key, "changing only the targets changed the key")
    write(t=targets.replace("  per_core: 5G\n", "  per_core: 5G\n  as: deploy\n"))
    p = build(work, recipe)
    check(key_of(p) == key, "scratch as: deploy changed the key")
    check("OVAs define it without a file (as: deploy)" in p.stdout, p.stdout)
    # What determines the base disk changes it.
    write(c=custom.replace("web1", "web2"))
    k2 = key_of(build(work, recipe))
    check(k2 != key, "changing the customize list kept the key")
    with open(os.path.join(work, "motd"), "w") as f:
        f.write("changed\n")
    write()
    k3 = key_of(build(work, recipe))
    check(k3 not in (key, k2), "changing an uploaded file kept the key")
    with open(os.path.join(work, "rootpw.txt"), "w") as f:
        f.write("second-Secret-pw\n")
    k4 = key_of(build(work, recipe))
    check(k4 not in (key, k2, k3), "changing the root password kept the key")
    write(b=body.replace("size: 4G", "size: 5G"))
    check(key_of(build(work, recipe)) not in (key, k2, k3, k4), "a new disk size kept the key")
    with open(os.path.join(work, "vmlinuz"), "w") as f:
        f.write("another kernel\n")
    write()
    check(key_of(build(work, recipe)) not in (key, k2, k3, k4), "a new kernel kept the key")
    # The cache holds no secret in clear.
    for dirpath, _, files in os.walk(os.path.join(work, "cache")):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            check(b"Secret-pw" not in data, f"{name} in the cache holds the password")
    # --only
    p = build(work, recipe, "--only", "azure,kvm")
    check("azure/bad.vhd" in p.stdout and "kvm/bad.qcow2" in p.stdout
          and "vmware" not in p.stdout, p.stdout)
    p = build(work, recipe, "--only", "vmwre", rc=2)
    check('--only: no target "vmwre"; did you mean "vmware"?' in p.stderr, p.stderr)


def case_cached_convert(work):
    """A build whose base disk is in the cache needs no hypervisor: the
    convert and the platform files from a cache entry made here, with the
    recipe's NIC and OpenStack properties applied; report.json says so."""
    prepare(work)
    recipe = os.path.join(work, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(BASE + "hardware:\n  vcpus: 3\n  memory: 1536M\n  nic: e1000\n"
                "scratch:\n  size: 1G\ntargets:\n  - platform: kvm\n"
                "    properties: {os_distro: debian, hw_vif_model: e1000e}\n"
                "  - platform: xen\n  - name: plain\n    format: vdi\n")
    key = key_of(build(work, recipe))
    entry = os.path.join(work, "cache", "base", key)
    os.makedirs(entry)
    disk = os.path.join(entry, "disk.raw")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
        f.seek(1 << 20)
        f.write(os.urandom(2 << 20))
    with open(os.path.join(entry, "entry.json"), "w") as f:
        f.write('{"created": "2026-11-21T00:00:00Z"}\n')
    out = os.path.join(work, "out")
    p = run([vmforge_path(), "build", recipe, "-o", out, "--cache-dir", os.path.join(work, "cache"),
             "--connect", "qemu:///system?socket=/nonexistent/sock", "--json", "--no-sync"])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check("skipped; the base disk is in the cache (made 2026-11-21T00:00:00Z)" in p.stderr,
          p.stderr)
    report = json.loads(p.stdout)
    check(report["base_disk"]["cache"] == "hit" and report["base_disk"]["path"] == disk,
          report["base_disk"])
    check(report["versions"]["libvirt"] is None, "versions without a libvirtd")
    for ext, fmt in (("kvm/bad.qcow2", "qcow2"), ("plain/bad.vdi", "vdi")):
        c = run(["qemu-img", "compare", "-f", "raw", "-F", fmt, disk, os.path.join(out, ext)])
        check(c.returncode == 0, c.stdout + c.stderr)
    xml = open(os.path.join(out, "kvm", "bad.xml")).read()
    check('<model type="e1000"/>' in xml and "<vcpu>3</vcpu>" in xml
          and '<memory unit="MiB">1536</memory>' in xml, xml)
    meta = json.load(open(os.path.join(out, "kvm", "bad.openstack.json")))
    props = meta["properties"]
    check(props["hw_vif_model"] == "e1000e" and props["os_distro"] == "debian"
          and props["architecture"] == "x86_64", props)
    check(meta["flavor"] == {"vcpus": 3, "ram": 1536, "disk": 1, "ephemeral": 1}, meta["flavor"])
    check('<model type="e1000"/>' in open(os.path.join(out, "xen", "bad.xml")).read(), "xen nic")
    # The installer domain takes the recipe's NIC as well.
    p = run([vmforge_path(), "install", recipe, "--dry-run", "-o", work], check_rc=0)
    check('<model type="e1000"/>' in p.stdout, p.stdout[-2000:])


# Recipes with base: (an existing image): (recipe text, exit status, regex).
IMG = "name: fromimg\nbase:\n  image: top.qcow2\n"
BAD_BASE = {
    "with-installer": (IMG + "installer: {iso: x.iso}\n" + KVM, 3,
                       r"recipe.yaml:4:1: installer: \(line 4\) and base: \(line 2\) exclude each other"),
    "with-disk": ("name: fromimg\ndisk: {size: 4G}\nbase:\n  image: top.qcow2\n" + KVM, 3,
                  r"recipe.yaml:2:1: disk: \(line 2\) and base: \(line 3\) exclude each other"),
    "no-image": ("name: fromimg\nbase:\n  size: 1G\n" + KVM, 3,
                 r"recipe.yaml:3:3: base needs image:"),
    "not-mapping": ("name: fromimg\nbase: top.qcow2\n" + KVM, 3,
                    r"recipe.yaml:2:7: base must be a mapping"),
    "unknown-key": (IMG + "  imagesize: 1G\n" + KVM, 3,
                    r"recipe.yaml:4:3: unknown key \"imagesize\" in base \(known: image, sha256, size, format\)"),
    "near-key": (IMG + "  sise: 1G\n" + KVM, 3,
                 r"recipe.yaml:4:3: unknown key \"sise\" in base; did you mean \"size\"\?"),
    "missing": ("name: fromimg\nbase:\n  image: none.qcow2\n" + KVM, 3,
                r"recipe.yaml:2: base image: .*none.qcow2 does not exist"),
    "vmdk": ("name: fromimg\nbase:\n  image: disk.vmdk\n" + KVM, 3,
             r"recipe.yaml:2: base image: .*disk.vmdk is not a raw disk image: it looks like a VMDK.*format: raw in a recipe"),
    "vdi": ("name: fromimg\nbase:\n  image: disk.vdi\n" + KVM, 3,
            r"disk.vdi is not a raw disk image: it looks like a VirtualBox VDI"),
    "format-vmdk": (IMG + "  format: vmdk\n" + KVM, 3,
                    r"recipe.yaml:4:11: base format \"vmdk\": vmforge reads raw and qcow2"),
    "format-says-qcow2": ("name: fromimg\nbase:\n  image: back.raw\n  format: qcow2\n" + KVM, 3,
                          r"recipe.yaml:2: base image .*back.raw is raw, the recipe says format: qcow2"),
    "bad-sha": (IMG + "  sha256: abc\n" + KVM, 3,
                r"recipe.yaml:4:11: base sha256 \"abc\" is not a SHA-256"),
    "wrong-sha": (IMG + "  sha256: " + "0" * 64 + "\n" + KVM, 3,
                  r"recipe.yaml:4: base image .*top.qcow2 has SHA-256 [0-9a-f]{64}, the recipe says 0{64}"),
    "shrink": (IMG + "  size: 16M\n" + KVM, 3,
               r"recipe.yaml:4: base size 16.0 MiB is smaller than the image \(32.0 MiB\)"),
    "tiny": (IMG + "  size: 1M\n" + KVM, 3, r"recipe.yaml:4:9: base size must be between 16M and 64T"),
    "cloud-init-word": (IMG + "customize:\n  - cloud_init: enable\n" + KVM, 3,
                        r"recipe.yaml:5:17: cloud_init \"enable\": expected disable, or a NoCloud seed"),
    "cloud-init-both": (IMG + "customize:\n  - cloud_init: {user_data: x, user_data_file: top.qcow2}\n" + KVM, 3,
                        r"cloud_init: give user_data or user_data_file, not both"),
    "cloud-init-key": (IMG + "customize:\n  - cloud_init: {userdata: x}\n" + KVM, 3,
                       r"unknown key \"userdata\" in cloud_init; did you mean \"user_data\"\?"),
    "hepix-word": (IMG + "verify: {hepix: maybe}\n" + KVM, 3,
                   r"recipe.yaml:4:17: verify hepix must be true or false"),
}


def make_images(work):
    """back.raw (32 MiB, some data) under top.qcow2, and images of formats
    vmforge does not read as a base."""
    os.chmod(work, 0o755)
    back, top = os.path.join(work, "back.raw"), os.path.join(work, "top.qcow2")
    run(["qemu-img", "create", "-q", "-f", "raw", back, "32M"], check_rc=0)
    run(["qemu-io", "-f", "raw", "-c", "write -P 0x11 1M 1M", back], check_rc=0)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "back.raw", "-F", "raw", top],
        check_rc=0)
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x22 4M 64k", top], check_rc=0)
    for fmt in ("vmdk", "vdi"):
        run(["qemu-img", "create", "-q", "-f", fmt, os.path.join(work, "disk." + fmt), "32M"],
            check_rc=0)
    return back, top


def case_base_refusals(work):
    make_images(work)
    failures = []
    path = os.path.join(work, "recipe.yaml")
    for name, (text, rc, pattern) in BAD_BASE.items():
        with open(path, "w") as f:
            f.write(text)
        for extra in ((), ("--dry-run",)):
            p = run([vmforge_path(), "build", path, *extra, "--cache-dir",
                     os.path.join(work, "cache"), "-o", os.path.join(work, "out")])
            if p.returncode != rc or not re.search(pattern, p.stderr):
                failures.append(f"{name} {extra}: exit {p.returncode} (want {rc}), "
                                f"stderr: {p.stderr.strip()}")
            if p.stdout or os.path.exists(os.path.join(work, "out")):
                failures.append(f"{name}: printed a plan or made the output folder")
    check(not failures, "\n".join(failures))
    # There is nothing to install in such a recipe.
    with open(path, "w") as f:
        f.write(IMG + KVM)
    p = run([vmforge_path(), "install", path, "--dry-run", "-o", work])
    check(p.returncode == 3 and "recipe.yaml:2: this recipe starts from an image (base:): there "
          "is nothing to install" in p.stderr, f"install: exit {p.returncode}: {p.stderr}")


def case_base_dry_run(work):
    """The plan of a recipe with base:, and its cache key: every file of the
    image's chain, its format and the size are in it; the targets are not."""
    import hashlib
    back, top = make_images(work)
    recipe = os.path.join(work, "recipe.yaml")
    top_sha = hashlib.sha256(open(top, "rb").read()).hexdigest()

    def key(base="  size: 64M\n", targets=KVM, custom="", head=IMG):
        with open(recipe, "w") as f:
            f.write(head + base + custom + targets)
        return key_of(build(work, recipe)), build(work, recipe).stdout

    k0, plan = key()
    for want in ("base disk  64.0 MiB raw, cache key", "not in the cache: made now",
                 f"import     {top} (qcow2, 32.0 MiB, SHA-256 {top_sha[:16]}...)",
                 "grown to 64.0 MiB: the disk, its last partition and that file system",
                 "verify     HEPiX rules\n"):
        check(want in plan, f"{want!r} not in the plan:\n{plan}")
    check(key(targets="targets:\n  - platform: xen\n")[0] == k0, "the targets changed the key")
    check(key(base=f"  size: 64M\n  sha256: {top_sha.upper()}\n")[0] == k0,
          "a (right) sha256 changed the key")
    check(key(base="  size: 128M\n")[0] != k0, "the size is not in the key")
    check(key(custom="customize:\n  - cloud_init: disable\n")[0] != k0,
          "the customize list is not in the key")
    k_raw, plan = key(base="  size: 64M\n  format: raw\n")
    check(k_raw != k0 and f"({'raw'}, " in plan, f"format: raw: {plan}")
    _, plan = key(base="")
    check("grown" not in plan and "base disk  32.0 MiB raw" in plan, plan)
    _, plan = key(custom="verify:\n  hepix: false\n")
    check("HEPiX rules not checked (hepix: false)" in plan, plan)
    # The recipe's name is in the key only where it reaches the disk: the
    # default NoCloud meta-data names the instance after it.
    other = IMG.replace("name: fromimg", "name: other")
    check(key(head=other)[0] == k0, "the name changed the key of a plain base disk")
    seed = "customize:\n  - cloud_init: {user_data: x}\n"
    check(key(custom=seed)[0] != key(custom=seed, head=other)[0],
          "two names, one default meta-data (instance-id iid-vmforge-NAME): one key")
    seeded = "customize:\n  - cloud_init: {user_data: x, meta_data: \"instance-id: i\"}\n"
    check(key(custom=seeded)[0] == key(custom=seeded, head=other)[0],
          "the name changed the key though the recipe gives the meta-data")
    # A change in the backing file is a new base disk.
    run(["qemu-io", "-f", "raw", "-c", "write -P 0x33 8M 4k", back], check_rc=0)
    check(key()[0] != k0, "a change in the backing file kept the key")


def case_help(work):
    p = run([vmforge_path(), "build", "--help"], check_rc=0)
    for opt in ("--output", "--only", "--var", "--accel", "--connect", "--keep-failed",
                "--rebuild", "--cache-dir", "--json", "--dry-run", "--quiet", "--verbose",
                "report.json", "Exit status:", "--hosts", "--jobs", "fleet-report.json",
                "the libvirt host could not be reached"):
        check(opt in p.stdout, f"build --help lacks {opt}")
    p = run([vmforge_path(), "doctor", "--help"], check_rc=0)
    for opt in ("--accel", "--connect", "--output", "--cache-dir", "--no-guests"):
        check(opt in p.stdout, f"doctor --help lacks {opt}")
    p = run([vmforge_path(), "--help"], check_rc=0)
    check("build " in p.stdout and "doctor " in p.stdout, p.stdout)
    p = run([vmforge_path(), "build"])
    check(p.returncode == 2 and "give a recipe, or several" in p.stderr, p.stderr)
    p = run([vmforge_path(), "build", "x.yaml", "-q", "-v"])
    check(p.returncode == 2 and "exclude each other" in p.stderr, p.stderr)
    p = run([vmforge_path(), "build", os.path.join(work, "none.yaml")])
    check(p.returncode == 3 and "none.yaml" in p.stderr, p.stderr)


if __name__ == "__main__":
    main({
        "bad-targets": case_bad_targets,
        "dry-run": case_dry_run,
        "cached-convert": case_cached_convert,
        "base-refusals": case_base_refusals,
        "base-dry-run": case_base_dry_run,
        "help": case_help,
    })
