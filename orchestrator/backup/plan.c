/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "job.h"

#include "util/exit-codes.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void disk_clear(void *p)
{
    Disk *d = p;
    g_free(d->path);
    g_free(d->overlay);
    g_free(d->read_path);
    vf_source_free(d->src);
    g_free(d->chain);
    g_free(d->full_why);
    g_free(d->parent_image);
    g_free(d->backing_name);
    g_free(d->volume);
    g_free(d->target_path);
    g_free(d->part);
}

static void output_clear(void *p)
{
    Output *o = p;
    if (o->options)
        g_hash_table_unref(o->options);
}

int backup_parse_formats(Backup *b)
{
    g_autoptr(GError) err = NULL;
    b->outs = g_array_new(false, true, sizeof(Output));
    g_array_set_clear_func(b->outs, output_clear);
    for (char **f = b->o->formats; f && *f; f++) {
        g_auto(GStrv) parts = g_strsplit(*f, ",", -1);
        for (char **p = parts; *p; p++) {
            g_strstrip(*p);
            if (!**p)
                continue;
            Output out = {0};
            if (vf_writer_parse_spec(*p, &out.ops, &out.options, &err) < 0) {
                vmf_error(CMD, "--to %s: %s", *p, err->message);
                return VMF_EXIT_USAGE;
            }
            for (guint i = 0; i < b->outs->len; i++)
                if (g_array_index(b->outs, Output, i).ops == out.ops) {
                    g_hash_table_unref(out.options);
                    vmf_error(CMD, "--to names %s twice: each disk gets one file per format",
                              out.ops->name);
                    return VMF_EXIT_USAGE;
                }
            b->want_ova |= out.ops == &vf_writer_ova;
            g_array_append_val(b->outs, out);
        }
    }
    bool qcow2 = false;
    for (guint i = 0; i < b->outs->len; i++)
        qcow2 |= g_array_index(b->outs, Output, i).ops == &vf_writer_qcow2;
    /* An incremental backup is a qcow2 on its parent's: always made. */
    if (b->outs->len == 0 || (b->o->incremental && !qcow2)) {
        if (b->outs->len)
            say(b, "--incremental: each disk's qcow2 is made too (the incremental image, on "
                   "its parent's)");
        Output out = {0};
        vf_writer_parse_spec("qcow2", &out.ops, &out.options, NULL);
        g_array_append_val(b->outs, out);
    }
    if (b->o->incremental && b->o->generalize) {
        vmf_error(CMD, "--generalize and --incremental do not go together: an incremental "
                       "backup holds the domain's own clusters");
        return VMF_EXIT_USAGE;
    }
    if (b->o->profile && !b->want_ova) {
        vmf_error(CMD, "--profile is for OVAs: add ova to --to");
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

int backup_connect_domain(Backup *b, GError **error)
{
    b->v = vmf_virt_open(b->o->uri, error);
    if (!b->v)
        return (*error)->code == 2 ? VMF_EXIT_USAGE : VMF_EXIT_FAILURE;
    virConnectPtr c = vmf_virt_conn(b->v);
    b->dom = virDomainLookupByName(c, b->o->domain);
    if (!b->dom)
        b->dom = virDomainLookupByUUIDString(c, b->o->domain);
    if (!b->dom) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "no domain \"%s\" on %s (virsh -c %s list --all lists them)", b->o->domain,
                    vmf_virt_uri(b->v), vmf_virt_uri(b->v));
        return VMF_EXIT_INPUT;
    }
    b->name = g_strdup(virDomainGetName(b->dom));
    virDomainGetUUIDString(b->dom, b->uuid);
    vmf_virt_version_parts(b->v, &b->libvirt_version, &b->qemu_version);
    int active = virDomainIsActive(b->dom);
    if (active < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", b->name, vmf_virt_last_error());
        return VMF_EXIT_FAILURE;
    }
    b->active = active == 1;
    /* The live definition has the disks as they are now; the saved one is
     * the persistent definition (no secrets: no VIR_DOMAIN_XML_SECURE). */
    char *live = virDomainGetXMLDesc(b->dom, 0);
    char *saved = virDomainIsPersistent(b->dom) == 1
                      ? virDomainGetXMLDesc(b->dom, VIR_DOMAIN_XML_INACTIVE)
                      : NULL;
    if (!live) {
        g_set_error(error, vmf_virt_error_quark(), 1, "reading the definition of %s: %s", b->name,
                    vmf_virt_last_error());
        free(saved);
        return VMF_EXIT_FAILURE;
    }
    b->info = vmf_domain_info_parse(live, strlen(live), error);
    b->xml = g_strdup(saved ? saved : live);
    free(live);
    free(saved);
    if (!b->info) {
        g_prefix_error(error, "%s: ", b->name);
        return VMF_EXIT_INPUT;
    }
    return VMF_EXIT_OK;
}

