/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runs.h — what a run makes on a libvirt host (domains, volumes, pools, and
 * for a local URI its work folder), recorded on this machine *before* it is
 * made, so that what a run left behind when it died or lost its connection
 * is found and removed by the next run against that host, and by
 * vmforge doctor.
 *
 * A record is STATE/runs/HOST-KEY/RUN-ID (vmf_state_dir()), a text file of
 * "KIND<TAB>POOL<TAB>NAME" lines after the host's URI, held under flock()
 * by its run for as long as the process lives: a record nobody holds is
 * what a dead run left. A run that removed everything it made ends its
 * record (deletes it).
 */
#pragma once

#include "storage.h"
#include "virt.h"

#include <glib.h>

typedef struct VmfRun VmfRun;

typedef enum {
    VMF_RUN_DOMAIN,     /* a transient domain: destroyed */
    VMF_RUN_VOLUME,     /* a volume of `pool`: deleted */
    VMF_RUN_POOL,       /* a pool vmforge defined: destroyed, its folder and definition removed */
    VMF_RUN_LOCAL_POOL, /* a transient pool on a local folder: destroyed */
    VMF_RUN_FOLDER,     /* a local work folder: removed */
} VmfRunKind;

/* A new record for a run against `v`'s host; its id (8 hex digits) goes in
 * the names of what the run makes. NULL with *error when the state folder
 * cannot be written. */
VmfRun *vmf_run_begin(VmfVirt *v, GError **error);
const char *vmf_run_id(const VmfRun *r);
/* Records an object before it is made. */
void vmf_run_add(VmfRun *r, VmfRunKind kind, const char *pool, const char *name);
/* An object recorded earlier stays on purpose (a cached ISO once its upload
 * completed): the cleaning leaves it. */
void vmf_run_keep(VmfRun *r, const char *pool, const char *name);
/* Where a UEFI domain's NVRAM goes (libvirt fills it from OVMF's template
 * when the domain starts, and leaves it: it is the run's to remove): on this
 * machine (`pool` NULL) DIR/VARS.fd, which goes with the run's folder; on a
 * host the volume `vol` of `pool`, recorded first. g_free. */
char *vmf_run_nvram_path(VmfRun *r, const VmfPool *pool, const char *dir, const char *vol);
/* "volume A (pool P); domain D" — what may remain on the host when the run
 * cannot remove it (its local folders left out). g_free. */
char *vmf_run_describe(const VmfRun *r);
/* The run removed everything it made: the record goes. */
void vmf_run_end(VmfRun *r);
/* Releases the record (and its lock); a record not ended stays, for the
 * next run to clean. */
void vmf_run_free(VmfRun *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfRun, vmf_run_free)

/* Removes what runs against `v`'s host left behind, from the records no
 * live process holds; `removed` (may be NULL) gets one line per object that
 * was still there. Returns the number of such objects. */
unsigned vmf_runs_clean(VmfVirt *v, GPtrArray *removed);
