/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * publish.c — the publish pipeline: the images of the inputs to every
 * destination, one at a time, each recorded; the records written into the
 * report.json the images came from.
 */
#include "item.h"

#include "util/exit-codes.h"
#include "util/json.h"
#include "util/signals.h"
#include "util/util.h"

#include <stdio.h>
#include <string.h>

#define CMD "publish"

void publish_dest_free(PublishDest *d)
{
    if (!d)
        return;
    g_free(d->text);
    g_free(d->cloud);
    g_free(d->uri);
    g_free(d->pool);
    g_free(d->volume);
    g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PublishDest, publish_dest_free)

void publish_record_free(PublishRecord *r)
{
    if (!r)
        return;
    g_free(r->destination);
    g_free(r->path);
    g_free(r->target);
    g_free(r->name);
    g_free(r->id);
    g_free(r->url);
    g_free(r->report);
    g_free(r);
}

/* libvirt:URI/POOL[/NAME]: the URI ends with its first path segment
 * (qemu:///system, qemu+ssh://root@kvm3/system). */
static int parse_libvirt(PublishDest *d, const char *rest, GError **error)
{
    const char *scheme_end = strstr(rest, "://");
    const char *path = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    const char *seg_end = path ? strchr(path + 1, '/') : NULL;
    g_auto(GStrv) parts = seg_end ? g_strsplit(seg_end + 1, "/", 3) : NULL;
    if (!parts || !parts[0] || !*parts[0] || (parts[1] && (!*parts[1] || parts[2]))) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--to %s: give libvirt:URI/POOL[/NAME], e.g. "
                    "libvirt:qemu+ssh://root@kvm3/system/images",
                    d->text);
        return -1;
    }
    d->uri = g_strndup(rest, (gsize)(seg_end - rest));
    d->pool = g_strdup(parts[0]);
    d->volume = g_strdup(parts[1]);
    return 0;
}

PublishDest *publish_dest_parse(const char *text, GError **error)
{
    g_autoptr(PublishDest) d = g_new0(PublishDest, 1);
    d->text = g_strdup(text);
    if (strcmp(text, "glance") == 0 || g_str_has_prefix(text, "glance:")) {
        d->kind = DEST_GLANCE;
        d->cloud = text[6] && text[7] ? g_strdup(text + 7) : NULL;
        return g_steal_pointer(&d);
    }
    if (g_str_has_prefix(text, "libvirt:")) {
        d->kind = DEST_LIBVIRT;
        return parse_libvirt(d, text + 8, error) < 0 ? NULL : g_steal_pointer(&d);
    }
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "--to %s: give glance:[CLOUD] or libvirt:URI/POOL[/NAME]", text);
    return NULL;
}

/* Formats a destination takes; the others are left out with a note unless
 * --only asked for them. */
static bool accepts(const PublishDest *d, const PublishItem *it)
{
    if (strcmp(it->format, "raw.gz") == 0)
        return false; /* neither Glance nor a pool has a format for it */
    return d->kind == DEST_GLANCE || strcmp(it->format, "ova");
}

static void record_json(JsonBuilder *b, const PublishRecord *r)
{
    json_builder_begin_object(b);
    vmf_json_str(b, "destination", r->destination);
    vmf_json_str(b, "target", r->target);
    vmf_json_str(b, "path", r->path);
    vmf_json_str(b, "name", r->name);
    vmf_json_str(b, "id", r->id);
    vmf_json_str(b, "url", r->url);
    vmf_json_int(b, "bytes_sent", r->bytes_sent);
    vmf_json_ms(b, "milliseconds", r->seconds);
    json_builder_set_member_name(b, "reused");
    json_builder_add_boolean_value(b, r->reused);
    json_builder_end_object(b);
}

