/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * to-glance.c — one image into Glance: reused when the same image is there
 * (by name and content), else created, sent (interoperable import where the
 * cloud offers it, else PUT), checked against the server's own hash once
 * active; deleted again when anything fails on the way.
 */
#include "item.h"

#include "util/digest.h"
#include "util/exit-codes.h"
#include "util/progress.h"
#include "util/signals.h"
#include "util/util.h"

#include <string.h>

/* How long an image may take to become active after its data arrived (an
 * import copies it from staging to the store). */
#define ACTIVE_TIMEOUT_S 1800u
/* The property that records which file an image was made from: the
 * report's SHA-256, so that a republish need not read the file. */
#define SHA_PROPERTY "vmforge_sha256"

typedef struct {
    const PublishRun *run;
    VmfOsSession *s;
    const PublishDest *d;
    const PublishItem *it;
    VmfGlanceNew n;
    char *local_hash[2]; /* algo, hex: the file's digest when one was taken */
} Job;

static const char *disk_format(const char *format)
{
    if (strcmp(format, "ova") == 0)
        return "vmdk"; /* what is inside; the container says ova */
    return format;     /* qcow2, raw, vmdk, vhd, vhdx, vdi: Glance's names too */
}

static void prop(Job *j, const char *k, const char *v)
{
    if (!g_hash_table_contains(j->n.props, k))
        g_ptr_array_add(j->n.prop_keys, g_strdup(k));
    g_hash_table_replace(j->n.props, g_strdup(k), g_strdup(v));
}

/* Properties: the target's OpenStack metadata (the platform preset's and
 * the recipe's), then the command line's; vmforge's own record. */
static int job_properties(Job *j, GError **error)
{
    JsonObject *os = j->it->openstack;
    JsonObject *props = os ? json_object_get_object_member(os, "properties") : NULL;
    g_autoptr(GList) keys = props ? json_object_get_members(props) : NULL;
    for (GList *l = keys; l; l = l->next)
        prop(j, l->data, json_object_get_string_member_with_default(props, l->data, ""));
    if (!g_hash_table_contains(j->n.props, "architecture"))
        prop(j, "architecture", "x86_64");
    for (char **kv = j->run->o->properties; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        if (!eq || eq == *kv) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "--property %s: give KEY=VALUE",
                        *kv);
            return -1;
        }
        g_autofree char *k = g_strndup(*kv, (gsize)(eq - *kv));
        prop(j, k, eq + 1);
    }
    if (j->it->sha256)
        prop(j, SHA_PROPERTY, j->it->sha256);
    return 0;
}

static int job_init(Job *j, GError **error)
{
    const VmfPublishOptions *o = j->run->o;
    JsonObject *os = j->it->openstack;
    j->n.name = o->name ? o->name : j->it->name;
    j->n.disk_format = disk_format(j->it->format);
    j->n.container_format = strcmp(j->it->format, "ova") == 0 ? "ova" : "bare";
    j->n.visibility = o->visibility;
    j->n.tags = o->tags;
    j->n.min_disk = os ? (uint64_t)json_object_get_int_member_with_default(os, "min_disk", 0)
                       : (j->it->virtual_size + (1ull << 30) - 1) >> 30;
    j->n.min_ram = os ? (uint64_t)json_object_get_int_member_with_default(os, "min_ram", 0) : 0;
    j->n.prop_keys = g_ptr_array_new_with_free_func(g_free);
    j->n.props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return job_properties(j, error);
}

static void job_clear(Job *j)
{
    g_clear_pointer(&j->n.prop_keys, g_ptr_array_unref);
    g_clear_pointer(&j->n.props, g_hash_table_unref);
    g_free(j->local_hash[0]);
    g_free(j->local_hash[1]);
}

/* The file's digest in `algo`, read once per algorithm and kept. */
static const char *local_digest(Job *j, const char *algo, GError **error)
{
    if (j->local_hash[0] && strcmp(j->local_hash[0], algo) == 0)
        return j->local_hash[1];
    char *hex = vmf_file_digest(j->it->path, algo, error);
    if (!hex)
        return NULL;
    g_free(j->local_hash[0]);
    g_free(j->local_hash[1]);
    j->local_hash[0] = g_strdup(algo);
    j->local_hash[1] = hex;
    return hex;
}

