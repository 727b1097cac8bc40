/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the qcow2 reader (formats/qcow2-read.c): header,
 * extensions, L1/L2 tables, compressed clusters, the map and reads. Each
 * input is an image file (in a memfd); it must open or fail with a message,
 * and never crash, hang or allocate without bound. As a plain test it runs
 * seeds made here (v2 and v3 images with data, zero, compressed and
 * unallocated clusters, feature table, backing name) and seeded mutations.
 */
#include "fuzz-main.h"
#include "qcow2-read.h"
#include "source.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* The map walks every cluster of the virtual disk: skip it for disks of
 * more clusters than this (time, not memory, is what it would cost). */
#define MAP_MAX_CLUSTERS (1u << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    g_autoptr(GError) err = NULL;
    VfQcow2 *q = NULL;
    if (vf_qcow2_open_fd(fd, "fuzz.qcow2", &q, &err) < 0) {
        if (!err || !err->message[0])
            abort();
        close(fd);
        return 0;
    }
    uint64_t vsize = vf_qcow2_size(q);
    if (vsize == 0 || vsize > VF_MAX_DISK_SIZE)
        abort();
    g_autofree char *chain = vf_qcow2_describe(q);
    VfQcow2Header h = {0};
    uint8_t head[512] = {0};
    if (pread(fd, head, sizeof head, 0) > 0 &&
        vf_qcow2_parse_header(head, sizeof head, size, "fuzz", &h, NULL) == 0 &&
        h.cluster_bits >= 9 && (vsize >> h.cluster_bits) <= MAP_MAX_CLUSTERS) {
        g_autoptr(GArray) ext = g_array_new(false, false, sizeof(VfExtent));
        g_autoptr(GError) merr = NULL;
        if (vf_qcow2_map(q, ext, &merr) < 0 && (!merr || !merr->message[0]))
            abort();
        for (guint i = 0; i < ext->len; i++) {
            const VfExtent *e = &g_array_index(ext, VfExtent, i);
            if (e->offset + e->length > vsize)
                abort();
        }
    }
    vf_qcow2_header_clear(&h);
    static uint8_t buf[1 << 16];
    const uint64_t at[] = {0, vsize / 2, vsize > sizeof buf ? vsize - sizeof buf : 0};
    for (size_t i = 0; i < G_N_ELEMENTS(at); i++) {
        g_autoptr(GError) rerr = NULL;
        size_t n = (size_t)MIN((uint64_t)sizeof buf, vsize - at[i]);
        if (vf_qcow2_pread(q, buf, n, at[i], &rerr) < 0 && (!rerr || !rerr->message[0]))
            abort();
    }
    vf_qcow2_free(q);
    close(fd);
    return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, 4);
}

static void be64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, 8);
}

/* A small valid image: 512-byte clusters, 64 KiB virtual; cluster 1 L1,
 * cluster 2 L2, 3 data, 4 a compressed cluster; entries for data,
 * compressed, zero and unallocated clusters. */
static GByteArray *seed_image(unsigned version, const char *backing)
{
    const size_t cs = 512;
    GByteArray *img = g_byte_array_new();
    g_byte_array_set_size(img, 6 * cs);
    uint8_t *p = img->data;
    memset(p, 0, img->len);
    memcpy(p, "QFI\xfb", 4);
    be32(p + 4, version);
    be32(p + 20, 9);
    be64(p + 24, 64 * 1024);
    be32(p + 36, 2);      /* l1_size: 64 KiB / (512 × 64) = 2 */
    be64(p + 40, 1 * cs); /* l1 */
    be64(p + 48, 5 * cs); /* refcount table (not read) */
    be32(p + 56, 1);
    size_t ext = 72;
    if (version == 3) {
        be32(p + 96, 4);
        be32(p + 100, 112);
        ext = 112;
        /* feature name table: incompatible bit 5 named "future". */
        be32(p + ext, 0x6803f857u);
        be32(p + ext + 4, 48);
        p[ext + 8] = 0;
        p[ext + 9] = 5;
        memcpy(p + ext + 10, "future", 6);
        ext += 8 + 48;
        be32(p + ext, 0xe2792acau);
        be32(p + ext + 4, 3);
        memcpy(p + ext + 8, "raw", 3);
        ext += 16;
    }
    be32(p + ext, 0); /* end of extensions */
    if (backing) {
        be64(p + 8, 400);
        be32(p + 16, (uint32_t)strlen(backing));
        memcpy(p + 400, backing, strlen(backing));
    }
    be64(p + cs, (2 * cs) | (1ull << 63));
    uint8_t *l2 = p + 2 * cs;
    be64(l2 + 0, (3 * cs) | (1ull << 63)); /* data */
    memset(p + 3 * cs, 0xA5, cs);
    /* compressed: raw deflate of 512 bytes of a pattern */
    uint8_t plain[512], z[600];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7);
    z_stream zs = {0};
    deflateInit2(&zs, 6, Z_DEFLATED, -12, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = plain;
    zs.avail_in = sizeof plain;
    zs.next_out = z;
    zs.avail_out = sizeof z;
    deflate(&zs, Z_FINISH);
    size_t zlen = sizeof z - zs.avail_out;
    deflateEnd(&zs);
    memcpy(p + 4 * cs, z, MIN(zlen, cs));
    unsigned shift = 62 - (9 - 8);
    uint64_t sectors = (zlen + 511) / 512 - 1;
    be64(l2 + 8, (1ull << 62) | (sectors << shift) | (4 * cs));
    if (version == 3)
        be64(l2 + 16, 1); /* zero cluster */
    /* entries 3.. unallocated (backing or zeros) */
    return img;
}

