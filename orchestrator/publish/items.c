/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * items.c — what a publish sends: the images a build's (or a backup's)
 * report.json lists, or image files named on the command line.
 */
#include "item.h"

#include "formats/source.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A report.json is a few KiB; anything this large is not one. */
#define MAX_REPORT_BYTES (16u << 20)

void publish_item_free(PublishItem *it)
{
    if (!it)
        return;
    g_free(it->target);
    g_free(it->path);
    g_free(it->format);
    g_free(it->sha256);
    g_free(it->name);
    g_free(it->report);
    if (it->openstack)
        json_object_unref(it->openstack);
    g_free(it);
}

/* The image formats a publish knows, by file name ending. */
static const struct {
    const char *ext, *format, *probe; /* probe: a word vf_probe_format says, NULL: raw */
} known[] = {
    {".qcow2", "qcow2", "qcow2"},  {".vmdk", "vmdk", "VMDK"}, {".vdi", "vdi", "VDI"},
    {".vhdx", "vhdx", "VHDX"},     {".vhd", "vhd", "VHD"},    {".ova", "ova", "tar"},
    {".raw.gz", "raw.gz", "gzip"}, {".raw", "raw", NULL},     {".img", "raw", NULL},
};

static bool is_image_format(const char *f)
{
    for (size_t i = 0; i < G_N_ELEMENTS(known); i++) {
        if (strcmp(known[i].format, f) == 0)
            return true;
    }
    return false;
}

/* The file's first bytes say what its name says. */
static int check_content(const char *path, const char *probe, GError **error)
{
    g_autofree uint8_t *head = g_malloc0(65536);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : pread(fd, head, 65536, 0);
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: %s", path, g_strerror(errno));
        return -1;
    }
    const char *what = vf_probe_format(head, (size_t)n, NULL, 0);
    if (probe ? what && strstr(what, probe) : !what)
        return 0;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: its name says %s, its content is %s",
                path, probe ? probe : "raw", what ? what : "not an image format (raw)");
    return -1;
}

/* A raw or qcow2 file's virtual size (Glance's min_disk), else 0. */
static uint64_t virtual_size(const PublishItem *it)
{
    if (strcmp(it->format, "raw") && strcmp(it->format, "qcow2"))
        return 0;
    VfSource *src = NULL;
    g_autoptr(GError) e = NULL;
    if (vf_source_open(it->path, 0, &src, &e) < 0)
        return 0;
    uint64_t size = src->size;
    vf_source_free(src);
    return size;
}

static PublishItem *file_item(const char *path, GError **error)
{
    struct stat st;
    errno = 0;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: %s", path,
                    errno ? g_strerror(errno) : "not a file");
        return NULL;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(known); i++) {
        if (!g_str_has_suffix(path, known[i].ext))
            continue;
        if (strcmp(known[i].format, "ova") && check_content(path, known[i].probe, error) < 0)
            return NULL;
        PublishItem *it = g_new0(PublishItem, 1);
        it->path = g_canonicalize_filename(path, NULL);
        it->format = g_strdup(known[i].format);
        it->file_size = (uint64_t)st.st_size;
        g_autofree char *base = g_path_get_basename(path);
        it->name = g_strndup(base, strlen(base) - strlen(known[i].ext));
        it->virtual_size = virtual_size(it);
        return it;
    }
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: not a report.json, and its name does not say its format (.qcow2, .raw, "
                ".img, .vmdk, .vdi, .vhd, .vhdx, .ova)",
                path);
    return NULL;
}

static JsonObject *load_json_object(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error))
        return NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    if (len > MAX_REPORT_BYTES || !json_parser_load_from_data(p, text, (gssize)len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a JSON object", path);
        return NULL;
    }
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static const char *str_member(JsonObject *o, const char *k)
{
    JsonNode *n = o ? json_object_get_member(o, k) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

/* The target's NAME.openstack.json among the report's artefacts, or NULL. */
static JsonObject *openstack_of(JsonArray *arts, const char *target, GError **error)
{
    for (guint i = 0; target && i < json_array_get_length(arts); i++) {
        JsonObject *a = json_array_get_object_element(arts, i);
        if (g_strcmp0(str_member(a, "target"), target) ||
            g_strcmp0(str_member(a, "format"), "openstack-json") || !str_member(a, "path"))
            continue;
        return load_json_object(str_member(a, "path"), error);
    }
    return NULL;
}

/* The name an image gets unless told: its OpenStack metadata's, else
 * RECIPE-VERSION-TARGET (a backup's: its file's name without the ending). */
static char *default_name(JsonObject *report, const PublishItem *it)
{
    const char *osname = str_member(it->openstack, "name");
    if (osname)
        return g_strdup(osname);
    JsonObject *r = json_object_get_object_member(report, "recipe");
    const char *name = str_member(r, "name"), *version = str_member(r, "version");
    if (name && it->target)
        return version ? g_strdup_printf("%s-%s-%s", name, version, it->target)
                       : g_strdup_printf("%s-%s", name, it->target);
    g_autofree char *base = g_path_get_basename(it->path);
    char *dot = strchr(base, '.');
    return dot ? g_strndup(base, (gsize)(dot - base)) : g_strdup(base);
}

/* The image is still what the report says (its size; the digest is checked
 * as it is sent). */
static int check_file(const PublishItem *it, const char *report, GError **error)
{
    struct stat st;
    if (stat(it->path, &st) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s (listed in %s): %s",
                    it->path, report, g_strerror(errno));
        return -1;
    }
    if ((uint64_t)st.st_size != it->file_size) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s changed since %s was written (%" G_GUINT64_FORMAT
                    " bytes, the report says %" G_GUINT64_FORMAT ")",
                    it->path, report, (uint64_t)st.st_size, it->file_size);
        return -1;
    }
    return 0;
}

