#!/usr/bin/env python3
"""check-functions.py [ROOT] — no function in formats/ or orchestrator/ is
longer than a screen (MAX_LINES, from its first line to its closing brace),
unless the comment right above it says why it reads better long (a table, one
flat switch) with the words "Long on purpose:". Prints each offender as
FILE:LINE: NAME is N lines and fails.

The code is clang-formatted: a function definition starts at column 0 and its
body opens with "{" alone on a line and closes with "}" alone on a line.
"""
import glob
import os
import re
import sys

MAX_LINES = 80
MARKER = "Long on purpose:"


def functions(lines):
    """Yields (first line index, last line index, name) of each definition."""
    start = None
    for i, line in enumerate(lines):
        if line == "{" and start is None:
            head = i - 1
            # The signature: back to the line at column 0 (continuations are
            # indented).
            while head > 0 and lines[head][:1] in (" ", "\t"):
                head -= 1
            start = head
        elif line == "}" and start is not None:
            text = " ".join(lines[start:i])
            m = re.search(r"(\w+)\s*\(", text)
            yield start, i, m.group(1) if m else lines[start]
            start = None


def comment_above(lines, first):
    """The block comment that ends on the line just above `first`."""
    end = first - 1
    if end < 0 or not lines[end].rstrip().endswith("*/"):
        return ""
    begin = end
    while begin > 0 and "/*" not in lines[begin]:
        begin -= 1
    return "\n".join(lines[begin:end + 1])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    files = sorted(glob.glob(os.path.join(root, "formats", "*.c")) +
                   glob.glob(os.path.join(root, "orchestrator", "**", "*.c"), recursive=True))
    if not files:
        print(f"check-functions: no C files under {root}", file=sys.stderr)
        return 1
    status = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for first, last, name in functions(lines):
            n = last - first + 1
            if n > MAX_LINES and MARKER not in comment_above(lines, first):
                rel = os.path.relpath(path, root)
                print(f"{rel}:{first + 1}: {name} is {n} lines (at most {MAX_LINES}): split it into "
                      f"named steps, or say above it \"{MARKER} ...\" why it reads better long",
                      file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
