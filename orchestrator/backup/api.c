/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * api.c — a running domain backed up through libvirt's backup API (push
 * mode): each writable disk gets a qcow2 target made by vmforge in a pool on
 * the domain's host (VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL). A qcow2 and
 * not a raw file: QEMU writes the disk's zeros into a raw target as
 * allocated extents (fallocate zero-range), so a 1 TB disk holding 100 GB
 * would need 1 TB on the host; in a qcow2 they are zero flags. An
 * incremental target already names its parent backup's qcow2 as backing
 * file (a relative name) and holds only what changed; the
 * guest agent freezes the file systems around the start; libvirt's job event
 * says when the copy is done; the targets are then read here (downloaded
 * with sparse streams from a remote host) and deleted. The domain never
 * leaves its own disks. A checkpoint (a dirty bitmap in each qcow2 disk) is
 * made with the job, for the next incremental backup.
 */
#include "job.h"

#include "guestfs/guest.h"
#include "util/exit-codes.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/domain-xml.h"
#include "virt/jobs.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* How long a lost libvirtd may take to come back so the job can be
 * aborted and its targets removed. */
#define RECONNECT_SECONDS 120
/* How long an aborted job may take to stop. */
#define ABORT_SECONDS 60

/* Each disk's virtual size, from libvirt (the disks may be on another
 * host). */
static int disk_sizes(Backup *b, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        virDomainBlockInfo info;
        if (virDomainGetBlockInfo(b->dom, d->d->target, &info, 0) < 0) {
            vmf_virt_error(error, "the size of disk %s of %s", d->d->target, b->name);
            return VMF_EXIT_FAILURE;
        }
        d->capacity = info.capacity;
    }
    return VMF_EXIT_OK;
}

int backup_choose_method(Backup *b, GError **error)
{
    const char *want = b->o->method ? b->o->method : "auto";
    bool remote = vmf_virt_is_remote(b->v);
    if (!b->active) {
        b->method = METHOD_OFFLINE;
        if (!remote)
            return VMF_EXIT_OK;
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_USAGE,
                    "%s is shut off: vmforge reads a shut-off domain's disks as files, which it "
                    "can only do on the domain's host; run it there (qemu:///system), or start "
                    "the domain so the backup API can copy it from %s",
                    b->name, vmf_virt_host(b->v));
        return VMF_EXIT_USAGE;
    }
    if (strcmp(want, "snapshot") == 0 && remote) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_USAGE,
                    "--method snapshot reads the frozen disks as files, which vmforge can only do "
                    "on the domain's own host: use the backup API with %s (the default), or run "
                    "vmforge there",
                    vmf_virt_host(b->v));
        return VMF_EXIT_USAGE;
    }
    bool api = strcmp(want, "snapshot") != 0 && vmf_virt_backup_supported(b->v, b->xml);
    if (api) {
        b->method = METHOD_API;
        return disk_sizes(b, error);
    }
    if (strcmp(want, "api") == 0 || remote) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                    "%s offers no backup API for %s (libvirt >= 7.2 with QEMU's blockdev is "
                    "needed)%s",
                    vmf_virt_host(b->v), b->name,
                    remote ? "; without it vmforge backs up running domains only on their own "
                             "host (--method snapshot there)"
                           : "; --method snapshot uses a snapshot and a block commit instead");
        return VMF_EXIT_FAILURE;
    }
    b->method = METHOD_SNAPSHOT;
    b->method_why = g_strdup(strcmp(want, "snapshot") == 0
                                 ? "--method snapshot"
                                 : "the host offers no backup API (libvirt >= 7.2 with QEMU's "
                                   "blockdev)");
    return VMF_EXIT_OK;
}

/* The run record, and the pool the targets go to: the host's (--pool,
 * --remote-dir, any remote URI) or, on this machine, a transient pool on a
 * scratch folder (--scratch-dir, else the output folder). */
