# SPDX-License-Identifier: GPL-2.0-or-later
"""Recipes, kickstart templates and `vmforge install --dry-run`, without a
hypervisor: golden files pin the kernel command line and domain XML vmforge
generates for real Anaconda media (EL9, Fedora; fixture ISOs carrying the
volume labels libosinfo knows), and bad recipes each give their message.

Regenerate the golden files with VMFORGE_TEST_REGENERATE_OUTPUT=1."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import Failure, check, main, run, vmforge_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")


def fixture_iso(d, volid, sysid="LINUX", treeinfo=None):
    """A bootable ISO with the volume label of a real installer ISO and tiny
    stand-ins for its kernel and initrd where libosinfo says they are."""
    tree = os.path.join(d, "tree-" + volid)
    os.makedirs(os.path.join(tree, "isolinux"))
    os.makedirs(os.path.join(tree, "images", "pxeboot"))
    shutil.copy("/usr/lib/ISOLINUX/isolinux.bin", os.path.join(tree, "isolinux"))
    for sub in ("isolinux", "images/pxeboot"):
        with open(os.path.join(tree, sub, "vmlinuz"), "wb") as f:
            f.write(b"kernel " + sub.encode() + b"\n")
        with open(os.path.join(tree, sub, "initrd.img"), "wb") as f:
            f.write(b"initrd " + sub.encode() + b"\n")
    if treeinfo:
        with open(os.path.join(tree, ".treeinfo"), "w") as f:
            f.write(treeinfo)
    iso = os.path.join(d, volid + ".iso")
    run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", volid, "-sysid", sysid,
         "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
         "-boot-load-size", "4", "-boot-info-table", "-o", iso, tree], check_rc=0)
    return iso


def dry_run(recipe, *extra, rc=0, cwd=None):
    p = run([vmforge_path(), "install", recipe, "--dry-run", *extra], cwd=cwd)
    if p.returncode != rc:
        raise Failure(f"exit {p.returncode}, expected {rc}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def golden(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("VMFORGE_TEST_REGENERATE_OUTPUT"):
        with open(path, "w") as f:
            f.write(text)
        return
    with open(path) as f:
        want = f.read()
    if want != text:
        import difflib
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            "golden/" + name, "generated"))
        raise Failure(f"{name} differs (VMFORGE_TEST_REGENERATE_OUTPUT=1 regenerates):\n{diff}")


def anaconda_golden(work, example, volid, golden_name, accel):
    os.chmod(work, 0o755)
    d = os.path.join(work, "recipe")
    shutil.copytree(os.path.join(ROOT, "examples", example), d)
    with open(os.path.join(d, "rootpw.txt"), "w") as f:
        f.write("golden-test-password\n")
    iso = fixture_iso(work, volid)
    out = os.path.join(work, "out")
    os.mkdir(out)
    p = dry_run(os.path.join(d, "recipe.yaml"), "--var", f"iso={iso}", "-o", out,
                "--accel", accel)
    text = p.stdout.replace(work, "@WORK@").replace(os.path.join(ROOT, "templates"), "@TEMPLATES@")
    check("golden-test-password" not in p.stdout + p.stderr, "the password was printed")
    # The kernel command line as Anaconda needs it.
    cmdline = text.split("# kernel command line:\n")[1].split("\n")[0]
    for word in ("inst.text", "inst.cmdline", "console=ttyS0,115200",
                 f"inst.stage2=hd:LABEL={volid}", "inst.ks=file:/ks.cfg"):
        check(word in cmdline.split(), f"{word} missing from {cmdline}")
    check("org.fedoraproject.anaconda.log.0" in text, "no Anaconda log channel")
    check("/isolinux/vmlinuz" not in text, "kernel path leaked as a host path")
    golden(golden_name, text)
    # The domain XML is libvirt's: validate it against libvirt's own schema.
    xml = text.split("# domain XML")[1].split("\n", 1)[1]
    xml_path = os.path.join(work, "domain.xml")
    with open(xml_path, "w") as f:
        f.write(xml.replace("@WORK@", work))
    schema = "/usr/share/libvirt/schemas/domain.rng"
    if os.path.exists(schema):
        v = run(["xmllint", "--noout", "--relaxng", schema, xml_path])
        check(v.returncode == 0, f"domain XML is not valid for libvirt: {v.stderr}")


def case_golden_el9(work):
    anaconda_golden(work, "el9", "AlmaLinux-9-4-x86_64-dvd", "install-el9.txt", "tcg")


def case_golden_fedora(work):
    os.chmod(work, 0o755)
    d = os.path.join(work, "fedora")
    os.mkdir(d)
    with open(os.path.join(ROOT, "examples", "el9", "recipe.yaml")) as f:
        text = f.read()
    text = text.replace("name: el9-golden", "name: fedora-golden").replace(
        "  kickstart: el9\n", "")
    with open(os.path.join(d, "recipe.yaml"), "w") as f:
        f.write(text)
    # Reuse the EL9 example's recipe with no kickstart: the default comes from
    # the media (fedora.ks for Fedora), which this pins too.
    with open(os.path.join(d, "rootpw.txt"), "w") as f:
        f.write("golden-test-password\n")
    iso = fixture_iso(work, "Fedora-S-dvd-x86_64-37")
    out = os.path.join(work, "out")
    os.mkdir(out)
    p = dry_run(os.path.join(d, "recipe.yaml"), "--var", f"iso={iso}", "-o", out,
                "--accel", "kvm")
    text = p.stdout.replace(work, "@WORK@").replace(os.path.join(ROOT, "templates"), "@TEMPLATES@")
    check("# kickstart template: @TEMPLATES@/kickstart/fedora.ks" in text,
          "Fedora media did not pick fedora.ks")
    check("fedora37" in text, "libosinfo did not identify Fedora 37")
    check('<domain type="kvm">' in text and 'host-passthrough' in text, "--accel kvm not applied")
    golden("install-fedora.txt", text)


def case_offline_media(work):
    """The offline installer's ISO: libosinfo does not know it, its .treeinfo
    names the kernel and initrd, its family picks offline.ks."""
    os.chmod(work, 0o755)
    treeinfo = ("[general]\nfamily = vmforge offline installer\nversion = 12\n"
                "[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n")
    iso = fixture_iso(work, "VMFORGE_OFFLINE_12", treeinfo=treeinfo)
    d = os.path.join(work, "r")
    shutil.copytree(os.path.join(ROOT, "examples", "quickstart"), d)
    with open(os.path.join(d, "recipe.yaml")) as f:
        text = re.sub(r"iso: .*", f"iso: {iso}", f.read())
    with open(os.path.join(d, "recipe.yaml"), "w") as f:
        f.write(text)
    p = dry_run(os.path.join(d, "recipe.yaml"), "-o", work, "--accel", "tcg")
    check("# family: offline" in p.stdout and "offline.ks" in p.stdout, p.stdout[:500])
    check("inst.stage2=hd:LABEL=VMFORGE_OFFLINE_12" in p.stdout, "no stage2 label")
    check("org.fedoraproject.anaconda.log.0" in p.stdout, "no log channel for the installer")
    check("firmware=" not in p.stdout and "nvram" not in p.stdout, "a BIOS recipe got OVMF")
    # firmware: both (uefi makes the same domain): OVMF, its own NVRAM and a
    # virtio-scsi CD-ROM (the kickstart's ESP line: the integration test).
    # One dry run: each loads libosinfo's database, ~50 s under ASan.
    esp = "  partitions:\n    - {mount: /boot/efi, size: 64M, type: efi, fstype: vfat}\n"
    for fw in ("both",):
        with open(os.path.join(d, "recipe.yaml"), "w") as f:
            f.write(text.replace("  partitions:\n", esp) + f"firmware: {fw}\n")
        p = dry_run(os.path.join(d, "recipe.yaml"), "-o", work, "--accel", "tcg")
        for want in ('<os firmware="efi">', '<feature enabled="no" name="secure-boot"/>',
                     "/VARS.fd</nvram>", '<controller type="scsi" model="virtio-scsi"/>',
                     '<target dev="sdc" bus="scsi"/>'):
            check(want in p.stdout, f"{fw}: {want!r} not in the plan:\n{p.stdout}")
        xml = p.stdout.split("# domain XML")[1].split("\n", 1)[1]
        xml_path = os.path.join(work, f"domain-{fw}.xml")
        with open(xml_path, "w") as f:
            f.write(xml)
        v = run(["xmllint", "--noout", "--relaxng", "/usr/share/libvirt/schemas/domain.rng",
                 xml_path])
        check(v.returncode == 0, f"{fw}: domain XML is not valid for libvirt: {v.stderr}")


BASE = """name: bad
disk:
  size: 4G
  partitions:
    - mount: /
      bootable: true
