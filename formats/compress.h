/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compress.h — per-thread deflate of 64 KiB units, in the two variants the
 * formats need:
 *  - 32 KiB window (libdeflate): VMDK grains and raw.gz members; libdeflate
 *    is several times faster than zlib at the same level and smaller.
 *  - 4 KiB window (zlib, windowBits -12): qcow2 compressed clusters, because
 *    qemu inflates them with a 4 KiB window. Measured on /usr, this window
 *    costs about 11 % in size against 32 KiB, which is why VMDK does not
 *    share it (README.md, "Format notes").
 */
#pragma once

#include "vf.h"

typedef struct VfCompressor VfCompressor;

/* level: 1 (fast) to 9 (small); returns NULL only if out of memory. */
VfCompressor *vf_compressor_new(int level);
void vf_compressor_free(VfCompressor *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfCompressor, vf_compressor_free)

/* Worst-case output of vf_deflate32 for in_len bytes. */
size_t vf_deflate32_bound(VfCompressor *c, size_t in_len);

/* Raw deflate with a 32 KiB window; returns the compressed length (never 0
 * for out_cap >= vf_deflate32_bound(in_len)). */
size_t vf_deflate32(VfCompressor *c, const void *in, size_t in_len, void *out, size_t out_cap);

/* Raw deflate with a 4 KiB window; returns 0 if the result would not be
 * smaller than out_cap (the caller then stores the data uncompressed). */
size_t vf_deflate4k(VfCompressor *c, const void *in, size_t in_len, void *out, size_t out_cap);

uint32_t vf_crc32(uint32_t crc, const void *buf, size_t len);
uint32_t vf_adler32(uint32_t adler, const void *buf, size_t len);
