/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "progress.h"

#include "fleet-link.h"

#include "formats/engine.h"
#include "formats/vf.h"

#include <stdio.h>
#include <unistd.h>

/* Live line refresh and plain-line interval. */
#define TTY_INTERVAL   (200 * G_TIME_SPAN_MILLISECOND)
#define PLAIN_INTERVAL (10 * G_TIME_SPAN_SECOND)

struct VmfProgress {
    char *stage;
    VmfProgressMode mode;
    gint64 start, last;
    bool drawn;
    int last_pct;
    char *last_what;
};

VmfProgress *vmf_progress_new(const char *stage, VmfProgressMode mode)
{
    VmfProgress *p = g_new0(VmfProgress, 1);
    p->stage = g_strdup(stage);
    if (mode == VMF_PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? VMF_PROGRESS_TTY : VMF_PROGRESS_PLAIN;
    p->mode = mode;
    p->start = g_get_monotonic_time();
    p->last_pct = -1;
    return p;
}

static char *format_eta(double seconds)
{
    if (seconds < 0 || seconds > 99 * 3600)
        return g_strdup("--:--");
    unsigned s = (unsigned)(seconds + 0.5);
    if (s >= 3600)
        return g_strdup_printf("%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    return g_strdup_printf("%u:%02u", s / 60, s % 60);
}

void vmf_progress_update(VmfProgress *p, uint64_t done, uint64_t total, const char *note)
{
    if (!p || p->mode == VMF_PROGRESS_QUIET)
        return;
    gint64 now = g_get_monotonic_time();
    gint64 interval = p->mode == VMF_PROGRESS_TTY ? TTY_INTERVAL : PLAIN_INTERVAL;
    if (p->last && now - p->last < interval)
        return;
    p->last = now;
    double elapsed = (double)(now - p->start) / G_USEC_PER_SEC;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    vmf_fleet_link_pct(pct);
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 && total >= done ? (double)(total - done) / rate : -1;
    g_autofree char *d = vf_format_size(done);
    g_autofree char *t = vf_format_size(total);
    g_autofree char *r = vf_format_size((uint64_t)rate);
    g_autofree char *e = format_eta(eta);
    if (p->mode == VMF_PROGRESS_TTY) {
        fprintf(stderr, "\r\033[K%s: %3d%%  %s of %s  %s/s  ETA %s%s%s", p->stage, pct, d, t, r, e,
                note ? "  " : "", note ? note : "");
        p->drawn = true;
    } else {
        if (pct == p->last_pct)
            return;
        g_autoptr(GDateTime) ts = g_date_time_new_now_local();
        g_autofree char *when = g_date_time_format(ts, "%H:%M:%S");
        fprintf(stderr, "%s %s: %d%% (%s of %s, %s/s%s%s)\n", when, p->stage, pct, d, t, r,
                note ? ", " : "", note ? note : "");
    }
    p->last_pct = pct;
    fflush(stderr);
}

void vmf_progress_status(VmfProgress *p, int pct, const char *what)
{
    if (p)
        vmf_fleet_link_pct(pct);
    if (!p || p->mode == VMF_PROGRESS_QUIET)
        return;
    gint64 now = g_get_monotonic_time();
    bool changed = g_strcmp0(what, p->last_what) != 0;
    gint64 interval = p->mode == VMF_PROGRESS_TTY ? TTY_INTERVAL : PLAIN_INTERVAL;
    if (!changed && p->last && now - p->last < interval)
        return;
    if (p->mode == VMF_PROGRESS_PLAIN && !changed && pct == p->last_pct)
        return;
    p->last = now;
    g_autofree char *el = format_eta((double)(now - p->start) / G_USEC_PER_SEC);
    g_autofree char *pcttext = pct >= 0 ? g_strdup_printf("%3d%%  ", pct) : g_strdup("");
    if (p->mode == VMF_PROGRESS_TTY) {
        fprintf(stderr, "\r\033[K%s: %s%s  (%s)", p->stage, pcttext, what ? what : "", el);
        p->drawn = true;
    } else {
        g_autoptr(GDateTime) ts = g_date_time_new_now_local();
        g_autofree char *when = g_date_time_format(ts, "%H:%M:%S");
        fprintf(stderr, "%s %s: %s%s%s (%s)\n", when, p->stage, g_strstrip(pcttext),
                pct >= 0 ? " " : "", what ? what : "", el);
    }
    p->last_pct = pct;
    g_free(p->last_what);
    p->last_what = g_strdup(what);
    fflush(stderr);
}

void vmf_progress_end(VmfProgress *p, const char *summary)
{
    if (!p || p->mode == VMF_PROGRESS_QUIET)
        return;
    if (p->drawn)
        fputs("\r\033[K", stderr);
    if (summary) {
        if (p->mode == VMF_PROGRESS_PLAIN) {
            g_autoptr(GDateTime) ts = g_date_time_new_now_local();
            g_autofree char *when = g_date_time_format(ts, "%H:%M:%S");
            fprintf(stderr, "%s %s: %s\n", when, p->stage, summary);
        } else {
            fprintf(stderr, "%s: %s\n", p->stage, summary);
        }
    }
    p->drawn = false;
    fflush(stderr);
}

void vmf_progress_free(VmfProgress *p)
{
    if (!p)
        return;
    g_free(p->stage);
    g_free(p->last_what);
    g_free(p);
}

void vmf_progress_say(VmfProgressMode mode, const char *stage, const char *fmt, ...)
{
    if (mode == VMF_PROGRESS_QUIET)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (mode == VMF_PROGRESS_PLAIN) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *ts = g_date_time_format(now, "%H:%M:%S");
        fprintf(stderr, "%s %s: %s\n", ts, stage, msg);
    } else {
        fprintf(stderr, "%s: %s\n", stage, msg);
    }
    fflush(stderr);
}

void vmf_transfer_progress(uint64_t done, uint64_t total, void *bar)
{
    vmf_progress_update(bar, done, total, NULL);
}

void vmf_convert_progress(const VfProgress *p, void *bar)
{
    /* Allocated bytes are what costs time; a disk without any shows bytes. */
    uint64_t done = p->data_total ? p->data_done : p->bytes_done;
    uint64_t total = p->data_total ? p->data_total : p->bytes_total;
    vmf_progress_update(bar, done, total, p->finishing ? "finishing" : NULL);
}
