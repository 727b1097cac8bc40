/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c — the registry of disk format writers. See writer.h. */
#include "writer.h"

const VfWriterOps *const vf_writers[] = {
    &vf_writer_qcow2, &vf_writer_vmdk,  &vf_writer_vdi, &vf_writer_vhd,  &vf_writer_vhdx,
    &vf_writer_raw,   &vf_writer_rawgz, &vf_writer_ova, NULL,
};

const VfWriterOps *vf_writer_find(const char *name)
{
    for (const VfWriterOps *const *w = vf_writers; *w; w++)
        if (strcmp((*w)->name, name) == 0)
            return *w;
    return NULL;
}

int vf_writer_write_units(VfWriter *w, const VfBatch *b, bool full_units, GError **error)
{
    unsigned i = 0;
    while (i < b->n_units) {
        unsigned j = i;
        bool zero = b->units[i].zero;
        uint64_t len = 0;
        while (j < b->n_units && b->units[j].zero == zero) {
            len += full_units ? VF_UNIT_SIZE : b->units[j].len;
            j++;
        }
        int r = zero ? vf_sink_write_zeros(w->sink, len, error)
                     : vf_sink_write(w->sink, b->units[i].data, (size_t)len, error);
        if (r < 0)
            return r;
        i = j;
    }
    return 0;
}
