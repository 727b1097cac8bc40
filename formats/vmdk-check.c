/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmdk-check.c — streamOptimized VMDK structure, checked as it streams. See vmdk-check.h. */
#include "vmdk-check.h"

#include <stdarg.h>

#define SECTOR        VF_SECTOR_SIZE
#define VMDK_MAGIC    0x564d444bu /* "KDMV" */
#define FLAG_COMPRESS (1u << 16)
#define FLAG_MARKERS  (1u << 17)
#define GD_AT_END     UINT64_MAX
#define MARKER_EOS    0u
#define MARKER_GT     1u
#define MARKER_GD     2u
#define MARKER_FOOTER 3u
#define ITEM_HEAD     16u /* a grain's LBA and size, or a marker's value, size 0 and type */
#define GRAIN_HEAD    12u

typedef enum {
    ST_HEADER,
    ST_ITEM,
    ST_GT,
    ST_GD,
    ST_FOOTER,
    ST_EOS_REST,
    ST_END,
    ST_STOP,
} State;

/* Where the stream is: grains and tables, then the directory, the footer. */
typedef enum { PHASE_GRAINS, PHASE_AFTER_GD, PHASE_AFTER_FOOTER } Phase;

struct VfVmdkWalk {
    const char *name;
    GPtrArray *problems;
    unsigned reported;
    State state;
    Phase phase;
    uint64_t pos; /* bytes of the member consumed */
    uint64_t at;  /* where the structure being collected starts */
    uint8_t *buf; /* collecting `need` bytes from `at` */
    size_t need, have;
    uint8_t header[SECTOR];
    uint64_t capacity, grain, overhead, n_gts;
    uint64_t *gt_at;     /* per grain table index: its sector, 0 when none was seen */
    GHashTable *pending; /* grain sector -> LBA, grains since the previous table */
    uint64_t last_lba;
    bool any_grain;
    uint64_t gd_sector; /* 0 until the directory is seen */
    bool footer_seen;
};

