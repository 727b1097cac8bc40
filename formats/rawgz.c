/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rawgz.c — gzip-compressed raw disk (the HEPiX distribution format).
 *
 * The file is a sequence of gzip members (RFC 1952 allows any number; gzip,
 * zcat, pigz and Python's gzip read them as one stream), one per non-zero
 * 64 KiB unit, so each member's deflate data is the unit's 32 KiB-window
 * deflate the converter already made for the VMDK grains: the disk is
 * compressed once, in parallel, for both. Zero runs become members of up to
 * ZERO_CHUNK_UNITS units each, compressed once and reused. The last unit,
 * when partial, is compressed here from its exact bytes.
 *
 * Virtual size: exactly the source size (`gzip -dc` gives the source back).
 */
#include "compress.h"
#include "writer.h"

#include <errno.h>

/* A zero run is emitted in members of at most this many units (4 MiB): long
 * enough that holes cost little space, short enough to compress quickly. */
#define ZERO_CHUNK_UNITS  64u
#define GZIP_HEADER_SIZE  10u
#define GZIP_TRAILER_SIZE 8u
#define GZIP_OS_UNIX      3u

typedef struct ZeroMember {
    uint8_t *bytes;
    size_t len;
} ZeroMember;

typedef struct RawGz {
    VfCompressor *c;
    uint64_t zero_pending;                         /* zero bytes not yet emitted */
    ZeroMember zero_members[ZERO_CHUNK_UNITS + 1]; /* by unit count; lazily built */
} RawGz;

static void gzip_header(uint8_t h[GZIP_HEADER_SIZE])
{
    /* ID1 ID2 CM=deflate FLG=0 MTIME=0 (reproducible) XFL=0 OS=Unix */
    static const uint8_t hdr[GZIP_HEADER_SIZE] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, GZIP_OS_UNIX};
    memcpy(h, hdr, GZIP_HEADER_SIZE);
}

/* Builds a whole member for len bytes at data; the result is g_malloc'd. */
static int build_member(RawGz *g, const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    size_t cap = GZIP_HEADER_SIZE + vf_deflate32_bound(g->c, len) + GZIP_TRAILER_SIZE;
    uint8_t *m = g_malloc(cap);
    gzip_header(m);
    size_t n = vf_deflate32(g->c, data, len, m + GZIP_HEADER_SIZE,
                            cap - GZIP_HEADER_SIZE - GZIP_TRAILER_SIZE);
    if (n == 0) {
        g_free(m);
        return -EIO;
    }
    vf_put_le32(m + GZIP_HEADER_SIZE + n, vf_crc32(0, data, len));
    vf_put_le32(m + GZIP_HEADER_SIZE + n + 4, (uint32_t)len);
    *out = m;
    *out_len = GZIP_HEADER_SIZE + n + GZIP_TRAILER_SIZE;
    return 0;
}

static int emit_zeros(VfWriter *w, GError **error)
{
    RawGz *g = w->priv;
    while (g->zero_pending > 0) {
        uint64_t units = MIN(g->zero_pending / VF_UNIT_SIZE, (uint64_t)ZERO_CHUNK_UNITS);
        int r;
        if (units == 0) {
            /* Less than a unit: only at the end of a disk whose size is not a
             * multiple of 64 KiB. */
            g_autofree uint8_t *zeros = g_malloc0((size_t)g->zero_pending);
            g_autofree uint8_t *m = NULL;
            size_t len = 0;
            if (build_member(g, zeros, (size_t)g->zero_pending, &m, &len) < 0)
                goto fail;
            r = vf_sink_write(w->sink, m, len, error);
            if (r < 0)
                return r;
            g->zero_pending = 0;
            break;
        }
        ZeroMember *zm = &g->zero_members[units];
        if (!zm->bytes) {
            g_autofree uint8_t *zeros = g_malloc0((size_t)units * VF_UNIT_SIZE);
            if (build_member(g, zeros, (size_t)units * VF_UNIT_SIZE, &zm->bytes, &zm->len) < 0)
                goto fail;
        }
        r = vf_sink_write(w->sink, zm->bytes, zm->len, error);
        if (r < 0)
            return r;
        g->zero_pending -= units * VF_UNIT_SIZE;
    }
    return 0;
fail:
    g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "deflate failed for %s", vf_sink_path(w->sink));
    return -EIO;
}

static int rawgz_open(VfWriter *w, GError **error)
{
    RawGz *g = w->priv;
    g->c = vf_compressor_new(w->disk->level);
    if (!g->c) {
        g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    w->virtual_size = w->disk->size;
    w->needs = VF_NEED_DEFLATE32;
    return 0;
}

static int rawgz_write(VfWriter *w, const VfBatch *b, GError **error)
{
    RawGz *g = w->priv;
    if (b->zero_span) {
        g->zero_pending += b->length;
        return 0;
    }
    for (unsigned i = 0; i < b->n_units; i++) {
        const VfUnit *u = &b->units[i];
        if (u->zero) {
            g->zero_pending += u->len;
            continue;
        }
        int r = emit_zeros(w, error);
        if (r < 0)
            return r;
        if (u->len < VF_UNIT_SIZE) {
            /* The shared deflate covers the zero-padded unit; gzip must
             * give back only the disk's bytes. */
            g_autofree uint8_t *m = NULL;
            size_t len = 0;
            if (build_member(g, u->data, u->len, &m, &len) < 0) {
                g_set_error(error, VF_ERROR, VF_ERROR_INTERNAL, "deflate failed");
                return -EIO;
            }
            r = vf_sink_write(w->sink, m, len, error);
        } else {
            uint8_t hdr[GZIP_HEADER_SIZE], trl[GZIP_TRAILER_SIZE];
            gzip_header(hdr);
            vf_put_le32(trl, u->crc32);
            vf_put_le32(trl + 4, VF_UNIT_SIZE);
            r = vf_sink_write(w->sink, hdr, sizeof hdr, error);
            if (r >= 0)
                r = vf_sink_write(w->sink, u->d32, u->d32_len, error);
            if (r >= 0)
                r = vf_sink_write(w->sink, trl, sizeof trl, error);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int rawgz_finish(VfWriter *w, GError **error)
{
    return emit_zeros(w, error);
}

static void rawgz_cleanup(VfWriter *w)
{
    RawGz *g = w->priv;
    vf_compressor_free(g->c);
    for (unsigned i = 0; i <= ZERO_CHUNK_UNITS; i++)
        g_free(g->zero_members[i].bytes);
}

const VfWriterOps vf_writer_rawgz = {
    .name = "raw.gz",
    .extension = "raw.gz",
    .summary = "gzip-compressed raw disk (HEPiX format; multi-member gzip)",
    .size_rule = "exactly the source size",
    .priv_size = sizeof(RawGz),
    .open = rawgz_open,
    .write = rawgz_write,
    .finish = rawgz_finish,
    .cleanup = rawgz_cleanup,
};
