#!/usr/bin/env python3
"""Tests of the tree's own checks: scripts/check-layering.sh and
scripts/check-functions.py pass on the source tree, and fail, naming the file
and line, on a copy of it broken on purpose, one rule at a time.

Usage: checks.py CASE   (layering | layering-rules | functions | functions-rules)
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAYERING = os.path.join(ROOT, "scripts", "check-layering.sh")
FUNCTIONS = os.path.join(ROOT, "scripts", "check-functions.py")


def run(cmd, root):
    p = subprocess.run(cmd + [root], capture_output=True, text=True)
    return p.returncode, p.stderr


def copy_tree(tmp):
    for d in ("formats", "orchestrator"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d))
    return tmp


def add_line(path, text, after_line=1):
    """Inserts `text` after line `after_line` of `path`; returns its line number."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines.insert(after_line, text)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return after_line + 1


def check(cond, what, detail=""):
    if not cond:
        print(f"FAIL: {what}\n{detail}")
        sys.exit(1)
    print(f"ok: {what}")


# (file under the root, the include added, what the message must say)
LAYERING_CASES = [
    ("formats/engine.c", '#include "util/util.h"', "formats/ must not include \"util/util.h\""),
    ("formats/vdi.c", "#include <libvirt/libvirt.h>", "formats/ must not include <libvirt/libvirt.h>"),
    ("formats/ovf.h", '#include "orchestrator/recipe/recipe.h"', "orchestrator/ is not a layer"),
    ("orchestrator/recipe/recipe.c", "#include <guestfs.h>", "recipe/ must not include <guestfs.h>"),
    ("orchestrator/util/util.c", "#include <libvirt/libvirt.h>", "util/ must not include <libvirt"),
    ("orchestrator/util/progress.c", '#include "build/build.h"', "util/ must not include \"build/build.h\""),
    ("orchestrator/virt/virt.c", '#include "install/install.h"', "virt/ must not include \"install/install.h\""),
    ("orchestrator/guestfs/guest.c", '#include "customize/customize.h"',
     "guestfs/ must not include \"customize/customize.h\""),
    ("orchestrator/install/install.c", '#include "cli/commands.h"', "install/ must not include \"cli/commands.h\""),
    ("orchestrator/customize/customize.c", '#include "install/install.h"',
     "customize/ must not include \"install/install.h\""),
    ("orchestrator/customize/boot-check.h", '#include "build/cache.h"',
     "customize/ must not include \"build/cache.h\""),
    ("orchestrator/build/build.c", '#include "backup/backup.h"', "build/ must not include \"backup/backup.h\""),
    ("orchestrator/backup/backup.c", '#include "cli/commands.h"', "backup/ must not include \"cli/commands.h\""),
    ("orchestrator/install/install.c", '#include "virt.h"', "\"virt.h\" is not in install/"),
    ("orchestrator/recipe/recipe.c", '#include "util/no-such.h"', "\"util/no-such.h\" does not exist"),
]


def layering():
    rc, err = run(["bash", LAYERING], ROOT)
    check(rc == 0, "the source tree keeps the layering rules", err)


def layering_rules():
    for path, include, message in LAYERING_CASES:
        with tempfile.TemporaryDirectory() as tmp:
            copy_tree(tmp)
            line = add_line(os.path.join(tmp, path), include)
            rc, err = run(["bash", LAYERING], tmp)
            where = f"{path}:{line}:"
            check(rc == 1 and where in err and message in err,
                  f"{include} in {path} fails, naming {where} and the rule", f"exit {rc}: {err}")
    # Structure: a source file beside the layers, and a folder that is no layer.
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        shutil.copy(os.path.join(tmp, "orchestrator/util/util.c"), os.path.join(tmp, "orchestrator/loose.c"))
        rc, err = run(["bash", LAYERING], tmp)
        check(rc == 1 and "orchestrator/loose.c:1: orchestrator/ holds only its layers' folders" in err,
              "a .c file directly in orchestrator/ fails", err)
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        os.mkdir(os.path.join(tmp, "orchestrator", "misc"))
        rc, err = run(["bash", LAYERING], tmp)
        check(rc == 1 and "orchestrator/misc/ is not a layer" in err, "an unknown folder fails", err)


def functions():
    rc, err = run([sys.executable, FUNCTIONS], ROOT)
    check(rc == 0, "no function over the limit without its reason", err)


def functions_rules():
    body = "\n".join(f"    x += {i};" for i in range(85))
    long_fn = f"int too_long(int x)\n{{\n{body}\n    return x;\n}}\n"
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        path = os.path.join(tmp, "orchestrator/util/util.c")
        with open(path, encoding="utf-8") as f:
            n = f.read().count("\n")
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n" + long_fn)
        rc, err = run([sys.executable, FUNCTIONS], tmp)
        check(rc == 1 and f"orchestrator/util/util.c:{n + 2}: too_long is 89 lines" in err,
              "an 89-line function fails, naming its file, line and length", err)
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n/* Long on purpose: one flat table. */\n" + long_fn.replace("too_long", "table_like"))
        rc, err = run([sys.executable, FUNCTIONS], tmp)
        check(rc == 1 and "table_like" not in err and "too_long" in err,
              "the same function with its reason above it passes", err)
    with tempfile.TemporaryDirectory() as tmp:
        copy_tree(tmp)
        path = os.path.join(tmp, "formats/vdi.c")
        with open(path, "a", encoding="utf-8") as f:
            f.write("\nstatic int\nsplit_signature(int a,\n                int b)\n{\n" + body + "\n    return a;\n}\n")
        rc, err = run([sys.executable, FUNCTIONS], tmp)
        check(rc == 1 and "split_signature is 90 lines" in err,
              "a signature over two lines counts from its name", err)


CASES = {"layering": layering, "layering-rules": layering_rules, "functions": functions,
         "functions-rules": functions_rules}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    CASES[sys.argv[1]]()