static void problem(VfVmdkWalk *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void problem(VfVmdkWalk *w, const char *fmt, ...)
{
    if (++w->reported > VF_VMDK_MAX_PROBLEMS) {
        w->state = ST_STOP;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(w->problems, g_strdup_printf("%s: %s", w->name, msg));
}

/* Collect `need` bytes starting at `at` next. */
static void expect(VfVmdkWalk *w, State s, uint64_t at, size_t need)
{
    if (w->state == ST_STOP) /* too many problems already */
        return;
    w->state = s;
    w->at = at;
    w->need = need;
    w->have = 0;
    w->buf = g_realloc(w->buf, MAX(need, 1));
}

VfVmdkWalk *vf_vmdk_walk_new(const char *name, GPtrArray *problems)
{
    VfVmdkWalk *w = g_new0(VfVmdkWalk, 1);
    w->name = name;
    w->problems = problems;
    w->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    expect(w, ST_HEADER, 0, SECTOR);
    return w;
}

void vf_vmdk_walk_free(VfVmdkWalk *w)
{
    if (!w)
        return;
    g_free(w->buf);
    g_free(w->gt_at);
    g_hash_table_unref(w->pending);
    g_free(w);
}

uint64_t vf_vmdk_walk_capacity(const VfVmdkWalk *w)
{
    return w->capacity * SECTOR;
}

/* The sizes a walk relies on; false stops it. */
static bool header_sizes_ok(VfVmdkWalk *w, const uint8_t *h)
{
    uint64_t desc_off = vf_get_le64(h + 28), desc_size = vf_get_le64(h + 36);
    uint32_t gtes = vf_get_le32(h + 44);
    if (w->capacity == 0 || w->capacity > VF_VMDK_MAX_CAPACITY_SECTORS)
        problem(w, "capacity of %" G_GUINT64_FORMAT " sectors is not 1 to %llu", w->capacity,
                VF_VMDK_MAX_CAPACITY_SECTORS);
    else if (w->grain < VF_VMDK_MIN_GRAIN_SECTORS || w->grain > VF_VMDK_MAX_GRAIN_SECTORS ||
             (w->grain & (w->grain - 1)))
        problem(w, "grain of %" G_GUINT64_FORMAT " sectors is not a power of two from %u to %u",
                w->grain, VF_VMDK_MIN_GRAIN_SECTORS, VF_VMDK_MAX_GRAIN_SECTORS);
    else if (gtes != VF_VMDK_GTES)
        problem(w, "%u entries per grain table; the stream format has %u", gtes, VF_VMDK_GTES);
    else if (w->overhead < 1 || w->overhead > VF_VMDK_MAX_OVERHEAD_SECTORS)
        problem(w, "overhead of %" G_GUINT64_FORMAT " sectors is not 1 to %u", w->overhead,
                VF_VMDK_MAX_OVERHEAD_SECTORS);
    else if (desc_size &&
             (desc_off < 1 || desc_off > w->overhead || desc_size > w->overhead - desc_off))
        problem(w,
                "the embedded descriptor (sectors %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                ") is not inside the overhead",
                desc_off, desc_size);
    else
        return true;
    return false;
}

static void on_header(VfVmdkWalk *w, const uint8_t *h)
{
    memcpy(w->header, h, SECTOR);
    if (vf_get_le32(h) != VMDK_MAGIC) {
        problem(w, "not a VMDK sparse extent (no KDMV header)");
        w->state = ST_STOP;
        return;
    }
    uint32_t version = vf_get_le32(h + 4), flags = vf_get_le32(h + 8);
    if (version != 3)
        problem(w, "streamOptimized VMDKs are version 3, this one is %u", version);
    if ((flags & (FLAG_COMPRESS | FLAG_MARKERS)) != (FLAG_COMPRESS | FLAG_MARKERS))
        problem(w, "header flags %#x lack compressed grains and markers", flags);
    if (vf_get_le64(h + 56) != GD_AT_END)
        problem(w, "the header's grain directory offset is not GD_AT_END");
    if ((h[77] | (h[78] << 8)) != 1)
        problem(w, "compressAlgorithm %u is not deflate (1)", h[77] | (h[78] << 8));
    w->capacity = vf_get_le64(h + 12);
    w->grain = vf_get_le64(h + 20);
    w->overhead = vf_get_le64(h + 64);
    if (!header_sizes_ok(w, h)) {
        w->state = ST_STOP;
        return;
    }
    w->n_gts = VF_DIV_ROUND_UP(w->capacity, w->grain * VF_VMDK_GTES);
    w->gt_at = g_new0(uint64_t, w->n_gts);
    expect(w, ST_ITEM, w->overhead * SECTOR, ITEM_HEAD);
}

static void on_grain(VfVmdkWalk *w, uint64_t lba, uint32_t size)
{
    uint64_t sector = w->at / SECTOR;
    if (w->phase != PHASE_GRAINS)
        problem(w, "a grain at sector %" G_GUINT64_FORMAT " after the grain directory", sector);
    else if (lba % w->grain || lba >= w->capacity)
        problem(w,
                "grain at sector %" G_GUINT64_FORMAT ": LBA %" G_GUINT64_FORMAT
                " is not a grain boundary inside the disk",
                sector, lba);
    else if (size > w->grain * SECTOR + VF_VMDK_GRAIN_SLACK)
        problem(w,
                "grain at sector %" G_GUINT64_FORMAT
                ": %u compressed bytes for a grain of %" G_GUINT64_FORMAT,
                sector, size, w->grain * SECTOR);
    else if (w->any_grain && lba <= w->last_lba)
        problem(w,
                "grain at sector %" G_GUINT64_FORMAT ": LBA %" G_GUINT64_FORMAT
                " after %" G_GUINT64_FORMAT " (grains go in increasing LBA order)",
                sector, lba, w->last_lba);
    else if (g_hash_table_size(w->pending) >= VF_VMDK_GTES)
        problem(w, "more than %u grains before a grain table", VF_VMDK_GTES);
    else {
        w->any_grain = true;
        w->last_lba = lba;
        g_hash_table_insert(w->pending, g_memdup2(&sector, 8), g_memdup2(&lba, 8));
    }
    expect(w, ST_ITEM, w->at + VF_ROUND_UP(GRAIN_HEAD + (uint64_t)size, SECTOR), ITEM_HEAD);
}

/* A marker of `sectors` metadata sectors of which `want` are expected. */
static bool marker_ok(VfVmdkWalk *w, const char *what, uint64_t sectors, uint64_t want, Phase phase)
{
    if (w->phase != phase) {
        problem(w, "%s marker at sector %" G_GUINT64_FORMAT " out of place", what, w->at / SECTOR);
        return false;
    }
    if (sectors != want) {
        problem(w,
                "%s marker at sector %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT
                " sectors, expected %" G_GUINT64_FORMAT,
                what, w->at / SECTOR, sectors, want);
        return false;
    }
    return true;
}

static void on_marker(VfVmdkWalk *w, uint64_t value, uint32_t type)
{
    uint64_t meta = w->at + SECTOR;
    uint64_t gd_sectors = VF_DIV_ROUND_UP(w->n_gts * 4, SECTOR);
    bool ok = false;
    State next = ST_STOP;
    switch (type) {
    case MARKER_GT:
        ok = marker_ok(w, "grain table", value, VF_VMDK_GTES * 4 / SECTOR, PHASE_GRAINS);
        next = ST_GT;
        break;
    case MARKER_GD:
        ok = marker_ok(w, "grain directory", value, gd_sectors, PHASE_GRAINS);
        next = ST_GD;
        break;
    case MARKER_FOOTER:
        ok = marker_ok(w, "footer", value, 1, PHASE_AFTER_GD);
        next = ST_FOOTER;
        break;
    case MARKER_EOS:
        ok = marker_ok(w, "end-of-stream", value, 0, PHASE_AFTER_FOOTER);
        if (ok)
            expect(w, ST_EOS_REST, w->at + ITEM_HEAD, SECTOR - ITEM_HEAD);
        else
            w->state = ST_STOP;
        return;
    default:
        problem(w, "unknown marker type %u at sector %" G_GUINT64_FORMAT, type, w->at / SECTOR);
    }
    if (!ok) {
        w->state = ST_STOP;
        return;
    }
    expect(w, next, meta, (size_t)value * SECTOR);
}

static void on_item(VfVmdkWalk *w, const uint8_t *p)
{
    uint64_t value = vf_get_le64(p);
    uint32_t size = vf_get_le32(p + 8), type = vf_get_le32(p + 12);
    if (size)
        on_grain(w, value, size);
    else
        on_marker(w, value, type);
}

/* A grain table: every entry is a grain of its range seen since the last table. */
static void on_gt(VfVmdkWalk *w, const uint8_t *t)
{
    uint64_t sector = w->at / SECTOR, index = UINT64_MAX;
    unsigned listed = 0;
    for (uint64_t j = 0; j < VF_VMDK_GTES; j++) {
        uint64_t g = vf_get_le32(t + 4 * j);
        if (!g)
            continue;
        const uint64_t *lba = g_hash_table_lookup(w->pending, &g);
        if (lba && index == UINT64_MAX)
            index = *lba / (w->grain * VF_VMDK_GTES);
        if (!lba || *lba != (index * VF_VMDK_GTES + j) * w->grain) {
            problem(w,
                    "grain table at sector %" G_GUINT64_FORMAT ": entry %" G_GUINT64_FORMAT
                    " points at sector %" G_GUINT64_FORMAT ", not a grain of its range",
                    sector, j, g);
            break;
        }
        listed++;
    }
    if (listed != g_hash_table_size(w->pending))
        problem(w,
                "grain table at sector %" G_GUINT64_FORMAT " lists %u of the %u grains before it",
                sector, listed, g_hash_table_size(w->pending));
    else if (index != UINT64_MAX && w->gt_at[index])
        problem(w, "two grain tables for grains %" G_GUINT64_FORMAT "..", index * VF_VMDK_GTES);
    else if (index != UINT64_MAX)
        w->gt_at[index] = sector;
    g_hash_table_remove_all(w->pending);
    expect(w, ST_ITEM, w->at + w->need, ITEM_HEAD);
}

static void on_gd(VfVmdkWalk *w, const uint8_t *d)
{
    if (g_hash_table_size(w->pending))
        problem(w, "%u grains are in no grain table", g_hash_table_size(w->pending));
    w->gd_sector = w->at / SECTOR;
    for (uint64_t i = 0; i < w->n_gts; i++) {
        uint64_t e = vf_get_le32(d + 4 * i);
        if (e != w->gt_at[i]) {
            problem(w,
                    "grain directory entry %" G_GUINT64_FORMAT " is %" G_GUINT64_FORMAT
                    ", the grain table for that range is at %" G_GUINT64_FORMAT,
                    i, e, w->gt_at[i]);
            break;
        }
    }
    w->phase = PHASE_AFTER_GD;
    expect(w, ST_ITEM, w->at + w->need, ITEM_HEAD);
}

static void on_footer(VfVmdkWalk *w, const uint8_t *f)
{
    if (vf_get_le32(f) != VMDK_MAGIC)
        problem(w, "no footer after the footer marker");
    else if (memcmp(f, w->header, 56) != 0 || memcmp(f + 64, w->header + 64, SECTOR - 64) != 0)
        problem(w, "the footer differs from the header in more than the directory offset");
    else if (vf_get_le64(f + 56) != w->gd_sector)
        problem(w,
                "the footer's grain directory offset %" G_GUINT64_FORMAT
                " is not the directory's sector %" G_GUINT64_FORMAT,
                vf_get_le64(f + 56), w->gd_sector);
    w->footer_seen = true;
    w->phase = PHASE_AFTER_FOOTER;
    expect(w, ST_ITEM, w->at + SECTOR, ITEM_HEAD);
}

static void step(VfVmdkWalk *w)
{
    switch (w->state) {
    case ST_HEADER:
        on_header(w, w->buf);
        break;
    case ST_ITEM:
        on_item(w, w->buf);
        break;
    case ST_GT:
        on_gt(w, w->buf);
        break;
    case ST_GD:
        on_gd(w, w->buf);
        break;
    case ST_FOOTER:
        on_footer(w, w->buf);
        break;
    case ST_EOS_REST:
        if (!vf_is_zero(w->buf, w->need)) /* 496 bytes, malloc-aligned */
            problem(w, "the end-of-stream marker is not a zero sector");
        w->state = ST_END;
        break;
    case ST_END:
    case ST_STOP:
        break;
    }
}

void vf_vmdk_walk_feed(VfVmdkWalk *w, const uint8_t *data, size_t len)
{
    while (len && w->state != ST_STOP) {
        if (w->state == ST_END) {
            problem(w, "data after the end-of-stream marker");
            w->state = ST_STOP;
            break;
        }
        if (w->pos < w->at) {
            size_t skip = (size_t)MIN((uint64_t)len, w->at - w->pos);
            w->pos += skip;
            data += skip;
            len -= skip;
            continue;
        }
        size_t n = MIN(len, w->need - w->have);
        memcpy(w->buf + w->have, data, n);
        w->have += n;
        w->pos += n;
        data += n;
        len -= n;
        if (w->have == w->need)
            step(w);
    }
}

unsigned vf_vmdk_walk_finish(VfVmdkWalk *w)
{
    if (w->state == ST_HEADER)
        problem(w, "too short for a VMDK header");
    else if (w->state != ST_END && w->state != ST_STOP)
        problem(w, "ends at byte %" G_GUINT64_FORMAT " before its %s", w->pos,
                !w->gd_sector     ? "grain directory"
                : !w->footer_seen ? "footer"
                                  : "end-of-stream marker");
    return MIN(w->reported, VF_VMDK_MAX_PROBLEMS);
}
