/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * job.h — one `vmforge backup` (inside backup/): the state its parts share.
 *
 *   plan.c      the domain, its disks and NICs read from its definition, the
 *               --to formats and every file the backup will make
 *   chain.c     --incremental DIR: the backup there, its checkpoint, and the
 *               qcow2 of each disk the new one builds on
 *   api.c       a running domain through libvirt's backup API: targets in a
 *               pool on the domain's host, a checkpoint, the push job, its
 *               targets brought here; aborted and removed on any failure
 *   snapshot.c  (hosts without the backup API) the disk-only snapshot of a
 *               running domain, and the block
 *               commit that puts it back on its own disks (surviving a
 *               libvirtd restart; the recovery commands when even that fails)
 *   read.c      each disk's chain read once into every format and the OVA
 *   report.c    NAME.report.json and the move of the files to their names
 *   backup.c    the pipeline
 */
#pragma once

#include "backup.h"
#include "formats/engine.h"
#include "formats/ova.h"
#include "util/progress.h"
#include "virt/domain-info.h"
#include "virt/runs.h"
#include "virt/storage.h"
#include "virt/virt.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#define CMD "backup"

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
    /* The backup API (api.c, chain.c): */
    uint64_t capacity;  /* virtual size, from libvirt */
    bool in_job;        /* backed up by the job (writable) */
    bool incremental;   /* only the clusters changed since the parent's checkpoint */
    char *full_why;     /* why a disk of an incremental backup is copied whole */
    char *parent_image; /* incremental: the parent backup's qcow2 of this disk */
    char *backing_name; /* ...as the new qcow2 names it: relative to the output folder */
    char *volume;       /* the job's target volume in b->pool */
    char *target_path;  /* its path on the domain's host */
    char *part;         /* incremental: the qcow2 in the output folder, not yet named */
    char part_sha256[65];
} Disk;

typedef enum {
    METHOD_OFFLINE,  /* shut off: the disks read where they are */
    METHOD_API,      /* libvirt's backup API */
    METHOD_SNAPSHOT, /* disk-only snapshot, read, block commit */
} Method;

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
    Method method;
    char *method_why; /* why the snapshot path (no backup API) */
    bool snapshot_taken;
    /* The backup API: */
    VmfRun *run;        /* what is made on the host, recorded */
    VmfPool *pool;      /* where the job's targets are */
    char *scratch;      /* the local pool's folder (a local URI without --pool) */
    char *checkpoint;   /* made by this backup's job */
    bool job_begun;     /* the job started: abort it unless it completed */
    bool job_done;      /* it completed */
    char *parent_dir;   /* --incremental DIR */
    char *parent_rel;   /* DIR relative to the output folder */
    char *parent_checkpoint;
    char *full_why; /* why an incremental backup was taken in full */
    const char *consistency; /* quiesced, crash-consistent, offline */
    char *quiesce_note;
    char *outdir, *staging;
    GPtrArray *files; /* of char *: base names made in staging, to be moved to outdir */
    GArray *outs;     /* of Output: the --to formats */
    bool want_ova;    /* one of them is ova */
    JsonBuilder *report_arts;
    char *libvirt_version, *qemu_version;
    GDateTime *started;
    VfOvfNic *ovf_nics; /* the OVA's NICs: the appliance points at them */
} Backup;

void backup_clear(Backup *b);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Backup, backup_clear)

/* A line about the backup's course (vmf_progress_say). */
#define say(b, ...) vmf_progress_say((b)->mode, "backup", __VA_ARGS__)

/* plan.c */
/* Parses the --to formats (ova among them or not) into b->outs; prints what
 * is wrong. Returns a VMF_EXIT_* status. */
int backup_parse_formats(Backup *b);
/* Connects, finds the domain (by name or UUID) and reads its definition. */
int backup_connect_domain(Backup *b, GError **error);
/* Each disk's image on this host, refusing what cannot be read as a file. */
int backup_resolve_disks(Backup *b, GError **error);
/* The targets of the devices left out (cdroms, floppies), g_strdup'ed into
 * `names`. */
void backup_skipped_targets(const Backup *b, GPtrArray *names);
/* NAME-TARGET.EXT for a disk's image, NAME.EXT for the appliance (d NULL). */
char *backup_output_name(const Backup *b, const Disk *d, const VfWriterOps *ops);
/* Every file the backup makes, refused up front if it exists. */
int backup_plan_outputs(Backup *b, GError **error);

/* chain.c */
/* --incremental DIR: reads the backup there and decides, disk by disk,
 * what is incremental; a checkpoint that is gone makes it full (or fails
 * with --incremental-only). Returns a VMF_EXIT_* status. */
int backup_plan_incremental(Backup *b, GError **error);

/* api.c */
/* Chooses how a running domain is backed up (the API when the host offers
 * it, else the snapshot path); b->method. Returns a VMF_EXIT_* status. */
int backup_choose_method(Backup *b, GError **error);
/* The push job: targets made on the host, the guest frozen around its
 * start, waited for, its targets brought here (d->read_path). Returns a
 * VMF_EXIT_* status. */
int backup_api_run(Backup *b, GError **error);
/* Whatever happened: a job still running is aborted, its targets and (when
 * the backup failed) its checkpoint removed; `ok` says whether the backup is
 * kept. */
void backup_api_cleanup(Backup *b, bool ok);

/* snapshot.c */
/* The connection answers, or was made again (the domain looked up anew by
 * its UUID). Gives up after RECONNECT_SECONDS. */
int backup_ensure_connected(Backup *b, GError **error);
/* The disk-only snapshot of the writable disks; b->consistency says how. */
int backup_take_snapshot(Backup *b, GError **error);
/* After the snapshot, whatever happened: every overlay goes back; when one
 * cannot, the commands that do it by hand are printed. */
int backup_commit_all(Backup *b);

/* read.c */
/* Every disk read once into every --to format and the OVA (with the
 * profile); artefacts recorded for the report. Returns a VMF_EXIT_* status. */
int backup_read_disks(Backup *b, const VfOvfProfile *profile, int64_t timestamp, GError **error);
/* sysprep on qcow2 overlays of the disks, which are then what is read. */
int backup_generalize(Backup *b, GError **error);
/* Opens what each disk is read from, once. */
int backup_open_sources(Backup *b, GError **error);
/* One artefact of the report. */
void backup_add_artefact(Backup *b, const char *disk, const char *file, const char *format,
                         const char *spec, uint64_t vsize, uint64_t fsize, const char *sha256);

/* report.c */
/* Writes NAME.xml and NAME.report.json into the staging folder, then moves
 * every file to its final name (none when one cannot). *report: the
 * report's text (g_free). Returns a VMF_EXIT_* status. */
int backup_keep(Backup *b, double seconds, char **report, GError **error);
