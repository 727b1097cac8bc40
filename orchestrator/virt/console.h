/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * console.h — a guest's serial console, read by a thread of its own from a
 * libvirt stream: written to a log (and to stdout when live), split into
 * lines with escape sequences removed, matched against a success line, a
 * failure pattern and a progress pattern, its last lines kept for reports.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

/* Console lines kept for a failure report. */
#define VMF_CONSOLE_TAIL 40

typedef struct VmfConsole VmfConsole;

typedef struct {
    const char *success;    /* substring that means success (also matched in an
                               unfinished line: a login prompt has no newline) */
    const GRegex *failure;  /* or NULL */
    const GRegex *progress; /* or NULL; groups 1 and 2: percentage and text */
} VmfConsoleMatch;

typedef struct {
    gint64 last_output; /* monotonic time of the last byte */
    bool success, ended;
    char *failure_line; /* g_free */
    int pct;            /* -1 unknown */
    char *what;         /* g_free; NULL until a progress line */
} VmfConsoleState;

/* Starts reading `st` (the console keeps a reference) into `log_path`. The
 * strings in `match` must outlive the console. */
VmfConsole *vmf_console_start(virStreamPtr st, const char *log_path, bool live,
                              const VmfConsoleMatch *match, GError **error);
/* A snapshot of what was seen so far. */
void vmf_console_state(VmfConsole *c, VmfConsoleState *out);
void vmf_console_state_clear(VmfConsoleState *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmfConsoleState, vmf_console_state_clear)
/* Waits up to `seconds` for the stream to end (it does when the domain
 * stops), aborts it otherwise, and ends the reader. */
void vmf_console_stop(VmfConsole *c, unsigned seconds);
/* Goes on reading from `st` (the console keeps a reference) after the old
 * stream ended with its connection: same log, same state. */
void vmf_console_reattach(VmfConsole *c, virStreamPtr st);
/* Prints the kept lines and the log's path on stderr. */
void vmf_console_print_tail(VmfConsole *c, const char *whose);
void vmf_console_free(VmfConsole *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfConsole, vmf_console_free)
