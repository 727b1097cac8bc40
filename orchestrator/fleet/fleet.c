/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fleet.c — the fleet's loop: builds placed on hosts with room, the local
 * pool, a base disk made once for several recipes, retries on another host
 * when one goes down, signals passed on to every build. */
#include "run.h"

#include "build/cache.h"
#include "formats/vf.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD "build"
/* How often the loop wakes without events (status lines, signals). */
#define TICK_MS 250

static bool cached_now(const Fleet *f, const Job *j)
{
    g_autofree char *disk = g_strdup_printf("%s/base/%s/disk.raw", f->cache_dir, j->probe.key);
    g_autofree char *info = g_strdup_printf("%s/base/%s/entry.json", f->cache_dir, j->probe.key);
    return g_file_test(disk, G_FILE_TEST_EXISTS) && g_file_test(info, G_FILE_TEST_EXISTS);
}

static void job_fail(Job *j, int status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void job_fail(Job *j, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_free(j->error);
    j->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    j->state = JOB_FAILED;
    j->status = status;
    j->ended = g_get_monotonic_time();
}

/* The up host with the most room for `j`, or NULL. */
static VmfFleetHost *pick_host(Fleet *f, Job *j)
{
    VmfFleetHost *best = NULL;
    double best_load = 2;
    for (guint i = 0; i < f->hosts->len; i++) {
        VmfFleetHost *h = f->hosts->pdata[i];
        if (h->down || g_ptr_array_find(j->excluded, h, NULL))
            continue;
        double load = (double)h->running / h->installs;
        if (load < best_load && vmf_fleet_host_has_room(h, j->probe.memory)) {
            best = h;
            best_load = load;
        }
    }
    return best;
}

/* Whether any up host (not excluded) could ever take the build. */
static bool placeable(Fleet *f, Job *j)
{
    for (guint i = 0; i < f->hosts->len; i++) {
        VmfFleetHost *h = f->hosts->pdata[i];
        if (vmf_fleet_host_fits(h, j->probe.memory) && !g_ptr_array_find(j->excluded, h, NULL))
            return true;
    }
    return false;
}

static void fail_unplaceable(Fleet *f, Job *j)
{
    g_autofree char *need = vf_format_size(j->probe.memory);
    g_autoptr(GString) why = g_string_new(NULL);
    for (guint i = 0; i < f->hosts->len; i++) {
        VmfFleetHost *h = f->hosts->pdata[i];
        g_autofree char *lim = vmf_fleet_host_limits(h);
        g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "", h->name,
                               h->down ? h->down_reason : lim);
    }
    job_fail(j, VMF_EXIT_HOST, "no host can take its install (%s of memory): %s", need, why->str);
    fleet_status_event(f, j, "failed: %s", j->error);
}

/* Starts what may start: builds whose base disk is cached (or imported)
 * at once, installs on hosts with room; a build waits while an earlier one
 * makes the same base disk. */
static void schedule(Fleet *f)
{
    for (guint i = 0; i < f->jobs->len && !vmf_interrupted; i++) {
        Job *j = f->jobs->pdata[i];
        if (j->state != JOB_WAITING || (j->maker && j->maker->state == JOB_RUNNING))
            continue;
        bool host_needed = j->probe.installs && (j->rebuild || !cached_now(f, j));
        if (host_needed && !placeable(f, j)) {
            fail_unplaceable(f, j);
            continue;
        }
        VmfFleetHost *h = host_needed ? pick_host(f, j) : NULL;
        if (host_needed && !h)
            continue;
        int rc = fleet_job_spawn(f, j, h);
        if (rc < 0) {
            job_fail(j, VMF_EXIT_FAILURE, "could not start its build: %s", g_strerror(-rc));
            continue;
        }
        bool cached = !host_needed && !j->rebuild && cached_now(f, j);
        j->made_base = !cached;
        fleet_status_event(f, j, h ? "install on %s" : "started (base disk %s)",
                           h        ? h->name
                           : cached ? "in the cache"
                                    : "imported here");
    }
}

/* Local slots, in the jobs' order (the command line's). */
static void grant_local(Fleet *f)
{
    for (guint i = 0; i < f->jobs->len && f->local_running < f->jobs_max; i++) {
        Job *j = f->jobs->pdata[i];
        if (j->state == JOB_RUNNING && j->wants_local) {
            fleet_job_grant_local(j);
            f->local_running++;
        }
    }
}