static PublishItem *report_item(JsonObject *report, const char *path, JsonArray *arts,
                                JsonObject *a, GError **error)
{
    g_autoptr(GError) e = NULL;
    PublishItem *it = g_new0(PublishItem, 1);
    it->target =
        g_strdup(str_member(a, "target") ? str_member(a, "target") : str_member(a, "disk"));
    it->path = g_strdup(str_member(a, "path"));
    it->format = g_strdup(str_member(a, "format"));
    it->sha256 = g_strdup(str_member(a, "sha256"));
    it->virtual_size = (uint64_t)json_object_get_int_member_with_default(a, "virtual_size", 0);
    it->file_size = (uint64_t)json_object_get_int_member_with_default(a, "file_size", 0);
    it->report = g_strdup(path);
    it->openstack = openstack_of(arts, str_member(a, "target"), &e);
    if (e || !it->path || check_file(it, path, e ? NULL : error) < 0) {
        if (e)
            g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", path);
        else if (!it->path)
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: an artefact has no path",
                        path);
        publish_item_free(it);
        return NULL;
    }
    it->name = default_name(report, it);
    return it;
}

static int report_items(const char *path, JsonObject *report, GPtrArray *out, GError **error)
{
    JsonArray *arts = json_object_get_array_member(report, "artefacts");
    if (!arts) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: not a vmforge report (no \"artefacts\")", path);
        return -1;
    }
    for (guint i = 0; i < json_array_get_length(arts); i++) {
        JsonObject *a = json_array_get_object_element(arts, i);
        const char *f = str_member(a, "format");
        if (!a || !f || !is_image_format(f))
            continue;
        PublishItem *it = report_item(report, path, arts, a, error);
        if (!it)
            return -1;
        g_ptr_array_add(out, it);
    }
    return 0;
}

/* Keeps the items of the targets `only` names; each must name one. */
static int select_targets(GPtrArray *items, const char *only, GError **error)
{
    g_auto(GStrv) want = g_strsplit(only, ",", -1);
    for (char **w = want; *w; w++) {
        bool found = false;
        for (guint i = 0; i < items->len; i++)
            found |= g_strcmp0(((PublishItem *)items->pdata[i])->target, g_strstrip(*w)) == 0;
        if (!found) {
            g_autoptr(GString) have = g_string_new(NULL);
            for (guint i = 0; i < items->len; i++) {
                const char *t = ((PublishItem *)items->pdata[i])->target;
                if (t && !strstr(have->str, t))
                    g_string_append_printf(have, "%s%s", have->len ? ", " : "", t);
            }
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "--only %s: no image of target %s (there are: %s)", only, *w,
                        have->len ? have->str : "none");
            return -1;
        }
    }
    for (guint i = items->len; i-- > 0;) {
        const char *t = ((PublishItem *)items->pdata[i])->target;
        if (!t || !g_strv_contains((const char *const *)want, t))
            g_ptr_array_remove_index(items, i);
    }
    return 0;
}

GPtrArray *publish_items(char **inputs, const char *only, GError **error)
{
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func((GDestroyNotify)publish_item_free);
    for (char **in = inputs; in && *in; in++) {
        if (g_str_has_suffix(*in, ".json")) {
            g_autoptr(JsonObject) report = load_json_object(*in, error);
            if (!report || report_items(*in, report, items, error) < 0)
                return NULL;
            continue;
        }
        PublishItem *it = file_item(*in, error);
        if (!it)
            return NULL;
        g_ptr_array_add(items, it);
    }
    if (only && select_targets(items, only, error) < 0)
        return NULL;
    if (items->len == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no image to publish in %s",
                    inputs && inputs[0] ? inputs[0] : "(nothing given)");
        return NULL;
    }
    return g_steal_pointer(&items);
}
