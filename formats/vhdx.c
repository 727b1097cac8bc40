/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhdx.c — Microsoft VHDX ([MS-VHDX] v20160714), dynamic, for Hyper-V
 * Generation 2 and Azure Stack.
 *
 * Layout (every region 1 MiB aligned, as the specification requires):
 *   0        file type identifier "vhdxfile" + creator (64 KiB)
 *   64 KiB   header 1, 128 KiB header 2 (4 KiB each, CRC-32C)
 *   192 KiB  region table 1, 256 KiB region table 2 (BAT, metadata)
 *   1 MiB    log (1 MiB, empty: LogGuid zero, nothing to replay)
 *   2 MiB    metadata region: table + file parameters, virtual disk size,
 *            page 83 data, logical and physical sector size
 *   3 MiB    BAT (u64 per entry; a sector-bitmap entry after every
 *            chunk_ratio payload entries, never present: no parent)
 *   then     the payload blocks holding any non-zero byte, in LBA order,
 *            each stored whole (zeros past the disk's end are holes).
 *
 * Blocks without data stay PAYLOAD_BLOCK_NOT_PRESENT, which readers return
 * as zeros. Everything in front of the data depends on which blocks hold
 * data or on the content-derived identifiers, so it is written at finish.
 * Virtual size: the source size rounded up to 1 MiB (Hyper-V sizes disks in
 * whole MiB; vmforge's disks are whole MiB already).
 */
#include "writer.h"

#include <errno.h>

#define VHDX_KIB            1024u
#define VHDX_HEADER1_OFFSET (64u * VHDX_KIB)
#define VHDX_HEADER2_OFFSET (128u * VHDX_KIB)
#define VHDX_REGION1_OFFSET (192u * VHDX_KIB)
#define VHDX_REGION2_OFFSET (256u * VHDX_KIB)
#define VHDX_HEADER_SIZE    (4u * VHDX_KIB)
#define VHDX_REGION_SIZE    (64u * VHDX_KIB)
#define VHDX_CREATOR_SIZE   512u
#define VHDX_LOG_OFFSET     VF_MIB
#define VHDX_LOG_LENGTH     VF_MIB
#define VHDX_META_OFFSET    (2u * VF_MIB)
#define VHDX_META_LENGTH    VF_MIB
/* Metadata items start after the 64 KiB table, as the specification asks. */
#define VHDX_META_ITEMS (64u * VHDX_KIB)
#define VHDX_BAT_OFFSET (3u * VF_MIB)
#define VHDX_ALIGN      VF_MIB
/* [MS-VHDX] 2.2.2: a virtual disk holds at most 64 TiB. */
#define VHDX_MAX_SIZE (64ull * VF_TIB)
/* Sectors one sector-bitmap block describes (2^23), giving the chunk ratio. */
#define VHDX_BITMAP_SECTORS        (1ull << 23)
#define VHDX_PAYLOAD_FULLY_PRESENT 6u
#define VHDX_META_IS_VIRTUAL_DISK  (1u << 1)
#define VHDX_META_IS_REQUIRED      (1u << 2)

/* A GUID as Windows lays it out: three little-endian fields, then 8 bytes. */
typedef struct VhdxGuid {
    uint32_t d1;
    uint16_t d2, d3;
    uint8_t d4[8];
} VhdxGuid;

static const VhdxGuid bat_guid = {
    0x2dc27766, 0xf623, 0x4200, {0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08}};
static const VhdxGuid metadata_guid = {
    0x8b7ca206, 0x4790, 0x4b9a, {0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e}};
static const VhdxGuid file_param_guid = {
    0xcaa16737, 0xfa36, 0x4d43, {0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b}};
static const VhdxGuid virtual_size_guid = {
    0x2fa54224, 0xcd1b, 0x4876, {0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8}};
static const VhdxGuid page83_guid = {
    0xbeca12ab, 0xb2e6, 0x4523, {0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46}};
static const VhdxGuid logical_sector_guid = {
    0x8141bf1d, 0xa96f, 0x4709, {0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f}};
static const VhdxGuid physical_sector_guid = {
    0xcda348c7, 0x445d, 0x4471, {0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56}};

typedef struct Vhdx {
    uint64_t block_size;
    uint64_t chunk_ratio; /* payload blocks per sector-bitmap entry */
    uint64_t blocks;      /* payload blocks */
    uint64_t bat_entries;
    uint64_t bat_length; /* bytes, a multiple of 1 MiB */
    uint32_t *block_mb;  /* file offset in MiB of each payload block, 0: not present */
    bool block_open;     /* the current block has been allocated */
    uint64_t cur_block;
} Vhdx;

static const char *const vhdx_block_sizes[] = {"1M",  "2M",  "4M",   "8M",   "16M",
                                               "32M", "64M", "128M", "256M", NULL};
static const VfOptionSpec vhdx_options[] = {
    {.key = "block_size",
     .default_value = "32M",
     .choices = vhdx_block_sizes,
     .help = "payload block size (Hyper-V's default is 32M); smaller blocks store sparser "
             "disks in less space, at the cost of a larger BAT"},
    {0},
};

/* CRC-32C (Castagnoli, reflected 0x82F63B78), as [MS-VHDX] 2.2.2 uses for
 * headers and region tables. zlib and libdeflate only offer CRC-32. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static gsize ready;
    if (g_once_init_enter(&ready)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
        g_once_init_leave(&ready, 1);
    }
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put_guid(uint8_t *p, const VhdxGuid *g)
{
    vf_put_le32(p, g->d1);
    vf_put_le16(p + 4, g->d2);
    vf_put_le16(p + 6, g->d3);
    memcpy(p + 8, g->d4, 8);
}

/* A content-derived RFC 4122 identifier, stored the Windows way. */
static void put_derived_guid(VfWriter *w, const char *purpose, uint8_t *p)
{
    uint8_t u[16];
    vf_writer_derive_uuid(w, purpose, u);
    VhdxGuid g = {
        vf_get_be32(u), (uint16_t)((u[4] << 8) | u[5]), (uint16_t)((u[6] << 8) | u[7]), {0}};
    memcpy(g.d4, u + 8, 8);
    put_guid(p, &g);
}

static int vhdx_open(VfWriter *w, GError **error)
{
    Vhdx *v = w->priv;
    v->block_size = (uint64_t)g_ascii_strtoull(vf_writer_opt(w, "block_size"), NULL, 10) * VF_MIB;
    w->virtual_size = VF_ROUND_UP(w->disk->size, VF_MIB);
    w->needs = 0;
    if (w->virtual_size > VHDX_MAX_SIZE) {
        g_autofree char *size = vf_format_size(w->virtual_size);
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT,
                    "%s: a VHDX holds at most 64 TiB, the disk is %s", vf_sink_path(w->sink), size);
        return -EFBIG;
    }
    v->chunk_ratio = VHDX_BITMAP_SECTORS * VF_SECTOR_SIZE / v->block_size;
    v->blocks = VF_DIV_ROUND_UP(w->virtual_size, v->block_size);
    v->bat_entries = v->blocks + (v->blocks ? (v->blocks - 1) / v->chunk_ratio : 0);
    v->bat_length = VF_ROUND_UP(MAX(v->bat_entries, 1) * 8, VHDX_ALIGN);
    v->block_mb = g_new0(uint32_t, MAX(v->blocks, 1));
    vf_sink_will_patch(w->sink);
    return vf_sink_write_zeros(w->sink, VHDX_BAT_OFFSET + v->bat_length, error);
}

/* Allocates the block holding the batch at `offset`, writing zeros for the
 * part of it before this batch. */
static int open_block(VfWriter *w, uint64_t offset, GError **error)
{
    Vhdx *v = w->priv;
    uint64_t at = vf_sink_offset(w->sink);
    g_assert(at % VHDX_ALIGN == 0); /* blocks are whole MiB and start aligned */
    v->cur_block = offset / v->block_size;
    v->block_mb[v->cur_block] = (uint32_t)(at / VF_MIB);
    v->block_open = true;
    return vf_sink_write_zeros(w->sink, offset - v->cur_block * v->block_size, error);
}

static uint64_t block_end(const Vhdx *v)
{
    return (v->cur_block + 1) * v->block_size;
}

static int vhdx_write_zero_span(VfWriter *w, const VfBatch *b, GError **error)
{
    Vhdx *v = w->priv;
    if (!v->block_open)
        return 0;
    uint64_t n = MIN(b->length, block_end(v) - b->offset);
    int r = vf_sink_write_zeros(w->sink, n, error);
    if (r >= 0 && b->offset + n == block_end(v))
        v->block_open = false;
    return r;
}

static int vhdx_write(VfWriter *w, const VfBatch *b, GError **error)
{
    Vhdx *v = w->priv;
    vf_writer_fold_fingerprint(w, b);
    if (b->zero_span)
        return vhdx_write_zero_span(w, b, error);
    bool any = false;
    for (unsigned i = 0; i < b->n_units && !any; i++)
        any = !b->units[i].zero;
    int r = 0;
    if (!v->block_open) {
        if (!any)
            return 0;
        r = open_block(w, b->offset, error);
        if (r < 0)
            return r;
    }
    r = vf_writer_write_units(w, b, false, error);
    if (r >= 0 && b->offset + b->length == block_end(v))
        v->block_open = false;
    return r;
}

static void build_header(VfWriter *w, uint64_t sequence, uint8_t h[VHDX_HEADER_SIZE])
{
    memset(h, 0, VHDX_HEADER_SIZE);
    memcpy(h, "head", 4);
    vf_put_le64(h + 8, sequence);
    put_derived_guid(w, "vhdx-file-write", h + 16);
    put_derived_guid(w, "vhdx-data-write", h + 32);
    /* 48: LogGuid zero, 64: LogVersion 0 */
    vf_put_le16(h + 66, 1); /* Version */
    vf_put_le32(h + 68, VHDX_LOG_LENGTH);
    vf_put_le64(h + 72, VHDX_LOG_OFFSET);
    vf_put_le32(h + 4, crc32c(h, VHDX_HEADER_SIZE));
}

static void build_region_table(const Vhdx *v, uint8_t *t)
{
    memset(t, 0, VHDX_REGION_SIZE);
    memcpy(t, "regi", 4);
    vf_put_le32(t + 8, 2); /* entries */
    put_guid(t + 16, &bat_guid);
    vf_put_le64(t + 32, VHDX_BAT_OFFSET);
    vf_put_le32(t + 40, (uint32_t)v->bat_length);
    vf_put_le32(t + 44, 1); /* required */
    put_guid(t + 48, &metadata_guid);
    vf_put_le64(t + 64, VHDX_META_OFFSET);
    vf_put_le32(t + 72, VHDX_META_LENGTH);
    vf_put_le32(t + 76, 1);
    vf_put_le32(t + 4, crc32c(t, VHDX_REGION_SIZE));
}

/* One metadata table entry (32 bytes at `e`) and its item at `offset`. */
static void put_meta_entry(uint8_t *e, const VhdxGuid *id, uint32_t offset, uint32_t length,
                           uint32_t flags)
{
    put_guid(e, id);
    vf_put_le32(e + 16, offset);
    vf_put_le32(e + 20, length);
    vf_put_le32(e + 24, flags);
}

static void build_metadata(VfWriter *w, uint8_t *m, size_t len)
{
    const Vhdx *v = w->priv;
    const uint32_t vd = VHDX_META_IS_VIRTUAL_DISK | VHDX_META_IS_REQUIRED;
    memset(m, 0, len);
    memcpy(m, "metadata", 8);
    vf_put_le16(m + 10, 5); /* entries */
    uint32_t at = VHDX_META_ITEMS;
    put_meta_entry(m + 32, &file_param_guid, at, 8, VHDX_META_IS_REQUIRED);
    vf_put_le32(m + at, (uint32_t)v->block_size); /* flags: not left allocated, no parent */
    at += 8;
    put_meta_entry(m + 64, &virtual_size_guid, at, 8, vd);
    vf_put_le64(m + at, w->virtual_size);
    at += 8;
    put_meta_entry(m + 96, &page83_guid, at, 16, vd);
    put_derived_guid(w, "vhdx-page83", m + at);
    at += 16;
    put_meta_entry(m + 128, &logical_sector_guid, at, 4, vd);
    vf_put_le32(m + at, VF_SECTOR_SIZE);
    at += 4;
    put_meta_entry(m + 160, &physical_sector_guid, at, 4, vd);
    vf_put_le32(m + at, VF_SECTOR_SIZE);
}

static int write_bat(VfWriter *w, GError **error)
{
    const Vhdx *v = w->priv;
    g_autofree uint64_t *bat = g_new0(uint64_t, v->bat_entries);
    for (uint64_t i = 0; i < v->blocks; i++) {
        uint64_t mb = v->block_mb[i];
        uint64_t e = mb ? (mb << 20) | VHDX_PAYLOAD_FULLY_PRESENT : 0;
        bat[i + i / v->chunk_ratio] = GUINT64_TO_LE(e);
    }
    return vf_sink_pwrite(w->sink, VHDX_BAT_OFFSET, bat, (size_t)v->bat_entries * 8, error);
}

/* File identifier, both headers, both region tables and the metadata. */
static int write_front(VfWriter *w, GError **error)
{
    const Vhdx *v = w->priv;
    g_autofree uint8_t *buf = g_malloc0(VHDX_META_ITEMS + VHDX_KIB);
    memcpy(buf, "vhdxfile", 8);
    static const char creator[] = "vmforge";
    for (size_t i = 0; i < sizeof creator - 1; i++)
        vf_put_le16(buf + 8 + 2 * i, (uint16_t)creator[i]);
    int r = vf_sink_pwrite(w->sink, 0, buf, 8 + VHDX_CREATOR_SIZE, error);
    for (uint64_t seq = 1; seq <= 2 && r >= 0; seq++) {
        build_header(w, seq, buf);
        r = vf_sink_pwrite(w->sink, seq == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET, buf,
                           VHDX_HEADER_SIZE, error);
    }
    build_region_table(v, buf);
    if (r >= 0)
        r = vf_sink_pwrite(w->sink, VHDX_REGION1_OFFSET, buf, VHDX_REGION_SIZE, error);
    if (r >= 0)
        r = vf_sink_pwrite(w->sink, VHDX_REGION2_OFFSET, buf, VHDX_REGION_SIZE, error);
    build_metadata(w, buf, VHDX_META_ITEMS + VHDX_KIB);
    if (r >= 0)
        r = vf_sink_pwrite(w->sink, VHDX_META_OFFSET, buf, VHDX_META_ITEMS + VHDX_KIB, error);
    return r;
}

static int vhdx_finish(VfWriter *w, GError **error)
{
    Vhdx *v = w->priv;
    int r = 0;
    if (v->block_open) {
        /* The last block is stored whole; past the disk's end it is a hole. */
        r = vf_sink_write_zeros(w->sink, block_end(v) - w->disk->size, error);
        v->block_open = false;
    }
    if (r >= 0)
        r = write_bat(w, error);
    return r < 0 ? r : write_front(w, error);
}

static void vhdx_cleanup(VfWriter *w)
{
    Vhdx *v = w->priv;
    g_free(v->block_mb);
}

const VfWriterOps vf_writer_vhdx = {
    .name = "vhdx",
    .extension = "vhdx",
    .summary = "Microsoft VHDX for Hyper-V Generation 2, dynamic",
    .size_rule = "source size rounded up to 1 MiB; at most 64 TiB",
    .options = vhdx_options,
    .priv_size = sizeof(Vhdx),
    .open = vhdx_open,
    .write = vhdx_write,
    .finish = vhdx_finish,
    .cleanup = vhdx_cleanup,
};
