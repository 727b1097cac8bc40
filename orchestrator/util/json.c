/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json.h"

#include <stdbool.h>

void vmf_json_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

void vmf_json_int(JsonBuilder *b, const char *name, uint64_t value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)value);
}

/* Wall times as whole milliseconds: exact, with no float noise in the file. */
void vmf_json_ms(JsonBuilder *b, const char *name, double seconds)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)(seconds * 1000 + 0.5));
}

char *vmf_json_text(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, true);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    return g_strdup_printf("%s\n", text);
}
