/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.c — "FORMAT[:KEY=VALUE...]" output specifications: parsing,
 * validation against each writer's option table, and typed access.
 */
#include "writer.h"

#include <errno.h>

static const VfOptionSpec *find_option(const VfWriterOps *ops, const char *key)
{
    for (const VfOptionSpec *o = ops->options; o && o->key; o++)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

static char *describe_keys(const VfWriterOps *ops)
{
    GString *s = g_string_new(NULL);
    for (const VfOptionSpec *o = ops->options; o && o->key; o++)
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", o->key);
    if (s->len == 0)
        g_string_append(s, "none");
    return g_string_free(s, false);
}

static int check_value(const VfWriterOps *ops, const VfOptionSpec *o, const char *value,
                       GError **error)
{
    if (o->choices) {
        for (const char *const *c = o->choices; *c; c++)
            if (strcmp(*c, value) == 0)
                return 0;
        g_autofree char *list = g_strjoinv(", ", (char **)o->choices);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s option %s: \"%s\" is not one of: %s",
                    ops->name, o->key, value, list);
        return -EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || !end || *end || end == value || v < o->min || v > o->max) {
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                    "%s option %s: \"%s\" is not a whole number from %" G_GINT64_FORMAT
                    " to %" G_GINT64_FORMAT,
                    ops->name, o->key, value, o->min, o->max);
        return -EINVAL;
    }
    return 0;
}

int vf_writer_parse_spec(const char *spec, const VfWriterOps **out_ops, GHashTable **out_options,
                         GError **error)
{
    g_auto(GStrv) parts = g_strsplit(spec, ":", -1);
    const char *name = parts[0] ? g_strstrip(parts[0]) : "";
    const VfWriterOps *ops = vf_writer_find(name);
    if (!ops) {
        GString *known = g_string_new(NULL);
        for (const VfWriterOps *const *w = vf_writers; *w; w++)
            g_string_append_printf(known, "%s%s", known->len ? ", " : "", (*w)->name);
        g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "unknown output format \"%s\" (known: %s)",
                    name, known->str);
        g_string_free(known, true);
        return -EINVAL;
    }
    g_autoptr(GHashTable) options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 1; parts[i]; i++) {
        char *eq = strchr(parts[i], '=');
        if (!eq || eq == parts[i]) {
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                        "%s: option \"%s\" is not KEY=VALUE (in \"%s\")", ops->name, parts[i],
                        spec);
            return -EINVAL;
        }
        *eq = '\0';
        const char *key = parts[i], *value = eq + 1;
        const VfOptionSpec *o = find_option(ops, key);
        if (!o) {
            g_autofree char *keys = describe_keys(ops);
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE,
                        "%s has no option \"%s\" (its options: %s)", ops->name, key, keys);
            return -EINVAL;
        }
        if (g_hash_table_contains(options, key)) {
            g_set_error(error, VF_ERROR, VF_ERROR_USAGE, "%s option %s is given twice", ops->name,
                        key);
            return -EINVAL;
        }
        int r = check_value(ops, o, value, error);
        if (r < 0)
            return r;
        g_hash_table_insert(options, g_strdup(key), g_strdup(value));
    }
    for (const VfOptionSpec *o = ops->options; o && o->key; o++)
        if (!g_hash_table_contains(options, o->key))
            g_hash_table_insert(options, g_strdup(o->key), g_strdup(o->default_value));
    *out_ops = ops;
    *out_options = g_steal_pointer(&options);
    return 0;
}

const char *vf_writer_opt(const VfWriter *w, const char *key)
{
    const char *v = w->options ? g_hash_table_lookup(w->options, key) : NULL;
    if (v)
        return v;
    const VfOptionSpec *o = find_option(w->ops, key);
    g_return_val_if_fail(o != NULL, "");
    return o->default_value;
}

int64_t vf_writer_opt_int(const VfWriter *w, const char *key)
{
    return g_ascii_strtoll(vf_writer_opt(w, key), NULL, 10);
}

bool vf_writer_opt_bool(const VfWriter *w, const char *key)
{
    const char *v = vf_writer_opt(w, key);
    return strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
}
