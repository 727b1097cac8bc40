/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backup.c — `vmforge backup DOMAIN`, the pipeline (backup.h; its parts:
 * job.h). */
#include "job.h"

#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void backup_clear(Backup *b)
{
    vmf_pool_free(b->pool);
    vmf_run_free(b->run);
    if (b->dom)
        virDomainFree(b->dom);
    vmf_virt_close(b->v);
    g_free(b->method_why);
    g_free(b->scratch);
    g_free(b->checkpoint);
    g_free(b->parent_dir);
    g_free(b->parent_rel);
    g_free(b->parent_checkpoint);
    g_free(b->full_why);
    g_free(b->name);
    vmf_domain_info_free(b->info);
    g_free(b->xml);
    if (b->disks)
        g_array_unref(b->disks);
    g_free(b->quiesce_note);
    if (b->staging)
        vmf_remove_workdir(b->staging);
    g_free(b->staging);
    g_free(b->outdir);
    if (b->files)
        g_ptr_array_unref(b->files);
    if (b->outs)
        g_array_unref(b->outs);
    if (b->report_arts)
        g_object_unref(b->report_arts);
    g_free(b->ovf_nics);
    g_free(b->libvirt_version);
    g_free(b->qemu_version);
    if (b->started)
        g_date_time_unref(b->started);
}

/* The plan: the domain, its disks, the OVA's profile, every output file,
 * SOURCE_DATE_EPOCH; nothing is touched yet. */
static int backup_plan(Backup *b, VfOvfProfile **profile, int64_t *timestamp, GError **error)
{
    int rc = backup_connect_domain(b, error);
    if (rc != VMF_EXIT_OK)
        return rc;
    if (backup_resolve_disks(b, error) < 0)
        return (*error)->code;
    if ((rc = backup_choose_method(b, error)) || (rc = backup_plan_incremental(b, error)))
        return rc;
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        d->snapshot = b->method == METHOD_SNAPSHOT && !d->d->readonly;
    }
    if (b->want_ova) {
        g_autofree char *pdir = g_build_filename(vmf_templates_dir(), "profiles", NULL);
        const char *name = b->o->profile ? b->o->profile : "generic";
        if (vf_ovf_profile_load(pdir, name, profile, error) < 0)
            return VMF_EXIT_USAGE;
    }
    if (backup_plan_outputs(b, error) < 0)
        return VMF_EXIT_OUTPUT;
    if (vmf_source_date_epoch(timestamp) < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "SOURCE_DATE_EPOCH must be a whole, non-negative number of seconds");
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

/* The hidden folder everything is written into before it gets its name. */
static int make_staging(Backup *b, GError **error)
{
    g_autofree char *stage_name = g_strdup_printf(".vmforge-backup-%s-XXXXXX", b->name);
    g_autofree char *tmpl = g_build_filename(b->outdir, stage_name, NULL);
    if (!g_mkdtemp_full(tmpl, 0700)) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", b->outdir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    b->staging = g_steal_pointer(&tmpl);
    return VMF_EXIT_OK;
}

static const char *method_name(Method m)
{
    return m == METHOD_API ? "backup API" : m == METHOD_SNAPSHOT ? "snapshot" : "offline";
}

static void announce(Backup *b)
{
    say(b, "%s (%s, %s%s%s): %u vCPU%s, %" G_GUINT64_FORMAT " MiB, %s, %u disk%s, %u NIC%s",
        b->name, b->active ? "running" : "shut off", method_name(b->method),
        b->method == METHOD_API && b->parent_checkpoint && !b->full_why ? ", incremental from "
                                                                         : "",
        b->method == METHOD_API && b->parent_checkpoint && !b->full_why ? b->o->incremental : "",
        b->info->vcpus, b->info->vcpus == 1 ? "" : "s",
        b->info->memory >> 20, b->info->firmware, b->disks->len, b->disks->len == 1 ? "" : "s",
        b->info->nics->len, b->info->nics->len == 1 ? "" : "s");
    for (guint i = 0; i < b->info->skipped->len; i++)
        say(b, "not backed up: %s", (char *)b->info->skipped->pdata[i]);
}

/* Plans, freezes the disks of a running domain (from then on the snapshot
 * is committed back whatever happens), generalizes when asked, reads. */