/* A record of the report that this run replaces (same file, same place). */
static bool replaced(JsonObject *old, GPtrArray *recs)
{
    for (guint i = 0; i < recs->len; i++) {
        const PublishRecord *r = recs->pdata[i];
        if (g_strcmp0(json_object_get_string_member_with_default(old, "path", ""), r->path) == 0 &&
            g_strcmp0(json_object_get_string_member_with_default(old, "destination", ""),
                      r->destination) == 0)
            return true;
    }
    return false;
}

/* report.json gets "published": what it had there, with this run's records
 * in place of older ones of the same file and destination. */
static int update_report(const char *path, GPtrArray *recs, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_file(p, path, error))
        return -1;
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    JsonArray *old = json_object_get_array_member(root, "published");
    for (guint i = 0; old && i < json_array_get_length(old); i++) {
        JsonObject *o = json_array_get_object_element(old, i);
        if (o && !replaced(o, recs))
            json_builder_add_value(b, json_node_copy(json_array_get_element(old, i)));
    }
    for (guint i = 0; i < recs->len; i++) {
        record_json(b, recs->pdata[i]);
    }
    json_builder_end_array(b);
    json_object_set_member(root, "published", json_builder_get_root(b));
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_pretty(g, TRUE);
    json_generator_set_root(g, json_parser_get_root(p));
    g_autofree char *text = json_generator_to_data(g, NULL);
    g_autofree char *with_nl = g_strconcat(text, "\n", NULL);
    return g_file_set_contents(path, with_nl, -1, error) ? 0 : -1;
}

/* Each report among the inputs gets the records of its images. */
static int update_reports(char **inputs, GPtrArray *recs)
{
    int rc = 0;
    for (char **in = inputs; in && *in; in++) {
        if (!g_str_has_suffix(*in, ".json"))
            continue;
        g_autoptr(GPtrArray) mine = g_ptr_array_new();
        for (guint i = 0; i < recs->len; i++) {
            const PublishRecord *r = recs->pdata[i];
            if (r->id && g_strcmp0(r->report, *in) == 0)
                g_ptr_array_add(mine, recs->pdata[i]);
        }
        g_autoptr(GError) e = NULL;
        if (mine->len && update_report(*in, mine, &e) < 0) {
            vmf_error(CMD, "%s: cannot record what was published: %s", *in, e->message);
            rc = VMF_EXIT_OUTPUT;
        }
    }
    return rc;
}

/* One item to one destination, timed and recorded. */
static int send_one(const PublishRun *run, VmfOsSession *s, const PublishDest *d,
                    const PublishItem *it, GPtrArray *recs)
{
    PublishRecord *rec = g_new0(PublishRecord, 1);
    rec->destination = g_strdup(d->text);
    rec->path = g_strdup(it->path);
    rec->target = g_strdup(it->target);
    rec->report = g_strdup(it->report);
    g_ptr_array_add(recs, rec);
    g_autoptr(GError) e = NULL;
    gint64 t0 = g_get_monotonic_time();
    int rc = d->kind == DEST_GLANCE ? publish_to_glance(run, s, d, it, rec, &e)
                                    : publish_to_pool(run, d, it, rec, &e);
    rec->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    if (rc) {
        vmf_error(CMD, "%s -> %s: %s", it->path, d->text, e ? e->message : "failed");
        return rc;
    }
    vmf_progress_say(run->o->progress, CMD, "%s -> %s: %s %s (%" G_GUINT64_FORMAT " bytes sent)",
                     it->path, d->text, rec->reused ? "reused" : "published", rec->id,
                     rec->bytes_sent);
    return VMF_EXIT_OK;
}

/* The Glance session of a destination (logging in once). */
static VmfOsSession *glance_login(const PublishRun *run, const PublishDest *d, int *rc)
{
    g_auto(VmfOsAuth) a = {0};
    g_autoptr(GError) e = NULL;
    if (publish_cloud_auth(d->cloud, &a, &e) < 0) {
        vmf_error(CMD, "%s", e->message);
        *rc = VMF_EXIT_INPUT;
        return NULL;
    }
    VmfOsSession *s = vmf_os_login(&a, run->cancel, &e);
    if (!s) {
        vmf_error(CMD, "%s", e->message);
        *rc = vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE;
    }
    return s;
}

