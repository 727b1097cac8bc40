/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * import.h — the import stage: the base disk made from an existing image
 * (the recipe's base:) instead of an install. The image (raw, or qcow2 with
 * its backing chain; read as raw, never probed, when the recipe says
 * format: raw) is checked against base: sha256:, written once as a sparse
 * raw disk, and grown to base: size: — the disk, the last partition of its
 * MBR and that partition's file system (ext2/3/4 or xfs) through libguestfs.
 * Customize, sysprep and the HEPiX checks then run on it as on an installed
 * disk.
 */
#pragma once

#include "formats/source.h"
#include "recipe/recipe.h"
#include "util/fingerprint.h"
#include "util/progress.h"

#include <glib.h>
#include <stdint.h>

GQuark vmf_stage_import_error_quark(void);

/* The recipe's image as the cache key took it. */
typedef struct {
    char **files;        /* the image and its backing files, top first */
    char **digests;      /* SHA-256 (hex) of each, in the same order */
    VfSource *image;     /* the image, open: its format and size; the stage reads it */
    uint64_t disk_size;  /* the base disk's: base: size:, or the image's size */
} VmfImportSource;

void vmf_import_source_clear(VmfImportSource *s);

/* Opens the recipe's base: image as the recipe says (probed, or read as raw
 * with format: raw); a format vmforge does not read, or another than
 * format: names, is refused. Returns a VMF_EXIT_* status. */
int vmf_import_open(const VmfRecipe *recipe, VfSource **image, GError **error);

/* Opens the recipe's image (a format vmforge does not read is refused by
 * name), checks base: sha256: and that base: size: does not shrink it, and
 * feeds the format, every file's digest (through fp->file_digest) and the
 * disk size into `fp`. Fills *src. Returns a VMF_EXIT_* status; errors name
 * the recipe line where one is to blame. */
int vmf_import_fingerprint(const VmfRecipe *recipe, VmfFingerprint *fp, VmfImportSource *src,
                           GError **error);

typedef struct {
    const char *workdir; /* where NAME.raw is made */
    const char *accel;   /* for the libguestfs appliance that grows it */
    VmfProgressMode progress;
} VmfImportOptions;

typedef struct {
    char *disk;          /* WORKDIR/NAME.raw */
    double seconds;
    uint64_t data_bytes; /* data written (the rest is holes) */
    unsigned grown_partition; /* 0 when not grown */
    char *grown_fs;      /* its file system ("ext4", "xfs") */
} VmfImportResult;

void vmf_import_result_clear(VmfImportResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfImportResult, vmf_import_result_clear)

/* Makes the base disk from `src` (as vmf_import_fingerprint filled it).
 * Returns a VMF_EXIT_* status; nothing is left in the work folder on
 * failure. */
int vmf_stage_import(const VmfRecipe *recipe, const VmfImportSource *src,
                     const VmfImportOptions *opts, VmfImportResult *res, GError **error);

/* Grows the last partition of `disk`'s MBR to the end of the disk and its
 * file system with it (grow.c). *partition and *fs say which. */
int vmf_import_grow(const char *disk, const char *accel, unsigned *partition, char **fs,
                    GError **error);
