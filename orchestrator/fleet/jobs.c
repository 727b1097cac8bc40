/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jobs.c — one build of a fleet: a `vmforge build` process of this same
 * executable, its events on a socket (util/fleet-link.h), its output in its
 * own log. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The socket's number in the build's process. */
#define LINK_FD 3

Job *fleet_job_new(const char *recipe)
{
    Job *j = g_new0(Job, 1);
    j->recipe = g_strdup(recipe);
    j->attempts = g_array_new(false, true, sizeof(JobAttempt));
    j->excluded = g_ptr_array_new();
    j->fd = -1;
    j->pct = -1;
    return j;
}

void fleet_job_free(gpointer p)
{
    Job *j = p;
    g_free(j->recipe);
    g_free(j->label);
    vmf_build_probe_clear(&j->probe);
    g_free(j->outdir);
    g_free(j->log);
    g_free(j->error);
    for (guint i = 0; i < j->attempts->len; i++) {
        JobAttempt *a = &g_array_index(j->attempts, JobAttempt, i);
        g_free(a->host);
        g_free(a->error);
    }
    g_array_unref(j->attempts);
    g_ptr_array_unref(j->excluded);
    if (j->fd >= 0)
        close(j->fd);
    if (j->in)
        g_string_free(j->in, true);
    g_free(j->stage);
    g_free(j);
}

const char *fleet_job_state_name(JobState s)
{
    switch (s) {
    case JOB_WAITING:
        return "waiting";
    case JOB_RUNNING:
        return "running";
    case JOB_DONE:
        return "ok";
    case JOB_FAILED:
        return "failed";
    default:
        return "not started";
    }
}

static void add(GPtrArray *argv, const char *opt, const char *value)
{
    if (!value)
        return;
    g_ptr_array_add(argv, g_strdup(opt));
    g_ptr_array_add(argv, g_strdup(value));
}

/* The build's command line: the fleet's options for one recipe and host. */
static GPtrArray *build_argv(Fleet *f, Job *j, VmfFleetHost *host)
{
    const VmfBuildOptions *b = &f->o->build;
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup("vmforge"));
    g_ptr_array_add(argv, g_strdup("build"));
    g_ptr_array_add(argv, g_strdup(j->recipe));
    add(argv, "--output", j->outdir);
    add(argv, "--accel", b->accel);
    add(argv, "--cache-dir", f->cache_dir);
    add(argv, "--connect", host ? host->uri : NULL);
    add(argv, "--pool", host && host->pool ? host->pool : b->pool);
    add(argv, "--remote-dir", host && host->pool ? NULL : b->remote_dir);
    add(argv, "--only", b->only);
    for (char **v = b->vars; v && *v; v++)
        add(argv, "--var", *v);
    const char *flags[] = {b->keep_failed ? "--keep-failed" : NULL, j->rebuild ? "--rebuild" : NULL,
                           b->no_sync ? "--no-sync" : NULL, f->o->publish ? "--publish" : NULL,
                           f->o->force_publish ? "--force-publish" : NULL};
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++)
        if (flags[i])
            g_ptr_array_add(argv, g_strdup(flags[i]));
    g_ptr_array_add(argv, NULL);
    return argv;
}

/* The child: its own process group (a Ctrl-C reaches the fleet, which
 * passes it on once), ended when the fleet dies, the socket as LINK_FD,
 * output to the log. Only async-signal-safe calls. */
static void child_exec(int sock, int log, char **argv, char **envp)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0 || dup2(sock, LINK_FD) < 0)
        _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    close_range(LINK_FD + 1, ~0U, 0);
    execve("/proc/self/exe", argv, envp);
    _exit(127);
}

