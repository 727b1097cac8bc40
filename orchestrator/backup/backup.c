/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backup.c — `vmforge backup DOMAIN`. See backup.h. */
#include "backup.h"

#include "customize/customize.h"
#include "formats/engine.h"
#include "formats/ova.h"
#include "formats/qcow2-read.h"
#include "guestfs/guest.h"
#include "util/exit-codes.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/signals.h"
#include "util/util.h"
#include "virt/domain-info.h"
#include "virt/domain-xml.h"
#include "virt/virt.h"
#include "vmforge-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "backup"
/* How long a lost libvirtd may take to come back before the commit gives up
 * and prints the recovery commands. */
#define RECONNECT_SECONDS 120
/* An active commit of an overlay that only held the writes made during the
 * backup is quick; this bounds a stuck job. */
#define COMMIT_SECONDS (30 * 60)

typedef struct {
    const VmfDomainDisk *d; /* in Backup.info */
    char *path;             /* the disk's image (a qcow2 top, or raw), on this host */
    const char *format;     /* "raw" or "qcow2" */
    bool snapshot;          /* gets an overlay (running and writable) */
    char *overlay;          /* the snapshot's overlay, while the domain runs on it */
    bool committed;
    char *read_path; /* what is read: path, or the generalize overlay */
    VfSource *src;   /* read_path, opened once for the OVF plan and the convert */
    char *chain;     /* the chain read, for the report */
} Disk;

/* One --to format, parsed once. */
typedef struct {
    const VfWriterOps *ops;
    GHashTable *options;
} Output;

typedef struct {
    const VmfBackupOptions *o;
    VmfProgressMode mode;
    VmfVirt *v;
    virDomainPtr dom;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    VmfDomainInfo *info;
    char *xml;     /* the definition saved beside the images */
    GArray *disks; /* of Disk */
    bool active;   /* running or paused when the backup started */
    bool snapshot_taken;
    const char *consistency; /* quiesced, crash-consistent, offline */
    char *quiesce_note;
    char *outdir, *staging;
    GPtrArray *files; /* of char *: base names made in staging, to be moved to outdir */
    GArray *outs;     /* of Output: the --to formats */
    bool want_ova;    /* one of them is ova */
    JsonBuilder *report_arts;
    char *libvirt_version, *qemu_version;
    GDateTime *started;
} Backup;

static void disk_clear(void *p)
{
    Disk *d = p;
    g_free(d->path);
    g_free(d->overlay);
    g_free(d->read_path);
    vf_source_free(d->src);
    g_free(d->chain);
}

static void output_clear(void *p)
{
    Output *o = p;
    if (o->options)
        g_hash_table_unref(o->options);
}

static void backup_clear(Backup *b)
{
    if (b->dom)
        virDomainFree(b->dom);
    vmf_virt_close(b->v);
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
    g_free(b->libvirt_version);
    g_free(b->qemu_version);
    if (b->started)
        g_date_time_unref(b->started);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Backup, backup_clear)

#define say(b, ...) vmf_progress_say((b)->mode, "backup", __VA_ARGS__)

/* ---- libvirt, surviving a libvirtd restart ------------------------------- */

/* The connection answers, or was made again (the domain looked up anew by
 * its UUID). Gives up after RECONNECT_SECONDS. */
static int ensure_connected(Backup *b, GError **error)
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

/* Puts disk `d` back on its own chain: an active block commit of the
 * overlay into its own backing image (shallow: the rest of the chain stays
 * as it is), a pivot once the job is ready, then the overlay is removed.
 * Picks up where a lost connection left it (the job may already run, or the
 * pivot may be done). Not interruptible: stopping here would leave the
 * domain on the overlay. */
