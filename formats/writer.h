/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * writer.h — the one interface every disk format writer implements, and the
 * registry the converter and the CLI look formats up in.
 *
 * A writer receives the disk in LBA order, one batch (1 MiB, 16 units of
 * 64 KiB) at a time, from its own thread. The converter has already found the
 * zero units and compressed every non-zero unit once per deflate variant the
 * requested writers need (VfNeeds), so writers only lay bytes out.
 *
 * Lifecycle: open → write (in order, once per batch) → finish. The converter
 * owns the sink; after finish it makes the sink durable, computes the digest
 * and links the file into place — or, on any failure, throws it away.
 */
#pragma once

#include "vf.h"
#include "sink.h"

typedef enum {
    /* Raw deflate, 32 KiB window, of the whole (zero-padded) unit: VMDK
     * grains and raw.gz members share it. */
    VF_NEED_DEFLATE32 = 1u << 0,
    /* Raw deflate, 4 KiB window (qemu inflates qcow2 clusters with
     * windowBits -12), for qcow2 compressed clusters. */
    VF_NEED_DEFLATE4K = 1u << 1,
    /* Adler-32 of the whole unit (the zlib trailer of VMDK grains). */
    VF_NEED_ADLER32 = 1u << 2,
} VfNeeds;

/* One 64 KiB unit of the disk as a writer sees it. */
typedef struct VfUnit {
    const uint8_t *data; /* VF_UNIT_SIZE bytes, zero-padded past `len` */
    uint32_t len;        /* bytes of the disk in this unit (< VF_UNIT_SIZE only at the end) */
    bool zero;           /* all VF_UNIT_SIZE bytes are zero */
    uint32_t crc32;      /* CRC-32 of the first `len` bytes (0 for zero units) */
    uint32_t adler32;    /* Adler-32 of all VF_UNIT_SIZE bytes, with VF_NEED_ADLER32 */
    const uint8_t *d32;  /* raw deflate (32 KiB window) of all VF_UNIT_SIZE bytes */
    uint32_t d32_len;
    const uint8_t *d4k; /* raw deflate (4 KiB window); d4k_len 0: did not compress */
    uint32_t d4k_len;
} VfUnit;

/*
 * A batch: either `n_units` units starting at `offset` (offset is a multiple
 * of VF_BATCH_SIZE, length at most VF_BATCH_SIZE), or — when `zero_span` is
 * set — a run of `length` zero bytes (whole batches, except possibly at the
 * end of the disk) that the reader did not even have to read.
 */
typedef struct VfBatch {
    uint64_t index;  /* offset / VF_BATCH_SIZE */
    uint64_t offset; /* byte offset in the disk */
    uint64_t length; /* bytes of the disk covered */
    bool zero_span;
    unsigned n_units;
    VfUnit units[VF_BATCH_UNITS];
} VfBatch;

/* What every writer knows about the source disk before the first batch. */
typedef struct VfDiskInfo {
    uint64_t size;         /* bytes */
    uint8_t identity[32];  /* SHA-256 over size, allocation map, first 4 MiB, last 1 MiB */
    int64_t timestamp;     /* SOURCE_DATE_EPOCH, or 0: outputs are reproducible */
    const char *file_name; /* base name of the output file, for descriptors */
    int level;             /* deflate level of the run (1..9) */
} VfDiskInfo;

/* A KEY=VALUE option a format accepts in `--to FORMAT:KEY=VALUE`. */
typedef struct VfOptionSpec {
    const char *key;
    const char *default_value;
    const char *const *choices; /* NULL-terminated list, or NULL for an integer */
    int64_t min, max;           /* range when choices is NULL */
    const char *help;
} VfOptionSpec;

typedef struct VfWriter VfWriter;

typedef struct VfWriterOps {
    const char *name;            /* as written in --to, e.g. "qcow2" */
    const char *extension;       /* file name suffix without the dot */
    const char *summary;         /* one line for --list-formats */
    const char *size_rule;       /* how the virtual size is rounded, for docs */
    const VfOptionSpec *options; /* terminated by an entry with key NULL */
    size_t priv_size;
    /* Writes into something its `extra` names, not a file: the converter
     * opens, prepares and commits no sink for it (VfOutputSpec.path may be
     * NULL) and its artefact has no path, size or digest. */
    bool no_file;
    /* Validates options against the disk, sets w->virtual_size and w->needs,
     * writes or reserves the header. */
    int (*open)(VfWriter *w, GError **error);
    /* Lays out one batch; called in LBA order. */
    int (*write)(VfWriter *w, const VfBatch *b, GError **error);
    /* Writes trailing metadata and patches headers. */
    int (*finish)(VfWriter *w, GError **error);
    /* Links files the writer made besides its main output, once that is in
     * place; may be NULL. Must undo its own links on failure. */
    int (*commit)(VfWriter *w, GError **error);
    /* Frees priv contents (not priv itself); may be NULL. */
    void (*cleanup)(VfWriter *w);
} VfWriterOps;

struct VfWriter {
    const VfWriterOps *ops;
    VfSink *sink;
    const VfDiskInfo *disk;
    GHashTable *options; /* key → value, validated, defaults filled in */
    uint64_t virtual_size;
    unsigned needs; /* VfNeeds */
    void *priv;
    const void *extra; /* VfOutputSpec.extra */
    /* Content fingerprint, folded from the units' CRC-32s in order. Writers
     * whose IDs sit in trailing metadata derive them from it. */
    GChecksum *fingerprint;
};

extern const VfWriterOps vf_writer_raw;
extern const VfWriterOps vf_writer_rawgz;
extern const VfWriterOps vf_writer_qcow2;
extern const VfWriterOps vf_writer_vmdk;
extern const VfWriterOps vf_writer_vdi;
extern const VfWriterOps vf_writer_vhd;
extern const VfWriterOps vf_writer_vhdx;
extern const VfWriterOps vf_writer_ova;

/* NULL-terminated registry of every writer, in --list-formats order. */
extern const VfWriterOps *const vf_writers[];

/* Looks a format up by name (case-sensitive); NULL if unknown. */
const VfWriterOps *vf_writer_find(const char *name);

/*
 * Parses "FORMAT[:KEY=VALUE...]" into a format and a validated option table
 * with defaults filled in. On success *options is a new table the caller
 * frees with g_hash_table_unref.
 */
int vf_writer_parse_spec(const char *spec, const VfWriterOps **ops, GHashTable **options,
                         GError **error);

/* The value of an option (validated, default applied). */
const char *vf_writer_opt(const VfWriter *w, const char *key);
int64_t vf_writer_opt_int(const VfWriter *w, const char *key);
bool vf_writer_opt_bool(const VfWriter *w, const char *key);

/*
 * Writes a data batch's bytes in order: runs of non-zero units in one write
 * (they are contiguous in memory), zero units as holes. With full_units the
 * last unit is written whole (zero-padded) instead of stopping at the disk's
 * end. Not for zero spans.
 */
int vf_writer_write_units(VfWriter *w, const VfBatch *b, bool full_units, GError **error);

/* Folds a batch into w->fingerprint (created on first use). */
void vf_writer_fold_fingerprint(VfWriter *w, const VfBatch *b);

/* Derives a 16-byte RFC 4122 (version 5 style) identifier from the writer's
 * content fingerprint and a purpose label ("vdi-image", "vhd-unique"...). */
void vf_writer_derive_uuid(VfWriter *w, const char *purpose, uint8_t uuid[16]);
