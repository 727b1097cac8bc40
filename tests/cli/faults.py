#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The vmforge command line: help, errors and faults.

Every failure must give a clear message naming what is wrong, the documented
exit status, no file under a final name and no temporary file left behind.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import (MIB, Disk, Failure, Skip, check, convert_json, main,  # noqa: E402
                     random_bytes, run, sha256_file, text_bytes, vmforge, vmforge_path)

EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT = 2, 3, 4


def small_disk(work, name="disk.raw", size=16 * MIB):
    d = Disk(os.path.join(work, name), size)
    d.write(MIB, random_bytes(2 * MIB, 1))
    d.write(8 * MIB, text_bytes(MIB))
    return d


def out_dir(work, name="out"):
    path = os.path.join(work, name)
    os.mkdir(path)
    return path


def assert_empty(path):
    left = os.listdir(path)
    check(not left, f"{path} should be empty after a failure, holds {left}")


def expect_error(args, rc, *fragments, env=None):
    p = vmforge(*args, rc=rc, env=env)
    for frag in fragments:
        check(frag in p.stderr, f"stderr lacks {frag!r}:\n{p.stderr}")
    check("error" in p.stderr or "interrupted" in p.stderr, f"no error line:\n{p.stderr}")
    return p


def case_help(work):
    for args in (("--help",), ("convert", "--help"), ("help", "convert")):
        p = vmforge(*args, rc=0)
        check("Exit status" in p.stdout, f"vmforge {' '.join(args)}: no exit codes in help")
        for code in ("0 ", "2 ", "3 ", "4 ", "130"):
            check(code in p.stdout, f"exit code {code} not documented in {args}")
    p = vmforge("convert", "--help")
    for opt in ("--to", "--output-dir", "--name", "--jobs", "--json", "--force", "--list-formats"):
        check(opt in p.stdout, f"convert --help lacks {opt}")
    p = vmforge("--version", rc=0)
    check(p.stdout.startswith("vmforge "), "--version")
    expect_error(("frobnicate",), EXIT_USAGE)
    p = run([vmforge_path()])
    check(p.returncode == EXIT_USAGE and "Usage" in p.stderr, "no arguments: usage on stderr")


def case_list_formats(work):
    p = vmforge("convert", "--list-formats")
    for f in ("qcow2", "vmdk", "vdi", "vhd", "raw", "raw.gz", "subformat=", "adapter=",
              "type=dynamic|fixed", "compress=on|off", "rounded up to 512", "1 MiB"):
        check(f in p.stdout, f"--list-formats lacks {f!r}")


def case_json(work):
    d = small_disk(work)
    out = out_dir(work)
    r = convert_json(d.path, out, "qcow2,raw.gz", "x")
    check(r["input"]["path"] == d.path and r["input"]["size"] == d.size, "JSON input")
    check(r["input"]["data_bytes"] >= 3 * MIB, "JSON data_bytes")
    check(len(r["artefacts"]) == 2, "JSON artefacts")
    for a in r["artefacts"]:
        check(a["sha256"] == sha256_file(a["path"]), f"{a['path']}: reported sha256 is wrong")
        check(set(a) >= {"path", "format", "spec", "virtual_size", "file_size", "sha256"},
              f"JSON artefact keys: {sorted(a)}")
    # Human output: a line per artefact with its digest.
    p = vmforge("convert", d.path, "--to", "vdi", "-o", out, "-n", "y", "-q")
    check("sha256:" in p.stdout and "y.vdi" in p.stdout, f"table output:\n{p.stdout}")


def case_reproducible(work):
    d = small_disk(work)
    sums = []
    for i, env in enumerate(({}, {}, {"SOURCE_DATE_EPOCH": "1700000000"},
                             {"SOURCE_DATE_EPOCH": "1700000000"})):
        out = out_dir(work, f"o{i}")
        p = vmforge("convert", d.path, "--to", "qcow2,vmdk,vdi,vhd,raw.gz,raw", "-o", out, "-n",
                    "r", "--json", "-q", "--no-sync", "-j", str(1 + i % 2), env=env)
        sums.append([a["sha256"] for a in json.loads(p.stdout)["artefacts"]])
    check(sums[0] == sums[1], "two runs on the same disk differ")
    check(sums[2] == sums[3], "two runs with the same SOURCE_DATE_EPOCH differ")
    check(sums[0][3] != sums[2][3], "SOURCE_DATE_EPOCH does not reach the VHD timestamp")
    expect_error(("convert", d.path, "--to", "raw", "-o", work),
                 EXIT_USAGE, "SOURCE_DATE_EPOCH", env={"SOURCE_DATE_EPOCH": "yesterday"})


def case_missing_input(work):
    out = out_dir(work)
    expect_error(("convert", os.path.join(work, "nope.raw"), "--to", "qcow2", "-o", out),
                 EXIT_INPUT, "nope.raw does not exist")
    assert_empty(out)


