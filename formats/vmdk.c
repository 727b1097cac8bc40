/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmdk.c — VMDK sparse extents, as VMware's "Virtual Disk Format 5.0"
 * describes them.
 *
 * streamOptimized (default; what OVAs carry), written strictly front to back
 * so it can be streamed into an OVA:
 *   sector 0        sparse header, version 3, flags NL-test|compressed|markers,
 *                   gdOffset = GD_AT_END
 *   sector 1..      embedded descriptor (with slack: VirtualBox appends lines)
 *   grains          {u64 lba, u32 size, zlib data} padded to 512, for each
 *                   non-zero grain in LBA order
 *   after the grains of each grain table: GT marker, then the table
 *   end             GD marker + GD, footer marker + footer (the header with
 *                   the real gdOffset), end-of-stream marker
 *
 * monolithicSparse: version 1, descriptor at sector 1, redundant and primary
 * grain directories and all grain tables preallocated after it, grains
 * uncompressed and grain-aligned; grain tables are filled in as their 32 MiB
 * range is passed.
 *
 * Virtual size: the source size rounded up to 512 bytes (capacity is counted
 * in sectors). Identifiers (CID, longContentID) are derived from the disk's
 * identity, so the same input gives the same file.
 */
#include "geometry.h"
#include "writer.h"

#include <errno.h>

#define SPARSE_MAGIC  0x564d444bu /* "KDMV" */
#define GRAIN_SECTORS 128u        /* 64 KiB */
#define GT_ENTRIES    512u
#define GT_BYTES      (GT_ENTRIES * 4u)
#define GT_SECTORS    (GT_BYTES / VF_SECTOR_SIZE)
#define GT_COVERAGE   ((uint64_t)GT_ENTRIES * VF_UNIT_SIZE) /* 32 MiB */
#define GD_AT_END     0xffffffffffffffffull

#define FLAG_NL_DETECT    (1u << 0)
#define FLAG_REDUNDANT_GT (1u << 1)
#define FLAG_COMPRESSED   (1u << 16)
#define FLAG_MARKERS      (1u << 17)
#define COMPRESS_DEFLATE  1u

#define MARKER_EOS    0u
#define MARKER_GT     1u
#define MARKER_GD     2u
#define MARKER_FOOTER 3u

/* Grain table entries and the GD are 32-bit sector numbers, so the file
 * cannot exceed 2 TiB; VMware's hosted sparse extents stop at 2 TiB too. */
#define VMDK_MAX_CAPACITY (2ull * VF_TIB - VF_UNIT_SIZE)
/* Room left after the descriptor text for tools that append lines. */
#define DESCRIPTOR_SLACK 1024u

typedef struct Vmdk {
    bool stream;
    uint64_t capacity; /* sectors */
    uint64_t n_gts;
    uint32_t desc_sectors;
    uint8_t header[512]; /* kept for the footer */
    /* stream */
    uint32_t *gt;     /* current grain table, CPU order */
    int64_t gt_index; /* -1: none */
    bool gt_used;
    uint32_t *gd; /* sector of each GT, 0 when absent */
    /* monolithicSparse */
    uint64_t gd_sector, rgd_sector, gts_sector, rgts_sector;
} Vmdk;

static const char *const subformats[] = {"streamOptimized", "monolithicSparse", NULL};
static const char *const adapters[] = {"lsilogic", "buslogic", "ide", "legacyESX", NULL};
static const VfOptionSpec vmdk_options[] = {
    {.key = "subformat",
     .default_value = "streamOptimized",
     .choices = subformats,
     .help = "streamOptimized (for OVAs and uploads) or monolithicSparse (for hosted VMware)"},
    {.key = "adapter",
     .default_value = "lsilogic",
     .choices = adapters,
     .help = "ddb.adapterType; also decides the geometry (IDE: 16 heads, SCSI: 255)"},
    {.key = "hwversion",
     .default_value = "4",
     .min = 3,
     .max = 21,
     .help = "ddb.virtualHWVersion; 4 is read by every VMware product"},
    {.key = "toolsversion",
     .default_value = "2147483647",
     .min = 0,
     .max = 2147483647,
     .help = "ddb.toolsVersion; 2147483647 means tools managed by the guest OS "
             "(open-vm-tools), which vSphere guest customization accepts"},
    {0},
};

