/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prune.c — `vmforge backup --prune KEEP DIR...`: of the backup folders
 * given (one domain's), the KEEP newest stay, and so does every folder a
 * kept one builds on (its parent, the parent's parent...). The others lose
 * their checkpoint on the domain (libvirt merges its bitmap into the parent
 * checkpoint, so younger checkpoints still cover everything since theirs)
 * and the files vmforge made in them; a folder left empty is removed.
 */
#include "job.h"

#include "util/exit-codes.h"
#include "util/util.h"
#include "virt/jobs.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *dir;        /* canonical */
    char *report;     /* its NAME.report.json */
    char *name, *uuid;
    GDateTime *started;
    char *checkpoint; /* NULL: none */
    char *parent;     /* canonical folder, or NULL: a full backup */
    GPtrArray *files; /* base names vmforge made there */
    bool keep;
} Entry;

static void entry_free(void *p)
{
    Entry *e = p;
    g_free(e->dir);
    g_free(e->report);
    g_free(e->name);
    g_free(e->uuid);
    if (e->started)
        g_date_time_unref(e->started);
    g_free(e->checkpoint);
    g_free(e->parent);
    if (e->files)
        g_ptr_array_unref(e->files);
    g_free(e);
}

/* The files of the report: its artefacts, NAME.xml, the report itself and
 * a generalize log. */
static GPtrArray *entry_files(JsonObject *o, const char *name, const char *report)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    JsonArray *arts = json_object_has_member(o, "artefacts")
                          ? json_object_get_array_member(o, "artefacts")
                          : NULL;
    for (guint i = 0; arts && i < json_array_get_length(arts); i++) {
        JsonObject *a = json_array_get_object_element(arts, i);
        const char *path = json_object_get_string_member_with_default(a, "path", NULL);
        if (path)
            g_ptr_array_add(files, g_path_get_basename(path));
    }
    g_ptr_array_add(files, g_strdup_printf("%s.xml", name));
    g_ptr_array_add(files, g_strdup_printf("%s-generalize.log", name));
    g_ptr_array_add(files, g_path_get_basename(report));
    return files;
}

/* The one backup report in `dir`. */
static char *find_report(const char *dir, GError **error)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    if (!d)
        return NULL;
    char *found = NULL;
    for (const char *f; (f = g_dir_read_name(d));) {
        if (!g_str_has_suffix(f, ".report.json"))
            continue;
        if (found) {
            g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT,
                        "%s holds more than one backup report: prune one domain's folders", dir);
            g_free(found);
            return NULL;
        }
        found = g_build_filename(dir, f, NULL);
    }
    if (!found)
        g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT,
                    "%s holds no NAME.report.json: not a vmforge backup", dir);
    return found;
}

static Entry *entry_read(const char *given, GError **error)
{
    char *real = realpath(given, NULL);
    if (!real) {
        g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT, "%s: %s", given,
                    g_strerror(errno));
        return NULL;
    }
    Entry *e = g_new0(Entry, 1);
    e->dir = g_strdup(real);
    free(real);
    g_autoptr(JsonParser) p = json_parser_new();
    if (!(e->report = find_report(e->dir, error)) ||
        !json_parser_load_from_file(p, e->report, error)) {
        entry_free(e);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonObject *dom = o && json_object_has_member(o, "domain")
                          ? json_object_get_object_member(o, "domain")
                          : NULL;
    const char *started = o ? json_object_get_string_member_with_default(o, "started", "") : "";
    e->started = g_date_time_new_from_iso8601(started, NULL);
    if (!dom || !e->started ||
        g_strcmp0(json_object_get_string_member_with_default(o, "kind", ""), "backup")) {
        g_set_error(error, vmf_util_error_quark(), VMF_EXIT_INPUT,
                    "%s: not a vmforge backup report", e->report);
        entry_free(e);
        return NULL;
    }
    e->name = g_strdup(json_object_get_string_member_with_default(dom, "name", "?"));
    e->uuid = g_strdup(json_object_get_string_member_with_default(dom, "uuid", "?"));
    e->checkpoint = g_strdup(json_object_get_string_member_with_default(o, "checkpoint", NULL));
    JsonNode *inc = json_object_get_member(o, "incremental");
    if (inc && JSON_NODE_HOLDS_OBJECT(inc)) {
        const char *rel = json_object_get_string_member_with_default(json_node_get_object(inc),
                                                                     "parent", ".");
        g_autofree char *joined = g_build_filename(e->dir, rel, NULL);
        e->parent = g_canonicalize_filename(joined, NULL);
    }
    e->files = entry_files(o, e->name, e->report);
    return e;
}

static gint newest_first(gconstpointer a, gconstpointer b)
{
    const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;
    return g_date_time_compare(y->started, x->started);
}

/* The KEEP newest, and every folder they build on. */
static void mark_kept(GPtrArray *entries, unsigned keep)
{
    g_ptr_array_sort(entries, newest_first);
    for (guint i = 0; i < entries->len && i < keep; i++)
        ((Entry *)entries->pdata[i])->keep = true;
    for (bool changed = true; changed;) {
        changed = false;
        for (guint i = 0; i < entries->len; i++) {
            Entry *e = entries->pdata[i];
            for (guint j = 0; e->keep && e->parent && j < entries->len; j++) {
                Entry *p = entries->pdata[j];
                if (!p->keep && strcmp(p->dir, e->parent) == 0)
                    changed = p->keep = true;
            }
        }
    }
}

