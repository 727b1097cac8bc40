/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "template.h"

#include <stdbool.h>
#include <string.h>

G_DEFINE_QUARK(vmf - template - error - quark, vmf_template_error)

static bool name_char(char c, bool first)
{
    return g_ascii_isalpha(c) || c == '_' || (!first && (g_ascii_isdigit(c) || c == '.'));
}

void vmf_rendered_free(VmfRendered *r)
{
    if (!r)
        return;
    g_free(r->text);
    if (r->lines)
        g_array_unref(r->lines);
    g_free(r);
}

static const char *refused_reason(const char *const *refused, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *r = refused; r && *r; r++)
        if (strncmp(*r, name, n) == 0 && (*r)[n] == '=')
            return *r + n + 1;
    return NULL;
}

VmfRendered *vmf_template_render(const char *path, const char *text, GHashTable *vars,
                                 const char *const *refused, GError **error)
{
    size_t len = strlen(text);
    if (len > VMF_TEMPLATE_MAX_BYTES) {
        g_set_error(error, vmf_template_error_quark(), 1, "%s: larger than %u KiB; not a template",
                    path, VMF_TEMPLATE_MAX_BYTES >> 10);
        return NULL;
    }
    g_autoptr(GString) out = g_string_sized_new(len + 256);
    g_autoptr(GArray) lines = g_array_new(FALSE, FALSE, sizeof(unsigned));
    unsigned line = 1;
    const char *line_start = text;
    const char *p = text;
    while (*p) {
        if (p[0] == '{' && p[1] == '{') {
            unsigned col = (unsigned)(p - line_start) + 1;
            const char *q = p + 2;
            while (*q == ' ' || *q == '\t')
                q++;
            const char *name = q;
            if (name_char(*q, true))
                for (q++; name_char(*q, false); q++)
                    ;
            size_t nlen = (size_t)(q - name);
            while (*q == ' ' || *q == '\t')
                q++;
            if (nlen == 0 || q[0] != '}' || q[1] != '}') {
                g_set_error(error, vmf_template_error_quark(), 1,
                            "%s:%u:%u: malformed placeholder: expected {{ name }}", path, line,
                            col);
                return NULL;
            }
            g_autofree char *key = g_strndup(name, nlen);
            const char *why = refused_reason(refused, key);
            if (why) {
                g_set_error(error, vmf_template_error_quark(), 1,
                            "%s:%u:%u: {{ %s }} is refused: %s", path, line, col, key, why);
                return NULL;
            }
            const char *value = g_hash_table_lookup(vars, key);
            if (!value) {
                g_set_error(error, vmf_template_error_quark(), 1,
                            "%s:%u:%u: undefined variable \"%s\" (define it under vars: in the "
                            "recipe or pass --var %s=VALUE)",
                            path, line, col, key, key);
                return NULL;
            }
            /* A multi-line value keeps pointing at this template line. */
            for (const char *v = value; *v; v++) {
                g_string_append_c(out, *v);
                if (*v == '\n')
                    g_array_append_val(lines, line);
            }
            p = q + 2;
            continue;
        }
        g_string_append_c(out, *p);
        if (*p == '\n') {
            g_array_append_val(lines, line);
            line++;
            line_start = p + 1;
        }
        p++;
    }
    if (out->len && out->str[out->len - 1] != '\n') {
        g_string_append_c(out, '\n');
        g_array_append_val(lines, line);
    }
    VmfRendered *r = g_new0(VmfRendered, 1);
    r->text = g_string_free(g_steal_pointer(&out), FALSE);
    r->lines = g_steal_pointer(&lines);
    return r;
}
