/* SPDX-License-Identifier: GPL-2.0-or-later */
/* report.c — OUT/fleet-report.json (every build: its host, status, report),
 * the summary that ends the run, and the dry run's plan. */
#include "run.h"

#include "formats/vf.h"
#include "util/exit-codes.h"
#include "util/json.h"
#include "vmforge-config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

static void host_json(JsonBuilder *b, const VmfFleetHost *h)
{
    json_builder_begin_object(b);
    vmf_json_str(b, "uri", h->uri);
    vmf_json_str(b, "status", h->down ? "down" : "up");
    vmf_json_str(b, "reason", h->down_reason);
    vmf_json_int(b, "installs", h->installs);
    vmf_json_int(b, "memory", h->memory);
    vmf_json_str(b, "pool", h->pool);
    vmf_json_int(b, "cpus", h->node.cpus);
    vmf_json_int(b, "installs_placed", h->placed);
    json_builder_end_object(b);
}

static void attempts_json(JsonBuilder *b, const Job *j)
{
    json_builder_set_member_name(b, "attempts");
    json_builder_begin_array(b);
    for (guint i = 0; i < j->attempts->len; i++) {
        const JobAttempt *a = &g_array_index(j->attempts, JobAttempt, i);
        json_builder_begin_object(b);
        vmf_json_str(b, "host", a->host);
        vmf_json_int(b, "exit_status", a->status);
        vmf_json_str(b, "error", a->error);
        vmf_json_ms(b, "milliseconds", a->seconds);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* When the build started, its install ended and it ended, from the run's
 * start (null: it did not). */
static void timeline_json(const Fleet *f, JsonBuilder *b, const Job *j)
{
    const char *names[] = {"started", "install_finished", "finished"};
    gint64 when[] = {j->started, j->install_ended, j->ended};
    json_builder_set_member_name(b, "timeline_milliseconds");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        json_builder_set_member_name(b, names[i]);
        if (when[i])
            json_builder_add_int_value(b, (when[i] - f->t0) / 1000);
        else
            json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
}

static void job_json(Fleet *f, JsonBuilder *b, const Job *j)
{
    g_autofree char *report = g_build_filename(j->outdir, "report.json", NULL);
    const JobAttempt *last =
        j->attempts->len ? &g_array_index(j->attempts, JobAttempt, j->attempts->len - 1) : NULL;
    json_builder_begin_object(b);
    vmf_json_str(b, "recipe", j->recipe);
    vmf_json_str(b, "name", j->probe.name);
    vmf_json_str(b, "label", j->label);
    vmf_json_str(b, "status", fleet_job_state_name(j->state));
    vmf_json_int(b, "exit_status", j->status);
    vmf_json_str(b, "error", j->error);
    vmf_json_str(b, "host", last ? last->host : NULL);
    vmf_json_str(b, "cache_key", j->probe.key);
    vmf_json_str(b, "base_disk", j->made_base ? "made" : j->maker ? "shared" : "cached");
    vmf_json_str(b, "shared_with", j->maker ? j->maker->label : NULL);
    vmf_json_str(b, "output", j->outdir);
    vmf_json_str(b, "report", j->state == JOB_DONE ? report : NULL);
    vmf_json_str(b, "log", j->log);
    vmf_json_ms(b, "install_milliseconds", j->install_seconds);
    vmf_json_ms(b, "milliseconds",
                j->ended && j->started ? (double)(j->ended - j->started) / G_USEC_PER_SEC : 0);
    attempts_json(b, j);
    timeline_json(f, b, j);
    json_builder_end_object(b);
}

int fleet_report_write(Fleet *f, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    vmf_json_int(b, "report_format", VMF_REPORT_FORMAT);
    vmf_json_str(b, "vmforge", VMFORGE_VERSION);
    g_autofree char *started = g_date_time_format_iso8601(f->started);
    vmf_json_str(b, "started", started);
    vmf_json_ms(b, "milliseconds", (double)(g_get_monotonic_time() - f->t0) / G_USEC_PER_SEC);
    vmf_json_int(b, "local_jobs", f->jobs_max);
    vmf_json_str(b, "cache", f->cache_dir);
    json_builder_set_member_name(b, "hosts");
    json_builder_begin_array(b);
    for (guint i = 0; i < f->hosts->len; i++)
        host_json(b, f->hosts->pdata[i]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "builds");
    json_builder_begin_array(b);
    for (guint i = 0; i < f->jobs->len; i++)
        job_json(f, b, f->jobs->pdata[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autofree char *text = vmf_json_text(b);
    g_autofree char *path = g_build_filename(f->outdir, "fleet-report.json", NULL);
    if (!g_file_set_contents(path, text, -1, error))
        return -1;
    if (f->o->build.json)
        fputs(text, stdout);
    return 0;
}

void fleet_summary(Fleet *f)
{
    if (f->o->build.json)
        return;
    unsigned ok = 0;
    for (guint i = 0; i < f->jobs->len; i++)
        ok += ((Job *)f->jobs->pdata[i])->state == JOB_DONE;
    double s = (double)(g_get_monotonic_time() - f->t0) / G_USEC_PER_SEC;
    printf("Built %u of %u recipe%s in %.0f s:\n", ok, f->jobs->len, f->jobs->len == 1 ? "" : "s",
           s);
    for (guint i = 0; i < f->jobs->len; i++) {
        const Job *j = f->jobs->pdata[i];
        const JobAttempt *a =
            j->attempts->len ? &g_array_index(j->attempts, JobAttempt, j->attempts->len - 1) : NULL;
        const char *host = a && a->host ? a->host : "local";
        if (j->state == JOB_DONE)
            printf("  ok      %-20s %-40s %s\n", j->label, host, j->outdir);
        else
            printf("  %-7s %-20s %-40s %s\n", j->state == JOB_FAILED ? "FAILED" : "skipped",
                   j->label, a ? host : "-", j->error ? j->error : "");
    }
    for (guint i = 0; i < f->hosts->len; i++) {
        const VmfFleetHost *h = f->hosts->pdata[i];
        if (h->down)
            printf("  host %s was down: %s\n", h->uri, h->down_reason);
    }
    printf("Report: %s/fleet-report.json\n", f->outdir);
}

int fleet_dry_run(Fleet *f)
{
    printf("Plan for %u recipes over %u host%s, %u local job%s at once, into %s:\n", f->jobs->len,
           f->hosts->len, f->hosts->len == 1 ? "" : "s", f->jobs_max, f->jobs_max == 1 ? "" : "s",
           f->outdir);
    for (guint i = 0; i < f->hosts->len; i++) {
        const VmfFleetHost *h = f->hosts->pdata[i];
        g_autofree char *mem = h->memory ? vf_format_size(h->memory) : g_strdup("from the host");
        g_autofree char *n =
            h->installs ? g_strdup_printf("%u", h->installs) : g_strdup("from the host's CPUs");
        printf("  host    %s: installs %s, memory %s%s%s\n", h->uri, n, mem,
               h->pool ? ", pool " : "", h->pool ? h->pool : "");
    }
    for (guint i = 0; i < f->jobs->len; i++) {
        const Job *j = f->jobs->pdata[i];
        g_autofree char *mem = vf_format_size(j->probe.memory);
        const char *base = j->maker ? "shared with an earlier recipe: built once"
                           : j->probe.cached && !j->rebuild ? "in the cache: no install"
                           : j->probe.installs ? "not in the cache: installed on a host"
                                               : "imported here from its base: image";
        printf("  recipe  %-20s %s (%s)\n          base disk %.16s: %s%s%s; install %u vCPU, "
               "%s\n",
               j->label, j->outdir, j->recipe, j->probe.key, base, j->maker ? " with " : "",
               j->maker ? j->maker->label : "", j->probe.vcpus, mem);
    }
    printf("  report  %s/fleet-report.json\n", f->outdir);
    return VMF_EXIT_OK;
}
