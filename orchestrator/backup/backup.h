/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backup.h — `vmforge backup DOMAIN`: images of an existing libvirt domain,
 * running or shut off, and an OVF appliance describing it.
 *
 * Shut off: each disk (raw, or a qcow2 chain) is read where it is.
 * Running, on a host with libvirt's backup API: a push backup job copies a
 * point-in-time view of each writable disk into a qcow2 target in a pool
 * on the domain's host (quiesced when the guest agent answers) while the
 * domain stays on its own disks; a checkpoint made with it lets the next
 * backup (--incremental DIR) copy only what changed since, as a qcow2 whose
 * backing file is the previous backup's. Remote hosts work the same way, the
 * targets downloaded with sparse streams.
 * Running, without the backup API (or --method snapshot): a disk-only
 * external snapshot freezes the disks; the frozen chains are read while the
 * domain writes to the overlays; an active block commit with pivot then puts
 * the domain back on its own chain. Whatever fails after the snapshot, the
 * commit is still done; when even that fails, the exact recovery commands
 * are printed.
 *
 * One read of each chain writes every requested format for that disk, and
 * the OVA's VMDK. Outputs appear under their final names only when all are
 * complete: OUT/NAME-TARGET.EXT, OUT/NAME.ova, OUT/NAME.xml (the domain's
 * definition) and OUT/NAME.report.json.
 */
#pragma once

#include "util/progress.h"

#include <glib.h>
#include <stdbool.h>

typedef struct {
    const char *domain;      /* name or UUID */
    const char *uri;         /* NULL: the default */
    char **formats;          /* writer specs ("qcow2", "vhd:type=fixed", "ova") */
    const char *profile;     /* OVA hardware profile; NULL: generic */
    const char *outdir;      /* NULL: . */
    const char *scratch_dir; /* the job's targets (this host), or the snapshot overlays;
                                NULL: the output folder / beside each disk */
    const char *pool;        /* the host's pool for the job's targets */
    const char *remote_dir;  /* ...or a run pool under this folder of the host */
    const char *method;      /* auto (NULL), api, snapshot */
    const char *incremental; /* the parent backup's folder */
    bool incremental_only;   /* fail rather than take a full backup */
    const char *accel;       /* for --generalize */
    bool generalize;
    bool no_quiesce;
    bool force;
    bool no_sync;
    bool json;
    VmfProgressMode progress;
} VmfBackupOptions;

/* Returns the process exit status (VMF_EXIT_*, or 128 + signal). */
int vmf_backup(const VmfBackupOptions *o);

typedef struct {
    unsigned keep;     /* the newest backups kept, with every backup they build on */
    char **dirs;       /* backup folders, of one domain */
    const char *uri;   /* where the domain's checkpoints are */
    bool dry_run;
    VmfProgressMode progress;
} VmfBackupPruneOptions;

/* `vmforge backup --prune KEEP DIR...`: removes the older backups and their
 * checkpoints on the domain, never one a kept backup depends on. */
int vmf_backup_prune(const VmfBackupPruneOptions *o);