def case_directory_input(work):
    out = out_dir(work)
    expect_error(("convert", work, "--to", "qcow2", "-o", out), EXIT_INPUT, "is a directory")
    assert_empty(out)


def as_nobody(args):
    """argv running args as user nobody, or Skip if that cannot be done."""
    if os.geteuid() != 0:
        raise Skip("needs root to switch to an unprivileged user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *args]


def case_unreadable_input(work):
    d = small_disk(work)
    os.chmod(d.path, 0o600)
    os.chmod(work, 0o755)
    out = out_dir(work)
    os.chmod(out, 0o777)
    p = run(as_nobody([vmforge_path(), "convert", d.path, "--to", "qcow2", "-o", out]))
    check(p.returncode == EXIT_INPUT, f"exit {p.returncode}:\n{p.stderr}")
    check("cannot be read" in p.stderr and "disk.raw" in p.stderr, p.stderr)
    assert_empty(out)


def case_empty_input(work):
    d = Disk(os.path.join(work, "empty.raw"), 0)
    out = out_dir(work)
    expect_error(("convert", d.path, "--to", "qcow2", "-o", out), EXIT_INPUT, "is empty")
    assert_empty(out)


def case_not_raw_input(work):
    out = out_dir(work)
    # qcow2 is read (tests/formats/qcow2.py); VDI, VHD, gzip are not.
    q = os.path.join(work, "disk.vdi")
    run(["qemu-img", "create", "-q", "-f", "vdi", q, "64M"], check_rc=0)
    expect_error(("convert", q, "--to", "vmdk", "-o", out), EXIT_INPUT,
                 "is not a raw disk image", "looks like a VirtualBox VDI image", "qemu-img")
    v = os.path.join(work, "disk.vhd")
    run(["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", v, "8M"], check_rc=0)
    expect_error(("convert", v, "--to", "vmdk", "-o", out), EXIT_INPUT, "fixed VHD")
    g = os.path.join(work, "disk.raw.gz")
    d = small_disk(work)
    run(["sh", "-c", f"gzip -c '{d.path}' > '{g}'"], check_rc=0)
    expect_error(("convert", g, "--to", "vmdk", "-o", out), EXIT_INPUT, "gzip-compressed",
                 "gunzip")
    assert_empty(out)
    # --assume-raw converts the bytes anyway.
    vmforge("convert", q, "--to", "raw", "-o", out, "--assume-raw", "-q")
    check(os.path.exists(os.path.join(out, "disk.vdi.raw")), "--assume-raw output")


def case_unknown_format(work):
    d = small_disk(work)
    out = out_dir(work)
    expect_error(("convert", d.path, "--to", "qcow2,qcow3", "-o", out), EXIT_USAGE,
                 'unknown output format "qcow3"', "known: qcow2, vmdk")
    assert_empty(out)


def case_bad_option(work):
    d = small_disk(work)
    out = out_dir(work)
    expect_error(("convert", d.path, "--to", "vmdk:adapter=scsi", "-o", out), EXIT_USAGE,
                 "adapter", '"scsi" is not one of')
    expect_error(("convert", d.path, "--to", "vhd:sizee=1", "-o", out), EXIT_USAGE,
                 'vhd has no option "sizee"')
    expect_error(("convert", d.path, "--to", "qcow2", "--frob", "-o", out), EXIT_USAGE, "--frob")
    assert_empty(out)


def case_no_format(work):
    d = small_disk(work)
    expect_error(("convert", d.path), EXIT_USAGE, "no output format given", "--list-formats")
    expect_error(("convert", "--to", "qcow2"), EXIT_USAGE, "no input disk")
    expect_error(("convert", d.path, d.path, "--to", "qcow2"), EXIT_USAGE, "one input disk")
    expect_error(("convert", d.path, "--to", ","), EXIT_USAGE, "names no format")


def case_duplicate_output(work):
    d = small_disk(work)
    out = out_dir(work)
    expect_error(("convert", d.path, "--to", "vhd,vhd:type=fixed", "-o", out), EXIT_USAGE,
                 "both be written to", "disk.vhd")
    assert_empty(out)


def case_bad_values(work):
    d = small_disk(work)
    out = out_dir(work)
    expect_error(("convert", d.path, "--to", "raw", "-o", out, "--level", "0"), EXIT_USAGE,
                 "--level")
    expect_error(("convert", d.path, "--to", "raw", "-o", out, "--jobs", "-3"), EXIT_USAGE,
                 "--jobs")
    expect_error(("convert", d.path, "--to", "raw", "-o", out, "--name", "a/b"), EXIT_USAGE,
                 "--name")
    expect_error(("convert", d.path, "--to", "raw", "-o", os.path.join(work, "nodir")),
                 EXIT_OUTPUT, "nodir")
    assert_empty(out)


def case_output_exists(work):
    d = small_disk(work)
    out = out_dir(work)
    keep = os.path.join(out, "disk.vdi")
    with open(keep, "w") as f:
        f.write("precious")
    expect_error(("convert", d.path, "--to", "qcow2,vdi", "-o", out), EXIT_OUTPUT,
                 "disk.vdi already exists", "--force")
    check(open(keep).read() == "precious", "existing output was modified")
    check(sorted(os.listdir(out)) == ["disk.vdi"], f"unexpected files: {os.listdir(out)}")
    vmforge("convert", d.path, "--to", "qcow2,vdi", "-o", out, "--force", "-q")
    check(open(keep, "rb").read(4) != b"prec", "--force did not replace the output")
    check(sorted(os.listdir(out)) == ["disk.qcow2", "disk.vdi"], f"{os.listdir(out)}")


def case_output_is_input(work):
    d = small_disk(work)
    before = sha256_file(d.path)
    expect_error(("convert", d.path, "--to", "raw", "-o", work, "--force"), EXIT_USAGE,
                 "is the input disk itself")
    check(sha256_file(d.path) == before, "input changed")


def case_unwritable_output(work):
    d = small_disk(work)
    os.chmod(d.path, 0o644)
    os.chmod(work, 0o755)
    out = out_dir(work)
    os.chmod(out, 0o755)  # owned by root: nobody cannot write
    p = run(as_nobody([vmforge_path(), "convert", d.path, "--to", "qcow2", "-o", out]))
    check(p.returncode == EXIT_OUTPUT, f"exit {p.returncode}:\n{p.stderr}")
    check("Permission denied" in p.stderr and out in p.stderr, p.stderr)
    assert_empty(out)


def case_named_temp(work):
    """The fallback for file systems without O_TMPFILE: hidden temporary
    names, renamed on success, removed on failure and on interrupt."""
    env = {"VMFORGE_NAMED_TEMP": "1"}
    d = small_disk(work)
    out = out_dir(work)
    r = convert_json(d.path, out, "qcow2,vmdk,raw.gz", "n", env=env)
    check(sorted(os.listdir(out)) == ["n.qcow2", "n.raw.gz", "n.vmdk"],
          f"after success: {os.listdir(out)}")
    check(all(a["sha256"] == sha256_file(a["path"]) for a in r["artefacts"]), "digests")
    expect_error(("convert", d.path, "--to", "qcow2", "-o", out, "-n", "n"), EXIT_OUTPUT,
                 "already exists", env=env)
    vmforge("convert", d.path, "--to", "qcow2", "-o", out, "-n", "n", "--force", "-q", env=env)
    check(sorted(os.listdir(out)) == ["n.qcow2", "n.raw.gz", "n.vmdk"],
          f"after --force: {os.listdir(out)}")
    out2 = out_dir(work, "out2")
    interrupt_in(work, out2, signal.SIGINT, 130, env)


def case_disk_full(work):
    if os.geteuid() != 0:
        raise Skip("mounting a small tmpfs needs root")
    d = Disk(os.path.join(work, "disk.raw"), 64 * MIB)
    d.write(0, random_bytes(24 * MIB, 3))  # incompressible: needs ~24 MiB per output
    out = out_dir(work)
    p = run(["mount", "-t", "tmpfs", "-o", "size=8m", "vmforge-test", out])
    if p.returncode != 0:
        raise Skip(f"cannot mount tmpfs: {p.stderr.strip()}")
    try:
        for env in ({}, {"VMFORGE_NAMED_TEMP": "1"}):
            p = vmforge("convert", d.path, "--to", "qcow2,vmdk,raw.gz", "-o", out,
                        rc=EXIT_OUTPUT, env=env)
            check("No space left on device" in p.stderr, p.stderr)
            check(out in p.stderr, f"the message does not name the directory:\n{p.stderr}")
            check("no output was written" in p.stderr, p.stderr)
            assert_empty(out)
        df = os.statvfs(out)
        check(df.f_bfree == df.f_blocks, "space still used after the failure")
    finally:
        run(["umount", out])


def interrupt(work, sig, expected_rc):
    interrupt_in(work, out_dir(work), sig, expected_rc)


def interrupt_in(work, out, sig, expected_rc, env=None):
    d = Disk(os.path.join(work, "big.raw"), 768 * MIB)
    d.write(0, random_bytes(256 * MIB, 4))
    d.write(400 * MIB, text_bytes(200 * MIB))
    proc = subprocess.Popen([vmforge_path(), "convert", d.path, "--to",
                             "qcow2,vmdk,vdi,vhd,raw.gz", "-o", out, "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    # Half-way: one compression thread needs well over 2 s for this disk.
    time.sleep(2.0)
    check(proc.poll() is None, "conversion ended before it could be interrupted")
    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise Failure("vmforge did not stop within 60 s of the signal")
    check(proc.returncode == expected_rc, f"exit {proc.returncode}, expected {expected_rc}\n"
          f"{stderr}")
    check("interrupted; no output was written" in stderr, stderr)
    assert_empty(out)


def case_sigint(work):
    interrupt(work, signal.SIGINT, 130)


def case_sigterm(work):
    interrupt(work, signal.SIGTERM, 143)


CASES = {name[5:].replace("_", "-"): fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES)
