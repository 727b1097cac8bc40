/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jobs.h — a domain's asynchronous jobs (libvirt's backup API): the end of a
 * job learnt from libvirt's job-completed event, its outcome and progress
 * from its statistics; checkpoints; the guest agent's file-system freeze.
 */
#pragma once

#include "virt.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VmfJobWatch VmfJobWatch;

/* Follows the end of `dom`'s domain jobs (VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
 * which libvirt sends for a job that completed, failed or was aborted). */
VmfJobWatch *vmf_job_watch(VmfVirt *v, virDomainPtr dom, GError **error);
/* A job ended since the watch began. */
bool vmf_job_watch_ended(VmfJobWatch *w);
void vmf_job_watch_free(VmfJobWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmfJobWatch, vmf_job_watch_free)

/* Returns once libvirt has finished handling the end of `dom`'s job: it
 * announces the end of a backup job before it detaches (closes, and so
 * flushes) the job's targets, within the same domain job; a query that
 * needs the domain's job lock (block info of `disk`) waits for that. */
void vmf_job_settle(virDomainPtr dom, const char *disk);
/* The job running on `dom`: 1 (with bytes done and total when libvirt
 * knows them), 0 when none runs, -1 when libvirt cannot tell. */
int vmf_job_progress(virDomainPtr dom, uint64_t *done, uint64_t *total);
/* The outcome of the last job that ended on `dom`: 1 completed, 0 failed or
 * aborted (*why: libvirt's message, g_free), -1 unknown (libvirtd was
 * restarted since, or no job ended). */
int vmf_job_outcome(virDomainPtr dom, char **why);

/* True when the host's libvirt and QEMU offer the backup API for domains
 * of `dom`'s type and machine (<backup supported='yes'/> in the domain
 * capabilities); `domain_xml` NULL: for the host's default guests. */
bool vmf_virt_backup_supported(VmfVirt *v, const char *domain_xml);

/* Whether checkpoint `name` of `dom` exists, and if so which of its disks
 * it tracks with a bitmap (`disk`: a target name; NULL: any). */
bool vmf_checkpoint_has_bitmap(virDomainPtr dom, const char *name, const char *disk);
/* Deletes checkpoint `name` of `dom` (its bitmap is merged into its parent's
 * by libvirt, so younger checkpoints stay whole). 0, -ENOENT when it does
 * not exist, -EIO with *error. */
int vmf_checkpoint_delete(virDomainPtr dom, const char *name, GError **error);

/* Asks the guest agent to freeze the guest's file systems. 0, or -EIO with
 * *why (g_free): no agent, the agent's error. */
int vmf_guest_freeze(virDomainPtr dom, char **why);
/* Thaws them; returns libvirt's error text on failure (g_free), else NULL. */
char *vmf_guest_thaw(virDomainPtr dom);
