/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * yaml-tree.h — a YAML document (parsed with libyaml) as a small tree whose
 * nodes remember where they came from (line and column), so every recipe
 * error can name file, line and column.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

GQuark vmf_yaml_error_quark(void);

/* A recipe is a few KiB; anything this large is not one. */
#define VMF_YAML_MAX_BYTES (4u << 20)
/* Deeper nesting than any recipe needs; bounds the parser's recursion. */
#define VMF_YAML_MAX_DEPTH 32

typedef enum { VMF_YAML_SCALAR, VMF_YAML_MAPPING, VMF_YAML_SEQUENCE } VmfYamlKind;

typedef struct VmfYamlNode VmfYamlNode;
struct VmfYamlNode {
    VmfYamlKind kind;
    unsigned line, column; /* 1-based */
    char *value;           /* scalar text; NULL for collections */
    bool quoted;           /* the scalar was written in quotes */
    /* mapping: keys[i] (scalar nodes) -> items[i]; sequence: items[i] */
    GPtrArray *keys;
    GPtrArray *items;
};

/* Parses `len` bytes of YAML. Returns the root node (a mapping or sequence or
 * scalar; caller frees with vmf_yaml_free) or NULL with *error set to
 * "LINE:COLUMN: what". Anchors/aliases and duplicate keys are refused. */
VmfYamlNode *vmf_yaml_parse(const char *text, size_t len, GError **error);
void vmf_yaml_free(VmfYamlNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfYamlNode, vmf_yaml_free)

/* The value under `key` in a mapping, or NULL. Borrowed. */
VmfYamlNode *vmf_yaml_get(const VmfYamlNode *map, const char *key);
/* The key node for `key` (for error positions), or NULL. Borrowed. */
VmfYamlNode *vmf_yaml_get_key(const VmfYamlNode *map, const char *key);
const char *vmf_yaml_kind_name(VmfYamlKind kind);
