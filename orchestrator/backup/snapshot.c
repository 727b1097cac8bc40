/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "job.h"

#include "util/exit-codes.h"
#include "util/util.h"
#include "virt/domain-xml.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How long a lost libvirtd may take to come back before the commit gives up
 * and prints the recovery commands. */
#define RECONNECT_SECONDS 120
/* An active commit of an overlay that only held the writes made during the
 * backup is quick; this bounds a stuck job. */
#define COMMIT_SECONDS (30 * 60)

/* The connection answers, or was made again (the domain looked up anew by
 * its UUID). Gives up after RECONNECT_SECONDS. */
int backup_ensure_connected(Backup *b, GError **error)
{
    if (b->v && virConnectIsAlive(vmf_virt_conn(b->v)) == 1)
        return 0;
    say(b, "lost the connection to libvirtd; reconnecting (for up to %d s)", RECONNECT_SECONDS);
    gint64 deadline = g_get_monotonic_time() + RECONNECT_SECONDS * G_USEC_PER_SEC;
    g_autoptr(GError) last = NULL;
    while (g_get_monotonic_time() < deadline) {
        if (b->dom)
            g_clear_pointer(&b->dom, virDomainFree);
        g_clear_pointer(&b->v, vmf_virt_close);
        g_clear_error(&last);
        b->v = vmf_virt_open(b->o->uri, &last);
        if (b->v) {
            b->dom = virDomainLookupByUUIDString(vmf_virt_conn(b->v), b->uuid);
            if (b->dom) {
                say(b, "reconnected to libvirtd");
                return 0;
            }
            g_set_error(&last, vmf_virt_error_quark(), 1, "domain %s: %s", b->name,
                        vmf_virt_last_error());
        }
        g_usleep(G_USEC_PER_SEC);
    }
    g_set_error(error, vmf_virt_error_quark(), 1, "libvirtd did not come back within %d s (%s)",
                RECONNECT_SECONDS, last ? last->message : "no answer");
    return -EIO;
}

/* The source of disk `target` in the live definition: the overlay while the
 * domain runs on it, the disk's own image once pivoted. */
static int live_source(Backup *b, const char *target, char **source, GError **error)
{
    char *xml = virDomainGetXMLDesc(b->dom, 0);
    if (!xml) {
        g_set_error(error, vmf_virt_error_quark(), 1, "reading the definition of %s: %s", b->name,
                    vmf_virt_last_error());
        return -EIO;
    }
    g_autoptr(VmfDomainInfo) info = vmf_domain_info_parse(xml, strlen(xml), error);
    free(xml);
    if (!info)
        return -EINVAL;
    for (guint i = 0; i < info->disks->len; i++) {
        const VmfDomainDisk *d = g_ptr_array_index(info->disks, i);
        if (strcmp(d->target, target) == 0) {
            *source = g_strdup(d->source);
            return 0;
        }
    }
    g_set_error(error, vmf_virt_error_quark(), 1, "%s has no disk %s any more", b->name, target);
    return -ENOENT;
}

/* A commit in progress: its bar, and the libvirt calls that failed while
 * the connection was alive. */
typedef struct {
    VmfProgress *bar;
    char *label;
    int failures;
} Commit;

enum { COMMIT_DONE = 1, COMMIT_AGAIN = 0, COMMIT_NOW = 2 };

/* libvirt refused a call although the connection is alive: tolerated a few
 * times (a job may just be settling), then an error naming the call. */
static bool too_many_failures(Backup *b, Commit *c)
{
    return virConnectIsAlive(vmf_virt_conn(b->v)) == 1 && ++c->failures > 5;
}

/* Starts the commit (shallow: into the overlay's own backing image, the
 * disk's top, not down to the bottom of its chain). */
static int commit_start(Backup *b, Disk *d, Commit *c, GError **error)
{
    const char *target = d->d->target;
    if (!c->bar) {
        say(b, "committing the writes made during the backup back into %s (%s)", d->path, target);
        c->bar = vmf_progress_new(c->label, b->mode);
    }
    if (virDomainBlockCommit(b->dom, target, NULL, NULL, 0,
                             VIR_DOMAIN_BLOCK_COMMIT_ACTIVE | VIR_DOMAIN_BLOCK_COMMIT_SHALLOW) <
            0 &&
        too_many_failures(b, c)) {
        g_set_error(error, vmf_virt_error_quark(), 1, "block commit of %s: %s", target,
                    vmf_virt_last_error());
        return -EIO;
    }
    return COMMIT_AGAIN;
}

