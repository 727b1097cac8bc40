/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jobs.c — domain jobs, checkpoints and the guest agent's freeze (jobs.h). */
#include "jobs.h"

#include "domain-xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct VmfJobWatch {
    virConnectPtr conn; /* the connection the callback is registered on */
    int id;
    gint ended;
};

static void job_completed_cb(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
                             int nparams, void *opaque)
{
    (void)conn;
    (void)dom;
    (void)params;
    (void)nparams;
    g_atomic_int_set(&((VmfJobWatch *)opaque)->ended, 1);
}

VmfJobWatch *vmf_job_watch(VmfVirt *v, virDomainPtr dom, GError **error)
{
    VmfJobWatch *w = g_new0(VmfJobWatch, 1);
    w->conn = vmf_virt_conn(v);
    w->id = virConnectDomainEventRegisterAny(w->conn, dom, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                             VIR_DOMAIN_EVENT_CALLBACK(job_completed_cb), w, NULL);
    if (w->id < 0) {
        vmf_virt_error(error, "cannot follow the jobs of domain %s", virDomainGetName(dom));
        g_free(w);
        return NULL;
    }
    virConnectRef(w->conn);
    return w;
}

bool vmf_job_watch_ended(VmfJobWatch *w)
{
    return g_atomic_int_get(&w->ended) != 0;
}

void vmf_job_watch_free(VmfJobWatch *w)
{
    if (!w)
        return;
    /* On a connection that was lost the callback is gone with it. */
    if (virConnectIsAlive(w->conn) == 1)
        virConnectDomainEventDeregisterAny(w->conn, w->id);
    virConnectClose(w->conn);
    g_free(w);
}

void vmf_job_settle(virDomainPtr dom, const char *disk)
{
    virDomainBlockInfo info;
    virDomainGetBlockInfo(dom, disk, &info, 0);
}

int vmf_job_progress(virDomainPtr dom, uint64_t *done, uint64_t *total)
{
    virDomainJobInfo info = {0};
    if (virDomainGetJobInfo(dom, &info) < 0)
        return -1;
    if (info.type == VIR_DOMAIN_JOB_NONE)
        return 0;
    /* A backup job counts in the file* fields, other jobs in data*. */
    *done = info.fileTotal ? info.fileProcessed : info.dataProcessed;
    *total = info.fileTotal ? info.fileTotal : info.dataTotal;
    return 1;
}

int vmf_job_outcome(virDomainPtr dom, char **why)
{
    int type = VIR_DOMAIN_JOB_NONE, n = 0;
    virTypedParameterPtr params = NULL;
    if (virDomainGetJobStats(dom, &type, &params, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
        return -1;
    const char *msg = NULL;
    virTypedParamsGetString(params, n, VIR_DOMAIN_JOB_ERRMSG, &msg);
    int r = -1;
    if (type == VIR_DOMAIN_JOB_COMPLETED) {
        r = 1;
    } else if (type == VIR_DOMAIN_JOB_FAILED || type == VIR_DOMAIN_JOB_CANCELLED) {
        r = 0;
        *why = g_strdup(msg ? msg : type == VIR_DOMAIN_JOB_CANCELLED ? "aborted" : "failed");
    }
    virTypedParamsFree(params, n);
    return r;
}

bool vmf_virt_backup_supported(VmfVirt *v, const char *domain_xml)
{
    const char *x = domain_xml;
    g_autofree char *emulator = x ? vmf_xml_string(x, "string(/domain/devices/emulator)") : NULL;
    g_autofree char *arch = x ? vmf_xml_string(x, "string(/domain/os/type/@arch)") : NULL;
    g_autofree char *machine = x ? vmf_xml_string(x, "string(/domain/os/type/@machine)") : NULL;
    g_autofree char *type = x ? vmf_xml_string(x, "string(/domain/@type)") : NULL;
    char *caps =
        virConnectGetDomainCapabilities(vmf_virt_conn(v), emulator, arch, machine, type, 0);
    if (!caps)
        return false;
    g_autofree char *s =
        vmf_xml_string(caps, "string(/domainCapabilities/features/backup/@supported)");
    free(caps);
    return g_strcmp0(s, "yes") == 0;
}

bool vmf_checkpoint_has_bitmap(virDomainPtr dom, const char *name, const char *disk)
{
    virDomainCheckpointPtr ck = virDomainCheckpointLookupByName(dom, name, 0);
    if (!ck)
        return false;
    char *xml = virDomainCheckpointGetXMLDesc(ck, VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
    virDomainCheckpointFree(ck);
    if (!xml)
        return false;
    g_autofree char *expr =
        disk ? g_strdup_printf("string(/domaincheckpoint/disks/disk[@name='%s']/@checkpoint)", disk)
             : g_strdup("string(/domaincheckpoint/disks/disk[@checkpoint='bitmap']/@checkpoint)");
    g_autofree char *mode = vmf_xml_string(xml, expr);
    free(xml);
    return g_strcmp0(mode, "bitmap") == 0;
}

int vmf_checkpoint_delete(virDomainPtr dom, const char *name, GError **error)
{
    virDomainCheckpointPtr ck = virDomainCheckpointLookupByName(dom, name, 0);
    if (!ck)
        return -ENOENT;
    int r = virDomainCheckpointDelete(ck, 0);
    if (r < 0)
        vmf_virt_error(error, "deleting checkpoint %s of %s", name, virDomainGetName(dom));
    virDomainCheckpointFree(ck);
    return r < 0 ? -EIO : 0;
}

int vmf_guest_freeze(virDomainPtr dom, char **why)
{
    if (virDomainFSFreeze(dom, NULL, 0, 0) >= 0)
        return 0;
    *why = g_strdup(vmf_virt_last_error());
    return -EIO;
}

char *vmf_guest_thaw(virDomainPtr dom)
{
    return virDomainFSThaw(dom, NULL, 0, 0) < 0 ? g_strdup(vmf_virt_last_error()) : NULL;
}