static char *descriptor_text(VfWriter *w, Vmdk *v)
{
    const char *adapter = vf_writer_opt(w, "adapter");
    VfChs chs = vf_chs_vmdk(v->capacity, strcmp(adapter, "ide") == 0);
    const uint8_t *id = w->disk->identity;
    uint32_t cid = vf_get_be32(id);
    if (cid == 0xffffffffu) /* reserved for "no parent" */
        cid = 0xfffffffeu;
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
                           "# Disk DescriptorFile\n"
                           "version=1\n"
                           "encoding=\"UTF-8\"\n"
                           "CID=%08x\n"
                           "parentCID=ffffffff\n"
                           "createType=\"%s\"\n"
                           "\n"
                           "# Extent description\n"
                           "RW %" G_GUINT64_FORMAT " SPARSE \"%s\"\n"
                           "\n"
                           "# The Disk Data Base\n"
                           "#DDB\n"
                           "\n"
                           "ddb.adapterType = \"%s\"\n"
                           "ddb.geometry.cylinders = \"%u\"\n"
                           "ddb.geometry.heads = \"%u\"\n"
                           "ddb.geometry.sectors = \"%u\"\n"
                           "ddb.longContentID = \"",
                           cid, v->stream ? "streamOptimized" : "monolithicSparse", v->capacity,
                           w->disk->file_name, adapter, chs.cylinders, chs.heads, chs.sectors);
    char long_id[33];
    vf_hex_encode(id + 4, 16, long_id);
    g_string_append(s, long_id);
    g_string_append_printf(s,
                           "\"\n"
                           "ddb.toolsVersion = \"%s\"\n"
                           "ddb.virtualHWVersion = \"%s\"\n",
                           vf_writer_opt(w, "toolsversion"), vf_writer_opt(w, "hwversion"));
    return g_string_free(s, false);
}

static void build_header(Vmdk *v, uint32_t version, uint32_t flags, uint64_t rgd, uint64_t gd,
                         uint64_t overhead, uint16_t compress)
{
    uint8_t *h = v->header;
    memset(h, 0, 512);
    vf_put_le32(h + 0, SPARSE_MAGIC);
    vf_put_le32(h + 4, version);
    vf_put_le32(h + 8, flags);
    vf_put_le64(h + 12, v->capacity);
    vf_put_le64(h + 20, GRAIN_SECTORS);
    vf_put_le64(h + 28, 1); /* descriptorOffset */
    vf_put_le64(h + 36, v->desc_sectors);
    vf_put_le32(h + 44, GT_ENTRIES);
    vf_put_le64(h + 48, rgd);
    vf_put_le64(h + 56, gd);
    vf_put_le64(h + 64, overhead);
    h[72] = 0; /* uncleanShutdown */
    h[73] = '\n';
    h[74] = ' ';
    h[75] = '\r';
    h[76] = '\n';
    vf_put_le16(h + 77, compress);
}

static int write_marker(VfWriter *w, uint64_t val, uint32_t type, GError **error)
{
    uint8_t m[512] = {0};
    vf_put_le64(m, val);
    vf_put_le32(m + 8, 0);
    vf_put_le32(m + 12, type);
    return vf_sink_write(w->sink, m, sizeof m, error);
}