int main(int argc, char **argv)
{
    /* Binary seeds, so not fuzz_main's string corpus; its file runner. */
    int files = fuzz_run_files(argc, argv);
    if (files < 0)
        return 1;
    unsigned runs = (unsigned)files;
    GByteArray *seeds[] = {seed_image(3, NULL), seed_image(2, NULL),
                           seed_image(3, "missing-backing.raw"), seed_image(2, "/dev/null")};
    /* The seeds are valid: each opens and reads back what was written. */
    for (size_t s = 0; s < 2; s++) {
        int fd = memfd_create("seed", MFD_CLOEXEC);
        if (write(fd, seeds[s]->data, seeds[s]->len) != (ssize_t)seeds[s]->len)
            abort();
        g_autoptr(GError) err = NULL;
        VfQcow2 *q = NULL;
        uint8_t buf[1024];
        if (vf_qcow2_open_fd(fd, "seed.qcow2", &q, &err) < 0 ||
            vf_qcow2_pread(q, buf, sizeof buf, 0, &err) < 0) {
            fprintf(stderr, "seed %zu: %s\n", s, err ? err->message : "?");
            return 1;
        }
        for (size_t i = 0; i < 512; i++)
            if (buf[i] != 0xA5 || buf[512 + i] != (uint8_t)(i * 7)) {
                fprintf(stderr, "seed %zu: byte %zu read back wrong\n", s, i);
                return 1;
            }
        vf_qcow2_free(q);
        close(fd);
    }
    GRand *rand = g_rand_new_with_seed(20261121);
    static const uint64_t interesting[] = {0,
                                           1,
                                           0x200,
                                           0xffffffffu,
                                           0x7fffffffffffffffull,
                                           UINT64_MAX,
                                           1ull << 62,
                                           0x00fffffffffffe00ull};
    for (size_t s = 0; s < G_N_ELEMENTS(seeds); s++) {
        LLVMFuzzerTestOneInput(seeds[s]->data, seeds[s]->len);
        runs++;
    }
    for (unsigned it = 0; it < FUZZ_ITERATIONS; it++) {
        GByteArray *seed = seeds[g_rand_int_range(rand, 0, G_N_ELEMENTS(seeds))];
        g_autofree uint8_t *buf = g_memdup2(seed->data, seed->len);
        size_t len = seed->len;
        if (g_rand_int_range(rand, 0, 8) == 0)
            len = (size_t)g_rand_int_range(rand, 0, (gint32)len);
        unsigned edits = (unsigned)g_rand_int_range(rand, 1, 6);
        for (unsigned e = 0; e < edits && len >= 8; e++) {
            size_t at = (size_t)g_rand_int_range(rand, 0, (gint32)len - 7);
            if (g_rand_boolean(rand))
                buf[at] = (uint8_t)g_rand_int(rand);
            else
                be64(buf + (at & ~(size_t)7),
                     interesting[g_rand_int_range(rand, 0, G_N_ELEMENTS(interesting))]);
        }
        LLVMFuzzerTestOneInput(buf, len);
        runs++;
    }
    for (size_t s = 0; s < G_N_ELEMENTS(seeds); s++)
        g_byte_array_unref(seeds[s]);
    g_rand_free(rand);
    printf("1..1\nok 1 - %u inputs\n", runs);
    return 0;
}