static int commit_disk(Backup *b, Disk *d, GError **error)
{
    const char *target = d->d->target;
    gint64 deadline = g_get_monotonic_time() + (gint64)COMMIT_SECONDS * G_USEC_PER_SEC;
    g_autoptr(VmfProgress) bar = NULL;
    g_autofree char *label = g_strdup_printf("commit %s", target);
    int failures = 0;
    for (;;) {
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, vmf_virt_error_quark(), 1,
                        "the block commit of %s did not finish within %d minutes", target,
                        COMMIT_SECONDS / 60);
            return -ETIMEDOUT;
        }
        if (ensure_connected(b, error) < 0)
            return -EIO;
        g_autofree char *source = NULL;
        g_autoptr(GError) lerr = NULL;
        if (live_source(b, target, &source, &lerr) < 0) {
            if (virConnectIsAlive(vmf_virt_conn(b->v)) == 1 && ++failures > 5) {
                g_propagate_error(error, g_steal_pointer(&lerr));
                return -EIO;
            }
            g_usleep(G_USEC_PER_SEC / 2);
            continue;
        }
        if (g_strcmp0(source, d->path) == 0)
            break; /* pivoted */
        if (g_strcmp0(source, d->overlay) != 0) {
            g_set_error(error, vmf_virt_error_quark(), 1,
                        "disk %s of %s is on %s, neither its own image %s nor the overlay %s",
                        target, b->name, source ? source : "nothing", d->path, d->overlay);
            return -EINVAL;
        }
        virDomainBlockJobInfo info = {0};
        int job = virDomainGetBlockJobInfo(b->dom, target, &info, 0);
        if (job < 0) {
            if (virConnectIsAlive(vmf_virt_conn(b->v)) == 1 && ++failures > 5) {
                g_set_error(error, vmf_virt_error_quark(), 1, "block job of %s: %s", target,
                            vmf_virt_last_error());
                return -EIO;
            }
        } else if (job == 0) {
            if (!bar) {
                say(b, "committing the writes made during the backup back into %s (%s)", d->path,
                    target);
                bar = vmf_progress_new(label, b->mode);
            }
            /* Shallow: into the overlay's own backing image (the disk's
             * top), not down to the bottom of its chain. */
            if (virDomainBlockCommit(b->dom, target, NULL, NULL, 0,
                                     VIR_DOMAIN_BLOCK_COMMIT_ACTIVE |
                                         VIR_DOMAIN_BLOCK_COMMIT_SHALLOW) < 0 &&
                virConnectIsAlive(vmf_virt_conn(b->v)) == 1 && ++failures > 5) {
                g_set_error(error, vmf_virt_error_quark(), 1, "block commit of %s: %s", target,
                            vmf_virt_last_error());
                return -EIO;
            }
        } else if (info.type != VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT) {
            g_set_error(error, vmf_virt_error_quark(), 1,
                        "another block job (type %d) runs on disk %s; the overlay stays", info.type,
                        target);
            return -EBUSY;
        } else {
            if (!bar)
                bar = vmf_progress_new(label, b->mode);
            vmf_progress_update(bar, info.cur, info.end ? info.end : 1, NULL);
            /* Ready: the overlay is mirrored into its backing image. */
            if (info.end > 0 && info.cur == info.end &&
                virDomainBlockJobAbort(b->dom, target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == 0)
                continue; /* the next round sees the source switched */
        }
        g_usleep(G_USEC_PER_SEC / 5);
    }
    if (bar)
        vmf_progress_end(bar, "pivoted");
    d->committed = true;
    if (g_unlink(d->overlay) < 0 && errno != ENOENT)
        say(b, "warning: %s is no longer used but could not be removed: %s", d->overlay,
            g_strerror(errno));
    say(b, "%s runs on %s again; overlay removed", target, d->path);
    return 0;
}

/* After the snapshot, whatever happened: every overlay goes back. */
static int commit_all(Backup *b)
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

/* ---- the plan -------------------------------------------------------------- */

