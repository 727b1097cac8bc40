/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ids.c — identifiers derived from content, never random, so that the same
 * input gives byte-identical outputs (design.md, "Reproducible").
 */
#include "writer.h"

void vf_writer_fold_fingerprint(VfWriter *w, const VfBatch *b)
{
    if (!w->fingerprint)
        w->fingerprint = g_checksum_new(G_CHECKSUM_SHA256);
    if (b->zero_span)
        return;
    for (unsigned i = 0; i < b->n_units; i++) {
        const VfUnit *u = &b->units[i];
        if (u->zero)
            continue;
        uint8_t rec[12];
        vf_put_be64(rec, b->offset + (uint64_t)i * VF_UNIT_SIZE);
        vf_put_be32(rec + 8, u->crc32);
        g_checksum_update(w->fingerprint, rec, sizeof rec);
    }
}

void vf_writer_derive_uuid(VfWriter *w, const char *purpose, uint8_t uuid[16])
{
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    uint8_t fp[32];
    gsize len = sizeof fp;
    if (w->fingerprint) {
        /* Copy so the running fingerprint stays usable. */
        g_autoptr(GChecksum) copy = g_checksum_copy(w->fingerprint);
        g_checksum_get_digest(copy, fp, &len);
    } else {
        memcpy(fp, w->disk->identity, sizeof fp);
    }
    uint8_t size_be[8];
    vf_put_be64(size_be, w->disk->size);
    g_checksum_update(ck, (const guchar *)purpose, (gssize)strlen(purpose));
    g_checksum_update(ck, size_be, sizeof size_be);
    g_checksum_update(ck, fp, sizeof fp);
    uint8_t d[32];
    len = sizeof d;
    g_checksum_get_digest(ck, d, &len);
    memcpy(uuid, d, 16);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x50); /* version 5: name-based (SHA) */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}
