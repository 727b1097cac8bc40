/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.h — one run of the libguestfs appliance on a guest (inside
 * customize/): what the operations, sysprep and the HEPiX checks share — the
 * guest, the log, the first-boot runner's state — and their helpers.
 */
#pragma once

#include "customize.h"
#include "guestfs/guest.h"
#include "recipe/customize-ops.h"

#include <stdbool.h>
#include <stdio.h>

/* Where the first-boot runner and its scripts go in the guest. */
#define FIRSTBOOT_DIR "/usr/lib/vmforge/firstboot"

typedef struct {
    const VmfRecipe *r;
    VmfGuest *guest;
    guestfs_h *g;
    FILE *log;
    const VmfCustomize *c;
    unsigned firstboot_seq;
    bool firstboot_installed;
    bool quiet;
    bool hepix; /* check the HEPiX rules (the recipe's verify: hepix:) */
    GError **error;
} CustomizeRun;

/* A line about the run: on stderr (timestamped, unless quiet) and in the log. */
void customize_say(CustomizeRun *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Sets *run->error from libguestfs's last error, prefixed with what was
 * being done; returns -EIO. */
int customize_fail(CustomizeRun *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int customize_write_file(CustomizeRun *run, const char *path, const char *text);
/* templates/firstboot/NAME (g_free), or NULL with *error. */
char *customize_template_text(const char *name, GError **error);
/* Installs the first-boot runner (once) and adds a script to it. */
int customize_add_firstboot(CustomizeRun *run, const char *name, const char *script);
/* Shuts the appliance down (the disk is complete when that succeeds);
 * returns rc, or VMF_EXIT_FAILURE when closing fails after a success. */
int customize_close_guest(CustomizeRun *run, int rc);

/* Applies one operation of the customize: list (operations.c); < 0 with
 * *run->error. */
int customize_apply(CustomizeRun *run, const VmfOp *op);
/* cloud_init: disable, or a NoCloud seed (cloud-init.c). */
int customize_cloud_init(CustomizeRun *run, const VmfOp *op);
/* What the operation writes besides its path and user-data: meta-data
 * (the recipe's name when vmforge's template makes it), network-config and
 * the templates. */
void customize_cloud_init_fingerprint(VmfFingerprint *fp, const VmfRecipe *r, const VmfOp *op);
/* Applies the sysprep operations in `ops` (VmfSysprep bits), each counted
 * in the log (sysprep.c); < 0 with *run->error naming the operation. */
int customize_sysprep(CustomizeRun *run, unsigned ops);
/* The HEPiX rules on the guest's disk: an MBR, no LVM (hepix.c); < 0 with
 * *run->error (code VMF_EXIT_VERIFY) listing what breaks them. */
int customize_hepix_check(CustomizeRun *run);
