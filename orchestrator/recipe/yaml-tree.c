/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "yaml-tree.h"

#include <string.h>
#include <yaml.h>

G_DEFINE_QUARK(vmf - yaml - error - quark, vmf_yaml_error)

typedef struct {
    yaml_parser_t parser;
    GError **error;
} Reader;

static VmfYamlNode *node_new(VmfYamlKind kind, const yaml_mark_t *mark)
{
    VmfYamlNode *n = g_new0(VmfYamlNode, 1);
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    if (kind == VMF_YAML_MAPPING)
        n->keys = g_ptr_array_new_with_free_func((GDestroyNotify)vmf_yaml_free);
    if (kind != VMF_YAML_SCALAR)
        n->items = g_ptr_array_new_with_free_func((GDestroyNotify)vmf_yaml_free);
    return n;
}

void vmf_yaml_free(VmfYamlNode *node)
{
    if (!node)
        return;
    g_free(node->value);
    if (node->keys)
        g_ptr_array_unref(node->keys);
    if (node->items)
        g_ptr_array_unref(node->items);
    g_free(node);
}

static bool next_event(Reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->parser, ev))
        return true;
    g_set_error(r->error, vmf_yaml_error_quark(), 1, "%zu:%zu: %s%s%s",
                r->parser.problem_mark.line + 1, r->parser.problem_mark.column + 1,
                r->parser.problem ? r->parser.problem : "invalid YAML",
                r->parser.context ? " " : "", r->parser.context ? r->parser.context : "");
    return false;
}

static VmfYamlNode *read_node(Reader *r, yaml_event_t *ev, unsigned depth);

static bool fail_at(Reader *r, const yaml_mark_t *m, const char *what)
{
    g_set_error(r->error, vmf_yaml_error_quark(), 1, "%zu:%zu: %s", m->line + 1, m->column + 1,
                what);
    return false;
}

/* Reads the children of a collection until its end event. */
static bool read_children(Reader *r, VmfYamlNode *n, yaml_event_type_t end, unsigned depth)
{
    for (;;) {
        yaml_event_t ev;
        if (!next_event(r, &ev))
            return false;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return true;
        }
        VmfYamlNode *child = read_node(r, &ev, depth + 1);
        if (!child)
            return false;
        if (n->kind == VMF_YAML_SEQUENCE) {
            g_ptr_array_add(n->items, child);
            continue;
        }
        /* A mapping: child is the key, then its value. */
        if (child->kind != VMF_YAML_SCALAR) {
            yaml_mark_t m = {.line = child->line - 1, .column = child->column - 1};
            vmf_yaml_free(child);
            return fail_at(r, &m, "a mapping key must be a plain word");
        }
        if (vmf_yaml_get_key(n, child->value)) {
            g_autofree char *msg = g_strdup_printf("duplicate key \"%s\"", child->value);
            yaml_mark_t m = {.line = child->line - 1, .column = child->column - 1};
            vmf_yaml_free(child);
            return fail_at(r, &m, msg);
        }
        yaml_event_t vev;
        if (!next_event(r, &vev)) {
            vmf_yaml_free(child);
            return false;
        }
        VmfYamlNode *value = read_node(r, &vev, depth + 1);
        if (!value) {
            vmf_yaml_free(child);
            return false;
        }
        g_ptr_array_add(n->keys, child);
        g_ptr_array_add(n->items, value);
    }
}