installer:
  kernel: vmlinuz
  initrd: initrd.img
  family: offline
"""

# (recipe text, expected exit status, regex the message must match)
BAD = {
    "unknown-top-key": (BASE + "tragets: []\n", 3, r"recipe.yaml:11:1: unknown key \"tragets\" in the recipe; did you mean \"targets\"\?"),
    "unknown-nested-key": (BASE.replace("  size: 4G", "  sise: 4G"), 3, r"recipe.yaml:3:3: unknown key \"sise\" in disk; did you mean \"size\"\?"),
    "gpt": (BASE.replace("disk:\n", "disk:\n  label: gpt\n"), 3, r"recipe.yaml:3:10: disk label \"gpt\" is refused: only msdos \(MBR\) — the HEPiX image format"),
    "lvm-partition": (BASE.replace("      bootable: true", "      type: lvm"), 3, r"recipe.yaml:6:13: partition type LVM \(8e\) is refused: the HEPiX"),
    "bad-size": (BASE.replace("size: 4G", "size: 4 gigs"), 3, r"recipe.yaml:3:9: disk size \"4 gigs\" is not a size"),
    "no-root": (BASE.replace("mount: /\n", "mount: /home\n"), 3, r"recipe.yaml:5:5: no partition is mounted at /"),
    "too-big-partitions": (BASE.replace("      bootable: true", "      size: 8G"), 3, r"the partitions need 8193 MiB, the disk has 4096 MiB"),
    "five-partitions": (BASE.replace("    - mount: /\n", "    - mount: /\n      size: 1G\n" + "    - mount: /a\n      size: 100M\n" * 3 + "    - mount: /e\n"), 3, r"at most 4 partitions: an MBR holds four primary partitions"),
    "not-a-mapping": ("- just\n- a list\n", 3, r"recipe.yaml:1:1: the recipe must be a mapping"),
    "yaml-syntax": (BASE + "  inject: [oops\n", 3, r"recipe.yaml:\d+:\d+: .*(flow|expected)"),
    "bad-inject": (BASE + "  inject: floppy\n", 3, r"recipe.yaml:11:11: installer inject \"floppy\": expected initrd, oemdrv or http"),
    "no-name": (BASE.replace("name: bad\n", ""), 3, r"recipe.yaml:1:1: the recipe needs a name"),
    "bad-name": (BASE.replace("name: bad", "name: my image"), 3, r"recipe.yaml:1:7: name \"my image\" may hold only"),
    "no-installer-media": (BASE.replace("  kernel: vmlinuz\n  initrd: initrd.img\n", "  inject: http\n"), 3, r"installer needs iso: \(an installer ISO\) or both kernel: and initrd:"),
    "undefined-path-var": (BASE.replace("  kernel: vmlinuz", "  kernel: ${kdir}/vmlinuz"), 3, r"recipe.yaml:8:11: installer kernel \"\$\{kdir\}/vmlinuz\": \$\{kdir\} is not defined \(add it under vars: or pass --var kdir=VALUE\)"),
    "bad-timeout": (BASE + "  timeout: soon\n", 3, r"recipe.yaml:11:12: installer timeout \"soon\" is not a duration"),
    "bad-vcpus": (BASE + "hardware:\n  vcpus: 0\n", 3, r"recipe.yaml:12:10: hardware vcpus \"0\" must be a whole number from 1"),
    "duplicate-key": (BASE + "name: again\n", 3, r"recipe.yaml:11:1: duplicate key \"name\""),
    "missing-kernel-file": (BASE, 3, r"vmlinuz: installer kernel not found"),
    "bad-var-option": (BASE, 2, r"--var \"novalue\": expected NAME=VALUE"),
    "bad-installer-volume": (BASE + "  volume: media.iso\n", 3, r"recipe.yaml:11:11: installer volume \"media.iso\": expected POOL/NAME"),
    "bad-firmware": (BASE + "firmware: efi\n", 3, r"recipe.yaml:11:11: firmware \"efi\": give bios \(the default\), uefi, or both"),
    "uefi-no-esp": (BASE + "firmware: uefi\n", 3, r"recipe.yaml:11:11: firmware: uefi needs an EFI system partition; add to disk: partitions: - \{mount: /boot/efi, size: 256M, type: efi, fstype: vfat\}"),
    "esp-not-efi-type": (BASE.replace("  partitions:\n", "  partitions:\n    - {mount: /boot/efi, size: 64M, fstype: vfat}\n") + "firmware: both\n", 3, r"recipe.yaml:5: the partition mounted at /boot/efi needs type: efi \(0xEF"),
    "esp-not-fat": (BASE.replace("  partitions:\n", "  partitions:\n    - {mount: /boot/efi, size: 64M, type: efi, fstype: ext4}\n") + "firmware: uefi\n", 3, r"recipe.yaml:5: the partition mounted at /boot/efi is FAT: give fstype: vfat"),
    "installer-volume-two-slashes": (BASE + "  volume: a/b/c\n", 3, r"installer volume \"a/b/c\": expected POOL/NAME"),
}


def case_host_options(work):
    """What cannot work with the volumes on a libvirt host is refused before
    anything is contacted: inject: http, --pool with --remote-dir."""
    d = os.path.join(work, "r")
    os.mkdir(d)
    path = os.path.join(d, "recipe.yaml")
    with open(path, "w") as f:
        f.write(BASE + "  inject: http\n")
    for extra in (["--pool", "images"], ["--connect", "qemu+tcp://127.0.0.9/system"]):
        p = run([vmforge_path(), "install", path, "--dry-run", "-o", d, *extra])
        check(p.returncode == 2 and "inject: http cannot work with the volumes on a libvirt host"
              in p.stderr and "inject: initrd or inject: oemdrv" in p.stderr,
              f"{extra}: exit {p.returncode}, {p.stderr}")
        check(not p.stdout, f"{extra}: printed a plan")
    with open(path, "w") as f:
        f.write(BASE)
    p = run([vmforge_path(), "install", path, "--dry-run", "-o", d, "--pool", "images",
             "--remote-dir", "/srv/vm"])
    check(p.returncode == 2 and "--pool and --remote-dir exclude each other" in p.stderr,
          f"exit {p.returncode}, {p.stderr}")


def case_bad_recipes(work):
    failures = []
    for name, (text, rc, pattern) in BAD.items():
        d = os.path.join(work, name)
        os.mkdir(d)
        path = os.path.join(d, "recipe.yaml")
        with open(path, "w") as f:
            f.write(text)
        extra = ["--var", "novalue"] if name == "bad-var-option" else []
        p = run([vmforge_path(), "install", path, "--dry-run", "-o", d, *extra])
        if p.returncode != rc or not re.search(pattern, p.stderr):
            failures.append(f"{name}: exit {p.returncode} (want {rc}), stderr: {p.stderr.strip()}")
        if p.stdout:
            failures.append(f"{name}: printed a plan for a bad recipe")
    check(len(BAD) >= 10, "fewer than ten kinds of bad recipe")
    check(not failures, "\n".join(failures))


def case_template_errors(work):
    """Template problems name the template's file, line and column."""
    os.chmod(work, 0o755)
    for f in ("vmlinuz", "initrd.img"):
        with open(os.path.join(work, f), "w") as fh:
            fh.write("x")
    cases = {
        "undefined": ("text\n{{ partitions }}\nnetwork --hostname={{ nope }}\n", r"t.ks:3:20: undefined variable \"nope\""),
        "plain-password": ("{{ partitions }}\nrootpw {{ rootpw }}\n", r"t.ks:2:8: \{\{ rootpw \}\} is refused: it would write the plain password"),
        "malformed": ("{{ partitions }}\n{{ bad name }}\n", r"t.ks:2:1: malformed placeholder"),
        "no-root-part": ("clearpart --none\n", r"t.ks: no 'part / --onpart=...' line"),
        "wrong-partition": ("part / --onpart=vda3\n", r"t.ks:1: 'part / --onpart=vda3': the disk vmforge made has partitions vda1 to vda1 only"),
        "wrong-mount": ("part /var --onpart=vda1\n", r"t.ks:1: 'part /var --onpart=vda1': the recipe \(line 5\) mounts vda1 at /"),
        "zerombr": ("zerombr\n{{ partitions }}\n", r"t.ks:1: 'zerombr' would erase"),
        "bootloader": ("{{ partitions }}\nbootloader --location=partition\n", r"t.ks:2: 'bootloader --location=partition'"),
    }
    failures = []
    for name, (ks, pattern) in cases.items():
        with open(os.path.join(work, "t.ks"), "w") as f:
            f.write(ks)
        with open(os.path.join(work, "recipe.yaml"), "w") as f:
            f.write(BASE + "  kickstart: t.ks\n")
        p = run([vmforge_path(), "install", os.path.join(work, "recipe.yaml"), "--dry-run",
                 "-o", work, "--var", "rootpw=plain-secret"])
        if p.returncode != 3 or not re.search(pattern, p.stderr):
            failures.append(f"{name}: exit {p.returncode}, stderr: {p.stderr.strip()}")
        if "plain-secret" in p.stdout + p.stderr:
            failures.append(f"{name}: the plain password was printed")
    check(not failures, "\n".join(failures))
    # A kickstart inside %post may do anything; only commands are checked.
    with open(os.path.join(work, "t.ks"), "w") as f:
        f.write("{{ partitions }}\n{{ rootpw_line }}\n%post\nautopart is only text here\n%end\n")
    p = dry_run(os.path.join(work, "recipe.yaml"), "-o", work, "--var", "rootpw=plain-secret")
    check("plain-secret" not in p.stdout + p.stderr, "the plain password was printed")


