/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine.h — the single-pass converter: reads a raw disk once and writes any
 * number of outputs, each in any registered format.
 *
 * Threads: the caller's thread reads (data extents only, 1 MiB batches) and
 * reports progress; `jobs` workers detect zero units and compress each
 * non-zero unit once per deflate variant the outputs need; one thread per
 * output lays its batches out in LBA order and hashes what it writes. At most
 * `window` batches are in flight, so memory does not grow with the disk.
 */
#pragma once

#include "source.h"
#include "writer.h"

typedef struct VfOutputSpec {
    const VfWriterOps *ops;
    GHashTable *options; /* from vf_writer_parse_spec; borrowed */
    const char *path;    /* final path of the file; borrowed */
    const void *extra;   /* format-specific parameters (VfOvaParams for ova); borrowed */
} VfOutputSpec;

typedef struct VfProgress {
    uint64_t bytes_done;  /* disk bytes every output has consumed */
    uint64_t bytes_total; /* disk size */
    uint64_t data_done;   /* allocated bytes consumed (what costs time) */
    uint64_t data_total;
    bool finishing; /* all data written; trailers, flush and digests remain */
} VfProgress;

typedef void (*VfProgressFunc)(const VfProgress *p, void *user_data);

typedef struct VfConvertOptions {
    unsigned jobs;       /* compression threads; 0: one per CPU */
    int level;           /* deflate level 1..9; 0: 5 */
    unsigned window;     /* batches in flight; 0: automatic */
    unsigned sink_flags; /* VfSinkFlags */
    int64_t timestamp;   /* for formats that record one; 0 if unset */
    /* Polled about every 100 ms; non-zero stops the conversion with
     * VF_ERROR_CANCELLED and nothing written. May be NULL. */
    const volatile int *cancel;
    VfProgressFunc progress; /* called from the caller's thread; may be NULL */
    void *progress_data;
} VfConvertOptions;

typedef struct VfArtefact {
    char *path;
    const char *format;    /* static: the writer's name */
    char *spec;            /* format with its non-default options, e.g. "vhd:type=fixed" */
    uint64_t virtual_size; /* as the output records it (rounded as the format requires) */
    uint64_t file_size;
    char sha256[65];
} VfArtefact;

/* Frees the strings inside an artefact (for g_array_set_clear_func). */
void vf_artefact_clear(void *artefact);

/*
 * Converts src into every output. On success every output exists under its
 * final name and *artefacts (a new GArray of VfArtefact, in outputs order)
 * describes them. On failure or cancellation no output exists under its final
 * name and no temporary file is left.
 */
int vf_convert(VfSource *src, const VfOutputSpec *outputs, size_t n_outputs,
               const VfConvertOptions *opts, GArray **artefacts, GError **error);