/* An image there already holds this file: vmforge's record of the file's
 * SHA-256 says so, or Glance's own hash of it matches the file's. */
static bool same_image(Job *j, JsonObject *img)
{
    const char *st = json_object_get_string_member_with_default(img, "status", "");
    if (strcmp(st, "active"))
        return false;
    const char *sha = json_object_get_string_member_with_default(img, SHA_PROPERTY, NULL);
    if (sha && j->it->sha256)
        return strcmp(sha, j->it->sha256) == 0;
    const char *algo = json_object_get_string_member_with_default(img, "os_hash_algo", NULL);
    const char *value = json_object_get_string_member_with_default(img, "os_hash_value", NULL);
    g_autoptr(GError) e = NULL;
    const char *mine = algo && value ? local_digest(j, algo, &e) : NULL;
    return mine && g_ascii_strcasecmp(mine, value) == 0;
}

/* An image the same as the file, already in Glance; NULL when none (or
 * --force). */
static JsonObject *find_same(Job *j, GError **error)
{
    g_autoptr(GPtrArray) imgs = vmf_glance_find(j->s, j->n.name, j->run->cancel, error);
    if (!imgs)
        return NULL;
    for (guint i = 0; i < imgs->len; i++) {
        if (same_image(j, imgs->pdata[i]))
            return json_object_ref(imgs->pdata[i]);
    }
    return NULL;
}

/* Deletes the image this publish made; says how when it cannot. */
static void remove_made(Job *j, const char *id)
{
    g_autoptr(GError) e = NULL;
    if (vmf_glance_delete(j->s, id, &e) == 0)
        return;
    vmf_error("publish", "could not delete image %s, left in %s by this failed publish: %s", id,
              j->d->text, e->message);
    vmf_error("publish", "delete it with: openstack%s%s image delete %s",
              j->d->cloud ? " --os-cloud " : "", j->d->cloud ? j->d->cloud : "", id);
}

/* The data sent and the image active: the file is the one the report
 * lists, and Glance's hash is the file's. */
static int check_arrived(Job *j, JsonObject *img, const VmfHttpUpload *u, GError **error)
{
    if (j->it->sha256 && strcmp(u->digests[1], j->it->sha256)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: what was sent (SHA-256 %s) is not what %s lists (%s): the file "
                    "changed since the build",
                    j->it->path, u->digests[1], j->it->report, j->it->sha256);
        return -1;
    }
    const char *algo = json_object_get_string_member_with_default(img, "os_hash_algo", NULL);
    const char *value = json_object_get_string_member_with_default(img, "os_hash_value", NULL);
    if (!algo || !value) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "Glance did not say the image's hash (os_hash_algo, os_hash_value)");
        return -1;
    }
    const char *mine = strcmp(algo, "sha512") == 0   ? u->digests[0]
                       : strcmp(algo, "sha256") == 0 ? u->digests[1]
                                                     : local_digest(j, algo, error);
    if (!mine)
        return -1;
    if (g_ascii_strcasecmp(mine, value)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "Glance's %s of the image (%s) is not the file's (%s): the data was "
                    "damaged on the way",
                    algo, value, mine);
        return -1;
    }
    return 0;
}

/* Sends the data into the new image `id` and waits until it is active. */
static JsonObject *send_data(Job *j, const char *id, bool direct, VmfHttpUpload *u, GError **error)
{
    g_autoptr(VmfProgress) bar = vmf_progress_new("publish", j->run->o->progress);
    u->hashes[0] = "sha512";
    u->hashes[1] = "sha256";
    u->progress = vmf_transfer_progress;
    u->data = bar;
    u->cancel = j->run->cancel;
    u->max_rate = j->run->o->limit_rate;
    int rc = vmf_glance_upload(j->s, id, j->it->path, direct, u, error);
    g_autofree char *summary = g_strdup_printf("%s: %s", j->n.name, rc == 0 ? "sent" : "failed");
    vmf_progress_end(bar, summary);
    if (rc < 0)
        return NULL;
    return vmf_glance_wait_active(j->s, id, ACTIVE_TIMEOUT_S, j->run->cancel, error);
}

