/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.h — the state a fleet run shares between its parts: the builds
 * (jobs.c: one `vmforge build` process each), the loop that places them
 * (fleet.c), the status lines (status.c) and the report (report.c).
 */
#pragma once

#include "fleet.h"
#include "hosts.h"
#include "util/progress.h"

#include <sys/types.h>

typedef enum { JOB_WAITING, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_NOT_STARTED } JobState;

/* One attempt of a build: where, and how it ended. */
typedef struct {
    char *host; /* URI, or NULL when it needed no host */
    int status; /* exit status */
    char *error;
    double seconds;
} JobAttempt;

typedef struct Job {
    char *recipe; /* as given */
    char *label;  /* its folder's name under OUT/, and its name in messages */
    VmfBuildProbe probe;
    char *outdir, *log;
    JobState state;
    int status;  /* exit status when finished */
    char *error; /* why it failed */
    GArray *attempts;
    struct Job *maker; /* an earlier build making the same base disk */
    bool made_base;    /* this one installed (or imported) it */
    bool rebuild;      /* --rebuild: only the first build of a key */
    /* The running attempt. */
    VmfFleetHost *host; /* the install's host while it holds a slot */
    VmfFleetHost *last_host;
    GPtrArray *excluded; /* hosts that went down under it */
    pid_t pid;
    int fd;
    GString *in;
    char *stage;
    int pct;
    bool wants_local, has_local;
    long log_offset; /* where this attempt's lines start */
    gint64 started, attempt_started, install_ended, ended;
    double install_seconds;
} Job;

typedef struct {
    const VmfFleetOptions *o;
    char *outdir, *cache_dir;
    GPtrArray *hosts; /* VmfFleetHost */
    GPtrArray *jobs;  /* Job */
    unsigned jobs_max, local_running;
    VmfProgressMode mode;
    unsigned drawn; /* status lines on the terminal */
    int forwarded;  /* the signal passed on to the builds */
    gint64 t0, last_plain;
    GDateTime *started;
} Fleet;

/* jobs.c */
Job *fleet_job_new(const char *recipe);
void fleet_job_free(gpointer p);
/* Starts the build's process (on `host`, or none when the base disk is
 * cached or imported). Returns 0, or -errno (the job failed). */
int fleet_job_spawn(Fleet *f, Job *j, VmfFleetHost *host);
/* Reads what the build said; true when it closed its end. */
bool fleet_job_read(Fleet *f, Job *j);
/* Sends "go" for its local slot. */
void fleet_job_grant_local(Job *j);
/* The first error line of the running attempt in its log (g_free). */
char *fleet_job_error(const Job *j);
const char *fleet_job_state_name(JobState s);

/* status.c */
void fleet_status_event(Fleet *f, const Job *j, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void fleet_status_draw(Fleet *f);
void fleet_status_clear(Fleet *f);

/* report.c */
int fleet_report_write(Fleet *f, GError **error);
int fleet_dry_run(Fleet *f);
void fleet_summary(Fleet *f);
