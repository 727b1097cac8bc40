/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * report.h — report.json, what `vmforge build` leaves beside the artefacts
 * (and prints with --json): every artefact with its path, format, virtual
 * size, file size and SHA-256; each stage's wall time and whether it ran or
 * came from the cache; the vmforge, libvirt, QEMU and libguestfs versions;
 * the recipe's digest. docs/report.md documents the shape. No secrets.
 */
#pragma once

#include "convert.h"
#include "import/import.h"
#include "recipe/recipe.h"

#include <glib.h>
#include "util/json.h"

#include <json-glib/json-glib.h>

typedef struct {
    const char *name;   /* install, customize, verify, convert, package */
    const char *status; /* ran, cached, skipped */
    double seconds;
} VmfStageTime;

/* Where the install ran, and what crossed the wire (volume data). */
typedef struct {
    char *uri;
    char *pool; /* NULL: vmforge's own pool on a local folder */
    uint64_t bytes_sent, bytes_received;
    char *disk_sha256; /* the installed disk as downloaded, or NULL */
} VmfReportHost;

typedef struct {
    const VmfRecipe *recipe;
    const char *accel;
    const char *libvirt_version, *qemu_version, *libguestfs_version;
    const char *cache_key, *cache_status; /* status: hit, miss, rebuilt */
    const VmfReportHost *host;
    const char *base_disk;
    const VmfImportSource *image; /* the recipe's base: image, or NULL */
    bool hepix;                   /* the HEPiX rules were checked (verify: hepix:) */
    const char *outdir;
    uint64_t disk_size, data_bytes;
    GArray *stages;    /* of VmfStageTime */
    GArray *artefacts; /* of VmfBuildArtefact */
    GDateTime *started;
    double seconds;
} VmfReport;

/* The report as pretty-printed JSON (g_free). */
char *vmf_report_json(const VmfReport *r);