/* Whether a failed send is worth one more try from the start: the
 * connection failed or the server erred, not the request or the data. */
static bool worth_retry(const GError *e)
{
    return e->domain == vmf_http_error_quark() &&
           (e->code == VMF_HTTP_ERROR_CONNECT || e->code == VMF_HTTP_ERROR_TRANSFER ||
            e->code >= 500);
}

/* One try: create, send, check. The image is deleted when any step fails.
 * Returns its id (g_free) with *img, or NULL with *error. */
static char *attempt(Job *j, bool direct, PublishRecord *rec, JsonObject **img, GError **error)
{
    g_autofree char *id = vmf_glance_create(j->s, &j->n, j->run->cancel, error);
    if (!id)
        return NULL;
    VmfHttpUpload u = {0};
    *img = send_data(j, id, direct, &u, error);
    rec->bytes_sent += u.bytes;
    int rc = *img ? check_arrived(j, *img, &u, error) : -1;
    vmf_http_upload_clear(&u);
    if (rc == 0)
        return g_steal_pointer(&id);
    g_clear_pointer(img, json_object_unref);
    remove_made(j, id);
    return NULL;
}

static int record(Job *j, PublishRecord *rec, const char *id, bool reused)
{
    rec->name = g_strdup(j->n.name);
    rec->id = g_strdup(id);
    rec->url = g_strdup_printf("%s/v2/images/%s", vmf_os_image_url(j->s), id);
    rec->reused = reused;
    return VMF_EXIT_OK;
}

static int upload_new(Job *j, PublishRecord *rec, GError **error)
{
    const char *how = j->run->o->upload ? j->run->o->upload : "auto";
    bool direct = strcmp(how, "put") && vmf_glance_has_direct_import(j->s, j->run->cancel);
    if (!direct && strcmp(how, "import") == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s offers no glance-direct import (GET /v2/info/import): use --upload put",
                    j->d->text);
        return VMF_EXIT_USAGE;
    }
    for (int try = 0;; try++) {
        GError *e = NULL;
        g_autoptr(JsonObject) img = NULL;
        g_autofree char *id = attempt(j, direct, rec, &img, &e);
        if (id)
            return record(j, rec, id, false);
        if (vmf_interrupted) {
            g_propagate_error(error, e);
            return vmf_signals_exit_code();
        }
        if (try > 0 || !worth_retry(e)) {
            g_propagate_error(error, e);
            return VMF_EXIT_FAILURE;
        }
        vmf_progress_say(j->run->o->progress, "publish", "%s: %s; sending it again", j->n.name,
                         e->message);
        g_error_free(e);
    }
}

/* The image there already, or a new one. */
static int reuse_or_upload(Job *j, PublishRecord *rec, GError **error)
{
    GError *e = NULL;
    g_autoptr(JsonObject) same = j->run->o->force ? NULL : find_same(j, &e);
    if (e) {
        g_propagate_error(error, e);
        return vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE;
    }
    if (!same)
        return upload_new(j, rec, error);
    const char *id = json_object_get_string_member_with_default(same, "id", "");
    vmf_progress_say(j->run->o->progress, "publish", "%s: image %s in %s holds this file already",
                     j->n.name, id, j->d->text);
    return record(j, rec, id, true);
}

int publish_to_glance(const PublishRun *run, VmfOsSession *s, const PublishDest *d,
                      const PublishItem *it, PublishRecord *rec, GError **error)
{
    Job j = {.run = run, .s = s, .d = d, .it = it};
    int rc = job_init(&j, error) < 0 ? VMF_EXIT_USAGE : reuse_or_upload(&j, rec, error);
    job_clear(&j);
    return rc;
}
