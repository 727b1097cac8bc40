/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * to-pool.c — one image into a libvirt storage pool, on this host or any
 * other: a new volume filled with a sparse stream (only the file's data
 * crosses the wire), then the pool refreshed so that libvirt reads the
 * image's format and virtual size from its header.
 */
#include "item.h"

#include "util/exit-codes.h"
#include "util/progress.h"
#include "util/signals.h"
#include "virt/storage.h"

#include <string.h>

/* The image formats a pool volume can be (an OVA or raw.gz is not a disk). */
static bool pool_format(const char *format)
{
    static const char *const ok[] = {"qcow2", "raw", "vmdk", "vdi", "vhd", "vhdx"};
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        if (strcmp(ok[i], format) == 0)
            return true;
    }
    return false;
}

/* The volume is not there, or --force removed it. */
static int make_room(const PublishRun *run, VmfPool *p, const PublishDest *d, const char *name,
                     GError **error)
{
    g_autofree char *old = vmf_vol_find(p, name, NULL, error);
    if (!old)
        return error && *error ? VMF_EXIT_FAILURE : VMF_EXIT_OK;
    if (!run->o->force) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                    "volume %s exists in pool %s of %s (%s): give --force to replace it", name,
                    d->pool, d->uri, old);
        return VMF_EXIT_OUTPUT;
    }
    if (!vmf_vol_delete(p, name)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "cannot delete volume %s in pool %s of %s to replace it", name, d->pool,
                    d->uri);
        return VMF_EXIT_OUTPUT;
    }
    return VMF_EXIT_OK;
}

int publish_to_pool(const PublishRun *run, const PublishDest *d, const PublishItem *it,
                    PublishRecord *rec, GError **error)
{
    if (!pool_format(it->format)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: a %s file is not a disk a storage pool can hold (qcow2, raw, vmdk, vdi, "
                    "vhd, vhdx)",
                    it->path, it->format);
        return VMF_EXIT_USAGE;
    }
    g_autofree char *base = g_path_get_basename(it->path);
    const char *name = d->volume ? d->volume : run->o->name ? run->o->name : base;
    g_autoptr(VmfVirt) v = vmf_virt_open(d->uri, error);
    g_autoptr(VmfPool) p = v ? vmf_pool_host(v, d->pool, error) : NULL;
    if (!p)
        return VMF_EXIT_FAILURE;
    int rc = make_room(run, p, d, name, error);
    if (rc)
        return rc;
    g_autoptr(VmfProgress) bar = vmf_progress_new("publish", run->o->progress);
    VmfTransfer t = {.progress = vmf_transfer_progress, .data = bar, .cancel = run->cancel};
    g_autofree char *path = vmf_vol_upload_file(p, name, it->path, &t, error);
    g_autofree char *summary = g_strdup_printf("%s: %s", name, path ? "sent" : "failed");
    vmf_progress_end(bar, summary);
    rec->bytes_sent = t.bytes;
    if (!path)
        return vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE;
    vmf_pool_refresh(p); /* libvirt reads the format from the header */
    rec->name = g_strdup(name);
    rec->id = g_strdup(path);
    rec->url = g_strdup_printf("%s#%s/%s", vmf_virt_uri(v), d->pool, name);
    return VMF_EXIT_OK;
}