static int open_log(Job *j, VmfFleetHost *host)
{
    g_autofree char *logs = g_build_filename(j->outdir, "logs", NULL);
    if (g_mkdir_with_parents(logs, 0755) < 0)
        return -errno;
    int fd = open(j->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    j->log_offset = lseek(fd, 0, SEEK_END);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *ts = g_date_time_format(now, "%F %T");
    g_autofree char *head =
        g_strdup_printf("--- %s: vmforge build %s, attempt %u%s%s ---\n", ts, j->recipe,
                        j->attempts->len + 1, host ? " on " : "", host ? host->uri : "");
    if (write(fd, head, strlen(head)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int fleet_job_spawn(Fleet *f, Job *j, VmfFleetHost *host)
{
    int log = open_log(j, host);
    if (log < 0)
        return log;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;
        close(log);
        return -e;
    }
    /* The fleet's end never blocks: a process the build started may hold
     * the other end open after the build ended. */
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    g_autoptr(GPtrArray) argv = build_argv(f, j, host);
    g_auto(GStrv) envp = g_environ_setenv(g_get_environ(), "VMFORGE_FLEET_FD", "3", true);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(sv[1], log, (char **)argv->pdata, envp);
    int e = errno;
    close(sv[1]);
    close(log);
    if (pid < 0) {
        close(sv[0]);
        return -e;
    }
    j->pid = pid;
    j->fd = sv[0];
    j->in = g_string_new(NULL);
    j->state = JOB_RUNNING;
    j->host = host;
    j->last_host = host;
    j->wants_local = j->has_local = false;
    g_free(j->stage);
    j->stage = g_strdup(host ? "install" : "starting");
    j->pct = -1;
    j->attempt_started = g_get_monotonic_time();
    if (!j->started)
        j->started = j->attempt_started;
    if (host) {
        host->running++;
        host->placed++;
        host->placed_memory += j->probe.memory;
    }
    return 0;
}

/* The install's slot on its host is free again. */
static void release_host(Job *j)
{
    if (!j->host)
        return;
    j->host->running--;
    j->host->placed_memory -= j->probe.memory;
    j->install_ended = g_get_monotonic_time();
    j->install_seconds = (double)(j->install_ended - j->attempt_started) / G_USEC_PER_SEC;
    j->host = NULL;
}

static void job_line(Fleet *f, Job *j, const char *line)
{
    if (g_str_has_prefix(line, "stage ")) {
        const char *stage = line + 6;
        if (j->host && strcmp(stage, "install") != 0)
            release_host(j);
        if (g_strcmp0(stage, j->stage) != 0)
            fleet_status_event(f, j, "%s%s%s", stage, j->host ? " on " : "",
                               j->host ? j->host->name : "");
        g_free(j->stage);
        j->stage = g_strdup(stage);
        j->pct = -1;
    } else if (g_str_has_prefix(line, "pct ")) {
        j->pct = atoi(line + 4);
    } else if (strcmp(line, "local") == 0) {
        release_host(j);
        j->wants_local = true;
    }
}

bool fleet_job_read(Fleet *f, Job *j)
{
    char buf[512];
    ssize_t r = read(j->fd, buf, sizeof(buf));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (r <= 0) {
        release_host(j);
        close(j->fd);
        j->fd = -1;
        return true;
    }
    g_string_append_len(j->in, buf, (gssize)r);
    char *nl;
    while ((nl = memchr(j->in->str, '\n', j->in->len))) {
        *nl = '\0';
        job_line(f, j, j->in->str);
        g_string_erase(j->in, 0, nl - j->in->str + 1);
    }
    return false;
}

void fleet_job_grant_local(Job *j)
{
    j->wants_local = false;
    j->has_local = true;
    if (j->fd >= 0 && write(j->fd, "go\n", 3) != 3) {
        /* The build is gone: its exit is reaped and judged. */
    }
}

char *fleet_job_error(const Job *j)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(j->log, &text, &len, NULL) || (gsize)j->log_offset > len)
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text + j->log_offset, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *e = strstr(*l, ": error: ");
        if (g_str_has_prefix(*l, "vmforge ") && e)
            return g_strdup(e + strlen(": error: "));
    }
    return NULL;
}
