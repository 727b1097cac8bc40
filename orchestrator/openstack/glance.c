/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * glance.c — the Glance v2 calls of a publish: create the image record, send
 * its data (interoperable import or PUT), watch it become active, find
 * images by name, delete.
 */
#include "openstack.h"
#include "session.h"

#include <string.h>

/* How often the image's status is asked while Glance imports it. */
#define POLL_MS_MAX 250u

/* One API call; the answer's JSON object (a new reference), or an empty
 * object for an answer without a body. */
static JsonObject *api(VmfOsSession *s, const char *method, const char *path, const char *body,
                       bool retry, const volatile int *cancel, GError **error)
{
    g_autofree char *url = g_strconcat(s->image_url, path, NULL);
    VmfHttpRequest rq = {.method = method,
                         .url = url,
                         .token = s->token,
                         .ctype = body ? (strcmp(method, "PATCH") == 0
                                              ? "application/openstack-images-v2.1-json-patch"
                                              : "application/json")
                                       : NULL,
                         .body = body,
                         .retry = retry,
                         .cancel = cancel};
    g_autoptr(VmfHttpResponse) r = vmf_http_call(s->http, &rq, error);
    if (!r)
        return NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    if (!*r->body)
        return json_object_new();
    if (!json_parser_load_from_data(p, r->body, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_set_error(error, vmf_http_error_quark(), 502, "%s %s: the answer is not a JSON object",
                    method, url);
        return NULL;
    }
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

bool vmf_glance_has_direct_import(VmfOsSession *s, const volatile int *cancel)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(JsonObject) o = api(s, "GET", "/v2/info/import", NULL, true, cancel, &e);
    JsonObject *m = o ? json_object_get_object_member(o, "import-methods") : NULL;
    JsonArray *v = m ? json_object_get_array_member(m, "value") : NULL;
    for (guint i = 0; v && i < json_array_get_length(v); i++) {
        if (g_strcmp0(json_array_get_string_element(v, i), "glance-direct") == 0)
            return true;
    }
    return false;
}

static void add_str(JsonBuilder *b, const char *k, const char *v)
{
    if (!v)
        return;
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static char *create_body(const VmfGlanceNew *n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_str(b, "name", n->name);
    add_str(b, "disk_format", n->disk_format);
    add_str(b, "container_format", n->container_format);
    add_str(b, "visibility", n->visibility);
    json_builder_set_member_name(b, "min_disk");
    json_builder_add_int_value(b, (gint64)n->min_disk);
    json_builder_set_member_name(b, "min_ram");
    json_builder_add_int_value(b, (gint64)n->min_ram);
    json_builder_set_member_name(b, "tags");
    json_builder_begin_array(b);
    for (char **t = n->tags; t && *t; t++)
        json_builder_add_string_value(b, *t);
    json_builder_end_array(b);
    for (guint i = 0; n->prop_keys && i < n->prop_keys->len; i++) {
        const char *k = n->prop_keys->pdata[i];
        add_str(b, k, g_hash_table_lookup(n->props, k));
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) g = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    return json_generator_to_data(g, NULL);
}

char *vmf_glance_create(VmfOsSession *s, const VmfGlanceNew *n, const volatile int *cancel,
                        GError **error)
{
    g_autofree char *body = create_body(n);
    g_autoptr(JsonObject) o = api(s, "POST", "/v2/images", body, false, cancel, error);
    const char *id = o ? json_object_get_string_member_with_default(o, "id", NULL) : NULL;
    if (o && !id)
        g_set_error(error, vmf_http_error_quark(), 502,
                    "POST %s/v2/images: the answer has no image id", s->image_url);
    return g_strdup(id);
}

JsonObject *vmf_glance_show(VmfOsSession *s, const char *id, const volatile int *cancel,
                            GError **error)
{
    g_autofree char *path = g_strdup_printf("/v2/images/%s", id);
    return api(s, "GET", path, NULL, true, cancel, error);
}

GPtrArray *vmf_glance_find(VmfOsSession *s, const char *name, const volatile int *cancel,
                           GError **error)
{
    g_autofree char *n = vmf_http_escape(name);
    g_autofree char *path =
        s->project_id ? g_strdup_printf("/v2/images?name=%s&owner=%s&limit=1000", n, s->project_id)
                      : g_strdup_printf("/v2/images?name=%s&limit=1000", n);
    g_autoptr(JsonObject) o = api(s, "GET", path, NULL, true, cancel, error);
    if (!o)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    JsonArray *a = json_object_get_array_member(o, "images");
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *img = json_array_get_object_element(a, i);
        if (img)
            g_ptr_array_add(out, json_object_ref(img));
    }
    return out;
}

int vmf_glance_upload(VmfOsSession *s, const char *id, const char *path, bool direct,
                      VmfHttpUpload *u, GError **error)
{
    g_autofree char *url =
        g_strdup_printf("%s/v2/images/%s/%s", s->image_url, id, direct ? "stage" : "file");
    if (vmf_http_put_file(s->http, url, s->token, path, u, error) < 0)
        return -1;
    if (!direct)
        return 0;
    g_autofree char *imp = g_strdup_printf("/v2/images/%s/import", id);
    g_autoptr(JsonObject) o =
        api(s, "POST", imp, "{\"method\": {\"name\": \"glance-direct\"}}", false, u->cancel, error);
    return o ? 0 : -1;
}

int vmf_glance_delete(VmfOsSession *s, const char *id, GError **error)
{
    g_autofree char *path = g_strdup_printf("/v2/images/%s", id);
    GError *e = NULL;
    g_autoptr(JsonObject) o = api(s, "DELETE", path, NULL, true, NULL, &e);
    if (o)
        return 0;
    if (e->code == 404) {
        g_error_free(e);
        return 0;
    }
    g_propagate_error(error, e);
    return -1;
}

/* Why an image that will not become active stopped: its status, and the
 * import's failure when there was one. NULL while it may still get there. */
static char *image_failed(JsonObject *img)
{
    const char *st = json_object_get_string_member_with_default(img, "status", "");
    const char *failed =
        json_object_get_string_member_with_default(img, "os_glance_failed_import", "");
    if (strcmp(st, "killed") == 0 || strcmp(st, "deleted") == 0 || strcmp(st, "deactivated") == 0)
        return g_strdup_printf("its status is %s", st);
    if (*failed)
        return g_strdup_printf("the import failed in store %s (status %s)", failed, st);
    return NULL;
}

JsonObject *vmf_glance_wait_active(VmfOsSession *s, const char *id, unsigned timeout_s,
                                   const volatile int *cancel, GError **error)
{
    gint64 until = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    unsigned ms = 50;
    for (;;) {
        g_autoptr(JsonObject) img = vmf_glance_show(s, id, cancel, error);
        if (!img)
            return NULL;
        const char *st = json_object_get_string_member_with_default(img, "status", "");
        if (strcmp(st, "active") == 0)
            return g_steal_pointer(&img);
        g_autofree char *why = image_failed(img);
        if (why || g_get_monotonic_time() > until || (cancel && *cancel)) {
            g_set_error(error, vmf_http_error_quark(), 500, "image %s did not become active: %s",
                        id,
                        why                 ? why
                        : cancel && *cancel ? "interrupted"
                                            : "timed out");
            return NULL;
        }
        g_usleep(ms * 1000);
        ms = MIN(ms * 2, POLL_MS_MAX);
    }
}
