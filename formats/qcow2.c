/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2.c — qcow2 version 3, 64 KiB clusters, 16-bit refcounts, with or
 * without compressed clusters (qemu docs/interop/qcow2.txt).
 *
 * Layout, written front to back:
 *   cluster 0      header (patched at the end, once the offsets are known)
 *   data           compressed clusters packed byte by byte (a cluster that
 *                  does not compress below 64 KiB, and every cluster with
 *                  compress=off, is stored whole and cluster-aligned);
 *                  after the data of each 512 MiB region, that region's L2
 *                  table, so only one L2 table is ever in memory
 *   refcount blocks and refcount table (covering themselves), L1 table
 *
 * Zero clusters are left unallocated (they read as zeros: no backing file).
 * Virtual size: the source size rounded up to 512 bytes (qemu counts qcow2
 * sizes in sectors and would drop a partial one).
 */
#include "writer.h"

#include <errno.h>

#define QCOW2_MAGIC         0x514649fbu
#define QCOW2_VERSION       3u
#define CLUSTER_BITS        16u
#define CLUSTER_SIZE        (1u << CLUSTER_BITS)
#define L2_ENTRIES          (CLUSTER_SIZE / 8u)                   /* 8192 */
#define L2_COVERAGE         ((uint64_t)L2_ENTRIES * CLUSTER_SIZE) /* 512 MiB */
#define REFCOUNT_ORDER      4u                                    /* 16-bit */
#define REFCOUNTS_PER_BLOCK (CLUSTER_SIZE / 2u)                   /* 32768 */
#define HEADER_LENGTH       104u

#define QCOW_OFLAG_COPIED     (1ull << 63)
#define QCOW_OFLAG_COMPRESSED (1ull << 62)
/* For 64 KiB clusters: bits 0..53 are the byte offset, 54..61 the number of
 * additional 512-byte sectors (qcow2.txt, "Compressed Clusters Descriptor"). */
#define CSIZE_SHIFT  (62u - (CLUSTER_BITS - 8u))
#define COFFSET_MASK ((1ull << CSIZE_SHIFT) - 1)
/* qcow2 allows up to 2^56 bytes of host offsets; bound the virtual size to
 * what qemu accepts (QCOW_MAX_L1_SIZE 32 MiB of L1 → 2 EiB at 64 KiB). We
 * stay far below with VF_MAX_DISK_SIZE. */

typedef struct Qcow2 {
    bool compress;
    uint32_t l1_size;
    uint64_t *l1;      /* host offsets (with COPIED), CPU order */
    uint64_t *l2;      /* current L2 table, CPU order */
    int64_t l2_region; /* region of the current L2 table, -1 if none */
    bool l2_used;
    GArray *refcounts; /* guint16 per host cluster */
} Qcow2;

static const char *const on_off[] = {"on", "off", NULL};
static const VfOptionSpec qcow2_options[] = {
    {.key = "compress",
     .default_value = "on",
     .choices = on_off,
     .help = "store clusters deflate-compressed (what OpenStack/KVM images use)"},
    {0},
};

/* Adds one reference to every host cluster in [offset, offset + len). */
static void ref_range(Qcow2 *q, uint64_t offset, uint64_t len)
{
    uint64_t first = offset / CLUSTER_SIZE, last = (offset + len - 1) / CLUSTER_SIZE;
    if (q->refcounts->len <= last)
        g_array_set_size(q->refcounts, (guint)(last + 1));
    for (uint64_t c = first; c <= last; c++)
        g_array_index(q->refcounts, uint16_t, c)++;
}

static int flush_l2(VfWriter *w, GError **error)
{
    Qcow2 *q = w->priv;
    if (q->l2_region < 0 || !q->l2_used)
        return 0;
    int r = vf_sink_align(w->sink, CLUSTER_SIZE, error);
    if (r < 0)
        return r;
    uint64_t off = vf_sink_offset(w->sink);
    g_autofree uint64_t *be = g_new(uint64_t, L2_ENTRIES);
    for (unsigned i = 0; i < L2_ENTRIES; i++)
        be[i] = GUINT64_TO_BE(q->l2[i]);
    r = vf_sink_write(w->sink, be, CLUSTER_SIZE, error);
    if (r < 0)
        return r;
    ref_range(q, off, CLUSTER_SIZE);
    q->l1[q->l2_region] = off | QCOW_OFLAG_COPIED;
    memset(q->l2, 0, CLUSTER_SIZE);
    q->l2_used = false;
    return 0;
}

