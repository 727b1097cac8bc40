#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Round trips through independent readers.

For one kind of disk (the CASE argument), converts it to every format and
option variant, then checks each output with tools that share no code with
vmforge:
  - qemu-img info (virtual size, as each format's rule requires), check
    (qcow2, vmdk, vdi) and compare against the source (content, not -s);
  - libyal's readers (python3-libvmdk/-libvhdi/-libqcow) reading the whole
    content back, and vmdkinfo/vhdiinfo/qcowinfo;
  - 7-Zip's `7zz t`;
  - gzip -dc and Python's zlib for raw.gz, each compared with the source;
  - sha256 of each file against what vmforge reported;
  - structural checks of the streamOptimized VMDK (footer, markers, EOS), of
    the VHD footer (checksum; CHS by the specification's algorithm) and of the
    VHDX headers, region tables and BAT (CRC-32C, log, which blocks are stored).

Size rules (documented in vmforge(1) and --list-formats):
  raw, raw.gz: exact;  qcow2, vmdk, vdi, dynamic vhd: rounded up to 512;
  fixed vhd, vhdx: rounded up to 1 MiB.
"""
import importlib
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import (GIB, MIB, Disk, check, convert_json, gunzip_equals, main,  # noqa: E402
                     random_bytes, run, sha256_file, text_bytes, zlib_equals)

QEMU_FORMAT = {"qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx",
               "raw": "raw"}
RUN_A = "qcow2,vmdk,vdi,vhd,vhdx,raw,raw.gz"
RUN_B = ("qcow2:compress=off,vmdk:subformat=monolithicSparse:adapter=ide,vhd:type=fixed,"
         "vhdx:block_size=1M")


def round_up(x, a):
    return (x + a - 1) // a * a


def expected_virtual(spec, size):
    fmt = spec.split(":")[0]
    if fmt in ("raw", "raw.gz"):
        return size
    if (fmt == "vhd" and "type=fixed" in spec) or fmt == "vhdx":
        return round_up(size, MIB)
    return round_up(size, 512)


# ---- disks -----------------------------------------------------------------

def disk_holes(path):
    d = Disk(path, 256 * MIB)
    d.write(1 * MIB, random_bytes(MIB, 1))
    d.write(37 * MIB + 4096, random_bytes(300 * 1024, 2))  # not unit-aligned
    d.write(200 * MIB, text_bytes(2 * MIB))
    d.write(256 * MIB - 65536, random_bytes(65536, 3))     # last unit
    return d


def disk_zero_runs(path):
    """Zeros written explicitly inside data: allocated, but all-zero units."""
    d = Disk(path, 48 * MIB)
    blob = bytearray(random_bytes(24 * MIB, 4))
    for start in (64 * 1024, 3 * MIB, 5 * MIB + 65536, 16 * MIB):
        blob[start:start + 2 * MIB] = bytes(2 * MIB)
    blob[20 * MIB:20 * MIB + 100] = bytes(100)  # a short zero run inside a unit
    d.write(4 * MIB, bytes(blob))
    return d


def disk_random(path):
    d = Disk(path, 32 * MIB)
    d.write(0, random_bytes(32 * MIB, 5))
    return d


def disk_text(path):
    d = Disk(path, 24 * MIB)
    d.write(0, text_bytes(24 * MIB))
    return d


def disk_partial_unit(path):
    """Size not a multiple of 512: every rounding rule applies."""
    size = 10 * MIB + 12345
    d = Disk(path, size)
    d.write(2 * MIB, random_bytes(MIB, 6))
    d.write(size - 3000, random_bytes(3000, 7))  # data in the partial last unit
    return d


def disk_not_mib(path):
    """Size a multiple of 512 but not of 64 KiB or 1 MiB."""
    size = 7 * MIB + 3 * 512
    d = Disk(path, size)
    d.write(0, text_bytes(MIB))
    d.write(size - 1536, random_bytes(1536, 8))
    return d


def disk_above_4g(path):
    """Virtual size above 4 GiB with data on both sides of the 4 GiB mark."""
    size = 5 * GIB + 3 * 65536 + 512
    d = Disk(path, size)
    d.write(0, random_bytes(MIB, 9))
    d.write(4 * GIB - 40000, random_bytes(80000, 10))
    d.write(size - 1000, random_bytes(1000, 11))
    return d


def disk_tiny(path):
    d = Disk(path, 1000)
    d.write(0, random_bytes(1000, 12))
    return d


DISKS = {
    "holes": disk_holes,
    "zero-runs": disk_zero_runs,
    "random": disk_random,
    "text": disk_text,
    "partial-unit": disk_partial_unit,
    "not-mib": disk_not_mib,
    "above-4g": disk_above_4g,
    "tiny": disk_tiny,
}


# ---- readers ---------------------------------------------------------------

def regions_to_compare(disk, virtual):
    """Byte ranges to read back: every data extent (grown to 1 MiB bounds),
    some holes, and the padding past the source size."""
    regions = []
    for off, length in disk.extents():
        start = off // MIB * MIB
        end = min(round_up(off + length, MIB), disk.size)
        regions.append((start, end - start))
    for frac in (0.1, 0.5, 0.9):
        start = int(disk.size * frac) // 512 * 512
        regions.append((start, min(65536, disk.size - start)))
    if virtual > disk.size:
        regions.append((disk.size, virtual - disk.size))
    return regions


def read_back(name, handle_read, media_size, disk, virtual):
    check(media_size == virtual, f"{name}: media size {media_size}, expected {virtual}")
    for off, length in regions_to_compare(disk, virtual):
        pos = off
        while pos < off + length:
            n = min(4 * MIB, off + length - pos)
            got = handle_read(n, pos)
            if pos >= disk.size:
                want = bytes(n)
            else:
                want = disk.read(pos, min(n, disk.size - pos)) + bytes(max(0, pos + n - disk.size))
            check(got == want, f"{name}: content differs in [{pos}, {pos + n})")
            pos += n


# format → (libyal Python module, its reader class, libyal info tool)
LIBYAL = {
    "vmdk": ("pyvmdk", "handle", "vmdkinfo"),
    "vhd": ("pyvhdi", "file", "vhdiinfo"),
    "vhdx": ("pyvhdi", "file", "vhdiinfo"),
    "qcow2": ("pyqcow", "file", "qcowinfo"),
}


def check_libyal(art, disk):
    fmt = art["format"]
    if fmt not in LIBYAL:
        return
    module, cls, tool = LIBYAL[fmt]
    path, virtual = art["path"], art["virtual_size"]
    reader = getattr(importlib.import_module(module), cls)()
    reader.open(path)
    if fmt == "vmdk":
        reader.open_extent_data_files()
    read_back(f"{module} {path}", reader.read_buffer_at_offset, reader.get_media_size(), disk,
              virtual)
    reader.close()
    p = run([tool, path], check_rc=0)
    check(f"({virtual} bytes)" in p.stdout, f"{tool} {path}: media size {virtual} not reported:\n"
          f"{p.stdout}")


def check_qemu(art, disk):
    fmt = art["format"]
    if fmt == "raw.gz":
        return
    qfmt = QEMU_FORMAT[fmt]
    import json
    info = json.loads(run(["qemu-img", "info", "--output=json", "-f", qfmt, art["path"]],
                          check_rc=0).stdout)
    # qemu counts whole sectors: it shows a raw file of any size rounded up
    # to 512 (the raw file itself is exact: checked against its length).
    qemu_size = round_up(art["virtual_size"], 512) if fmt == "raw" else art["virtual_size"]
    check(info["virtual-size"] == qemu_size,
          f"qemu-img info {art['path']}: virtual size {info['virtual-size']}, "
          f"expected {qemu_size}")
    if fmt == "raw":
        check(os.path.getsize(art["path"]) == disk.size, "raw output length differs from source")
    if fmt in ("qcow2", "vmdk", "vdi", "vhdx"):
        p = run(["qemu-img", "check", "-f", qfmt, art["path"]])
        check(p.returncode == 0 and "No errors were found" in p.stdout,
              f"qemu-img check {art['path']}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    p = run(["qemu-img", "compare", "-f", "raw", "-F", qfmt, disk.path, art["path"]])
    # A larger output must be zero past the source: compare exits 0 and
    # warns about the size only.
    check(p.returncode == 0, f"qemu-img compare {art['path']}: exit {p.returncode}\n"
          f"{p.stdout}{p.stderr}")


# Above this, a raw.gz is read back by one gzip reader (gzip -dc | cmp):
# the smaller cases read theirs with 7-Zip and Python's zlib too, and each
# reader costs about 4-5 s per GiB (three readers made a third of the
# above-4g case's time).
ONE_GZIP_READER_ABOVE = 1 << 30


def check_7zip(art):
    if art["format"] not in ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "raw.gz"):
        return
    if art["format"] == "raw.gz" and art["virtual_size"] > ONE_GZIP_READER_ABOVE:
        return
    p = run(["7zz", "t", art["path"]])
    check(p.returncode == 0 and "Everything is Ok" in p.stdout and "WARNING" not in p.stdout,
          f"7zz t {art['path']}: exit {p.returncode}\n{p.stdout[-2000:]}")


def check_gzip(art, disk):
    if art["format"] != "raw.gz":
        return
    check(gunzip_equals(art["path"], disk.path), "gzip -dc does not give back the source")
    if disk.size <= ONE_GZIP_READER_ABOVE:
        check(zlib_equals(art["path"], disk.path), "Python's zlib does not give back the source")


def check_vmdk_stream(art):
    if art["format"] != "vmdk" or "monolithicSparse" in art["spec"]:
        return
    with open(art["path"], "rb") as f:
        data_len = os.fstat(f.fileno()).st_size
        head = f.read(512)
        f.seek(data_len - 1536)
        tail = f.read(1536)
    magic, version, flags, capacity, grain, desc_off, desc_size, gtes, rgd, gd = struct.unpack_from(
        "<IIIQQQQIQQ", head)
    check(magic == 0x564D444B and version == 3, f"stream VMDK: magic/version {magic:#x}/{version}")
    check(flags == 0x30001, f"stream VMDK: flags {flags:#x}, expected 0x30001")
    check(gd == 0xFFFFFFFFFFFFFFFF, "stream VMDK: header gdOffset is not GD_AT_END")
    check(struct.unpack_from("<H", head, 77)[0] == 1, "stream VMDK: compressAlgorithm != deflate")
    check(grain == 128 and gtes == 512, "stream VMDK: grain size/GT entries")
    check(capacity * 512 == art["virtual_size"], "stream VMDK: capacity")
    marker_val, marker_size, marker_type = struct.unpack_from("<QII", tail, 0)
    check(marker_type == 3 and marker_val == 1 and marker_size == 0,
          f"stream VMDK: no footer marker at EOF-1536 (type {marker_type})")
    footer = tail[512:1024]
    check(footer[:4] == b"KDMV", "stream VMDK: footer magic")
    fgd = struct.unpack_from("<Q", footer, 56)[0]
    check(fgd != 0xFFFFFFFFFFFFFFFF and fgd * 512 < data_len, "stream VMDK: footer gdOffset")
    check(tail[1024:] == bytes(512), "stream VMDK: no end-of-stream marker")
    with open(art["path"], "rb") as f:
        f.seek((fgd - 1) * 512)
        m = f.read(512)
    check(struct.unpack_from("<QII", m)[2] == 2, "stream VMDK: GD marker missing before the GD")
    with open(art["path"], "rb") as f:
        f.seek(512)
        desc = f.read(desc_size * 512).rstrip(b"\0").decode()
    check(desc.startswith("# Disk DescriptorFile"), "stream VMDK: descriptor")
    check('createType="streamOptimized"' in desc, "stream VMDK: createType")
    check(len(desc) + 512 <= desc_size * 512, "stream VMDK: no slack after the descriptor")


def check_vhd_footer(art, work):
    if art["format"] != "vhd":
        return
    with open(art["path"], "rb") as f:
        f.seek(-512, os.SEEK_END)
        footer = f.read(512)
    check(footer[:8] == b"conectix", "VHD: footer cookie")
    stored = struct.unpack_from(">I", footer, 64)[0]
    zeroed = footer[:64] + bytes(4) + footer[68:]
    check(stored == (~sum(zeroed)) & 0xFFFFFFFF, "VHD: footer checksum")
    check(footer[36:40] == b"Wi2k", "VHD: creator host OS")
    # CHS by the specification's algorithm, implemented here independently
    # (qemu-img's own VHDs round the geometry up instead, so it is no oracle).
    c, h, spt = struct.unpack_from(">HBB", footer, 56)
    check((c, h, spt) == vhd_spec_chs(art["virtual_size"] // 512),
          f"VHD: CHS {(c, h, spt)} is not the specification's {vhd_spec_chs(art['virtual_size'] // 512)}")


def vhd_spec_chs(total):
    """Appendix "CHS Calculation" of the VHD specification."""
    total = min(total, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return (cth // heads, heads, spt)


def crc32c(data):
    """CRC-32C (Castagnoli), bit by bit: slow but independent of vmforge's table."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def vhdx_checksum_ok(block):
    stored = struct.unpack_from("<I", block, 4)[0]
    return stored == crc32c(block[:4] + bytes(4) + block[8:])


def vhdx_bat(f, region):
    """The BAT's (offset, length) from a region table ([MS-VHDX] 2.2.3)."""
    bat_guid = bytes.fromhex("6677c22d23f600429d64115e9bfd4a08")
    count = struct.unpack_from("<I", region, 8)[0]
    for i in range(count):
        e = region[16 + 32 * i:48 + 32 * i]
        if e[:16] == bat_guid:
            return struct.unpack_from("<QI", e, 16)
    raise AssertionError("VHDX: no BAT region")


def check_vhdx_layout(art, disk):
    """[MS-VHDX]: identifier, both headers and region tables with valid
    CRC-32C, an empty log, and a BAT storing exactly the blocks that hold
    data, each 1 MiB aligned and inside the file."""
    if art["format"] != "vhdx":
        return
    block = (int(art["spec"].split("block_size=")[1].rstrip("M")) if "block_size=" in art["spec"]
             else 32) * MIB
    with open(art["path"], "rb") as f:
        check(f.read(8) == b"vhdxfile", "VHDX: file type identifier")
        for off in (64 * 1024, 128 * 1024):
            f.seek(off)
            h = f.read(4096)
            check(h[:4] == b"head" and vhdx_checksum_ok(h), f"VHDX: header at {off} (CRC-32C)")
            check(h[48:64] == bytes(16), "VHDX: a log to replay (LogGuid not zero)")
        for off in (192 * 1024, 256 * 1024):
            f.seek(off)
            region = f.read(65536)
            check(region[:4] == b"regi" and vhdx_checksum_ok(region),
                  f"VHDX: region table at {off} (CRC-32C)")
        bat_off, bat_len = vhdx_bat(f, region)
        f.seek(bat_off)
        bat = f.read(bat_len)
    size = os.path.getsize(art["path"])
    chunk = (1 << 23) * 512 // block
    blocks = (art["virtual_size"] + block - 1) // block
    touched = {b for start, length in disk.extents()
               for b in range(start // block, (start + length - 1) // block + 1)}
    with_data = {b for b in touched
                 if any(disk.read(b * block, min(block, disk.size - b * block)))}
    stored = set()
    for i in range(blocks):
        entry = struct.unpack_from("<Q", bat, 8 * (i + i // chunk))[0]
        state, offset = entry & 7, (entry >> 20) * MIB
        check(state in (0, 6), f"VHDX: block {i} state {state}")
        if state == 6:
            stored.add(i)
            check(offset >= bat_off + bat_len and offset + block <= size,
                  f"VHDX: block {i} at {offset} outside the data area")
    check(stored == with_data, f"VHDX: stored blocks {sorted(stored)}, blocks with data "
          f"{sorted(with_data)}")


def check_sparse_raw(art, disk):
    if art["format"] != "raw":
        return
    st = os.stat(art["path"])
    data = sum(length for _, length in disk.extents())
    if data < disk.size // 2:
        check(st.st_blocks * 512 < disk.size, "raw output is not sparse")


def roundtrip(case, work):
    disk = DISKS[case](os.path.join(work, "disk.raw"))
    out = os.path.join(work, "out")
    os.mkdir(out)
    arts = []
    for name, to in (("a", RUN_A), ("b", RUN_B)):
        result = convert_json(disk.path, out, to, name)
        check(result["input"]["size"] == disk.size, "JSON input size")
        arts += result["artefacts"]
    check(len(arts) == 11, f"expected 11 artefacts, got {len(arts)}")
    for art in arts:
        spec = art["spec"]
        check(os.path.exists(art["path"]), f"{art['path']} missing")
        check(art["virtual_size"] == expected_virtual(spec, disk.size),
              f"{spec}: virtual size {art['virtual_size']}, expected "
              f"{expected_virtual(spec, disk.size)} for a {disk.size}-byte disk")
        check(art["file_size"] == os.path.getsize(art["path"]), f"{spec}: file size")
        check(art["sha256"] == sha256_file(art["path"]), f"{spec}: sha256 differs from the file's")
        check_qemu(art, disk)
        check_libyal(art, disk)
        check_7zip(art)
        check_gzip(art, disk)
        check_vmdk_stream(art)
        check_vhd_footer(art, work)
        check_vhdx_layout(art, disk)
        check_sparse_raw(art, disk)
    leftovers = [n for n in os.listdir(out) if n.startswith(".")]
    check(not leftovers, f"temporary files left: {leftovers}")


if __name__ == "__main__":
    main({case: (lambda work, c=case: roundtrip(c, work)) for case in DISKS})