static int api_pool(Backup *b, GError **error)
{
    const VmfBackupOptions *o = b->o;
    vmf_runs_clean(b->v, NULL);
    if (!(b->run = vmf_run_begin(b->v, error)))
        return VMF_EXIT_OUTPUT;
    g_autofree char *name = g_strdup_printf("vmforge-backup-%s-%s", b->name, vmf_run_id(b->run));
    if (vmf_pool_on_host(vmf_virt_uri(b->v), o->pool, o->remote_dir)) {
        b->pool = vmf_pool_for_run(b->v, o->pool, o->remote_dir, name, b->run, error);
        return b->pool ? VMF_EXIT_OK : VMF_EXIT_INPUT;
    }
    const char *dir = o->scratch_dir ? o->scratch_dir : b->outdir;
    b->scratch = g_strdup_printf("%s/.vmforge-scratch-%s-XXXXXX", dir, b->name);
    /* 0711: QEMU, which may run as another user, reaches its targets by name. */
    if (!g_mkdtemp_full(b->scratch, 0711)) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_OUTPUT, "%s: %s", dir,
                    g_strerror(errno));
        g_clear_pointer(&b->scratch, g_free);
        return VMF_EXIT_OUTPUT;
    }
    g_chmod(b->scratch, 0711);
    vmf_run_add(b->run, VMF_RUN_FOLDER, NULL, b->scratch);
    vmf_run_add(b->run, VMF_RUN_LOCAL_POOL, NULL, name);
    b->pool = vmf_pool_local(b->v, name, b->scratch, error);
    return b->pool ? VMF_EXIT_OK : VMF_EXIT_FAILURE;
}

/* The target of disk `d`: an empty qcow2 of the disk's size, made here
 * (for an incremental one backed by the parent backup's qcow2 under its
 * relative name: made in the output folder, where that name resolves) and
 * uploaded into the pool. */
static int api_target(Backup *b, Disk *d, GError **error)
{
    d->volume = g_strdup_printf("vmforge-backup-%s-%s-%s.qcow2", b->name, d->d->target,
                                vmf_run_id(b->run));
    g_autofree char *hname = g_strdup_printf(".%s-%s.qcow2.%s", b->name, d->d->target,
                                             vmf_run_id(b->run));
    d->part = g_build_filename(b->outdir, hname, NULL);
    /* The parent's size is the disk's (chain.c checked). */
    if (vmf_guest_qcow2_create(d->part, d->incremental ? -1 : (int64_t)d->capacity,
                               d->backing_name, "qcow2", error) < 0)
        return VMF_EXIT_OUTPUT;
    vmf_run_add(b->run, VMF_RUN_VOLUME, vmf_pool_name(b->pool), d->volume);
    VmfTransfer t = {.cancel = &vmf_interrupted};
    d->target_path = vmf_vol_upload_file(b->pool, d->volume, d->part, &t, error);
    g_unlink(d->part);
    return d->target_path ? VMF_EXIT_OK : VMF_EXIT_FAILURE;
}

/* The disks the job copies (writable ones) and their targets. */
static int api_targets(Backup *b, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        d->in_job = !d->d->readonly;
        if (!d->in_job && vmf_virt_is_remote(b->v)) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is read-only: the backup job copies writable disks, and "
                        "vmforge cannot read a file on %s; back it up on that host",
                        d->d->target, b->name, vmf_virt_host(b->v));
            return VMF_EXIT_INPUT;
        }
        if (!d->in_job) {
            d->read_path = g_strdup(d->path); /* read where it is, as when shut off */
            continue;
        }
        int rc = api_target(b, d, error);
        if (rc)
            return rc;
    }
    return VMF_EXIT_OK;
}

/* The <domainbackup> and, when a disk is qcow2, the <domaincheckpoint>.
 * The job leaves out read-only disks and cdroms; the checkpoint tracks the
 * qcow2 disks of the job (a raw disk has no bitmaps). */
static void api_xml(Backup *b, char **backup_xml, char **checkpoint_xml)
{
    g_autoptr(GArray) specs = g_array_new(false, true, sizeof(VmfBackupDiskSpec));
    g_autoptr(GPtrArray) bitmaps = g_ptr_array_new();
    g_autoptr(GPtrArray) excluded = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) untracked = g_ptr_array_new(); /* of excluded, and raw disks */
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (!d->in_job) {
            g_ptr_array_add(excluded, g_strdup(d->d->target));
            continue;
        }
        VmfBackupDiskSpec s = {.target = d->d->target,
                               .file = d->target_path,
                               .incremental = d->incremental ? b->parent_checkpoint : NULL};
        g_array_append_val(specs, s);
        g_ptr_array_add(strcmp(d->format, "qcow2") == 0 ? bitmaps : untracked,
                        (char *)d->d->target);
    }
    backup_skipped_targets(b, excluded);
    g_ptr_array_extend(untracked, excluded, NULL, NULL);
    g_ptr_array_add(bitmaps, NULL);
    g_ptr_array_add(excluded, NULL);
    g_ptr_array_add(untracked, NULL);
    *backup_xml = vmf_backup_xml((VmfBackupDiskSpec *)specs->data, specs->len,
                                 (const char *const *)excluded->pdata);
    *checkpoint_xml = NULL;
    if (bitmaps->len > 1) {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
        b->checkpoint = g_strdup_printf("vmforge-%s-%s", stamp, vmf_run_id(b->run));
        *checkpoint_xml = vmf_checkpoint_xml(
            b->checkpoint, "vmforge backup: the next incremental backup starts here",
            (const char *const *)bitmaps->pdata, (const char *const *)untracked->pdata);
    }
}

