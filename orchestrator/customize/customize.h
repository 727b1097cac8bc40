/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * customize.h — the customize stage: the recipe's customize: list
 * applied offline to the installed disk through libguestfs, in order, in one
 * appliance launch; then sysprep, the HEPiX checks and fstrim. The disk is
 * customized on a copy that replaces it only when everything succeeded.
 */
#pragma once

#include "recipe/recipe.h"
#include "util/fingerprint.h"
#include "util/progress.h"

#include <stdbool.h>

GQuark vmf_stage_customize_error_quark(void);

typedef struct {
    const char *disk;   /* the base disk, replaced when the stage succeeds */
    const char *logdir; /* where NAME-customize.log goes */
    const char *accel;  /* auto, kvm, tcg */
    bool no_trim;
    int boot_check;         /* -1: as the recipe's verify: boot says; 0 no; 1 yes */
    const char *uri;        /* libvirt URI for the boot check, NULL = default */
    const char *pool;       /* the boot check's pool on a host (see boot-check.h) */
    const char *remote_dir; /* or a pool made for it under this folder of the host */
    VmfProgressMode progress;
} VmfCustomizeOptions;

typedef struct {
    unsigned operations; /* operations applied */
    double launch_seconds, total_seconds;
    double boot_seconds; /* time to the boot marker; 0 without a boot check */
    char *log;
} VmfCustomizeResult;

void vmf_customize_result_clear(VmfCustomizeResult *r);

/* Feeds what the customized disk depends on into `fp`: every
 * operation with its values, the content of uploaded and script files,
 * passwords as salted hashes, the sysprep set and the first-boot runner.
 * Returns a VMF_EXIT_* status. */
int vmf_customize_fingerprint(const VmfRecipe *recipe, VmfFingerprint *fp, GError **error);

/* Returns a VMF_EXIT_* status; *error names the operation and its recipe
 * line. */
int vmf_stage_customize(const VmfRecipe *recipe, const VmfCustomizeOptions *opts,
                        VmfCustomizeResult *result, GError **error);

/* `vmforge backup --generalize`: the default sysprep set on a guest whose
 * disks are `disks` (qcow2 overlays of the backup's frozen chains; the
 * domain's own disks are never opened for writing). The log goes to
 * `log_path`. Returns a VMF_EXIT_* status. */
int vmf_generalize(const char *const *disks, const char *accel, const char *log_path, bool quiet,
                   GError **error);