static bool has_dir(GPtrArray *entries, const char *dir)
{
    for (guint i = 0; i < entries->len; i++)
        if (strcmp(((Entry *)entries->pdata[i])->dir, dir) == 0)
            return true;
    return false;
}

static GPtrArray *read_entries(const VmfBackupPruneOptions *o, GError **error)
{
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);
    for (char **d = o->dirs; *d; d++) {
        Entry *e = entry_read(*d, error);
        if (!e)
            return NULL;
        if (has_dir(entries, e->dir)) {
            entry_free(e); /* named twice */
            continue;
        }
        if (entries->len && strcmp(((Entry *)entries->pdata[0])->uuid, e->uuid) != 0) {
            g_set_error(error, vmf_util_error_quark(), VMF_EXIT_USAGE,
                        "%s is a backup of %s, %s one of %s: prune one domain's backups at a time",
                        e->dir, e->name, ((Entry *)entries->pdata[0])->dir,
                        ((Entry *)entries->pdata[0])->name);
            entry_free(e);
            return NULL;
        }
        g_ptr_array_add(entries, e);
    }
    return g_steal_pointer(&entries);
}

/* The domain whose checkpoints go, when one of the removed backups made
 * one; NULL (said why) when it is gone. */
static virDomainPtr prune_domain(const VmfBackupPruneOptions *o, GPtrArray *entries, VmfVirt **v,
                                 GError **error)
{
    bool any = false;
    for (guint i = 0; i < entries->len; i++) {
        const Entry *e = entries->pdata[i];
        any |= !e->keep && e->checkpoint;
    }
    if (!any || o->dry_run)
        return NULL;
    if (!(*v = vmf_virt_open(o->uri, error)))
        return NULL;
    const Entry *e = entries->pdata[0];
    virDomainPtr dom = virDomainLookupByUUIDString(vmf_virt_conn(*v), e->uuid);
    if (!dom) {
        vmf_progress_say(o->progress, "prune",
                         "%s (%s) is not on %s any more: only its backups' files are removed",
                         e->name, e->uuid, vmf_virt_uri(*v));
    } else if (virDomainIsActive(dom) != 1) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                    "%s is shut off, and libvirt deletes the checkpoints of running domains only: "
                    "nothing was removed; prune while it runs",
                    e->name);
        virDomainFree(dom);
        dom = NULL;
    }
    return dom;
}

/* The checkpoint and the files of one backup; the folder when that empties it. */
static int prune_one(const VmfBackupPruneOptions *o, Entry *e, virDomainPtr dom)
{
    vmf_progress_say(o->progress, "prune", "%s %s%s%s", o->dry_run ? "would remove" : "removing",
                     e->dir, e->checkpoint ? " and checkpoint " : "",
                     e->checkpoint ? e->checkpoint : "");
    if (o->dry_run)
        return 0;
    int rc = 0;
    g_autoptr(GError) err = NULL;
    if (dom && e->checkpoint && vmf_checkpoint_delete(dom, e->checkpoint, &err) == -EIO) {
        vmf_error(CMD, "%s: %s; its files stay", e->dir, err->message);
        return -EIO;
    }
    for (guint i = 0; i < e->files->len; i++) {
        g_autofree char *path = g_build_filename(e->dir, e->files->pdata[i], NULL);
        if (g_unlink(path) < 0 && errno != ENOENT) {
            vmf_error(CMD, "%s: %s", path, g_strerror(errno));
            rc = -EIO;
        }
    }
    if (g_rmdir(e->dir) < 0 && errno == ENOTEMPTY)
        vmf_progress_say(o->progress, "prune", "%s keeps files vmforge did not make", e->dir);
    return rc;
}

int vmf_backup_prune(const VmfBackupPruneOptions *given)
{
    VmfBackupPruneOptions opts = *given;
    const VmfBackupPruneOptions *o = &opts;
    if (opts.progress == VMF_PROGRESS_AUTO)
        opts.progress = isatty(STDERR_FILENO) ? VMF_PROGRESS_TTY : VMF_PROGRESS_PLAIN;
    VmfProgressMode mode = o->progress;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) entries = read_entries(o, &err);
    if (!entries) {
        vmf_error(CMD, "--prune: %s", err->message);
        return err->code ? err->code : VMF_EXIT_INPUT;
    }
    mark_kept(entries, o->keep);
    g_autoptr(VmfVirt) v = NULL;
    virDomainPtr dom = prune_domain(o, entries, &v, &err);
    if (!dom && err) {
        vmf_error(CMD, "--prune: %s", err->message);
        return VMF_EXIT_FAILURE;
    }
    int rc = VMF_EXIT_OK;
    unsigned kept = 0, removed = 0;
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = entries->pdata[i];
        if (e->keep) {
            kept++;
            vmf_progress_say(mode, "prune", "keeping %s", e->dir);
        } else if (prune_one(o, e, dom) < 0) {
            rc = VMF_EXIT_FAILURE;
        } else {
            removed++;
        }
    }
    if (dom)
        virDomainFree(dom);
    printf("%u backup%s kept, %u %sremoved\n", kept, kept == 1 ? "" : "s", removed,
           o->dry_run ? "to be " : "");
    return rc;
}
