#!/bin/bash
# What the build benchmarks share (sourced): the accelerator and libguestfs
# settings of the run, and how they time and summarise.
export VMFORGE_ACCEL="${VMFORGE_ACCEL:-tcg}"
export LIBGUESTFS_BACKEND=direct
if [ "$VMFORGE_ACCEL" = tcg ]; then
    export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
fi

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