/* The disk's block job: none yet (start it), the commit running (show it;
 * pivot once it is ready), or another job (refused). */
static int commit_job(Backup *b, Disk *d, Commit *c, GError **error)
{
    const char *target = d->d->target;
    virDomainBlockJobInfo info = {0};
    int job = virDomainGetBlockJobInfo(b->dom, target, &info, 0);
    if (job < 0) {
        if (!too_many_failures(b, c))
            return COMMIT_AGAIN;
        g_set_error(error, vmf_virt_error_quark(), 1, "block job of %s: %s", target,
                    vmf_virt_last_error());
        return -EIO;
    }
    if (job == 0)
        return commit_start(b, d, c, error);
    if (info.type != VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "another block job (type %d) runs on disk %s; the overlay stays", info.type,
                    target);
        return -EBUSY;
    }
    if (!c->bar)
        c->bar = vmf_progress_new(c->label, b->mode);
    vmf_progress_update(c->bar, info.cur, info.end ? info.end : 1, NULL);
    /* Ready: the overlay is mirrored into its backing image. */
    if (info.end > 0 && info.cur == info.end &&
        virDomainBlockJobAbort(b->dom, target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == 0)
        return COMMIT_NOW; /* the next round sees the source switched */
    return COMMIT_AGAIN;
}

/* One look at the commit of `d`, from wherever it is: COMMIT_DONE once the
 * domain runs on the disk's own image, COMMIT_AGAIN or COMMIT_NOW to look
 * again (after a pause or at once), < 0 on failure. */
static int commit_step(Backup *b, Disk *d, Commit *c, GError **error)
{
    const char *target = d->d->target;
    if (backup_ensure_connected(b, error) < 0)
        return -EIO;
    g_autofree char *source = NULL;
    g_autoptr(GError) lerr = NULL;
    if (live_source(b, target, &source, &lerr) < 0) {
        if (too_many_failures(b, c)) {
            g_propagate_error(error, g_steal_pointer(&lerr));
            return -EIO;
        }
        g_usleep(G_USEC_PER_SEC / 2);
        return COMMIT_NOW;
    }
    if (g_strcmp0(source, d->path) == 0)
        return COMMIT_DONE; /* pivoted */
    if (g_strcmp0(source, d->overlay) != 0) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "disk %s of %s is on %s, neither its own image %s nor the overlay %s", target,
                    b->name, source ? source : "nothing", d->path, d->overlay);
        return -EINVAL;
    }
    return commit_job(b, d, c, error);
}

/* Puts disk `d` back on its own chain: an active block commit of the
 * overlay into its own backing image (shallow: the rest of the chain stays
 * as it is), a pivot once the job is ready, then the overlay is removed.
 * Picks up where a lost connection left it (the job may already run, or the
 * pivot may be done). Not interruptible: stopping here would leave the
 * domain on the overlay. */
static int commit_disk(Backup *b, Disk *d, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)COMMIT_SECONDS * G_USEC_PER_SEC;
    g_autofree char *label = g_strdup_printf("commit %s", d->d->target);
    g_autoptr(VmfProgress) bar = NULL;
    Commit c = {.label = label};
    int r;
    do {
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, vmf_virt_error_quark(), 1,
                        "the block commit of %s did not finish within %d minutes", d->d->target,
                        COMMIT_SECONDS / 60);
            return -ETIMEDOUT;
        }
        r = commit_step(b, d, &c, error);
        bar = c.bar;
        if (r == COMMIT_AGAIN)
            g_usleep(G_USEC_PER_SEC / 5);
    } while (r == COMMIT_AGAIN || r == COMMIT_NOW);
    if (r < 0)
        return r;
    if (bar)
        vmf_progress_end(bar, "pivoted");
    d->committed = true;
    if (g_unlink(d->overlay) < 0 && errno != ENOENT)
        say(b, "warning: %s is no longer used but could not be removed: %s", d->overlay,
            g_strerror(errno));
    say(b, "%s runs on %s again; overlay removed", d->d->target, d->path);
    return 0;
}

