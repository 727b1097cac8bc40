/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * template.h — answer-file templates: text with {{ name }} placeholders,
 * replaced by variables. A placeholder whose variable is undefined is an
 * error naming the template's file, line and column.
 */
#pragma once

#include <glib.h>

GQuark vmf_template_error_quark(void);

/* A template larger than this is not an answer file. */
#define VMF_TEMPLATE_MAX_BYTES (1u << 20)

typedef struct {
    char *text;
    /* lines[i] is the template line that produced output line i + 1, so
     * checks on the rendered text can point back at the template. */
    GArray *lines; /* of unsigned */
} VmfRendered;

/* Renders `text` (read from `path`, used in messages) with `vars` (char* ->
 * char*). `refused` (NULL-terminated, may be NULL) lists names that must not
 * be rendered, each with the reason after a '=' ("rootpw=use rootpw_line").
 * Returns NULL with *error set. Free with vmf_rendered_free. */
VmfRendered *vmf_template_render(const char *path, const char *text, GHashTable *vars,
                                 const char *const *refused, GError **error);
void vmf_rendered_free(VmfRendered *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfRendered, vmf_rendered_free)
