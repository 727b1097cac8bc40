# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers shared by vmforge's Python tests: running vmforge, building test
disks with holes and data, and reading outputs back with independent tools.

Each test script runs one named case (meson runs each as its own test), exits
0 on success, 1 with a message on failure and 77 when the case cannot run
here (meson reports it as skipped)."""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

MIB = 1024 * 1024
GIB = 1024 * MIB
SKIP = 77


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def vmforge_path():
    path = os.environ.get("VMFORGE")
    if not path or not os.path.exists(path):
        raise Failure("VMFORGE is not set to the built vmforge binary")
    return path


def run(argv, check_rc=None, env=None, **kw):
    """Runs argv, returning CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=full_env, **kw)
    if os.environ.get("VMFORGE_TEST_TIMES"):
        # Where a case spends its time: one line per command on stderr.
        print(f"[{time.monotonic() - t0:7.1f} s] {' '.join(map(str, argv))[:160]}",
              file=sys.stderr)
    if check_rc is not None and p.returncode != check_rc:
        raise Failure(
            f"{' '.join(map(str, argv))}: exit {p.returncode}, expected {check_rc}\n"
            f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}"
        )
    return p


def vmforge(*args, rc=0, env=None):
    return run([vmforge_path(), *map(str, args)], check_rc=rc, env=env)


def convert_json(disk, outdir, to, name, extra=(), env=None):
    p = vmforge("convert", disk, "--to", to, "-o", outdir, "-n", name, "--json", "-q",
                "--no-sync", *extra, env=env)
    return json.loads(p.stdout)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


def ovf_schema(work, dmtf_dir):
    """The schema vmforge verify uses (templates/schemas/ovf.xsd: DMTF's
    envelope with VirtualBox's vbox:Machine as a Section) over `dmtf_dir`,
    an independent copy of DMTF's schemas (../shared's): its path, for
    xmllint's schema option."""
    d = os.path.join(work, "ovf-schema")
    if not os.path.isdir(d):
        os.makedirs(d)
        templates = os.environ.get("VMFORGE_TEMPLATES") or os.path.join(
            os.path.dirname(__file__), "..", "templates")
        shutil.copy(os.path.join(templates, "schemas", "ovf.xsd"), d)
        os.symlink(os.path.abspath(dmtf_dir), os.path.join(d, "ovf-1.x"))
    return os.path.join(d, "ovf.xsd")


def gunzip_equals(gz, path):
    """True when GNU gzip unpacks `gz` (its CRC and length checked) to
    exactly the bytes of `path`: `gzip -dc | cmp`, no digest in between."""
    with subprocess.Popen(["gzip", "-dc", gz], stdout=subprocess.PIPE) as unzip:
        same = subprocess.run(["cmp", "-s", "-", path], stdin=unzip.stdout).returncode == 0
        unzip.stdout.close()
        return unzip.wait() == 0 and same


def zlib_equals(gz, path):
    """True when Python's zlib (another inflater than GNU gzip's) unpacks
    the gzip file `gz`, every member of it, to exactly the bytes of `path`.
    Output is taken 4 MiB at a time: gzip.open's unbounded inflate is three
    times slower on a disk of zeros."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(gz, "rb") as z, open(path, "rb") as want:
        while True:
            data = z.read(64 * 1024)
            if not data and not inflater.unused_data:
                break
            while data or inflater.unused_data:
                if inflater.eof:  # the next member
                    data, inflater = inflater.unused_data + data, zlib.decompressobj(
                        16 + zlib.MAX_WBITS)
                out = inflater.decompress(data, 4 * MIB)
                if want.read(len(out)) != out:
                    return False
                # At a member's end what follows is in unused_data only.
                data = b"" if inflater.eof else inflater.unconsumed_tail
        return inflater.eof and not inflater.unused_data and want.read(1) == b""


class Disk:
    """A sparse test disk: size, and a list of (offset, bytes) writes."""

    def __init__(self, path, size):
        self.path = path
        self.size = size
        with open(path, "wb") as f:
            f.truncate(size)

    def write(self, offset, data):
        with open(self.path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def extents(self):
        """Data extents as the file system reports them."""
        out = []
        with open(self.path, "rb") as f:
            fd = f.fileno()
            pos = 0
            while pos < self.size:
                try:
                    data = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                hole = os.lseek(fd, data, os.SEEK_HOLE)
                out.append((data, min(hole, self.size) - data))
                pos = hole
        return out

    def read(self, offset, length):
        with open(self.path, "rb") as f:
            f.seek(offset)
            b = f.read(length)
        return b + bytes(length - len(b))


def random_bytes(n, seed):
    """n deterministic pseudo-random bytes (generated 1 MiB at a time:
    randbytes cannot make more than 256 MiB at once)."""
    rng = random.Random(seed)
    return b"".join(rng.randbytes(min(MIB, n - i)) for i in range(0, n, MIB))


def text_bytes(n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += f"{i:08d}: Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".encode()
        i += 1
    return bytes(out[:n])


def read_until(proc, *markers, seconds=300):
    """Reads the running `proc`'s stderr line by line until a line holds one
    of `markers`, the process ends or `seconds` pass. Returns (the text read,
    whether a marker was seen)."""
    seen = ""
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if any(m in line for m in markers):
            return seen, True
        if not line and proc.poll() is not None:
            break
    return seen, False


def have(tool):
    return shutil.which(tool) is not None


def tempdir():
    base = os.environ.get("VMFORGE_TEST_TMP") or None
    return tempfile.mkdtemp(prefix="vmforge-test-", dir=base)


def main(cases):
    """Runs the case named in argv[1] from the dict `cases`."""
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        print(f"usage: {sys.argv[0]} CASE (one of: {', '.join(cases)})", file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    work = tempdir()
    try:
        cases[name](work)
    except Skip as e:
        print(f"SKIP {name}: {e}")
        sys.exit(SKIP)
    except Failure as e:
        print(f"FAIL {name}: {e}")
        sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"PASS {name}")
    sys.exit(0)