static void record_attempt(Job *j, int status)
{
    JobAttempt a = {
        .host = j->last_host ? g_strdup(j->last_host->uri) : NULL,
        .status = status,
        .error = status ? fleet_job_error(j) : NULL,
        .seconds = (double)(g_get_monotonic_time() - j->attempt_started) / G_USEC_PER_SEC,
    };
    if (status && !a.error)
        a.error = status > 128 ? g_strdup_printf("stopped by signal %d", status - 128)
                               : g_strdup_printf("exit status %d (see %s)", status, j->log);
    g_array_append_val(j->attempts, a);
}

/* The host went away under the install: down for the rest of the run, and
 * the build tried once more elsewhere. */
static void host_lost(Fleet *f, Job *j, const JobAttempt *a)
{
    VmfFleetHost *h = j->last_host;
    vmf_fleet_host_mark_down(h, a->error);
    fleet_status_event(f, j, "host %s is down: %s", h->name, a->error);
    g_ptr_array_add(j->excluded, h);
    if (j->attempts->len < 2 && !f->forwarded) {
        j->state = JOB_WAITING;
        fleet_status_event(f, j, "trying again on another host");
        return;
    }
    job_fail(j, a->status, "%s", a->error);
    fleet_status_event(f, j, "failed (exit %d): %s", a->status, j->error);
}

/* A build's process ended with `status`: done, failed, or tried again. */
static void job_ended(Fleet *f, Job *j, int status)
{
    if (j->has_local)
        f->local_running--;
    j->has_local = j->wants_local = false;
    j->pid = 0;
    record_attempt(j, status);
    const JobAttempt *a = &g_array_index(j->attempts, JobAttempt, j->attempts->len - 1);
    if (status == 0) {
        j->state = JOB_DONE;
        j->status = 0;
        j->ended = g_get_monotonic_time();
        fleet_status_event(f, j, "done in %.0f s: %s", a->seconds, j->outdir);
    } else if (status == VMF_EXIT_HOST && j->last_host && !f->forwarded &&
               g_strcmp0(j->stage, "install") == 0) {
        host_lost(f, j, a);
    } else {
        job_fail(j, status, "%s", a->error);
        fleet_status_event(f, j, "failed (exit %d): %s", status, j->error);
    }
}

static int wait_status(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    return 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : SIGTERM);
}

/* Reads the running builds' events (up to TICK_MS) and reaps those that
 * ended. */
static void poll_jobs(Fleet *f)
{
    g_autofree struct pollfd *fds = g_new0(struct pollfd, f->jobs->len);
    g_autofree Job **of = g_new0(Job *, f->jobs->len);
    nfds_t n = 0;
    for (guint i = 0; i < f->jobs->len; i++) {
        Job *j = f->jobs->pdata[i];
        if (j->state == JOB_RUNNING && j->fd >= 0) {
            fds[n] = (struct pollfd){.fd = j->fd, .events = POLLIN};
            of[n++] = j;
        }
    }
    if (poll(fds, n, TICK_MS) > 0)
        for (nfds_t i = 0; i < n; i++)
            if (fds[i].revents)
                fleet_job_read(f, of[i]);
    for (guint i = 0; i < f->jobs->len; i++) {
        Job *j = f->jobs->pdata[i];
        int ws;
        if (j->state == JOB_RUNNING && j->pid > 0 && waitpid(j->pid, &ws, WNOHANG) == j->pid) {
            for (int k = 0; k < 64 && j->fd >= 0; k++)
                if (fleet_job_read(f, j))
                    break; /* the last events, until the end or nothing more */
            if (j->fd >= 0) {
                close(j->fd);
                j->fd = -1;
            }
            job_ended(f, j, wait_status(ws));
        }
    }
}

/* A signal: passed on once to every running build (each cleans up its
 * host); builds not started are not started. */