/* Each disk's image on this host, refusing what cannot be read as a file. */
static int resolve_disks(Backup *b, GError **error)
{
    b->disks = g_array_new(false, true, sizeof(Disk));
    g_array_set_clear_func(b->disks, disk_clear);
    for (guint i = 0; i < b->info->disks->len; i++) {
        const VmfDomainDisk *dd = g_ptr_array_index(b->info->disks, i);
        Disk d = {.d = dd};
        switch (dd->kind) {
        case VMF_DISK_NETWORK:
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is on network storage (%s, protocol %s): vmforge backup "
                        "reads disks as files on this host; back that volume up where it is "
                        "stored",
                        dd->target, b->name, dd->source, dd->protocol ? dd->protocol : "?");
            return -EINVAL;
        case VMF_DISK_OTHER:
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is a <disk type='%s'>, which vmforge backup cannot read "
                        "(file, block and volume disks can be)",
                        dd->target, b->name, dd->type_name);
            return -EINVAL;
        case VMF_DISK_VOLUME: {
            virStoragePoolPtr pool =
                dd->pool ? virStoragePoolLookupByName(vmf_virt_conn(b->v), dd->pool) : NULL;
            virStorageVolPtr vol =
                pool && dd->volume ? virStorageVolLookupByName(pool, dd->volume) : NULL;
            char *path = vol ? virStorageVolGetPath(vol) : NULL;
            if (vol)
                virStorageVolFree(vol);
            if (pool)
                virStoragePoolFree(pool);
            if (!path || path[0] != '/') {
                g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                            "disk %s of %s: volume %s has no local path (%s)", dd->target, b->name,
                            dd->source ? dd->source : "?", path ? path : vmf_virt_last_error());
                free(path);
                return -EINVAL;
            }
            d.path = g_strdup(path);
            free(path);
            break;
        }
        default:
            d.path = g_strdup(dd->source);
        }
        if (!d.path) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s has no source (an empty drive?)", dd->target, b->name);
            return -EINVAL;
        }
        /* libvirt does not probe formats unless told to: neither does vmforge.
         * A disk with no driver type is raw. */
        const char *fmt = dd->driver ? dd->driver : "raw";
        if (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT,
                        "disk %s of %s is a %s image (%s); vmforge backup reads raw and qcow2",
                        dd->target, b->name, fmt, d.path);
            g_free(d.path);
            return -EINVAL;
        }
        d.format = strcmp(fmt, "raw") == 0 ? "raw" : "qcow2";
        d.snapshot = b->active && !dd->readonly;
        g_array_append_val(b->disks, d);
    }
    if (b->disks->len == 0) {
        g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_INPUT, "%s has no disks to back up",
                    b->name);
        return -ENOENT;
    }
    return 0;
}

static char *output_name(const Backup *b, const Disk *d, const VfWriterOps *ops)
{
    return d ? g_strdup_printf("%s-%s.%s", b->name, d->d->target, ops->extension)
             : g_strdup_printf("%s.%s", b->name, ops->extension);
}

/* Every file the backup makes, refused up front if it exists. */
static int plan_outputs(Backup *b, GError **error)
{
    b->files = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < b->disks->len; i++) {
        const Disk *d = &g_array_index(b->disks, Disk, i);
        for (guint s = 0; s < b->outs->len; s++) {
            const VfWriterOps *ops = g_array_index(b->outs, Output, s).ops;
            if (ops != &vf_writer_ova)
                g_ptr_array_add(b->files, output_name(b, d, ops));
        }
    }
    if (b->want_ova)
        g_ptr_array_add(b->files, output_name(b, NULL, &vf_writer_ova));
    g_ptr_array_add(b->files, g_strdup_printf("%s.xml", b->name));
    g_ptr_array_add(b->files, g_strdup_printf("%s.report.json", b->name));
    if (b->o->generalize)
        g_ptr_array_add(b->files, g_strdup_printf("%s-generalize.log", b->name));
    for (guint i = 0; i < b->files->len; i++) {
        g_autofree char *path = g_build_filename(b->outdir, b->files->pdata[i], NULL);
        if (!b->o->force && g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_set_error(error, vmf_virt_error_quark(), VMF_EXIT_OUTPUT,
                        "%s exists (--force replaces it)", path);
            return -EEXIST;
        }
    }
    return 0;
}

/* ---- the snapshot ------------------------------------------------------------ */

static int take_snapshot(Backup *b, GError **error)
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
        g_autofree char *dir = b->o->overlay_dir              ? g_strdup(b->o->overlay_dir)
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
    for (guint i = 0; i < b->info->skipped->len; i++) {
        /* "hdc (cdrom)" → "hdc" */
        const char *s = b->info->skipped->pdata[i];
        g_ptr_array_add(excluded, g_strndup(s, strcspn(s, " ")));
    }
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

/* ---- reading ---------------------------------------------------------------- */

/* Opens what each disk is read from (the frozen chain, or the generalize
 * overlay on it), once, for the OVF plan and the convert. A raw disk is read
 * as raw even if the guest wrote a qcow2 header in it; a qcow2 one (or the
 * generalize overlay) must be qcow2. */
