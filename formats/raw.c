/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * raw.c — sparse raw: the disk's bytes, with holes wherever a 64 KiB unit is
 * all zero. Virtual size: exactly the source size.
 */
#include "writer.h"

static int raw_open(VfWriter *w, GError **error)
{
    (void)error;
    w->virtual_size = w->disk->size;
    w->needs = 0;
    return 0;
}

static int raw_write(VfWriter *w, const VfBatch *b, GError **error)
{
    if (b->zero_span)
        return vf_sink_write_zeros(w->sink, b->length, error);
    return vf_writer_write_units(w, b, false, error);
}

const VfWriterOps vf_writer_raw = {
    .name = "raw",
    .extension = "raw",
    .summary = "raw disk, sparse (holes where the disk is zero)",
    .size_rule = "exactly the source size",
    .open = raw_open,
    .write = raw_write,
};