/* Consumes `ev` (deletes it) and returns the node it starts. */
static VmfYamlNode *read_node(Reader *r, yaml_event_t *ev, unsigned depth)
{
    yaml_mark_t mark = ev->start_mark;
    if (depth > VMF_YAML_MAX_DEPTH) {
        yaml_event_delete(ev);
        fail_at(r, &mark, "nested too deeply");
        return NULL;
    }
    VmfYamlNode *n = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(VMF_YAML_SCALAR, &mark);
        n->value = g_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        if (ev->data.scalar.anchor) {
            yaml_event_delete(ev);
            vmf_yaml_free(n);
            fail_at(r, &mark, "anchors and aliases are not supported in recipes");
            return NULL;
        }
        yaml_event_delete(ev);
        return n;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        bool anchored =
            seq ? ev->data.sequence_start.anchor != NULL : ev->data.mapping_start.anchor != NULL;
        yaml_event_delete(ev);
        if (anchored) {
            fail_at(r, &mark, "anchors and aliases are not supported in recipes");
            return NULL;
        }
        n = node_new(seq ? VMF_YAML_SEQUENCE : VMF_YAML_MAPPING, &mark);
        if (!read_children(r, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT, depth)) {
            vmf_yaml_free(n);
            return NULL;
        }
        return n;
    }
    case YAML_ALIAS_EVENT:
        yaml_event_delete(ev);
        fail_at(r, &mark, "anchors and aliases are not supported in recipes");
        return NULL;
    default:
        yaml_event_delete(ev);
        fail_at(r, &mark, "unexpected YAML structure");
        return NULL;
    }
}

VmfYamlNode *vmf_yaml_parse(const char *text, size_t len, GError **error)
{
    if (len > VMF_YAML_MAX_BYTES) {
        g_set_error(error, vmf_yaml_error_quark(), 1, "1:1: larger than %u MiB; not a recipe",
                    VMF_YAML_MAX_BYTES >> 20);
        return NULL;
    }
    Reader r = {.error = error};
    if (!yaml_parser_initialize(&r.parser))
        g_error("out of memory");
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    VmfYamlNode *root = NULL;
    yaml_event_t ev;
    /* STREAM-START, DOCUMENT-START, node, DOCUMENT-END, STREAM-END */
    if (!next_event(&r, &ev))
        goto out;
    yaml_event_delete(&ev);
    if (!next_event(&r, &ev))
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        g_set_error(error, vmf_yaml_error_quark(), 1, "1:1: the file is empty");
        goto out;
    }
    yaml_event_delete(&ev);
    if (!next_event(&r, &ev))
        goto out;
    root = read_node(&r, &ev, 0);
    if (!root)
        goto out;
    if (!next_event(&r, &ev)) /* DOCUMENT-END */
        goto fail;
    yaml_event_delete(&ev);
    if (!next_event(&r, &ev))
        goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        fail_at(&r, &m, "a recipe is one YAML document (remove the second '---')");
        goto fail;
    }
    yaml_event_delete(&ev);
    goto out;
fail:
    vmf_yaml_free(root);
    root = NULL;
out:
    yaml_parser_delete(&r.parser);
    return root;
}

/* The index of `key` in a mapping, or -1. */
static int key_index(const VmfYamlNode *map, const char *key)
{
    if (!map || map->kind != VMF_YAML_MAPPING)
        return -1;
    for (guint i = 0; i < map->keys->len; i++) {
        const VmfYamlNode *k = g_ptr_array_index(map->keys, i);
        if (strcmp(k->value, key) == 0)
            return (int)i;
    }
    return -1;
}

VmfYamlNode *vmf_yaml_get_key(const VmfYamlNode *map, const char *key)
{
    int i = key_index(map, key);
    return i < 0 ? NULL : g_ptr_array_index(map->keys, i);
}

VmfYamlNode *vmf_yaml_get(const VmfYamlNode *map, const char *key)
{
    int i = key_index(map, key);
    return i < 0 ? NULL : g_ptr_array_index(map->items, i);
}

const char *vmf_yaml_kind_name(VmfYamlKind kind)
{
    switch (kind) {
    case VMF_YAML_SCALAR:
        return "a value";
    case VMF_YAML_MAPPING:
        return "a mapping (key: value lines)";
    case VMF_YAML_SEQUENCE:
        return "a list (- items)";
    }
    return "?";
}
