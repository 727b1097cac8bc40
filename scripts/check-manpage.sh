#!/bin/sh
# Renders a manual page and fails on any groff warning.
set -e
out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$1" 2>&1)
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