/* An image the destination cannot take: an error when it was asked for
 * (--only, or a file given as such), else left out with a note. */
static int check_accepted(const PublishRun *run, const PublishDest *d, GPtrArray *items)
{
    for (guint i = 0; i < items->len; i++) {
        const PublishItem *it = items->pdata[i];
        if (!accepts(d, it) && (run->o->only || !it->target)) {
            vmf_error(CMD, "%s: %s takes no %s file", it->path, d->text, it->format);
            return VMF_EXIT_USAGE;
        }
    }
    return VMF_EXIT_OK;
}

/* Every item the destination takes. */
static int send_all(const PublishRun *run, const PublishDest *d, GPtrArray *items, GPtrArray *recs)
{
    int rc = check_accepted(run, d, items);
    if (rc)
        return rc;
    g_autoptr(VmfOsSession) s = d->kind == DEST_GLANCE ? glance_login(run, d, &rc) : NULL;
    for (guint i = 0; rc == VMF_EXIT_OK && i < items->len; i++) {
        const PublishItem *it = items->pdata[i];
        if (accepts(d, it))
            rc = send_one(run, s, d, it, recs);
        else
            vmf_progress_say(run->o->progress, CMD, "%s: left out (%s takes no %s file)", it->path,
                             d->text, it->format);
    }
    return rc;
}

static void print_json(GPtrArray *recs)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "published");
    json_builder_begin_array(b);
    for (guint i = 0; i < recs->len; i++) {
        const PublishRecord *r = recs->pdata[i];
        if (r->id)
            record_json(b, r);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autofree char *text = vmf_json_text(b);
    fputs(text, stdout);
}

static void dry_run(GPtrArray *items, GPtrArray *dests)
{
    for (guint j = 0; j < dests->len; j++) {
        const PublishDest *d = dests->pdata[j];
        for (guint i = 0; i < items->len; i++) {
            const PublishItem *it = items->pdata[i];
            printf("%s %s (%s, %" G_GUINT64_FORMAT " bytes) -> %s as %s\n",
                   accepts(d, it) ? "would send" : "would leave out", it->path, it->format,
                   it->file_size, d->text, it->name);
        }
    }
}

int vmf_publish(const VmfPublishOptions *o)
{
    vmf_signals_install();
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) items = publish_items(o->inputs, o->only, &e);
    if (!items) {
        vmf_error(CMD, "%s", e->message);
        return VMF_EXIT_INPUT;
    }
    if (o->name && items->len > 1) {
        vmf_error(CMD, "--name names one image; %u are selected (use --only)", items->len);
        return VMF_EXIT_USAGE;
    }
    g_autoptr(GPtrArray) dests = g_ptr_array_new_with_free_func((GDestroyNotify)publish_dest_free);
    for (char **t = o->to; t && *t; t++) {
        PublishDest *d = publish_dest_parse(*t, &e);
        if (!d) {
            vmf_error(CMD, "%s", e->message);
            return VMF_EXIT_USAGE;
        }
        g_ptr_array_add(dests, d);
    }
    if (o->dry_run) {
        dry_run(items, dests);
        return VMF_EXIT_OK;
    }
    PublishRun run = {.o = o, .cancel = &vmf_interrupted};
    g_autoptr(GPtrArray) recs = g_ptr_array_new_with_free_func((GDestroyNotify)publish_record_free);
    int rc = VMF_EXIT_OK;
    for (guint j = 0; rc == VMF_EXIT_OK && j < dests->len; j++)
        rc = send_all(&run, dests->pdata[j], items, recs);
    int wrc = update_reports(o->inputs, recs);
    if (o->json)
        print_json(recs);
    return rc ? rc : wrc;
}