/* Freezes the guest's file systems (when the agent answers), starts the
 * job, thaws: the job's point in time is its start. */
static int api_begin(Backup *b, GError **error)
{
    g_autofree char *bxml = NULL, *cxml = NULL;
    api_xml(b, &bxml, &cxml);
    bool frozen = false;
    if (b->o->no_quiesce) {
        b->quiesce_note = g_strdup("--no-quiesce");
    } else {
        say(b, "asking the guest agent to freeze the file systems");
        frozen = vmf_guest_freeze(b->dom, &b->quiesce_note) == 0;
    }
    int r = virDomainBackupBegin(b->dom, bxml, cxml, VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL);
    g_autofree char *begin_error = r < 0 ? g_strdup(vmf_virt_last_error()) : NULL;
    g_autofree char *thaw_error = frozen ? vmf_guest_thaw(b->dom) : NULL;
    if (thaw_error)
        say(b, "warning: thawing the guest's file systems failed: %s", thaw_error);
    if (r < 0) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                    "the backup job of %s could not start: %s", b->name, begin_error);
        g_clear_pointer(&b->checkpoint, g_free); /* not made */
        return VMF_EXIT_FAILURE;
    }
    b->job_begun = true;
    b->consistency = frozen ? "quiesced" : "crash-consistent";
    if (frozen)
        say(b, "backup job started, quiesced by the guest agent; %s stays on its own disks",
            b->name);
    else
        say(b, "backup job started, crash-consistent (%s%s); %s stays on its own disks",
            b->o->no_quiesce ? "" : "the guest agent did not freeze the file systems: ",
            b->quiesce_note, b->name);
    return VMF_EXIT_OK;
}

/* Follows the job until libvirt says it ended (or, should the event be
 * missed, no job has run for a while); then its outcome. */
static int api_wait(Backup *b, VmfJobWatch *w, GError **error)
{
    g_autoptr(VmfProgress) bar = vmf_progress_new("backup job", b->mode);
    int idle = 0;
    while (!vmf_job_watch_ended(w) && idle < 25) {
        if (vmf_interrupted)
            return vmf_signals_exit_code();
        if (!vmf_virt_alive(b->v)) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                        "lost the connection to %s during the backup job (%s)",
                        vmf_virt_host(b->v), vmf_virt_lost_reason(b->v));
            return VMF_EXIT_FAILURE;
        }
        uint64_t done = 0, total = 0;
        int r = vmf_job_progress(b->dom, &done, &total);
        idle = r == 1 ? 0 : idle + 1; /* none (or no answer) for 5 s: it ended */
        if (r == 1 && total)
            vmf_progress_update(bar, done, total, NULL);
        g_usleep(G_USEC_PER_SEC / 5);
    }
    /* The targets are closed (their qcow2 metadata written) only then. */
    vmf_job_settle(b->dom, g_array_index(b->disks, Disk, 0).d->target);
    g_autofree char *why = NULL;
    int outcome = vmf_job_outcome(b->dom, &why);
    vmf_progress_end(bar, outcome == 1 ? "done" : "failed");
    if (outcome == 1) {
        b->job_done = true;
        return VMF_EXIT_OK;
    }
    g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE, "the backup job of %s %s",
                b->name, outcome == 0 ? why : "ended, but libvirt does not say how");
    return VMF_EXIT_FAILURE;
}

/* A target brought here: an incremental one into the output folder (its
 * backing file's relative name resolves there); a full one read in place
 * on this machine, or downloaded into the staging folder from a host. */
static int api_fetch_one(Backup *b, Disk *d, GError **error)
{
    bool here = !vmf_virt_is_remote(b->v);
    if (here && !d->incremental) {
        d->read_path = g_strdup(d->target_path);
        return VMF_EXIT_OK;
    }
    g_autofree char *name = g_strdup_printf(".target-%s.qcow2", d->d->target);
    g_autofree char *path =
        d->incremental ? g_strdup(d->part) : g_build_filename(b->staging, name, NULL);
    g_autofree char *label = g_strdup_printf("fetch %s", d->d->target);
    g_autoptr(VmfProgress) bar = vmf_progress_new(label, b->mode);
    VmfTransfer t = {.progress = vmf_transfer_progress, .data = bar, .cancel = &vmf_interrupted};
    if (vmf_vol_download_file(b->pool, d->volume, path, &t, error) < 0) {
        vmf_progress_end(bar, "failed");
        return vmf_interrupted ? vmf_signals_exit_code() : VMF_EXIT_FAILURE;
    }
    g_autofree char *size = vf_format_size(t.bytes);
    vmf_progress_end(bar, size);
    memcpy(d->part_sha256, t.sha256, sizeof d->part_sha256);
    vmf_vol_delete(b->pool, d->volume); /* its space on the host is free again */
    d->read_path = g_steal_pointer(&path);
    return VMF_EXIT_OK;
}