static int vmdk_open(VfWriter *w, GError **error)
{
    Vmdk *v = w->priv;
    v->stream = strcmp(vf_writer_opt(w, "subformat"), "streamOptimized") == 0;
    w->virtual_size = VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE);
    if (w->virtual_size > VMDK_MAX_CAPACITY) {
        g_autofree char *size = vf_format_size(w->virtual_size);
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT,
                    "%s: a VMDK sparse extent holds at most 2 TiB, the disk is %s",
                    vf_sink_path(w->sink), size);
        return -EFBIG;
    }
    v->capacity = w->virtual_size / VF_SECTOR_SIZE;
    v->n_gts = VF_DIV_ROUND_UP(w->virtual_size, GT_COVERAGE);
    g_autofree char *desc = descriptor_text(w, v);
    size_t desc_len = strlen(desc);
    v->desc_sectors = (uint32_t)VF_DIV_ROUND_UP(desc_len + DESCRIPTOR_SLACK, VF_SECTOR_SIZE);
    int r;

    if (v->stream) {
        w->needs = VF_NEED_DEFLATE32 | VF_NEED_ADLER32;
        v->gt = g_new0(uint32_t, GT_ENTRIES);
        v->gd = g_new0(uint32_t, v->n_gts);
        v->gt_index = -1;
        build_header(v, 3, FLAG_NL_DETECT | FLAG_COMPRESSED | FLAG_MARKERS, 0, GD_AT_END,
                     1 + v->desc_sectors, COMPRESS_DEFLATE);
        r = vf_sink_write(w->sink, v->header, 512, error);
    } else {
        w->needs = 0;
        uint64_t gd_sectors = VF_DIV_ROUND_UP(v->n_gts * 4, VF_SECTOR_SIZE);
        v->rgd_sector = 1 + v->desc_sectors;
        v->rgts_sector = v->rgd_sector + gd_sectors;
        v->gd_sector = v->rgts_sector + v->n_gts * GT_SECTORS;
        v->gts_sector = v->gd_sector + gd_sectors;
        uint64_t overhead = VF_ROUND_UP(v->gts_sector + v->n_gts * GT_SECTORS, GRAIN_SECTORS);
        if (overhead + v->capacity > UINT32_MAX) {
            g_set_error(error, VF_ERROR, VF_ERROR_LIMIT, "%s: disk too large for monolithicSparse",
                        vf_sink_path(w->sink));
            return -EFBIG;
        }
        build_header(v, 1, FLAG_NL_DETECT | FLAG_REDUNDANT_GT, v->rgd_sector, v->gd_sector,
                     overhead, 0);
        vf_sink_will_patch(w->sink);
        r = vf_sink_write(w->sink, v->header, 512, error);
    }
    if (r < 0)
        return r;
    g_autofree char *padded = g_malloc0((size_t)v->desc_sectors * VF_SECTOR_SIZE);
    memcpy(padded, desc, desc_len);
    r = vf_sink_write(w->sink, padded, (size_t)v->desc_sectors * VF_SECTOR_SIZE, error);
    if (r < 0 || v->stream)
        return r;

    /* monolithicSparse: both grain directories point at preallocated grain
     * tables; the tables stay zero (holes) until grains land in them. */
    uint64_t gd_bytes = VF_ROUND_UP(v->n_gts * 4, VF_SECTOR_SIZE);
    g_autofree uint32_t *gd = g_new0(uint32_t, gd_bytes / 4);
    for (uint64_t i = 0; i < v->n_gts; i++)
        gd[i] = GUINT32_TO_LE((uint32_t)(v->rgts_sector + i * GT_SECTORS));
    r = vf_sink_write(w->sink, gd, (size_t)gd_bytes, error);
    if (r >= 0)
        r = vf_sink_write_zeros(w->sink, v->n_gts * GT_BYTES, error);
    for (uint64_t i = 0; r >= 0 && i < v->n_gts; i++)
        gd[i] = GUINT32_TO_LE((uint32_t)(v->gts_sector + i * GT_SECTORS));
    if (r >= 0)
        r = vf_sink_write(w->sink, gd, (size_t)gd_bytes, error);
    if (r >= 0)
        r = vf_sink_write_zeros(w->sink, v->n_gts * GT_BYTES, error);
    if (r >= 0)
        r = vf_sink_align(w->sink, (uint64_t)GRAIN_SECTORS * VF_SECTOR_SIZE, error);
    v->gt = g_new0(uint32_t, GT_ENTRIES);
    v->gt_index = -1;
    return r;
}

/* Writes out the current grain table (stream: marker + table after its
 * grains; sparse: into both preallocated slots). */
static int flush_gt(VfWriter *w, GError **error)
{
    Vmdk *v = w->priv;
    if (v->gt_index < 0 || !v->gt_used)
        return 0;
    uint32_t le[GT_ENTRIES];
    for (unsigned i = 0; i < GT_ENTRIES; i++)
        le[i] = GUINT32_TO_LE(v->gt[i]);
    int r;
    if (v->stream) {
        r = write_marker(w, GT_SECTORS, MARKER_GT, error);
        if (r < 0)
            return r;
        v->gd[v->gt_index] = (uint32_t)(vf_sink_offset(w->sink) / VF_SECTOR_SIZE);
        r = vf_sink_write(w->sink, le, sizeof le, error);
    } else {
        uint64_t at = (uint64_t)v->gt_index * GT_BYTES;
        r = vf_sink_pwrite(w->sink, v->rgts_sector * VF_SECTOR_SIZE + at, le, sizeof le, error);
        if (r >= 0)
            r = vf_sink_pwrite(w->sink, v->gts_sector * VF_SECTOR_SIZE + at, le, sizeof le, error);
    }
    memset(v->gt, 0, GT_BYTES);
    v->gt_used = false;
    return r;
}