static int open_sources(Backup *b, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        bool raw = strcmp(d->format, "raw") == 0 && strcmp(d->read_path, d->path) == 0;
        if (vf_source_open(d->read_path, raw ? VF_SOURCE_ASSUME_RAW : 0, &d->src, error) < 0)
            return -EIO;
        if (!raw && !d->src->qcow2) {
            g_set_error(error, VF_ERROR, VF_ERROR_INPUT,
                        "%s: libvirt says disk %s is qcow2, but it is not a qcow2 image",
                        d->read_path, d->d->target);
            return -EINVAL;
        }
        if (d->src->qcow2) {
            g_autofree char *desc = vf_qcow2_describe(d->src->qcow2);
            d->chain = g_strdup_printf("qcow2: %s", desc);
        } else {
            d->chain = g_strdup_printf("raw: %s", d->read_path);
        }
    }
    return 0;
}

static void add_artefact(Backup *b, const char *disk, const char *file, const char *format,
                         const char *spec, uint64_t vsize, uint64_t fsize, const char *sha256)
{
    JsonBuilder *j = b->report_arts;
    json_builder_begin_object(j);
    g_autofree char *path = g_build_filename(b->outdir, file, NULL);
    vmf_json_str(j, "path", path);
    vmf_json_str(j, "disk", disk);
    vmf_json_str(j, "format", format);
    vmf_json_str(j, "spec", spec);
    if (vsize)
        vmf_json_int(j, "virtual_size", vsize);
    vmf_json_int(j, "file_size", fsize);
    vmf_json_str(j, "sha256", sha256);
    json_builder_end_object(j);
}

static int convert_disks(Backup *b, VfOvaAppliance *app, int64_t timestamp, GError **error)
{
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        g_autoptr(GArray) outs = g_array_new(false, true, sizeof(VfOutputSpec));
        g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
        VfOvaDiskRef ref = {.appliance = app, .index = i};
        for (guint s = 0; s < b->outs->len; s++) {
            const Output *out = &g_array_index(b->outs, Output, s);
            VfOutputSpec o = {.ops = out->ops, .options = out->options};
            if (out->ops == &vf_writer_ova) {
                o.ops = &vf_writer_ova_disk;
                o.extra = &ref;
            } else {
                g_autofree char *name = output_name(b, d, out->ops);
                o.path = g_build_filename(b->staging, name, NULL);
                g_ptr_array_add(paths, (char *)o.path);
            }
            g_array_append_val(outs, o);
        }
        g_autofree char *size = vf_format_size(d->src->size);
        say(b, "reading %s (%s, %s): %s", d->d->target, d->d->bus ? d->d->bus : "?", size,
            d->chain);
        g_autofree char *label = g_strdup_printf("read %s", d->d->target);
        g_autoptr(VmfProgress) bar = vmf_progress_new(label, b->mode);
        VfConvertOptions copts = {
            .sink_flags = b->o->no_sync ? VF_SINK_NO_SYNC : 0,
            .timestamp = timestamp,
            .cancel = &vmf_interrupted,
            .progress = vmf_convert_progress,
            .progress_data = bar,
        };
        GArray *arts = NULL;
        gint64 t0 = g_get_monotonic_time();
        if (vf_convert(d->src, (VfOutputSpec *)outs->data, outs->len, &copts, &arts, error) < 0) {
            vmf_progress_end(bar, "failed");
            return vmf_convert_exit_code(*error);
        }
        double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        g_autofree char *summary = g_strdup_printf("%.1f s", secs);
        vmf_progress_end(bar, summary);
        for (guint a = 0; a < arts->len; a++) {
            const VfArtefact *x = &g_array_index(arts, VfArtefact, a);
            if (!x->path)
                continue; /* the OVA's disk: the appliance is reported once */
            g_autofree char *file = g_path_get_basename(x->path);
            add_artefact(b, d->d->target, file, x->format, x->spec, x->virtual_size, x->file_size,
                         x->sha256);
        }
        g_array_unref(arts);
    }
    return VMF_EXIT_OK;
}

/* ---- generalize --------------------------------------------------------------- */