/* After the snapshot, whatever happened: every overlay goes back. */
int backup_commit_all(Backup *b)
{
    int rc = 0;
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (!d->overlay || d->committed)
            continue;
        g_autoptr(GError) err = NULL;
        if (commit_disk(b, d, &err) < 0) {
            vmf_error(CMD, "could not put disk %s back on %s: %s", d->d->target, d->path,
                      err->message);
            rc = -EIO;
        }
    }
    if (rc == 0)
        return 0;
    const char *uri = b->v ? vmf_virt_uri(b->v) : (b->o->uri ? b->o->uri : vmf_virt_default_uri());
    fprintf(stderr,
            "\nvmforge backup: the domain %s still writes to snapshot overlays. To put it back on "
            "its own disks, run:\n",
            b->name);
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (!d->overlay || d->committed)
            continue;
        fprintf(stderr, "  virsh -c %s blockcommit %s %s --active --shallow --pivot --verbose\n",
                uri, b->name, d->d->target);
    }
    fprintf(stderr, "then, once `virsh -c %s domblklist %s` shows", uri, b->name);
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (d->overlay && !d->committed)
            fprintf(stderr, " %s for %s", d->path, d->d->target);
    }
    fprintf(stderr, ", remove the overlays:\n");
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (d->overlay && !d->committed)
            fprintf(stderr, "  rm -f '%s'\n", d->overlay);
    }
    return rc;
}

int backup_take_snapshot(Backup *b, GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    g_autofree char *snap = g_strdup_printf("vmforge-backup-%s-%d", stamp, getpid());
    g_autoptr(GPtrArray) targets = g_ptr_array_new();
    g_autoptr(GPtrArray) overlays = g_ptr_array_new();
    g_autoptr(GPtrArray) excluded = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        if (!d->snapshot) {
            g_ptr_array_add(excluded, g_strdup(d->d->target));
            continue;
        }
        g_autofree char *dir = b->o->scratch_dir              ? g_strdup(b->o->scratch_dir)
                               : d->d->kind == VMF_DISK_BLOCK ? g_strdup(b->outdir)
                                                              : g_path_get_dirname(d->path);
        g_autofree char *base = g_path_get_basename(d->path);
        /* The target in the name: two disks may have one base name. */
        d->overlay = g_strdup_printf("%s/%s.%s.%s.qcow2", dir, base, d->d->target, snap);
        if (g_file_test(d->overlay, G_FILE_TEST_EXISTS)) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_OUTPUT, "%s exists", d->overlay);
            return -EEXIST;
        }
        g_ptr_array_add(targets, d->d->target);
        g_ptr_array_add(overlays, d->overlay);
    }
    backup_skipped_targets(b, excluded);
    g_ptr_array_add(targets, NULL);
    g_ptr_array_add(overlays, NULL);
    g_ptr_array_add(excluded, NULL);
    if (targets->len == 1) {
        b->consistency = "offline";
        return 0; /* only read-only disks */
    }
    g_autofree char *xml = vmf_snapshot_xml(
        snap, "vmforge backup: writes made during the backup; committed back when it ends",
        (const char *const *)targets->pdata, (const char *const *)overlays->pdata,
        (const char *const *)excluded->pdata);
    unsigned flags = VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                     VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
    virDomainSnapshotPtr s = NULL;
    if (!b->o->no_quiesce) {
        say(b, "asking the guest agent to freeze the file systems");
        s = virDomainSnapshotCreateXML(b->dom, xml, flags | VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE);
        if (!s)
            b->quiesce_note = g_strdup(vmf_virt_last_error());
    } else {
        b->quiesce_note = g_strdup("--no-quiesce");
    }
    if (s) {
        b->consistency = "quiesced";
    } else {
        s = virDomainSnapshotCreateXML(b->dom, xml, flags);
        b->consistency = "crash-consistent";
    }
    if (!s) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_FAILURE,
                    "the disk-only snapshot of %s failed: %s", b->name, vmf_virt_last_error());
        for (guint i = 0; i < b->disks->len; i++)
            g_clear_pointer(&g_array_index(b->disks, Disk, i).overlay, g_free);
        return -EIO;
    }
    virDomainSnapshotFree(s);
    b->snapshot_taken = true;
    if (strcmp(b->consistency, "quiesced") == 0)
        say(b, "snapshot taken, quiesced by the guest agent; %s now writes to the overlays",
            b->name);
    else
        say(b, "snapshot taken, crash-consistent (%s%s); %s now writes to the overlays",
            b->o->no_quiesce ? "" : "the guest agent did not freeze the file systems: ",
            b->quiesce_note, b->name);
    return 0;
}