static int write_grain(VfWriter *w, uint64_t guest, const VfUnit *u, GError **error)
{
    Vmdk *v = w->priv;
    int64_t gt_index = (int64_t)(guest / GT_COVERAGE);
    int r;
    if (gt_index != v->gt_index) {
        r = flush_gt(w, error);
        if (r < 0)
            return r;
        v->gt_index = gt_index;
    }
    uint64_t sector = vf_sink_offset(w->sink) / VF_SECTOR_SIZE;
    if (sector > UINT32_MAX) {
        g_set_error(error, VF_ERROR, VF_ERROR_LIMIT, "%s would exceed 2 TiB",
                    vf_sink_path(w->sink));
        return -EFBIG;
    }
    if (v->stream) {
        /* Grain marker, then an RFC 1950 stream around the shared deflate. */
        uint32_t zlen = 2 + u->d32_len + 4;
        uint8_t head[12 + 2];
        vf_put_le64(head, guest / VF_SECTOR_SIZE);
        vf_put_le32(head + 8, zlen);
        head[12] = 0x78; /* CM 8, 32 KiB window */
        head[13] = 0x9c; /* FLEVEL 2 (default); 0x789c is a multiple of 31 */
        uint8_t trailer[4];
        vf_put_be32(trailer, u->adler32);
        r = vf_sink_write(w->sink, head, sizeof head, error);
        if (r >= 0)
            r = vf_sink_write(w->sink, u->d32, u->d32_len, error);
        if (r >= 0)
            r = vf_sink_write(w->sink, trailer, sizeof trailer, error);
        if (r >= 0)
            r = vf_sink_align(w->sink, VF_SECTOR_SIZE, error);
    } else {
        r = vf_sink_write(w->sink, u->data, VF_UNIT_SIZE, error);
    }
    if (r < 0)
        return r;
    v->gt[(guest % GT_COVERAGE) / VF_UNIT_SIZE] = (uint32_t)sector;
    v->gt_used = true;
    return 0;
}

static int vmdk_write(VfWriter *w, const VfBatch *b, GError **error)
{
    if (b->zero_span)
        return 0;
    for (unsigned i = 0; i < b->n_units; i++) {
        if (b->units[i].zero)
            continue;
        int r = write_grain(w, b->offset + (uint64_t)i * VF_UNIT_SIZE, &b->units[i], error);
        if (r < 0)
            return r;
    }
    return 0;
}

static int vmdk_finish(VfWriter *w, GError **error)
{
    Vmdk *v = w->priv;
    int r = flush_gt(w, error);
    if (r < 0 || !v->stream)
        return r;

    uint64_t gd_bytes = VF_ROUND_UP(v->n_gts * 4, VF_SECTOR_SIZE);
    r = write_marker(w, gd_bytes / VF_SECTOR_SIZE, MARKER_GD, error);
    if (r < 0)
        return r;
    uint64_t gd_sector = vf_sink_offset(w->sink) / VF_SECTOR_SIZE;
    g_autofree uint32_t *gd = g_new0(uint32_t, gd_bytes / 4);
    for (uint64_t i = 0; i < v->n_gts; i++)
        gd[i] = GUINT32_TO_LE(v->gd[i]);
    r = vf_sink_write(w->sink, gd, (size_t)gd_bytes, error);
    if (r < 0)
        return r;

    r = write_marker(w, 1, MARKER_FOOTER, error);
    if (r < 0)
        return r;
    vf_put_le64(v->header + 56, gd_sector);
    r = vf_sink_write(w->sink, v->header, 512, error);
    if (r < 0)
        return r;
    return write_marker(w, 0, MARKER_EOS, error);
}

static void vmdk_cleanup(VfWriter *w)
{
    Vmdk *v = w->priv;
    g_free(v->gt);
    g_free(v->gd);
}

const VfWriterOps vf_writer_vmdk = {
    .name = "vmdk",
    .extension = "vmdk",
    .summary = "VMware VMDK, streamOptimized (VMDK 5.0 layout) or monolithicSparse",
    .size_rule = "source size rounded up to 512 bytes; at most 2 TiB",
    .options = vmdk_options,
    .priv_size = sizeof(Vmdk),
    .open = vmdk_open,
    .write = vmdk_write,
    .finish = vmdk_finish,
    .cleanup = vmdk_cleanup,
};