static int backup_run(Backup *b, GError **error)
{
    g_autoptr(VfOvfProfile) profile = NULL;
    int64_t timestamp = 0;
    int rc = backup_plan(b, &profile, &timestamp, error);
    if (!rc)
        rc = make_staging(b, error);
    if (rc)
        return rc;
    announce(b);
    if (b->method == METHOD_API && (rc = backup_api_run(b, error)))
        return rc;
    if (b->method == METHOD_SNAPSHOT && backup_take_snapshot(b, error) < 0)
        return (*error)->code ? (*error)->code : VMF_EXIT_FAILURE;
    if (b->method == METHOD_OFFLINE)
        b->consistency = "offline";
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (!d->read_path)
            d->read_path = g_strdup(d->path);
    }
    if (b->o->generalize && !vmf_interrupted && (rc = backup_generalize(b, error)) != VMF_EXIT_OK)
        return rc;
    if (backup_open_sources(b, error) < 0)
        return VMF_EXIT_INPUT;
    rc = backup_read_disks(b, profile, timestamp, error);
    if (rc == VMF_EXIT_OK && vmf_interrupted)
        rc = vmf_signals_exit_code();
    return rc;
}

/* A shut-off domain that was started meanwhile may have changed its disks
 * under the reader. */
static int check_still_off(Backup *b, GError **error)
{
    if (b->active || !b->dom)
        return VMF_EXIT_OK;
    if (backup_ensure_connected(b, error) == 0 && virDomainIsActive(b->dom) == 1) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "%s was started while its disks were read: the images may be "
                    "inconsistent, so none were kept; back it up again",
                    b->name);
        return VMF_EXIT_FAILURE;
    }
    return VMF_EXIT_OK;
}

static void print_result(const Backup *b, const char *report, double secs)
{
    const VmfBackupOptions *o = b->o;
    if (o->json)
        fputs(report, stdout);
    if (b->mode == VMF_PROGRESS_QUIET && o->json)
        return;
    FILE *out = o->json ? stderr : stdout;
    fprintf(out, "%s backed up (%s) in %.0f s:\n", b->name, b->consistency, secs);
    for (guint i = 0; i < b->files->len; i++)
        fprintf(out, "  %s/%s\n", b->outdir, (char *)b->files->pdata[i]);
}

int vmf_backup(const VmfBackupOptions *o)
{
    vmf_signals_install();
    g_auto(Backup) b = {.o = o, .mode = o->progress};
    if (b.mode == VMF_PROGRESS_AUTO)
        b.mode = isatty(STDERR_FILENO) ? VMF_PROGRESS_TTY : VMF_PROGRESS_PLAIN;
    b.started = g_date_time_new_now_local();
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GError) err = NULL;
    int rc = backup_parse_formats(&b);
    if (rc)
        return rc;
    const char *outdir = o->outdir ? o->outdir : ".";
    if (g_mkdir_with_parents(outdir, 0755) < 0) {
        vmf_error(CMD, "%s: %s", outdir, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    b.outdir = g_canonicalize_filename(outdir, NULL);
    rc = backup_run(&b, &err);
    /* Whatever happened after the snapshot: commit. */
    int commit_rc = b.snapshot_taken ? backup_commit_all(&b) : 0;
    if (rc == VMF_EXIT_OK && vmf_interrupted)
        rc = vmf_signals_exit_code(); /* during the commit: nothing is kept either */
    if (rc == VMF_EXIT_OK)
        rc = check_still_off(&b, &err);
    double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    g_autofree char *report = NULL;
    if (rc == VMF_EXIT_OK)
        rc = backup_keep(&b, secs, &report, &err);
    if (b.method == METHOD_API)
        backup_api_cleanup(&b, rc == VMF_EXIT_OK);
    if (rc >= 128)
        vmf_error(CMD, "interrupted; no image was kept%s",
                  b.method == METHOD_API && b.job_begun ? "; the backup job was stopped and its "
                                                          "targets removed"
                  : b.snapshot_taken && commit_rc == 0 ? " and the domain runs on its own disks again"
                                                       : "");
    else if (rc != VMF_EXIT_OK)
        vmf_error(CMD, "%s", err ? err->message : "failed");
    if (rc != VMF_EXIT_OK)
        return rc;
    if (commit_rc < 0)
        return VMF_EXIT_FAILURE;
    print_result(&b, report, secs);
    return VMF_EXIT_OK;
}
