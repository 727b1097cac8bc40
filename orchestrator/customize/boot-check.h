/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * boot-check.h — boots a disk from its own boot loader in a libvirt domain
 * until a marker appears on its serial console; then powers it off. The
 * disk stays as it was: with a local URI the domain runs on a throw-away
 * qcow2 overlay of it; with a remote one (or a pool given) it runs on a
 * copy uploaded (sparsely) to a pool of that host, removed afterwards.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

GQuark vmf_boot_check_error_quark(void);

typedef struct {
    const char *disk;   /* raw disk to boot (read only through the overlay); or NULL */
    const char *kernel; /* instead of a disk: boot this kernel (copied into the work
                           folder) with `cmdline` and an empty disk */
    const char *cmdline;
    const char *name;       /* for the domain's name */
    const char *uri;        /* libvirt URI or NULL */
    const char *pool;       /* on a host: its pool (default "default"), or */
    const char *remote_dir; /* a pool made for the boot under this folder of the host */
    const char *accel;      /* auto, kvm, tcg */
    const char *marker;     /* console text that means "booted" */
    unsigned timeout;       /* seconds */
    unsigned vcpus;
    uint64_t memory;
    const char *console_log;
    bool quiet;
    bool destroy; /* destroy at the marker instead of powering off */
    bool efi;     /* boot with UEFI (OVMF), not SeaBIOS */
} VmfBootCheck;

/* Returns a VMF_EXIT_* status; *seconds gets the time to the marker. */
int vmf_boot_check(const VmfBootCheck *b, double *seconds, GError **error);
