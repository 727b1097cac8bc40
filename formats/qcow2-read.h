/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-read.h — reading qcow2 images (versions 2 and 3) as the disk they
 * hold: the active L1/L2 tables, compressed clusters (deflate), zero
 * clusters, and backing chains of qcow2 or raw files (relative paths are
 * relative to the image that names them, as in qemu). The converter reads a
 * chain once through this, so a backup is one pass.
 *
 * Refused, with the feature named: encryption (AES, LUKS), external data
 * files, extended L2 entries (subclusters), a compression type other than
 * zlib, the corrupt bit, and any incompatible feature bit this reader does
 * not know (named from the image's feature table when it has one), backing
 * files on network storage or in other formats.
 *
 * Every header field used is bounded (named constants below), every table
 * and cluster offset checked against the file, and the memory held is
 * bounded whatever the image claims: a hostile image gets an error, not a
 * crash or an unbounded allocation.
 */
#pragma once

#include "vf.h"

/* What qemu accepts: 512-byte to 2 MiB clusters. */
#define VF_QCOW2_MIN_CLUSTER_BITS 9
#define VF_QCOW2_MAX_CLUSTER_BITS 21
/* qemu's QCOW_MAX_L1_SIZE: 32 MiB of L1 table. */
#define VF_QCOW2_MAX_L1_BYTES (32u << 20)
/* A backing file name longer than this is refused (qemu: 1023). */
#define VF_QCOW2_MAX_BACKING_NAME 1023
/* Backing chains deeper than this are refused (and loops end here). */
#define VF_QCOW2_MAX_CHAIN 64
/* L2 tables kept in memory per image, at most this many bytes. */
#define VF_QCOW2_L2_CACHE_BYTES (16u << 20)

typedef struct VfQcow2 VfQcow2;

/* Parsed header fields (big-endian on disk). */
typedef struct VfQcow2Header {
    uint32_t version;
    uint64_t backing_offset;
    uint32_t backing_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t incompatible, compatible, autoclear;
    uint32_t header_length;
    uint8_t compression_type;
    char *backing_file;   /* NULL when none; g_free'd by vf_qcow2_header_clear */
    char *backing_format; /* from the header extension, or NULL */
} VfQcow2Header;

void vf_qcow2_header_clear(VfQcow2Header *h);

/* Parses and checks the header and its extensions from the first `len`
 * bytes of an image (at least one cluster, or the whole file when smaller).
 * `file_size` bounds the offsets. `name` is used in messages. Errors are
 * VF_ERROR_INPUT. Exposed for the fuzz harness. */
int vf_qcow2_parse_header(const uint8_t *buf, size_t len, uint64_t file_size, const char *name,
                          VfQcow2Header *h, GError **error);

/* Opens the image at path and its backing chain. */
int vf_qcow2_open(const char *path, VfQcow2 **out, GError **error);
/* The same from an open descriptor (not closed by vf_qcow2_free); for the
 * source, which keeps its own. */
int vf_qcow2_open_fd(int fd, const char *path, VfQcow2 **out, GError **error);
void vf_qcow2_free(VfQcow2 *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfQcow2, vf_qcow2_free)

/* The virtual size. */
uint64_t vf_qcow2_size(const VfQcow2 *q);
/* The chain as text, top first: "a.qcow2 (qcow2) -> base.raw (raw)". */
char *vf_qcow2_describe(const VfQcow2 *q);
/* The files of the chain, top first (paths as opened); g_strfreev. */
char **vf_qcow2_files(const VfQcow2 *q);

/* Appends to `extents` (a GArray of VfExtent, see source.h) the regions of
 * the virtual disk that hold data anywhere in the chain, in order, merged;
 * zero clusters and unallocated ranges are left out. */
int vf_qcow2_map(VfQcow2 *q, GArray *extents, GError **error);

/* Reads len bytes of the virtual disk at offset (through the chain,
 * inflating compressed clusters). Beyond what a backing file holds reads as
 * zeros. */
int vf_qcow2_pread(VfQcow2 *q, void *buf, size_t len, uint64_t offset, GError **error);