static int generalize(Backup *b, GError **error)
{
    g_autoptr(GPtrArray) overlays = g_ptr_array_new();
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        g_autofree char *name = g_strdup_printf(".generalize-%s.qcow2", d->d->target);
        g_autofree char *path = g_build_filename(b->staging, name, NULL);
        if (vmf_guest_overlay_create(path, d->path, d->format, error) < 0)
            return VMF_EXIT_OUTPUT;
        g_free(d->read_path);
        d->read_path = g_steal_pointer(&path);
        g_ptr_array_add(overlays, d->read_path);
    }
    g_ptr_array_add(overlays, NULL);
    g_autofree char *logname = g_strdup_printf("%s-generalize.log", b->name);
    g_autofree char *log = g_build_filename(b->staging, logname, NULL);
    say(b, "generalizing the backup's copy (sysprep on overlays; %s's own disks are only read)",
        b->name);
    return vmf_generalize((const char *const *)overlays->pdata, b->o->accel, log,
                          b->mode == VMF_PROGRESS_QUIET, error);
}

/* ---- report and the final names ------------------------------------------------ */

static int write_staged(Backup *b, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(b->staging, name, NULL);
    if (!g_file_set_contents(path, text, -1, error))
        return -EIO;
    return 0;
}

static char *report_json(Backup *b, double seconds)
{
    g_autoptr(JsonBuilder) j = json_builder_new();
    json_builder_begin_object(j);
    vmf_json_int(j, "report_format", VMF_REPORT_FORMAT);
    vmf_json_str(j, "kind", "backup");
    json_builder_set_member_name(j, "versions");
    json_builder_begin_object(j);
    vmf_json_str(j, "vmforge", VMFORGE_VERSION);
    vmf_json_str(j, "libvirt", b->libvirt_version);
    vmf_json_str(j, "qemu", b->qemu_version);
    json_builder_end_object(j);
    g_autofree char *started = g_date_time_format_iso8601(b->started);
    vmf_json_str(j, "started", started);
    vmf_json_ms(j, "milliseconds", seconds);
    vmf_json_str(j, "output_dir", b->outdir);
    json_builder_set_member_name(j, "domain");
    json_builder_begin_object(j);
    vmf_json_str(j, "name", b->name);
    vmf_json_str(j, "uuid", b->uuid);
    vmf_json_str(j, "state", b->active ? "running" : "shut off");
    vmf_json_int(j, "vcpus", b->info->vcpus);
    vmf_json_int(j, "memory", b->info->memory);
    vmf_json_str(j, "firmware", b->info->firmware);
    json_builder_end_object(j);
    vmf_json_str(j, "consistency", b->consistency);
    vmf_json_str(j, "quiesce_error",
                 strcmp(b->consistency, "crash-consistent") == 0 ? b->quiesce_note : NULL);
    json_builder_set_member_name(j, "generalized");
    json_builder_add_boolean_value(j, b->o->generalize);
    json_builder_set_member_name(j, "disks");
    json_builder_begin_array(j);
    for (guint i = 0; i < b->disks->len; i++) {
        const Disk *d = &g_array_index(b->disks, Disk, i);
        json_builder_begin_object(j);
        vmf_json_str(j, "target", d->d->target);
        vmf_json_str(j, "bus", d->d->bus);
        vmf_json_str(j, "source", d->path);
        vmf_json_str(j, "format", d->format);
        vmf_json_str(j, "read", d->chain);
        vmf_json_int(j, "virtual_size", d->src ? d->src->size : 0);
        json_builder_set_member_name(j, "snapshot");
        json_builder_add_boolean_value(j, d->overlay != NULL);
        json_builder_end_object(j);
    }
    json_builder_end_array(j);
    json_builder_set_member_name(j, "nics");
    json_builder_begin_array(j);
    for (guint i = 0; i < b->info->nics->len; i++) {
        const VmfDomainNic *n = g_ptr_array_index(b->info->nics, i);
        json_builder_begin_object(j);
        vmf_json_str(j, "model", n->model);
        vmf_json_str(j, "mac", n->mac);
        vmf_json_str(j, "network", n->network);
        json_builder_end_object(j);
    }
    json_builder_end_array(j);
    json_builder_end_array(b->report_arts);
    json_builder_set_member_name(j, "artefacts");
    json_builder_add_value(j, json_builder_get_root(b->report_arts));
    json_builder_end_object(j);
    return vmf_json_text(j);
}

