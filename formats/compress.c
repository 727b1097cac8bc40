/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "compress.h"

#include <libdeflate.h>
#include <zlib.h>

/* qemu's qcow2 reader: inflateInit2(&strm, -12). */
#define QCOW2_WINDOW_BITS 12
#define QCOW2_MEM_LEVEL   9

struct VfCompressor {
    struct libdeflate_compressor *ld;
    z_stream zs;
    bool zs_ready;
};

VfCompressor *vf_compressor_new(int level)
{
    VfCompressor *c = g_new0(VfCompressor, 1);
    c->ld = libdeflate_alloc_compressor(level);
    if (!c->ld)
        goto fail;
    if (deflateInit2(&c->zs, level, Z_DEFLATED, -QCOW2_WINDOW_BITS, QCOW2_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        goto fail;
    c->zs_ready = true;
    return c;
fail:
    vf_compressor_free(c);
    return NULL;
}

void vf_compressor_free(VfCompressor *c)
{
    if (!c)
        return;
    if (c->ld)
        libdeflate_free_compressor(c->ld);
    if (c->zs_ready)
        deflateEnd(&c->zs);
    g_free(c);
}

size_t vf_deflate32_bound(VfCompressor *c, size_t in_len)
{
    return libdeflate_deflate_compress_bound(c->ld, in_len);
}

size_t vf_deflate32(VfCompressor *c, const void *in, size_t in_len, void *out, size_t out_cap)
{
    return libdeflate_deflate_compress(c->ld, in, in_len, out, out_cap);
}

size_t vf_deflate4k(VfCompressor *c, const void *in, size_t in_len, void *out, size_t out_cap)
{
    if (deflateReset(&c->zs) != Z_OK)
        return 0;
    c->zs.next_in = (Bytef *)(uintptr_t)in;
    c->zs.avail_in = (uInt)in_len;
    c->zs.next_out = out;
    c->zs.avail_out = (uInt)out_cap;
    int r = deflate(&c->zs, Z_FINISH);
    if (r != Z_STREAM_END)
        return 0; /* did not fit: not compressible enough */
    return out_cap - c->zs.avail_out;
}

uint32_t vf_crc32(uint32_t crc, const void *buf, size_t len)
{
    return libdeflate_crc32(crc, buf, len);
}

uint32_t vf_adler32(uint32_t adler, const void *buf, size_t len)
{
    return libdeflate_adler32(adler, buf, len);
}