BAD_CUSTOMIZE = {
    "unknown-op": ("  - hostnme: web1\n", r"recipe.yaml:12:5: unknown key \"hostnme\" in a customize operation; did you mean \"hostname\"\?"),
    "two-ops": ("  - hostname: a\n    timezone: UTC\n", r"recipe.yaml:12:5: each customize item is one operation"),
    "not-a-list": (None, r"recipe.yaml:11:12: customize must be a list of operations"),
    "write-no-content": ("  - write: {path: /etc/x}\n", r"recipe.yaml:12:12: write needs content:"),
    "relative-path": ("  - mkdir: srv/data\n", r"recipe.yaml:12:12: mkdir \"srv/data\" must be an absolute path in the guest"),
    "bad-mode": ("  - chmod: {path: /x, mode: rw}\n", r"recipe.yaml:12:\d+: mode \"rw\" is not an octal mode"),
    "missing-upload": ("  - upload: {src: nothere.txt, path: /x}\n", r"recipe.yaml:12:\d+: upload src .*nothere.txt: no such file"),
    "bad-sysprep": ("  - sysprep: [machineid]\n", r"recipe.yaml:12:14: sysprep \"machineid\": did you mean \"machine-id\"\?"),
    "bad-ssh-key": ("  - user: {name: bob, ssh_keys: [not-a-key]}\n", r"recipe.yaml:12:11: user bob: \"not-a-key...\" is not an SSH public key"),
    "bad-owner": ("  - chown: {path: /x, owner: \"a b\"}\n", r"recipe.yaml:12:\d+: owner \"a b\": expected USER or USER:GROUP"),
}