static void forward_signal(Fleet *f)
{
    if (!vmf_interrupted || f->forwarded)
        return;
    f->forwarded = vmf_interrupted;
    fleet_status_clear(f);
    fprintf(stderr,
            "vmforge build: %s: stopping every build (each removes what it made on its "
            "host)\n",
            strsignal(f->forwarded));
    for (guint i = 0; i < f->jobs->len; i++) {
        Job *j = f->jobs->pdata[i];
        if (j->state == JOB_RUNNING && j->pid > 0)
            kill(j->pid, f->forwarded);
        else if (j->state == JOB_WAITING) {
            job_fail(j, 128 + f->forwarded, "not started: interrupted");
            j->state = JOB_NOT_STARTED;
        }
    }
}

/* Nothing runs and what waits cannot start: no host has the free memory
 * (other guests use it). Rather than wait for ever, those builds fail. */
static void check_stalled(Fleet *f)
{
    for (guint i = 0; i < f->jobs->len; i++)
        if (((Job *)f->jobs->pdata[i])->state == JOB_RUNNING)
            return;
    for (guint i = 0; i < f->jobs->len; i++) {
        Job *j = f->jobs->pdata[i];
        if (j->state != JOB_WAITING)
            continue;
        g_autofree char *need = vf_format_size(j->probe.memory);
        job_fail(j, VMF_EXIT_HOST, "no host has %s of memory free for its install now", need);
        fleet_status_event(f, j, "failed: %s", j->error);
    }
}

static bool unfinished(const Fleet *f)
{
    for (guint i = 0; i < f->jobs->len; i++) {
        JobState s = ((Job *)f->jobs->pdata[i])->state;
        if (s == JOB_WAITING || s == JOB_RUNNING)
            return true;
    }
    return false;
}

static void run_loop(Fleet *f)
{
    while (unfinished(f)) {
        forward_signal(f);
        if (!f->forwarded) {
            schedule(f);
            check_stalled(f);
        }
        grant_local(f);
        poll_jobs(f);
        fleet_status_draw(f);
    }
    fleet_status_clear(f);
}

/* OUT/NAME/ of each build: the recipe's name; for a later recipe of the
 * same name (a variant: other targets, the same base disk), its file's name
 * without .yaml. */
static char *dir_name(const Fleet *f, const Job *j)
{
    bool earlier = false;
    for (guint i = 0; i < f->jobs->len && f->jobs->pdata[i] != j; i++)
        earlier |= g_strcmp0(((Job *)f->jobs->pdata[i])->probe.name, j->probe.name) == 0;
    if (!earlier)
        return g_strdup(j->probe.name);
    g_autofree char *base = g_path_get_basename(j->recipe);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return g_steal_pointer(&base);
}

static int assign_dirs(Fleet *f)
{
    int rc = 0;
    for (guint i = 0; i < f->jobs->len; i++) {
        Job *j = f->jobs->pdata[i];
        g_autofree char *name = dir_name(f, j);
        j->outdir = g_build_filename(f->outdir, name, NULL);
        j->log = g_build_filename(j->outdir, "logs", "build.log", NULL);
        g_free(j->label);
        j->label = g_steal_pointer(&name);
        for (guint k = 0; k < i; k++) {
            Job *o = f->jobs->pdata[k];
            if (strcmp(o->outdir, j->outdir) == 0) {
                vmf_error(CMD,
                          "%s and %s would both write %s: give the recipes different names "
                          "or file names",
                          o->recipe, j->recipe, j->outdir);
                rc = VMF_EXIT_USAGE;
            }
        }
    }
    return rc;
}

/* Every recipe checked as `vmforge build` checks it, and its cache key:
 * all refused before anything starts. */
static int load_jobs(Fleet *f)
{
    int rc = 0;
    VmfBuildOptions bo = f->o->build;
    VmfFleetHost *first = f->hosts->pdata[0];
    bo.uri = first->uri;
    bo.outdir = f->outdir;
    for (char **r = f->o->recipes; *r; r++) {
        Job *j = fleet_job_new(*r);
        g_ptr_array_add(f->jobs, j);
        g_autoptr(GError) err = NULL;
        bo.recipe = *r;
        int jrc = vmf_build_probe(&bo, &j->probe, &err);
        if (jrc) {
            vmf_error(CMD, "%s", err ? err->message : *r);
            rc = rc ? rc : jrc;
            continue;
        }
        for (guint i = 0; i + 1 < f->jobs->len && !j->maker; i++) {
            Job *o = f->jobs->pdata[i];
            if (g_strcmp0(o->probe.key, j->probe.key) == 0)
                j->maker = o;
        }
        j->rebuild = f->o->build.rebuild && !j->maker;
    }
    return rc ? rc : assign_dirs(f);
}

