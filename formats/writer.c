/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c — the registry of disk format writers. See writer.h. */
#include "writer.h"

const VfWriterOps *const vf_writers[] = {
    &vf_writer_qcow2, &vf_writer_vmdk, &vf_writer_vdi, &vf_writer_vhd,
    &vf_writer_raw,   &vf_writer_rawgz, NULL,
};

const VfWriterOps *vf_writer_find(const char *name)
{
    for (const VfWriterOps *const *w = vf_writers; *w; w++)
        if (strcmp((*w)->name, name) == 0)
            return *w;
    return NULL;
}
