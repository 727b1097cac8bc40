#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Golden digests of the formats whose bytes depend only on vmforge's own
layout code: raw, VDI, both VHDs, VHDX, uncompressed qcow2 and monolithicSparse
VMDK (compressed outputs also depend on the zlib/libdeflate version, so they
are covered by round trips instead). A change to any layout shows up here.

Regenerate after an intended change with
  VMFORGE_TEST_REGENERATE_OUTPUT=1 meson test -C build golden
and review the diff of tests/golden/layout.json."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import MIB, Disk, check, convert_json, main, random_bytes, text_bytes  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "layout.json")
RUNS = {
    "a": "raw,vdi,vhd,vhdx,qcow2:compress=off,vmdk:subformat=monolithicSparse",
    "b": "vhd:type=fixed,vhdx:block_size=1M,vmdk:subformat=monolithicSparse:adapter=ide:"
         "hwversion=14",
}


def golden(work):
    size = 70 * MIB + 4608
    d = Disk(os.path.join(work, "golden.raw"), size)
    d.write(0, random_bytes(512 * 1024, 2026))
    d.write(3 * MIB + 512, text_bytes(5 * MIB))
    d.write(33 * MIB - 4096, random_bytes(8192, 11))   # across a 32 MiB grain table
    d.write(64 * MIB - 100, random_bytes(200, 12))     # across a VHD block
    d.write(size - 700, random_bytes(700, 13))
    out = os.path.join(work, "out")
    os.mkdir(out)
    got = {}
    for name, to in RUNS.items():
        for art in convert_json(d.path, out, to, name, extra=("--level", "5"),
                                 env={"SOURCE_DATE_EPOCH": "0"})["artefacts"]:
            got[f"{name}:{art['spec']}"] = {"sha256": art["sha256"], "size": art["file_size"]}
    if os.environ.get("VMFORGE_TEST_REGENERATE_OUTPUT"):
        with open(GOLDEN, "w") as f:
            json.dump(got, f, indent=2, sort_keys=True)
            f.write("\n")
        return
    with open(GOLDEN) as f:
        want = json.load(f)
    check(sorted(got) == sorted(want), f"outputs {sorted(got)} != golden {sorted(want)}")
    for key in want:
        check(got[key] == want[key],
              f"{key}: {got[key]} differs from golden {want[key]}; if the layout change is "
              f"intended, regenerate with VMFORGE_TEST_REGENERATE_OUTPUT=1 and review it")


if __name__ == "__main__":
    main({"layout": golden})