/* Each disk's image on this host, refusing what cannot be read as a file. */
int backup_resolve_disks(Backup *b, GError **error)
{
    b->disks = g_array_new(false, true, sizeof(Disk));
    g_array_set_clear_func(b->disks, disk_clear);
    for (guint i = 0; i < b->info->disks->len; i++) {
        const VmfDomainDisk *dd = g_ptr_array_index(b->info->disks, i);
        Disk d = {.d = dd};
        switch (dd->kind) {
        case VMF_DISK_NETWORK:
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is on network storage (%s, protocol %s): vmforge backup "
                        "reads disks as files on this host; back that volume up where it is "
                        "stored",
                        dd->target, b->name, dd->source, dd->protocol ? dd->protocol : "?");
            return -EINVAL;
        case VMF_DISK_OTHER:
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is a <disk type='%s'>, which vmforge backup cannot read "
                        "(file, block and volume disks can be)",
                        dd->target, b->name, dd->type_name);
            return -EINVAL;
        case VMF_DISK_VOLUME: {
            virStoragePoolPtr pool =
                dd->pool ? virStoragePoolLookupByName(vmf_virt_conn(b->v), dd->pool) : NULL;
            virStorageVolPtr vol =
                pool && dd->volume ? virStorageVolLookupByName(pool, dd->volume) : NULL;
            char *path = vol ? virStorageVolGetPath(vol) : NULL;
            if (vol)
                virStorageVolFree(vol);
            if (pool)
                virStoragePoolFree(pool);
            if (!path || path[0] != '/') {
                g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                            "disk %s of %s: volume %s has no local path (%s)", dd->target, b->name,
                            dd->source ? dd->source : "?", path ? path : vmf_virt_last_error());
                free(path);
                return -EINVAL;
            }
            d.path = g_strdup(path);
            free(path);
            break;
        }
        default:
            d.path = g_strdup(dd->source);
        }
        if (!d.path) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s has no source (an empty drive?)", dd->target, b->name);
            return -EINVAL;
        }
        /* libvirt does not probe formats unless told to: neither does vmforge.
         * A disk with no driver type is raw. */
        const char *fmt = dd->driver ? dd->driver : "raw";
        if (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is a %s image (%s); vmforge backup reads raw and qcow2",
                        dd->target, b->name, fmt, d.path);
            g_free(d.path);
            return -EINVAL;
        }
        d.format = strcmp(fmt, "raw") == 0 ? "raw" : "qcow2";
        g_array_append_val(b->disks, d);
    }
    if (b->disks->len == 0) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT, "%s has no disks to back up",
                    b->name);
        return -ENOENT;
    }
    return 0;
}

void backup_skipped_targets(const Backup *b, GPtrArray *names)
{
    for (guint i = 0; i < b->info->skipped->len; i++) {
        const char *s = b->info->skipped->pdata[i]; /* "hdc (cdrom)" → "hdc" */
        g_ptr_array_add(names, g_strndup(s, strcspn(s, " ")));
    }
}

char *backup_output_name(const Backup *b, const Disk *d, const VfWriterOps *ops)
{
    return d ? g_strdup_printf("%s-%s.%s", b->name, d->d->target, ops->extension)
             : g_strdup_printf("%s.%s", b->name, ops->extension);
}

/* Every file the backup makes, refused up front if it exists. */
int backup_plan_outputs(Backup *b, GError **error)
{
    b->files = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < b->disks->len; i++) {
        const Disk *d = &g_array_index(b->disks, Disk, i);
        for (guint s = 0; s < b->outs->len; s++) {
            const VfWriterOps *ops = g_array_index(b->outs, Output, s).ops;
            if (ops != &vf_writer_ova)
                g_ptr_array_add(b->files, backup_output_name(b, d, ops));
        }
    }
    if (b->want_ova)
        g_ptr_array_add(b->files, backup_output_name(b, NULL, &vf_writer_ova));
    g_ptr_array_add(b->files, g_strdup_printf("%s.xml", b->name));
    g_ptr_array_add(b->files, g_strdup_printf("%s.report.json", b->name));
    if (b->o->generalize)
        g_ptr_array_add(b->files, g_strdup_printf("%s-generalize.log", b->name));
    for (guint i = 0; i < b->files->len; i++) {
        g_autofree char *path = g_build_filename(b->outdir, b->files->pdata[i], NULL);
        if (!b->o->force && g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_OUTPUT,
                        "%s exists (--force replaces it)", path);
            return -EEXIST;
        }
    }
    return 0;
}
