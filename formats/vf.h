/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf.h — definitions shared by the formats library (disk writers, the
 * single-pass converter, sinks and sources).
 *
 * Layering: this library is pure data transformation. It never includes
 * libvirt or libguestfs headers and never prints; it reports failures through
 * an int return (>= 0 success, -errno failure) plus a GError naming the object
 * at fault, and the orchestrator decides what to print.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Sector of every sector-addressed format (VMDK, VHD, VDI, qcow2 sizes). */
#define VF_SECTOR_SIZE 512u
/* Zero-detection and compression unit: one qcow2 cluster, one VMDK grain. */
#define VF_UNIT_SIZE (64u * 1024u)
/* Units per batch. A batch (1 MiB) is one VDI block and half a VHD block;
 * it is the granule the pipeline hands from the reader to the writers. */
#define VF_BATCH_UNITS 16u
#define VF_BATCH_SIZE  (VF_UNIT_SIZE * VF_BATCH_UNITS)
#define VF_MIB         (1024ull * 1024ull)
#define VF_GIB         (1024ull * VF_MIB)
#define VF_TIB         (1024ull * VF_GIB)

/* Largest input accepted: 64 TiB. Every writer has its own (smaller) limit;
 * this one bounds arithmetic before any writer looks at the size. */
#define VF_MAX_DISK_SIZE (64ull * VF_TIB)

#define VF_ROUND_UP(x, a)     ((((x) + (a)-1) / (a)) * (a))
#define VF_DIV_ROUND_UP(x, a) (((x) + (a)-1) / (a))

GQuark vf_error_quark(void);
#define VF_ERROR vf_error_quark()

/* What went wrong, so a front end can pick an exit code. */
typedef enum {
    VF_ERROR_INPUT,     /* the source disk is missing, unreadable or not raw */
    VF_ERROR_OUTPUT,    /* an output could not be written (space, permissions, exists) */
    VF_ERROR_USAGE,     /* unknown format, bad option value */
    VF_ERROR_LIMIT,     /* the disk is too large for a requested format */
    VF_ERROR_CANCELLED, /* interrupted on request */
    VF_ERROR_INTERNAL,
} VfErrorCode;

/* Byte-order helpers for building headers in byte buffers. */
static inline void vf_put_le16(void *p, uint16_t v)
{
    v = GUINT16_TO_LE(v);
    memcpy(p, &v, sizeof v);
}
static inline void vf_put_le32(void *p, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, sizeof v);
}
static inline void vf_put_le64(void *p, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(p, &v, sizeof v);
}
static inline void vf_put_be16(void *p, uint16_t v)
{
    v = GUINT16_TO_BE(v);
    memcpy(p, &v, sizeof v);
}
static inline void vf_put_be32(void *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, sizeof v);
}
static inline void vf_put_be64(void *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof v);
}
static inline uint32_t vf_get_le32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return GUINT32_FROM_LE(v);
}
static inline uint64_t vf_get_le64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return GUINT64_FROM_LE(v);
}
static inline uint32_t vf_get_be32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return GUINT32_FROM_BE(v);
}
static inline uint64_t vf_get_be64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return GUINT64_FROM_BE(v);
}

/* True if the n bytes at p are all zero (n a multiple of 16, p 16-aligned). */
bool vf_is_zero(const void *p, size_t n);

/* Sets *error from an errno value with a formatted prefix; returns -errnum so
 * callers can `return vf_set_errno(...)`. */
int vf_set_errno(GError **error, VfErrorCode code, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/* Writes n bytes as lowercase hex into out (2n + 1 bytes with the NUL). */
void vf_hex_encode(const void *bytes, size_t n, char *out);

/* Lowercase hex digest of data with "sha1", "sha256" or "sha512"; returns a
 * g_malloc'd string, or NULL for an unknown algorithm. */
char *vf_digest_hex(const char *algorithm, const void *data, size_t len);

/* Length in hex characters of an algorithm's digest, 0 if unknown. */
size_t vf_digest_hex_len(const char *algorithm);

/* Formats a byte count as "1.5 GiB"; returns a newly allocated string. */
char *vf_format_size(uint64_t bytes);
