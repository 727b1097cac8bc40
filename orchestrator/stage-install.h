/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stage-install.h — the install stage: the raw MBR disk, the rendered
 * kickstart, the installer media and answer-file injection, and the
 * installer domain watched until it powers off. Its product is the base disk.
 */
#pragma once

#include "progress.h"
#include "recipe.h"

#include <glib.h>
#include <stdbool.h>

GQuark vmf_install_error_quark(void);

typedef struct {
    const char *outdir; /* where the base disk and logs/ go */
    const char *uri;    /* libvirt URI, NULL = default */
    const char *accel;  /* auto, kvm, tcg */
    bool console;       /* copy the guest's console to stdout live */
    bool keep_failed;   /* keep the disk of a failed install */
    bool force;         /* replace an existing base disk */
    bool dry_run;       /* print the kernel command line and domain XML, start nothing */
    unsigned timeout;   /* overrides the recipe's when non-zero */
    unsigned idle_timeout;
    VmfProgressMode progress;
} VmfInstallOptions;

typedef struct {
    char *disk;        /* the base disk (final name) */
    char *console_log; /* the console log */
    char *failed_disk; /* kept with --keep-failed */
    double seconds;    /* wall time of the installer domain */
    char *media;       /* what the ISO was identified as */
} VmfInstallResult;

void vmf_install_result_clear(VmfInstallResult *r);

/* Runs the stage. Returns a VMF_EXIT_* status; on failure *error says what
 * and where (and the console's tail was printed on stderr). */
int vmf_stage_install(const VmfRecipe *recipe, const VmfInstallOptions *opts,
                      VmfInstallResult *result, GError **error);
