/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhd.c — Microsoft VHD (Virtual Hard Disk Image Format Specification),
 * fixed and dynamic.
 *
 * fixed:   the disk's bytes (zeros as holes), then the 512-byte footer.
 *          Written front to back. Virtual size rounded up to 1 MiB, as
 *          Azure requires of uploaded VHDs (Hyper-V does not mind).
 * dynamic: footer copy (0), dynamic header "cxsparse" (512), BAT (1536),
 *          then 2 MiB blocks, each a 512-byte sector bitmap followed by the
 *          data, for blocks that hold any non-zero byte; footer at the end.
 *          The BAT is written last. Virtual size rounded up to 512 bytes.
 *
 * Creator application "win ": qemu (block/vpc.c) trusts the footer's
 * current size only for a few creators and otherwise derives the size from
 * the CHS geometry, which would cut most disks short. "win " is what Hyper-V
 * writes and means exactly what we want: the current size is authoritative.
 * The CHS geometry is still filled in by the specification's algorithm.
 */
#include "geometry.h"
#include "writer.h"

#include <errno.h>

#define VHD_FOOTER_SIZE     512u
#define VHD_DYN_HEADER_SIZE 1024u
#define VHD_BAT_OFFSET      1536u
#define VHD_BLOCK_SIZE      (2u * 1024u * 1024u)
#define VHD_BITMAP_SIZE     512u /* 4096 sectors / 8 */
#define VHD_TYPE_FIXED      2u
#define VHD_TYPE_DYNAMIC    3u
#define VHD_UNUSED          0xffffffffu
/* The specification caps VHDs at 2040 GiB. */
#define VHD_MAX_SIZE (2040ull * VF_GIB)
/* Seconds between the Unix epoch and the VHD epoch (2000-01-01 00:00 UTC). */
#define VHD_EPOCH                   946684800ll
#define VMFORGE_VHD_CREATOR_VERSION 0x00000001u

typedef struct Vhd {
    bool fixed;
    uint32_t max_entries;
    uint32_t *bat;   /* CPU order: sector of each block's bitmap */
    bool block_open; /* the current block has been allocated */
    uint64_t cur_block;
} Vhd;

static const char *const vhd_types[] = {"dynamic", "fixed", NULL};
static const VfOptionSpec vhd_options[] = {
    {.key = "type",
     .default_value = "dynamic",
     .choices = vhd_types,
     .help = "dynamic (sparse) or fixed (what Azure accepts; size rounded to 1 MiB)"},
    {0},
};

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    return ~sum;
}

static void build_footer(VfWriter *w, uint8_t f[VHD_FOOTER_SIZE])
{
    Vhd *v = w->priv;
    memset(f, 0, VHD_FOOTER_SIZE);
    memcpy(f, "conectix", 8);
    vf_put_be32(f + 8, 2); /* features: reserved bit, always set */
    vf_put_be32(f + 12, 0x00010000);
    vf_put_be64(f + 16, v->fixed ? 0xffffffffffffffffull : VHD_FOOTER_SIZE);
    int64_t ts = w->disk->timestamp > VHD_EPOCH ? w->disk->timestamp - VHD_EPOCH : 0;
    vf_put_be32(f + 24, (uint32_t)ts);
    memcpy(f + 28, "win ", 4);
    vf_put_be32(f + 32, VMFORGE_VHD_CREATOR_VERSION);
    memcpy(f + 36, "Wi2k", 4);
    vf_put_be64(f + 40, w->virtual_size);
    vf_put_be64(f + 48, w->virtual_size);
    VfChs chs = vf_chs_vhd(w->virtual_size / VF_SECTOR_SIZE);
    vf_put_be16(f + 56, (uint16_t)chs.cylinders);
    f[58] = (uint8_t)chs.heads;
    f[59] = (uint8_t)chs.sectors;
    vf_put_be32(f + 60, v->fixed ? VHD_TYPE_FIXED : VHD_TYPE_DYNAMIC);
    vf_writer_derive_uuid(w, "vhd-unique-id", f + 68);
    f[84] = 0; /* saved state */
    vf_put_be32(f + 64, checksum(f, VHD_FOOTER_SIZE));
}

static int vhd_open(VfWriter *w, GError **error)
{
    Vhd *v = w->priv;
    v->fixed = strcmp(vf_writer_opt(w, "type"), "fixed") == 0;
    w->virtual_size = VF_ROUND_UP(w->disk->size, v->fixed ? VF_MIB : VF_SECTOR_SIZE);
    w->needs = 0;
    if (w->virtual_size > VHD_MAX_SIZE) {
        g_autofree char *size = vf_format_size(w->virtual_size);
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT,
                    "%s: a VHD holds at most 2040 GiB, the disk is %s (use VHDX or qcow2)",
                    vf_sink_path(w->sink), size);
        return -EFBIG;
    }
    if (v->fixed)
        return 0;
    v->max_entries = (uint32_t)VF_DIV_ROUND_UP(w->virtual_size, VHD_BLOCK_SIZE);
    v->bat = g_new(uint32_t, v->max_entries);
    for (uint32_t i = 0; i < v->max_entries; i++)
        v->bat[i] = VHD_UNUSED;
    vf_sink_will_patch(w->sink);
    uint64_t first_block =
        VF_ROUND_UP(VHD_BAT_OFFSET + (uint64_t)v->max_entries * 4, VF_SECTOR_SIZE);
    return vf_sink_write_zeros(w->sink, first_block, error);
}