/* Makes the L2 table of the region holding guest offset `offset` current. */
static int enter_region(VfWriter *w, uint64_t offset, GError **error)
{
    Qcow2 *q = w->priv;
    int64_t region = (int64_t)(offset / L2_COVERAGE);
    if (region == q->l2_region)
        return 0;
    int r = flush_l2(w, error);
    if (r < 0)
        return r;
    q->l2_region = region;
    return 0;
}

static int qcow2_open(VfWriter *w, GError **error)
{
    Qcow2 *q = w->priv;
    q->compress = vf_writer_opt_bool(w, "compress");
    w->virtual_size = VF_ROUND_UP(w->disk->size, VF_SECTOR_SIZE);
    w->needs = q->compress ? VF_NEED_DEFLATE4K : 0;
    q->l1_size = (uint32_t)VF_DIV_ROUND_UP(w->virtual_size, L2_COVERAGE);
    q->l1 = g_new0(uint64_t, q->l1_size);
    q->l2 = g_new0(uint64_t, L2_ENTRIES);
    q->l2_region = -1;
    q->refcounts = g_array_new(false, true, sizeof(uint16_t));
    vf_sink_will_patch(w->sink);
    /* Cluster 0 is the header, written once everything else is placed. */
    ref_range(q, 0, CLUSTER_SIZE);
    return vf_sink_write_zeros(w->sink, CLUSTER_SIZE, error);
}

static int write_unit(VfWriter *w, uint64_t guest, const VfUnit *u, GError **error)
{
    Qcow2 *q = w->priv;
    int r = enter_region(w, guest, error);
    if (r < 0)
        return r;
    unsigned idx = (unsigned)((guest % L2_COVERAGE) / CLUSTER_SIZE);
    if (q->compress && u->d4k_len > 0) {
        uint64_t off = vf_sink_offset(w->sink);
        uint64_t len = u->d4k_len;
        /* Additional sectors beyond the one holding `off`; qemu reads
         * (nb_csectors + 1) * 512 - (off % 512) bytes. */
        uint64_t nb_csectors = (off + len - 1) / VF_SECTOR_SIZE - off / VF_SECTOR_SIZE;
        r = vf_sink_write(w->sink, u->d4k, u->d4k_len, error);
        if (r < 0)
            return r;
        ref_range(q, off, len);
        q->l2[idx] = QCOW_OFLAG_COMPRESSED | (nb_csectors << CSIZE_SHIFT) | (off & COFFSET_MASK);
    } else {
        r = vf_sink_align(w->sink, CLUSTER_SIZE, error);
        if (r < 0)
            return r;
        uint64_t off = vf_sink_offset(w->sink);
        r = vf_sink_write(w->sink, u->data, VF_UNIT_SIZE, error);
        if (r < 0)
            return r;
        ref_range(q, off, CLUSTER_SIZE);
        q->l2[idx] = off | QCOW_OFLAG_COPIED;
    }
    q->l2_used = true;
    return 0;
}