static int load_hosts(Fleet *f)
{
    g_autoptr(GError) err = NULL;
    if (f->o->hosts_file) {
        f->hosts = vmf_fleet_hosts_load(f->o->hosts_file, &err);
        if (!f->hosts) {
            vmf_error(CMD, "%s", err->message);
            return err->code;
        }
    } else if (f->o->uris && f->o->uris[0]) {
        f->hosts = vmf_fleet_hosts_from_uris(f->o->uris);
    } else {
        const char *local[] = {vmf_virt_default_uri(), NULL};
        f->hosts = vmf_fleet_hosts_from_uris((char **)local);
    }
    return 0;
}

static void say_hosts(Fleet *f)
{
    for (guint i = 0; i < f->hosts->len; i++) {
        VmfFleetHost *h = f->hosts->pdata[i];
        g_autofree char *lim = vmf_fleet_host_limits(h);
        g_autofree char *mem = vf_format_size(h->node.memory);
        if (h->down)
            vmf_progress_say(f->mode, CMD, "host %s: DOWN: %s", h->uri, h->down_reason);
        else
            vmf_progress_say(f->mode, CMD, "host %s: %u CPUs, %s; %s", h->uri, h->node.cpus, mem,
                             lim);
    }
}

static void fleet_clear(Fleet *f)
{
    if (f->jobs)
        g_ptr_array_unref(f->jobs);
    if (f->hosts)
        g_ptr_array_unref(f->hosts);
    g_free(f->outdir);
    g_free(f->cache_dir);
    if (f->started)
        g_date_time_unref(f->started);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Fleet, fleet_clear)

static int exit_status(const Fleet *f)
{
    if (f->forwarded)
        return 128 + f->forwarded;
    for (guint i = 0; i < f->jobs->len; i++) {
        const Job *j = f->jobs->pdata[i];
        if (j->state != JOB_DONE)
            return j->status ? j->status : VMF_EXIT_FAILURE;
    }
    return VMF_EXIT_OK;
}

int vmf_fleet(const VmfFleetOptions *o)
{
    g_auto(Fleet) f = {.o = o, .t0 = g_get_monotonic_time()};
    f.last_plain = f.t0;
    f.started = g_date_time_new_now_utc();
    f.mode = o->build.verbosity < 0  ? VMF_PROGRESS_QUIET
             : isatty(STDERR_FILENO) ? VMF_PROGRESS_TTY
                                     : VMF_PROGRESS_PLAIN;
    f.outdir = g_canonicalize_filename(o->build.outdir ? o->build.outdir : ".", NULL);
    f.cache_dir = vmf_cache_default_dir(o->build.cache_dir);
    f.jobs = g_ptr_array_new_with_free_func(fleet_job_free);
    f.jobs_max = o->jobs ? o->jobs : MAX(1u, g_get_num_processors());
    int rc = load_hosts(&f);
    if (!rc)
        rc = load_jobs(&f);
    if (rc)
        return rc;
    if (o->build.dry_run)
        return fleet_dry_run(&f);
    if (g_mkdir_with_parents(f.outdir, 0755) < 0) {
        vmf_error(CMD, "%s: %s", f.outdir, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    vmf_signals_install();
    vmf_fleet_hosts_probe(f.hosts);
    vmf_progress_say(f.mode, CMD,
                     "%u recipes over %u host%s, %u local job%s at once (logs: "
                     "%s/NAME/logs/build.log)",
                     f.jobs->len, f.hosts->len, f.hosts->len == 1 ? "" : "s", f.jobs_max,
                     f.jobs_max == 1 ? "" : "s", f.outdir);
    say_hosts(&f);
    run_loop(&f);
    g_autoptr(GError) err = NULL;
    if (fleet_report_write(&f, &err) < 0) {
        vmf_error(CMD, "%s", err->message);
        return VMF_EXIT_OUTPUT;
    }
    fleet_summary(&f);
    return exit_status(&f);
}
