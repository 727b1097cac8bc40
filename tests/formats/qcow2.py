# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 input (formats/qcow2-read.c): images made by qemu-img and qemu-io —
v2 and v3, backing chains of qcow2 and raw files with relative and absolute
names, compressed clusters, zero clusters, backing files shorter and longer
than the top image — converted by vmforge and compared with the source by
qemu-img compare (qemu's own reader); and the features vmforge refuses, each
named in the message."""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import MIB, Failure, check, main, run, vmforge  # noqa: E402


def qimg(*args):
    return run(["qemu-img", *map(str, args)], check_rc=0)


def qio(image, *cmds, fmt="qcow2"):
    argv = ["qemu-io", "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    run(argv + [image], check_rc=0)


def base_raw(work, name="base.raw", size=64 * MIB):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(1 * MIB)
        f.write(os.urandom(3 * MIB))
        f.seek(40 * MIB)
        f.write(b"base-data" * 5000)
    return path


def convert_and_compare(work, image, to="raw,qcow2,vmdk,vdi,vhd"):
    out = os.path.join(work, "out-" + os.path.basename(image))
    os.mkdir(out)
    vmforge("convert", image, "--to", to, "-o", out, "-q", "--no-sync")
    name = os.path.basename(image).removesuffix(".qcow2")
    fmts = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc"}
    for ext in to.split(","):
        p = run(["qemu-img", "compare", "-f", "qcow2", "-F", fmts[ext], image,
                 os.path.join(out, f"{name}.{ext}")])
        check(p.returncode == 0, f"{image} -> {ext}: {p.stdout}{p.stderr}")
    return out


def case_chain(work):
    """raw <- qcow2 (relative name) <- qcow2 (absolute name), with writes,
    zero clusters and a discard at each level; the top is larger."""
    base = base_raw(work)
    sub = os.path.join(work, "images")
    os.mkdir(sub)
    mid = os.path.join(sub, "mid.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-F", "raw", "-b", "../base.raw", mid)
    qio(mid, "write -P 0x55 2M 1M", "write -z 41M 64k", "write -P 0x11 50M 3M")
    top = os.path.join(work, "top.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", mid, top, "96M")
    qio(top, "write -P 0x66 70M 128k", "write -P 0x77 1M 4k", "write -z 51M 1M",
        "discard 2M 64k")
    convert_and_compare(work, top)
    # The allocation map is the chain's: raw holes and zero clusters are not data.
    p = vmforge("convert", top, "--to", "raw", "-o", os.path.join(work, "out-top.qcow2"),
                "--json", "-q", "--force")
    import json
    info = json.loads(p.stdout)
    data = info["input"]["data_bytes"]
    check(data < 16 * MIB, f"{data} bytes of data: holes of the chain were read as data")
    check(info["input"]["size"] == 96 * MIB, info["input"])


def case_compressed(work):
    base = base_raw(work)
    for compat in ("1.1", "0.10"):
        c = os.path.join(work, f"c{compat}.qcow2")
        qimg("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o", f"compat={compat}", base, c)
        convert_and_compare(work, c)
    # Larger and smaller clusters.
    for cs in ("4k", "2M"):
        c = os.path.join(work, f"cs{cs}.qcow2")
        qimg("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o", f"cluster_size={cs}", base, c)
        convert_and_compare(work, c, "raw,vmdk")


def case_backing_sizes(work):
    """A backing file shorter than the top reads as zeros past its end; a
    longer one is cut at the top's size."""
    short = base_raw(work, "short.raw", 8 * MIB + 12345)
    top = os.path.join(work, "long.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-F", "raw", "-b", short, top, "32M")
    qio(top, "write -P 0x33 20M 64k")
    convert_and_compare(work, top, "raw,qcow2")
    big = base_raw(work, "big.raw", 128 * MIB)
    with open(big, "r+b") as f:
        f.seek(100 * MIB)
        f.write(b"beyond the top" * 100)
    top2 = os.path.join(work, "cut.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-F", "raw", "-b", big, top2, "48M")
    convert_and_compare(work, top2, "raw")
    # A v2 image over a qcow2 v3 backing file.
    v3 = os.path.join(work, "v3.qcow2")
    qimg("convert", "-q", "-f", "raw", "-O", "qcow2", big, v3)
    v2 = os.path.join(work, "v2top.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-F", "qcow2", "-b", v3, v2)
    qio(v2, "write -P 0x44 3M 256k")
    convert_and_compare(work, v2, "raw,vdi")


def refused(image, *needles):
    p = vmforge("convert", image, "--to", "raw", "-o", os.path.dirname(image), "-q", rc=3)
    for n in needles:
        check(n in p.stderr, f"{os.path.basename(image)}: {n!r} not in {p.stderr!r}")
    leftovers = [f for f in os.listdir(os.path.dirname(image)) if f.endswith(".raw")
                 and not f.startswith(("ext", "missing"))]
    check(not leftovers, f"output left: {leftovers}")


def case_refused(work):
    j = lambda n: os.path.join(work, n)  # noqa: E731
    # AES: made by qemu-img. (LUKS images need a PBKDF benchmark that fails
    # on busy machines; a LUKS crypt_method is patched in below.)
    qimg("create", "-q", "-f", "qcow2", "--object", "secret,id=s0,data=abc", "-o",
         "encrypt.format=aes,encrypt.key-secret=s0", j("enc.qcow2"), "16M")
    refused(j("enc.qcow2"), "enc.qcow2 is encrypted (AES)")
    qimg("create", "-q", "-f", "qcow2", "-o", f"data_file={j('ext.raw')}", j("ext.qcow2"), "16M")
    refused(j("ext.qcow2"), "external data file", "ext.raw")
    qimg("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd", j("z.qcow2"), "16M")
    refused(j("z.qcow2"), "compression type zstd", "only zlib")
    qimg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", j("x.qcow2"), "16M")
    refused(j("x.qcow2"), "extended L2 entries")
    qimg("create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", "nbd://127.0.0.1:10809/x",
         j("net.qcow2"), "16M")
    refused(j("net.qcow2"), "nbd://127.0.0.1:10809/x is on network storage")
    qimg("create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", "loop2.qcow2", j("loop1.qcow2"),
         "16M")
    qimg("create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", "loop1.qcow2", j("loop2.qcow2"),
         "16M")
    refused(j("loop1.qcow2"), "the backing chain is deeper than 64 images (a loop?)")
    qimg("create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", "missing.raw", j("miss.qcow2"),
         "16M")
    refused(j("miss.qcow2"), "its backing file", "missing.raw", "No such file")
    vmdk = j("b.vmdk")
    qimg("create", "-q", "-f", "vmdk", vmdk, "16M")
    qimg("create", "-q", "-f", "qcow2", "-F", "vmdk", "-b", vmdk, j("onvmdk.qcow2"))
    refused(j("onvmdk.qcow2"), "is vmdk: only qcow2 and raw backing files are read")
    # Header bits: an unknown incompatible feature (named from the feature
    # table when the image has one), the corrupt bit, a bad cluster size.
    plain = j("plain.qcow2")
    qimg("create", "-q", "-f", "qcow2", plain, "16M")
    for name, offset, value, needle in (
            ("unknown.qcow2", 72, 1 << 20, "incompatible feature this reader does not know (bit 20)"),
            ("corrupt.qcow2", 72, 1 << 1, "is marked corrupt"),
            ("luks.qcow2", 32, 2, "is encrypted (LUKS)"),
            ("bits.qcow2", 20, 30, "cluster_bits 30 is out of range"),
            ("version.qcow2", 4, 4, "qcow2 version 4 is not supported"),
            ("l1.qcow2", 36, 0x7fffffff, "L1 table of 2147483647 entries is larger than 32 MiB")):
        data = bytearray(open(plain, "rb").read())
        fmt = ">Q" if offset == 72 else ">I"  # incompatible_features is 64-bit
        struct.pack_into(fmt, data, offset, value)
        with open(j(name), "wb") as f:
            f.write(data)
        refused(j(name), name, needle)


def case_guest_header(work):
    """A raw disk whose guest wrote a qcow2 header (with a backing file naming
    a host file) at sector 0: with --assume-raw (what vmforge build does with
    its base disk) the bytes are the disk and the host file is never read;
    without it, the chain is announced before anything is converted."""
    secret = os.path.join(work, "host-secret.txt")
    with open(secret, "w") as f:
        f.write("HOST-SECRET-" * 100)
    evil = os.path.join(work, "guest.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-F", "raw", "-b", secret, evil, "1M")
    raw = os.path.join(work, "guest.raw")
    with open(evil, "rb") as f, open(raw, "wb") as g:
        g.write(f.read())
        g.truncate(8 * MIB)
    out = os.path.join(work, "out")
    os.mkdir(out)
    vmforge("convert", raw, "--to", "raw,qcow2", "--assume-raw", "-o", out, "-q")
    with open(os.path.join(out, "guest.raw"), "rb") as f, open(raw, "rb") as g:
        check(f.read() == g.read(), "--assume-raw changed the bytes")
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw,
             os.path.join(out, "guest.qcow2")])
    check(p.returncode == 0, p.stdout + p.stderr)
    p = vmforge("convert", raw, "--to", "raw", "-o", os.path.join(work), "-n", "probed")
    check(f"reading the qcow2 chain {raw} (qcow2 v3) -> {secret} (raw)" in p.stderr, p.stderr)


def case_not_raw_still(work):
    """Formats vmforge does not read are still refused by name."""
    v = os.path.join(work, "disk.vdi")
    qimg("create", "-q", "-f", "vdi", v, "8M")
    p = vmforge("convert", v, "--to", "raw", "-o", work, rc=3)
    check("looks like a VirtualBox VDI image" in p.stderr and "raw disks and qcow2 images"
          in p.stderr, p.stderr)


if __name__ == "__main__":
    main({
        "chain": case_chain,
        "compressed": case_compressed,
        "backing-sizes": case_backing_sizes,
        "refused": case_refused,
        "guest-header": case_guest_header,
        "not-raw": case_not_raw_still,
    })