/* Moves every staged file to its final name. Returns 0 or -errno (the
 * files already moved are removed again). */
static int publish(Backup *b, GError **error)
{
    for (guint i = 0; i < b->files->len; i++) {
        g_autofree char *from = g_build_filename(b->staging, b->files->pdata[i], NULL);
        g_autofree char *to = g_build_filename(b->outdir, b->files->pdata[i], NULL);
        int r = b->o->force ? rename(from, to)
                            : renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
        if (r < 0) {
            int e = errno;
            for (guint j = 0; j < i; j++) {
                g_autofree char *done = g_build_filename(b->outdir, b->files->pdata[j], NULL);
                g_unlink(done);
            }
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", to,
                        g_strerror(e));
            return -e;
        }
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------ */

static int connect_domain(Backup *b, GError **error)
{
    b->v = vmf_virt_open(b->o->uri, error);
    if (!b->v)
        return VMF_EXIT_FAILURE;
    virConnectPtr c = vmf_virt_conn(b->v);
    b->dom = virDomainLookupByName(c, b->o->domain);
    if (!b->dom)
        b->dom = virDomainLookupByUUIDString(c, b->o->domain);
    if (!b->dom) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "no domain \"%s\" on %s (virsh -c %s list --all lists them)", b->o->domain,
                    vmf_virt_uri(b->v), vmf_virt_uri(b->v));
        return VMF_EXIT_INPUT;
    }
    b->name = g_strdup(virDomainGetName(b->dom));
    virDomainGetUUIDString(b->dom, b->uuid);
    vmf_virt_version_parts(b->v, &b->libvirt_version, &b->qemu_version);
    int active = virDomainIsActive(b->dom);
    if (active < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1, "%s: %s", b->name, vmf_virt_last_error());
        return VMF_EXIT_FAILURE;
    }
    b->active = active == 1;
    /* The live definition has the disks as they are now; the saved one is
     * the persistent definition (no secrets: no VIR_DOMAIN_XML_SECURE). */
    char *live = virDomainGetXMLDesc(b->dom, 0);
    char *saved = virDomainIsPersistent(b->dom) == 1
                      ? virDomainGetXMLDesc(b->dom, VIR_DOMAIN_XML_INACTIVE)
                      : NULL;
    if (!live) {
        g_set_error(error, vmf_virt_error_quark(), 1, "reading the definition of %s: %s", b->name,
                    vmf_virt_last_error());
        free(saved);
        return VMF_EXIT_FAILURE;
    }
    b->info = vmf_domain_info_parse(live, strlen(live), error);
    b->xml = g_strdup(saved ? saved : live);
    free(live);
    free(saved);
    if (!b->info) {
        g_prefix_error(error, "%s: ", b->name);
        return VMF_EXIT_INPUT;
    }
    return VMF_EXIT_OK;
}

