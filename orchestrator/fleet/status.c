/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status.c — what a fleet shows while it runs: on a terminal, one line per
 * running build (recipe, host, stage, percent, time) under the events; else
 * timestamped lines, and each running build's state every PLAIN_EVERY. */
#include "run.h"

#include <stdio.h>
#include <unistd.h>

#define PLAIN_EVERY (60 * G_TIME_SPAN_SECOND)

static char *elapsed(gint64 since)
{
    unsigned s = (unsigned)((g_get_monotonic_time() - since) / G_USEC_PER_SEC);
    return g_strdup_printf("%u:%02u", s / 60, s % 60);
}

void fleet_status_clear(Fleet *f)
{
    if (f->mode != VMF_PROGRESS_TTY || !f->drawn)
        return;
    fprintf(stderr, "\033[%uA\033[J", f->drawn);
    f->drawn = 0;
    fflush(stderr);
}

void fleet_status_event(Fleet *f, const Job *j, const char *fmt, ...)
{
    if (f->mode == VMF_PROGRESS_QUIET)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fleet_status_clear(f);
    vmf_progress_say(f->mode, j->label ? j->label : j->recipe, "%s", msg);
}

static char *job_line(const Job *j)
{
    g_autofree char *el = elapsed(j->attempt_started);
    g_autofree char *pct = j->pct >= 0 ? g_strdup_printf("%3d%%", j->pct) : g_strdup("    ");
    const char *where = j->host ? j->host->name : j->wants_local ? "(waiting for -j)" : "local";
    return g_strdup_printf("%-20s %-16s %-10s %s  %s", j->label, where, j->stage ? j->stage : "",
                           pct, el);
}

void fleet_status_draw(Fleet *f)
{
    if (f->mode == VMF_PROGRESS_PLAIN) {
        gint64 now = g_get_monotonic_time();
        if (now - f->last_plain < PLAIN_EVERY)
            return;
        f->last_plain = now;
        for (guint i = 0; i < f->jobs->len; i++) {
            const Job *j = f->jobs->pdata[i];
            g_autofree char *line = j->state == JOB_RUNNING ? job_line(j) : NULL;
            if (line)
                vmf_progress_say(f->mode, "running", "%s", line);
        }
        return;
    }
    if (f->mode != VMF_PROGRESS_TTY)
        return;
    fleet_status_clear(f);
    for (guint i = 0; i < f->jobs->len; i++) {
        const Job *j = f->jobs->pdata[i];
        if (j->state != JOB_RUNNING)
            continue;
        g_autofree char *line = job_line(j);
        fprintf(stderr, "  %s\n", line);
        f->drawn++;
    }
    fflush(stderr);
}