/* Allocates the block holding batch `index`, writing its bitmap and zeros for
 * the part of it before this batch. */
static int open_block(VfWriter *w, uint64_t index, GError **error)
{
    Vhd *v = w->priv;
    uint64_t block = index / 2;
    uint64_t sector = vf_sink_offset(w->sink) / VF_SECTOR_SIZE;
    if (sector > UINT32_MAX) {
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT, "%s would exceed the VHD's 2 TiB addressing",
                    vf_sink_path(w->sink));
        return -EFBIG;
    }
    v->bat[block] = (uint32_t)sector;
    v->block_open = true;
    v->cur_block = block;
    uint8_t bitmap[VHD_BITMAP_SIZE];
    memset(bitmap, 0xff, sizeof bitmap); /* every sector present */
    int r = vf_sink_write(w->sink, bitmap, sizeof bitmap, error);
    if (r >= 0 && index % 2 == 1)
        r = vf_sink_write_zeros(w->sink, VF_BATCH_SIZE, error);
    return r;
}

/* Pads the open dynamic block to its full 2 MiB. */
static int close_block(VfWriter *w, uint64_t written_to, GError **error)
{
    Vhd *v = w->priv;
    if (!v->block_open)
        return 0;
    uint64_t block_end = (v->cur_block + 1) * VHD_BLOCK_SIZE;
    v->block_open = false;
    return vf_sink_write_zeros(w->sink, block_end - written_to, error);
}

static int vhd_write(VfWriter *w, const VfBatch *b, GError **error)
{
    Vhd *v = w->priv;
    vf_writer_fold_fingerprint(w, b);
    if (v->fixed)
        return b->zero_span ? vf_sink_write_zeros(w->sink, b->length, error)
                            : vf_writer_write_units(w, b, false, error);

    /* Batches arrive contiguously and a block is closed exactly at its end,
     * so an open block is always the one this batch starts in. */
    int r;
    if (b->zero_span) {
        if (v->block_open) {
            uint64_t block_end = (v->cur_block + 1) * VHD_BLOCK_SIZE;
            uint64_t n = MIN(b->length, block_end - b->offset);
            r = vf_sink_write_zeros(w->sink, n, error);
            if (r < 0)
                return r;
            if (b->offset + n == block_end)
                v->block_open = false;
        }
        return 0;
    }
    bool any = false;
    for (unsigned i = 0; i < b->n_units && !any; i++)
        any = !b->units[i].zero;
    if (!v->block_open) {
        if (!any)
            return 0;
        r = open_block(w, b->index, error);
        if (r < 0)
            return r;
    }
    r = vf_writer_write_units(w, b, false, error);
    if (r < 0)
        return r;
    if (b->offset + b->length == (v->cur_block + 1) * VHD_BLOCK_SIZE)
        v->block_open = false;
    return 0;
}

static int vhd_finish(VfWriter *w, GError **error)
{
    Vhd *v = w->priv;
    uint8_t footer[VHD_FOOTER_SIZE];
    int r;
    if (v->fixed) {
        /* Pad the data to the rounded size, then the footer. */
        r = vf_sink_write_zeros(w->sink, w->virtual_size - w->disk->size, error);
        if (r < 0)
            return r;
        build_footer(w, footer);
        return vf_sink_write(w->sink, footer, sizeof footer, error);
    }
    if (v->block_open) {
        r = close_block(w, w->disk->size, error);
        if (r < 0)
            return r;
    }
    build_footer(w, footer);
    r = vf_sink_write(w->sink, footer, sizeof footer, error);
    if (r < 0)
        return r;
    r = vf_sink_pwrite(w->sink, 0, footer, sizeof footer, error);
    if (r < 0)
        return r;

    uint8_t h[VHD_DYN_HEADER_SIZE] = {0};
    memcpy(h, "cxsparse", 8);
    vf_put_be64(h + 8, 0xffffffffffffffffull);
    vf_put_be64(h + 16, VHD_BAT_OFFSET);
    vf_put_be32(h + 24, 0x00010000);
    vf_put_be32(h + 28, v->max_entries);
    vf_put_be32(h + 32, VHD_BLOCK_SIZE);
    vf_put_be32(h + 36, checksum(h, sizeof h));
    r = vf_sink_pwrite(w->sink, VHD_FOOTER_SIZE, h, sizeof h, error);
    if (r < 0)
        return r;
    size_t bat_bytes = (size_t)VF_ROUND_UP((uint64_t)v->max_entries * 4, VF_SECTOR_SIZE);
    g_autofree uint32_t *be = g_malloc(bat_bytes);
    memset(be, 0xff, bat_bytes);
    for (uint32_t i = 0; i < v->max_entries; i++)
        be[i] = GUINT32_TO_BE(v->bat[i]);
    return vf_sink_pwrite(w->sink, VHD_BAT_OFFSET, be, bat_bytes, error);
}

static void vhd_cleanup(VfWriter *w)
{
    Vhd *v = w->priv;
    g_free(v->bat);
}

const VfWriterOps vf_writer_vhd = {
    .name = "vhd",
    .extension = "vhd",
    .summary = "Microsoft VHD for Hyper-V/Azure, dynamic or fixed",
    .size_rule = "dynamic: source size rounded up to 512 bytes; fixed: rounded up to 1 MiB "
                 "(Azure); at most 2040 GiB",
    .options = vhd_options,
    .priv_size = sizeof(Vhd),
    .open = vhd_open,
    .write = vhd_write,
    .finish = vhd_finish,
    .cleanup = vhd_cleanup,
};
