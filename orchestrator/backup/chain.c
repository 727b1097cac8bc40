/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chain.c — `--incremental DIR`: the backup in DIR (its NAME.report.json),
 * the checkpoint it made, and for each disk the qcow2 the new backup builds
 * on. A disk is incremental when the checkpoint still exists on the domain
 * and tracks it with a bitmap, DIR holds its qcow2 and its size did not
 * change; otherwise it is copied whole and the report says why.
 */
#include "job.h"

#include "util/exit-codes.h"
#include "util/util.h"
#include "virt/jobs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The parent's NAME.report.json, checked to be a backup of this domain. */
static JsonObject *parent_report(Backup *b, JsonParser *p, GError **error)
{
    g_autofree char *file = g_strdup_printf("%s.report.json", b->name);
    g_autofree char *path = g_build_filename(b->parent_dir, file, NULL);
    if (!json_parser_load_from_file(p, path, error)) {
        g_prefix_error(error, "--incremental %s: not a vmforge backup of %s: ", b->o->incremental,
                       b->name);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonObject *dom = o && json_object_has_member(o, "domain")
                          ? json_object_get_object_member(o, "domain")
                          : NULL;
    const char *uuid = dom ? json_object_get_string_member_with_default(dom, "uuid", "") : "";
    if (!o || g_strcmp0(json_object_get_string_member_with_default(o, "kind", ""), "backup") ||
        strcmp(uuid, b->uuid) != 0) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                    "--incremental %s: %s is not a backup of %s (UUID %s)", b->o->incremental,
                    path, b->name, b->uuid);
        return NULL;
    }
    return o;
}

/* The parent's qcow2 of disk `target` (in DIR, whatever path the report
 * recorded: the folders may have moved), and its virtual size. */
static char *parent_qcow2(Backup *b, JsonObject *report, const char *target, uint64_t *vsize)
{
    JsonArray *arts = json_object_has_member(report, "artefacts")
                          ? json_object_get_array_member(report, "artefacts")
                          : NULL;
    for (guint i = 0; arts && i < json_array_get_length(arts); i++) {
        JsonObject *a = json_array_get_object_element(arts, i);
        if (g_strcmp0(json_object_get_string_member_with_default(a, "disk", ""), target) ||
            g_strcmp0(json_object_get_string_member_with_default(a, "format", ""), "qcow2"))
            continue;
        g_autofree char *base =
            g_path_get_basename(json_object_get_string_member_with_default(a, "path", "?"));
        char *path = g_build_filename(b->parent_dir, base, NULL);
        *vsize = (uint64_t)json_object_get_int_member_with_default(a, "virtual_size", 0);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            return path;
        g_free(path);
    }
    return NULL;
}

/* Whether disk `d` can be incremental; if not, d->full_why says why. */
static void plan_disk(Backup *b, JsonObject *report, Disk *d)
{
    const char *t = d->d->target;
    uint64_t vsize = 0;
    g_autofree char *img = NULL;
    if (strcmp(d->format, "qcow2") != 0)
        d->full_why = g_strdup_printf("%s is a raw disk: no dirty bitmaps, so always whole", t);
    else if (d->d->readonly)
        d->full_why = g_strdup_printf("%s is read-only: read whole, where it is", t);
    else if (!vmf_checkpoint_has_bitmap(b->dom, b->parent_checkpoint, t))
        d->full_why = g_strdup_printf("checkpoint %s does not track %s", b->parent_checkpoint, t);
    else if (!(img = parent_qcow2(b, report, t, &vsize)))
        d->full_why = g_strdup_printf("%s holds no qcow2 of %s to build on (--to qcow2 makes one)",
                                      b->o->incremental, t);
    else if (vsize != d->capacity)
        d->full_why = g_strdup_printf("%s changed size since that backup", t);
    if (d->full_why)
        return;
    d->incremental = true;
    d->parent_image = g_steal_pointer(&img);
    g_autofree char *base = g_path_get_basename(d->parent_image);
    d->backing_name = g_build_filename(b->parent_rel, base, NULL);
}

/* The reason the whole backup is full; fatal with --incremental-only. */
static int go_full(Backup *b, char *why, GError **error)
{
    b->full_why = why;
    if (b->o->incremental_only) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                    "%s; --incremental-only: no backup taken", why);
        return VMF_EXIT_FAILURE;
    }
    say(b, "%s: taking a full backup", why);
    return VMF_EXIT_OK;
}

static int locate_parent(Backup *b, GError **error)
{
    char *real = realpath(b->o->incremental, NULL);
    if (!real || !g_file_test(real, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT, "--incremental %s: %s",
                    b->o->incremental, real ? "not a folder" : g_strerror(errno));
        free(real);
        return VMF_EXIT_INPUT;
    }
    b->parent_dir = g_strdup(real);
    free(real);
    if (strcmp(b->parent_dir, b->outdir) == 0) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_USAGE,
                    "--incremental %s is the output folder: each backup needs a folder of its own",
                    b->o->incremental);
        return VMF_EXIT_USAGE;
    }
    b->parent_rel = vmf_relative_path(b->outdir, b->parent_dir);
    return VMF_EXIT_OK;
}

int backup_plan_incremental(Backup *b, GError **error)
{
    if (!b->o->incremental)
        return VMF_EXIT_OK;
    int rc = locate_parent(b, error);
    if (rc)
        return rc;
    if (b->method != METHOD_API)
        return go_full(b,
                       g_strdup_printf("%s is %s: incremental backups need a running domain and "
                                       "the backup API",
                                       b->name, b->active ? "backed up by a snapshot" : "shut off"),
                       error);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *report = parent_report(b, p, error);
    if (!report)
        return VMF_EXIT_INPUT;
    const char *ck = json_object_get_string_member_with_default(report, "checkpoint", NULL);
    if (!ck)
        return go_full(b,
                       g_strdup_printf("the backup in %s made no checkpoint (not taken with the "
                                       "backup API, or no qcow2 disk)",
                                       b->o->incremental),
                       error);
    b->parent_checkpoint = g_strdup(ck);
    if (!vmf_checkpoint_has_bitmap(b->dom, ck, NULL))
        return go_full(b,
                       g_strdup_printf("checkpoint %s of the backup in %s no longer exists on %s "
                                       "(the domain was redefined, a disk replaced, or it was "
                                       "deleted)",
                                       ck, b->o->incremental, b->name),
                       error);
    bool any = false;
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        plan_disk(b, report, d);
        any |= d->incremental;
        if (d->full_why)
            say(b, "%s: whole (%s)", d->d->target, d->full_why);
    }
    if (!any)
        return go_full(b, g_strdup("no disk can be backed up incrementally"), error);
    return VMF_EXIT_OK;
}
