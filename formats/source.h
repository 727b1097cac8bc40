/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.h — the disk being converted: opened once, probed so that an image
 * of a format vmforge does not read is refused with a name for what it is,
 * and mapped into data extents. A raw disk (or block device) is mapped with
 * SEEK_DATA/SEEK_HOLE; a qcow2 image (v2/v3, with its backing chain) through
 * its tables (qcow2-read.h), and read through the chain.
 */
#pragma once

#include "vf.h"

typedef struct VfExtent {
    uint64_t offset;
    uint64_t length;
} VfExtent;

typedef struct VfSource {
    char *path;
    int fd;
    uint64_t size;
    GArray *extents;     /* VfExtent, sorted, non-overlapping: the data regions */
    uint64_t data_bytes; /* sum of extent lengths */
    bool is_block_device;
    struct VfQcow2 *qcow2; /* a qcow2 image: reads go through it; NULL for raw */
    const char *format;    /* "raw" or "qcow2" */
} VfSource;

typedef enum {
    /* Skip format probing: convert the bytes even if they look like qcow2,
     * VMDK, an archive... */
    VF_SOURCE_ASSUME_RAW = 1u << 0,
} VfSourceFlags;

/* Opens path read-only: a raw disk, or a qcow2 image and its backing chain
 * (unless VF_SOURCE_ASSUME_RAW). Errors are VF_ERROR_INPUT and name the path
 * (and the qcow2 feature refused, if that is why). */
int vf_source_open(const char *path, unsigned flags, VfSource **out, GError **error);
void vf_source_free(VfSource *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfSource, vf_source_free)

/*
 * Names the image format of a buffer holding the first bytes of a file
 * (head, at least 64 KiB when available) and its last 512 bytes (tail, may be
 * NULL), or returns NULL if it looks like a raw disk. Exposed for tests.
 */
const char *vf_probe_format(const uint8_t *head, size_t head_len, const uint8_t *tail,
                            size_t tail_len);

/* SHA-256 over the size, the extent map, the first 4 MiB and the last 1 MiB:
 * the seed of identifiers that must be written before the data (VMDK CID). */
int vf_source_identity(VfSource *src, uint8_t out[32], GError **error);

/* Reads exactly len bytes at offset; a short read is an error naming the
 * file (it changed size while being read). */
int vf_source_pread(VfSource *src, void *buf, size_t len, uint64_t offset, GError **error);
