/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * boot-check.h — boots a disk from its own boot loader in a libvirt domain,
 * on a throw-away qcow2 overlay (the disk stays as it was), until a marker
 * appears on its serial console; then powers it off.
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
    const char *name;   /* for the domain's name */
    const char *uri;    /* libvirt URI or NULL */
    const char *accel;  /* auto, kvm, tcg */
    const char *marker; /* console text that means "booted" */
    unsigned timeout;   /* seconds */
    unsigned vcpus;
    uint64_t memory;
    const char *console_log;
    bool quiet;
    bool destroy; /* destroy at the marker instead of powering off */
} VmfBootCheck;

/* Returns a VMF_EXIT_* status; *seconds gets the time to the marker. */
int vmf_boot_check(const VmfBootCheck *b, double *seconds, GError **error);
