/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fingerprint.h"

#include <string.h>

void vmf_fp_add(VmfFingerprint *fp, const char *label, const char *value)
{
    g_autofree char *head = g_strdup_printf("%s=%zu:", label, value ? strlen(value) : (size_t)0);
    g_checksum_update(fp->sum, (const guchar *)head, (gssize)strlen(head));
    if (value)
        g_checksum_update(fp->sum, (const guchar *)value, (gssize)strlen(value));
}

void vmf_fp_add_u64(VmfFingerprint *fp, const char *label, uint64_t value)
{
    g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, value);
    vmf_fp_add(fp, label, v);
}

int vmf_fp_add_file(VmfFingerprint *fp, const char *label, const char *path, GError **error)
{
    g_autofree char *digest = fp->file_digest(fp->data, path, error);
    if (!digest)
        return -1;
    vmf_fp_add(fp, label, digest);
    return 0;
}
