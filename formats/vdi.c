/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vdi.c — VirtualBox VDI, dynamic (image type 1), 1 MiB blocks
 * (VirtualBox src/VBox/Storage/VDICore.h; qemu block/vdi.c accepts only
 * 1 MiB blocks).
 *
 * Layout: header (sector 0), block map at 0x200 (u32 per block, 0xFFFFFFFF
 * for blocks never written), data area aligned to 1 MiB holding the blocks
 * that have any non-zero byte, in LBA order. The header and map depend on
 * which blocks hold data, so they are written last.
 *
 * Virtual size: the source size rounded up to 512 bytes (qemu refuses other
 * sizes); the last block is stored whole. The image UUIDs are derived from
 * the disk's content, so VirtualBox sees different disks as different.
 */
#include "writer.h"

#include <errno.h>

#define VDI_SIGNATURE    0xbeda107fu
#define VDI_VERSION      0x00010001u
#define VDI_HEADER_SIZE  0x180u
#define VDI_TYPE_DYNAMIC 1u
#define VDI_BLOCK_SIZE   VF_BATCH_SIZE
#define VDI_UNALLOCATED  0xffffffffu
#define VDI_BMAP_OFFSET  0x200u
#define VDI_DATA_ALIGN   VF_MIB
/* qemu: VDI_BLOCKS_IN_IMAGE_MAX = 0x3fffffff blocks of 1 MiB; its size
 * checks also keep the block map under 4 GiB. */
#define VDI_MAX_BLOCKS 0x3fffffffull

static const char vdi_text[] = "<<< Oracle VM VirtualBox Disk Image >>>\n";

typedef struct Vdi {
    uint32_t blocks;
    uint32_t allocated;
    uint32_t *bmap; /* CPU order */
    uint64_t data_offset;
} Vdi;

static int vdi_open(VfWriter *w, GError **error)
{
    Vdi *v = w->priv;
    w->virtual_size = VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE);
    uint64_t blocks = VF_DIV_ROUND_UP(w->virtual_size, VDI_BLOCK_SIZE);
    if (blocks > VDI_MAX_BLOCKS) {
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT, "%s: disk too large for VDI",
                    vf_sink_path(w->sink));
        return -EFBIG;
    }
    v->blocks = (uint32_t)blocks;
    v->bmap = g_new(uint32_t, v->blocks);
    for (uint32_t i = 0; i < v->blocks; i++)
        v->bmap[i] = VDI_UNALLOCATED;
    v->data_offset = VF_ROUND_UP(VDI_BMAP_OFFSET + (uint64_t)v->blocks * 4, VDI_DATA_ALIGN);
    w->needs = 0;
    vf_sink_will_patch(w->sink);
    return vf_sink_write_zeros(w->sink, v->data_offset, error);
}

static int vdi_write(VfWriter *w, const VfBatch *b, GError **error)
{
    Vdi *v = w->priv;
    vf_writer_fold_fingerprint(w, b);
    if (b->zero_span)
        return 0;
    bool any = false;
    for (unsigned i = 0; i < b->n_units && !any; i++)
        any = !b->units[i].zero;
    if (!any)
        return 0;
    /* One batch is one block, stored whole even at the end of the disk. */
    v->bmap[b->index] = v->allocated++;
    int r = vf_writer_write_units(w, b, true, error);
    if (r < 0)
        return r;
    return vf_sink_write_zeros(w->sink, (uint64_t)(VF_BATCH_UNITS - b->n_units) * VF_UNIT_SIZE,
                               error);
}

static int vdi_finish(VfWriter *w, GError **error)
{
    Vdi *v = w->priv;
    uint8_t h[VDI_BMAP_OFFSET] = {0};
    memcpy(h, vdi_text, sizeof vdi_text - 1);
    vf_put_le32(h + 0x40, VDI_SIGNATURE);
    vf_put_le32(h + 0x44, VDI_VERSION);
    vf_put_le32(h + 0x48, VDI_HEADER_SIZE);
    vf_put_le32(h + 0x4c, VDI_TYPE_DYNAMIC);
    vf_put_le32(h + 0x50, 0); /* image flags */
    /* 0x54: description[256], empty */
    vf_put_le32(h + 0x154, VDI_BMAP_OFFSET);
    vf_put_le32(h + 0x158, (uint32_t)v->data_offset);
    /* 0x15c..0x164: legacy geometry, 0 = let the reader compute it */
    vf_put_le32(h + 0x168, VF_SECTOR_SIZE);
    vf_put_le64(h + 0x170, w->virtual_size);
    vf_put_le32(h + 0x178, VDI_BLOCK_SIZE);
    vf_put_le32(h + 0x17c, 0); /* block extra */
    vf_put_le32(h + 0x180, v->blocks);
    vf_put_le32(h + 0x184, v->allocated);
    vf_writer_derive_uuid(w, "vdi-image", h + 0x188);
    vf_writer_derive_uuid(w, "vdi-last-snapshot", h + 0x198);
    /* 0x1a8 link uuid, 0x1b8 parent uuid: zero (no parent) */
    int r = vf_sink_pwrite(w->sink, 0, h, sizeof h, error);
    if (r < 0)
        return r;
    g_autofree uint32_t *le = g_new(uint32_t, v->blocks);
    for (uint32_t i = 0; i < v->blocks; i++)
        le[i] = GUINT32_TO_LE(v->bmap[i]);
    return vf_sink_pwrite(w->sink, VDI_BMAP_OFFSET, le, (size_t)v->blocks * 4, error);
}

static void vdi_cleanup(VfWriter *w)
{
    Vdi *v = w->priv;
    g_free(v->bmap);
}

const VfWriterOps vf_writer_vdi = {
    .name = "vdi",
    .extension = "vdi",
    .summary = "VirtualBox VDI, dynamic",
    .size_rule = "source size rounded up to 512 bytes",
    .priv_size = sizeof(Vdi),
    .open = vdi_open,
    .write = vdi_write,
    .finish = vdi_finish,
    .cleanup = vdi_cleanup,
};