def case_bad_customize(work):
    """Customize lists are checked before the disk is touched; each error
    names the recipe line and column."""
    failures = []
    disk = os.path.join(work, "disk.raw")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    for name, (ops, pattern) in BAD_CUSTOMIZE.items():
        d = os.path.join(work, name)
        os.mkdir(d)
        path = os.path.join(d, "recipe.yaml")
        with open(path, "w") as f:
            f.write(BASE + ("customize:\n" + ops if ops is not None else "customize: oops\n"))
        p = run([vmforge_path(), "customize", path, "--disk", disk])
        if p.returncode != 3 or not re.search(pattern, p.stderr):
            failures.append(f"{name}: exit {p.returncode}, stderr: {p.stderr.strip()}")
    check(not failures, "\n".join(failures))
    check(open(disk, "rb").read() == bytes(1 << 20), "a refused customize touched the disk")


def case_install_help(work):
    p = run([vmforge_path(), "install", "--help"], check_rc=0)
    for opt in ("--output", "--var", "--accel", "--connect", "--console", "--keep-failed",
                "--timeout", "--idle-timeout", "--dry-run", "Exit status:", "7 "):
        check(opt in p.stdout, f"install --help lacks {opt}")
    p = run([vmforge_path(), "install"])
    check(p.returncode == 2 and "give exactly one recipe" in p.stderr, p.stderr)
    p = run([vmforge_path(), "install", "x.yaml", "--accel", "xen"])
    check(p.returncode == 2 and "--accel xen: expected auto, kvm or tcg" in p.stderr, p.stderr)
    p = run([vmforge_path(), "install", os.path.join(work, "none.yaml"), "--dry-run"])
    check(p.returncode == 3 and "none.yaml" in p.stderr, p.stderr)


if __name__ == "__main__":
    main({
        "golden-el9": case_golden_el9,
        "golden-fedora": case_golden_fedora,
        "offline-media": case_offline_media,
        "bad-recipes": case_bad_recipes,
        "template-errors": case_template_errors,
        "install-help": case_install_help,
        "bad-customize": case_bad_customize,
        "host-options": case_host_options,
    })