static int qcow2_write(VfWriter *w, const VfBatch *b, GError **error)
{
    if (b->zero_span)
        return 0; /* unallocated clusters read as zeros */
    for (unsigned i = 0; i < b->n_units; i++) {
        const VfUnit *u = &b->units[i];
        if (u->zero)
            continue;
        int r = write_unit(w, b->offset + (uint64_t)i * VF_UNIT_SIZE, u, error);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The refcount structures count themselves and the L1 table: the fixed
 * point of how many refcount blocks and table clusters that takes. */
static void refcount_layout(const Qcow2 *q, uint64_t data_end, uint64_t *blocks, uint64_t *table)
{
    uint64_t l1_bytes = VF_ROUND_UP((uint64_t)q->l1_size * 8, CLUSTER_SIZE);
    uint64_t n = data_end / CLUSTER_SIZE + l1_bytes / CLUSTER_SIZE;
    *blocks = *table = 0;
    for (;;) {
        uint64_t total = n + *table + *blocks;
        uint64_t nb = VF_DIV_ROUND_UP(total, REFCOUNTS_PER_BLOCK);
        uint64_t nt = VF_DIV_ROUND_UP(nb * 8, CLUSTER_SIZE);
        if (nb == *blocks && nt == *table)
            break;
        *blocks = nb;
        *table = nt;
    }
}

/* The refcount blocks, then the refcount table that points at them. */
static int write_refcounts(VfWriter *w, uint64_t rb_offset, uint64_t blocks, uint64_t table,
                           GError **error)
{
    Qcow2 *q = w->priv;
    g_autofree uint16_t *block = g_new(uint16_t, REFCOUNTS_PER_BLOCK);
    for (uint64_t bi = 0; bi < blocks; bi++) {
        for (unsigned i = 0; i < REFCOUNTS_PER_BLOCK; i++) {
            uint64_t c = bi * REFCOUNTS_PER_BLOCK + i;
            uint16_t v = c < q->refcounts->len ? g_array_index(q->refcounts, uint16_t, c) : 0;
            block[i] = GUINT16_TO_BE(v);
        }
        int r = vf_sink_write(w->sink, block, CLUSTER_SIZE, error);
        if (r < 0)
            return r;
    }
    g_autofree uint64_t *rt = g_new0(uint64_t, table * CLUSTER_SIZE / 8);
    for (uint64_t i = 0; i < blocks; i++)
        rt[i] = GUINT64_TO_BE(rb_offset + i * CLUSTER_SIZE);
    return vf_sink_write(w->sink, rt, (size_t)(table * CLUSTER_SIZE), error);
}

/* The header, written last at offset 0. */
static int write_header(VfWriter *w, uint64_t l1_offset, uint64_t rt_offset, uint64_t table,
                        GError **error)
{
    Qcow2 *q = w->priv;
    uint8_t h[HEADER_LENGTH] = {0};
    vf_put_be32(h + 0, QCOW2_MAGIC);
    vf_put_be32(h + 4, QCOW2_VERSION);
    /* 8: backing_file_offset, 16: backing_file_size = 0 */
    vf_put_be32(h + 20, CLUSTER_BITS);
    vf_put_be64(h + 24, w->virtual_size);
    /* 32: crypt_method = 0 */
    vf_put_be32(h + 36, q->l1_size);
    vf_put_be64(h + 40, l1_offset);
    vf_put_be64(h + 48, rt_offset);
    vf_put_be32(h + 56, (uint32_t)table);
    /* 60: nb_snapshots, 64: snapshots_offset = 0
     * 72: incompatible, 80: compatible, 88: autoclear features = 0 */
    vf_put_be32(h + 96, REFCOUNT_ORDER);
    vf_put_be32(h + 100, HEADER_LENGTH);
    /* The header extension area that follows is zero: end-of-extensions. */
    return vf_sink_pwrite(w->sink, 0, h, sizeof h, error);
}

static int qcow2_finish(VfWriter *w, GError **error)
{
    Qcow2 *q = w->priv;
    int r = flush_l2(w, error);
    if (r < 0)
        return r;
    r = vf_sink_align(w->sink, CLUSTER_SIZE, error);
    if (r < 0)
        return r;
    /*
     * Tail: refcount blocks, refcount table, L1 table — in that order so the
     * file ends with a structure every reader walks (7-Zip measures a qcow2
     * by the tables it follows and reports anything after them as trailing
     * data).
     */
    uint64_t blocks, table;
    uint64_t rb_offset = vf_sink_offset(w->sink);
    refcount_layout(q, rb_offset, &blocks, &table);
    uint64_t rt_offset = rb_offset + blocks * CLUSTER_SIZE;
    uint64_t l1_offset = rt_offset + table * CLUSTER_SIZE;
    /* The L1 table is written unpadded: readers measure it as l1_size * 8
     * bytes, and the file ends there. Its cluster is referenced all the same. */
    ref_range(q, rb_offset, (blocks + table) * CLUSTER_SIZE + (uint64_t)q->l1_size * 8);
    r = write_refcounts(w, rb_offset, blocks, table, error);
    if (r < 0)
        return r;
    g_autofree uint64_t *be = g_new0(uint64_t, q->l1_size);
    for (uint32_t i = 0; i < q->l1_size; i++)
        be[i] = GUINT64_TO_BE(q->l1[i]);
    r = vf_sink_write(w->sink, be, (size_t)q->l1_size * 8, error);
    if (r < 0)
        return r;
    return write_header(w, l1_offset, rt_offset, table, error);
}

static void qcow2_cleanup(VfWriter *w)
{
    Qcow2 *q = w->priv;
    g_free(q->l1);
    g_free(q->l2);
    if (q->refcounts)
        g_array_unref(q->refcounts);
}

const VfWriterOps vf_writer_qcow2 = {
    .name = "qcow2",
    .extension = "qcow2",
    .summary = "qcow2 v3 for KVM/OpenStack, compressed clusters by default",
    .size_rule = "source size rounded up to 512 bytes",
    .options = qcow2_options,
    .priv_size = sizeof(Qcow2),
    .open = qcow2_open,
    .write = qcow2_write,
    .finish = qcow2_finish,
    .cleanup = qcow2_cleanup,
};
