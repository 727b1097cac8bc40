/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * json.h — the one way vmforge writes JSON (reports, metadata, cache
 * entries, convert --json): json-glib builders, pretty-printed.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdint.h>

/* report_format of build and backup reports (docs/report.md): bumped when a
 * field changes meaning or goes away (adding one does not). */
#define VMF_REPORT_FORMAT 1

/* Object members: a string (null when NULL), a number, and seconds as whole
 * milliseconds. */
void vmf_json_str(JsonBuilder *b, const char *name, const char *value);
void vmf_json_int(JsonBuilder *b, const char *name, uint64_t value);
void vmf_json_ms(JsonBuilder *b, const char *name, double seconds);

/* What `b` built, as pretty-printed JSON ending in a newline (g_free). */
char *vmf_json_text(JsonBuilder *b);