static int api_fetch(Backup *b, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        int rc = d->in_job ? api_fetch_one(b, d, error) : VMF_EXIT_OK;
        if (rc)
            return rc;
    }
    return VMF_EXIT_OK;
}

int backup_api_run(Backup *b, GError **error)
{
    int rc = api_pool(b, error);
    if (!rc)
        rc = api_targets(b, error);
    if (rc || vmf_interrupted)
        return rc ? rc : vmf_signals_exit_code();
    g_autoptr(VmfJobWatch) w = vmf_job_watch(b->v, b->dom, error);
    if (!w)
        return VMF_EXIT_FAILURE;
    if ((rc = api_begin(b, error)) || (rc = api_wait(b, w, error)))
        return rc;
    if (b->checkpoint)
        say(b, "checkpoint %s made: the next --incremental backup starts from it", b->checkpoint);
    return api_fetch(b, error);
}

/* A job that still runs is aborted, and waited for. */
static void api_abort(Backup *b)
{
    uint64_t done, total;
    if (vmf_job_progress(b->dom, &done, &total) != 1)
        return;
    say(b, "aborting the backup job");
    if (virDomainAbortJob(b->dom) < 0)
        say(b, "warning: aborting the backup job of %s: %s", b->name, vmf_virt_last_error());
    gint64 deadline = g_get_monotonic_time() + ABORT_SECONDS * G_USEC_PER_SEC;
    while (vmf_job_progress(b->dom, &done, &total) == 1 && g_get_monotonic_time() < deadline)
        g_usleep(G_USEC_PER_SEC / 5);
}

/* The connection answers, or was made again and the domain found anew;
 * false (and what may remain on the host is printed) when it cannot be. */
static bool api_reach(Backup *b)
{
    if (vmf_virt_alive(b->v) && b->dom)
        return true;
    say(b, "lost the connection to %s (%s); reconnecting (for up to %d s) to abort the job and "
           "remove its targets",
        vmf_virt_host(b->v), vmf_virt_lost_reason(b->v), RECONNECT_SECONDS);
    g_autoptr(GError) err = NULL;
    if (b->dom)
        g_clear_pointer(&b->dom, virDomainFree);
    if (vmf_virt_reconnect(b->v, RECONNECT_SECONDS, &err) == 0)
        b->dom = virDomainLookupByUUIDString(vmf_virt_conn(b->v), b->uuid);
    if (b->dom) {
        say(b, "reconnected to %s", vmf_virt_host(b->v));
        return true;
    }
    g_autofree char *left = vmf_run_describe(b->run);
    vmf_error(CMD,
              "%s cannot be reached (%s): its backup job may still run (virsh -c %s domjobabort "
              "%s), and these may remain there: %s%s%s; the next vmforge run against it (or "
              "vmforge doctor) removes the volumes",
              vmf_virt_host(b->v), err ? err->message : "domain not found", vmf_virt_uri(b->v),
              b->name, left, b->checkpoint ? "; checkpoint " : "",
              b->checkpoint ? b->checkpoint : "");
    return false;
}

void backup_api_cleanup(Backup *b, bool ok)
{
    for (guint i = 0; b->disks && i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (d->part && !ok)
            g_unlink(d->part);
    }
    if (!b->run)
        return;
    if (!api_reach(b)) {
        vmf_pool_free(g_steal_pointer(&b->pool)); /* the connection is gone: nothing to do */
        return;
    }
    if (b->job_begun && !b->job_done)
        api_abort(b);
    if (!ok && b->checkpoint) {
        g_autoptr(GError) err = NULL;
        if (vmf_checkpoint_delete(b->dom, b->checkpoint, &err) == -EIO)
            say(b, "warning: %s", err->message);
    }
    for (guint i = 0; b->disks && i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (d->volume)
            vmf_vol_delete(b->pool, d->volume);
    }
    vmf_pool_free(g_steal_pointer(&b->pool));
    if (b->scratch)
        vmf_remove_workdir(b->scratch);
    vmf_run_end(b->run);
    if (!ok && b->job_begun)
        say(b, "the backup job is stopped, its targets%s removed; %s ran on its own disks "
               "throughout",
            b->checkpoint ? " and checkpoint" : "", b->name);
}