static int backup_run(Backup *b, GError **error)
{
    const VmfBackupOptions *o = b->o;
    int rc = connect_domain(b, error);
    if (rc != VMF_EXIT_OK)
        return rc;
    if (resolve_disks(b, error) < 0)
        return (*error)->code;

    g_autoptr(VfOvfProfile) profile = NULL;
    if (b->want_ova) {
        g_autofree char *pdir = g_build_filename(vmf_templates_dir(), "profiles", NULL);
        if (vf_ovf_profile_load(pdir, o->profile ? o->profile : "generic", &profile, error) < 0)
            return VMF_EXIT_USAGE;
    }
    if (plan_outputs(b, error) < 0)
        return VMF_EXIT_OUTPUT;
    int64_t timestamp = 0;
    if (vmf_source_date_epoch(&timestamp) < 0) {
        g_set_error(error, vmf_virt_error_quark(), 1,
                    "SOURCE_DATE_EPOCH must be a whole, non-negative number of seconds");
        return VMF_EXIT_USAGE;
    }

    g_autofree char *stage_name = g_strdup_printf(".vmforge-backup-%s-XXXXXX", b->name);
    g_autofree char *tmpl = g_build_filename(b->outdir, stage_name, NULL);
    if (!g_mkdtemp_full(tmpl, 0700)) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", b->outdir,
                    g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    b->staging = g_steal_pointer(&tmpl);

    say(b, "%s (%s): %u vCPU%s, %" G_GUINT64_FORMAT " MiB, %s, %u disk%s, %u NIC%s", b->name,
        b->active ? "running" : "shut off", b->info->vcpus, b->info->vcpus == 1 ? "" : "s",
        b->info->memory >> 20, b->info->firmware, b->disks->len, b->disks->len == 1 ? "" : "s",
        b->info->nics->len, b->info->nics->len == 1 ? "" : "s");
    for (guint i = 0; i < b->info->skipped->len; i++)
        say(b, "not backed up: %s", (char *)b->info->skipped->pdata[i]);

    if (b->active) {
        if (take_snapshot(b, error) < 0)
            return (*error)->code ? (*error)->code : VMF_EXIT_FAILURE;
    } else {
        b->consistency = "offline";
    }
    /* From here on, a snapshot is committed back whatever happens. */
    for (guint i = 0; i < b->disks->len; i++) {
        Disk *d = &g_array_index(b->disks, Disk, i);
        d->read_path = g_strdup(d->path);
    }

    if (o->generalize && !vmf_interrupted) {
        rc = generalize(b, error);
        if (rc != VMF_EXIT_OK)
            return rc;
    }
    if (open_sources(b, error) < 0)
        return VMF_EXIT_INPUT;

    g_autoptr(VfOvaAppliance) app = NULL;
    g_autofree VfOvfDisk *odisks = NULL;
    g_autofree VfOvfNic *onics = NULL;
    if (b->want_ova && !vmf_interrupted) {
        odisks = g_new0(VfOvfDisk, b->disks->len);
        for (guint i = 0; i < b->disks->len; i++) {
            Disk *d = &g_array_index(b->disks, Disk, i);
            odisks[i] = (VfOvfDisk){.href = "disk",
                                    .capacity = VF_ROUND_UP(d->src->size, VF_SECTOR_SIZE),
                                    .bus = d->d->bus,
                                    .label = d->d->target};
            const VfOvfController *c = vf_ovf_profile_controller(profile, d->d->bus);
            say(b, "OVF: disk %s (%s) on %s (%s)", d->d->target, d->d->bus ? d->d->bus : "?",
                c->name, c->subtype);
        }
        onics = g_new0(VfOvfNic, b->info->nics->len + 1);
        for (guint i = 0; i < b->info->nics->len; i++) {
            const VmfDomainNic *n = g_ptr_array_index(b->info->nics, i);
            onics[i] = (VfOvfNic){.model = n->model, .mac = n->mac, .network = n->network};
            say(b, "OVF: NIC %s (%s) → %s", n->mac ? n->mac : "?", n->model ? n->model : "?",
                vf_ovf_profile_nic(profile, n->model));
        }
        g_autofree char *file = output_name(b, NULL, &vf_writer_ova);
        g_autofree char *path = g_build_filename(b->staging, file, NULL);
        VfOvaApplianceParams ap = {
            .profile = profile,
            .ovf = {.vcpus = b->info->vcpus,
                    .memory_mib = MAX(b->info->memory >> 20, 1),
                    .disks = odisks,
                    .n_disks = b->disks->len,
                    .nics = onics,
                    .n_nics = b->info->nics->len,
                    .nics_given = true,
                    .firmware = b->info->firmware,
                    .product = b->name},
            .timestamp = timestamp,
            .sink_flags = o->no_sync ? VF_SINK_NO_SYNC : 0,
            .cancel = &vmf_interrupted,
        };
        if (vf_ova_appliance_open(path, &ap, &app, error) < 0)
            return VMF_EXIT_OUTPUT;
    }

    b->report_arts = json_builder_new();
    json_builder_begin_array(b->report_arts);
    rc = vmf_interrupted ? vmf_signals_exit_code() : convert_disks(b, app, timestamp, error);
    if (rc == VMF_EXIT_OK && app) {
        if (vf_ova_appliance_commit(app, error) < 0)
            rc = VMF_EXIT_OUTPUT;
        else {
            g_autofree char *file = output_name(b, NULL, &vf_writer_ova);
            add_artefact(b, NULL, file, "ova", o->profile ? o->profile : "generic", 0,
                         vf_ova_appliance_size(app), vf_ova_appliance_sha256(app));
        }
    }
    if (rc == VMF_EXIT_OK && vmf_interrupted)
        rc = vmf_signals_exit_code();
    return rc;
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

    b.outs = g_array_new(false, true, sizeof(Output));
    g_array_set_clear_func(b.outs, output_clear);
    for (char **f = o->formats; f && *f; f++) {
        g_auto(GStrv) parts = g_strsplit(*f, ",", -1);
        for (char **p = parts; *p; p++) {
            g_strstrip(*p);
            if (!**p)
                continue;
            Output out = {0};
            if (vf_writer_parse_spec(*p, &out.ops, &out.options, &err) < 0) {
                vmf_error(CMD, "--to %s: %s", *p, err->message);
                return VMF_EXIT_USAGE;
            }
            for (guint i = 0; i < b.outs->len; i++)
                if (g_array_index(b.outs, Output, i).ops == out.ops) {
                    g_hash_table_unref(out.options);
                    vmf_error(CMD, "--to names %s twice: each disk gets one file per format",
                              out.ops->name);
                    return VMF_EXIT_USAGE;
                }
            b.want_ova |= out.ops == &vf_writer_ova;
            g_array_append_val(b.outs, out);
        }
    }
    if (b.outs->len == 0) {
        Output out = {0};
        vf_writer_parse_spec("qcow2", &out.ops, &out.options, NULL);
        g_array_append_val(b.outs, out);
    }
    if (o->profile && !b.want_ova) {
        vmf_error(CMD, "--profile is for OVAs: add ova to --to");
        return VMF_EXIT_USAGE;
    }
    const char *outdir = o->outdir ? o->outdir : ".";
    if (g_mkdir_with_parents(outdir, 0755) < 0) {
        vmf_error(CMD, "%s: %s", outdir, g_strerror(errno));
        return VMF_EXIT_OUTPUT;
    }
    b.outdir = g_canonicalize_filename(outdir, NULL);

    int rc = backup_run(&b, &err);

    /* Whatever happened after the snapshot: commit. */
    int commit_rc = b.snapshot_taken ? commit_all(&b) : 0;
    if (rc == VMF_EXIT_OK && vmf_interrupted)
        rc = vmf_signals_exit_code(); /* during the commit: nothing is kept either */

    if (rc == VMF_EXIT_OK && !b.active && b.dom) {
        /* A shut-off domain that was started meanwhile may have changed its
         * disks under the reader. */
        if (ensure_connected(&b, &err) == 0 && virDomainIsActive(b.dom) == 1) {
            g_set_error(&err, vmf_virt_error_quark(), 1,
                        "%s was started while its disks were read: the images may be "
                        "inconsistent, so none were kept; back it up again",
                        b.name);
            rc = VMF_EXIT_FAILURE;
        }
    }
    double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    g_autofree char *report = NULL;
    if (rc == VMF_EXIT_OK) {
        g_autofree char *xml_name = g_strdup_printf("%s.xml", b.name);
        g_autofree char *report_name = g_strdup_printf("%s.report.json", b.name);
        report = report_json(&b, secs);
        if (write_staged(&b, xml_name, b.xml, &err) < 0 ||
            write_staged(&b, report_name, report, &err) < 0 || publish(&b, &err) < 0)
            rc = VMF_EXIT_OUTPUT;
    }
    if (rc != VMF_EXIT_OK) {
        if (rc >= 128)
            vmf_error(CMD, "interrupted; no image was kept%s",
                      b.snapshot_taken && commit_rc == 0
                          ? " and the domain runs on its own disks again"
                          : "");
        else
            vmf_error(CMD, "%s", err ? err->message : "failed");
        return rc;
    }
    if (commit_rc < 0)
        return VMF_EXIT_FAILURE;
    if (o->json)
        fputs(report, stdout);
    if (b.mode != VMF_PROGRESS_QUIET || !o->json) {
        fprintf(o->json ? stderr : stdout, "%s backed up (%s) in %.0f s:\n", b.name, b.consistency,
                secs);
        for (guint i = 0; i < b.files->len; i++)
            fprintf(o->json ? stderr : stdout, "  %s/%s\n", b.outdir, (char *)b.files->pdata[i]);
    }
    return VMF_EXIT_OK;
}
