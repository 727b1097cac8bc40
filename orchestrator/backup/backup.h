/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backup.h — `vmforge backup DOMAIN`: images of an existing libvirt domain,
 * running or shut off, and an OVF appliance describing it.
 *
 * Shut off: each disk (raw, or a qcow2 chain) is read where it is.
 * Running: a disk-only external snapshot (quiesced when the guest agent
 * answers) freezes the disks; the frozen chains are read while the domain
 * writes to the overlays; an active block commit with pivot then puts the
 * domain back on its own chain and the overlays are removed. Whatever fails
 * after the snapshot, the commit is still done; when even that fails, the
 * exact recovery commands are printed.
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
    const char *overlay_dir; /* NULL: beside each disk */
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
