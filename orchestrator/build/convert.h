/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * convert.h — the convert and package stages of `vmforge build`: one
 * read pass of the base disk writes every target's image (OVAs included);
 * then each target's platform files (libvirt domain XML, OpenStack metadata,
 * Xen xl configuration) are written beside its image.
 *
 * Layout: OUTDIR/TARGET/NAME.EXT for the image, OUTDIR/TARGET/NAME.xml,
 * NAME.openstack.json, NAME.cfg for the extras. Everything appears under its
 * final name only when complete; a failed or interrupted convert leaves no
 * image of this run and no temporary file.
 */
#pragma once

#include "recipe/recipe.h"
#include "recipe/targets.h"
#include "util/progress.h"

#include <glib.h>
#include <stdbool.h>

GQuark vmf_stage_convert_error_quark(void);

typedef struct {
    const VmfRecipe *recipe;
    const VmfTargets *targets;
    const char *disk;   /* the base disk (raw) */
    const char *outdir; /* absolute */
    VmfProgressMode progress;
    bool no_sync;
    int64_t timestamp; /* SOURCE_DATE_EPOCH, for formats that record a time */
} VmfConvertStage;

/* One file the build produced. */
typedef struct {
    char *target;          /* target name */
    char *path;            /* absolute */
    char *format;          /* qcow2, ova, ..., libvirt-xml, openstack-json, xl-cfg */
    char *spec;            /* the writer spec for images, NULL for extras */
    uint64_t virtual_size; /* images only */
    uint64_t file_size;
    char sha256[65];
} VmfBuildArtefact;

void vmf_build_artefact_clear(void *a);

typedef struct {
    GArray *artefacts; /* of VmfBuildArtefact: images in target order, then extras */
    uint64_t disk_size, data_bytes;
    double convert_seconds, package_seconds;
} VmfConvertResult;

void vmf_convert_result_clear(VmfConvertResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfConvertResult, vmf_convert_result_clear)

/* Runs convert then package. Returns a VMF_EXIT_* status; *error says what
 * and which file. */
int vmf_stage_convert(const VmfConvertStage *s, VmfConvertResult *res, GError **error);

/* Bytes of free space the targets need at least (uncompressed ones) and at
 * most (every one as large as the disk's data), for `data_bytes` of data. */
void vmf_convert_space_needed(const VmfTargets *t, uint64_t data_bytes, uint64_t *at_least,
                              uint64_t *at_most);
