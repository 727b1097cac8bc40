/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "job.h"

#include "util/exit-codes.h"
#include "util/json.h"
#include "vmforge-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

static int write_staged(Backup *b, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(b->staging, name, NULL);
    if (!g_file_set_contents(path, text, -1, error))
        return -EIO;
    return 0;
}

/* "incremental": the backup this one builds on (its folder relative to
 * this one, so both can move together, and its checkpoint); or why an
 * incremental backup was asked for and a full one taken. */
static void report_parent(Backup *b, JsonBuilder *j)
{
    bool inc = false;
    for (guint i = 0; i < b->disks->len; i++)
        inc |= g_array_index(b->disks, Disk, i).incremental;
    json_builder_set_member_name(j, "incremental");
    if (!inc) {
        json_builder_add_null_value(j);
    } else {
        json_builder_begin_object(j);
        vmf_json_str(j, "parent", b->parent_rel);
        vmf_json_str(j, "parent_checkpoint", b->parent_checkpoint);
        json_builder_end_object(j);
    }
    vmf_json_str(j, "full_reason", b->full_why);
}

static char *report_json(Backup *b, double seconds)
{
    g_autoptr(JsonBuilder) j = json_builder_new();
    json_builder_begin_object(j);
    vmf_json_int(j, "report_format", VMF_REPORT_FORMAT);
    vmf_json_str(j, "kind", "backup");
    json_builder_set_member_name(j, "versions");
    json_builder_begin_object(j);
    vmf_json_str(j, "vmforge", VMFORGE_VERSION);
    vmf_json_str(j, "libvirt", b->libvirt_version);
    vmf_json_str(j, "qemu", b->qemu_version);
    json_builder_end_object(j);
    g_autofree char *started = g_date_time_format_iso8601(b->started);
    vmf_json_str(j, "started", started);
    vmf_json_ms(j, "milliseconds", seconds);
    vmf_json_str(j, "output_dir", b->outdir);
    json_builder_set_member_name(j, "domain");
    json_builder_begin_object(j);
    vmf_json_str(j, "name", b->name);
    vmf_json_str(j, "uuid", b->uuid);
    vmf_json_str(j, "state", b->active ? "running" : "shut off");
    vmf_json_int(j, "vcpus", b->info->vcpus);
    vmf_json_int(j, "memory", b->info->memory);
    vmf_json_str(j, "firmware", b->info->firmware);
    json_builder_end_object(j);
    vmf_json_str(j, "method", b->method == METHOD_API        ? "backup-api"
                              : b->method == METHOD_SNAPSHOT ? "snapshot"
                                                             : "offline");
    vmf_json_str(j, "method_reason", b->method_why);
    vmf_json_str(j, "checkpoint", b->checkpoint);
    report_parent(b, j);
    vmf_json_str(j, "consistency", b->consistency);
    vmf_json_str(j, "quiesce_error",
                 strcmp(b->consistency, "crash-consistent") == 0 ? b->quiesce_note : NULL);
    json_builder_set_member_name(j, "generalized");
    json_builder_add_boolean_value(j, b->o->generalize);
    json_builder_set_member_name(j, "disks");
    json_builder_begin_array(j);
    for (guint i = 0; i < b->disks->len; i++) {
        const Disk *d = &g_array_index(b->disks, Disk, i);
        json_builder_begin_object(j);
        vmf_json_str(j, "target", d->d->target);
        vmf_json_str(j, "bus", d->d->bus);
        vmf_json_str(j, "source", d->path);
        vmf_json_str(j, "format", d->format);
        vmf_json_str(j, "read", d->chain);
        vmf_json_int(j, "virtual_size", d->src ? d->src->size : 0);
        json_builder_set_member_name(j, "snapshot");
        json_builder_add_boolean_value(j, d->overlay != NULL);
        if (b->method == METHOD_API) {
            vmf_json_str(j, "mode", d->incremental ? "incremental" : "full");
            vmf_json_str(j, "mode_reason", d->full_why);
            vmf_json_str(j, "backing_file", d->backing_name);
        }
        json_builder_end_object(j);
    }
    json_builder_end_array(j);
    json_builder_set_member_name(j, "nics");
    json_builder_begin_array(j);
    for (guint i = 0; i < b->info->nics->len; i++) {
        const VmfDomainNic *n = g_ptr_array_index(b->info->nics, i);
        json_builder_begin_object(j);
        vmf_json_str(j, "model", n->model);
        vmf_json_str(j, "mac", n->mac);
        vmf_json_str(j, "network", n->network);
        json_builder_end_object(j);
    }
    json_builder_end_array(j);
    json_builder_end_array(b->report_arts);
    json_builder_set_member_name(j, "artefacts");
    json_builder_add_value(j, json_builder_get_root(b->report_arts));
    json_builder_end_object(j);
    return vmf_json_text(j);
}

/* Where the file `name` waits for its name: the staging folder, or for an
 * incremental qcow2 the output folder (where its backing file's relative
 * name resolves). */
static char *waiting(Backup *b, const char *name)
{
    for (guint i = 0; i < b->disks->len; i++) {
        const Disk *d = &g_array_index(b->disks, Disk, i);
        g_autofree char *q = backup_output_name(b, d, &vf_writer_qcow2);
        if (d->incremental && strcmp(q, name) == 0)
            return g_strdup(d->part);
    }
    return g_build_filename(b->staging, name, NULL);
}

/* Moves every staged file to its final name. Returns 0 or -errno (the
 * files already moved are removed again). */
static int publish(Backup *b, GError **error)
{
    for (guint i = 0; i < b->files->len; i++) {
        g_autofree char *from = waiting(b, b->files->pdata[i]);
        g_autofree char *to = g_build_filename(b->outdir, b->files->pdata[i], NULL);
        int r = b->o->force ? rename(from, to)
                            : renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
        if (r < 0) {
            int e = errno;
            for (guint j = 0; j < i; j++) {
                g_autofree char *done = g_build_filename(b->outdir, b->files->pdata[j], NULL);
                g_unlink(done);
            }
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", to,
                        g_strerror(e));
            return -e;
        }
    }
    return 0;
}

int backup_keep(Backup *b, double seconds, char **report, GError **error)
{
    g_autofree char *xml_name = g_strdup_printf("%s.xml", b->name);
    g_autofree char *report_name = g_strdup_printf("%s.report.json", b->name);
    *report = report_json(b, seconds);
    if (write_staged(b, xml_name, b->xml, error) < 0 ||
        write_staged(b, report_name, *report, error) < 0 || publish(b, error) < 0)
        return VMF_EXIT_OUTPUT;
    return VMF_EXIT_OK;
}
