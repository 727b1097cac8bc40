/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "console.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

GQuark vmf_console_error_quark(void);
G_DEFINE_QUARK(vmf - console - error - quark, vmf_console_error)

/* A console line longer than this is cut for matching (the log keeps all). */
#define MAX_LINE 4096

struct VmfConsole {
    virStreamPtr st;
    FILE *log;
    char *log_path;
    bool live;
    VmfConsoleMatch match;
    GThread *reader;
    GMutex lock;
    /* under lock: */
    VmfConsoleState s;
    GQueue tail; /* of char* */
    GString *line;
};

/* Console text without escape sequences and control characters. */
static char *plain_line(const char *s)
{
    GString *out = g_string_sized_new(strlen(s));
    for (const char *p = s; *p; p++) {
        if (*p == '\033') {
            p++;
            if (*p == '[') {
                while (p[1] && !g_ascii_isalpha(p[1]))
                    p++;
                if (p[1])
                    p++;
            }
            continue;
        }
        if (*p == '\r' || (*p > 0 && *p < 32 && *p != '\t'))
            continue;
        g_string_append_c(out, *p);
    }
    /* Boot loaders and firmware print bytes that are not text; what is
     * matched and shown is valid UTF-8. */
    char *valid = g_utf8_make_valid(out->str, (gssize)out->len);
    g_string_free(out, TRUE);
    return valid;
}

static void console_line(VmfConsole *c, const char *raw)
{
    g_autofree char *line = plain_line(raw);
    if (!line[0])
        return;
    const VmfConsoleMatch *m = &c->match;
    if (m->success && strstr(line, m->success))
        c->s.success = true;
    g_autoptr(GMatchInfo) mi = NULL;
    if (m->failure && !c->s.failure_line && g_regex_match(m->failure, line, 0, NULL))
        c->s.failure_line = g_strdup(line);
    if (m->progress && g_regex_match(m->progress, line, 0, &mi)) {
        g_autofree char *n = g_match_info_fetch(mi, 1);
        g_autofree char *w = g_match_info_fetch(mi, 2);
        g_free(c->s.what);
        if (n && g_ascii_isdigit(n[0]) && w && w[0]) {
            c->s.pct = (int)MIN(100, g_ascii_strtoull(n, NULL, 10));
            c->s.what = g_steal_pointer(&w);
        } else {
            c->s.pct = -1;
            c->s.what = g_match_info_fetch(mi, 0);
        }
    }
    g_queue_push_tail(&c->tail, g_steal_pointer(&line));
    while (c->tail.length > VMF_CONSOLE_TAIL)
        g_free(g_queue_pop_head(&c->tail));
}

static gpointer reader(gpointer opaque)
{
    VmfConsole *c = opaque;
    char buf[16384];
    for (;;) {
        int n = virStreamRecv(c->st, buf, sizeof(buf));
        if (n <= 0)
            break;
        fwrite(buf, 1, (size_t)n, c->log);
        fflush(c->log);
        if (c->live) {
            fwrite(buf, 1, (size_t)n, stdout);
            fflush(stdout);
        }
        g_mutex_lock(&c->lock);
        c->s.last_output = g_get_monotonic_time();
        for (int i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                console_line(c, c->line->str);
                g_string_truncate(c->line, 0);
            } else if (c->line->len < MAX_LINE) {
                g_string_append_c(c->line, buf[i]);
            }
        }
        if (c->match.success && c->line->len) {
            g_autofree char *partial = plain_line(c->line->str);
            if (strstr(partial, c->match.success))
                c->s.success = true;
        }
        g_mutex_unlock(&c->lock);
    }
    g_mutex_lock(&c->lock);
    if (c->line->len)
        console_line(c, c->line->str);
    c->s.ended = true;
    g_mutex_unlock(&c->lock);
    return NULL;
}

VmfConsole *vmf_console_start(virStreamPtr st, const char *log_path, bool live,
                              const VmfConsoleMatch *match, GError **error)
{
    FILE *log = fopen(log_path, "we");
    if (!log) {
        g_set_error(error, vmf_console_error_quark(), 1, "%s: %s", log_path, g_strerror(errno));
        return NULL;
    }
    VmfConsole *c = g_new0(VmfConsole, 1);
    virStreamRef(st);
    c->st = st;
    c->log = log;
    c->log_path = g_strdup(log_path);
    c->live = live;
    c->match = *match;
    g_mutex_init(&c->lock);
    g_queue_init(&c->tail);
    c->line = g_string_new(NULL);
    c->s.pct = -1;
    c->s.last_output = g_get_monotonic_time();
    c->reader = g_thread_new("console", reader, c);
    return c;
}

void vmf_console_reattach(VmfConsole *c, virStreamPtr st)
{
    vmf_console_stop(c, 0);
    virStreamFree(c->st);
    virStreamRef(st);
    c->st = st;
    g_mutex_lock(&c->lock);
    c->s.ended = false;
    c->s.last_output = g_get_monotonic_time();
    g_mutex_unlock(&c->lock);
    c->reader = g_thread_new("console", reader, c);
}

void vmf_console_state(VmfConsole *c, VmfConsoleState *out)
{
    g_mutex_lock(&c->lock);
    *out = c->s;
    out->failure_line = g_strdup(c->s.failure_line);
    out->what = g_strdup(c->s.what);
    g_mutex_unlock(&c->lock);
}

void vmf_console_state_clear(VmfConsoleState *s)
{
    g_free(s->failure_line);
    g_free(s->what);
    memset(s, 0, sizeof(*s));
}

void vmf_console_stop(VmfConsole *c, unsigned seconds)
{
    if (!c || !c->reader)
        return;
    bool ended = false;
    for (unsigned i = 0; i < seconds * 10 && !ended; i++) {
        g_mutex_lock(&c->lock);
        ended = c->s.ended;
        g_mutex_unlock(&c->lock);
        if (!ended)
            g_usleep(100 * 1000);
    }
    if (!ended)
        virStreamAbort(c->st);
    g_thread_join(c->reader);
    c->reader = NULL;
}

void vmf_console_print_tail(VmfConsole *c, const char *whose)
{
    g_mutex_lock(&c->lock);
    fprintf(stderr, "--- last %u lines of %s console ---\n", c->tail.length, whose);
    for (GList *l = c->tail.head; l; l = l->next)
        fprintf(stderr, "%s\n", (char *)l->data);
    fprintf(stderr, "--- whole console log: %s\n", c->log_path);
    g_mutex_unlock(&c->lock);
}

void vmf_console_free(VmfConsole *c)
{
    if (!c)
        return;
    vmf_console_stop(c, 0);
    fclose(c->log);
    virStreamFree(c->st);
    g_free(c->log_path);
    g_mutex_clear(&c->lock);
    g_queue_clear_full(&c->tail, g_free);
    g_string_free(c->line, TRUE);
    vmf_console_state_clear(&c->s);
    g_free(c);
}
